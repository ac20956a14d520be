//! A TCP connection as a state machine. It owns its ends' state and timers and
//! answers each input (a segment arrived, a timer fired, the application wrote, read,
//! shut down or closed) by changing that state and handing effects to [`Effects`]:
//! segments to put on the wire, timer events to queue, sockets to wake, trace records,
//! listener queue changes. It knows nothing of links, hosts or the socket table;
//! `tcp.rs` applies each effect as it comes.

use std::time::Duration;

use crate::config::{BacklogOverflow, TcpConfig};
use crate::conn::{Conn, Phase};
use crate::error::ErrorCode;
use crate::ids::{ConnId, SocketId};
use crate::pipe::{FIRST_DATA_SEQ, Pipe};
use crate::queue::TimerKind;
use crate::segment::{Flags, Segment, Side};
use crate::time::SimTime;
use crate::trace::{DropReason, TraceEvent};

mod timers;

/// How long a SYN cookie stays valid (Linux accepts cookies up to about two
/// minutes old).
const SYN_COOKIE_LIFETIME: Duration = Duration::from_secs(120);

/// Where a connection's effects go, as it produces them: the world implements this
/// (`tcp.rs`) and applies each at once, so the trace reads as if the connection had
/// acted on the world itself.
pub(crate) trait Effects {
    /// Put `seg`, sent by `conn`, on the wire.
    fn transmit(&mut self, conn: &mut Conn, seg: Segment, retransmit: bool);
    /// Queue an event for the timer `kind` of `conn`'s `side` at `at` (the
    /// deadline itself is the connection's).
    fn schedule(&mut self, conn: ConnId, side: Side, kind: TimerKind, at: SimTime);
    /// The socket may have become ready.
    fn wake(&mut self, socket: SocketId);
    fn record(&mut self, event: TraceEvent);
    /// `conn`'s server end finished its handshake: it moves from `listener`'s SYN
    /// queue to its accept queue.
    fn queued(&mut self, listener: SocketId, conn: ConnId);
    /// `conn`'s half-open server end closed: it leaves `listener`'s SYN queue.
    fn unqueued(&mut self, listener: SocketId, conn: ConnId);
    /// An end closed: the connection can be freed once neither end is used.
    fn closed(&mut self);
}

/// The socket's keep-alive settings, for an end whose socket enabled keep-alive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeepAlive {
    pub(crate) idle: Duration,
    pub(crate) interval: Duration,
    pub(crate) count: u32,
}

/// Where the listener of a half-open server end stands when its final ACK arrives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ListenerRoom {
    /// It closed: nobody takes the connection.
    Gone,
    Full,
    Room,
}

/// What a connection needs to handle an input: the time, the settings, and where
/// its effects go.
pub(crate) struct Ctx<'a, E> {
    pub(crate) now: SimTime,
    pub(crate) cfg: &'a TcpConfig,
    pub(crate) fx: &'a mut E,
}

impl<E: Effects> Ctx<'_, E> {
    fn record(&mut self, event: TraceEvent) {
        self.fx.record(event);
    }
}

impl Conn {
    /// Wake the socket on `side`, if one uses it.
    fn wake(&self, ctx: &mut Ctx<impl Effects>, side: Side) {
        if let Some(socket) = self.end(side).socket {
            ctx.fx.wake(socket);
        }
    }

    // ---- sending ----

    /// A segment from `side` carrying the receiver state of that side (ack, window).
    fn make_segment(&self, side: Side, flags: Flags, seq: u64, len: u32) -> Segment {
        let rx = self.rx(side);
        let ack = if flags.contains(Flags::ACK) {
            rx.ack_number()
        } else {
            0
        };
        let window = rx.advertised_edge().saturating_sub(rx.rcv_nxt);
        Segment {
            conn: self.id,
            from: side,
            flags,
            seq,
            ack,
            len,
            window: window.min(u64::from(u32::MAX)) as u32,
        }
    }

