//! Which kind of failure a cause describes, and the hint that helps with it.

use crate::otlp::protocol::Protocol;

/// The HTTP status in a failure cause, as this crate's client or the SDK
/// writes it ("answered HTTP 401", "status code: 401"); never a number that
/// happens to stand in a URL.
fn http_status(text: &str) -> Option<u16> {
    ["answered http ", "status code: "]
        .iter()
        .find_map(|marker| {
            let start = text.find(marker)? + marker.len();
            text.get(start..start + 3)?.parse().ok()
        })
}

const GRPC_PORT_HINT: &str = "port 4317 is where collectors serve OTLP/gRPC, and this exporter \
     speaks http/protobuf: set OTEL_EXPORTER_OTLP_PROTOCOL=grpc (or Otlp::with_protocol), or \
     send to the collector's HTTP port (4318)";
const HTTP_PORT_HINT: &str = "this exporter speaks gRPC, which an OTLP/HTTP port (4318) does \
     not serve: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (or Otlp::with_protocol), or send \
     to the collector's gRPC port (4317)";
const HUNG_UP_HINT: &str = "the collector hung up as soon as gRPC (HTTP/2) spoke, as a \
     port that serves only OTLP/HTTP does: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (or \
     Otlp::with_protocol), or send to the collector's gRPC port (4317)";
const CLIENT_CERTIFICATE_HINT: &str = "the collector ended the TLS connection: it may require a \
     client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY, \
     or Otlp::with_client_certificate), or not serve TLS on this port";
const NOT_TLS_HINT: &str =
    "the collector does not seem to speak TLS on this port: use http:// for a plain endpoint";
const CA_HINT: &str = "the collector's certificate was not accepted: set \
     OTEL_EXPORTER_OTLP_CERTIFICATE (or Otlp::with_certificate) to the PEM file of the CA that \
     signed it (the system's roots are used otherwise), and check that the host name matches the \
     certificate";
const UNAVAILABLE_HINT: &str = "check that the collector runs and listens at this address";
const CREDENTIALS_HINT: &str = "the collector refused the credentials: check the authentication \
     header (OTEL_EXPORTER_OTLP_HEADERS or Otlp::with_header)";
const PATH_HINT: &str = "the collector has no OTLP receiver at this path: give its base URL, or \
     a per-signal URL ending in /v1/<signal>";

