//! Redaction of secret-looking names: one rule for every place a field,
//! attribute or label leaves the program.
//!
//! [`JsonLayer`](crate::JsonLayer) writes the values of matching fields as
//! `"[REDACTED]"`; the OTLP exporters replace matching span and log
//! attributes; metric labels with matching names are replaced too. They all
//! ask the same [`Redaction`], so a name that is hidden in one output is
//! hidden in all of them.
//!
//! # What is not caught
//!
//! Redaction looks at names, never at values. A secret stays visible when it
//! travels under an innocent name (`user = "alice:hunter2"`), inside the
//! message text (`info!("logging in with {password}")`), or inside a value
//! recorded with `Debug` whose struct holds a secret field
//! (`?config` where `Config { api_key, .. }`): the field name is `config`,
//! which matches nothing. Record secrets, if at all, as their own fields.
//!
//! ```
//! use autotel_layers::redact::Redaction;
//!
//! let redaction = Redaction::default();
//! assert!(redaction.matches("db.password"));
//! assert!(redaction.matches("X-Api-Key"));
//! assert!(!redaction.matches("rows_processed"));
//!
//! let custom = Redaction::default().with_name("iban");
//! assert!(custom.matches("customer_iban"));
//! ```

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The names redacted by default.
///
/// Each is matched as a substring of the normalised field name (lowercased,
/// everything but letters and digits removed), so `auth` also hides
/// `authorization`, `x-auth-token` and `author`: a false positive costs a
/// hidden value, a false negative a leaked secret.
pub const DEFAULT_REDACTED_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "auth",
    "bearer",
    "api_key",
    "private_key",
    "credentials",
    "session",
    "jwt",
    "dsn",
    "cookie",
];

/// The names whose values are hidden.
///
/// A name matches when one of the patterns occurs in it after both are
/// lowercased and stripped of everything but letters and digits, so
/// `api_key` matches `X-Api-Key` and `token` matches `access_token`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    patterns: Vec<Box<[u8]>>,
}

impl Default for Redaction {
    /// Redacts [`DEFAULT_REDACTED_NAMES`].
    fn default() -> Self {
        Self::new(DEFAULT_REDACTED_NAMES)
    }
}

impl Redaction {
    /// Redacts exactly these names (an empty list redacts nothing).
    pub fn new<I, N>(names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let mut redaction = Self::none();
        for name in names {
            redaction.add(name.as_ref());
        }
        redaction
    }

    /// Redacts nothing.
    pub fn none() -> Self {
        Self {
            patterns: Vec::new(),
        }
    }

    /// Also redacts `name`.
    #[must_use]
    pub fn with_name(mut self, name: impl AsRef<str>) -> Self {
        self.add(name.as_ref());
        self
    }

    /// Also redacts `name`, in place.
    pub fn add(&mut self, name: &str) {
        let pattern: Box<[u8]> = normalize(name).into();
        if !pattern.is_empty() && !self.patterns.contains(&pattern) {
            self.patterns.push(pattern);
        }
    }

    /// Whether nothing is redacted.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the value of the field, attribute or label `name` is hidden.
    pub fn matches(&self, name: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let name = normalize(name);
        self.patterns.iter().any(|pattern| {
            name.windows(pattern.len())
                .any(|window| window == &pattern[..])
        })
    }
}

/// `name` lowercased, with everything but letters and digits removed
/// (non-ASCII bytes are kept as they are).
fn normalize(name: &str) -> Vec<u8> {
    name.bytes()
        .filter(|byte| !byte.is_ascii() || byte.is_ascii_alphanumeric())
        .map(|byte| byte.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_match_secrets_in_any_spelling() {
        let redaction = Redaction::default();
        for name in [
            "password",
            "db.password",
            "PASSWORD",
            "passwd",
            "user_pwd",
            "client_secret",
            "access_token",
            "Authorization",
            "x-auth",
            "bearer",
            "x-api-key",
            "apiKey",
            "private_key",
            "PrivateKey",
            "aws_credentials",
            "session_id",
            "jwt",
            "sentry_dsn",
            "set_cookie",
        ] {
            assert!(redaction.matches(name), "{name} not redacted");
        }
        for name in [
            "user",
            "rows_processed",
            "api_calls",
            "passport",
            "cost_usd",
            "http.route",
        ] {
            assert!(!redaction.matches(name), "{name} redacted");
        }
    }

    #[test]
    fn an_empty_list_redacts_nothing_and_names_can_be_added() {
        assert!(!Redaction::none().matches("password"));
        assert!(Redaction::none().is_empty());
        let custom = Redaction::none().with_name("IBAN").with_name("");
        assert!(custom.matches("customer_iban"));
        assert!(!custom.matches("password"));
        assert_eq!(custom, Redaction::new(["iban"]));
    }
}