    /// Hand a segment to the wire. Any ACK it carries settles the delayed ACK.
    fn emit(&mut self, ctx: &mut Ctx<impl Effects>, seg: Segment, retransmit: bool) {
        if seg.flags.contains(Flags::ACK) {
            let rx = self.rx_mut(seg.from);
            rx.adv_edge = rx.advertised_edge();
            let end = self.end_mut(seg.from);
            if end.unacked_segs > 0 {
                end.ack.on_ack_sent();
            }
            end.unacked_segs = 0;
            end.deadlines[TimerKind::DelayedAck.index()] = None;
        }
        ctx.fx.transmit(self, seg, retransmit);
    }

    pub(crate) fn send_syn(&mut self, ctx: &mut Ctx<impl Effects>, side: Side, retransmit: bool) {
        let now = ctx.now;
        let tx = self.tx_mut(side);
        tx.snd_nxt = FIRST_DATA_SEQ;
        tx.snd_max = tx.snd_max.max(FIRST_DATA_SEQ);
        let end = self.end_mut(side);
        end.rtt_probe = if retransmit { None } else { Some((0, now)) };
        let rto = end.rto;
        // A SYN that answers one (a listener's, or a simultaneous open's) carries an ACK.
        let flags = if end.phase == Phase::SynReceived {
            Flags::SYN | Flags::ACK
        } else {
            Flags::SYN
        };
        // A SYN cookie keeps no state: nothing retransmits it, and the handshake
        // must complete while the cookie is valid.
        let wait = if end.syn_cookie {
            SYN_COOKIE_LIFETIME
        } else {
            rto
        };
        let seg = self.make_segment(side, flags, 0, 0);
        self.emit(ctx, seg, retransmit);
        self.arm(ctx, side, TimerKind::Retransmit, now + wait);
    }

    /// The client's SYN has no route: it is dropped, and the connect fails once the
    /// address would have failed to resolve on a link (Linux: unanswered ARP).
    pub(crate) fn send_unroutable_syn(&mut self, ctx: &mut Ctx<impl Effects>) {
        let seg = self.make_segment(Side::Client, Flags::SYN, 0, 0);
        ctx.record(TraceEvent::SegmentDropped {
            seg,
            reason: DropReason::Unroutable,
        });
        let at = ctx.now + ctx.cfg.unreachable_timeout;
        self.arm(ctx, Side::Client, TimerKind::Unreachable, at);
    }

    pub(crate) fn send_ack(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        // Pure ACKs carry the highest sequence number sent, so they never look like a
        // keep-alive probe (which sits below what the peer has received).
        let seq = self.tx(side).snd_max.max(FIRST_DATA_SEQ);
        let seg = self.make_segment(side, Flags::ACK, seq, 0);
        self.emit(ctx, seg, false);
    }

    pub(crate) fn send_rst(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        let seq = self.tx(side).snd_nxt;
        let seg = self.make_segment(side, Flags::RST | Flags::ACK, seq, 0);
        self.emit(ctx, seg, false);
    }

    /// Send whatever the window, Nagle's algorithm and the FIN allow.
    pub(crate) fn output(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        let nagle = ctx.cfg.nagle;
        loop {
            if self.end(side).phase != Phase::Established {
                return;
            }
            let mss = u64::from(self.mss);
            let tx = self.tx(side);
            let nxt = tx.snd_nxt.max(FIRST_DATA_SEQ);
            let avail = tx.send_end().saturating_sub(nxt);
            let wnd = tx.wnd_edge.saturating_sub(nxt);
            let retransmitting = nxt < tx.snd_max;
            if avail > 0 && wnd > 0 {
                let len = mss.min(avail).min(wnd);
                let in_flight = tx.snd_max > tx.snd_una;
                let last = tx.fin_seq == Some(nxt + len);
                if nagle && len < mss && in_flight && !retransmitting && !last {
                    break;
                }
                let fin = tx.fin_seq == Some(nxt + len);
                self.send_data(ctx, side, nxt, len as u32, fin);
                continue;
            }
            if avail == 0 && tx.fin_seq == Some(nxt) {
                self.send_data(ctx, side, nxt, 0, true);
            }
            break;
        }
        self.arm_retransmit_if_needed(ctx, side);
    }

