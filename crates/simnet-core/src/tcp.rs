//! The protocol engine: segments in, segments out, timers. Everything here runs inside
//! the event loop or right after an API call; nothing blocks.

use std::time::Duration;

use crate::capture::{CapturedPacket, Fate, Transport};
use crate::config::BacklogOverflow;
use crate::conn::Phase;
use crate::error::ErrorCode;
use crate::ids::ConnId;
use crate::injection::Arrival;
use crate::link::Transit;
use crate::net::Net;
use crate::packet::Packet;
use crate::pipe::FIRST_DATA_SEQ;
use crate::queue::{Event, TimerKind};
use crate::segment::{Flags, Segment, Side, TCP_HEADER_BYTES};
use crate::socket::ListenQueue;
use crate::time::SimTime;
use crate::trace::{DropReason, TraceEvent};

/// How long a SYN cookie stays valid (Linux accepts cookies up to about two
/// minutes old).
const SYN_COOKIE_LIFETIME: Duration = Duration::from_secs(120);

impl Net {
    // ---- sending ----

    /// A segment from `side` carrying the receiver state of that side (ack, window).
    pub(crate) fn make_segment(
        &self,
        c: ConnId,
        side: Side,
        flags: Flags,
        seq: u64,
        len: u32,
    ) -> Segment {
        let (ack, window) = self.conn(c).map_or((0, 0), |conn| {
            let rx = conn.rx(side);
            let ack = if flags.contains(Flags::ACK) {
                rx.ack_number()
            } else {
                0
            };
            let window = rx.advertised_edge().saturating_sub(rx.rcv_nxt);
            (ack, window.min(u64::from(u32::MAX)) as u32)
        });
        Segment {
            conn: c,
            from: side,
            flags,
            seq,
            ack,
            len,
            window,
        }
    }

    fn capture_segment(&mut self, seg: Segment, retransmit: bool) {
        let Some(conn) = self.conn(seg.conn) else {
            return;
        };
        let from = seg.from.index();
        let record = CapturedPacket {
            time: self.now,
            src: conn.addrs[from],
            dst: conn.addrs[1 - from],
            transport: Transport::Tcp { seg, retransmit },
            payload: conn.pipes[from].bytes(seg.seq, u64::from(seg.len)),
            fate: Fate::InFlight,
        };
        if let Some(capture) = &mut self.capture {
            capture.sent(record);
        }
    }

    /// Put a segment on the wire. Any ACK it carries settles the delayed ACK.
    fn transmit(&mut self, seg: Segment, retransmit: bool) {
        self.record(TraceEvent::SegmentSent { seg, retransmit });
        if self.capture.is_some() {
            self.capture_segment(seg, retransmit);
        }
        let now = self.now;
        let Some(conn) = self.conn_mut(seg.conn) else {
            return;
        };
        if seg.flags.contains(Flags::ACK) {
            let rx = conn.rx_mut(seg.from);
            rx.adv_edge = rx.advertised_edge();
            let end = conn.end_mut(seg.from);
            end.unacked_segs = 0;
            end.deadlines[TimerKind::DelayedAck.index()] = None;
        }
        let from = seg.from.index();
        let link = conn.links[from];
        match self.links[link].transmit(now, u64::from(seg.len) + TCP_HEADER_BYTES) {
            Transit::Lost => self.record(TraceEvent::SegmentLost { seg }),
            Transit::Arrives(at) => {
                let Some(conn) = self.conn_mut(seg.conn) else {
                    return;
                };
                let at = at.max(conn.last_arrival[from]);
                conn.last_arrival[from] = at;
                self.scheduled_now |= at <= now;
                self.queue.push(at, Event::Deliver(Packet::Tcp(seg)));
            }
        }
    }

    pub(crate) fn send_syn(&mut self, c: ConnId, side: Side, retransmit: bool) {
        let now = self.now;
        let Some(conn) = self.conn_mut(c) else { return };
        let tx = conn.tx_mut(side);
        tx.snd_nxt = FIRST_DATA_SEQ;
        tx.snd_max = tx.snd_max.max(FIRST_DATA_SEQ);
        let end = conn.end_mut(side);
        end.rtt_probe = if retransmit { None } else { Some((0, now)) };
        let rto = end.rto;
        let flags = match side {
            Side::Client => Flags::SYN,
            Side::Server => Flags::SYN | Flags::ACK,
        };
        // A SYN cookie keeps no state: nothing retransmits it, and the handshake
        // must complete while the cookie is valid.
        let wait = if end.syn_cookie {
            SYN_COOKIE_LIFETIME
        } else {
            rto
        };
        let seg = self.make_segment(c, side, flags, 0, 0);
        self.transmit(seg, retransmit);
        self.arm(c, side, TimerKind::Retransmit, now + wait);
    }

