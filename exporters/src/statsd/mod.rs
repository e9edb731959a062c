//! StatsD and DogStatsD: the push recorder's snapshots as UDP or Unix
//! datagrams to a StatsD server or the Datadog agent.
//!
//! - **Plain StatsD** (Etsy statsd, Graphite, Telegraf's statsd input): no
//!   tags, so each label is folded into the metric name as two segments,
//!   `name.label.value`, in the order the labels were recorded, with every
//!   character but ASCII letters, digits and `-` written as `_`:
//!   `span_calls_total{span_name="GET /", status="ok"}` leaves as
//!   `span_calls_total.span_name.GET__.status.ok`. The push recorder's cap
//!   on label sets per metric ([`Push::with_max_series`](crate::push::Push::with_max_series),
//!   2,000 by default) bounds how many names this makes. Histograms are
//!   timers (`ms`), in milliseconds when the metric is in seconds.
//! - **DogStatsD** (the Datadog agent): labels are tags (`#label:value`),
//!   with the global tags of `DD_TAGS` and the unified service tags
//!   (`env`, `service`, `version`, from `DD_ENV`, `DD_SERVICE`,
//!   `DD_VERSION` or the service's own name, environment and version), and
//!   histograms are distributions (`d`), so Datadog computes percentiles
//!   across every host.
//!
//! Counters and gauges are aggregated in process and sent once per interval
//! (counters as the increment over the interval); histogram values are sent
//! one per line with their sample rate (`@0.25`) when the interval recorded
//! more than the push recorder's budget. Lines are packed into datagrams of
//! at most 1,432 bytes over UDP and 8,192 bytes over a Unix socket; a line
//! longer than that is dropped and counted in
//! `autotel_dropped_total{signal="metrics", reason="too_large"}`. Sockets
//! never block: a send that fails (no agent at a Unix socket, a full agent
//! buffer) is counted in `autotel_export_errors_total{exporter="statsd"}`.
//!
//! cadence carries the datagrams: its buffered UDP and Unix-datagram sinks
//! pack the lines. The lines themselves are written here, because cadence's
//! builders take whole milliseconds for timers and integers for counts, and
//! spans shorter than a millisecond and counters of dollars need fractions.
//!
//! ```no_run
//! use autotel_exporters::push::Push;
//! use autotel_exporters::statsd::StatsD;
//!
//! let dogstatsd = StatsD::dogstatsd()
//!     .with_address("unix:///var/run/datadog/dsd.socket")?
//!     .with_tag("team:payments")
//!     .build()?;
//! let (recorder, _guard) = Push::new().with_exporter(dogstatsd).build()?;
//! metrics::set_global_recorder(recorder)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
mod env;
mod lines;

pub use address::{Address, DEFAULT_PORT};

use std::io;
use std::net::{ToSocketAddrs, UdpSocket};

use autotel_layers::catalog;
use cadence::{BufferedUdpMetricSink, MetricSink};

use crate::ServiceInfo;
use crate::env::InvalidSetting;
use crate::push::{ExportError, PushExporter, Snapshot};
use lines::{Flavor, Lines};

/// Builder of a StatsD or DogStatsD exporter.
#[derive(Debug, Clone)]
pub struct StatsD {
    flavor: Flavor,
    address: Address,
    prefix: String,
    tags: Vec<String>,
    packet_size: Option<usize>,
}

impl StatsD {
    /// A plain StatsD exporter to `127.0.0.1:8125`, no prefix.
    pub fn new() -> Self {
        Self {
            flavor: Flavor::StatsD,
            address: Address::Udp {
                host: "127.0.0.1".into(),
                port: DEFAULT_PORT,
            },
            prefix: String::new(),
            tags: Vec::new(),
            packet_size: None,
        }
    }

    /// A DogStatsD exporter to the Datadog agent at `127.0.0.1:8125`.
    pub fn dogstatsd() -> Self {
        Self {
            flavor: Flavor::DogStatsD,
            ..Self::new()
        }
    }

