//! The metric catalog: every metric autotel records, declared once.
//!
//! Recording code, `describe_*` calls, documentation, dashboards and alert
//! rules all take names from here. Each entry carries the Prometheus name,
//! the kind, the unit, a description and the label names.
//!
//! # Fractional counters
//!
//! The `metrics` facade counts in integers, but `pipeline_cost_usd_total`
//! counts fractional dollars. autotel keeps the exact running total in fixed
//! point (nano-dollars) and publishes it through the facade as a gauge holding
//! that total, which only ever grows. [`MetricKind::FractionalCounter`] marks
//! such metrics so that exporters publish them as counters (Prometheus `TYPE
//! counter`, an OpenTelemetry floating-point sum).

use metrics::Unit;

/// What kind of instrument a catalog metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A monotonic integer counter.
    Counter,
    /// A monotonic counter of fractional values, recorded through the facade as
    /// a gauge holding the running total (see the [module docs](self)).
    FractionalCounter,
    /// A value that goes up and down.
    Gauge,
    /// A distribution of observed values.
    Histogram,
}

/// One metric of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricDef {
    name: &'static str,
    kind: MetricKind,
    unit: Option<Unit>,
    description: &'static str,
    labels: &'static [&'static str],
}

impl MetricDef {
    const fn new(
        name: &'static str,
        kind: MetricKind,
        unit: Option<Unit>,
        description: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            kind,
            unit,
            description,
            labels,
        }
    }

    /// The Prometheus name of the metric, without any configured prefix.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The instrument kind.
    pub const fn kind(&self) -> MetricKind {
        self.kind
    }

    /// The unit, when the metric has one.
    pub const fn unit(&self) -> Option<Unit> {
        self.unit
    }

    /// A one-line description, used as Prometheus `HELP` text.
    pub const fn description(&self) -> &'static str {
        self.description
    }

    /// The names of the labels that every series of this metric carries.
    /// Span metrics add the configured dimensions after these.
    pub const fn labels(&self) -> &'static [&'static str] {
        self.labels
    }

    /// Describes the metric to the current `metrics` recorder under `name`
    /// (the catalog name, or the name with a configured prefix).
    pub fn describe_as(&self, name: &str) {
        let name = metrics::KeyName::from(name.to_owned());
        let description = metrics::SharedString::const_str(self.description);
        metrics::with_recorder(|recorder| match self.kind {
            MetricKind::Counter => recorder.describe_counter(name, self.unit, description),
            MetricKind::FractionalCounter | MetricKind::Gauge => {
                recorder.describe_gauge(name, self.unit, description)
            }
            MetricKind::Histogram => recorder.describe_histogram(name, self.unit, description),
        });
    }

    /// Describes the metric to the current `metrics` recorder.
    pub fn describe(&self) {
        self.describe_as(self.name);
    }
}

/// The label names of the catalog's metrics, one constant each: the entries
/// below and the code that records them take their label names from here.
pub mod label {
    /// The name of a span.
    pub const SPAN_NAME: &str = "span_name";
    /// Whether a span or a run ended `ok` or with an `error`.
    pub const STATUS: &str = "status";
    /// The type of the error a span or a step ended with.
    pub const ERROR_TYPE: &str = "error_type";
    /// The name of a pipeline (the `pipeline.name` field of its run).
    pub const PIPELINE_NAME: &str = "pipeline_name";
    /// The name of a pipeline step (its `step.name` field).
    pub const STEP_NAME: &str = "step_name";
    /// The method of an HTTP request.
    pub const HTTP_REQUEST_METHOD: &str = "http_request_method";
    /// The route template an HTTP request matched.
    pub const HTTP_ROUTE: &str = "http_route";
    /// The status code of an HTTP response.
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http_response_status_code";
    /// The RPC system of a call (`grpc`).
    pub const RPC_SYSTEM: &str = "rpc_system";
    /// The full name of the service a call went to (`helloworld.Greeter`).
    pub const RPC_SERVICE: &str = "rpc_service";
    /// The method of a call (`SayHello`).
    pub const RPC_METHOD: &str = "rpc_method";
    /// The gRPC status code a call ended with, as a number (`0` for `OK`).
    pub const RPC_GRPC_STATUS_CODE: &str = "rpc_grpc_status_code";
    /// The host an HTTP client sent a request to.
    pub const SERVER_ADDRESS: &str = "server_address";
    /// The name of the service.
    pub const SERVICE_NAME: &str = "service_name";
    /// The version of the service.
    pub const SERVICE_VERSION: &str = "service_version";
    /// The environment the service runs in.
    pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment_environment";
    /// The version of autotel.
    pub const AUTOTEL_VERSION: &str = "autotel_version";
    /// The signal concerned: `traces`, `metrics` or `logs`.
    pub const SIGNAL: &str = "signal";
    /// Why something was dropped or failed.
    pub const REASON: &str = "reason";
    /// The exporter concerned.
    pub const EXPORTER: &str = "exporter";
    /// The name of the metric concerned.
    pub const METRIC: &str = "metric";
    /// The name of a benchmark.
    pub const BENCHMARK_NAME: &str = "benchmark_name";
    /// The statistic of a benchmark figure (`mean`, `p50`, `p99`, ...).
    pub const STATISTIC: &str = "statistic";
}

