//! What a benchmark measured: statistics, a printed table, and the export as
//! `benchmark_*` metrics.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::Label;

use super::Sample;
use crate::catalog::{
    BENCHMARK_ALLOCATED_BYTES, BENCHMARK_API_CALLS, BENCHMARK_COST_PER_ITEM_USD,
    BENCHMARK_COST_USD, BENCHMARK_CPU_SECONDS, BENCHMARK_DURATION_SECONDS,
    BENCHMARK_ITEMS_PER_SECOND, BENCHMARK_ITERATIONS, BENCHMARK_TIMESTAMP_SECONDS, MetricDef,
};
use crate::internal::label_cap::{LabelCap, cut, overflow_counter};
use crate::span_metrics::{DEFAULT_MAX_SERIES, OVERFLOW_LABEL};

/// The benchmark names that have their own series, process-wide.
fn names() -> &'static LabelCap {
    static NAMES: OnceLock<LabelCap> = OnceLock::new();
    NAMES.get_or_init(|| LabelCap::new(DEFAULT_MAX_SERIES))
}

/// The measurements of a benchmark run by
/// [`BenchmarkRunner`](super::BenchmarkRunner), with the items processed and
/// the cost, which the caller adds. Prints as a table.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkResult {
    name: String,
    samples: Vec<Sample>,
    /// The wall times, sorted.
    sorted: Vec<Duration>,
    items: Option<u64>,
    cost: Option<(u64, f64)>,
}

impl BenchmarkResult {
    pub(super) fn new(name: &str, samples: Vec<Sample>) -> Self {
        let mut sorted: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        sorted.sort_unstable();
        Self {
            name: name.to_owned(),
            samples,
            sorted,
            items: None,
            cost: None,
        }
    }

    /// Records that the measured iterations processed `items` items in all,
    /// for [`throughput`](Self::throughput) and
    /// [`cost_per_item`](Self::cost_per_item). Defaults to unknown.
    #[must_use]
    pub fn with_items_processed(self, items: u64) -> Self {
        Self {
            items: Some(items),
            ..self
        }
    }

    /// Records that the measured iterations made `api_calls` calls to
    /// external APIs and cost `cost_usd` US dollars in all. Defaults to
    /// unknown.
    #[must_use]
    pub fn with_cost_tracking(self, api_calls: u64, cost_usd: f64) -> Self {
        Self {
            cost: Some((api_calls, cost_usd)),
            ..self
        }
    }

    /// The benchmark's name, the `benchmark_name` label of its metrics.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of measured iterations (the warm-up excluded).
    pub fn iterations(&self) -> usize {
        self.samples.len()
    }

    /// The wall time of all measured iterations together.
    pub fn total(&self) -> Duration {
        self.sorted.iter().sum()
    }

    /// The mean wall time of an iteration.
    pub fn mean(&self) -> Duration {
        self.total() / self.sorted.len().max(1) as u32
    }

    /// The shortest iteration.
    pub fn min(&self) -> Duration {
        self.sorted.first().copied().unwrap_or_default()
    }