/// The reason label of a failure, and a hint when one helps.
pub(super) fn classify(
    protocol: Protocol,
    port: u16,
    https: bool,
    cause: &str,
) -> (&'static str, Option<&'static str>) {
    let text = cause.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));

    if has(&[
        "timed out",
        "timeout",
        "deadline exceeded",
        "deadlineexceeded",
    ]) {
        return ("timeout", None);
    }
    if has(&[
        "connection refused",
        "tcp connect error",
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no route to host",
        "network is unreachable",
    ]) {
        return ("unavailable", Some(UNAVAILABLE_HINT));
    }
    if https {
        if has(&[
            "invalidcontenttype",
            "corrupt message",
            "wrong version number",
        ]) {
            return ("tls", Some(NOT_TLS_HINT));
        }
        if has(&[
            "close_notify",
            "broken pipe",
            "unexpected eof",
            "connection reset",
            "certificaterequired",
            "certificate required",
        ]) {
            return ("tls", Some(CLIENT_CERTIFICATE_HINT));
        }
        if has(&["certificate", "unknownissuer", "handshake", "tls", "alert"]) {
            return ("tls", Some(CA_HINT));
        }
    }
    let http_answer_from_grpc = has(&[
        "invalid http version",
        "connection closed before message completed",
        "incomplete message",
        "received unexpected message from connection",
        "http2 preface",
    ]);
    if protocol == Protocol::HttpProtobuf && (port == 4317 || http_answer_from_grpc) {
        return ("protocol", Some(GRPC_PORT_HINT));
    }
    let grpc_answer_from_http = has(&[
        "frame with invalid size",
        "h2 protocol error",
        "http2 error",
        "invalid content-type",
        "grpc code: unimplemented",
    ]);
    if protocol == Protocol::Grpc && (port == 4318 || grpc_answer_from_http) {
        return ("protocol", Some(HTTP_PORT_HINT));
    }
    // An HTTP/1 server often just hangs up on HTTP/2's opening bytes.
    let hung_up = has(&["broken pipe", "connection reset", "unexpected eof"]);
    if protocol == Protocol::Grpc && !https && hung_up {
        return ("protocol", Some(HUNG_UP_HINT));
    }
    if has(&["grpc code: unauthenticated", "grpc code: permissiondenied"]) {
        return ("rejected", Some(CREDENTIALS_HINT));
    }
    if has(&[
        "grpc code: resourceexhausted",
        "too large",
        "exceeding the configured limit",
    ]) {
        return ("too_large", None);
    }
    match http_status(&text) {
        Some(401 | 403) => return ("rejected", Some(CREDENTIALS_HINT)),
        Some(404) => return ("rejected", Some(PATH_HINT)),
        Some(413) => return ("too_large", None),
        Some(_) => return ("rejected", None),
        None => {}
    }
    if has(&[
        "grpc code: unavailable",
        "network error",
        "connection reset",
        "connect error",
    ]) {
        return ("unavailable", Some(UNAVAILABLE_HINT));
    }
    if has(&["grpc code: "]) {
        return ("rejected", None);
    }
    ("other", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_map_to_reasons_and_hints() {
        let http = Protocol::HttpProtobuf;
        let grpc = Protocol::Grpc;
        let (reason, hint) = classify(
            http,
            4317,
            false,
            "client error (SendRequest): connection closed before message completed",
        );
        assert_eq!(reason, "protocol");
        assert!(hint.unwrap().contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"));
        let (reason, hint) = classify(
            grpc,
            4318,
            false,
            "export failed with gRPC code: Unknown: h2 protocol error: http2 error",
        );
        assert_eq!(reason, "protocol");
        assert!(
            hint.unwrap()
                .contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
        );
        let (reason, hint) = classify(
            grpc,
            443,
            true,
            "transport error: invalid peer certificate: UnknownIssuer",
        );
        assert_eq!(reason, "tls");
        assert!(hint.unwrap().contains("OTEL_EXPORTER_OTLP_CERTIFICATE"));
        let (reason, _) = classify(
            http,
            4318,
            false,
            "tcp connect error: Connection refused (os error 111)",
        );
        assert_eq!(reason, "unavailable");
        let (reason, _) = classify(http, 4318, false, "operation timed out");
        assert_eq!(reason, "timeout");
        let (reason, hint) = classify(
            http,
            443,
            true,
            "the collector answered HTTP 401 Unauthorized",
        );
        assert_eq!(reason, "rejected");
        assert!(hint.unwrap().contains("OTEL_EXPORTER_OTLP_HEADERS"));
        assert_eq!(classify(http, 4318, false, "something odd").0, "other");
        // Numbers in a URL are not statuses; refused connections are not mismatches.
        let (reason, _) = classify(
            http,
            4317,
            false,
            "error sending request for url (http://127.0.0.1:4317/v1/traces): tcp connect error: Connection refused",
        );
        assert_eq!(reason, "unavailable");
        let (reason, _) = classify(
            http,
            14041,
            false,
            "error for url (http://c:14041/v1/traces): something odd",
        );
        assert_eq!(reason, "other");
        let (reason, hint) = classify(
            http,
            4318,
            false,
            "HTTP export failed with status code: 404",
        );
        assert_eq!(reason, "rejected");
        assert!(hint.unwrap().contains("/v1/<signal>"));
        assert_eq!(
            classify(
                http,
                4318,
                false,
                "the collector answered HTTP 413 Payload Too Large"
            )
            .0,
            "too_large"
        );
        assert_eq!(
            classify(
                grpc,
                4317,
                false,
                "export failed with gRPC code: Unauthenticated"
            )
            .0,
            "rejected"
        );
        assert_eq!(
            classify(http, 4318, false, "certificate mentioned over plain http").0,
            "other"
        );
        let (reason, hint) = classify(
            http,
            443,
            true,
            "connection error: peer closed connection without sending TLS close_notify",
        );
        assert_eq!(reason, "tls");
        assert!(hint.unwrap().contains("client certificate"));
    }
}
