//! The embedded metric format exporter: builder, destinations, export.

mod agent;
mod document;
mod env;
mod histogram;

pub use agent::{AgentEndpoint, DEFAULT_AGENT_PORT};

use std::io::{self, Write};
use std::time::Duration;

use super::names::Naming;
use crate::ServiceInfo;
use crate::env::InvalidSetting;
use crate::push::{ExportError, PushExporter, Snapshot};
use agent::{Agent, Unsent};
use document::Format;

/// How long sending to the agent may take per export, by default.
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest line on standard output, a writer or a TCP connection: the
/// 256 KiB a CloudWatch Logs event may hold.
const MAX_LINE: usize = 256 * 1024;
/// The longest line over UDP: the largest datagram, less its `\n`.
const MAX_DATAGRAM_LINE: usize = 65_507 - 1;

/// Builder of the CloudWatch embedded metric format (EMF) exporter.
///
/// Each interval, the series of each label set leave as one JSON object on
/// one line (split past 100 metrics or 256 KiB):
///
/// ```text
/// {"_aws":{"CloudWatchMetrics":[{"Dimensions":[["span_name","status"]],
///   "Metrics":[{"Name":"span_calls_total","StorageResolution":60,"Unit":"Count"},
///              {"Name":"span_duration_seconds","StorageResolution":60,"Unit":"Seconds"}],
///   "Namespace":"checkout"}],"Timestamp":1750000000123},
///  "span_calls_total":7,"span_name":"GET /orders","status":"ok",
///  "span_duration_seconds":{"Count":7,"Counts":[3,4],"Max":0.25,"Min":0.125,
///   "Sum":1.375,"Values":[0.125,0.25]}}
/// ```
///
/// (one line on the wire; wrapped here). Histograms carry up to 100
/// distinct values with their counts, and the exact count, sum, minimum and
/// maximum, so that CloudWatch can compute percentiles over any period and
/// any number of hosts; with more than 100 distinct values, neighbours are
/// merged into 100 groups of about equal size. A statistic set alone would
/// be smaller but gives no percentiles.
///
/// ```no_run
/// use autotel_exporters::cloudwatch::Emf;
/// use autotel_exporters::push::Push;
///
/// // Lines to the CloudWatch agent; without an endpoint they go to stdout.
/// let emf = Emf::new()
///     .with_namespace("Shop/Checkout")?
///     .with_agent_endpoint("tcp://127.0.0.1:25888")?
///     .build();
/// let (recorder, _guard) = Push::new().with_exporter(emf).build()?;
/// metrics::set_global_recorder(recorder)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Emf {
    naming: Naming,
    destination: Destination,
    log_group: Option<String>,
    log_stream: Option<String>,
    high_resolution: bool,
    timeout: Duration,
}

enum Destination {
    Stdout,
    Writer(Box<dyn Write + Send>),
    Agent(AgentEndpoint),
}

impl std::fmt::Debug for Emf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emf")
            .field("namespace", &self.namespace())
            .field("destination", &self.destination())
            .field("log_group", &self.log_group)
            .field("log_stream", &self.log_stream)
            .field("high_resolution", &self.high_resolution)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for Emf {
    fn default() -> Self {
        Self::new()
    }
}

impl Emf {
    /// An EMF exporter writing to standard output, its namespace the service
    /// name.
    pub fn new() -> Self {
        Self {
            naming: Naming::default(),
            destination: Destination::Stdout,
            log_group: None,
            log_stream: None,
            high_resolution: false,
            timeout: DEFAULT_AGENT_TIMEOUT,
        }
    }

    /// An EMF exporter configured from the environment, or `None` when
    /// neither `AWS_EMF_NAMESPACE` nor `AWS_EMF_AGENT_ENDPOINT` is set:
    /// `AWS_EMF_AGENT_ENDPOINT` (`tcp://host:port`, `udp://host:port`;
    /// standard output when unset), `AWS_EMF_NAMESPACE`,
    /// `AWS_EMF_SERVICE_NAME` (the namespace when `AWS_EMF_NAMESPACE` is
    /// unset), `AWS_EMF_LOG_GROUP_NAME` and `AWS_EMF_LOG_STREAM_NAME` (for
    /// the agent).
    ///
    /// # Errors
    ///
    /// When a variable holds an unusable value.
    pub fn from_env() -> Result<Option<Self>, InvalidSetting> {
        env::emf()
    }

