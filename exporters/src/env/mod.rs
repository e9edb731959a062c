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
mod read;
mod values;

#[cfg(any(feature = "statsd", feature = "cloudwatch-emf"))]
pub(crate) use endpoint::split_host_port;
pub use endpoint::{Endpoint, parse_endpoint, redact_url};
pub use error::{InvalidSetting, REDACTED};
pub use read::{VARIABLES, check_text, is_secret, var};
pub use values::{parse_bool, parse_key_values};
