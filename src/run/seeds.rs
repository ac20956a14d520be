//! The seeds an exploration runs: a range, or one shard of it.

use std::ops::RangeInclusive;

/// `K/N` with 1 <= K <= N: shard K of N.
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected K/N with 1 <= K <= N, like 2/8, got {s:?}");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The seeds of a range that shard `k` of `n` runs: every n-th, starting at the
/// (k-1)-th. Shards are disjoint and together cover the range. Seeds are computed
/// when asked for, so a range of any size costs no memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedSet {
    start: u64,
    last: u64,
    first: u64,
    step: u64,
}

impl SeedSet {
    pub fn new(range: RangeInclusive<u64>, shard: Option<(u64, u64)>) -> SeedSet {
        let (k, n) = shard.unwrap_or((1, 1));
        SeedSet {
            start: *range.start(),
            last: *range.end(),
            first: k - 1,
            step: n,
        }
    }

    /// How many seeds the set holds (`u64::MAX` stands for the one more that
    /// `0..=u64::MAX` holds).
    pub fn len(&self) -> u64 {
        if self.start > self.last {
            return 0;
        }
        let span = u128::from(self.last - self.start) + 1;
        let count = span
            .saturating_sub(u128::from(self.first))
            .div_ceil(u128::from(self.step));
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th seed of the set.
    pub fn get(&self, i: u64) -> Option<u64> {
        let offset = u128::from(self.first) + u128::from(i) * u128::from(self.step);
        let seed = u128::from(self.start) + offset;
        (i < self.len() && seed <= u128::from(self.last)).then_some(seed as u64)
    }

    /// The shard in words (` (shard 2/8)`), empty for a whole range.
    pub fn shard_text(&self) -> String {
        match self.step {
            1 => String::new(),
            n => format!(" (shard {}/{n})", self.first + 1),
        }
    }

    /// The range the set was drawn from, and its shard (`None`: all of it).
    pub fn describe(&self) -> String {
        format!("{}..={}{}", self.start, self.last, self.shard_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_range() {
        let seeds = |k, n| {
            let s = SeedSet::new(10..=19, Some((k, n)));
            (0..s.len()).map(|i| s.get(i).unwrap()).collect::<Vec<_>>()
        };
        let mut all: Vec<u64> = (1..=3).flat_map(|k| seeds(k, 3)).collect();
        all.sort();
        assert_eq!(all, (10..20).collect::<Vec<_>>());
        assert_eq!(seeds(2, 3), vec![11, 14, 17]);
        assert!(SeedSet::new(10..=10, Some((2, 3))).is_empty());
        assert!(parse_shard("0/3").is_err());
        assert!(parse_shard("4/3").is_err());
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
    }

    #[test]
    fn a_huge_seed_range_costs_no_memory() {
        let s = SeedSet::new(0..=u64::MAX - 1, Some((3, 7)));
        assert_eq!(s.get(0), Some(2));
        assert_eq!(s.get(1), Some(9));
        assert_eq!(s.len(), (u64::MAX - 2).div_ceil(7));
        // The last seed is a seed like any other.
        let max = u64::MAX;
        let last = SeedSet::new(max..=max, None);
        assert_eq!((last.len(), last.get(0), last.get(1)), (1, Some(max), None));
        let last_shard = SeedSet::new(max..=max, Some((max, max)));
        assert!(last_shard.is_empty());
        let all = SeedSet::new(0..=max, Some((2, 2)));
        assert_eq!(all.len(), 1 << 63);
        assert_eq!(all.get((1 << 63) - 1), Some(max));
    }
}