    /// Puts the metrics in the CloudWatch namespace `namespace`. Defaults
    /// to the service name, with the characters a namespace may not hold
    /// written as `_`.
    ///
    /// # Errors
    ///
    /// When `namespace` is not a CloudWatch namespace: 1 to 255 ASCII
    /// letters, digits and `. _ # : / -`, not starting with `:` or `AWS/`.
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self, InvalidSetting> {
        self.naming
            .set_namespace("Emf::with_namespace", namespace)?;
        Ok(self)
    }

    /// Names the service: the namespace when none is set, and the log
    /// group (`{service}-metrics`) the agent writes to when none is set.
    /// Defaults to the name given to [`with_service`](Self::with_service),
    /// else `unknown_service`.
    #[must_use]
    pub fn with_service_name(mut self, name: &str) -> Self {
        self.naming.set_service(name);
        self
    }

    /// Takes the service name of `service`, unless one is already set (for
    /// example from `AWS_EMF_SERVICE_NAME`).
    #[must_use]
    pub fn with_service(mut self, service: &ServiceInfo) -> Self {
        self.naming.offer_service(service.name());
        self
    }

    /// Writes the lines to standard output, one locked write per export on
    /// the exporter's own thread. This is the default.
    #[must_use]
    pub fn with_stdout(mut self) -> Self {
        self.destination = Destination::Stdout;
        self
    }

    /// Writes the lines to `writer`, for example an
    /// `autotel_layers::writer::NonBlocking` shared with the JSON log layer.
    /// Defaults to standard output.
    #[must_use]
    pub fn with_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.destination = Destination::Writer(Box::new(writer));
        self
    }

    /// Sends the lines to the CloudWatch agent's EMF listener at `endpoint`
    /// (`tcp://host:port` or `udp://host:port`). Defaults to standard
    /// output.
    ///
    /// # Errors
    ///
    /// When `endpoint` is neither form.
    pub fn with_agent_endpoint(self, endpoint: &str) -> Result<Self, InvalidSetting> {
        let endpoint = AgentEndpoint::parse("Emf::with_agent_endpoint", endpoint)?;
        Ok(self.with_agent(endpoint))
    }

    /// Sends the lines to the CloudWatch agent at `endpoint`. Defaults to
    /// standard output.
    #[must_use]
    pub fn with_agent(mut self, endpoint: AgentEndpoint) -> Self {
        self.destination = Destination::Agent(endpoint);
        self
    }

    /// The log group the CloudWatch agent writes the lines to
    /// (`_aws.LogGroupName`). Defaults, with an agent, to
    /// `{service}-metrics`; on standard output to none (Lambda and the
    /// container log drivers choose the group).
    #[must_use]
    pub fn with_log_group(mut self, name: impl Into<String>) -> Self {
        self.log_group = Some(name.into()).filter(|name| !name.trim().is_empty());
        self
    }

    /// The log stream the CloudWatch agent writes the lines to
    /// (`_aws.LogStreamName`). Defaults to none (the agent chooses).
    #[must_use]
    pub fn with_log_stream(mut self, name: impl Into<String>) -> Self {
        self.log_stream = Some(name.into()).filter(|name| !name.trim().is_empty());
        self
    }

    /// Stores the metrics at one-second resolution (`StorageResolution` 1,
    /// billed as high-resolution metrics) rather than one-minute (60).
    /// Defaults to `false`.
    #[must_use]
    pub fn with_high_resolution(mut self, high: bool) -> Self {
        self.high_resolution = high;
        self
    }

    /// How long connecting to the agent and sending one export's lines may
    /// take; lines not sent by then are lost and counted. Defaults to
    /// [`DEFAULT_AGENT_TIMEOUT`]. Standard output and writers are not bounded:
    /// they block the exporter's own thread only.
    ///
    /// # Errors
    ///
    /// When `timeout` is zero.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, InvalidSetting> {
        self.timeout = super::timeout("Emf::with_timeout", timeout)?;
        Ok(self)
    }

    /// The namespace the metrics go to.
    pub fn namespace(&self) -> String {
        self.naming.namespace()
    }

    /// Where the lines go: `stdout`, `writer`, or the agent's endpoint.
    pub fn destination(&self) -> String {
        match &self.destination {
            Destination::Stdout => "stdout".to_owned(),
            Destination::Writer(_) => "writer".to_owned(),
            Destination::Agent(endpoint) => endpoint.to_string(),
        }
    }

    /// The exporter, to add to a [`Push`](crate::push::Push). It opens its
    /// connection or socket when it first sends, and again after a failure,
    /// so an agent that starts after the program loses only what was sent
    /// before.
    pub fn build(self) -> EmfExporter {
        let agent = matches!(self.destination, Destination::Agent(_));
        let log_group = match (&self.log_group, agent) {
            (Some(group), _) => Some(group.clone()),
            (None, true) => Some(format!("{}-metrics", self.naming.service())),
            (None, false) => None,
        };
        let max_line = match &self.destination {
            Destination::Agent(AgentEndpoint::Udp { .. }) => MAX_DATAGRAM_LINE,
            _ => MAX_LINE,
        };
        let format = Format {
            namespace: self.namespace(),
            resolution: if self.high_resolution { 1 } else { 60 },
            log_group,
            log_stream: self.log_stream,
            max_line,
        };
        let sink = match self.destination {
            Destination::Stdout => Sink::Stdout,
            Destination::Writer(writer) => Sink::Writer(writer),
            Destination::Agent(endpoint) => Sink::Agent(Agent::new(endpoint, self.timeout)),
        };
        EmfExporter {
            format,
            sink,
            lines: Vec::new(),
        }
    }
}

