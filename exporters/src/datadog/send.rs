//! Posting one body to the series API: retried with exponential backoff
//! (or after the server's `Retry-After`) on 5xx, 408, 429 and connection
//! failures, until the end of the interval; never a word of the API key in
//! what it reports.

use std::io::Read as _;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};

use crate::env::REDACTED;
use crate::https::error_chain;

/// The first wait before a retry; each next one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two attempts, unless the server asks for more.
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// An attempt with less time than this left is not made.
const SHORTEST_ATTEMPT: Duration = Duration::from_millis(10);
/// How much of an error answer's body a report quotes.
const QUOTED_BODY: usize = 200;

/// Why a body was not delivered: the `reason` label, what happened, and
/// what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) reason: &'static str,
    cause: String,
    hint: &'static str,
}

impl Failure {
    fn new(reason: &'static str, cause: impl Into<String>, hint: &'static str) -> Self {
        Self {
            reason,
            cause: cause.into(),
            hint,
        }
    }

    /// What happened, then `more`, then what to do.
    pub(crate) fn message(&self, more: &str) -> String {
        if self.hint.is_empty() {
            format!("{}{more}", self.cause)
        } else {
            format!("{}{more}; {}", self.cause, self.hint)
        }
    }
}

const KEY_HINT: &str = "check DD_API_KEY (or Datadog::with_api_key), and that the key belongs \
     to the Datadog site the series go to (DD_SITE)";
const URL_HINT: &str = "check DD_SITE, or that DD_URL is a base URL such as \
     https://api.datadoghq.com (the path /api/v1/series is added to it)";
const REDIRECT_HINT: &str = "redirections are not followed, so that the API key goes to no \
     other host; give the final URL in DD_URL";
const TLS_HINT: &str = "check that the system's CA certificates are installed (Debian: \
     ca-certificates) and that the server at DD_URL speaks HTTPS";
const NETWORK_HINT: &str = "check the network, DD_SITE and DD_URL, and that the host is \
     reachable from here";

/// The outcome of one attempt.
#[derive(Debug)]
enum Attempt {
    Sent,
    /// Worth trying again, after the server's `Retry-After` if it gave one.
    Retry(Failure, Option<Duration>),
    /// Trying again would fail the same way.
    Fail(Failure),
}

/// Posts bodies to one series URL with one API key.
pub(crate) struct Sender {
    client: Client,
    url: String,
    key: HeaderValue,
    /// The key as text, to blank it out of quoted answers.
    key_text: String,
    timeout: Duration,
    /// xorshift64 state for the backoff's jitter.
    random: u64,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("url", &crate::env::redact_url(&self.url))
            .field("api_key", &REDACTED)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Sender {
    pub(crate) fn new(client: Client, url: String, key: &str, timeout: Duration) -> Self {
        let mut header =
            HeaderValue::from_str(key).unwrap_or_else(|_| HeaderValue::from_static(""));
        header.set_sensitive(true);
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            client,
            url,
            key: header,
            key_text: key.to_owned(),
            timeout,
            random: seed | 1,
        }
    }

