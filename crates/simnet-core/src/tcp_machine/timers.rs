//! A connection's timers: arming, firing, retransmission back-off and keep-alive probes.

use crate::conn::{Conn, Phase};
use crate::error::ErrorCode;
use crate::pipe::FIRST_DATA_SEQ;
use crate::queue::TimerKind;
use crate::segment::{Flags, Side};
use crate::time::SimTime;
use crate::trace::TraceEvent;

use super::{Ctx, Effects, KeepAlive};

impl Conn {
    /// Arm (or move) a timer. At most one queue entry per timer is kept at or before
    /// its deadline, so re-arming on every ACK costs no queue operation.
    pub(crate) fn arm(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        side: Side,
        kind: TimerKind,
        at: SimTime,
    ) {
        self.end_mut(side).deadlines[kind.index()] = Some(at);
        self.schedule(ctx, side, kind, at);
    }

    /// Queue an event for the timer at `at`, unless one is queued at or before it.
    fn schedule(&mut self, ctx: &mut Ctx<impl Effects>, side: Side, kind: TimerKind, at: SimTime) {
        let scheduled = &mut self.end_mut(side).scheduled[kind.index()];
        if scheduled.is_none_or(|s| s > at) {
            *scheduled = Some(at);
            ctx.fx.schedule(self.id, side, kind, at);
        }
    }

    pub(super) fn disarm(&mut self, side: Side, kind: TimerKind) {
        self.end_mut(side).deadlines[kind.index()] = None;
    }

    /// The keep-alive timer, from the end's last activity.
    pub(crate) fn arm_keep_alive(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        side: Side,
        keep_alive: KeepAlive,
    ) {
        let end = self.end(side);
        if end.phase != Phase::Established {
            return;
        }
        let at = (end.last_recv + keep_alive.idle).max(ctx.now);
        self.arm(ctx, side, TimerKind::KeepAlive, at);
    }

    /// A queued timer event for this end came due at `time`: it fires if its deadline
    /// has come, and is queued again if the deadline moved later.
    pub(crate) fn on_timer(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        side: Side,
        kind: TimerKind,
        time: SimTime,
        keep_alive: Option<KeepAlive>,
    ) {
        let end = self.end_mut(side);
        let k = kind.index();
        if end.scheduled[k] == Some(time) {
            end.scheduled[k] = None;
        }
        match end.deadlines[k] {
            None => {}
            // The deadline moved later since this event was queued.
            Some(d) if d > time => self.schedule(ctx, side, kind, d),
            Some(_) => {
                end.deadlines[k] = None;
                ctx.record(TraceEvent::TimerFired {
                    conn: self.id,
                    side,
                    kind,
                });
                self.fire(ctx, side, kind, keep_alive);
            }
        }
    }

    fn fire(
        &mut self,
        ctx: &mut Ctx<impl Effects>,
        side: Side,
        kind: TimerKind,
        keep_alive: Option<KeepAlive>,
    ) {
        match kind {
            TimerKind::Retransmit => self.on_retransmit_timeout(ctx, side),
            TimerKind::DelayedAck => {
                let end = self.end_mut(side);
                if end.phase == Phase::Established && end.unacked_segs > 0 {
                    end.ack.on_delayed_ack_timeout();
                    self.send_ack(ctx, side);
                }
            }
            TimerKind::KeepAlive => {
                if let Some(keep_alive) = keep_alive {
                    self.on_keep_alive(ctx, side, keep_alive);
                }
            }
            TimerKind::FinWait => self.close_phase(ctx, side, None, false),
            TimerKind::Unreachable => {
                let unreachable = Some(ErrorCode::RemoteUnreachable);
                self.close_phase(ctx, side, unreachable, true)
            }
        }
    }

    fn backoff(&mut self, ctx: &Ctx<impl Effects>, side: Side) -> u32 {
        let end = self.end_mut(side);
        end.retries += 1;
        end.rto = (end.rto * 2).min(ctx.cfg.rto_max);
        end.rtt_probe = None;
        end.retries
    }

    fn on_retransmit_timeout(&mut self, ctx: &mut Ctx<impl Effects>, side: Side) {
        let phase = self.end(side).phase;
        let cfg = ctx.cfg;
        match phase {
            Phase::SynReceived if self.end(side).syn_cookie => {
                // The cookie expired: Linux holds nothing for it, so nothing is sent.
                self.close_phase(ctx, side, None, false)
            }
            Phase::SynSent | Phase::SynReceived => {
                let retries = if phase == Phase::SynSent {
                    cfg.syn_retries
                } else {
                    cfg.synack_retries
                };
                if self.backoff(ctx, side) > retries {
                    // A connect hears of it; a listener's half-open end goes quietly.
                    let report = side == Side::Client;
                    return self.close_phase(ctx, side, Some(ErrorCode::Timeout), report);
                }
                self.send_syn(ctx, side, true);
            }
            Phase::Established => {
                let tx = self.tx(side);
                let window_closed = tx.wnd_edge <= tx.snd_una.max(FIRST_DATA_SEQ);
                let pending = tx.snd_max > tx.snd_una || tx.unsent() > 0;
                if !pending {
                    return;
                }
                if self.backoff(ctx, side) > cfg.data_retries {
                    return self.close_phase(ctx, side, Some(ErrorCode::Timeout), true);
                }
                let tx = self.tx_mut(side);
                tx.snd_nxt = tx.snd_una.max(FIRST_DATA_SEQ);
                let (nxt, has_data) = (tx.snd_nxt, tx.send_end() > tx.snd_nxt);
                if window_closed && has_data {
                    self.send_window_probe(ctx, side, nxt);
                } else {
                    self.output(ctx, side);
                }
                self.arm_retransmit_if_needed(ctx, side);
            }
            Phase::Idle | Phase::Closed => {}
        }
    }

    fn on_keep_alive(&mut self, ctx: &mut Ctx<impl Effects>, side: Side, keep_alive: KeepAlive) {
        let now = ctx.now;
        let end = self.end(side);
        if end.phase != Phase::Established {
            return;
        }
        let tx = self.tx(side);
        if tx.snd_max > tx.snd_una {
            // Data in flight: the retransmission timer watches the peer instead.
            return self.arm(ctx, side, TimerKind::KeepAlive, now + keep_alive.idle);
        }
        let silent = now.since(end.last_recv);
        if end.keep_alive_probes == 0 && silent < keep_alive.idle {
            let at = end.last_recv + keep_alive.idle;
            return self.arm(ctx, side, TimerKind::KeepAlive, at);
        }
        if end.keep_alive_probes >= keep_alive.count {
            self.send_rst(ctx, side);
            return self.close_phase(ctx, side, Some(ErrorCode::Timeout), true);
        }
        let seq = tx.snd_una.max(FIRST_DATA_SEQ) - 1;
        self.end_mut(side).keep_alive_probes += 1;
        let seg = self.make_segment(side, Flags::ACK, seq, 0);
        self.emit(ctx, seg, false);
        self.arm(ctx, side, TimerKind::KeepAlive, now + keep_alive.interval);
    }
}