    pub(crate) fn send_ack(&mut self, c: ConnId, side: Side) {
        let Some(conn) = self.conn(c) else { return };
        // Pure ACKs carry the highest sequence number sent, so they never look like a
        // keep-alive probe (which sits below what the peer has received).
        let seq = conn.tx(side).snd_max.max(FIRST_DATA_SEQ);
        let seg = self.make_segment(c, side, Flags::ACK, seq, 0);
        self.transmit(seg, false);
    }

    pub(crate) fn send_rst(&mut self, c: ConnId, side: Side) {
        let Some(conn) = self.conn(c) else { return };
        let seq = conn.tx(side).snd_nxt;
        let seg = self.make_segment(c, side, Flags::RST | Flags::ACK, seq, 0);
        self.transmit(seg, false);
    }

    /// Send whatever the window, Nagle's algorithm and the FIN allow.
    pub(crate) fn output(&mut self, c: ConnId, side: Side) {
        let nagle = self.config.tcp.nagle;
        loop {
            let Some(conn) = self.conn(c) else { return };
            if conn.end(side).phase != Phase::Established {
                return;
            }
            let mss = u64::from(conn.mss);
            let tx = conn.tx(side);
            let nxt = tx.snd_nxt.max(FIRST_DATA_SEQ);
            let write_end = tx.write_end();
            let avail = write_end.saturating_sub(nxt);
            let wnd = tx.wnd_edge.saturating_sub(nxt);
            let retransmitting = nxt < tx.snd_max;
            if avail > 0 && wnd > 0 {
                let len = mss.min(avail).min(wnd);
                let in_flight = tx.snd_max > tx.snd_una;
                let last = len == avail && tx.fin_seq.is_some();
                if nagle && len < mss && in_flight && !retransmitting && !last {
                    break;
                }
                let fin = tx.fin_seq == Some(nxt + len);
                self.send_data(c, side, nxt, len as u32, fin);
                continue;
            }
            if avail == 0 && tx.fin_seq == Some(nxt) {
                self.send_data(c, side, nxt, 0, true);
            }
            break;
        }
        self.arm_retransmit_if_needed(c, side);
    }

    /// A zero-window probe: one byte past the closed window. `snd_nxt` stays put, so
    /// when the receiver drops the byte, sending resumes from the right place once the
    /// window opens; `snd_max` covers it, so an ACK of the byte is still valid.
    fn send_window_probe(&mut self, c: ConnId, side: Side, seq: u64) {
        let Some(conn) = self.conn_mut(c) else { return };
        let tx = conn.tx_mut(side);
        tx.snd_max = tx.snd_max.max(seq + 1);
        let seg = self.make_segment(c, side, Flags::ACK, seq, 1);
        self.transmit(seg, false);
    }

    fn send_data(&mut self, c: ConnId, side: Side, seq: u64, len: u32, fin: bool) {
        let now = self.now;
        let Some(conn) = self.conn_mut(c) else { return };
        let tx = conn.tx_mut(side);
        let retransmit = seq < tx.snd_max;
        let next = seq + u64::from(len) + u64::from(fin);
        tx.snd_nxt = next;
        tx.snd_max = tx.snd_max.max(next);
        let end = conn.end_mut(side);
        if !retransmit && end.rtt_probe.is_none() {
            end.rtt_probe = Some((seq, now));
        }
        let flags = if fin {
            Flags::ACK | Flags::FIN
        } else {
            Flags::ACK
        };
        let seg = self.make_segment(c, side, flags, seq, len);
        self.transmit(seg, retransmit);
    }

    /// Keep the retransmission timer running while anything is unacknowledged, and as
    /// the persist timer while data waits behind a closed window.
    fn arm_retransmit_if_needed(&mut self, c: ConnId, side: Side) {
        let now = self.now;
        let Some(conn) = self.conn(c) else { return };
        let tx = conn.tx(side);
        let end = conn.end(side);
        let waiting = tx.snd_max > tx.snd_una
            || (tx.unsent() > 0 && tx.wnd_edge <= tx.snd_nxt.max(FIRST_DATA_SEQ));
        if waiting && end.deadlines[TimerKind::Retransmit.index()].is_none() {
            let rto = end.rto;
            self.arm(c, side, TimerKind::Retransmit, now + rto);
        }
    }

