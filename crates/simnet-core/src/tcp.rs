//! TCP in the world: segments onto links and into the capture, arrivals handed to
//! their connection (or to a listener), queued timer events, and the effects a
//! connection answers with applied in order. The protocol itself is
//! `tcp_machine.rs`.

use crate::capture::{CapturedPacket, Fate, Transport};
use crate::conn::{Conn, Phase};
use crate::error::ErrorCode;
use crate::ids::ConnId;
use crate::injection::Arrival;
use crate::link::Transit;
use crate::net::Net;
use crate::packet::Packet;
use crate::queue::{Event, TimerKind};
use crate::segment::{Flags, Segment, Side, TCP_HEADER_BYTES};
use crate::socket::ListenQueue;
use crate::tcp_machine::{Ctx, KeepAlive, ListenerRoom, TcpEffect};
use crate::time::SimTime;
use crate::trace::{DropReason, TraceEvent};

impl Net {
    /// Let connection `c` handle an input, then apply the effects it lists. Returns
    /// `None` if the connection is gone.
    pub(crate) fn drive<R>(
        &mut self,
        c: ConnId,
        input: impl FnOnce(&mut Conn, &mut Ctx) -> R,
    ) -> Option<R> {
        let mut fx = std::mem::take(&mut self.tcp_effects);
        let conn = self.conns.get_mut(c.index())?.as_mut()?;
        let mut ctx = Ctx {
            now: self.now,
            cfg: &self.config.tcp,
            fx: &mut fx,
        };
        let result = input(conn, &mut ctx);
        for effect in fx.drain(..) {
            self.apply(c, effect);
        }
        self.tcp_effects = fx;
        Some(result)
    }

    fn apply(&mut self, c: ConnId, effect: TcpEffect) {
        match effect {
            TcpEffect::Transmit { seg, retransmit } => self.transmit(seg, retransmit),
            TcpEffect::Schedule { side, kind, at } => {
                self.queue.push(
                    at,
                    Event::Timer {
                        conn: c,
                        side,
                        kind,
                    },
                );
            }
            TcpEffect::Wake(side) => self.wake_end(c, side),
            TcpEffect::Record(event) => self.record(event),
            TcpEffect::Queued { listener } => {
                if let Some(queue) = self.listen_queue_mut(listener) {
                    queue.half_open.retain(|&x| x != c);
                    queue.ready.push_back(c);
                    self.wake(listener);
                }
            }
            TcpEffect::Unqueued { listener } => {
                if let Some(queue) = self.listen_queue_mut(listener) {
                    queue.half_open.retain(|&x| x != c);
                }
            }
            TcpEffect::Closed => self.maybe_free(c),
        }
    }

    // ---- sending ----

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

