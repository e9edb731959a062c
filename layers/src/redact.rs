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

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

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
#[derive(Clone, Debug)]
pub struct Redaction {
    patterns: Vec<Box<[u8]>>,
    /// Tells rules apart in the per-thread cache of decisions; a new value
    /// whenever the patterns change.
    id: u64,
}

impl PartialEq for Redaction {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for Redaction {}

/// The source of [`Redaction`] ids (0 is never given out, so that an empty
/// cache slot matches no rule).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The longest name whose decision is cached.
const CACHED_NAME_LEN: usize = 32;

/// The decisions cached per thread, in a direct-mapped table.
const CACHE_SLOTS: usize = 64;

/// One decision: the rule, the name it was asked about, the answer.
#[derive(Clone, Copy)]
struct Decision {
    redaction: u64,
    len: u8,
    name: [u8; CACHED_NAME_LEN],
    matches: bool,
}

const EMPTY_DECISION: Decision = Decision {
    redaction: 0,
    len: 0,
    name: [0; CACHED_NAME_LEN],
    matches: false,
};

thread_local! {
    /// Recent decisions of this thread: the same few field, attribute and
    /// label names come back on every event, span and recording.
    static DECISIONS: RefCell<[Decision; CACHE_SLOTS]> =
        const { RefCell::new([EMPTY_DECISION; CACHE_SLOTS]) };
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
            id: next_id(),
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
            self.id = next_id();
        }
    }

    /// Whether nothing is redacted.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the value of the field, attribute or label `name` is hidden.
    ///
    /// Allocates nothing; the answers for short names are kept in a small
    /// per-thread cache, so asking again about a name costs a few
    /// nanoseconds.
    pub fn matches(&self, name: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let bytes = name.as_bytes();
        if bytes.len() > CACHED_NAME_LEN {
            return self.decide(bytes);
        }
        let slot = cache_slot(bytes);
        DECISIONS
            .try_with(|decisions| {
                let mut decisions = decisions.borrow_mut();
                let decision = &mut decisions[slot];
                if decision.redaction == self.id
                    && usize::from(decision.len) == bytes.len()
                    && &decision.name[..bytes.len()] == bytes
                {
                    return decision.matches;
                }
                let matches = self.decide(bytes);
                decision.redaction = self.id;
                decision.len = bytes.len() as u8;
                decision.name[..bytes.len()].copy_from_slice(bytes);
                decision.matches = matches;
                matches
            })
            .unwrap_or_else(|_| self.decide(bytes))
    }

    /// Whether a pattern occurs in the normalised `name`, computed without
    /// the cache and without allocating for names up to 128 bytes.
    fn decide(&self, name: &[u8]) -> bool {
        let mut stack = [0u8; 128];
        let heap: Vec<u8>;
        let normalized: &[u8] = if name.len() <= stack.len() {
            let mut len = 0;
            for byte in normalized(name) {
                stack[len] = byte;
                len += 1;
            }
            &stack[..len]
        } else {
            heap = normalized(name).collect();
            &heap
        };
        self.patterns.iter().any(|pattern| {
            normalized
                .windows(pattern.len())
                .any(|window| window == &pattern[..])
        })
    }
}

/// The cache slot of a name, from its length and its first and last bytes.
fn cache_slot(name: &[u8]) -> usize {
    let first = name.first().copied().unwrap_or(0) as usize;
    let last = name.last().copied().unwrap_or(0) as usize;
    (first.wrapping_mul(31) ^ last.wrapping_mul(7) ^ name.len().wrapping_mul(131)) % CACHE_SLOTS
}

/// `name` lowercased, with everything but letters and digits removed
/// (non-ASCII bytes are kept as they are).
fn normalized(name: &[u8]) -> impl Iterator<Item = u8> + '_ {
    name.iter()
        .copied()
        .filter(|byte| !byte.is_ascii() || byte.is_ascii_alphanumeric())
        .map(|byte| byte.to_ascii_lowercase())
}

fn normalize(name: &str) -> Vec<u8> {
    normalized(name.as_bytes()).collect()
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

    #[test]
    fn cached_answers_belong_to_their_rule_and_name() {
        let default = Redaction::default();
        let none = Redaction::none().with_name("iban");
        for _ in 0..3 {
            assert!(default.matches("password"));
            assert!(!none.matches("password"));
            assert!(none.matches("iban"));
            assert!(!default.matches("iban"));
        }
        // Names that share a cache slot (same length, first and last byte).
        assert!(default.matches("pwdxd"));
        assert!(!default.matches("paxxd"));
        assert!(default.matches("pwdxd"));
        // A rule changed in place answers anew.
        let mut growing = Redaction::none();
        assert!(!growing.matches("customer_iban"));
        growing.add("iban");
        assert!(growing.matches("customer_iban"));
        // Long names skip the cache and still match.
        let long = format!("{}_password", "x".repeat(200));
        assert!(default.matches(&long));
        assert!(!default.matches(&"x".repeat(200)));
    }
}