    /// Shut down the sending direction: a FIN follows the buffered data.
    pub(crate) fn queue_fin(&mut self, c: ConnId, side: Side) {
        let Some(conn) = self.conn_mut(c) else { return };
        if conn.end(side).phase != Phase::Established {
            return;
        }
        let tx = conn.tx_mut(side);
        if tx.fin_seq.is_none() {
            tx.fin_seq = Some(tx.write_end());
        }
        self.output(c, side);
    }

    /// After the application read: advertise a window that grew by a useful amount.
    pub(crate) fn maybe_window_update(&mut self, c: ConnId, side: Side) {
        let Some(conn) = self.conn(c) else { return };
        if conn.end(side).phase != Phase::Established {
            return;
        }
        let rx = conn.rx(side);
        let edge = rx.read_seq + rx.rcv_cap;
        let step = (2 * u64::from(conn.mss)).min(rx.rcv_cap / 2).max(1);
        if !rx.fin_received && edge >= rx.adv_edge + step {
            self.send_ack(c, side);
        }
    }

    // ---- receiving ----

    pub(crate) fn deliver(&mut self, seg: Segment) {
        match self.arrival(Packet::Tcp(seg)) {
            Arrival::Deliver => {}
            Arrival::Held => return,
            Arrival::Drop(reason) => {
                return self.record(TraceEvent::SegmentDropped { seg, reason });
            }
        }
        let side = seg.from.peer();
        let Some(conn) = self.conn(seg.conn) else {
            self.record(TraceEvent::SegmentDropped {
                seg,
                reason: DropReason::NoConnection,
            });
            return;
        };
        let phase = conn.end(side).phase;
        self.record(TraceEvent::SegmentDelivered { seg });
        match phase {
            Phase::Idle => self.on_syn_at_listener(seg),
            Phase::Closed => {
                if !seg.flags.contains(Flags::RST) {
                    self.send_rst(seg.conn, side);
                }
            }
            Phase::SynSent => self.on_segment_syn_sent(seg),
            Phase::SynReceived => self.on_segment_syn_received(seg),
            Phase::Established => self.on_segment_established(seg),
        }
    }

    /// A SYN at a listening port. As Linux: a full accept queue drops it (or refuses
    /// it); a full SYN queue answers with a SYN cookie, keeping no half-open entry
    /// and no SYN-ACK timer; otherwise the connection joins the SYN queue.
    fn on_syn_at_listener(&mut self, seg: Segment) {
        let c = seg.conn;
        if !seg.flags.contains(Flags::SYN) || seg.flags.contains(Flags::ACK) {
            return;
        }
        let Some(conn) = self.conn(c) else { return };
        let (host, addr) = (conn.hosts[1], conn.addrs[1]);
        let listener = self.hosts[host.index()].listener_for(addr);
        let Some(l) = listener else {
            return self.send_rst(c, Side::Server);
        };
        let Ok(lsock) = self.socket(l) else { return };
        let Some(ListenQueue { ready, half_open }) = lsock.listen_queue() else {
            return;
        };
        let backlog = u64::from(lsock.backlog);
        if ready.len() as u64 > backlog {
            return self.overflow(seg, Side::Server);
        }
        let syn_queue_full = half_open.len() as u64 > backlog;
        let tcp = &self.config.tcp;
        let cookie = syn_queue_full && tcp.syn_cookies;
        let max_syn = u64::from(tcp.max_syn_backlog);
        let syn_queue_pressed =
            !tcp.syn_cookies && max_syn.saturating_sub(half_open.len() as u64) < max_syn / 4;
        if (syn_queue_full && !cookie) || syn_queue_pressed {
            return self.record(TraceEvent::SegmentDropped {
                seg,
                reason: DropReason::BacklogFull,
            });
        }
        let (send_buffer, receive_buffer) =
            (lsock.options.send_buffer, lsock.options.receive_buffer);
        if !cookie && let Some(queue) = self.listen_queue_mut(l) {
            queue.half_open.push(c);
        }
        let now = self.now;
        let buffers = self.config.tcp.buffer_defaults();
        let Some(conn) = self.conn_mut(c) else { return };
        let end = conn.end_mut(Side::Server);
        end.phase = Phase::SynReceived;
        end.listener = Some(l);
        end.syn_cookie = cookie;
        end.last_recv = now;
        let tx = conn.tx_mut(Side::Server);
        tx.size_send_buffer(send_buffer, buffers);
        tx.wnd_edge = FIRST_DATA_SEQ + u64::from(seg.window);
        conn.rx_mut(Side::Server)
            .size_receive_buffer(receive_buffer, buffers, now);
        self.send_syn(c, Side::Server, false);
    }