    /// The application wrote: `put` adds to the send buffer, and what it took goes
    /// out as the window allows. Returns how much it took.
    pub(crate) fn on_write(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        side: Side,
        put: impl FnOnce(&mut Pipe) -> usize,
    ) -> usize {
        let n = put(self.tx_mut(side));
        if n > 0 {
            self.output(ctx, side);
        }
        n
    }

    /// The application read: `take` takes from the receive buffer, which holds data.
    /// The buffer's tuning sees the read, and a window that grew usefully is
    /// advertised. Returns how much it took.
    pub(crate) fn on_read(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        side: Side,
        take: impl FnOnce(&mut Pipe) -> usize,
    ) -> usize {
        let rtt = self.end(side).srtt_nanos.unwrap_or(0);
        let rx = self.rx_mut(side);
        let n = take(rx);
        if let Some(tuning) = &mut rx.rcv_tuning {
            rx.rcv_cap = tuning.after_read(rx.rcv_cap, n as u64, ctx.now, rtt);
        }
        let drained = n > 0 && rx.readable() == 0;
        self.maybe_window_update(ctx, side);
        // A read that empties the buffer sends the ACK a small segment is owed,
        // unless the exchange is interactive (Linux's `tcp_cleanup_rbuf`).
        let end = self.end(side);
        if drained
            && end.phase == Phase::Established
            && end.unacked_segs > 0
            && end.ack.ack_on_drain()
        {
            self.send_ack(ctx, side);
        }
        n
    }

    /// A zero-window probe: one byte past the closed window. `snd_nxt` stays put, so
    /// when the receiver drops the byte, sending resumes from the right place once the
    /// window opens; `snd_max` covers it, so an ACK of the byte is still valid.
    fn send_window_probe(&mut self, ctx: &mut Ctx<impl Effects>, side: Side, seq: u64) {
        let tx = self.tx_mut(side);
        tx.snd_max = tx.snd_max.max(seq + 1);
        let seg = self.make_segment(side, Flags::ACK, seq, 1);
        self.emit(ctx, seg, false);
    }

    #[inline(always)]
    fn send_data(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        side: Side,
        seq: u64,
        len: u32,
        fin: bool,
    ) {
        let now = ctx.now;
        let tx = self.tx_mut(side);
        let retransmit = seq < tx.snd_max;
        let next = seq + u64::from(len) + u64::from(fin);
        tx.snd_nxt = next;
        tx.snd_max = tx.snd_max.max(next);
        let ato = ctx.cfg.delayed_ack;
        let end = self.end_mut(side);
        if !retransmit && end.rtt_probe.is_none() {
            end.rtt_probe = Some((seq, now));
        }
        if len > 0 {
            end.ack.on_data_sent(now, ato);
        }
        let flags = if fin {
            Flags::ACK | Flags::FIN
        } else {
            Flags::ACK
        };
        let seg = self.make_segment(side, flags, seq, len);
        self.emit(ctx, seg, retransmit);
    }

    /// Keep the retransmission timer running while anything is unacknowledged, and as
    /// the persist timer while data waits behind a closed window.
    fn arm_retransmit_if_needed(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        let tx = self.tx(side);
        let end = self.end(side);
        let waiting = tx.snd_max > tx.snd_una
            || (tx.unsent() > 0 && tx.wnd_edge <= tx.snd_nxt.max(FIRST_DATA_SEQ));
        if waiting && end.deadlines[TimerKind::Retransmit.index()].is_none() {
            let at = ctx.now + end.rto;
            self.arm(ctx, side, TimerKind::Retransmit, at);
        }
    }

    /// Shut down the sending direction: a FIN follows the buffered data.
    pub(crate) fn queue_fin(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        if self.end(side).phase != Phase::Established {
            return;
        }
        let tx = self.tx_mut(side);
        if tx.fin_seq.is_none() {
            tx.fin_seq = Some(tx.write_end());
        }
        self.output(ctx, side);
    }

