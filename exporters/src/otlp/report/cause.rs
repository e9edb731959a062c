//! The text of a failure cause: credentials scrubbed, repeats removed.

/// `text` with the user information of every URL in it (`scheme://user:secret@host`)
/// replaced by `[REDACTED]`, whatever form a library printed the URL in.
pub(super) fn scrub_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c == '/' || c == ')' || c == '(' || c.is_whitespace() || c == '"')
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(user_end) => {
                out.push_str("[REDACTED]");
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `cause` without a `: `-separated part that repeats the one before it
/// (error chains often say the same thing twice).
pub(super) fn without_repeats(cause: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in cause.split(": ") {
        parts.push(part);
        for run in [1, 2] {
            let n = parts.len();
            if n >= 2 * run && parts[n - 2 * run..n - run] == parts[n - run..] {
                parts.truncate(n - run);
                break;
            }
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_lose_repeats_and_credentials() {
        assert_eq!(
            without_repeats(
                "transport error: invalid peer certificate: UnknownIssuer: invalid peer certificate: UnknownIssuer"
            ),
            "transport error: invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(without_repeats("a: a: b"), "a: b");
        assert_eq!(
            scrub_credentials(
                "error for url (http://us%40er:p%3Ass@host:4318/v1/logs): refused; see https://docs.rs/x"
            ),
            "error for url (http://[REDACTED]@host:4318/v1/logs): refused; see https://docs.rs/x"
        );
    }
}
