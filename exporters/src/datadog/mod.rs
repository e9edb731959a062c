//! The Datadog metrics API without an agent: the push recorder's snapshots
//! posted as series to `https://api.<DD_SITE>/api/v1/series`.
//!
//! `DD_API_KEY` turns it on ([`Datadog::from_env`]); `DD_SITE` picks the
//! Datadog site (`datadoghq.com` by default; `datadoghq.eu`,
//! `us5.datadoghq.com`, ...), and `DD_URL`, as the Datadog agent names it,
//! replaces the base URL altogether (a proxy, or a local receiver in
//! tests: the path `/api/v1/series` is added to it). `DD_ENV`,
//! `DD_SERVICE`, `DD_VERSION` and `DD_TAGS` tag every series, as they do
//! DogStatsD; `DD_HOSTNAME` sets the series' host.
//!
//! # What each metric becomes
//!
//! Every interval (10 s by default) makes one set of series, each with
//! one point stamped with the end of the interval:
//!
//! - a counter is a `count` of its increase over the interval, with the
//!   interval in seconds (`"interval": 10`); a fractional counter such as
//!   `pipeline_cost_usd_total` is a `count` with a fractional value;
//! - a gauge is a `gauge` of its last value;
//! - a histogram is sent pre-aggregated, as the Datadog agent aggregates a
//!   DogStatsD histogram: `<name>.count` and `<name>.sum` as `count`s, exact
//!   however many values were recorded, and `<name>.avg` (exact),
//!   `<name>.min`, `<name>.max` (exact), `<name>.median`,
//!   `<name>.95percentile` and `<name>.99percentile` as `gauge`s.
//!
//! Labels are tags (`label:value`), followed by the global tags; names are
//! sent as recorded, after the prefix and a `.` if one is set
//! ([`Datadog::with_prefix`]).
//!
//! Why pre-aggregated and not distributions: the series API has no
//! distribution type (distribution points go to another endpoint, in a
//! format that Datadog-compatible receivers such as VictoriaMetrics
//! refuse), and `count` and `sum` stay exact and add up across hosts and
//! intervals, which `sum / count` averages and rates need. The percentiles
//! are those of each host and interval, computed from the values the push
//! recorder keeps (all of them up to its budget, a uniform sample past it):
//! Datadog cannot merge them into a percentile across hosts. For
//! percentiles across every host, send histograms as DogStatsD
//! distributions to an agent (`StatsD::dogstatsd`, feature `statsd`).
//! The agent sends `.count` as a `rate` per second; here it is a `count`,
//! so `.as_count()` totals are exact.
//!
//! # Requests
//!
//! The series of one interval are gzip-compressed JSON, in as few requests
//! as the API's documented limits allow: at most 3,200,000 bytes as sent and
//! under 62 MiB (62,914,560 bytes) decompressed; a series that alone is
//! larger is dropped and counted in `autotel_dropped_total{signal="metrics",
//! reason="too_large"}`. The API key goes in the `DD-API-KEY` header, never
//! in a URL, a log line, an error or `Debug` output.
//!
//! A request that fails with HTTP 5xx, 408 or 429, or without an answer
//! (connection refused, timeout), is tried again after an exponential
//! backoff (250 ms doubling up to 4 s, with jitter) or after the answer's
//! `Retry-After`, for as long as the interval lasts: one interval's export
//! never takes longer than the interval itself, so it never delays the
//! next. Other answers are not retried: 401 and 403 mean the API key was
//! refused, 404 a wrong site or URL, other 4xx a refused body. Redirections
//! are not followed, so the key goes to no other host. Each request has a
//! timeout (10 s by default, [`Datadog::with_timeout`]). Failures are
//! counted in `autotel_export_errors_total{exporter="datadog",
//! signal="metrics", reason}` (`unavailable`, `throttled`, `timeout`,
//! `rejected`, `too_large`, `tls`) and reported at most once a minute per
//! reason; a request that still fails when the interval ends is dropped,
//! and the next interval sends its own series.
//!
//! TLS is rustls with the system's certificate authorities. Connections go
//! straight to the URL: `HTTPS_PROXY` and the like are not read.
//!
//! On shutdown the last interval's series leave within the push recorder's
//! shutdown timeout ([`Push::with_shutdown_timeout`](crate::push::Push::with_shutdown_timeout),
//! 5 s by default); retries still under way then are abandoned.
//!
//! ```no_run
//! use autotel_exporters::datadog::Datadog;
//! use autotel_exporters::push::Push;
//!
//! // DD_API_KEY turns it on; `None` when it is not set.
//! if let Some(datadog) = Datadog::from_env()? {
//!     let (recorder, _guard) = Push::new()
//!         .with_exporter(datadog.with_tag("team:payments").build()?)
//!         .build()?;
//!     metrics::set_global_recorder(recorder)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod env;
mod send;
mod series;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use autotel_layers::catalog;
use bytes::Bytes;

