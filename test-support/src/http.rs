//! Plain HTTP to loopback servers, through `ureq`: every status comes back as
//! a [`Response`], redirects are not followed and no proxy is used, so a test
//! sees exactly what the server answered.

use std::net::SocketAddr;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The largest body a [`Response`] takes in (a scrape of a million series
/// fits).
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// An HTTP client that returns every status as a response, follows no
/// redirect, ignores proxy variables, and allows generous timeouts for a
/// loaded machine.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `http://{address}{path}`.
pub fn url(address: SocketAddr, path: &str) -> String {
    format!("http://{address}{path}")
}

/// An HTTP answer: status code, headers and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (in lower case) and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, with any bytes that are not UTF-8 replaced.
    pub body: String,
}

impl Response {
    /// The value of the first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(have, _)| have.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// `GET http://{address}{path}`.
pub fn get(address: SocketAddr, path: &str) -> Result<Response, ureq::Error> {
    get_with(address, path, &[])
}

/// [`get`] with more request headers, as (name, value) pairs.
pub fn get_with(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, ureq::Error> {
    let mut request = agent().get(url(address, path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call()?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()?;
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// `GET` that parses a JSON body; `None` on any failure or a status other
/// than 200.
pub fn get_json(address: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let response = get(address, path).ok()?;
    if response.status != 200 {
        return None;
    }
    serde_json::from_str(&response.body).ok()
}

/// What [`encode`] leaves as it is: letters, digits and `-_.~` (RFC 3986's
/// unreserved characters).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}
