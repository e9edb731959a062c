//! The Prometheus exporter: a `metrics` recorder and an HTTP `/metrics` endpoint.
//!
//! Built on [`metrics_exporter_prometheus`], which renders the text format. On
//! top of it, this exporter:
//!
//! - exposes histograms with buckets by default, chosen by unit suffix
//!   ([`buckets::for_metric`]), and summaries (p50, p90, p95, p99) for the
//!   metrics named with [`Prometheus::with_summary`];
//! - describes every metric of the catalog ([`autotel_layers::catalog`]), so each
//!   one has `HELP` and `TYPE` lines;
//! - publishes fractional counters (`pipeline_cost_usd_total`), which the
//!   facade records as a gauge holding the running total, as `TYPE counter`;
//! - publishes `autotel_build_info` with the [`ServiceInfo`] labels;
//! - keeps an exemplar per histogram bucket (the trace and span ids of a
//!   sampled span that fell into it, see [`autotel_layers::exemplar`]), chosen
//!   by reservoir sampling among the observations between two OpenMetrics
//!   scrapes, and shows them in the OpenMetrics exposition
//!   ([`PrometheusHandle::render_openmetrics`]; off with
//!   [`Prometheus::with_exemplars`]);
//! - serves `/metrics` over HTTP/1.1 with hyper, on its own thread and tokio
//!   runtime (the program needs none), bound when [`Prometheus::build`]
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
//!
//! # The endpoint
//!
//! - `GET /metrics` answers the scrape in the OpenMetrics text format 1.0.0
//!   (`Content-Type: application/openmetrics-text; version=1.0.0;
//!   charset=utf-8`, with exemplars) when the scraper's `Accept` prefers it,
//!   as Prometheus's does, weighing `q` values as Prometheus's own
//!   negotiation does; otherwise in the text format 0.0.4 (`text/plain;
//!   version=0.0.4; charset=utf-8`, without exemplars). Either is
//!   gzip-compressed when the scraper's `Accept-Encoding` allows gzip
//!   (Prometheus always does), and `Vary: Accept, Accept-Encoding` says so;
//!   `HEAD /metrics` answers the same head without the body. Other paths get 404; other
//!   methods get 405 with `Allow: GET, HEAD`.
//! - Connections are served concurrently and kept alive between requests.
//!   At most [`DEFAULT_MAX_CONNECTIONS`] are open at once
//!   ([`Prometheus::with_max_connections`]); a connection past the cap is
//!   closed at once and counted in
//!   `autotel_dropped_total{signal="scrape", reason="connection_limit"}`.
//! - A request head (request line and headers) larger than
//!   [`MAX_REQUEST_HEAD`] bytes is answered with 431 and the connection
//!   closed, counted with `reason="request_head_too_large"`.
//! - A request head must arrive whole within the header-read timeout,
//!   [`DEFAULT_HEADER_READ_TIMEOUT`] ([`Prometheus::with_header_read_timeout`]);
//!   the same timeout is the idle keep-alive timeout: a kept-alive connection
//!   that sends no new request within it is closed. A connection is closed
//!   after [`DEFAULT_MAX_CONNECTION_AGE`] ([`Prometheus::with_max_connection_age`])
//!   once its current answer is sent, or one
//!   header-read timeout later if the client does not read it. So no client,
//!   however slow, holds a connection for long.
//! - Dropping the [`PrometheusGuard`] closes the listener and every
//!   connection, within a bounded time (the longest a single render takes).
//!
//! # Bind address and authentication
//!
//! The endpoint listens on `0.0.0.0:9464` without authentication unless told
//! otherwise: [`Prometheus::with_listen_address`] (for example `127.0.0.1:9464`
//! to accept local scrapers only), and [`Prometheus::with_basic_auth`] or
//! [`Prometheus::with_bearer_token`] to require credentials. A scrape without
//! them, or with others, gets 401 with a `WWW-Authenticate` challenge. The
//! credentials are compared in constant time and never appear in `Debug`
//! output, logs or errors. With autotel-presets, the variables
//! `PROMETHEUS_BIND` (an IP, or IP:port), `PROMETHEUS_BASIC_AUTH`
//! (`user:password`) and `PROMETHEUS_BEARER_TOKEN` set the same; they are
//! read by [`env::prometheus_address`](crate::env::prometheus_address) and
//! [`env::prometheus_credentials`](crate::env::prometheus_credentials).
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use autotel_exporters::prometheus::Prometheus;
//!
//! let _server = Prometheus::new()
//!     .with_listen_address(SocketAddr::from(([127, 0, 0, 1], 9464)))
//!     .with_bearer_token("change-me")?
//!     .install()?;
//! # Ok::<(), autotel_exporters::prometheus::PrometheusError>(())
//! ```

