//! TCP in the world: segments onto links and into the capture, arrivals handed to
//! their connection (or to a listener), queued timer events, and the effects a
//! connection answers with applied in order. The protocol itself is
//! `tcp_machine/`.

use crate::capture::{Capture, CapturedPacket, Fate, Transport};
use crate::conn::{Conn, Phase};
use crate::error::ErrorCode;
use crate::ids::{ConnId, SocketId};
use crate::link::{LinkState, Transit};
use crate::net::{Net, mark_woken, record_to};
use crate::packet::Packet;
use crate::pipe::Pipe;
use crate::queue::{Event, EventQueue, TimerKind};
use crate::segment::{Flags, Segment, Side, TCP_HEADER_BYTES};
use crate::socket::{ListenQueue, Socket};
use crate::tcp_machine::{Ctx, Effects, KeepAlive, ListenerRoom};
use crate::time::SimTime;
use crate::trace::{DropReason, Trace, TraceEvent};

/// The parts of the world a connection's effects reach, borrowed beside the
/// connection while it handles an input.
struct WorldParts<'a> {
    now: SimTime,
    queue: &'a mut EventQueue,
    links: &'a mut [LinkState],
    trace: &'a mut Trace,
    capture: &'a mut Option<Capture>,
    sockets: &'a mut [Option<Socket>],
    woken: &'a mut Vec<SocketId>,
    scheduled_now: &'a mut bool,
    /// An end closed: the connection may be freed once the input is handled.
    closed: bool,
}

impl Effects for WorldParts<'_> {
    fn transmit(&mut self, conn: &mut Conn, seg: Segment, retransmit: bool) {
        self.record(TraceEvent::SegmentSent { seg, retransmit });
        let from = seg.from.index();
        if let Some(capture) = self.capture {
            capture.sent(CapturedPacket {
                time: self.now,
                src: conn.addrs[from],
                dst: conn.addrs[1 - from],
                transport: Transport::Tcp { seg, retransmit },
                payload: conn.pipes[from].bytes(seg.seq, u64::from(seg.len)).into(),
                fate: Fate::InFlight,
            });
        }
        let wire_bytes = u64::from(seg.len) + TCP_HEADER_BYTES;
        match self.links[conn.links[from]].transmit(self.now, wire_bytes) {
            Transit::Lost => self.record(TraceEvent::SegmentLost { seg }),
            Transit::Arrives(at) => {
                let at = at.max(conn.last_arrival[from]);
                conn.last_arrival[from] = at;
                *self.scheduled_now |= at <= self.now;
                self.queue.push(at, Event::Deliver(Packet::Tcp(seg)));
            }
        }
    }

    fn schedule(&mut self, conn: ConnId, side: Side, kind: TimerKind, at: SimTime) {
        self.queue.push(at, Event::Timer { conn, side, kind });
    }

    fn wake(&mut self, socket: SocketId) {
        if let Some(Some(sock)) = self.sockets.get_mut(socket.index()) {
            mark_woken(&mut sock.woken, self.woken, socket);
        }
    }

    fn record(&mut self, event: TraceEvent) {
        record_to(self.trace, self.capture, self.now, event);
    }

    fn queued(&mut self, listener: SocketId, conn: ConnId) {
        let Some(Some(lsock)) = self.sockets.get_mut(listener.index()) else {
            return;
        };
        if let Some(queue) = lsock.listen_queue_mut() {
            queue.half_open.retain(|&x| x != conn);
            queue.ready.push_back(conn);
            mark_woken(&mut lsock.woken, self.woken, listener);
        }
    }

    fn unqueued(&mut self, listener: SocketId, conn: ConnId) {
        if let Some(Some(lsock)) = self.sockets.get_mut(listener.index())
            && let Some(queue) = lsock.listen_queue_mut()
        {
            queue.half_open.retain(|&x| x != conn);
        }
    }

    fn closed(&mut self) {
        self.closed = true;
    }
}

impl Net {
    /// Let connection `c` handle an input, its effects applied as they come, then free
    /// it if neither end is used any more. Returns `None` if the connection is gone.
    fn drive<R>(
        &mut self,
        c: ConnId,
        input: impl for<'a, 'w> FnOnce(&mut Conn, &mut Ctx<'a, WorldParts<'w>>) -> R,
    ) -> Option<R> {
        let conn = self.conns.get_mut(c.index())?.as_mut()?;
        let mut world = WorldParts {
            now: self.now,
            queue: &mut self.queue,
            links: &mut self.links,
            trace: &mut self.trace,
            capture: &mut self.capture,
            sockets: &mut self.sockets,
            woken: &mut self.woken,
            scheduled_now: &mut self.scheduled_now,
            closed: false,
        };
        let mut ctx = Ctx {
            now: self.now,
            cfg: &self.config.tcp,
            fx: &mut world,
        };
        let result = input(conn, &mut ctx);
        if world.closed {
            self.maybe_free(c);
        }
        Some(result)
    }

    // ---- receiving ----

    /// A segment reached its host (faults have had their say).
    pub(crate) fn segment_arrived(&mut self, seg: Segment) {
        let Some(conn) = self.conn(seg.conn) else {
            self.record(TraceEvent::SegmentDropped {
                seg,
                reason: DropReason::NoConnection,
            });
            return;
        };
        let end = conn.end(conn.receiver(seg.from));
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

    /// The application on `side` writes what `put` adds to the send buffer.
    pub(crate) fn application_write(
        &mut self,
        c: ConnId,
        side: Side,
        put: impl FnOnce(&mut Pipe) -> usize,
    ) -> usize {
        self.drive(c, |conn, ctx| conn.on_write(ctx, side, put))
            .unwrap_or(0)
    }

    /// The application on `side` reads what `take` takes from the receive buffer.
    pub(crate) fn application_read(
        &mut self,
        c: ConnId,
        side: Side,
        take: impl FnOnce(&mut Pipe) -> usize,
    ) -> usize {
        self.drive(c, |conn, ctx| conn.on_read(ctx, side, take))
            .unwrap_or(0)
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
        self.drive(c, |conn, ctx| conn.linger(ctx, side));
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