    /// Put a segment on its connection's link.
    fn transmit(&mut self, seg: Segment, retransmit: bool) {
        self.record(TraceEvent::SegmentSent { seg, retransmit });
        if self.capture.is_some() {
            self.capture_segment(seg, retransmit);
        }
        let now = self.now;
        let Some(conn) = self.conn(seg.conn) else {
            return;
        };
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
        let end = conn.end(side);
        let (phase, listener) = (end.phase, end.listener);
        self.record(TraceEvent::SegmentDelivered { seg });
        if phase == Phase::Idle {
            return self.on_syn_at_listener(seg);
        }
        let room = match listener.map(|l| self.socket(l)) {
            Some(Ok(lsock)) => match lsock.listen_queue() {
                Some(queue) if queue.ready.len() as u64 > u64::from(lsock.backlog) => {
                    ListenerRoom::Full
                }
                Some(_) => ListenerRoom::Room,
                None => ListenerRoom::Gone,
            },
            _ => ListenerRoom::Gone,
        };
        self.drive(seg.conn, |conn, ctx| conn.on_segment(ctx, seg, room));
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
            self.drive(c, |conn, ctx| conn.send_rst(ctx, Side::Server));
            return;
        };
        let Ok(lsock) = self.socket(l) else { return };
        let Some(ListenQueue { ready, half_open }) = lsock.listen_queue() else {
            return;
        };
        let backlog = u64::from(lsock.backlog);
        if ready.len() as u64 > backlog {
            self.drive(c, |conn, ctx| conn.overflow(ctx, seg, Side::Server));
            return;
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
        let buffers = (lsock.options.send_buffer, lsock.options.receive_buffer);
        if !cookie && let Some(queue) = self.listen_queue_mut(l) {
            queue.half_open.push(c);
        }
        self.drive(c, |conn, ctx| {
            conn.on_syn_taken(ctx, seg, l, cookie, buffers)
        });
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

    pub(crate) fn on_timer(&mut self, c: ConnId, side: Side, kind: TimerKind, time: SimTime) {
        let keep_alive = match kind {
            TimerKind::KeepAlive => self.keep_alive(c, side),
            _ => None,
        };
        self.drive(c, |conn, ctx| {
            conn.on_timer(ctx, side, kind, time, keep_alive)
        });
    }

    /// The keep-alive settings of the socket on this end, if it enabled keep-alive.
    fn keep_alive(&self, c: ConnId, side: Side) -> Option<KeepAlive> {
        let socket = self.conn(c)?.end(side).socket?;
        let o = &self.socket(socket).ok()?.options;
        o.keep_alive_enabled.then_some(KeepAlive {
            idle: o.keep_alive_idle_time,
            interval: o.keep_alive_interval,
            count: o.keep_alive_count,
        })
    }

    /// Start the end's keep-alive timer, if its socket enabled keep-alive.
    pub(crate) fn arm_keep_alive(&mut self, c: ConnId, side: Side) {
        let Some(keep_alive) = self.keep_alive(c, side) else {
            return;
        };
        self.drive(c, |conn, ctx| conn.arm_keep_alive(ctx, side, keep_alive));
    }

    // ---- the application's and the faults' inputs ----

    /// Send what the window allows (after a write).
    pub(crate) fn output(&mut self, c: ConnId, side: Side) {
        self.drive(c, |conn, ctx| conn.output(ctx, side));
    }

    /// Shut down the sending direction: a FIN follows the buffered data.
    pub(crate) fn queue_fin(&mut self, c: ConnId, side: Side) {
        self.drive(c, |conn, ctx| conn.queue_fin(ctx, side));
    }

    /// After the application read: advertise a window that grew by a useful amount.
    pub(crate) fn maybe_window_update(&mut self, c: ConnId, side: Side) {
        self.drive(c, |conn, ctx| conn.maybe_window_update(ctx, side));
    }

    /// The socket closed gracefully: send the FIN after the buffered data, and let
    /// the end linger until it is done.
    pub(crate) fn linger(&mut self, c: ConnId, side: Side) {
        self.drive(c, |conn, ctx| {
            let end = conn.end_mut(side);
            end.orphaned = true;
            end.holds_port = true;
            end.error = None;
            conn.queue_fin(ctx, side);
            conn.check_orphan(ctx, side);
        });
    }

    /// Send the client's SYN, or drop it when nothing routes it.
    pub(crate) fn send_first_syn(&mut self, c: ConnId, routable: bool) {
        self.drive(c, |conn, ctx| {
            if routable {
                conn.send_syn(ctx, Side::Client, false);
            } else {
                conn.send_unroutable_syn(ctx);
            }
        });
    }

    /// Drop this end now: RST to the peer if the handshake got far enough.
    pub(crate) fn abort(&mut self, c: ConnId, side: Side) {
        self.drive(c, |conn, ctx| conn.abort(ctx, side));
    }

    /// The end goes without a word (its host lost power).
    pub(crate) fn vanish(&mut self, c: ConnId, side: Side) {
        self.drive(c, |conn, ctx| conn.close_phase(ctx, side, None, false));
    }

    /// Fail the end with `code`, as the network would have.
    pub(crate) fn fail_end(&mut self, c: ConnId, side: Side, code: ErrorCode) {
        self.drive(c, |conn, ctx| conn.fail(ctx, side, code));
    }

    /// Reset the connection from outside: both ends fail, nothing is sent.
    pub(crate) fn reset_ends(&mut self, c: ConnId) {
        self.drive(c, |conn, ctx| conn.reset(ctx));
    }
}
