//! Unique counts in bounded space: HyperLogLog, as GitLab counts its unique usage metrics
//! (Redis `PFADD`/`PFCOUNT`), kept in a form a store can merge without reading.
//!
//! A sketch is the set of *observations* `register * 64 + rank` it has seen. The estimate
//! uses each register's highest rank, so a sketch is the union of what every report added:
//! DynamoDB's `ADD` to a number set is that union, atomic and idempotent, and concurrent
//! reports can never lose each other's users. There are [`REGISTERS`] registers and at most
//! `64 - PRECISION + 1` ranks, so a sketch never holds more than 56,320 observations (about
//! 230 KB as a DynamoDB number set, below the 400 KB item limit) however many ids it counts.
//! Its standard error is 1.04 / √1024, about 3.3%; up to a few thousand ids the small-range
//! estimate is exact or off by one.

/// Bits of the hash that choose a register.
pub const PRECISION: u32 = 10;

/// Registers per sketch.
pub const REGISTERS: usize = 1 << PRECISION;

const RANKS: i64 = 64;

/// The observations a report of `ids` adds: for each register it touches, the highest rank
/// among these ids (lower ones change no estimate, so they are not stored).
pub fn observations(ids: &[i64]) -> Vec<i64> {
    let mut highest = [0u8; REGISTERS];
    for id in ids {
        let (register, rank) = register_and_rank(*id);
        highest[register] = highest[register].max(rank);
    }
    highest
        .iter()
        .enumerate()
        .filter(|(_, rank)| **rank > 0)
        .map(|(register, rank)| register as i64 * RANKS + i64::from(*rank))
        .collect()
}

/// The number of distinct ids behind `observations` (of any number of reports, in any order,
/// repeated or not).
pub fn estimate(observations: impl IntoIterator<Item = i64>) -> u64 {
    let mut registers = [0u8; REGISTERS];
    for observation in observations {
        let (Ok(register), Ok(rank)) = (
            usize::try_from(observation / RANKS),
            u8::try_from(observation % RANKS),
        ) else {
            continue;
        };
        if let Some(highest) = registers.get_mut(register) {
            *highest = (*highest).max(rank);
        }
    }
    let m = REGISTERS as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = registers
        .iter()
        .map(|rank| 2f64.powi(-i32::from(*rank)))
        .sum();
    let raw = alpha * m * m / sum;
    let empty = registers.iter().filter(|rank| **rank == 0).count();
    let estimate = if raw <= 2.5 * m && empty > 0 {
        // Linear counting: exact for small sets, where the raw estimate is biased.
        m * (m / empty as f64).ln()
    } else {
        raw
    };
    estimate.round() as u64
}

/// Which register an id lands in and its rank there: the position of the first set bit of
/// the rest of its hash (1-based; 64 - PRECISION + 1 when none is set).
fn register_and_rank(id: i64) -> (usize, u8) {
    let hash = mix(id as u64);
    let register = (hash >> (64 - PRECISION)) as usize;
    let rest = hash << PRECISION;
    let rank = (rest.leading_zeros().min(64 - PRECISION) + 1) as u8;
    (register, rank)
}

/// MurmurHash3's 64-bit finalizer: a fixed, well-mixed bijection, so the same id lands in
/// the same register in every process and release (std's hasher promises neither).
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_are_counted_exactly() {
        assert_eq!(estimate(observations(&[])), 0);
        for n in [1, 2, 3, 22, 100] {
            let ids: Vec<i64> = (0..n).collect();
            assert_eq!(estimate(observations(&ids)), n as u64, "{n}");
        }
        // Repeats count once.
        assert_eq!(estimate(observations(&[7, 7, 7, 8])), 2);
    }

    #[test]
    fn large_sets_are_counted_within_a_few_percent() {
        for n in [10_000i64, 100_000, 1_000_000] {
            let ids: Vec<i64> = (1..=n).map(|i| i * 7919).collect();
            let counted = estimate(observations(&ids)) as f64;
            let error = (counted - n as f64).abs() / n as f64;
            assert!(error < 0.05, "{n}: counted {counted}");
        }
    }

    #[test]
    fn reports_merge_by_union_in_any_order() {
        let ids: Vec<i64> = (0..50_000).collect();
        let whole = estimate(observations(&ids));
        let mut union: Vec<i64> = ids
            .chunks(977)
            .rev()
            .flat_map(observations)
            .chain(observations(&ids[..5000]))
            .collect();
        union.sort_unstable();
        union.dedup();
        assert_eq!(estimate(union.iter().copied()), whole);
    }

    #[test]
    fn a_sketch_is_bounded_whatever_it_counts() {
        let every_rank = (0..REGISTERS as i64).flat_map(|register| {
            (1..=(64 - i64::from(PRECISION) + 1)).map(move |rank| register * 64 + rank)
        });
        assert_eq!(every_rank.count(), 56_320);
        assert!(observations(&(0..1_000_000).collect::<Vec<_>>()).len() <= REGISTERS);
        // Garbage read back from a store is ignored, not a panic.
        assert_eq!(estimate([-5, i64::MAX, 64 * 5000 + 3]), 0);
    }
}