    /// A plain StatsD exporter configured from `STATSD_HOST`, `STATSD_PORT`
    /// and `STATSD_PREFIX`, or `None` when `STATSD_HOST` is not set.
    ///
    /// # Errors
    ///
    /// When a variable holds an unusable value.
    pub fn from_env() -> Result<Option<Self>, InvalidSetting> {
        env::statsd()
    }

    /// A DogStatsD exporter configured from Datadog's variables, or `None`
    /// when neither `DD_DOGSTATSD_URL` nor `DD_AGENT_HOST` is set:
    /// `DD_DOGSTATSD_URL` (`udp://host:port`, `unix:///path`), or
    /// `DD_AGENT_HOST` and `DD_DOGSTATSD_PORT`; tags from `DD_TAGS`
    /// (separated by commas or spaces), `DD_ENV`, `DD_SERVICE` and
    /// `DD_VERSION`.
    ///
    /// # Errors
    ///
    /// When a variable holds an unusable value.
    pub fn dogstatsd_from_env() -> Result<Option<Self>, InvalidSetting> {
        env::dogstatsd()
    }

    /// Sends to `address`: `udp://host:port`, `host:port`, `host`, or
    /// `unix:///path` (DogStatsD over a Unix datagram socket).
    ///
    /// # Errors
    ///
    /// When `address` is none of these.
    pub fn with_address(mut self, address: &str) -> Result<Self, InvalidSetting> {
        self.address = Address::parse("StatsD::with_address", address)?;
        Ok(self)
    }

    /// Sends over UDP to `host` (a name or an IP address) and `port`.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>, port: u16) -> Self {
        self.address = Address::Udp {
            host: host.into(),
            port,
        };
        self
    }

    /// Puts `prefix` and a `.` before every metric name. Defaults to none.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Adds a tag (`key:value`, or a bare `key`) to every DogStatsD line.
    /// Plain StatsD has no tags and ignores it.
    #[must_use]
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        let tag = tag.into();
        if !tag.trim().is_empty() {
            self.tags.push(tag.trim().to_owned());
        }
        self
    }

    /// Adds the unified service tags `service`, `env` and `version` of
    /// `service`, each unless a tag with that key is already set (for
    /// example from `DD_SERVICE`).
    #[must_use]
    pub fn with_service(mut self, service: &ServiceInfo) -> Self {
        for (key, value) in [
            ("service", service.name()),
            ("env", service.environment()),
            ("version", service.version()),
        ] {
            let set = self
                .tags
                .iter()
                .any(|tag| tag.split(':').next() == Some(key));
            if !set && !value.is_empty() {
                self.tags.push(format!("{key}:{value}"));
            }
        }
        self
    }

    /// Fills datagrams up to `bytes`. Defaults to
    /// [`Address::packet_size`]: 1,432 over UDP, 8,192 over a Unix socket.
    ///
    /// # Errors
    ///
    /// When `bytes` is under 64 or over 65,507 (the largest UDP payload).
    pub fn with_packet_size(mut self, bytes: usize) -> Result<Self, InvalidSetting> {
        if !(64..=65_507).contains(&bytes) {
            return Err(InvalidSetting::new(
                "StatsD::with_packet_size",
                bytes.to_string(),
                "is not between 64 and 65507 bytes",
            ));
        }
        self.packet_size = Some(bytes);
        Ok(self)
    }

    /// Where the exporter sends.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Opens the socket.
    ///
    /// # Errors
    ///
    /// When the host name does not resolve or no socket can be opened.
    pub fn build(self) -> Result<StatsDExporter, StatsDError> {
        let packet_size = self
            .packet_size
            .unwrap_or_else(|| self.address.packet_size());
        let sink = open(&self.address, packet_size).map_err(|source| StatsDError {
            address: self.address.to_string(),
            source,
        })?;
        Ok(StatsDExporter {
            lines: Lines::new(self.flavor, &self.prefix, &self.tags),
            sink,
            address: self.address,
            packet_size,
            line: String::new(),
        })
    }
}

