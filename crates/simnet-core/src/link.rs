//! Links: what happens to a packet between two hosts. Each directed pair of hosts
//! has its own link state (bandwidth queue, random stream); configuration comes from
//! the network default or a per-pair override.

use std::time::Duration;

use rand::RngExt;
use rand_distr::{Distribution, Normal, Pareto};

use crate::rng::SimRng;
use crate::time::SimTime;

/// One-way propagation delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    Fixed(Duration),
    /// Uniform between `min` and `max` inclusive.
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// Normal, truncated at zero.
    Normal {
        mean: Duration,
        std_dev: Duration,
    },
    /// A long tail: Pareto with scale `min` (the most common delay) and shape `alpha`
    /// (smaller is heavier; 1.5-3 is typical), capped at `max`.
    Pareto {
        min: Duration,
        alpha: f64,
        max: Duration,
    },
}

impl Latency {
    fn sample(&self, rng: &mut SimRng) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => {
                let (lo, hi) = (nanos(min), nanos(max.max(min)));
                Duration::from_nanos(rng.random_range(lo..=hi))
            }
            Latency::Normal { mean, std_dev } => match Normal::new(secs(mean), secs(std_dev)) {
                Ok(dist) => from_secs(dist.sample(rng)),
                Err(_) => mean,
            },
            Latency::Pareto { min, alpha, max } => match Pareto::new(secs(min).max(1e-9), alpha) {
                Ok(dist) => from_secs(dist.sample(rng)).min(max.max(min)),
                Err(_) => min,
            },
        }
    }

    fn validate(&self) -> Result<(), String> {
        match *self {
            Latency::Fixed(_) => Ok(()),
            Latency::Uniform { min, max } if min > max => {
                Err(format!("uniform latency min {min:?} exceeds max {max:?}"))
            }
            Latency::Pareto { alpha, .. } if !(alpha.is_finite() && alpha > 0.0) => {
                Err(format!("pareto shape must be positive, got {alpha}"))
            }
            _ => Ok(()),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn from_secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// How a link treats packets. `Default` is a perfect link with no delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    pub latency: Latency,
    /// Extra delay drawn uniformly from `0..=jitter` per packet. Never reorders the
    /// bytes of one connection: a segment never arrives before an earlier one.
    /// Datagrams may overtake one another.
    pub jitter: Duration,
    /// Probability that a packet is lost (TCP retransmits a lost segment; a lost
    /// datagram is gone).
    pub loss: f64,
    /// Bits per second; `None` is unlimited (no serialization delay).
    pub bandwidth: Option<u64>,
    /// Probability that a datagram arrives twice (each copy with its own delay).
    /// TCP segments are never duplicated.
    pub duplicate: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Latency::Fixed(Duration::ZERO),
            jitter: Duration::ZERO,
            loss: 0.0,
            bandwidth: None,
            duplicate: 0.0,
        }
    }
}

impl LinkConfig {
    /// A link with a fixed one-way latency and nothing else.
    pub fn with_latency(latency: Duration) -> Self {
        LinkConfig {
            latency: Latency::Fixed(latency),
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.latency.validate()?;
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!("loss must be within 0..=1, got {}", self.loss));
        }
        if !(0.0..=1.0).contains(&self.duplicate) {
            return Err(format!(
                "duplicate must be within 0..=1, got {}",
                self.duplicate
            ));
        }
        if self.bandwidth == Some(0) {
            return Err("bandwidth must be positive".into());
        }
        Ok(())
    }
}

/// A directed link's mutable state.
#[derive(Debug)]
pub(crate) struct LinkState {
    pub(crate) config: LinkConfig,
    /// When the transmitter finishes sending what is already queued.
    busy_until: SimTime,
    rng: SimRng,
}

/// What the link decided for one segment.
pub(crate) enum Transit {
    Arrives(SimTime),
    Lost,
}

impl LinkState {
    pub(crate) fn new(config: LinkConfig, rng: SimRng) -> Self {
        LinkState {
            config,
            busy_until: SimTime::ZERO,
            rng,
        }
    }