macro_rules! catalog {
    ($( $(#[$doc:meta])* $ident:ident = ($name:literal, $kind:ident, $unit:expr, $desc:literal, [$($label:ident),* $(,)?]); )*) => {
        $(
            $(#[$doc])*
            pub const $ident: MetricDef =
                MetricDef::new($name, MetricKind::$kind, $unit, $desc, &[$(label::$label),*]);
        )*

        /// Every metric of the catalog, in declaration order.
        pub const ALL: &[MetricDef] = &[$($ident),*];
    };
}

catalog! {
    /// Spans closed, by span name and status (`ok` / `error`).
    SPAN_CALLS_TOTAL = ("span_calls_total", Counter, None,
        "Spans closed, by span name and status", [SPAN_NAME, STATUS]);
    /// Wall time of spans from creation to close.
    SPAN_DURATION_SECONDS = ("span_duration_seconds", Histogram, Some(Unit::Seconds),
        "Wall time of spans from creation to close", [SPAN_NAME, STATUS]);
    /// Spans that closed with an error, by span name and error type.
    SPAN_ERRORS_TOTAL = ("span_errors_total", Counter, None,
        "Spans that closed with an error, by error type", [SPAN_NAME, ERROR_TYPE]);

    /// Pipeline runs finished, by pipeline and status.
    PIPELINE_EXECUTIONS_TOTAL = ("pipeline_executions_total", Counter, None,
        "Pipeline runs finished, by status", [PIPELINE_NAME, STATUS]);
    /// Wall time of pipeline runs.
    PIPELINE_DURATION_SECONDS = ("pipeline_duration_seconds", Histogram, Some(Unit::Seconds),
        "Wall time of pipeline runs", [PIPELINE_NAME]);
    /// Pipeline runs in progress.
    ACTIVE_PIPELINES = ("active_pipelines", Gauge, None,
        "Pipeline runs in progress", [PIPELINE_NAME]);
    /// Wall time of pipeline steps.
    STEP_DURATION_SECONDS = ("step_duration_seconds", Histogram, Some(Unit::Seconds),
        "Wall time of pipeline steps", [PIPELINE_NAME, STEP_NAME]);
    /// Pipeline steps that failed, by error type.
    STEP_ERRORS_TOTAL = ("step_errors_total", Counter, None,
        "Pipeline steps that failed, by error type", [PIPELINE_NAME, STEP_NAME, ERROR_TYPE]);
    /// Items processed by pipeline runs.
    ITEMS_PROCESSED_TOTAL = ("items_processed_total", Counter, None,
        "Items processed by pipeline runs", [PIPELINE_NAME]);
    /// Calls to external APIs made by pipeline runs.
    API_CALLS_TOTAL = ("api_calls_total", Counter, None,
        "Calls to external APIs made by pipeline runs", [PIPELINE_NAME]);
    /// Money spent by pipeline runs, in US dollars (a fractional counter).
    PIPELINE_COST_USD_TOTAL = ("pipeline_cost_usd_total", FractionalCounter, None,
        "Money spent by pipeline runs, in US dollars", [PIPELINE_NAME]);
    /// Memory allocated by the last pipeline run.
    PIPELINE_MEMORY_BYTES = ("pipeline_memory_bytes", Gauge, Some(Unit::Bytes),
        "Memory allocated by the last pipeline run", [PIPELINE_NAME]);
    /// CPU use of the last pipeline run, in percent of one core.
    PIPELINE_CPU_PERCENT = ("pipeline_cpu_percent", Gauge, Some(Unit::Percent),
        "CPU use of the last pipeline run, in percent of one core", [PIPELINE_NAME]);
    /// Items waiting in the queue of a pipeline, as the application reports
    /// them (see [`queue`](crate::queue)), or a `queue_depth` field inside a
    /// pipeline run.
    PIPELINE_QUEUE_DEPTH = ("pipeline_queue_depth", Gauge, None,
        "Items waiting in the queue of a pipeline", [PIPELINE_NAME]);

    /// Duration of HTTP server requests.
    HTTP_SERVER_REQUEST_DURATION_SECONDS = ("http_server_request_duration_seconds", Histogram,
        Some(Unit::Seconds), "Duration of HTTP server requests",
        [HTTP_REQUEST_METHOD, HTTP_ROUTE, HTTP_RESPONSE_STATUS_CODE]);
    /// Size of HTTP server response bodies, when known as the response head
    /// is sent (a `Content-Length`, a body of known size).
    HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES = ("http_server_response_body_size_bytes", Histogram,
        Some(Unit::Bytes), "Size of HTTP server response bodies",
        [HTTP_REQUEST_METHOD, HTTP_ROUTE, HTTP_RESPONSE_STATUS_CODE]);
    /// HTTP server requests in progress.
    HTTP_SERVER_ACTIVE_REQUESTS = ("http_server_active_requests", Gauge, None,
        "HTTP server requests in progress", [HTTP_REQUEST_METHOD]);
    /// Duration of HTTP client requests, until the response head arrives;
    /// `error_type` is the status code of answers of 400 or more, or why no
    /// answer came (`timeout`, `connection_refused`, ...), and empty for
    /// successes.
    HTTP_CLIENT_REQUEST_DURATION_SECONDS = ("http_client_request_duration_seconds", Histogram,
        Some(Unit::Seconds), "Duration of HTTP client requests",
        [HTTP_REQUEST_METHOD, SERVER_ADDRESS, HTTP_RESPONSE_STATUS_CODE, ERROR_TYPE]);
    /// HTTP client requests in progress.
    HTTP_CLIENT_ACTIVE_REQUESTS = ("http_client_active_requests", Gauge, None,
        "HTTP client requests in progress", [HTTP_REQUEST_METHOD, SERVER_ADDRESS]);

    /// Duration of gRPC calls served, from the request to the status,
    /// streamed responses included.
    RPC_SERVER_DURATION_SECONDS = ("rpc_server_duration_seconds", Histogram,
        Some(Unit::Seconds), "Duration of gRPC calls served, from the request to the status",
        [RPC_SYSTEM, RPC_SERVICE, RPC_METHOD, RPC_GRPC_STATUS_CODE]);
    /// Duration of gRPC calls made, from the request to the status, streamed
    /// responses included.
    RPC_CLIENT_DURATION_SECONDS = ("rpc_client_duration_seconds", Histogram,
        Some(Unit::Seconds), "Duration of gRPC calls made, from the request to the status",
        [RPC_SYSTEM, RPC_SERVICE, RPC_METHOD, RPC_GRPC_STATUS_CODE]);

    /// CPU time of the process, user and system (a fractional counter).
    PROCESS_CPU_SECONDS_TOTAL = ("process_cpu_seconds_total", FractionalCounter, Some(Unit::Seconds),
        "CPU time of the process, user and system", []);
    /// Resident memory of the process.
    PROCESS_RESIDENT_MEMORY_BYTES = ("process_resident_memory_bytes", Gauge, Some(Unit::Bytes),
        "Resident memory of the process", []);
    /// Virtual memory of the process.
    PROCESS_VIRTUAL_MEMORY_BYTES = ("process_virtual_memory_bytes", Gauge, Some(Unit::Bytes),
        "Virtual memory of the process", []);
    /// Open file descriptors of the process.
    PROCESS_OPEN_FDS = ("process_open_fds", Gauge, None,
        "Open file descriptors of the process", []);
    /// Maximum number of open file descriptors.
    PROCESS_MAX_FDS = ("process_max_fds", Gauge, None,
        "Maximum number of open file descriptors", []);
    /// Threads of the process.
    PROCESS_THREADS = ("process_threads", Gauge, None, "Threads of the process", []);
    /// Start time of the process since the Unix epoch.
    PROCESS_START_TIME_SECONDS = ("process_start_time_seconds", Gauge, Some(Unit::Seconds),
        "Start time of the process since the Unix epoch", []);
    /// CPU use of the whole system, from 0 to 1.
    SYSTEM_CPU_USAGE_RATIO = ("system_cpu_usage_ratio", Gauge, None,
        "CPU use of the whole system, from 0 to 1", []);
    /// Memory in use on the system.
    SYSTEM_MEMORY_USED_BYTES = ("system_memory_used_bytes", Gauge, Some(Unit::Bytes),
        "Memory in use on the system", []);
    /// Total memory of the system.
    SYSTEM_MEMORY_TOTAL_BYTES = ("system_memory_total_bytes", Gauge, Some(Unit::Bytes),
        "Total memory of the system", []);
    /// System load average over one minute.
    SYSTEM_LOAD_AVERAGE_1M = ("system_load_average_1m", Gauge, None,
        "System load average over one minute", []);
    /// Heap memory currently allocated through the counting allocator.
    PROCESS_HEAP_LIVE_BYTES = ("process_heap_live_bytes", Gauge, Some(Unit::Bytes),
        "Heap memory currently allocated", []);
    /// Heap allocations made since start.
    PROCESS_ALLOCATIONS_TOTAL = ("process_allocations_total", Counter, None,
        "Heap allocations made since start", []);
    /// Bytes allocated on the heap since start.
    PROCESS_ALLOCATED_BYTES_TOTAL = ("process_allocated_bytes_total", Counter, Some(Unit::Bytes),
        "Bytes allocated on the heap since start", []);

    /// Always 1; its labels describe the build and the service.
    AUTOTEL_BUILD_INFO = ("autotel_build_info", Gauge, None,
        "Build and service information, always 1",
        [SERVICE_NAME, SERVICE_VERSION, DEPLOYMENT_ENVIRONMENT, AUTOTEL_VERSION]);
    /// Signals dropped by autotel, by signal and reason.
    AUTOTEL_DROPPED_TOTAL = ("autotel_dropped_total", Counter, None,
        "Telemetry dropped by autotel, by signal and reason", [SIGNAL, REASON]);
    /// Export attempts that failed, by exporter, signal and reason
    /// (`timeout`, `unavailable`, `tls`, `protocol`, `rejected`, ...).
    AUTOTEL_EXPORT_ERRORS_TOTAL = ("autotel_export_errors_total", Counter, None,
        "Export attempts that failed, by exporter, signal and reason",
        [EXPORTER, SIGNAL, REASON]);
    /// Field, attribute or label values cut to the configured length limit.
    AUTOTEL_TRUNCATED_VALUES_TOTAL = ("autotel_truncated_values_total", Counter, None,
        "Field, attribute or label values cut to the length limit, by signal", [SIGNAL]);
    /// Recordings sent to an overflow series because a metric reached its
    /// cap on distinct label sets.
    AUTOTEL_SERIES_OVERFLOW_TOTAL = ("autotel_series_overflow_total", Counter, None,
        "Recordings sent to the overflow series of a metric past its label-set cap", [METRIC]);

    /// Worker threads of the tokio runtime.
    TOKIO_WORKERS = ("tokio_workers", Gauge, None,
        "Worker threads of the tokio runtime", []);
    /// Tasks alive in the tokio runtime.
    TOKIO_ALIVE_TASKS = ("tokio_alive_tasks", Gauge, None,
        "Tasks alive in the tokio runtime", []);
    /// Tasks waiting in the global queue of the tokio runtime.
    TOKIO_GLOBAL_QUEUE_DEPTH = ("tokio_global_queue_depth", Gauge, None,
        "Tasks waiting in the global queue of the tokio runtime", []);

    /// Wall time of one iteration of a benchmark, by statistic (`mean`,
    /// `min`, `max`, `p50`, `p90`, `p95`, `p99`).
    BENCHMARK_DURATION_SECONDS = ("benchmark_duration_seconds", Gauge, Some(Unit::Seconds),
        "Wall time of one iteration of a benchmark, by statistic", [BENCHMARK_NAME, STATISTIC]);
    /// CPU time of one iteration of a benchmark, on average.
    BENCHMARK_CPU_SECONDS = ("benchmark_cpu_seconds", Gauge, Some(Unit::Seconds),
        "CPU time of one iteration of a benchmark, on average", [BENCHMARK_NAME]);
    /// Bytes allocated by one iteration of a benchmark, on average.
    BENCHMARK_ALLOCATED_BYTES = ("benchmark_allocated_bytes", Gauge, Some(Unit::Bytes),
        "Bytes allocated by one iteration of a benchmark, on average", [BENCHMARK_NAME]);
    /// Iterations measured by a benchmark, warm-up excluded.
    BENCHMARK_ITERATIONS = ("benchmark_iterations", Gauge, None,
        "Iterations measured by a benchmark, warm-up excluded", [BENCHMARK_NAME]);
    /// Items a benchmark processed per second of wall time.
    BENCHMARK_ITEMS_PER_SECOND = ("benchmark_items_per_second", Gauge, None,
        "Items a benchmark processed per second of wall time", [BENCHMARK_NAME]);
    /// Calls to external APIs made by a benchmark.
    BENCHMARK_API_CALLS = ("benchmark_api_calls", Gauge, None,
        "Calls to external APIs made by a benchmark", [BENCHMARK_NAME]);
    /// Money a benchmark spent, in US dollars.
    BENCHMARK_COST_USD = ("benchmark_cost_usd", Gauge, None,
        "Money a benchmark spent, in US dollars", [BENCHMARK_NAME]);
    /// Money a benchmark spent per item processed, in US dollars.
    BENCHMARK_COST_PER_ITEM_USD = ("benchmark_cost_per_item_usd", Gauge, None,
        "Money a benchmark spent per item processed, in US dollars", [BENCHMARK_NAME]);
    /// When a benchmark's result was exported, in seconds since the Unix epoch.
    BENCHMARK_TIMESTAMP_SECONDS = ("benchmark_timestamp_seconds", Gauge, Some(Unit::Seconds),
        "When the benchmark result was exported, since the Unix epoch", [BENCHMARK_NAME]);
}

/// Looks a metric up by its catalog name.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().find(|def| def.name == name)
}

/// Describes every catalog metric to the current `metrics` recorder.
pub fn describe_all() {
    for def in ALL {
        def.describe();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_follow_prometheus_conventions() {
        let mut seen = HashSet::new();
        for def in ALL {
            assert!(seen.insert(def.name), "{} declared twice", def.name);
            assert!(
                def.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{} is not snake_case",
                def.name
            );
            let counter_like = matches!(
                def.kind,
                MetricKind::Counter | MetricKind::FractionalCounter
            );
            assert_eq!(
                def.name.ends_with("_total"),
                counter_like,
                "{}: only counters end in _total",
                def.name
            );
            if def.unit == Some(Unit::Seconds) && !counter_like {
                assert!(def.name.ends_with("_seconds"), "{}", def.name);
            }
            if def.unit == Some(Unit::Bytes) && def.kind != MetricKind::Counter {
                assert!(def.name.ends_with("_bytes"), "{}", def.name);
            }
        }
    }

    #[test]
    fn find_knows_every_metric() {
        assert_eq!(find("span_calls_total"), Some(&SPAN_CALLS_TOTAL));
        assert_eq!(find("no_such_metric"), None);
        assert_eq!(
            find("pipeline_cost_usd_total").map(MetricDef::kind),
            Some(MetricKind::FractionalCounter)
        );
    }
}
