//! The per-series storage of histograms between two flushes: exact count,
//! sum, minimum and maximum, and up to a budget of the values themselves,
//! chosen uniformly at random past the budget.

use std::sync::{Mutex, PoisonError};

use metrics::HistogramFn;

/// What one histogram series saw during one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    samples: Vec<f64>,
}

impl Distribution {
    /// How many values were recorded (all of them, sampled or not).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of every recorded value.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The smallest recorded value.
    pub fn min(&self) -> f64 {
        self.min
    }

    /// The largest recorded value.
    pub fn max(&self) -> f64 {
        self.max
    }

    /// The kept values: all of them up to the budget, a uniform sample of
    /// `budget` values past it. In the order they were kept, not sorted.
    pub fn samples(&self) -> &[f64] {
        &self.samples
    }

    /// The share of recorded values that [`samples`](Self::samples) holds,
    /// in `(0, 1]`: the StatsD `@rate` of each kept value.
    pub fn sample_rate(&self) -> f64 {
        if self.count == 0 || self.samples.len() as u64 >= self.count {
            1.0
        } else {
            self.samples.len() as f64 / self.count as f64
        }
    }

    /// The mean of every recorded value.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The `q` quantile (`0.0..=1.0`) of the kept values, by the nearest rank.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        nearest_rank(&sorted, q)
    }

    /// Several quantiles at once, sorting the kept values once.
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [f64; N] {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        qs.map(|q| nearest_rank(&sorted, q))
    }

    /// The distribution of `values`, all kept.
    #[cfg(test)]
    pub(crate) fn from_values(values: &[f64]) -> Self {
        Self::sampled(values, values.len().max(1))
    }

    /// The distribution of `values`, keeping at most `budget` of them.
    #[cfg(test)]
    pub(crate) fn sampled(values: &[f64], budget: usize) -> Self {
        let reservoir = Reservoir::new(budget);
        values.iter().for_each(|v| reservoir.record(*v));
        reservoir.take().expect("at least one value")
    }
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let q = q.clamp(0.0, 1.0);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

/// The histogram handle of the push recorder.
#[derive(Debug)]
pub(crate) struct Reservoir {
    budget: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// Keeps its capacity from one interval to the next, so recording
    /// allocates only while a series first grows to its usual size.
    samples: Vec<f64>,
    /// xorshift64 state for the reservoir's choices.
    random: u64,
    /// Values refused because they were NaN or infinite.
    rejected: u64,
}

impl Reservoir {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            state: Mutex::new(State {
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                samples: Vec::new(),
                random: seed(),
                rejected: 0,
            }),
        }
    }

    /// What the series saw since the last call, or `None` when it saw
    /// nothing; the series starts over, keeping its buffer.
    pub(crate) fn take(&self) -> Option<Distribution> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.count == 0 {
            return None;
        }
        let taken = Distribution {
            count: state.count,
            sum: state.sum,
            min: state.min,
            max: state.max,
            samples: state.samples.clone(),
        };
        state.count = 0;
        state.sum = 0.0;
        state.min = f64::INFINITY;
        state.max = f64::NEG_INFINITY;
        state.samples.clear();
        Some(taken)
    }

    /// How many values were refused since the last call.
    pub(crate) fn take_rejected(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut state.rejected)
    }
}

impl HistogramFn for Reservoir {
    fn record(&self, value: f64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !value.is_finite() {
            state.rejected += 1;
            return;
        }
        state.count += 1;
        state.sum += value;
        state.min = state.min.min(value);
        state.max = state.max.max(value);
        if state.samples.len() < self.budget {
            state.samples.push(value);
        } else {
            // Algorithm R: the n-th value replaces a kept one with
            // probability budget / n.
            let slot = next(&mut state.random) % state.count;
            if let Some(kept) = usize::try_from(slot)
                .ok()
                .and_then(|slot| state.samples.get_mut(slot))
            {
                *kept = value;
            }
        }
    }
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // Never zero: xorshift stays at zero forever.
    RandomState::new().hash_one(0u8) | 1
}

fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_value_under_the_budget() {
        let reservoir = Reservoir::new(10);
        for v in [3.0, 1.0, 2.0] {
            reservoir.record(v);
        }
        let taken = reservoir.take().unwrap();
        assert_eq!(taken.count(), 3);
        assert_eq!(taken.sum(), 6.0);
        assert_eq!((taken.min(), taken.max()), (1.0, 3.0));
        assert_eq!(taken.samples(), &[3.0, 1.0, 2.0]);
        assert_eq!(taken.sample_rate(), 1.0);
        assert_eq!(taken.quantile(0.5), 2.0);
        assert!(reservoir.take().is_none(), "a flush starts the series over");
    }

    #[test]
    fn samples_past_the_budget_and_keeps_exact_totals() {
        let reservoir = Reservoir::new(100);
        for v in 1..=10_000 {
            reservoir.record(f64::from(v));
        }
        let taken = reservoir.take().unwrap();
        assert_eq!(taken.count(), 10_000);
        assert_eq!(taken.sum(), 50_005_000.0);
        assert_eq!((taken.min(), taken.max()), (1.0, 10_000.0));
        assert_eq!(taken.samples().len(), 100);
        assert_eq!(taken.sample_rate(), 0.01);
        // A uniform sample of 1..=10000: its median is near the middle.
        let median = taken.quantile(0.5);
        assert!((2_000.0..8_000.0).contains(&median), "{median}");
    }

    #[test]
    fn refuses_values_that_are_not_finite() {
        let reservoir = Reservoir::new(10);
        reservoir.record(f64::NAN);
        reservoir.record(f64::INFINITY);
        reservoir.record(1.0);
        assert_eq!(reservoir.take_rejected(), 2);
        assert_eq!(reservoir.take().unwrap().count(), 1);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let d = Distribution::from_values(&[5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!(d.quantiles([0.0, 0.5, 0.95, 1.0]), [1.0, 3.0, 5.0, 5.0]);
        assert_eq!(d.mean(), 3.0);
    }
}