    /// After the application read: advertise a window that grew by a useful amount.
    pub(crate) fn maybe_window_update(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        if self.end(side).phase != Phase::Established {
            return;
        }
        let rx = self.rx(side);
        let edge = rx.read_seq + rx.rcv_cap;
        let step = (2 * u64::from(self.mss)).min(rx.rcv_cap / 2).max(1);
        if !rx.fin_received && edge >= rx.adv_edge + step {
            self.send_ack(ctx, side);
        }
    }

    // ---- receiving ----

    /// A segment for `side`, which is past `Idle` (the world decides what a SYN at a
    /// listener becomes). `room` is where the listener of a half-open server end
    /// stands.
    pub(crate) fn on_segment(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        seg: Segment,
        room: ListenerRoom,
    ) {
        let side = self.receiver(seg.from);
        match self.end(side).phase {
            Phase::Idle => {}
            Phase::Closed => {
                if !seg.flags.contains(Flags::RST) {
                    self.send_rst(ctx, side);
                }
            }
            Phase::SynSent => self.on_segment_syn_sent(ctx, seg),
            Phase::SynReceived => self.on_segment_syn_received(ctx, seg, room),
            Phase::Established => self.on_segment_established(ctx, seg),
        }
    }

    /// A SYN the listener took: the server end answers with a SYN-ACK, from its SYN
    /// queue or (`cookie`) from none.
    pub(crate) fn on_syn_taken(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        seg: Segment,
        listener: SocketId,
        cookie: bool,
        buffers: (crate::autotune::BufferSize, crate::autotune::BufferSize),
    ) {
        let now = ctx.now;
        let defaults = ctx.cfg.buffer_defaults();
        let end = self.end_mut(Side::Server);
        end.phase = Phase::SynReceived;
        end.listener = Some(listener);
        end.syn_cookie = cookie;
        end.last_recv = now;
        let tx = self.tx_mut(Side::Server);
        tx.size_send_buffer(buffers.0, defaults);
        tx.wnd_edge = FIRST_DATA_SEQ + u64::from(seg.window);
        self.rx_mut(Side::Server)
            .size_receive_buffer(buffers.1, defaults, now);
        self.send_syn(ctx, Side::Server, false);
    }

    /// The listener's accept queue is full: drop the segment, or refuse with RST.
    pub(crate) fn overflow(&mut self, ctx: &mut Ctx<impl Effects>, seg: Segment, side: Side) {
        match ctx.cfg.backlog_overflow {
            BacklogOverflow::Refuse => {
                self.send_rst(ctx, side);
                if self.end(side).phase == Phase::SynReceived {
                    self.close_phase(ctx, side, None, false);
                }
            }
            BacklogOverflow::Drop => ctx.record(TraceEvent::SegmentDropped {
                seg,
                reason: DropReason::BacklogFull,
            }),
        }
    }

    fn on_segment_syn_sent(&mut self, ctx: &mut Ctx<impl Effects>, seg: Segment) {
        let acceptable = seg.flags.contains(Flags::ACK) && seg.ack == FIRST_DATA_SEQ;
        if seg.flags.contains(Flags::RST) {
            if acceptable {
                let refused = Some(ErrorCode::ConnectionRefused);
                self.close_phase(ctx, Side::Client, refused, true);
            }
            return;
        }
        if seg.flags.contains(Flags::SYN) && !seg.flags.contains(Flags::ACK) {
            return self.simultaneous_open(ctx, seg);
        }
        if !(seg.flags.contains(Flags::SYN) && acceptable) {
            return;
        }
        self.complete_handshake(ctx, Side::Client, seg);
        self.send_ack(ctx, Side::Client);
    }

    /// A SYN crossed the connect's own (RFC 9293 3.5): answer it with a SYN-ACK and
    /// wait for the SYN-ACK that answers ours. Only a socket connected to itself
    /// meets this here, its SYN coming back to it.
    fn simultaneous_open(&mut self, ctx: &mut Ctx<impl Effects>, seg: Segment) {
        let end = self.end_mut(Side::Client);
        end.phase = Phase::SynReceived;
        end.retries = 0;
        self.tx_mut(Side::Client).wnd_edge = FIRST_DATA_SEQ + u64::from(seg.window);
        self.send_syn(ctx, Side::Client, false);
    }

