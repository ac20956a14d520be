//! The event queue: ordered by (time, insertion sequence), so events at the same
//! virtual time run in the order they were scheduled, on every run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::ids::ConnId;
use crate::segment::{Segment, Side};
use crate::time::SimTime;

/// Timers a connection end can arm. Each is armed lazily: the end records a deadline
/// and at most one queue entry per (end, kind) is kept at or before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// Retransmission (and zero-window probe) timer.
    Retransmit,
    /// Delayed ACK.
    DelayedAck,
    /// Keep-alive probing of an idle connection.
    KeepAlive,
    /// A closed socket waiting for the peer's FIN (FIN_WAIT_2 timeout).
    FinWait,
    /// Connect to an address no host owns.
    Unreachable,
}

impl TimerKind {
    pub(crate) const COUNT: usize = 5;

    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            TimerKind::Retransmit => "retransmit",
            TimerKind::DelayedAck => "delayed-ack",
            TimerKind::KeepAlive => "keep-alive",
            TimerKind::FinWait => "fin-wait",
            TimerKind::Unreachable => "unreachable",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    Deliver(Segment),
    Timer {
        conn: ConnId,
        side: Side,
        kind: TimerKind,
    },
}

#[derive(Debug)]
struct Entry {
    time: SimTime,
    seq: u64,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Entry>,
    next_seq: u64,
}

impl EventQueue {
    pub(crate) fn push(&mut self, time: SimTime, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { time, seq, event });
    }

    pub(crate) fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }

    pub(crate) fn pop(&mut self) -> Option<(SimTime, Event)> {
        self.heap.pop().map(|e| (e.time, e.event))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
