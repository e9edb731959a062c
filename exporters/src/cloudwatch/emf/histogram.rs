//! A histogram as EMF carries it: at most 100 distinct values, each with
//! how many recorded values it stands for.
//!
//! The values are the push recorder's kept ones. Past 100 distinct values,
//! neighbours (in sorted order) are merged into at most 100 groups of about
//! equal size, each sent as the mean of its values: the percentiles
//! CloudWatch computes move by at most the width of one group. When the
//! interval recorded more values than were kept, each kept value stands for
//! `count / kept` of them, and the counts are whole numbers that add up to
//! exactly the recorded count (largest remainders get the leftover ones).

use crate::push::Distribution;

/// The most values one EMF metric may carry.
pub(super) const MAX_VALUES: usize = 100;

/// The distinct values of `distribution`, ascending, and how many recorded
/// values each stands for; empty when no value was kept.
pub(super) fn values_and_counts(distribution: &Distribution) -> (Vec<f64>, Vec<u64>) {
    let mut sorted = distribution.samples().to_vec();
    sorted.sort_by(f64::total_cmp);
    let kept = sorted.len() as u64;
    let mut distinct: Vec<(f64, u64)> = Vec::new();
    for value in sorted {
        match distinct.last_mut() {
            Some((last, n)) if *last == value => *n += 1,
            _ => distinct.push((value, 1)),
        }
    }
    let groups = if distinct.len() <= MAX_VALUES {
        distinct
    } else {
        merge(&distinct, kept)
    };
    let counts = weigh(&groups, distribution.count());
    groups
        .iter()
        .zip(counts)
        .filter(|(_, count)| *count > 0)
        .map(|((value, _), count)| (*value, count))
        .unzip()
}

/// Neighbouring values merged into at most [`MAX_VALUES`] groups of about
/// `kept / MAX_VALUES` values each: the mean of each group and its size.
fn merge(distinct: &[(f64, u64)], kept: u64) -> Vec<(f64, u64)> {
    struct Group {
        index: u64,
        sum: f64,
        size: u64,
        low: f64,
        high: f64,
    }
    impl Group {
        fn mean(&self) -> (f64, u64) {
            // The mean lies between the lowest and highest value, rounding
            // aside.
            let mean = (self.sum / self.size as f64).clamp(self.low, self.high);
            (mean, self.size)
        }
    }
    let mut groups = Vec::with_capacity(MAX_VALUES);
    let mut current: Option<Group> = None;
    let mut before = 0u64;
    for &(value, n) in distinct {
        let index = before * MAX_VALUES as u64 / kept.max(1);
        match &mut current {
            Some(group) if group.index == index => {
                group.sum += value * n as f64;
                group.size += n;
                group.high = value;
            }
            _ => {
                if let Some(done) = current.take() {
                    groups.push(done.mean());
                }
                current = Some(Group {
                    index,
                    sum: value * n as f64,
                    size: n,
                    low: value,
                    high: value,
                });
            }
        }
        before += n;
    }
    groups.extend(current.map(|group| group.mean()));
    groups
}

/// Whole counts proportional to the group sizes that add up to `count`.
fn weigh(groups: &[(f64, u64)], count: u64) -> Vec<u64> {
    let kept: u128 = groups.iter().map(|(_, n)| u128::from(*n)).sum();
    if kept == 0 {
        return Vec::new();
    }
    let mut counts = Vec::with_capacity(groups.len());
    let mut remainders = Vec::with_capacity(groups.len());
    let mut given = 0u128;
    for (index, (_, n)) in groups.iter().enumerate() {
        let exact = u128::from(*n) * u128::from(count);
        counts.push(u64::try_from(exact / kept).unwrap_or(u64::MAX));
        remainders.push((exact % kept, index));
        given += exact / kept;
    }
    let left = usize::try_from(u128::from(count).saturating_sub(given)).unwrap_or(0);
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, index) in remainders.into_iter().take(left) {
        counts[index] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_go_as_they_are() {
        let d = Distribution::from_values(&[0.5, 0.25, 0.5, 2.0]);
        assert_eq!(values_and_counts(&d), (vec![0.25, 0.5, 2.0], vec![1, 2, 1]));
    }

    #[test]
    fn sampled_values_stand_for_every_recorded_one() {
        let d = Distribution::sampled(&[1.0; 8], 2);
        assert_eq!(values_and_counts(&d), (vec![1.0], vec![8]));

        let values: Vec<f64> = (0..7).map(f64::from).collect();
        let d = Distribution::sampled(&values, 3);
        let (kept, counts) = values_and_counts(&d);
        assert_eq!(kept.len(), 3);
        assert_eq!(counts.iter().sum::<u64>(), 7, "{counts:?}");
        assert!(counts.iter().all(|c| (2..=3).contains(c)), "{counts:?}");
    }

    #[test]
    fn more_than_a_hundred_values_merge_into_equal_groups() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        let (merged, counts) = values_and_counts(&Distribution::from_values(&values));
        assert_eq!(merged.len(), MAX_VALUES);
        assert!(counts.iter().all(|c| *c == 10), "{counts:?}");
        assert_eq!(merged[0], 5.5);
        assert_eq!(merged[99], 995.5);
        assert!(merged.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn sampled_and_merged_counts_add_up_to_the_recorded_count() {
        let values: Vec<f64> = (0..10_007).map(|v| f64::from(v) / 7.0).collect();
        let d = Distribution::sampled(&values, 1000);
        let (merged, counts) = values_and_counts(&d);
        assert!(merged.len() <= MAX_VALUES);
        assert_eq!(counts.iter().sum::<u64>(), 10_007);
        assert!(merged.iter().all(|v| (d.min()..=d.max()).contains(v)));
    }

    #[test]
    fn repeated_values_are_not_split_across_groups() {
        let mut values = vec![1.0; 500];
        values.extend((0..300).map(|v| 2.0 + f64::from(v)));
        let (merged, counts) = values_and_counts(&Distribution::from_values(&values));
        assert_eq!((merged[0], counts[0]), (1.0, 500));
        assert!(merged.len() <= MAX_VALUES);
        assert_eq!(counts.iter().sum::<u64>(), 800);
    }
}
