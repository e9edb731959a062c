//! The Prometheus exporter: a `metrics` recorder and an HTTP `/metrics` endpoint.
//!
//! Built on [`metrics_exporter_prometheus`]. On top of it, this exporter:
//!
//! - exposes histograms with buckets by default, chosen by unit suffix
//!   ([`buckets::for_metric`]), and summaries (p50, p90, p95, p99) for the
//!   metrics named with [`Prometheus::with_summary`];
//! - describes every metric of the catalog ([`autotel_layers::catalog`]), so each
//!   one has `HELP` and `TYPE` lines;
//! - publishes fractional counters (`pipeline_cost_usd_total`), which the
//!   facade records as a gauge holding the running total, as `TYPE counter`;
//! - publishes `autotel_build_info` with the [`ServiceInfo`] labels;
//! - serves `/metrics` from its own thread, bound when [`Prometheus::build`]
//!   returns, so that an address in use is an error you can handle.
//!
//! ```no_run
//! use autotel_exporters::ServiceInfo;
//! use autotel_exporters::prometheus::Prometheus;
//!
//! let _server = Prometheus::new()
//!     .with_service(ServiceInfo::new("checkout").with_version("1.4.2"))
//!     .with_global_label("region", "eu-west-1")
//!     .install()?;
//! metrics::counter!("span_calls_total", "span_name" => "charge", "status" => "ok").increment(1);
//! # Ok::<(), autotel_exporters::prometheus::PrometheusError>(())
//! ```

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use autotel_layers::catalog::{self, MetricKind};
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder as UpstreamBuilder, PrometheusHandle as UpstreamHandle,
    PrometheusRecorder as UpstreamRecorder,
};

use crate::{ServiceInfo, buckets, is_fractional_counter};

/// The port Prometheus exporters listen on by convention for OpenTelemetry-style
/// services.
pub const DEFAULT_PORT: u16 = 9464;

/// The quantiles of summaries.
const SUMMARY_QUANTILES: &[f64] = &[0.5, 0.9, 0.95, 0.99];

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How long the endpoint waits for a scraper to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request head the endpoint reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// A configuration error or a failure to start the Prometheus exporter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrometheusError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error(
        "cannot listen for Prometheus scrapes on {address}: {source}; \
         choose another address with Prometheus::with_listen_address (or PROMETHEUS_PORT)"
    )]
    Bind {
        /// The address that was asked for.
        address: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Custom histogram buckets were not usable.
    #[error("buckets for metric '{metric}' are not usable: {reason}")]
    Buckets {
        /// The metric the buckets were given for.
        metric: String,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The listener thread could not be started.
    #[error("cannot start the Prometheus endpoint thread: {0}")]
    Thread(std::io::Error),
    /// A global `metrics` recorder was installed before.
    #[error(
        "a global metrics recorder is already installed; use Prometheus::build and compose recorders with Fanout"
    )]
    RecorderAlreadySet,
}

/// Builder of the Prometheus exporter.
#[derive(Debug, Clone)]
pub struct Prometheus {
    address: Option<SocketAddr>,
    global_labels: Vec<(String, String)>,
    service: ServiceInfo,
    summaries: HashSet<String>,
    buckets: Vec<(String, Vec<f64>)>,
    fractional: HashSet<String>,
}

impl Default for Prometheus {
    fn default() -> Self {
        Self::new()
    }
}