    /// A segment for a connect that met a crossing SYN: the SYN-ACK answering its
    /// own SYN completes the handshake.
    fn on_segment_simultaneous(&mut self, ctx: &mut Ctx<impl Effects>, seg: Segment) {
        if seg.flags.contains(Flags::RST) {
            let refused = Some(ErrorCode::ConnectionRefused);
            return self.close_phase(ctx, Side::Client, refused, true);
        }
        if seg.flags.contains(Flags::ACK) && seg.ack == FIRST_DATA_SEQ {
            self.complete_handshake(ctx, Side::Client, seg);
        }
    }

    fn on_segment_syn_received(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        seg: Segment,
        room: ListenerRoom,
    ) {
        if self.receiver(seg.from) == Side::Client {
            return self.on_segment_simultaneous(ctx, seg);
        }
        if seg.flags.contains(Flags::RST) {
            let reset = Some(ErrorCode::ConnectionReset);
            return self.close_phase(ctx, Side::Server, reset, false);
        }
        if seg.flags.contains(Flags::SYN) {
            // Our SYN-ACK was lost: the client retransmitted its SYN.
            return self.send_syn(ctx, Side::Server, true);
        }
        if !seg.flags.contains(Flags::ACK) || seg.ack < FIRST_DATA_SEQ {
            return;
        }
        let Some(listener) = self.end(Side::Server).listener else {
            return;
        };
        match room {
            // The listener may have closed since (a SYN cookie outlives it): no socket
            // takes the connection, so it is reset.
            ListenerRoom::Gone => {
                self.send_rst(ctx, Side::Server);
                return self.close_phase(ctx, Side::Server, None, false);
            }
            ListenerRoom::Full => return self.overflow(ctx, seg, Side::Server),
            ListenerRoom::Room => {}
        }
        self.complete_handshake(ctx, Side::Server, seg);
        ctx.fx.queued(listener, self.id);
        self.on_segment_established(ctx, seg);
    }

    fn complete_handshake(&mut self, ctx: &mut Ctx<impl Effects>, side: Side, seg: Segment) {
        let mss = self.mss;
        let tx = self.tx_mut(side);
        tx.on_ack(seg.ack, u64::from(seg.window));
        if let Some(tuning) = tx.snd_tuning {
            tx.snd_cap = tuning.established(tx.snd_cap, mss);
        }
        let end = self.end_mut(side);
        end.phase = Phase::Established;
        end.retries = 0;
        end.last_recv = ctx.now;
        end.deadlines[TimerKind::Retransmit.index()] = None;
        self.rtt_sample(ctx, side, seg.ack);
        ctx.record(TraceEvent::Established {
            conn: self.id,
            side,
        });
        self.wake(ctx, side);
    }

