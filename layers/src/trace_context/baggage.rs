//! W3C `baggage` values: application key-value pairs that travel with a
//! trace, parsed under the specification's limits.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use super::list::List;
use super::tracestate::is_ows;

/// The most list members kept.
const MAX_MEMBERS: usize = 64;
/// The longest `baggage` kept, members and commas.
const MAX_BYTES: usize = 8192;
/// Header values longer than this, together, are not read at all.
const MAX_INPUT: usize = 16 * 1024;

/// What a value percent-encodes: anything but a `baggage-octet`.
const VALUE_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// A W3C `baggage`: `key=value` members (with optional `;` properties) that
/// an application sends along a trace.
///
/// Parsing is lenient, as the specification allows: a member that breaks
/// the grammar is dropped alone, and members past 64, or past 8192 bytes in
/// all, are dropped whole. Values are kept percent-encoded, as sent;
/// [`Baggage::get`] decodes them. Cloning is cheap (a shared string).
///
/// ```
/// use autotel_layers::propagation::Baggage;
///
/// let baggage = Baggage::parse("user.id=42, tenant=acme%20corp;ttl=60, bad key=1");
/// assert_eq!(baggage.get("tenant").as_deref(), Some("acme corp"));
/// assert_eq!(baggage.len(), 2);
/// let more = baggage.with_entry("region", "eu west")?;
/// assert_eq!(more.as_str(), "region=eu%20west,user.id=42,tenant=acme%20corp;ttl=60");
/// # Ok::<(), autotel_layers::propagation::BaggageError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Baggage(List);

impl Baggage {
    /// The empty baggage.
    pub const fn new() -> Self {
        Self(List::new())
    }

    /// Parses one `baggage` header value; see the [type docs](Self).
    pub fn parse(value: &str) -> Self {
        Self::parse_all([value])
    }

    /// Parses the values of several `baggage` header fields, combined in
    /// order. Input longer than 16 KiB in all is ignored.
    pub fn parse_all<'a, I>(values: I) -> Self
    where
        I: IntoIterator<Item = &'a str>,
    {
        let values: Vec<&str> = values.into_iter().collect();
        if values.iter().map(|v| v.len()).sum::<usize>() > MAX_INPUT {
            return Self::new();
        }
        let mut kept: Vec<String> = Vec::new();
        let mut length = 0;
        for member in values.iter().flat_map(|value| value.split(',')) {
            if kept.len() == MAX_MEMBERS {
                break;
            }
            let Some(normal) = normalise(member) else {
                continue;
            };
            let separator = usize::from(!kept.is_empty());
            if length + separator + normal.len() > MAX_BYTES {
                continue;
            }
            length += separator + normal.len();
            kept.push(normal);
        }
        Self(List::join(
            &kept.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
    }

    /// The value to forward: members joined with `,`; empty when there are
    /// none.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The percent-decoded value of `key`'s first member.
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        let (_, value) = self.iter().find(|(k, _)| *k == key)?;
        Some(percent_decode_str(value).decode_utf8_lossy())
    }

    /// The `(key, value)` members in order, values percent-encoded as sent
    /// and without their properties.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.members().filter_map(|member| {
            let entry = member.split(';').next().unwrap_or(member);
            entry.split_once('=')
        })
    }

    /// A copy with `key` set to `value` (percent-encoded here) as the first
    /// member; an existing member of that key is removed, and the last
    /// members go when there would be more than 64 or more than 8192 bytes.
    ///
    /// # Errors
    ///
    /// When `key` is not an HTTP token (letters, digits and
    /// ``!#$%&'*+-.^_`|~``), or the member alone is longer than 8192 bytes.
    pub fn with_entry(&self, key: &str, value: &str) -> Result<Self, BaggageError> {
        if !is_token(key) {
            return Err(BaggageError(
                "the key is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)",
            ));
        }
        let first = format!("{key}={}", utf8_percent_encode(value, VALUE_ESCAPES));
        if first.len() > MAX_BYTES {
            return Err(BaggageError("the member is longer than 8192 bytes"));
        }
        let rest = self
            .0
            .members()
            .filter(|member| member.split(['=', ';']).next() != Some(key));
        Ok(Self::parse_all(
            std::iter::once(first.as_str())
                .chain(rest)
                .collect::<Vec<_>>(),
        ))
    }
}

/// A member without optional whitespace, or `None` when it breaks the
/// grammar: `key OWS "=" OWS value *( OWS ";" OWS property )`.
fn normalise(member: &str) -> Option<String> {
    let member = member.trim_matches(is_ows);
    if member.is_empty() {
        return None;
    }
    let mut parts = member.split(';');
    let (key, value) = parts.next()?.split_once('=')?;
    let (key, value) = (key.trim_matches(is_ows), value.trim_matches(is_ows));
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let mut out = format!("{key}={value}");
    for property in parts {
        let property = property.trim_matches(is_ows);
        match property.split_once('=') {
            Some((name, value)) => {
                let (name, value) = (name.trim_matches(is_ows), value.trim_matches(is_ows));
                if !is_token(name) || !value.bytes().all(is_baggage_octet) {
                    return None;
                }
                out.push(';');
                out.push_str(name);
                out.push('=');
                out.push_str(value);
            }
            None if is_token(property) => {
                out.push(';');
                out.push_str(property);
            }
            None => return None,
        }
    }
    Some(out)
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Baggage({:?})", self.as_str())
    }
}

/// A baggage entry that cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid baggage entry: {0}")]
pub struct BaggageError(&'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_normalised_and_bad_ones_dropped() {
        let baggage = Baggage::parse_all([
            " a = 1 ; p ; q = 2 , bad key=1, b=\"quoted\", c=ok",
            "",
            "d=%E2%9C%93",
        ]);
        assert_eq!(baggage.as_str(), "a=1;p;q=2,c=ok,d=%E2%9C%93");
        assert_eq!(baggage.get("d").as_deref(), Some("\u{2713}"));
        assert_eq!(baggage.get("a").as_deref(), Some("1"));
        assert_eq!(baggage.get("missing"), None);
        assert!(Baggage::parse(" , ,").is_empty());
        assert_eq!(Baggage::parse("k=").get("k").as_deref(), Some(""));
    }

    #[test]
    fn limits_drop_whole_members() {
        let many = (0..100)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let baggage = Baggage::parse(&many);
        assert_eq!(baggage.len(), 64);
        assert_eq!(baggage.get("k63").as_deref(), Some("v"));
        let big = format!("a={},b=1", "x".repeat(8191));
        let baggage = Baggage::parse(&big);
        assert_eq!(
            baggage.as_str(),
            "b=1",
            "the member over the limit goes whole"
        );
        assert!(
            Baggage::parse(&"k=v,".repeat(5000)).is_empty(),
            "input over 16 KiB"
        );
    }

    #[test]
    fn entries_are_encoded_and_replace_their_key() {
        let baggage = Baggage::parse("user=1,tenant=acme");
        let updated = baggage.with_entry("user", "a,b;c d%").unwrap();
        assert_eq!(updated.as_str(), "user=a%2Cb%3Bc%20d%25,tenant=acme");
        assert_eq!(updated.get("user").as_deref(), Some("a,b;c d%"));
        assert!(baggage.with_entry("bad key", "1").is_err());
        assert!(baggage.with_entry("k", &"v".repeat(9000)).is_err());
    }
}