impl Prometheus {
    /// A Prometheus exporter with the defaults below.
    pub fn new() -> Self {
        Self {
            address: Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                DEFAULT_PORT,
            )),
            global_labels: Vec::new(),
            service: ServiceInfo::default(),
            summaries: HashSet::new(),
            buckets: Vec::new(),
            fractional: HashSet::new(),
        }
    }

    /// Sets the address the `/metrics` endpoint listens on; port 0 picks a
    /// free port (see [`PrometheusServer::local_addr`]).
    /// Defaults to `0.0.0.0:9464`.
    #[must_use]
    pub fn with_listen_address(mut self, address: impl Into<SocketAddr>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Sets only the port of the listen address. Defaults to `9464`.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        let ip = self
            .address
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        self.address = Some(SocketAddr::new(ip, port));
        self
    }

    /// Adds a label to every series. Defaults to no global labels.
    #[must_use]
    pub fn with_global_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.global_labels.push((key.into(), value.into()));
        self
    }

    /// Sets the service published in `autotel_build_info`.
    /// Defaults to [`ServiceInfo::default`].
    #[must_use]
    pub fn with_service(mut self, service: ServiceInfo) -> Self {
        self.service = service;
        self
    }

    /// Exposes the histogram `metric` as a summary with the p50, p90, p95 and
    /// p99 quantiles instead of buckets. Defaults to buckets for every histogram.
    #[must_use]
    pub fn with_summary(mut self, metric: impl Into<String>) -> Self {
        self.summaries.insert(metric.into());
        self
    }

    /// Uses `boundaries` as the buckets of the histogram `metric`.
    /// Defaults to [`buckets::for_metric`].
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Buckets`] when the boundaries are empty, not finite
    /// or not strictly increasing.
    pub fn with_buckets(
        mut self,
        metric: impl Into<String>,
        boundaries: &[f64],
    ) -> Result<Self, PrometheusError> {
        let metric = metric.into();
        if let Err(reason) = buckets::check(boundaries) {
            return Err(PrometheusError::Buckets { metric, reason });
        }
        self.buckets.push((metric, boundaries.to_vec()));
        Ok(self)
    }

    /// Publishes the gauge `metric` as a counter: the gauge holds the running
    /// total of a fractional counter. Defaults to the catalog's fractional
    /// counters (`pipeline_cost_usd_total`, also under a prefix).
    #[must_use]
    pub fn with_fractional_counter(mut self, metric: impl Into<String>) -> Self {
        self.fractional.insert(metric.into());
        self
    }

    /// Serves `/metrics` on no address: the recorder is only rendered through
    /// [`PrometheusHandle::render`]. Defaults to listening (see
    /// [`with_listen_address`](Self::with_listen_address)).
    #[must_use]
    pub fn without_listener(mut self) -> Self {
        self.address = None;
        self
    }

    /// Builds the recorder, starts the endpoint and installs the recorder as
    /// the global `metrics` recorder. Keep the returned server alive: dropping
    /// it stops the endpoint.
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Bind`] when the address cannot be bound,
    /// [`PrometheusError::RecorderAlreadySet`] when a global recorder exists.
    pub fn install(self) -> Result<PrometheusServer, PrometheusError> {
        let (recorder, server) = self.build()?;
        metrics::set_global_recorder(recorder).map_err(|_| PrometheusError::RecorderAlreadySet)?;
        Ok(server)
    }

    /// Builds the recorder and starts the endpoint (unless
    /// [`without_listener`](Self::without_listener)); the recorder is not
    /// installed, so that it can be composed (see [`crate::fanout`]).
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Bind`] when the address cannot be bound.
    pub fn build(self) -> Result<(PrometheusRecorder, PrometheusServer), PrometheusError> {
        let address = self.address;
        let recorder = self.build_recorder()?;
        let server = PrometheusServer::start(address, recorder.handle())?;
        Ok((recorder, server))
    }

    /// Builds the recorder alone, without an endpoint or upkeep thread: call
    /// [`PrometheusHandle::render`] often enough (at least every few seconds)
    /// for histogram samples not to pile up.
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Buckets`] when custom buckets are not usable.
    pub fn build_recorder(self) -> Result<PrometheusRecorder, PrometheusError> {
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
        for (metric, boundaries) in &self.buckets {
            histograms = histograms
                .set_buckets_for_metric(Matcher::Full(metric.clone()), boundaries)
                .map_err(|e| bucket_error(metric, e))?;
        }
        summaries = summaries
            .set_quantiles(SUMMARY_QUANTILES)
            .map_err(|e| bucket_error("summaries", e))?;
        for (key, value) in &self.global_labels {
            histograms = histograms.add_global_label(key.clone(), value.clone());
            summaries = summaries.add_global_label(key.clone(), value.clone());
        }

        let main = histograms.build_recorder();
        let summaries_recorder = if self.summaries.is_empty() {
            None
        } else {
            Some(summaries.build_recorder())
        };
        let recorder = PrometheusRecorder {
            handle: PrometheusHandle {
                main: main.handle(),
                summaries: summaries_recorder.as_ref().map(UpstreamRecorder::handle),
                fractional: Arc::new(Mutex::new(self.fractional)),
            },
            main,
            summaries: summaries_recorder,
            summary_names: self.summaries,
        };
        recorder.describe_catalog();
        let labels: Vec<Label> = self
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
}

fn metadata() -> Metadata<'static> {
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
    handle: PrometheusHandle,
}

impl PrometheusRecorder {
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

    fn summary_recorder(&self, name: &str) -> Option<&UpstreamRecorder> {
        self.summaries
            .as_ref()
            .filter(|_| self.summary_names.contains(name))
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
        self.main.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.note_fractional(key.name());
        self.main.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match self.summary_recorder(key.name()) {
            Some(summaries) => summaries.register_histogram(key, metadata),
            None => self.main.register_histogram(key, metadata),
        }
    }
}