mod auth;
mod exemplars;
mod labels;
mod negotiate;
mod openmetrics;
mod recorder;
mod server;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use autotel_layers::redact::Redaction;

use crate::{ServiceInfo, buckets};
use auth::Auth;
pub use recorder::{PrometheusHandle, PrometheusRecorder};
pub use server::PrometheusGuard;

/// The former name of [`PrometheusGuard`].
#[deprecated(
    since = "0.1.1",
    note = "renamed to PrometheusGuard: every drop guard is named ...Guard"
)]
pub type PrometheusServer = PrometheusGuard;
use server::{Endpoint, ScrapeDrops};

/// The port Prometheus exporters listen on by convention for OpenTelemetry-style
/// services.
pub const DEFAULT_PORT: u16 = 9464;

/// How many connections the endpoint keeps open at once by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// How long a client may take to send a whole request head, and how long a
/// kept-alive connection may stay idle, by default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request head (request line and headers) the endpoint reads.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// How long a connection lives, by default, before it is closed after its
/// current answer.
pub const DEFAULT_MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);

/// A configuration error or a failure to start the Prometheus exporter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrometheusError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error(
        "cannot listen for Prometheus scrapes on {address}: {source}; \
         choose another address with Prometheus::with_listen_address \
         (or PROMETHEUS_BIND / PROMETHEUS_PORT)"
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
    /// A limit of the endpoint was given a value it cannot take.
    #[error("{setting}({value}) is not usable: {expected}")]
    Limit {
        /// The builder method.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// Credentials for the endpoint were not usable. The message never
    /// contains them.
    #[error("the credentials given to {setting} are not usable: {reason}; the secret is not shown")]
    Auth {
        /// The builder method.
        setting: &'static str,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The endpoint thread or its runtime could not be started.
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
    auth: Option<Auth>,
    max_connections: usize,
    header_read_timeout: Duration,
    max_connection_age: Duration,
    global_labels: Vec<(String, String)>,
    service: ServiceInfo,
    summaries: HashSet<String>,
    buckets: Vec<(String, Vec<f64>)>,
    fractional: HashSet<String>,
    redaction: Redaction,
    exemplars: bool,
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
            auth: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connection_age: DEFAULT_MAX_CONNECTION_AGE,
            global_labels: Vec::new(),
            service: ServiceInfo::default(),
            summaries: HashSet::new(),
            buckets: Vec::new(),
            fractional: HashSet::new(),
            redaction: Redaction::default(),
            exemplars: true,
        }
    }

    /// Sets the address the `/metrics` endpoint listens on; port 0 picks a
    /// free port (see [`PrometheusGuard::local_addr`]).
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

    /// Requires HTTP basic authentication with `user` and `password` on
    /// every request, and replaces a bearer token set before.
    /// Defaults to no authentication.
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Auth`] when the user name is empty or contains `:`,
    /// or either contains a control character.
    pub fn with_basic_auth(mut self, user: &str, password: &str) -> Result<Self, PrometheusError> {
        self.auth = Some(Auth::basic(user, password)?);
        Ok(self)
    }

    /// Requires `Authorization: Bearer <token>` on every request, and
    /// replaces basic authentication set before. Defaults to no
    /// authentication.
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Auth`] when the token is empty or holds characters
    /// other than letters, digits and `-._~+/=`.
    pub fn with_bearer_token(mut self, token: &str) -> Result<Self, PrometheusError> {
        self.auth = Some(Auth::bearer(token)?);
        Ok(self)
    }

    /// Sets how many connections the endpoint keeps open at once; one more
    /// is closed as soon as it is accepted, and counted in
    /// `autotel_dropped_total{signal="scrape", reason="connection_limit"}`.
    /// Defaults to [`DEFAULT_MAX_CONNECTIONS`] (256).
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Limit`] when `max` is 0.
    pub fn with_max_connections(mut self, max: usize) -> Result<Self, PrometheusError> {
        if max == 0 {
            return Err(PrometheusError::Limit {
                setting: "Prometheus::with_max_connections",
                value: max.to_string(),
                expected: "at least one connection must be allowed",
            });
        }
        self.max_connections = max;
        Ok(self)
    }

    /// Sets how long a client may take to send a whole request head; a
    /// kept-alive connection idle for as long is closed too.
    /// Defaults to [`DEFAULT_HEADER_READ_TIMEOUT`] (10 s).
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Limit`] when `timeout` is shorter than 100 ms or
    /// longer than 60 s.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Result<Self, PrometheusError> {
        if timeout < Duration::from_millis(100) || timeout > Duration::from_secs(60) {
            return Err(PrometheusError::Limit {
                setting: "Prometheus::with_header_read_timeout",
                value: format!("{timeout:?}"),
                expected: "the timeout must be from 100 ms to 60 s",
            });
        }
        self.header_read_timeout = timeout;
        Ok(self)
    }

    /// Sets how long a connection lives: past it, the connection is closed
    /// once its current answer is sent, or one header-read timeout later if
    /// the client does not read the answer. Scrapers open a new one.
    /// Defaults to [`DEFAULT_MAX_CONNECTION_AGE`] (60 s).
    ///
    /// # Errors
    ///
    /// [`PrometheusError::Limit`] when `age` is shorter than 1 s or longer
    /// than one hour.
    pub fn with_max_connection_age(mut self, age: Duration) -> Result<Self, PrometheusError> {
        if age < Duration::from_secs(1) || age > Duration::from_secs(3600) {
            return Err(PrometheusError::Limit {
                setting: "Prometheus::with_max_connection_age",
                value: format!("{age:?}"),
                expected: "the age must be from 1 s to 1 hour",
            });
        }
        self.max_connection_age = age;
        Ok(self)
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

    /// Sets the rule that hides label values: a label whose name matches
    /// (`api_key`, `token`, ...) is exported as `[REDACTED]`, as in the logs
    /// and the OTLP export. Defaults to [`Redaction::default`].
    #[must_use]
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Publishes the gauge `metric` as a counter: the gauge holds the running
    /// total of a fractional counter. Defaults to the catalog's fractional
    /// counters (`pipeline_cost_usd_total`, also under a prefix).
    #[must_use]
    pub fn with_fractional_counter(mut self, metric: impl Into<String>) -> Self {
        self.fractional.insert(metric.into());
        self
    }

    /// Keeps exemplars for the histogram buckets (one per bucket per
    /// series, see [`autotel_layers::exemplar`]) and shows them in the
    /// OpenMetrics exposition. Without them, histograms record straight into
    /// metrics-exporter-prometheus. Defaults to `true`.
    #[must_use]
    pub fn with_exemplars(mut self, exemplars: bool) -> Self {
        self.exemplars = exemplars;
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
    pub fn install(self) -> Result<PrometheusGuard, PrometheusError> {
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
    pub fn build(self) -> Result<(PrometheusRecorder, PrometheusGuard), PrometheusError> {
        let endpoint = self.address.map(|address| Endpoint {
            address,
            auth: self.auth.clone(),
            max_connections: self.max_connections,
            header_read_timeout: self.header_read_timeout,
            max_connection_age: self.max_connection_age,
        });
        let recorder = self.build_recorder()?;
        let drops = endpoint.as_ref().map(|_| ScrapeDrops::register(&recorder));
        let server = PrometheusGuard::start(endpoint.zip(drops), recorder.handle())?;
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
        PrometheusRecorder::from_builder(self)
    }
}

#[cfg(test)]
mod tests;
