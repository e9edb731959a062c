//! The `metrics` recorder of the Prometheus exporter and the handle that
//! renders it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use autotel_layers::catalog::{self, MetricKind};
use autotel_layers::redact::Redaction;
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::formatting::sanitize_metric_name;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder as UpstreamBuilder, PrometheusHandle as UpstreamHandle,
    PrometheusRecorder as UpstreamRecorder,
};

use super::exemplars::ExemplarStore;
use super::labels::{self, Prepared};
use super::openmetrics;
use super::{Prometheus, PrometheusError};
use crate::{buckets, is_fractional_counter};

/// The quantiles of summaries.
const SUMMARY_QUANTILES: &[f64] = &[0.5, 0.9, 0.95, 0.99];

/// The metadata of the series the exporter records itself.
pub(super) fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()))
}

/// The `metrics` recorder of the Prometheus exporter.
///
/// Install it globally ([`metrics::set_global_recorder`]), scope it
/// ([`metrics::with_local_recorder`]) or compose it ([`crate::fanout`]).
#[derive(Debug)]
pub struct PrometheusRecorder {
    main: UpstreamRecorder,
    summaries: Option<UpstreamRecorder>,
    summary_names: HashSet<String>,
    redaction: Redaction,
    handle: PrometheusHandle,
    /// The global labels as given to the upstream recorder.
    global_labels: Vec<(String, String)>,
    /// The buckets of the histograms named with `Prometheus::with_buckets`.
    buckets: HashMap<String, Arc<[f64]>>,
}

impl PrometheusRecorder {
    /// The recorder that `builder` describes, with every catalog metric
    /// described and `autotel_build_info` set.
    pub(super) fn from_builder(builder: Prometheus) -> Result<Self, PrometheusError> {
        let mut histograms = UpstreamBuilder::new();
        let mut summaries = UpstreamBuilder::new();
        let bucket_error = |metric: &str, _| PrometheusError::Buckets {
            metric: metric.to_owned(),
            reason: "rejected by metrics-exporter-prometheus",
        };
        histograms = histograms
            .set_buckets(buckets::DEFAULT)
            .map_err(|e| bucket_error("*", e))?
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), buckets::SECONDS)
            .map_err(|e| bucket_error("*_seconds", e))?
            .set_buckets_for_metric(Matcher::Suffix("_bytes".into()), buckets::BYTES)
            .map_err(|e| bucket_error("*_bytes", e))?;
        for (metric, boundaries) in &builder.buckets {
            histograms = histograms
                .set_buckets_for_metric(Matcher::Full(metric.clone()), boundaries)
                .map_err(|e| bucket_error(metric, e))?;
        }
        summaries = summaries
            .set_quantiles(SUMMARY_QUANTILES)
            .map_err(|e| bucket_error("summaries", e))?;
        let mut global_labels = Vec::with_capacity(builder.global_labels.len());
        for (key, value) in &builder.global_labels {
            // Backslashes doubled, as for every label value (see `labels`).
            let value = value.replace('\\', "\\\\");
            histograms = histograms.add_global_label(key.clone(), value.clone());
            summaries = summaries.add_global_label(key.clone(), value.clone());
            global_labels.push((key.clone(), value));
        }
        let buckets = builder
            .buckets
            .iter()
            .map(|(metric, bounds)| (sanitize_metric_name(metric), Arc::from(bounds.as_slice())))
            .collect();

        let main = histograms.build_recorder();
        let summaries_recorder = if builder.summaries.is_empty() {
            None
        } else {
            Some(summaries.build_recorder())
        };
        let mut recorder = PrometheusRecorder::new(
            main,
            summaries_recorder,
            builder.summaries,
            builder.fractional,
            builder.redaction,
            builder.exemplars.then(Arc::default),
        );
        recorder.global_labels = global_labels;
        recorder.buckets = buckets;
        let labels: Vec<Label> = builder
            .service
            .build_info_labels()
            .into_iter()
            .map(|(k, v)| Label::new(k, v))
            .collect();
        recorder
            .register_gauge(
                &Key::from_parts(catalog::AUTOTEL_BUILD_INFO.name(), labels),
                &metadata(),
            )
            .set(1.0);
        Ok(recorder)
    }

    /// Wraps the upstream recorders; `summaries` receives the histograms
    /// named in `summary_names`.
    fn new(
        main: UpstreamRecorder,
        summaries: Option<UpstreamRecorder>,
        summary_names: HashSet<String>,
        fractional: HashSet<String>,
        redaction: Redaction,
        exemplars: Option<Arc<ExemplarStore>>,
    ) -> Self {
        let handle = PrometheusHandle {
            main: main.handle(),
            summaries: summaries.as_ref().map(UpstreamRecorder::handle),
            fractional: Arc::new(Mutex::new(fractional)),
            exemplars,
        };
        let recorder = Self {
            main,
            summaries,
            summary_names,
            redaction,
            handle,
            global_labels: Vec::new(),
            buckets: HashMap::new(),
        };
        recorder.describe_catalog();
        recorder
    }

    /// A handle that renders what this recorder holds.
    pub fn handle(&self) -> PrometheusHandle {
        self.handle.clone()
    }

    fn describe_catalog(&self) {
        for def in catalog::ALL {
            let name = KeyName::from_const_str(def.name());
            let description = SharedString::const_str(def.description());
            match def.kind() {
                MetricKind::Counter => self.describe_counter(name, def.unit(), description),
                MetricKind::Histogram => self.describe_histogram(name, def.unit(), description),
                _ => self.describe_gauge(name, def.unit(), description),
            }
        }
    }

    /// `key` as the text format can carry it (see [`labels`]); what is left
    /// out is counted.
    fn prepare(&self, key: &Key) -> Prepared {
        let (prepared, dropped) = labels::prepare(key, &self.redaction);
        if let Some(reason) = dropped {
            self.main
                .register_counter(&labels::dropped_key(reason), &metadata())
                .increment(1);
        }
        prepared
    }

    fn summary_recorder(&self, name: &str) -> Option<&UpstreamRecorder> {
        self.summaries
            .as_ref()
            .filter(|_| self.summary_names.contains(name))
    }

    /// The bucket bounds of the histogram `name`, as the upstream recorder
    /// was told them.
    fn bounds(&self, name: &str) -> Arc<[f64]> {
        let name = sanitize_metric_name(name);
        match self.buckets.get(&name) {
            Some(bounds) => bounds.clone(),
            None => Arc::from(buckets::for_metric(&name)),
        }
    }

    fn note_fractional(&self, name: &str) {
        if is_fractional_counter(name) {
            let mut set = self
                .handle
                .fractional
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !set.contains(name) {
                set.insert(name.to_owned());
            }
        }
    }
}