    /// The longest iteration.
    pub fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }

    /// The wall time that a share `quantile` (from 0 to 1) of the iterations
    /// did not exceed, by the nearest-rank method.
    pub fn percentile(&self, quantile: f64) -> Duration {
        let n = self.sorted.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = (quantile.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        self.sorted[rank.clamp(1, n) - 1]
    }

    /// The median iteration.
    pub fn p50(&self) -> Duration {
        self.percentile(0.5)
    }

    /// The 90th percentile iteration.
    pub fn p90(&self) -> Duration {
        self.percentile(0.9)
    }

    /// The 95th percentile iteration.
    pub fn p95(&self) -> Duration {
        self.percentile(0.95)
    }

    /// The 99th percentile iteration.
    pub fn p99(&self) -> Duration {
        self.percentile(0.99)
    }

    /// The mean CPU time of an iteration on the threads that ran it; `None`
    /// when it was not measured.
    pub fn mean_cpu(&self) -> Option<Duration> {
        let total: Option<Duration> = self.samples.iter().map(|s| s.cpu).sum();
        total.map(|total| total / self.samples.len().max(1) as u32)
    }

    /// The mean number of bytes an iteration allocated; `None` when they
    /// were not counted (no counting allocator installed, or memory
    /// profiling off).
    pub fn mean_allocated_bytes(&self) -> Option<f64> {
        let total: Option<u64> = self.samples.iter().map(|s| s.allocated).sum();
        total.map(|total| total as f64 / self.samples.len().max(1) as f64)
    }

    /// The items processed, when given.
    pub fn items_processed(&self) -> Option<u64> {
        self.items
    }

    /// The API calls made, when given.
    pub fn api_calls(&self) -> Option<u64> {
        self.cost.map(|(calls, _)| calls)
    }

    /// The money spent in US dollars, when given.
    pub fn cost_usd(&self) -> Option<f64> {
        self.cost.map(|(_, usd)| usd)
    }

    /// Items processed per second of wall time, when the items are given.
    pub fn throughput(&self) -> Option<f64> {
        let seconds = self.total().as_secs_f64();
        self.items
            .filter(|_| seconds > 0.0)
            .map(|items| items as f64 / seconds)
    }

    /// US dollars per item processed, when the items (at least one) and the
    /// cost are given.
    pub fn cost_per_item(&self) -> Option<f64> {
        let items = self.items.filter(|&items| items > 0)?;
        Some(self.cost_usd()? / items as f64)
    }

    /// The duration statistics as `(statistic label, value)`, in the order
    /// of the table.
    pub fn duration_statistics(&self) -> [(&'static str, Duration); 7] {
        [
            ("mean", self.mean()),
            ("min", self.min()),
            ("p50", self.p50()),
            ("p90", self.p90()),
            ("p95", self.p95()),
            ("p99", self.p99()),
            ("max", self.max()),
        ]
    }

    /// Records the result as the catalog's `benchmark_*` gauges, labelled
    /// `benchmark_name`, to the current `metrics` recorder: durations by
    /// `statistic`, mean CPU time and allocations, iterations, throughput,
    /// API calls, cost, cost per item and the time of export. Figures that
    /// are unknown are not recorded. A later export of the same name
    /// replaces the figures. Names are label values: past 2000 distinct
    /// names in a process ([`DEFAULT_MAX_SERIES`]), results go to the
    /// overflow series and are counted in `autotel_series_overflow_total`;
    /// names are cut to [`MAX_LABEL_VALUE_BYTES`](crate::span_metrics::MAX_LABEL_VALUE_BYTES).
    pub fn export(&self) {
        let name = cut(&self.name);
        let own = names().admit(name);
        let labels = |extra: Option<&'static str>| {
            let mut labels = if own {
                vec![Label::new("benchmark_name", name.to_owned())]
            } else {
                vec![Label::new(OVERFLOW_LABEL, "true")]
            };
            labels.extend(extra.map(|statistic| Label::new("statistic", statistic)));
            labels
        };
        let record = |def: &MetricDef, extra: Option<&'static str>, value: f64| {
            metrics::gauge!(def.name(), labels(extra)).set(value);
            if !own {
                overflow_counter(def.name()).increment(1);
            }
        };
        for (statistic, value) in self.duration_statistics() {
            record(
                &BENCHMARK_DURATION_SECONDS,
                Some(statistic),
                value.as_secs_f64(),
            );
        }
        let gauge = |def: &MetricDef, value: Option<f64>| {
            if let Some(value) = value {
                record(def, None, value);
            }
        };
        gauge(&BENCHMARK_ITERATIONS, Some(self.iterations() as f64));
        gauge(
            &BENCHMARK_CPU_SECONDS,
            self.mean_cpu().map(|d| d.as_secs_f64()),
        );
        gauge(&BENCHMARK_ALLOCATED_BYTES, self.mean_allocated_bytes());
        gauge(&BENCHMARK_ITEMS_PER_SECOND, self.throughput());
        gauge(&BENCHMARK_API_CALLS, self.api_calls().map(|n| n as f64));
        gauge(&BENCHMARK_COST_USD, self.cost_usd());
        gauge(&BENCHMARK_COST_PER_ITEM_USD, self.cost_per_item());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        gauge(&BENCHMARK_TIMESTAMP_SECONDS, Some(now.as_secs_f64()));
    }
}