    /// The listener's accept queue is full: drop the segment, or refuse with RST.
    fn overflow(&mut self, seg: Segment, side: Side) {
        match self.config.tcp.backlog_overflow {
            BacklogOverflow::Refuse => {
                self.send_rst(seg.conn, side);
                if self
                    .conn(seg.conn)
                    .is_some_and(|conn| conn.end(side).phase == Phase::SynReceived)
                {
                    self.close_phase(seg.conn, side, None, false);
                }
            }
            BacklogOverflow::Drop => self.record(TraceEvent::SegmentDropped {
                seg,
                reason: DropReason::BacklogFull,
            }),
        }
    }

    fn on_segment_syn_sent(&mut self, seg: Segment) {
        let c = seg.conn;
        let acceptable = seg.flags.contains(Flags::ACK) && seg.ack == FIRST_DATA_SEQ;
        if seg.flags.contains(Flags::RST) {
            if acceptable {
                self.close_phase(c, Side::Client, Some(ErrorCode::ConnectionRefused), true);
            }
            return;
        }
        if !(seg.flags.contains(Flags::SYN) && acceptable) {
            return;
        }
        self.complete_handshake(c, Side::Client, seg);
        self.send_ack(c, Side::Client);
    }

    fn on_segment_syn_received(&mut self, seg: Segment) {
        let c = seg.conn;
        if seg.flags.contains(Flags::RST) {
            return self.close_phase(c, Side::Server, Some(ErrorCode::ConnectionReset), false);
        }
        if seg.flags.contains(Flags::SYN) {
            // Our SYN-ACK was lost: the client retransmitted its SYN.
            return self.send_syn(c, Side::Server, true);
        }
        if !seg.flags.contains(Flags::ACK) || seg.ack < FIRST_DATA_SEQ {
            return;
        }
        let Some(l) = self
            .conn(c)
            .and_then(|conn| conn.end(Side::Server).listener)
        else {
            return;
        };
        // The listener may have closed since (a SYN cookie outlives it): no socket
        // takes the connection, so it is reset.
        let queue = self.socket(l).ok().and_then(|lsock| {
            let ready = lsock.listen_queue()?.ready.len() as u64;
            Some(ready > u64::from(lsock.backlog))
        });
        match queue {
            None => {
                self.send_rst(c, Side::Server);
                return self.close_phase(c, Side::Server, None, false);
            }
            Some(true) => return self.overflow(seg, Side::Server),
            Some(false) => {}
        }
        self.complete_handshake(c, Side::Server, seg);
        if let Some(queue) = self.listen_queue_mut(l) {
            queue.half_open.retain(|&x| x != c);
            queue.ready.push_back(c);
            self.wake(l);
        }
        self.on_segment_established(seg);
    }

    fn complete_handshake(&mut self, c: ConnId, side: Side, seg: Segment) {
        let now = self.now;
        let Some(conn) = self.conn_mut(c) else { return };
        let mss = conn.mss;
        let tx = conn.tx_mut(side);
        tx.on_ack(seg.ack, u64::from(seg.window));
        if let Some(tuning) = tx.snd_tuning {
            tx.snd_cap = tuning.established(tx.snd_cap, mss);
        }
        let end = conn.end_mut(side);
        end.phase = Phase::Established;
        end.retries = 0;
        end.last_recv = now;
        end.deadlines[TimerKind::Retransmit.index()] = None;
        self.rtt_sample(c, side, seg.ack);
        self.record(TraceEvent::Established { conn: c, side });
        self.wake_end(c, side);
    }

