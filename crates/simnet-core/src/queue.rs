//! The event queue: ordered by (time, insertion sequence), so events at the same
//! virtual time run in the order they were scheduled, on every run.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::ids::ConnId;
use crate::packet::Packet;
use crate::segment::Side;
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
    /// A packet reaches the far end of its link.
    Deliver(Packet),
    Timer {
        conn: ConnId,
        side: Side,
        kind: TimerKind,
    },
    /// A scheduled fault, by its index in the fault state.
    Fault(u32),
}

/// A heap entry is small (24 bytes) so that sifting is cheap; the event itself waits
/// in a slab slot until its entry is popped.
#[derive(Debug)]
struct Entry {
    time: SimTime,
    seq: u64,
    slot: u32,
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

/// Two structures behind one total order on (time, insertion sequence): deliveries
/// pushed in non-decreasing time order (fixed-latency links: the bulk of all events)
/// go to a FIFO in O(1); timers and out-of-order deliveries (jitter, mixed latencies)
/// go to a heap. Popping takes the smaller head. The order is the
/// same as with a single heap, so the choice never shows in a trace.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    fifo: VecDeque<(SimTime, u64, Event)>,
    heap: BinaryHeap<Entry>,
    slots: Vec<Event>,
    free: Vec<u32>,
    next_seq: u64,
}

impl EventQueue {
    pub(crate) fn push(&mut self, time: SimTime, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        // Timers are far ahead of the deliveries in flight: keeping them out of the
        // FIFO keeps its times in order.
        let delivery = matches!(event, Event::Deliver(_));
        if delivery && self.fifo.back().is_none_or(|&(t, _, _)| time >= t) {
            self.fifo.push_back((time, seq, event));
            return;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = event;
                slot
            }
            None => {
                self.slots.push(event);
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Entry { time, seq, slot });
    }

    pub(crate) fn peek_time(&self) -> Option<SimTime> {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(&(t, _, _)), Some(e)) => Some(t.min(e.time)),
            (Some(&(t, _, _)), None) => Some(t),
            (None, e) => e.map(|e| e.time),
        }
    }

    pub(crate) fn pop(&mut self) -> Option<(SimTime, Event)> {
        let heap_first = match (self.fifo.front(), self.heap.peek()) {
            (Some(&(t, seq, _)), Some(e)) => (e.time, e.seq) < (t, seq),
            (None, Some(_)) => true,
            (_, None) => false,
        };
        if heap_first {
            let entry = self.heap.pop()?;
            self.free.push(entry.slot);
            Some((entry.time, self.slots[entry.slot as usize]))
        } else {
            self.fifo.pop_front().map(|(t, _, e)| (t, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(n: u32) -> Event {
        Event::Timer {
            conn: ConnId(n),
            side: Side::Client,
            kind: TimerKind::Retransmit,
        }
    }

    fn id(e: Event) -> u32 {
        match e {
            Event::Timer { conn, .. } => conn.0,
            Event::Deliver(Packet::Tcp(seg)) => seg.conn.0,
            Event::Deliver(Packet::Udp(slot)) => slot.0,
            Event::Fault(i) => i,
        }
    }

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::default();
        let t = |ms: u64| SimTime::from_nanos(ms * 1_000_000);
        // Mixed: in-order pushes (FIFO), earlier ones (heap), ties on both sides.
        for (i, ms) in [5u64, 5, 9, 3, 5, 1, 9, 7, 3].into_iter().enumerate() {
            q.push(t(ms), timer(i as u32));
        }
        let mut got = Vec::new();
        while let Some((time, e)) = q.pop() {
            got.push((time.as_nanos() / 1_000_000, id(e)));
        }
        assert_eq!(
            got,
            vec![
                (1, 5),
                (3, 3),
                (3, 8),
                (5, 0),
                (5, 1),
                (5, 4),
                (7, 7),
                (9, 2),
                (9, 6)
            ]
        );
        assert_eq!(q.peek_time(), None);
    }
}
