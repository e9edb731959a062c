//! Credentials a scraper must present to the `/metrics` endpoint.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use subtle::ConstantTimeEq;

use super::PrometheusError;
use crate::env;

/// The credentials the endpoint asks for. Never printed: `Debug` shows the
/// scheme only.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Auth {
    /// HTTP basic authentication; holds `user:password`.
    Basic(Vec<u8>),
    /// A bearer token (`Authorization: Bearer TOKEN`).
    Bearer(Vec<u8>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic(_) => f.write_str("Basic([REDACTED])"),
            Self::Bearer(_) => f.write_str("Bearer([REDACTED])"),
        }
    }
}

impl Auth {
    /// Basic authentication for `user` with `password`.
    pub(super) fn basic(user: &str, password: &str) -> Result<Self, PrometheusError> {
        match env::basic_auth_problem(user, password) {
            Some(reason) => Err(PrometheusError::Auth {
                setting: "Prometheus::with_basic_auth",
                reason,
            }),
            None => Ok(Self::Basic(format!("{user}:{password}").into_bytes())),
        }
    }

    /// A bearer token; RFC 6750 allows letters, digits and `-._~+/=`.
    pub(super) fn bearer(token: &str) -> Result<Self, PrometheusError> {
        match env::bearer_token_problem(token) {
            Some(reason) => Err(PrometheusError::Auth {
                setting: "Prometheus::with_bearer_token",
                reason,
            }),
            None => Ok(Self::Bearer(token.as_bytes().to_vec())),
        }
    }

    /// The `WWW-Authenticate` challenge of a 401 answer.
    pub(super) fn challenge(&self) -> &'static str {
        match self {
            Self::Basic(_) => "Basic realm=\"metrics\", charset=\"UTF-8\"",
            Self::Bearer(_) => "Bearer realm=\"metrics\"",
        }
    }

    /// Whether an `Authorization` header carries these credentials. The
    /// credentials are compared in constant time.
    pub(super) fn accepts(&self, header: Option<&HeaderValue>) -> bool {
        let Some((scheme, credentials)) = header
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
        else {
            return false;
        };
        let credentials = credentials.trim_start();
        match self {
            Self::Basic(expected) if scheme.eq_ignore_ascii_case("basic") => STANDARD
                .decode(credentials)
                .is_ok_and(|given| bool::from(given.ct_eq(expected))),
            Self::Bearer(expected) if scheme.eq_ignore_ascii_case("bearer") => {
                bool::from(credentials.as_bytes().ct_eq(expected))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn basic_accepts_the_right_pair_only() {
        let auth = Auth::basic("prom", "s3cret:x").unwrap();
        let good = format!("Basic {}", STANDARD.encode("prom:s3cret:x"));
        assert!(auth.accepts(Some(&header(&good))));
        assert!(auth.accepts(Some(&header(&good.replace("Basic", "basic")))));
        let wrong = format!("Basic {}", STANDARD.encode("prom:s3cret"));
        assert!(!auth.accepts(Some(&header(&wrong))));
        assert!(!auth.accepts(Some(&header("Basic !!!"))));
        assert!(!auth.accepts(Some(&header("Bearer s3cret:x"))));
        assert!(!auth.accepts(None));
    }

    #[test]
    fn bearer_accepts_the_right_token_only() {
        let auth = Auth::bearer("abc.DEF-123").unwrap();
        assert!(auth.accepts(Some(&header("Bearer abc.DEF-123"))));
        assert!(auth.accepts(Some(&header("bearer  abc.DEF-123"))));
        assert!(!auth.accepts(Some(&header("Bearer abc.DEF-12"))));
        assert!(!auth.accepts(Some(&header("Bearer abc.DEF-1234"))));
        assert!(!auth.accepts(Some(&header("Basic abc.DEF-123"))));
        assert!(!auth.accepts(Some(&header("Bearer"))));
    }

    #[test]
    fn bad_credentials_are_errors_without_the_secret() {
        let err = Auth::basic("a:b", "hunter2").unwrap_err().to_string();
        assert!(err.contains("Prometheus::with_basic_auth"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(Auth::basic("", "pw").is_err());
        let err = Auth::bearer("tok en-hunter2").unwrap_err().to_string();
        assert!(err.contains("Prometheus::with_bearer_token"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(Auth::bearer("").is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let basic = format!("{:?}", Auth::basic("prom", "hunter2").unwrap());
        let bearer = format!("{:?}", Auth::bearer("hunter2").unwrap());
        assert_eq!(basic, "Basic([REDACTED])");
        assert_eq!(bearer, "Bearer([REDACTED])");
    }
}