    fn on_segment_established(&mut self, seg: Segment) {
        let (c, side) = (seg.conn, seg.from.peer());
        let now = self.now;
        if seg.flags.contains(Flags::RST) {
            let Some(conn) = self.conn(c) else { return };
            // After the peer's FIN, Linux reports EPIPE (a closed stream), not a reset.
            let report = !conn.rx(side).fin_received;
            return self.close_phase(c, side, Some(ErrorCode::ConnectionReset), report);
        }
        if seg.flags.contains(Flags::SYN) {
            // A retransmitted SYN-ACK: our ACK of it was lost.
            return self.send_ack(c, side);
        }
        let Some(conn) = self.conn_mut(c) else { return };
        let end = conn.end_mut(side);
        end.last_recv = now;
        end.keep_alive_probes = 0;
        if seg.flags.contains(Flags::ACK) {
            self.on_ack(c, side, seg);
        }
        let fin = seg.flags.contains(Flags::FIN);
        let Some(conn) = self.conn_mut(c) else { return };
        if seg.len > 0 || fin {
            if seg.len > 0 && conn.end(side).orphaned {
                // Data for a socket that was closed: Linux answers with RST.
                return self.abort(c, side);
            }
            let rx = conn.rx_mut(side);
            if seg.seq > rx.rcv_nxt {
                self.record(TraceEvent::SegmentDropped {
                    seg,
                    reason: DropReason::OutOfOrder,
                });
                return self.send_ack(c, side);
            }
            let before = rx.rcv_nxt;
            let len = u64::from(seg.len);
            let covered = rx.receive(seg.seq, len);
            let mut immediate = covered < len || seg.seq + len <= before;
            if fin && covered == len && !rx.fin_received {
                rx.fin_received = true;
                immediate = true;
            }
            let end = conn.end_mut(side);
            if immediate || end.unacked_segs + 1 >= 2 {
                self.send_ack(c, side);
            } else {
                end.unacked_segs += 1;
                if end.deadlines[TimerKind::DelayedAck.index()].is_none() {
                    let at = now + self.config.tcp.delayed_ack;
                    self.arm(c, side, TimerKind::DelayedAck, at);
                }
            }
        } else if seg.seq < conn.rx(side).rcv_nxt {
            // A keep-alive probe (it sits below what we have received): answer it.
            self.send_ack(c, side);
        }
        self.output(c, side);
        self.wake_end(c, side);
        self.check_orphan(c, side);
    }

    fn on_ack(&mut self, c: ConnId, side: Side, seg: Segment) {
        let now = self.now;
        let Some(conn) = self.conn_mut(c) else { return };
        let mss = conn.mss;
        let tx = conn.tx_mut(side);
        let una_before = tx.snd_una.max(FIRST_DATA_SEQ);
        let in_flight = tx.snd_max.saturating_sub(una_before);
        let advanced = tx.on_ack(seg.ack, u64::from(seg.window));
        if advanced && let Some(tuning) = tx.snd_tuning {
            let acked = tx.snd_una.saturating_sub(una_before);
            let peer_window = tx.wnd_edge.saturating_sub(tx.snd_una);
            tx.snd_cap = tuning.after_ack(tx.snd_cap, in_flight, acked, mss, peer_window);
        }
        let (all_acked, window_closed) = (
            tx.snd_una >= tx.snd_max,
            tx.wnd_edge <= tx.snd_una && tx.unsent() > 0,
        );
        let end = conn.end_mut(side);
        if window_closed {
            // The peer answers our zero-window probes: it is alive, keep probing.
            end.retries = 0;
        }
        if !advanced {
            return;
        }
        end.retries = 0;
        let rto = end.rto;
        self.rtt_sample(c, side, seg.ack);
        if all_acked {
            self.disarm(c, side, TimerKind::Retransmit);
        } else {
            self.arm(c, side, TimerKind::Retransmit, now + rto);
        }
    }

    /// RFC 6298 RTT estimation, from the timed segment if this ACK covers it.
    fn rtt_sample(&mut self, c: ConnId, side: Side, ack: u64) {
        let now = self.now;
        let (min, max) = (self.config.tcp.rto_min, self.config.tcp.rto_max);
        let Some(conn) = self.conn_mut(c) else { return };
        let end = conn.end_mut(side);
        let Some((seq, sent)) = end.rtt_probe else {
            return;
        };
        if ack <= seq {
            return;
        }
        end.rtt_probe = None;
        // Integer nanoseconds: Duration arithmetic is needlessly slow on this path.
        let r = now.as_nanos().saturating_sub(sent.as_nanos());
        let (srtt, rttvar) = match end.srtt {
            None => (r, r / 2),
            Some(srtt) => {
                let srtt = srtt.as_nanos() as u64;
                let rttvar = end.rttvar.as_nanos() as u64;
                (
                    srtt - srtt / 8 + r / 8,
                    rttvar - rttvar / 4 + srtt.abs_diff(r) / 4,
                )
            }
        };
        end.srtt = Some(Duration::from_nanos(srtt));
        end.rttvar = Duration::from_nanos(rttvar);
        let rto = srtt + (4 * rttvar).max(1_000_000);
        end.rto = Duration::from_nanos(rto).clamp(min, max);
    }

