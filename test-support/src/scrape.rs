//! Prometheus text and autotel's own `/metrics` endpoint: the value of one
//! series in a scrape, an endpoint on a free port (feature `prometheus`) and
//! its scrape, and a raw reader of HTTP/1.1 answers for the tests that must
//! control the connection (keep-alive, pipelining, closing).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::http;

/// The value of the sample `series` (name and labels as written) in the
/// Prometheus text `text`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// [`sample`], for a series that must be there.
///
/// # Panics
///
/// When `text` has no sample `series`, showing `text`.
pub fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

/// An endpoint from `builder` on a free loopback port, with one counter
/// recorded (`hits_total 7`).
///
/// # Panics
///
/// When the endpoint does not start.
#[cfg(feature = "prometheus")]
pub fn endpoint(
    builder: autotel_exporters::prometheus::Prometheus,
) -> (
    autotel_exporters::prometheus::PrometheusRecorder,
    autotel_exporters::prometheus::PrometheusGuard,
    SocketAddr,
) {
    let (recorder, server) = builder
        .with_listen_address(SocketAddr::from(([127, 0, 0, 1], 0)))
        .build()
        .expect("the endpoint starts");
    metrics::with_local_recorder(&recorder, || metrics::counter!("hits_total").increment(7));
    let address = server.local_addr().expect("a listener");
    (recorder, server, address)
}

/// The body of a successful scrape of an [`endpoint`]'s `address`.
///
/// # Panics
///
/// When the scrape fails or is not the exposition of the endpoint (has no
/// `hits_total 7`).
pub fn scrape(address: SocketAddr) -> String {
    let response = http::get(address, "/metrics")
        .unwrap_or_else(|e| panic!("scrape of {address} failed: {e}"));
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.body;
    assert!(body.contains("\nhits_total 7\n"), "{body}");
    body
}

/// [`scrape`]s `address` until `check` accepts the body, for up to 30 s.
///
/// # Panics
///
/// When no scrape within 30 s satisfies `check`.
pub fn scrape_until(address: SocketAddr, mut check: impl FnMut(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let body = scrape(address);
        if check(&body) {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no scrape matched:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One HTTP/1.1 answer read off a raw connection by [`read_response`].
#[derive(Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Headers, by names in lower case.
    pub headers: HashMap<String, String>,
    /// The body, as long as `Content-Length` said.
    pub body: Vec<u8>,
}

/// Reads one answer to a request that was not `HEAD`, with its
/// `Content-Length` body, off `reader`.
pub fn read_response(reader: &mut BufReader<&TcpStream>) -> std::io::Result<RawResponse> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("closed within the head"));
        }
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| std::io::Error::other("no Content-Length"))?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Whether the server closed `stream`: a read returns end of file, an error
/// other than a timeout, or data the client never asked for.
///
/// # Panics
///
/// When the read timeout cannot be set.
pub fn closed_by_server(stream: &TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("set a read timeout");
    let mut byte = [0; 1];
    match (&*stream).read(&mut byte) {
        // End of file, or an answer to a request the client never finished.
        Ok(0 | 1) => true,
        Ok(_) => unreachable!("a one-byte buffer"),
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}
