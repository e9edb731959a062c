//! Reading configuration from environment variables, one way for every crate.
//!
//! - [`VARIABLES`] lists every variable autotel reads (and every `OTEL_*`
//!   one); [`check_text`] refuses any of them that is not UTF-8, and [`var`]
//!   reads one: unset and blank are `None`, a value that is not UTF-8 is an
//!   error naming the variable (never silently "unset").
//! - [`parse_bool`] accepts one vocabulary everywhere: `true`/`false`,
//!   `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
//! - [`parse_endpoint`] checks an OTLP collector URL (`http://`, `https://`,
//!   or no scheme, which means `http://`), and [`redact_url`] strips the
//!   credentials out of one for logs and errors.
//! - [`parse_key_values`] reads the W3C-baggage-like lists of
//!   `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`.
//! - Typed readers take each variable from a [`ReadVar`] source ([`var`], or
//!   a map in tests) and check it: [`service_name`], [`service_version`]
//!   (and [`check_identity`] for names given in code), [`log_level`],
//!   [`json_logs`], [`otlp_endpoint`], [`sdk_disabled`], [`propagators`],
//!   [`prometheus_address`] and [`prometheus_credentials`].
//!
//! Every error is an [`InvalidSetting`] with one wording: the variable (or
//! builder method), the value (`'[REDACTED]'` when it may hold a secret),
//! and what would be accepted:
//!
//! ```
//! use autotel_exporters::env;
//!
//! let error = env::parse_bool("OTEL_SDK_DISABLED", "sure").unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "OTEL_SDK_DISABLED='sure' is not a boolean (true or false, 1 or 0, yes or no, on or off)"
//! );
//! assert!(env::parse_bool("OTEL_SDK_DISABLED", "ON")?);
//!
//! let endpoint = env::parse_endpoint("OTLP_ENDPOINT", "otel-collector:4317")?;
//! assert_eq!(endpoint.url(), "http://otel-collector:4317");
//! assert_eq!(endpoint.port(), 4317);
//! # Ok::<(), env::InvalidSetting>(())
//! ```

mod endpoint;
mod error;
mod logs;
mod otlp;
mod prometheus;
mod propagation;
mod read;
mod service;
mod values;

#[cfg(any(feature = "statsd", feature = "cloudwatch-emf"))]
pub(crate) use endpoint::split_host_port;
pub use endpoint::{Endpoint, parse_endpoint, redact_url};
pub use error::{InvalidSetting, REDACTED};
pub use logs::{json_logs, log_level};
pub use otlp::{exemplar_filter, otlp_endpoint, sdk_disabled};
pub use prometheus::{
    PrometheusAddress, PrometheusCredentials, prometheus_address, prometheus_credentials,
};
#[cfg_attr(not(feature = "prometheus"), allow(unused_imports))]
pub(crate) use prometheus::{basic_auth_problem, bearer_token_problem};
pub use propagation::{Propagator, propagators};
pub use read::{ReadVar, VARIABLES, check_text, is_secret, var};
pub use service::{MAX_IDENTITY_LEN, check_identity, service_name, service_version};
pub use values::{parse_bool, parse_key_values};

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[test]
    fn every_variable_a_reader_reads_is_listed() {
        let asked = RefCell::new(Vec::new());
        let read = |name: &'static str| {
            asked.borrow_mut().push(name);
            Ok(None)
        };
        assert_eq!(service_name(&read), Ok(None));
        assert_eq!(service_version(&read), Ok(None));
        assert_eq!(log_level(&read), Ok(None));
        assert_eq!(json_logs(&read), Ok(None));
        assert_eq!(otlp_endpoint(&read), Ok(None));
        assert_eq!(sdk_disabled(&read), Ok(false));
        assert_eq!(prometheus_address(&read), Ok(PrometheusAddress::default()));
        assert_eq!(prometheus_credentials(&read), Ok(None));
        let asked = asked.into_inner();
        assert_eq!(asked.len(), 11, "{asked:?}");
        for name in asked {
            assert!(
                VARIABLES.contains(&name) || name.starts_with("OTEL_"),
                "{name} is read but not listed in VARIABLES"
            );
        }
    }
}