/// Renders the metrics of a [`PrometheusRecorder`] in the Prometheus text format.
#[derive(Debug, Clone)]
pub struct PrometheusHandle {
    main: UpstreamHandle,
    summaries: Option<UpstreamHandle>,
    fractional: Arc<Mutex<HashSet<String>>>,
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

/// The running `/metrics` endpoint and upkeep thread; dropping it stops both.
#[derive(Debug)]
pub struct PrometheusServer {
    address: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
    upkeep_stop: Option<mpsc::Sender<()>>,
    upkeep: Option<JoinHandle<()>>,
}

impl PrometheusServer {
    fn start(
        address: Option<SocketAddr>,
        handle: PrometheusHandle,
    ) -> Result<Self, PrometheusError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (upkeep_stop, upkeep_rx) = mpsc::channel::<()>();
        let upkeep_handle = handle.clone();
        let upkeep = std::thread::Builder::new()
            .name("autotel-prometheus-upkeep".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = upkeep_rx.recv_timeout(UPKEEP_INTERVAL) {
                    upkeep_handle.run_upkeep();
                }
            })
            .map_err(PrometheusError::Thread)?;
        let mut server = Self {
            address: None,
            stop: stop.clone(),
            listener: None,
            upkeep_stop: Some(upkeep_stop),
            upkeep: Some(upkeep),
        };
        let Some(address) = address else {
            return Ok(server);
        };
        let listener = TcpListener::bind(address)
            .map_err(|source| PrometheusError::Bind { address, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| PrometheusError::Bind { address, source })?;
        server.address = Some(bound);
        server.listener = Some(
            std::thread::Builder::new()
                .name("autotel-prometheus-http".into())
                .spawn(move || serve(&listener, &handle, &stop))
                .map_err(PrometheusError::Thread)?,
        );
        Ok(server)
    }

    /// The address the endpoint listens on (with the port chosen by the
    /// system when port 0 was asked for); `None` without a listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.address
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        drop(self.upkeep_stop.take());
        if let Some(upkeep) = self.upkeep.take() {
            let _ = upkeep.join();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let (Some(address), Some(listener)) = (self.address, self.listener.take()) {
            // Wake the accept loop so that it sees the stop flag.
            let target = match address.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => {
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port())
                }
                IpAddr::V6(ip) if ip.is_unspecified() => {
                    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), address.port())
                }
                _ => address,
            };
            if TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_ok() {
                let _ = listener.join();
            }
        }
    }
}

fn serve(listener: &TcpListener, handle: &PrometheusHandle, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(stream) = stream {
            let _ = answer(stream, handle);
        }
    }
}

/// Answers one HTTP/1.x request and closes the connection.
fn answer(stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Read the rest of the head, bounded, to leave the socket clean for the answer.
    let mut head = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        head += n;
        if n == 0 || line == "\r\n" || line == "\n" || head > MAX_REQUEST_HEAD {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let path = path.split('?').next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", handle.render()),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "not found; metrics are at /metrics\n".to_owned(),
        ),
        _ => ("405 Method Not Allowed", "only GET and HEAD\n".to_owned()),
    };
    let mut out = &stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(body.as_bytes())?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bad_buckets_are_errors_that_name_the_metric() {
        let err = Prometheus::new()
            .with_buckets("batch_size", &[2.0, 1.0])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "buckets for metric 'batch_size' are not usable: boundaries must be strictly increasing"
        );
    }

    #[test]
    fn address_in_use_is_an_error_naming_the_address() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let err = Prometheus::new()
            .with_listen_address(address)
            .build()
            .unwrap_err();
        assert!(matches!(err, PrometheusError::Bind { .. }));
        assert!(err.to_string().contains(&address.to_string()), "{err}");
    }

    #[test]
    fn endpoint_serves_metrics_and_404_elsewhere() {
        let (recorder, server) = Prometheus::new()
            .with_listen_address(SocketAddr::from(([127, 0, 0, 1], 0)))
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || metrics::counter!("hits_total").increment(7));
        let address = server.local_addr().unwrap();
        let get = |path: &str| {
            let mut stream = TcpStream::connect(address).unwrap();
            write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            std::io::Read::read_to_string(&mut stream, &mut out).unwrap();
            out
        };
        let ok = get("/metrics");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("\nhits_total 7\n"), "{ok}");
        assert!(get("/").starts_with("HTTP/1.1 404"));
        drop(server);
        assert!(TcpStream::connect(address).is_err());
    }
}