impl Default for StatsD {
    fn default() -> Self {
        Self::new()
    }
}

fn open(address: &Address, packet_size: usize) -> io::Result<Box<dyn MetricSink + Send + Sync>> {
    match address {
        Address::Udp { host, port } => {
            let target = (host.as_str(), *port)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "the host name has no address")
                })?;
            let local = if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let socket = UdpSocket::bind(local)?;
            socket.set_nonblocking(true)?;
            let sink = BufferedUdpMetricSink::with_capacity(target, socket, packet_size)
                .map_err(io::Error::other)?;
            Ok(Box::new(sink))
        }
        #[cfg(unix)]
        Address::Unix(path) => {
            let socket = std::os::unix::net::UnixDatagram::unbound()?;
            socket.set_nonblocking(true)?;
            Ok(Box::new(cadence::BufferedUnixMetricSink::with_capacity(
                path,
                socket,
                packet_size,
            )))
        }
        #[cfg(not(unix))]
        Address::Unix(_) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix sockets exist only on Unix systems",
        )),
    }
}

/// The exporter's socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "the StatsD exporter could not open a socket to {address}: {source}; check the host name \
     and that the program may open sockets"
)]
pub struct StatsDError {
    address: String,
    #[source]
    source: io::Error,
}

/// A StatsD or DogStatsD exporter, to add to a [`Push`](crate::push::Push).
pub struct StatsDExporter {
    lines: Lines,
    sink: Box<dyn MetricSink + Send + Sync>,
    address: Address,
    packet_size: usize,
    line: String,
}

impl std::fmt::Debug for StatsDExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsDExporter")
            .field("address", &self.address)
            .field("packet_size", &self.packet_size)
            .finish_non_exhaustive()
    }
}

/// Failed sends of one export.
#[derive(Default)]
struct Failures {
    count: u64,
    first: Option<io::Error>,
}

impl Failures {
    fn add(&mut self, result: io::Result<()>) {
        if let Err(error) = result {
            self.count += 1;
            self.first.get_or_insert(error);
        }
    }
}

impl StatsDExporter {
    fn failed(&self, failures: Failures) -> Result<(), ExportError> {
        let Some(first) = failures.first else {
            return Ok(());
        };
        let reason = match first.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => "unavailable",
            io::ErrorKind::WouldBlock => "overloaded",
            _ => "io",
        };
        let hint = match reason {
            "unavailable" => "check that the agent runs and listens there",
            "overloaded" => "the agent reads more slowly than the program sends",
            _ => "check the address",
        };
        Err(ExportError::new(
            reason,
            failures.count,
            format!(
                "StatsD export to {} failed ({reason}): {first}; {hint}",
                self.address
            ),
        ))
    }
}

impl PushExporter for StatsDExporter {
    fn name(&self) -> &'static str {
        "statsd"
    }

    fn export(&mut self, snapshot: &Snapshot) -> Result<(), ExportError> {
        let Self {
            lines,
            sink,
            packet_size,
            line,
            ..
        } = self;
        let mut failures = Failures::default();
        let mut too_large = 0;
        for series in snapshot.series() {
            lines.write(series, line, |text| {
                // The line and its `\n` must fit in one datagram.
                if text.len() >= *packet_size {
                    too_large += 1;
                } else {
                    failures.add(sink.emit(text).map(drop));
                }
            });
        }
        failures.add(sink.flush());
        if too_large > 0 {
            metrics::counter!(
                catalog::AUTOTEL_DROPPED_TOTAL.name(),
                "signal" => "metrics",
                "reason" => "too_large"
            )
            .increment(too_large);
        }
        self.failed(failures)
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        let mut failures = Failures::default();
        failures.add(self.sink.flush());
        self.failed(failures)
    }
}