    fn on_segment_established(&mut self, ctx: &mut Ctx<impl Effects>, seg: Segment) {
        let side = self.receiver(seg.from);
        let now = ctx.now;
        if seg.flags.contains(Flags::RST) {
            // After the peer's FIN, Linux reports EPIPE (a closed stream), not a reset.
            let report = !self.rx(side).fin_received;
            let reset = Some(ErrorCode::ConnectionReset);
            return self.close_phase(ctx, side, reset, report);
        }
        if seg.flags.contains(Flags::SYN) {
            // A retransmitted SYN-ACK: our ACK of it was lost.
            return self.send_ack(ctx, side);
        }
        let end = self.end_mut(side);
        end.last_recv = now;
        end.keep_alive_probes = 0;
        if seg.flags.contains(Flags::ACK) {
            self.on_ack(ctx, side, seg);
        }
        let fin = seg.flags.contains(Flags::FIN);
        // Whether the data or FIN just received is acknowledged at once (or after the
        // delayed-ACK timer), unless data going out carries the ACK first.
        let mut ack = None;
        if seg.len > 0 || fin {
            if seg.len > 0 && self.end(side).orphaned {
                // Data for a socket that was closed: Linux answers with RST.
                return self.abort(ctx, side);
            }
            let rx = self.rx_mut(side);
            if seg.seq > rx.rcv_nxt {
                ctx.record(TraceEvent::SegmentDropped {
                    seg,
                    reason: DropReason::OutOfOrder,
                });
                return self.send_ack(ctx, side);
            }
            let before = rx.rcv_nxt;
            let len = u64::from(seg.len);
            let covered = rx.receive(seg.seq, len);
            let duplicate = len > 0 && seg.seq + len <= before;
            let mut immediate = covered < len || duplicate;
            if fin && covered == len && !rx.fin_received {
                rx.fin_received = true;
                immediate = true;
            }
            let window = rx.receive_window();
            let small = seg.len < self.mss;
            let end = self.end_mut(side);
            if duplicate {
                // Data we had already: our ACK was lost. Linux acknowledges at once
                // and goes back to quick ACKs.
                end.ack.enter_quick_mode();
            } else if seg.len > 0 {
                end.ack.on_data(now, end.rto, window, small);
            }
            end.unacked_segs += 1;
            ack = Some(immediate || end.unacked_segs >= 2 || end.ack.ack_now());
        } else if seg.seq < self.rx(side).rcv_nxt {
            // A keep-alive probe (it sits below what we have received): answer it.
            self.send_ack(ctx, side);
        }
        // Data this segment lets out (past Nagle, into a wider window) carries the
        // ACK, as Linux sends data before it checks for a pure ACK.
        self.output(ctx, side);
        if let Some(at_once) = ack
            && self.end(side).unacked_segs > 0
        {
            if at_once {
                self.send_ack(ctx, side);
            } else if self.end(side).deadlines[TimerKind::DelayedAck.index()].is_none() {
                let at = now + ctx.cfg.delayed_ack;
                self.arm(ctx, side, TimerKind::DelayedAck, at);
            }
        }
        self.wake(ctx, side);
        self.check_orphan(ctx, side);
    }

    fn on_ack(&mut self, ctx: &mut Ctx<impl Effects>, side: Side, seg: Segment) {
        let mss = self.mss;
        let tx = self.tx_mut(side);
        let una_before = tx.snd_una.max(FIRST_DATA_SEQ);
        let in_flight = tx.snd_max.saturating_sub(una_before);
        let advanced = tx.on_ack(seg.ack, u64::from(seg.window));
        if advanced && let Some(tuning) = tx.snd_tuning {
            let acked = tx.snd_una.saturating_sub(una_before);
            let peer_window = tx.wnd_edge.saturating_sub(tx.snd_una);
            tx.snd_cap = tuning.after_ack(tx.snd_cap, in_flight, acked, mss, peer_window);
            tx.admit_held();
        }
        let (all_acked, window_closed) = (
            tx.snd_una >= tx.snd_max,
            tx.wnd_edge <= tx.snd_una && tx.unsent() > 0,
        );
        let end = self.end_mut(side);
        if window_closed {
            // The peer answers our zero-window probes: it is alive, keep probing.
            end.retries = 0;
        }
        if !advanced {
            return;
        }
        end.retries = 0;
        let at = ctx.now + end.rto;
        self.rtt_sample(ctx, side, seg.ack);
        if all_acked {
            self.disarm(side, TimerKind::Retransmit);
        } else {
            self.arm(ctx, side, TimerKind::Retransmit, at);
        }
    }