use crate::ServiceInfo;
use crate::env::{InvalidSetting, REDACTED, redact_url};
use crate::global_tags::GlobalTags;
use crate::push::{ExportError, PushExporter, Snapshot};
use send::Sender;
use series::{Limits, Objects, Writer};

/// The Datadog site of [`Datadog::new`].
pub const DEFAULT_SITE: &str = "datadoghq.com";
/// How long one request may take, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builder of the Datadog API exporter.
#[derive(Clone)]
pub struct Datadog {
    api_key: Option<String>,
    site: String,
    /// A base URL replacing `https://api.<site>`, without a trailing slash.
    url: Option<String>,
    tags: GlobalTags,
    prefix: String,
    host: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Datadog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datadog")
            .field("url", &self.url())
            .field("api_key", &self.api_key.as_ref().map(|_| REDACTED))
            .field("tags", &self.tags.as_slice())
            .field("prefix", &self.prefix)
            .field("host", &self.host)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Datadog {
    /// An exporter to the site `datadoghq.com`, without an API key yet
    /// ([`with_api_key`](Self::with_api_key)), tags, prefix or host.
    pub fn new() -> Self {
        Self {
            api_key: None,
            site: DEFAULT_SITE.to_owned(),
            url: None,
            tags: GlobalTags::default(),
            prefix: String::new(),
            host: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The exporter configured from Datadog's variables, or `None` when
    /// `DD_API_KEY` is not set: `DD_API_KEY`, `DD_SITE`, `DD_URL` (a base
    /// URL replacing `https://api.<DD_SITE>`), `DD_HOSTNAME`, and the tags
    /// of `DD_ENV`, `DD_SERVICE`, `DD_VERSION` and `DD_TAGS` (separated by
    /// commas or spaces).
    ///
    /// # Errors
    ///
    /// When a variable holds an unusable value (the key is never shown).
    pub fn from_env() -> Result<Option<Self>, InvalidSetting> {
        env::from_vars(crate::env::var)
    }

    /// Sends with the API key `key`. Required; `DD_API_KEY` sets it in
    /// [`from_env`](Self::from_env).
    ///
    /// # Errors
    ///
    /// When `key` is empty or has characters an API key has not (the error
    /// does not show it).
    pub fn with_api_key(mut self, key: &str) -> Result<Self, InvalidSetting> {
        self.api_key = Some(env::api_key("Datadog::with_api_key", key)?);
        Ok(self)
    }

    /// Sends to the Datadog site `site` (`datadoghq.com`,
    /// `us3.datadoghq.com`, `us5.datadoghq.com`, `datadoghq.eu`,
    /// `ap1.datadoghq.com`, `ddog-gov.com`, ...), at
    /// `https://api.<site>/api/v1/series`. Defaults to [`DEFAULT_SITE`].
    ///
    /// # Errors
    ///
    /// When `site` is not a domain name (a URL goes to
    /// [`with_url`](Self::with_url)).
    pub fn with_site(mut self, site: &str) -> Result<Self, InvalidSetting> {
        self.site = env::site_name("Datadog::with_site", site)?;
        Ok(self)
    }

    /// Sends to `url` + `/api/v1/series` instead of the site's API: a
    /// proxy, or a local receiver (VictoriaMetrics serves the API under
    /// `http://host:8428/datadog`). Defaults to `https://api.<site>`.
    ///
    /// # Errors
    ///
    /// When `url` is not an `http://` or `https://` URL with a host, or has
    /// a query or a fragment.
    pub fn with_url(mut self, url: &str) -> Result<Self, InvalidSetting> {
        self.url = Some(env::base_url("Datadog::with_url", url)?);
        Ok(self)
    }

    /// Adds a tag (`key:value`, or a bare `key`) to every series.
    #[must_use]
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.add(&tag.into());
        self
    }

    /// Adds the unified service tags `service`, `env` and `version` of
    /// `service`, each unless a tag with that key is already set (for
    /// example from `DD_SERVICE`).
    #[must_use]
    pub fn with_service(mut self, service: &ServiceInfo) -> Self {
        self.tags.add_service(service);
        self
    }

    /// Puts `prefix` and a `.` before every metric name. Defaults to none.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets the `host` of every series; a blank one sets none. Defaults to
    /// none (`DD_HOSTNAME` in [`from_env`](Self::from_env)).
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        let host = host.into();
        let host = host.trim();
        self.host = (!host.is_empty()).then(|| host.to_owned());
        self
    }

    /// Gives each request at most `timeout` to be answered. Defaults to
    /// [`DEFAULT_TIMEOUT`]; an interval shorter than it bounds it too.
    ///
    /// # Errors
    ///
    /// When `timeout` is under one millisecond.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, InvalidSetting> {
        if timeout < Duration::from_millis(1) {
            return Err(InvalidSetting::new(
                "Datadog::with_timeout",
                format!("{timeout:?}"),
                "is shorter than 1 ms; give a timeout of at least 1 ms",
            ));
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// The URL the series are posted to, without credentials.
    pub fn url(&self) -> String {
        redact_url(&self.series_url())
    }

    fn series_url(&self) -> String {
        match &self.url {
            Some(base) => format!("{base}/api/v1/series"),
            None => format!("https://api.{}/api/v1/series", self.site),
        }
    }

    /// Builds the exporter and its HTTP client.
    ///
    /// # Errors
    ///
    /// When no API key is set, or the HTTP client cannot be built.
    pub fn build(self) -> Result<DatadogExporter, DatadogError> {
        let Some(key) = &self.api_key else {
            return Err(DatadogError::NoApiKey);
        };
        let url = self.series_url();
        let roots = if url.starts_with("https://") {
            crate::https::system_roots()
        } else {
            rustls::RootCertStore::empty()
        };
        let tls = crate::https::client_config(Arc::new(roots))
            .map_err(|error| DatadogError::Client {
                reason: format!("rustls refused its configuration: {error}"),
            })?
            .with_no_client_auth();
        let builder = reqwest::blocking::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("autotel/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls);
        let client = crate::https::build_client(builder, "autotel-datadog-client")
            .map_err(|reason| DatadogError::Client { reason })?;
        Ok(DatadogExporter {
            writer: Writer::new(&self.prefix, self.tags.as_slice(), self.host.as_deref()),
            objects: Objects::default(),
            sender: Sender::new(client, url.clone(), key, self.timeout),
            shown: redact_url(&url),
            limits: series::API_LIMITS,
        })
    }
}

impl Default for Datadog {
    fn default() -> Self {
        Self::new()
    }
}

/// The Datadog API exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatadogError {
    /// No API key was given.
    #[error(
        "the Datadog exporter has no API key; set DD_API_KEY or call Datadog::with_api_key \
         (the keys are in Datadog's Organization Settings > API Keys)"
    )]
    NoApiKey,
    /// The HTTP client could not be built.
    #[error(
        "the Datadog exporter could not build its HTTP client: {reason}; check that the \
         program may start threads and open sockets"
    )]
    Client {
        /// Why.
        reason: String,
    },
}