    /// Decide a packet's fate from its size on the wire (headers included):
    /// serialization (bandwidth), loss, then propagation.
    pub(crate) fn transmit(&mut self, now: SimTime, wire_bytes: u64) -> Transit {
        let mut departure = now;
        if let Some(bps) = self.config.bandwidth {
            let bits = wire_bytes * 8;
            let ser = Duration::from_nanos(bits.saturating_mul(1_000_000_000) / bps);
            departure = departure.max(self.busy_until) + ser;
            self.busy_until = departure;
        }
        if self.config.loss > 0.0 && self.rng.random::<f64>() < self.config.loss {
            return Transit::Lost;
        }
        Transit::Arrives(departure + self.propagation())
    }

    fn propagation(&mut self) -> Duration {
        let mut delay = self.config.latency.sample(&mut self.rng);
        if !self.config.jitter.is_zero() {
            delay += Duration::from_nanos(self.rng.random_range(0..=nanos(self.config.jitter)));
        }
        delay
    }

    /// Whether the link also delivers a second copy of the datagram `transmit` just
    /// sent, and when: the copy leaves when the original has been serialized, with
    /// its own propagation delay. Draws nothing unless duplication is on.
    pub(crate) fn duplicate(&mut self, now: SimTime) -> Option<SimTime> {
        if self.config.duplicate > 0.0 && self.rng.random::<f64>() < self.config.duplicate {
            let departure = match self.config.bandwidth {
                Some(_) => self.busy_until.max(now),
                None => now,
            };
            return Some(departure + self.propagation());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::derive;

    #[test]
    fn a_duplicate_leaves_once_the_original_is_serialized() {
        let cfg = LinkConfig {
            bandwidth: Some(8_000_000), // 1 byte per microsecond
            duplicate: 1.0,
            ..LinkConfig::with_latency(Duration::from_millis(1))
        };
        let mut link = LinkState::new(cfg, derive(1, "t"));
        let t0 = SimTime::ZERO;
        let Transit::Arrives(original) = link.transmit(t0, 1000) else {
            panic!("lost")
        };
        assert_eq!(link.duplicate(t0), Some(original));
    }

    #[test]
    fn bandwidth_serializes_back_to_back_segments() {
        let cfg = LinkConfig {
            bandwidth: Some(8_000_000), // 1 byte per microsecond
            ..LinkConfig::with_latency(Duration::from_millis(1))
        };
        let mut link = LinkState::new(cfg, derive(1, "t"));
        let t0 = SimTime::ZERO;
        let Transit::Arrives(a) = link.transmit(t0, 1000) else {
            panic!("lost")
        };
        let Transit::Arrives(b) = link.transmit(t0, 1000) else {
            panic!("lost")
        };
        assert_eq!(a, t0 + Duration::from_micros(1000 + 1000));
        assert_eq!(b, t0 + Duration::from_micros(2000 + 1000));
    }

    #[test]
    fn loss_one_loses_everything_and_zero_nothing() {
        let mut all = LinkState::new(
            LinkConfig {
                loss: 1.0,
                ..Default::default()
            },
            derive(1, "t"),
        );
        let mut none = LinkState::new(LinkConfig::default(), derive(1, "t"));
        for _ in 0..100 {
            assert!(matches!(all.transmit(SimTime::ZERO, 41), Transit::Lost));
            assert!(matches!(
                none.transmit(SimTime::ZERO, 41),
                Transit::Arrives(_)
            ));
        }
    }

    #[test]
    fn distributions_stay_in_bounds() {
        let mut rng = derive(3, "d");
        let u = Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(2),
        };
        let p = Latency::Pareto {
            min: Duration::from_millis(1),
            alpha: 1.5,
            max: Duration::from_secs(1),
        };
        let n = Latency::Normal {
            mean: Duration::from_millis(1),
            std_dev: Duration::from_millis(5),
        };
        for _ in 0..1000 {
            let d = u.sample(&mut rng);
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(2));
            let d = p.sample(&mut rng);
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_secs(1));
            let _ = n.sample(&mut rng); // truncated at zero: any Duration is fine
        }
    }

    #[test]
    fn validation_rejects_bad_values() {
        assert!(
            LinkConfig {
                loss: 1.5,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            LinkConfig {
                bandwidth: Some(0),
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        let bad = Latency::Uniform {
            min: Duration::from_secs(2),
            max: Duration::from_secs(1),
        };
        assert!(
            LinkConfig {
                latency: bad,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(LinkConfig::default().validate().is_ok());
    }
}