    /// Posts `body` (gzip-compressed JSON), trying again while the failure
    /// is one that passes and `deadline` leaves time. Returns how many
    /// attempts it took.
    pub(crate) fn send(&mut self, body: &Bytes, deadline: Instant) -> Result<u32, Failure> {
        let mut attempts = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < SHORTEST_ATTEMPT {
                return Err(Failure::new(
                    "timeout",
                    "not sent: retrying earlier requests used up this interval's time",
                    "",
                ));
            }
            attempts += 1;
            let (failure, asked) = match self.attempt(body.clone(), left.min(self.timeout)) {
                Attempt::Sent => return Ok(attempts),
                Attempt::Fail(failure) => return Err(failure),
                Attempt::Retry(failure, asked) => (failure, asked),
            };
            let wait = asked.unwrap_or_else(|| backoff(attempts, &mut self.random));
            if Instant::now() + wait + SHORTEST_ATTEMPT >= deadline {
                let why = match asked {
                    Some(asked) => format!(
                        "the server asked to wait {} s, past the end of this interval",
                        asked.as_secs_f64().ceil()
                    ),
                    None => "this interval has no time left for another".to_owned(),
                };
                let plural = if attempts == 1 { "" } else { "s" };
                return Err(Failure {
                    cause: format!(
                        "{} (after {attempts} attempt{plural}; {why}; the next interval sends \
                         its own series)",
                        failure.cause
                    ),
                    ..failure
                });
            }
            std::thread::sleep(wait);
        }
    }

    fn attempt(&self, body: Bytes, timeout: Duration) -> Attempt {
        let sent = self
            .client
            .post(&self.url)
            .timeout(timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .header("DD-API-KEY", self.key.clone())
            .body(body)
            .send();
        match sent {
            Ok(response) => self.answered(response),
            Err(error) => transport_failed(error),
        }
    }

    /// What an answer means.
    fn answered(&self, response: Response) -> Attempt {
        let status = response.status();
        if status.is_success() {
            return Attempt::Sent;
        }
        let shown = status_text(status);
        match status.as_u16() {
            401 | 403 => Attempt::Fail(Failure::new(
                "rejected",
                format!("the API key was refused ({shown})"),
                KEY_HINT,
            )),
            404 => Attempt::Fail(Failure::new(
                "rejected",
                format!("there is no series API at this URL ({shown})"),
                URL_HINT,
            )),
            413 => Attempt::Fail(Failure::new(
                "too_large",
                format!("the server refused the body's size ({shown})"),
                "",
            )),
            408 | 429 | 500..=599 => {
                let asked = retry_after(response.headers());
                let reason = if status == StatusCode::TOO_MANY_REQUESTS {
                    "throttled"
                } else {
                    "unavailable"
                };
                let quoted = self.quote(response);
                Attempt::Retry(
                    Failure::new(reason, format!("the server answered {shown}{quoted}"), ""),
                    asked,
                )
            }
            300..=399 => Attempt::Fail(Failure::new(
                "rejected",
                format!("the server answered {shown}, a redirection"),
                REDIRECT_HINT,
            )),
            _ => {
                let quoted = self.quote(response);
                Attempt::Fail(Failure::new(
                    "rejected",
                    format!("the server refused the series ({shown}){quoted}"),
                    "",
                ))
            }
        }
    }

    /// `: "<the start of the answer's body>"`, with the API key blanked
    /// out, or nothing for an empty body.
    fn quote(&self, response: Response) -> String {
        let mut raw = Vec::new();
        let _ = response.take(4 * QUOTED_BODY as u64).read_to_end(&mut raw);
        let mut text = String::from_utf8_lossy(&raw).into_owned();
        if !self.key_text.is_empty() {
            text = text.replace(&self.key_text, REDACTED);
        }
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let text = text.trim();
        if text.is_empty() {
            return String::new();
        }
        let cut = text.floor_char_boundary(QUOTED_BODY);
        let more = if cut < text.len() { "..." } else { "" };
        format!(": {:?}", format!("{}{more}", &text[..cut]))
    }
}

/// The wait before attempt `attempts + 1`: doubling from [`FIRST_BACKOFF`]
/// up to [`MAX_BACKOFF`], drawn from its upper half with the xorshift state
/// `random`, so that programs throttled together do not come back together.
fn backoff(attempts: u32, random: &mut u64) -> Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    *random ^= *random << 13;
    *random ^= *random >> 7;
    *random ^= *random << 17;
    let share = 0.5 + (*random % 1_000) as f64 / 2_000.0;
    ceiling.mul_f64(share)
}

/// "HTTP 503 Service Unavailable".
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// What a request that got no answer means.
fn transport_failed(error: reqwest::Error) -> Attempt {
    let timeout = error.is_timeout();
    let cause = error_chain(&error.without_url());
    if timeout {
        return Attempt::Retry(
            Failure::new(
                "timeout",
                format!("no answer in time: {cause}"),
                NETWORK_HINT,
            ),
            None,
        );
    }
    let lower = cause.to_ascii_lowercase();
    if ["certificate", "unknownissuer", "handshake", "tls", "alert"]
        .iter()
        .any(|word| lower.contains(word))
    {
        return Attempt::Fail(Failure::new(
            "tls",
            format!("the TLS connection failed: {cause}"),
            TLS_HINT,
        ));
    }
    Attempt::Retry(
        Failure::new(
            "unavailable",
            format!("the request failed: {cause}"),
            NETWORK_HINT,
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let asked = retry_after(&headers).unwrap();
        assert!(asked > Duration::from_secs(100) && asked <= Duration::from_secs(120));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_doubles_within_its_bounds() {
        let mut random = 0x2545_f491_4f6c_dd1d;
        for attempts in 1..12 {
            let ceiling = FIRST_BACKOFF
                .saturating_mul(1 << (attempts - 1).min(16))
                .min(MAX_BACKOFF);
            let wait = backoff(attempts, &mut random);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "{attempts}: {wait:?}"
            );
        }
        assert_eq!(
            FIRST_BACKOFF.saturating_mul(1 << 4).min(MAX_BACKOFF),
            MAX_BACKOFF
        );
    }
}
