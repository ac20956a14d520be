//! Units in scenario files and flags: durations ("250ms", "2s", "1m 30s"), bandwidths
//! ("10Mbps", "1.5Gbps", "800kbps"), byte sizes ("64MiB", "512KiB", "1000000").

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written like `"250ms"` or `"2s"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

/// The longest duration simnet takes: virtual time is counted in nanoseconds in 64
/// bits, about 584 years, and a century is plenty for any run.
pub const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!("bad duration {s:?} ({e}); write it like \"250ms\", \"2s\" or \"1m 30s\"")
    })?;
    if d > LONGEST {
        return Err(format!(
            "duration {s:?} is too long: virtual time reaches at most 100 years here"
        ));
    }
    Ok(d)
}

impl std::str::FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(Dur)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(self.0))
    }
}

/// Bits per second, written like `"10Mbps"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bandwidth(pub u64);

pub fn parse_bandwidth(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (num, mult) = [("gbps", 1e9), ("mbps", 1e6), ("kbps", 1e3), ("bps", 1.0)]
        .iter()
        .find_map(|(suffix, m)| {
            lower
                .strip_suffix(suffix)
                .map(|n| (n.trim().to_string(), *m))
        })
        .ok_or_else(|| {
            format!("bad bandwidth {s:?}: write it like \"10Mbps\", \"1.5Gbps\" or \"800kbps\"")
        })?;
    let value: f64 = num
        .parse()
        .map_err(|_| format!("bad bandwidth {s:?}: {num:?} is not a number"))?;
    let bps = value * mult;
    if !(bps.is_finite() && bps >= 1.0) {
        return Err(format!("bad bandwidth {s:?}: must be at least 1bps"));
    }
    Ok(bps as u64)
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_bandwidth(&s)
            .map(Bandwidth)
            .map_err(de::Error::custom)
    }
}

impl Serialize for Bandwidth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}bps", self.0))
    }
}

/// A size in bytes: an integer, or a string like `"64MiB"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad size {s:?}: write it like \"64MiB\" or 65536"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "bad size {s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, kB, MB, GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("bad size {s:?}: too large"))
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes, like 65536 or \"64MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
                u64::try_from(v)
                    .map(Bytes)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                parse_bytes(v).map(Bytes).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Format virtual time as seconds with microseconds, e.g. `12.000250s`.
pub fn secs(t: simnet_core::SimTime) -> String {
    let ns = t.as_nanos();
    format!(
        "{}.{:06}s",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert!(
            parse_duration("fast")
                .unwrap_err()
                .contains("bad duration \"fast\"")
        );
    }

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("10Mbps").unwrap(), 10_000_000);
        assert_eq!(parse_bandwidth("1.5Gbps").unwrap(), 1_500_000_000);
        assert_eq!(parse_bandwidth("800 kbps").unwrap(), 800_000);
        assert!(parse_bandwidth("10MB/s").is_err());
        assert!(parse_bandwidth("0bps").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("12 parsecs").is_err());
    }
}

/// A real-time watchdog setting: a duration, or `off` (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watchdog(pub Option<Duration>);

pub fn parse_watchdog(s: &str) -> Result<Watchdog, String> {
    if s == "off" {
        return Ok(Watchdog(None));
    }
    parse_duration(s).map(|d| Watchdog(Some(d)))
}
