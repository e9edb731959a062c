//! `url.full` without secrets: credentials and the values of secret-looking
//! query parameters written `REDACTED`, as the OpenTelemetry conventions
//! say.

use std::borrow::Cow;

use crate::redact::Redaction;

/// What a hidden part of a URL becomes.
const REDACTED: &str = "REDACTED";

/// `url` with its user information replaced by `REDACTED:REDACTED` and the
/// values of the query parameters that `redaction` matches by `REDACTED`.
pub(super) fn redacted<'a>(url: &'a str, redaction: &Redaction) -> Cow<'a, str> {
    let (before_fragment, fragment) = match url.find('#') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let (before_query, query) = match before_fragment.find('?') {
        Some(at) => (&before_fragment[..at], Some(&before_fragment[at + 1..])),
        None => (before_fragment, None),
    };
    let authority_start = before_query.find("://").map_or(0, |at| at + 3);
    let authority_end = before_query[authority_start..]
        .find('/')
        .map_or(before_query.len(), |at| authority_start + at);
    let user_end = before_query[authority_start..authority_end]
        .rfind('@')
        .map(|at| authority_start + at);
    let secret_query = query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| redaction.matches(pair.split('=').next().unwrap_or(pair)))
    });
    if user_end.is_none() && !secret_query {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len());
    match user_end {
        Some(end) => {
            out.push_str(&before_query[..authority_start]);
            out.push_str("REDACTED:REDACTED");
            out.push_str(&before_query[end..]);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        out.push('?');
        for (index, pair) in query.split('&').enumerate() {
            if index > 0 {
                out.push('&');
            }
            let name = pair.split('=').next().unwrap_or(pair);
            if pair.contains('=') && redaction.matches(name) {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            } else {
                out.push_str(pair);
            }
        }
    }
    out.push_str(fragment);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::client::default_redaction;

    #[test]
    fn credentials_and_secret_parameters_are_hidden() {
        let redaction = default_redaction();
        let cases = [
            (
                "http://api:8080/v1/users?page=2",
                "http://api:8080/v1/users?page=2",
            ),
            (
                "https://user:pass@example.com/path?q=1",
                "https://REDACTED:REDACTED@example.com/path?q=1",
            ),
            (
                "https://token@example.com",
                "https://REDACTED:REDACTED@example.com",
            ),
            (
                "https://s3.amazonaws.com/b/k?AWSAccessKeyId=AKIA&Signature=abc&Expires=1",
                "https://s3.amazonaws.com/b/k?AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1",
            ),
            (
                "http://h/p?access_token=t0k&sig=x&flag#frag",
                "http://h/p?access_token=REDACTED&sig=REDACTED&flag#frag",
            ),
            (
                "http://h/p?next=http://a@b/&x=1",
                "http://h/p?next=http://a@b/&x=1",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(redacted(url, &redaction), expected, "{url}");
        }
        let custom = Redaction::new(["tenant"]);
        assert_eq!(
            redacted("http://h/?tenant=acme&token=1", &custom),
            "http://h/?tenant=REDACTED&token=1"
        );
    }
}
