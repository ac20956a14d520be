//! Socket buffer sizes and their autotuning, after Linux.
//!
//! A buffer whose size the application never set is tuned by the kernel: the send
//! buffer grows with the amount of data in flight (`tcp_sndbuf_expand`), the receive
//! buffer with how much the application reads per round trip (dynamic right-sizing,
//! `tcp_rcv_space_adjust`), each up to its maximum (`tcp_wmem[2]`, `tcp_rmem[2]`).
//! Setting a size turns tuning off for that buffer (`SOCK_SNDBUF_LOCK`). Sizes here
//! are what the WASI getters report: payload bytes, which is half of what Linux's
//! `getsockopt` returns and what wasmtime-wasi reports on Linux (it halves).

use crate::time::SimTime;

/// A buffer-size option as the application left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferSize {
    /// Never set: starts at the default and is tuned up to the configured maximum.
    Auto,
    /// Set by the application (already clamped to the allowed range); never tuned.
    Set(u64),
}

impl BufferSize {
    /// The size before any tuning, given the default for an unset buffer.
    pub fn initial(self, default: u64) -> u64 {
        match self {
            BufferSize::Auto => default,
            BufferSize::Set(size) => size,
        }
    }
}

/// Segments in Linux's initial congestion window (`TCP_INIT_CWND`).
const INITIAL_WINDOW_SEGMENTS: u64 = 10;

/// Send-buffer tuning: present on a pipe while its sender's size is unset.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendTuning {
    /// The most the buffer grows to (`tcp_wmem[2]`, halved).
    pub(crate) max: u64,
}

impl SendTuning {
    /// The size once the connection is established: room for twice the initial
    /// window of ten segments, as Linux sizes a new connection's send buffer.
    pub(crate) fn established(self, cap: u64, mss: u32) -> u64 {
        let initial = 2 * INITIAL_WINDOW_SEGMENTS * u64::from(mss);
        cap.max(initial.min(self.max))
    }

    /// The size after an ACK of `acked` new bytes, `in_flight` having been sent and
    /// not acknowledged before it, with the peer now advertising `peer_window`.
    /// Linux grows the buffer to twice the congestion window, which slow start grows
    /// by what each ACK acknowledges while the window is what limits the sender.
    /// Without congestion control here: the sender counts as busy when it had at
    /// least a full segment in flight (bulk transfers do, small requests do not), and
    /// growth stops at twice the peer's window, past which a bigger buffer would
    /// only hold data the receiver cannot take (a slow reader's peer stays put).
    pub(crate) fn after_ack(
        self,
        cap: u64,
        in_flight: u64,
        acked: u64,
        mss: u32,
        peer_window: u64,
    ) -> u64 {
        if in_flight < u64::from(mss) {
            return cap;
        }
        let target = cap
            .saturating_add(2 * acked)
            .min(peer_window.saturating_mul(2))
            .min(self.max);
        cap.max(target)
    }
}

/// Receive-buffer tuning (dynamic right-sizing): present on a pipe while its
/// receiver's size is unset.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReceiveTuning {
    /// The most the buffer grows to (`tcp_rmem[2]`, halved).
    pub(crate) max: u64,
    /// Start of the current measurement period.
    start: SimTime,
    /// Bytes the application read since `start`.
    copied: u64,
    /// Bytes read in the last period that grew the buffer.
    space: u64,
}

impl ReceiveTuning {
    pub(crate) fn new(max: u64, now: SimTime) -> Self {
        ReceiveTuning {
            max,
            start: now,
            copied: 0,
            space: 0,
        }
    }

    /// The application read `n` bytes at `now`; `rtt` is the connection's round-trip
    /// estimate. Once a round trip has passed, a buffer that the application drained
    /// faster than in any earlier period grows to twice what it read in this one, so
    /// the window covers the bandwidth-delay product with room to spare. On a
    /// latency-free link the round trip is zero and so is the bandwidth-delay
    /// product: every read is a period, and the buffer grows to twice the largest
    /// read, enough for the reader never to wait on the window.
    pub(crate) fn after_read(&mut self, cap: u64, n: u64, now: SimTime, rtt_nanos: u64) -> u64 {
        self.copied += n;
        if now.as_nanos() - self.start.as_nanos() < rtt_nanos {
            return cap;
        }
        let copied = std::mem::take(&mut self.copied);
        self.start = now;
        if copied <= self.space {
            return cap;
        }
        self.space = copied;
        cap.max(copied.saturating_mul(2).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn send_buffer_starts_at_twenty_segments_and_grows_under_bulk_traffic() {
        let tune = SendTuning { max: 1 << 21 };
        assert_eq!(tune.established(8192, 1460), 29_200);
        assert_eq!(tune.established(8192, 65_483), 1_309_660);
        assert_eq!(
            SendTuning { max: 1 << 20 }.established(8192, 65_483),
            1 << 20
        );
        // Less than a segment in flight: small requests, no growth.
        assert_eq!(tune.after_ack(29_200, 1000, 1000, 1460, 65_536), 29_200);
        assert_eq!(tune.after_ack(29_200, 14_600, 14_600, 1460, 65_536), 58_400);
        assert_eq!(
            tune.after_ack(2_000_000, 2_000_000, 1 << 20, 1460, 3 << 20),
            1 << 21
        );
        // Never past twice the peer's window, never smaller than before.
        assert_eq!(tune.after_ack(29_200, 29_200, 29_200, 1460, 20_000), 40_000);
        assert_eq!(tune.after_ack(58_400, 29_200, 29_200, 1460, 0), 58_400);
    }

    #[test]
    fn receive_buffer_grows_to_twice_a_round_trip_of_reads() {
        let rtt = Duration::from_millis(10);
        let rtt_nanos = rtt.as_nanos() as u64;
        let t0 = SimTime::ZERO;
        let mut tune = ReceiveTuning::new(3 << 20, t0);
        // Within the first round trip nothing changes.
        assert_eq!(tune.after_read(65_536, 40_000, t0, rtt_nanos), 65_536);
        let t1 = t0 + rtt;
        assert_eq!(tune.after_read(65_536, 60_000, t1, rtt_nanos), 200_000);
        // A slower period does not shrink it or grow it.
        let t2 = t1 + rtt;
        assert_eq!(tune.after_read(200_000, 10_000, t2, rtt_nanos), 200_000);
        // Never beyond the maximum.
        let t3 = t2 + rtt;
        assert_eq!(tune.after_read(200_000, 5 << 20, t3, rtt_nanos), 3 << 20);
    }

    #[test]
    fn without_a_round_trip_the_buffer_holds_twice_the_largest_read() {
        let mut tune = ReceiveTuning::new(3 << 20, SimTime::ZERO);
        let (t, zero) = (SimTime::ZERO, 0);
        assert_eq!(tune.after_read(65_536, 30_000, t, zero), 65_536);
        assert_eq!(tune.after_read(65_536, 65_536, t, zero), 131_072);
        assert_eq!(tune.after_read(131_072, 1000, t, zero), 131_072);
    }
}
