//! When a receiver acknowledges data, as Linux decides it (`tcp_input.c`): at once in
//! quick-ACK mode, which a connection starts in and returns to after an idle
//! spell, and whenever more than one segment waits; otherwise after the delayed-ACK
//! timer, unless the ACK rides on data first. A receiver that answers soon after it
//! receives is interactive ("ping-pong" mode): it delays its ACKs to piggyback them,
//! until a delayed ACK times out with nothing to carry it.

use std::time::Duration;

use crate::time::SimTime;

/// Quick ACKs a connection may have at most (`TCP_MAX_QUICKACKS`).
const MAX_QUICK_ACKS: u32 = 16;
/// The receive-MSS estimate small segments leave (`TCP_MSS_DEFAULT`).
const SMALL_RCV_MSS: u64 = 536;

/// One end's acknowledgement state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AckPolicy {
    /// ACKs still to send at once (quick-ACK mode while above zero).
    quick: u32,
    /// The end answers soon after it receives: its ACKs wait to ride on data.
    pingpong: bool,
    /// When data last arrived (`None`: never).
    last_data: Option<SimTime>,
    /// Segments shorter than the MSS received since the last ACK, up to 2
    /// (Linux's `ICSK_ACK_PUSHED` and `PUSHED2`).
    small: u8,
}

impl AckPolicy {
    /// Data arrived at `now`. The first data, and data after the end was idle for
    /// longer than its retransmission timeout, put it in quick-ACK mode, with as
    /// many quick ACKs as half the receive window holds small segments (2 to 16).
    #[inline]
    /// `small`: the segment was shorter than the MSS.
    pub fn on_data(&mut self, now: SimTime, rto: Duration, receive_window: u64, small: bool) {
        if small {
            self.small = (self.small + 1).min(2);
        }
        let idle = self
            .last_data
            .is_none_or(|last| now.as_nanos() - last.as_nanos() > rto.as_nanos() as u64);
        if idle {
            let quick = (receive_window / (2 * SMALL_RCV_MSS)).clamp(2, u64::from(MAX_QUICK_ACKS));
            self.quick = self.quick.max(quick as u32);
        }
        self.last_data = Some(now);
    }

    /// Whether data that just arrived is acknowledged at once.
    #[inline]
    pub fn ack_now(&self) -> bool {
        self.quick > 0 && !self.pingpong
    }

    /// An ACK of received data went out.
    #[inline]
    pub fn on_ack_sent(&mut self) {
        self.quick = self.quick.saturating_sub(1);
        self.small = 0;
    }

    /// Whether a read that empties the receive buffer sends the ACK owed: for a
    /// small segment, unless the end is answering (then for two).
    #[inline]
    pub fn ack_on_drain(&self) -> bool {
        self.small >= 2 || (self.small == 1 && !self.pingpong)
    }

    /// Data arrived that was already received (a retransmission: our ACK was
    /// lost): quick ACKs again, out of ping-pong mode.
    #[inline]
    pub fn enter_quick_mode(&mut self) {
        self.quick = MAX_QUICK_ACKS;
        self.pingpong = false;
    }

    /// The end sent data at `now`: within `ato` of receiving, it is answering, and
    /// its ACKs will wait to ride on its answers.
    #[inline]
    pub fn on_data_sent(&mut self, now: SimTime, ato: Duration) {
        if self
            .last_data
            .is_some_and(|last| now.as_nanos() - last.as_nanos() < ato.as_nanos() as u64)
        {
            self.pingpong = true;
        }
    }

    /// A delayed ACK timed out with nothing to carry it: the exchange is not
    /// interactive after all.
    #[inline]
    pub fn on_delayed_ack_timeout(&mut self) {
        self.pingpong = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTO: Duration = Duration::from_millis(200);
    const ATO: Duration = Duration::from_millis(40);

    fn at(ms: u64) -> SimTime {
        SimTime::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn a_fresh_connection_acknowledges_at_once_then_delays() {
        let mut a = AckPolicy::default();
        for i in 0..16 {
            a.on_data(at(i), RTO, 65_536, true);
            assert!(a.ack_now(), "data {i}");
            a.on_ack_sent();
        }
        a.on_data(at(16), RTO, 65_536, true);
        assert!(!a.ack_now(), "the quick ACKs are spent");
        // Idle past the RTO: quick again.
        a.on_data(at(500), RTO, 65_536, true);
        assert!(a.ack_now());
    }

    #[test]
    fn an_answering_end_delays_until_a_delayed_ack_times_out() {
        let mut a = AckPolicy::default();
        a.on_data(at(0), RTO, 65_536, true);
        a.on_data_sent(at(1), ATO);
        a.on_data(at(2), RTO, 65_536, true);
        assert!(!a.ack_now(), "ping-pong: the ACK waits for the answer");
        a.on_delayed_ack_timeout();
        assert!(a.ack_now());
        // A small window still gives two quick ACKs.
        let mut small = AckPolicy::default();
        small.on_data(at(0), RTO, 100, true);
        small.on_ack_sent();
        assert!(small.ack_now());
        small.on_ack_sent();
        assert!(!small.ack_now());
    }

    #[test]
    fn a_drained_buffer_acknowledges_small_segments_unless_interactive() {
        let mut a = AckPolicy::default();
        a.on_data(at(0), RTO, 65_536, false);
        assert!(!a.ack_on_drain(), "a full segment waits");
        a.on_data(at(1), RTO, 65_536, true);
        assert!(a.ack_on_drain());
        a.on_ack_sent();
        assert!(!a.ack_on_drain());
        // Answering: one small segment waits for the answer, two do not.
        a.on_data_sent(at(2), ATO);
        a.on_data(at(3), RTO, 65_536, true);
        assert!(!a.ack_on_drain());
        a.on_data(at(4), RTO, 65_536, true);
        assert!(a.ack_on_drain());
        // A retransmission of data already received: quick again, not answering.
        a.enter_quick_mode();
        assert!(a.ack_now());
    }
}
