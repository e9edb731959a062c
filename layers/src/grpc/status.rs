//! gRPC status codes: read from `grpc-status` headers and trailers, derived
//! from the HTTP status of a response that has none, named and labelled.

use http::{HeaderMap, StatusCode};

/// A gRPC status code, `0..=16`.
pub(super) type Code = u8;

/// The call succeeded.
pub(super) const OK: Code = 0;
/// The call was cancelled, here: its response was dropped before its status
/// arrived.
pub(super) const CANCELLED: Code = 1;
/// The status is unknown: none arrived, or one outside the known codes.
pub(super) const UNKNOWN: Code = 2;

/// The canonical names of the codes, by code: the `error.type` of a call that
/// failed with that code.
pub(super) const NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The codes as label values, by code.
pub(super) const LABELS: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// The `grpc-status` of a header block: `None` without one, [`UNKNOWN`] for
/// a value that is not a known code (as gRPC libraries read it).
pub(super) fn from_headers(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?;
    let code = std::str::from_utf8(value.as_bytes())
        .ok()
        .and_then(|text| text.trim().parse::<Code>().ok())
        .filter(|code| usize::from(*code) < NAMES.len());
    Some(code.unwrap_or(UNKNOWN))
}

/// The code of a response whose head carries no `grpc-status`: `None` for a
/// `200 OK`, whose status comes in the trailers; otherwise the code that
/// gRPC's HTTP-to-gRPC status mapping gives a response that never reached a
/// gRPC server (a proxy's 503, say).
pub(super) fn from_http_status(status: StatusCode) -> Option<Code> {
    Some(match status.as_u16() {
        200 => return None,
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => UNKNOWN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_status(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn status_is_read_from_headers_and_trailers() {
        assert_eq!(from_headers(&HeaderMap::new()), None);
        assert_eq!(from_headers(&with_status("0")), Some(OK));
        assert_eq!(from_headers(&with_status("5")), Some(5));
        assert_eq!(from_headers(&with_status("16")), Some(16));
        for odd in ["17", "-1", "x", "", "300"] {
            assert_eq!(from_headers(&with_status(odd)), Some(UNKNOWN), "{odd:?}");
        }
        assert_eq!(NAMES[5], "NOT_FOUND");
        assert_eq!(LABELS[16], "16");
    }

    #[test]
    fn http_statuses_without_a_grpc_status_map_to_codes() {
        assert_eq!(from_http_status(StatusCode::OK), None);
        assert_eq!(from_http_status(StatusCode::SERVICE_UNAVAILABLE), Some(14));
        assert_eq!(from_http_status(StatusCode::NOT_FOUND), Some(12));
        assert_eq!(from_http_status(StatusCode::UNAUTHORIZED), Some(16));
        assert_eq!(from_http_status(StatusCode::FORBIDDEN), Some(7));
        assert_eq!(from_http_status(StatusCode::BAD_REQUEST), Some(13));
        assert_eq!(
            from_http_status(StatusCode::INTERNAL_SERVER_ERROR),
            Some(UNKNOWN)
        );
    }
}