    /// RFC 6298 RTT estimation, from the timed segment if this ACK covers it.
    fn rtt_sample(&mut self, ctx: &Ctx<impl Effects>, side: Side, ack: u64) {
        let (min, max) = (ctx.cfg.rto_min, ctx.cfg.rto_max);
        let end = self.end_mut(side);
        let Some((seq, sent)) = end.rtt_probe else {
            return;
        };
        if ack <= seq {
            return;
        }
        end.rtt_probe = None;
        // Integer nanoseconds: Duration arithmetic is needlessly slow on this path.
        let r = ctx.now.as_nanos().saturating_sub(sent.as_nanos());
        let (srtt, rttvar) = match end.srtt_nanos {
            None => (r, r / 2),
            Some(srtt) => {
                let rttvar = end.rttvar_nanos;
                (
                    srtt - srtt / 8 + r / 8,
                    rttvar - rttvar / 4 + srtt.abs_diff(r) / 4,
                )
            }
        };
        end.srtt_nanos = Some(srtt);
        end.rttvar_nanos = rttvar;
        let rto = srtt + (4 * rttvar).max(1_000_000);
        let (min, max) = (min.as_nanos() as u64, max.as_nanos() as u64);
        end.rto = Duration::from_nanos(rto.clamp(min, max));
    }

    // ---- closing ----

    /// A closed socket's end finishes once its FIN is acknowledged and the peer's FIN
    /// arrived, or after the FIN-wait timeout.
    pub(crate) fn check_orphan(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        let end = self.end(side);
        if !end.orphaned || end.phase != Phase::Established || !self.tx(side).fin_acked() {
            return;
        }
        if self.rx(side).fin_received {
            self.close_phase(ctx, side, None, false);
        } else if end.deadlines[TimerKind::FinWait.index()].is_none() {
            let at = ctx.now + ctx.cfg.fin_timeout;
            self.arm(ctx, side, TimerKind::FinWait, at);
        }
    }

    /// Move an end to `Closed`. `failure` is traced; `report` makes the application's
    /// next stream call (or the connect's outcome) return it.
    pub(crate) fn close_phase(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        side: Side,
        failure: Option<ErrorCode>,
        report: bool,
    ) {
        let end = self.end_mut(side);
        let was = end.phase;
        end.phase = Phase::Closed;
        end.deadlines = [None; TimerKind::COUNT];
        end.error = if report { failure } else { None };
        let half_open_listener = if was == Phase::SynReceived {
            end.listener.take()
        } else {
            None
        };
        if let Some(error) = failure {
            ctx.record(TraceEvent::ConnectionFailed {
                conn: self.id,
                side,
                error,
            });
        }
        self.wake(ctx, side);
        if let Some(listener) = half_open_listener {
            ctx.fx.unqueued(listener, self.id);
        }
        ctx.fx.closed();
    }

    /// The socket on `side` closed gracefully: the end lingers, holding the socket's
    /// port, until its FIN is acknowledged and the peer's FIN arrived.
    pub(crate) fn linger(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        let end = self.end_mut(side);
        end.orphaned = true;
        end.holds_port = true;
        end.error = None;
        self.queue_fin(ctx, side);
        self.check_orphan(ctx, side);
    }

    /// Drop this end now: RST to the peer if the handshake got far enough.
    pub(crate) fn abort(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        let phase = self.end(side).phase;
        if matches!(phase, Phase::Established | Phase::SynReceived) {
            self.send_rst(ctx, side);
        }
        self.close_phase(ctx, side, None, false);
    }

    /// Fail this end with `code`, as if the network had: the application is told, and
    /// a peer that knew the connection gets a reset.
    pub(crate) fn fail(&mut self, ctx: &mut Ctx<impl Effects>, side: Side, code: ErrorCode) {
        match self.end(side).phase {
            Phase::Established | Phase::SynReceived => {
                self.send_rst(ctx, side);
                self.close_phase(ctx, side, Some(code), true);
            }
            Phase::SynSent => self.close_phase(ctx, side, Some(code), true),
            Phase::Idle | Phase::Closed => {}
        }
    }

    /// A reset from outside (a fault): every end still in the handshake or
    /// established fails with `connection-reset`, sending nothing.
    pub(crate) fn reset(&mut self, ctx: &mut Ctx<impl Effects>) {
        for side in [Side::Client, Side::Server] {
            if matches!(
                self.end(side).phase,
                Phase::Established | Phase::SynSent | Phase::SynReceived
            ) {
                self.close_phase(ctx, side, Some(ErrorCode::ConnectionReset), true);
            }
        }
    }
}