impl Recorder for PrometheusRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.main.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.note_fractional(key.as_str());
        self.main.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(summaries) = self.summary_recorder(key.as_str()) {
            summaries.describe_histogram(key.clone(), unit, description.clone());
        }
        self.main.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match self.prepare(key) {
            Prepared::AsIs => self.main.register_counter(key, metadata),
            Prepared::Changed(key) => self.main.register_counter(&key, metadata),
            Prepared::Refused => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.note_fractional(key.name());
        match self.prepare(key) {
            Prepared::AsIs => self.main.register_gauge(key, metadata),
            Prepared::Changed(key) => self.main.register_gauge(&key, metadata),
            Prepared::Refused => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let summary = self.summary_recorder(key.name());
        let recorder = summary.unwrap_or(&self.main);
        let prepared = self.prepare(key);
        let key = match &prepared {
            Prepared::AsIs => key,
            Prepared::Changed(key) => key,
            Prepared::Refused => return Histogram::noop(),
        };
        match (&self.handle.exemplars, summary) {
            (Some(store), None) => store.histogram(
                key,
                &self.global_labels,
                || self.bounds(key.name()),
                || recorder.register_histogram(key, metadata),
            ),
            _ => recorder.register_histogram(key, metadata),
        }
    }
}

/// Renders the metrics of a [`PrometheusRecorder`] in the Prometheus text
/// format, or in the OpenMetrics text format with exemplars.
#[derive(Debug, Clone)]
pub struct PrometheusHandle {
    main: UpstreamHandle,
    summaries: Option<UpstreamHandle>,
    fractional: Arc<Mutex<HashSet<String>>>,
    exemplars: Option<Arc<ExemplarStore>>,
}