impl fmt::Display for BenchmarkResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "benchmark {}: {} iterations, {:.3?} in all",
            self.name,
            self.iterations(),
            self.total()
        )?;
        writeln!(f, "  {:<24} {:>14}", "statistic", "value")?;
        for (statistic, value) in self.duration_statistics() {
            writeln!(f, "  {:<24} {:>14}", statistic, format!("{value:.3?}"))?;
        }
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: Option<String>| {
            let value = value.unwrap_or_else(|| "-".to_owned());
            writeln!(f, "  {label:<24} {value:>14}")
        };
        row(
            f,
            "CPU per iteration",
            self.mean_cpu().map(|d| format!("{d:.3?}")),
        )?;
        row(
            f,
            "allocated per iteration",
            self.mean_allocated_bytes().map(|b| format!("{b:.0} B")),
        )?;
        row(
            f,
            "throughput",
            self.throughput().map(|t| format!("{t:.1} items/s")),
        )?;
        row(f, "API calls", self.api_calls().map(|n| n.to_string()))?;
        row(f, "cost", self.cost_usd().map(|c| format!("${c:.4}")))?;
        row(
            f,
            "cost per item",
            self.cost_per_item().map(|c| format!("${c:.6}")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(millis: &[u64]) -> BenchmarkResult {
        let samples = millis
            .iter()
            .map(|&ms| Sample {
                wall: Duration::from_millis(ms),
                cpu: Some(Duration::from_millis(ms / 2)),
                allocated: Some(ms * 1000),
            })
            .collect();
        BenchmarkResult::new("golden", samples)
    }

    #[test]
    fn statistics_follow_the_nearest_rank_method() {
        let r = result(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(r.iterations(), 100);
        assert_eq!(r.min(), Duration::from_millis(1));
        assert_eq!(r.max(), Duration::from_millis(100));
        assert_eq!(r.p50(), Duration::from_millis(50));
        assert_eq!(r.p90(), Duration::from_millis(90));
        assert_eq!(r.p95(), Duration::from_millis(95));
        assert_eq!(r.p99(), Duration::from_millis(99));
        assert_eq!(r.mean(), Duration::from_micros(50_500));
        assert_eq!(r.total(), Duration::from_millis(5050));
        let r = result(&[10, 20, 30]);
        assert_eq!(r.percentile(0.0), Duration::from_millis(10));
        assert_eq!(r.p50(), Duration::from_millis(20));
        assert_eq!(r.p99(), Duration::from_millis(30));
    }

    #[test]
    fn throughput_and_cost_need_their_figures() {
        let r = result(&[500, 500]);
        assert_eq!(r.throughput(), None);
        assert_eq!(r.cost_per_item(), None);
        let r = r.with_items_processed(2000).with_cost_tracking(40, 0.5);
        assert_eq!(r.throughput(), Some(2000.0));
        assert_eq!(r.cost_per_item(), Some(0.00025));
        assert_eq!(r.api_calls(), Some(40));
        assert_eq!(r.with_items_processed(0).cost_per_item(), None);
    }

    #[test]
    fn prints_as_a_table() {
        let r = result(&[10, 20, 30])
            .with_items_processed(600)
            .with_cost_tracking(6, 0.012);
        assert_eq!(
            r.to_string(),
            "benchmark golden: 3 iterations, 60.000ms in all\n\
             \x20 statistic                         value\n\
             \x20 mean                           20.000ms\n\
             \x20 min                            10.000ms\n\
             \x20 p50                            20.000ms\n\
             \x20 p90                            30.000ms\n\
             \x20 p95                            30.000ms\n\
             \x20 p99                            30.000ms\n\
             \x20 max                            30.000ms\n\
             \x20 CPU per iteration              10.000ms\n\
             \x20 allocated per iteration         20000 B\n\
             \x20 throughput               10000.0 items/s\n\
             \x20 API calls                             6\n\
             \x20 cost                            $0.0120\n\
             \x20 cost per item                 $0.000020\n"
        );
    }
}