enum Sink {
    Stdout,
    Writer(Box<dyn Write + Send>),
    Agent(Agent),
}

impl Sink {
    fn describe(&self) -> String {
        match self {
            Self::Stdout => "standard output".to_owned(),
            Self::Writer(_) => "its writer".to_owned(),
            Self::Agent(agent) => agent.endpoint().to_string(),
        }
    }

    fn send(&mut self, lines: &[String]) -> Result<(), Unsent> {
        match self {
            Self::Stdout => write_all(&mut io::stdout().lock(), lines),
            Self::Writer(writer) => write_all(writer, lines),
            Self::Agent(agent) => agent.send(lines),
        }
    }
}

/// Writes every line, stopping at the first failure.
fn write_all(out: &mut impl Write, lines: &[String]) -> Result<(), Unsent> {
    for (written, line) in lines.iter().enumerate() {
        if let Err(error) = out.write_all(line.as_bytes()) {
            return Err(Unsent {
                lines: (lines.len() - written) as u64,
                error,
            });
        }
    }
    out.flush().map_err(|error| Unsent { lines: 0, error })
}

/// The EMF exporter, to add to a [`Push`](crate::push::Push).
pub struct EmfExporter {
    format: Format,
    sink: Sink,
    /// The lines of the export under way, each ending in `\n`.
    lines: Vec<String>,
}

impl std::fmt::Debug for EmfExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmfExporter")
            .field("namespace", &self.format.namespace)
            .field("destination", &self.sink.describe())
            .finish_non_exhaustive()
    }
}

impl PushExporter for EmfExporter {
    fn name(&self) -> &'static str {
        "cloudwatch_emf"
    }

    fn export(&mut self, snapshot: &Snapshot) -> Result<(), ExportError> {
        let mut lines = std::mem::take(&mut self.lines);
        lines.clear();
        let drops = self.format.lines(snapshot, |mut line| {
            line.push('\n');
            lines.push(line);
        });
        drops.count();
        let sent = self.sink.send(&lines);
        self.lines = lines;
        sent.map_err(|unsent| self.failed(&unsent))
    }
}

impl EmfExporter {
    fn failed(&self, unsent: &Unsent) -> ExportError {
        let (reason, hint) = match unsent.error.kind() {
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::NotFound
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable => (
                "unavailable",
                "check that the CloudWatch agent runs there with its EMF listener on \
                 (\"emf\": {} under logs.metrics_collected in its configuration)",
            ),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => (
                "timeout",
                "the agent reads more slowly than the program sends; check its load, or give \
                 a longer Emf::with_timeout",
            ),
            io::ErrorKind::BrokenPipe if matches!(self.sink, Sink::Stdout) => {
                ("io", "nothing reads standard output any more")
            }
            _ => ("io", "check the destination"),
        };
        ExportError::new(
            reason,
            unsent.lines,
            format!(
                "CloudWatch EMF export to {} failed ({reason}): {}; {} lines lost; {hint}",
                self.sink.describe(),
                unsent.error,
                unsent.lines,
            ),
        )
    }
}

#[cfg(test)]
mod tests;