/// The Datadog API exporter, to add to a [`Push`](crate::push::Push).
pub struct DatadogExporter {
    writer: Writer,
    objects: Objects,
    sender: Sender,
    /// The series URL without credentials, for reports.
    shown: String,
    limits: Limits,
}

impl std::fmt::Debug for DatadogExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogExporter")
            .field("url", &self.shown)
            .field("api_key", &REDACTED)
            .finish_non_exhaustive()
    }
}

impl PushExporter for DatadogExporter {
    fn name(&self) -> &'static str {
        "datadog"
    }

    fn export(&mut self, snapshot: &Snapshot) -> Result<(), ExportError> {
        let deadline = Instant::now() + snapshot.interval();
        let time = snapshot
            .time()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let interval = snapshot.interval().as_secs_f64().round().max(1.0) as u64;
        self.objects.clear();
        for series in snapshot.series() {
            self.writer.write(series, time, interval, &mut self.objects);
        }
        if self.objects.is_empty() {
            return Ok(());
        }
        let (bodies, too_large) = series::bodies(&self.objects, self.limits);
        if too_large > 0 {
            metrics::counter!(
                catalog::AUTOTEL_DROPPED_TOTAL.name(),
                "signal" => "metrics",
                "reason" => "too_large"
            )
            .increment(too_large);
        }
        let requests = bodies.len();
        let (mut failed, mut lost) = (0, 0);
        let mut first = None;
        for body in bodies {
            if let Err(failure) = self.sender.send(&Bytes::from(body.gzip), deadline) {
                failed += 1;
                lost += body.series;
                first.get_or_insert(failure);
            }
        }
        let Some(failure) = first else {
            return Ok(());
        };
        let share = if requests > 1 {
            format!(
                " ({failed} of {requests} requests failed, carrying {lost} of {} series)",
                self.objects.len()
            )
        } else {
            String::new()
        };
        Err(ExportError::new(
            failure.reason,
            failed,
            format!(
                "Datadog export to {} failed ({}): {}",
                self.shown,
                failure.reason,
                failure.message(&share)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_api_key() {
        let datadog = Datadog::new()
            .with_api_key("0123456789abcdef")
            .unwrap()
            .with_url("https://user:pw@proxy.example.com/dd/")
            .unwrap();
        let shown = format!("{datadog:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(!shown.contains("pw@"), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
        assert_eq!(
            datadog.url(),
            "https://[REDACTED]@proxy.example.com/dd/api/v1/series"
        );
        let exporter = datadog.build().unwrap();
        let shown = format!("{exporter:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[test]
    fn setters_check_their_values() {
        assert!(matches!(
            Datadog::new().build().unwrap_err(),
            DatadogError::NoApiKey
        ));
        let error = Datadog::new().with_api_key("  ").unwrap_err();
        assert_eq!(error.setting(), "Datadog::with_api_key");
        let error = Datadog::new()
            .with_site("https://datadoghq.eu")
            .unwrap_err();
        assert_eq!(error.setting(), "Datadog::with_site");
        let error = Datadog::new().with_url("datadoghq.eu").unwrap_err();
        assert_eq!(error.setting(), "Datadog::with_url");
        let error = Datadog::new().with_timeout(Duration::ZERO).unwrap_err();
        assert_eq!(error.setting(), "Datadog::with_timeout");
        let eu = Datadog::new().with_site("datadoghq.eu").unwrap();
        assert_eq!(eu.url(), "https://api.datadoghq.eu/api/v1/series");
        assert_eq!(Datadog::new().with_host("  ").host, None);
    }
}