impl PrometheusHandle {
    /// The current scrape, in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut text = self.main.render();
        if let Some(summaries) = &self.summaries {
            text.push_str(&summaries.render());
        }
        let fractional = self
            .fractional
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for name in fractional.iter() {
            let gauge = format!("# TYPE {name} gauge\n");
            if text.contains(&gauge) {
                text = text.replace(&gauge, &format!("# TYPE {name} counter\n"));
            }
        }
        text
    }

    /// The current scrape in the OpenMetrics text format 1.0.0, with an
    /// exemplar on each histogram bucket that received an observation
    /// carrying one (see [`autotel_layers::exemplar`]). Each bucket's
    /// exemplar is a uniform pick among those of the observations since the
    /// previous call.
    pub fn render_openmetrics(&self) -> String {
        let text = self.render();
        let exemplars = self
            .exemplars
            .as_ref()
            .map(|store| store.series())
            .unwrap_or_default();
        openmetrics::from_prometheus_text(&text, &exemplars)
    }

    /// Folds recent histogram samples into their buckets and summaries.
    /// The endpoint does this every few seconds; call it yourself when you
    /// render without an endpoint.
    pub fn run_upkeep(&self) {
        self.main.run_upkeep();
        if let Some(summaries) = &self.summaries {
            summaries.run_upkeep();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceInfo;
    use crate::prometheus::Prometheus;

    fn recorder(builder: Prometheus) -> PrometheusRecorder {
        builder.without_listener().build_recorder().unwrap()
    }

    #[test]
    fn fractional_counter_is_typed_as_counter() {
        let recorder = recorder(Prometheus::new());
        metrics::with_local_recorder(&recorder, || {
            metrics::gauge!("pipeline_cost_usd_total", "pipeline_name" => "etl").set(0.25);
            metrics::gauge!("app_cost_usd_total").set(1.5);
        });
        let text = recorder.handle().render();
        assert!(
            text.contains("# TYPE pipeline_cost_usd_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("pipeline_cost_usd_total{pipeline_name=\"etl\"} 0.25\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE app_cost_usd_total gauge\n"), "{text}");
    }

    #[test]
    fn histograms_have_buckets_by_unit_and_summaries_on_request() {
        let recorder = recorder(
            Prometheus::new()
                .with_summary("step_duration_seconds")
                .with_buckets("batch_size", &[10.0, 20.0])
                .unwrap(),
        );
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("span_duration_seconds").record(0.003);
            metrics::histogram!("pipeline_memory_bytes").record(2000.0);
            metrics::histogram!("step_duration_seconds").record(1.0);
            metrics::histogram!("batch_size").record(15.0);
            metrics::histogram!("queue_depth").record(3.0);
        });
        let text = recorder.handle().render();
        assert!(
            text.contains("span_duration_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("span_duration_seconds_bucket{le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("pipeline_memory_bytes_bucket{le=\"4096\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE step_duration_seconds summary\n"),
            "{text}"
        );
        assert!(
            text.contains("step_duration_seconds{quantile=\"0.99\"}"),
            "{text}"
        );
        assert!(!text.contains("step_duration_seconds_bucket"), "{text}");
        assert!(text.contains("batch_size_bucket{le=\"20\"} 1\n"), "{text}");
        assert!(text.contains("queue_depth_bucket{le=\"5\"} 1\n"), "{text}");
    }

    #[test]
    fn catalog_metrics_have_help_and_build_info_is_one() {
        let recorder = recorder(
            Prometheus::new()
                .with_service(ServiceInfo::new("svc").with_version("1.2.3"))
                .with_global_label("region", "eu"),
        );
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("span_calls_total", "span_name" => "a", "status" => "ok")
                .increment(2);
        });
        let text = recorder.handle().render();
        assert!(
            text.contains("# HELP span_calls_total Spans closed, by span name and status\n"),
            "{text}"
        );
        assert!(
            text.contains("span_calls_total{region=\"eu\",span_name=\"a\",status=\"ok\"} 2\n"),
            "{text}"
        );
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!(
                "autotel_build_info{{region=\"eu\",service_name=\"svc\",service_version=\"1.2.3\",\
                 deployment_environment=\"development\",autotel_version=\"{version}\"}} 1\n"
            )),
            "{text}"
        );
    }
}
