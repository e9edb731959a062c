//! Amazon CloudWatch: the push recorder's snapshots as embedded metric
//! format (EMF) lines, or through the `PutMetricData` API.
//!
//! - **EMF** (feature `cloudwatch-emf`, light: serde_json and the standard
//!   library) writes one JSON object per label set per interval, the way
//!   AWS recommends for Lambda, ECS and EKS: on standard output, where the
//!   Lambda runtime or the container's log driver hands it to CloudWatch
//!   Logs, or to the CloudWatch agent's EMF listener over TCP or UDP
//!   (`AWS_EMF_AGENT_ENDPOINT`). CloudWatch Logs extracts the metrics; no
//!   AWS credentials or SDK are needed in the program. See [`Emf`].
//! - **PutMetricData** (feature `cloudwatch`, a heavy build: the AWS SDK
//!   for Rust) sends the metrics to the CloudWatch API with the standard
//!   AWS credential chain, where no log pipeline carries EMF. See
//!   `CloudWatch`.
//!
//! Each is on when its variables say so:
//!
//! ```no_run
//! # #[cfg(all(feature = "cloudwatch-emf", feature = "cloudwatch"))] {
//! use autotel_exporters::ServiceInfo;
//! use autotel_exporters::cloudwatch::{CloudWatch, Emf};
//! use autotel_exporters::push::Push;
//!
//! let service = ServiceInfo::new("checkout");
//! let mut push = Push::new();
//! // AWS_EMF_NAMESPACE or AWS_EMF_AGENT_ENDPOINT set: EMF lines.
//! if let Some(emf) = Emf::from_env()? {
//!     push = push.with_exporter(emf.with_service(&service).build());
//! }
//! // CLOUDWATCH_NAMESPACE set: PutMetricData, region and credentials from
//! // the standard AWS variables.
//! if let Some(api) = CloudWatch::from_env()? {
//!     push = push.with_exporter(api.with_service(&service).build());
//! }
//! let (recorder, _guard) = push.build()?;
//! metrics::set_global_recorder(recorder)?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Both map the push recorder's series the same way:
//!
//! | series | CloudWatch |
//! |---|---|
//! | metric name | metric name (cut at 255 bytes) |
//! | labels | dimensions: at most 30, non-ASCII or control characters as `_` |
//! | counter | its increment over the interval |
//! | fractional counter (`pipeline_cost_usd_total`) | its increment over the interval |
//! | gauge | its last value |
//! | histogram | EMF: values and counts plus exact count, sum, minimum, maximum; API: a statistic set |
//!
//! Units come from the catalog or `describe_*` (`Unit::Seconds` is
//! `Seconds`, `Unit::Bytes` is `Bytes`, ...), else from the name
//! (`_seconds`, `_bytes`, `_percent`), else counters are `Count` and the
//! rest `None`. Values CloudWatch refuses (larger than about 1.17e108 in
//! magnitude, or not finite) are dropped and counted in
//! `autotel_dropped_total{signal="metrics", reason="out_of_range"}`; values
//! too small for it (under about 8.5e-109 in magnitude) are sent as 0.
//!
//! Labels past the 30th are not dimensions (CloudWatch allows 30): EMF keeps
//! them in the line as plain members, searchable in CloudWatch Logs
//! Insights, the API leaves them out. Each series concerned is counted in
//! `autotel_dropped_total{signal="metrics", reason="too_many_dimensions"}`.

#[cfg(feature = "cloudwatch")]
mod api;
mod drops;
#[cfg(feature = "cloudwatch-emf")]
mod emf;
mod names;
mod units;
mod values;

#[cfg(feature = "cloudwatch")]
pub use api::{CloudWatch, CloudWatchExporter, DEFAULT_API_TIMEOUT, MAX_VALUES_PER_REQUEST};
/// The AWS SDK configuration crate the `cloudwatch` feature builds with, for
/// [`CloudWatch::with_sdk_config`].
#[cfg(feature = "cloudwatch")]
pub use aws_config;
/// The AWS SDK for CloudWatch the `cloudwatch` feature builds with (its
/// `config::Credentials`, for [`CloudWatch::with_sdk_config`]).
#[cfg(feature = "cloudwatch")]
pub use aws_sdk_cloudwatch;
#[cfg(feature = "cloudwatch-emf")]
pub use emf::{AgentEndpoint, DEFAULT_AGENT_PORT, DEFAULT_AGENT_TIMEOUT, Emf, EmfExporter};
pub use names::MAX_DIMENSIONS;

use std::time::Duration;

use crate::env::InvalidSetting;

/// `timeout` when it is not zero; `setting` names the method in the error.
pub(crate) fn timeout(
    setting: &'static str,
    timeout: Duration,
) -> Result<Duration, InvalidSetting> {
    if timeout.is_zero() {
        return Err(InvalidSetting::new(
            setting,
            "0s",
            "would send nothing; give a timeout of at least 1 ms",
        ));
    }
    Ok(timeout)
}

/// A series for the unit tests: `name`, `labels` and `value`, no unit.
#[cfg(test)]
pub(crate) fn test_series(
    name: &str,
    labels: &[(&str, &str)],
    value: crate::push::Value,
) -> crate::push::Series {
    let labels: Vec<metrics::Label> = labels
        .iter()
        .map(|(k, v)| metrics::Label::new(k.to_string(), v.to_string()))
        .collect();
    crate::push::Series::new(
        metrics::Key::from_parts(name.to_owned(), labels),
        None,
        value,
    )
}