    /// A closed socket's end finishes once its FIN is acknowledged and the peer's FIN
    /// arrived, or after the FIN-wait timeout.
    pub(crate) fn check_orphan(&mut self, c: ConnId, side: Side) {
        let now = self.now;
        let fin_timeout = self.config.tcp.fin_timeout;
        let Some(conn) = self.conn(c) else { return };
        let end = conn.end(side);
        if !end.orphaned || end.phase != Phase::Established || !conn.tx(side).fin_acked() {
            return;
        }
        if conn.rx(side).fin_received {
            self.close_phase(c, side, None, false);
        } else if end.deadlines[TimerKind::FinWait.index()].is_none() {
            self.arm(c, side, TimerKind::FinWait, now + fin_timeout);
        }
    }

    /// Move an end to `Closed`. `failure` is traced; `report` makes the application's
    /// next stream call (or finish-connect) return it.
    pub(crate) fn close_phase(
        &mut self,
        c: ConnId,
        side: Side,
        failure: Option<ErrorCode>,
        report: bool,
    ) {
        let Some(conn) = self.conn_mut(c) else { return };
        let end = conn.end_mut(side);
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
            self.record(TraceEvent::ConnectionFailed {
                conn: c,
                side,
                error,
            });
        }
        self.wake_end(c, side);
        if let Some(l) = half_open_listener
            && let Some(queue) = self.listen_queue_mut(l)
        {
            queue.half_open.retain(|&x| x != c);
        }
        self.maybe_free(c);
    }

    /// Free a connection once neither end is used any more.
    pub(crate) fn maybe_free(&mut self, c: ConnId) {
        let Some(conn) = self.conn(c) else { return };
        if !conn.ends.iter().all(|e| e.is_gone()) {
            return;
        }
        let Some(conn) = self.conns[c.index()].take() else {
            return;
        };
        for i in 0..2 {
            if conn.ends[i].holds_port {
                let family = crate::socket::Family::of(&conn.addrs[i]);
                self.hosts[conn.hosts[i].index()].release_port(family, conn.addrs[i].port());
            }
        }
        self.record(TraceEvent::ConnectionFreed { conn: c });
    }

    // ---- timers ----

    /// Arm (or move) a timer. At most one queue entry per timer is kept at or before
    /// its deadline, so re-arming on every ACK costs no queue operation.
    pub(crate) fn arm(&mut self, c: ConnId, side: Side, kind: TimerKind, at: SimTime) {
        let Some(conn) = self.conn_mut(c) else { return };
        let end = conn.end_mut(side);
        let k = kind.index();
        end.deadlines[k] = Some(at);
        if end.scheduled[k].is_none_or(|s| s > at) {
            end.scheduled[k] = Some(at);
            self.queue.push(
                at,
                Event::Timer {
                    conn: c,
                    side,
                    kind,
                },
            );
        }
    }

    pub(crate) fn disarm(&mut self, c: ConnId, side: Side, kind: TimerKind) {
        if let Some(conn) = self.conn_mut(c) {
            conn.end_mut(side).deadlines[kind.index()] = None;
        }
    }

    pub(crate) fn on_timer(&mut self, c: ConnId, side: Side, kind: TimerKind, time: SimTime) {
        let Some(conn) = self.conn_mut(c) else { return };
        let end = conn.end_mut(side);
        let k = kind.index();
        if end.scheduled[k] == Some(time) {
            end.scheduled[k] = None;
        }
        match end.deadlines[k] {
            None => {}
            Some(d) if d > time => {
                if end.scheduled[k].is_none_or(|s| s > d) {
                    end.scheduled[k] = Some(d);
                    self.queue.push(
                        d,
                        Event::Timer {
                            conn: c,
                            side,
                            kind,
                        },
                    );
                }
            }
            Some(_) => {
                end.deadlines[k] = None;
                self.record(TraceEvent::TimerFired {
                    conn: c,
                    side,
                    kind,
                });
                self.fire(c, side, kind);
            }
        }
    }

    fn fire(&mut self, c: ConnId, side: Side, kind: TimerKind) {
        match kind {
            TimerKind::Retransmit => self.on_retransmit_timeout(c, side),
            TimerKind::DelayedAck => {
                let pending = self.conn(c).is_some_and(|conn| {
                    conn.end(side).phase == Phase::Established && conn.end(side).unacked_segs > 0
                });
                if pending {
                    self.send_ack(c, side);
                }
            }
            TimerKind::KeepAlive => self.on_keep_alive(c, side),
            TimerKind::FinWait => self.close_phase(c, side, None, false),
            TimerKind::Unreachable => {
                self.close_phase(c, side, Some(ErrorCode::RemoteUnreachable), true)
            }
        }
    }

    fn backoff(&mut self, c: ConnId, side: Side) -> u32 {
        let max = self.config.tcp.rto_max;
        let Some(conn) = self.conn_mut(c) else {
            return u32::MAX;
        };
        let end = conn.end_mut(side);
        end.retries += 1;
        end.rto = (end.rto * 2).min(max);
        end.rtt_probe = None;
        end.retries
    }

    fn on_retransmit_timeout(&mut self, c: ConnId, side: Side) {
        let Some(conn) = self.conn(c) else { return };
        let phase = conn.end(side).phase;
        let tcp = &self.config.tcp;
        let (syn_retries, synack_retries, data_retries) =
            (tcp.syn_retries, tcp.synack_retries, tcp.data_retries);
        match phase {
            Phase::SynReceived if conn.end(side).syn_cookie => {
                // The cookie expired: Linux holds nothing for it, so nothing is sent.
                self.close_phase(c, side, None, false)
            }
            Phase::SynSent | Phase::SynReceived => {
                let retries = if phase == Phase::SynSent {
                    syn_retries
                } else {
                    synack_retries
                };
                if self.backoff(c, side) > retries {
                    let report = phase == Phase::SynSent;
                    return self.close_phase(c, side, Some(ErrorCode::Timeout), report);
                }
                self.send_syn(c, side, true);
            }
            Phase::Established => {
                let tx = conn.tx(side);
                let window_closed = tx.wnd_edge <= tx.snd_una.max(FIRST_DATA_SEQ);
                let pending = tx.snd_max > tx.snd_una || tx.unsent() > 0;
                if !pending {
                    return;
                }
                if self.backoff(c, side) > data_retries {
                    return self.close_phase(c, side, Some(ErrorCode::Timeout), true);
                }
                let Some(conn) = self.conn_mut(c) else { return };
                let tx = conn.tx_mut(side);
                tx.snd_nxt = tx.snd_una.max(FIRST_DATA_SEQ);
                let (nxt, has_data) = (tx.snd_nxt, tx.write_end() > tx.snd_nxt);
                if window_closed && has_data {
                    self.send_window_probe(c, side, nxt);
                } else {
                    self.output(c, side);
                }
                self.arm_retransmit_if_needed(c, side);
            }
            Phase::Idle | Phase::Closed => {}
        }
    }

    fn on_keep_alive(&mut self, c: ConnId, side: Side) {
        let now = self.now;
        let Some((idle, interval, count)) = self.keep_alive_settings(c, side) else {
            return;
        };
        let Some(conn) = self.conn(c) else { return };
        let end = conn.end(side);
        if end.phase != Phase::Established {
            return;
        }
        let tx = conn.tx(side);
        if tx.snd_max > tx.snd_una {
            // Data in flight: the retransmission timer watches the peer instead.
            return self.arm(c, side, TimerKind::KeepAlive, now + idle);
        }
        let silent = now.since(end.last_recv);
        if end.keep_alive_probes == 0 && silent < idle {
            return self.arm(c, side, TimerKind::KeepAlive, end.last_recv + idle);
        }
        if end.keep_alive_probes >= count {
            self.send_rst(c, side);
            return self.close_phase(c, side, Some(ErrorCode::Timeout), true);
        }
        let seq = tx.snd_una.max(FIRST_DATA_SEQ) - 1;
        if let Some(conn) = self.conn_mut(c) {
            conn.end_mut(side).keep_alive_probes += 1;
        }
        let seg = self.make_segment(c, side, Flags::ACK, seq, 0);
        self.transmit(seg, false);
        self.arm(c, side, TimerKind::KeepAlive, now + interval);
    }
}
