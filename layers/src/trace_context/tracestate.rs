//! W3C `tracestate` values: parsed under the specification's limits, kept
//! and forwarded.

use std::fmt;

use super::list::List;

/// The most list members a `tracestate` holds.
const MAX_MEMBERS: usize = 32;
/// The longest key: a first character and up to 255 more.
const MAX_KEY: usize = 256;
/// The longest value.
const MAX_VALUE: usize = 256;
/// The longest `tracestate` forwarded; longer ones lose whole members, as the
/// specification says (members over [`LONG_MEMBER`] first, then from the
/// end).
pub(super) const MAX_FORWARDED: usize = 512;
/// Members longer than this go first when a `tracestate` is cut.
const LONG_MEMBER: usize = 128;
/// Header values longer than this, together, are not read at all: 32
/// members of the longest key and value fit, with room for whitespace.
pub(super) const MAX_INPUT: usize = 20 * 1024;

/// A W3C `tracestate`: the vendors' list of `key=value` members that travels
/// beside `traceparent`.
///
/// Parsed from one or more header values, it keeps the members in order,
/// without the optional whitespace, and is forwarded as one value. A value
/// that breaks the specification's grammar (a bad key or value, more than 32
/// members) is refused as a whole; a repeated key keeps its first member.
/// Forwarded values are at most 512 characters: longer ones lose members
/// over 128 characters first, then members from the end. Cloning is cheap
/// (a shared string).
///
/// ```
/// use autotel_layers::propagation::TraceState;
///
/// let state = TraceState::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")?;
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
/// assert_eq!(state.as_str(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
/// assert!(TraceState::parse("Rojo=1").is_err());
/// # Ok::<(), autotel_layers::propagation::TraceStateError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(List);

impl TraceState {
    /// The empty `tracestate`.
    pub const fn new() -> Self {
        Self(List::new())
    }

    /// Parses one `tracestate` header value.
    ///
    /// # Errors
    ///
    /// When the value breaks the W3C grammar or limits; see the
    /// [type docs](Self).
    pub fn parse(value: &str) -> Result<Self, TraceStateError> {
        Self::parse_all([value])
    }

    /// Parses the values of several `tracestate` header fields, combined in
    /// order as HTTP combines repeated fields. Empty fields and empty list
    /// members are allowed and skipped.
    ///
    /// # Errors
    ///
    /// When the combined value breaks the W3C grammar or limits, or is longer
    /// than 20 KiB; see the [type docs](Self).
    pub fn parse_all<'a, I>(values: I) -> Result<Self, TraceStateError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut members: Vec<&str> = Vec::new();
        let mut input = 0usize;
        for value in values {
            input += value.len();
            if input > MAX_INPUT {
                return Err(TraceStateError("it is longer than 20 KiB"));
            }
            for member in value.split(',') {
                let member = member.trim_matches(is_ows);
                if member.is_empty() {
                    continue;
                }
                let (key, value) = member
                    .split_once('=')
                    .ok_or(TraceStateError("a member has no '='"))?;
                check_key(key)?;
                check_value(value)?;
                if members.iter().any(|known| member_key(known) == key) {
                    // A repeated key: the first member stands.
                    continue;
                }
                if members.len() == MAX_MEMBERS {
                    return Err(TraceStateError("it has more than 32 members"));
                }
                members.push(member);
            }
        }
        Ok(Self::join(&members))
    }

    /// The members joined with `,`, cut to [`MAX_FORWARDED`] characters.
    fn join(members: &[&str]) -> Self {
        let length = |kept: &[&str]| {
            kept.iter().map(|m| m.len()).sum::<usize>() + kept.len().saturating_sub(1)
        };
        let mut kept: Vec<&str> = members.to_vec();
        if length(&kept) > MAX_FORWARDED {
            // Long members go first, from the end, then any from the end.
            while length(&kept) > MAX_FORWARDED {
                match kept.iter().rposition(|m| m.len() > LONG_MEMBER) {
                    Some(index) => {
                        kept.remove(index);
                    }
                    None => break,
                }
            }
            while length(&kept) > MAX_FORWARDED {
                kept.pop();
            }
        }
        Self(List::join(&kept))
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

    /// The value of `key`'s member.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The `(key, value)` members, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.members().filter_map(|member| member.split_once('='))
    }

    /// A copy with `key=value` as the first member, as a vendor updates its
    /// entry: an existing member of that key is removed, and the last member
    /// goes when there would be more than 32.
    ///
    /// # Errors
    ///
    /// When `key` or `value` breaks the W3C grammar.
    pub fn with_member(&self, key: &str, value: &str) -> Result<Self, TraceStateError> {
        check_key(key)?;
        check_value(value)?;
        let first = format!("{key}={value}");
        let mut members = vec![first.as_str()];
        members.extend(
            self.0
                .members()
                .filter(|member| member_key(member) != key)
                .take(MAX_MEMBERS - 1),
        );
        Ok(Self::join(&members))
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.as_str())
    }
}

impl std::str::FromStr for TraceState {
    type Err = TraceStateError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

/// Spaces and tabs: HTTP's optional whitespace.
pub(super) fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn member_key(member: &str) -> &str {
    member.split_once('=').map_or(member, |(key, _)| key)
}

/// `key = ( lcalpha / DIGIT ) 0*255 ( lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@" )`
fn check_key(key: &str) -> Result<(), TraceStateError> {
    let bytes = key.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return Err(TraceStateError("a key is empty"));
    };
    if bytes.len() > MAX_KEY {
        return Err(TraceStateError("a key is longer than 256 characters"));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(TraceStateError(
            "a key does not start with a lowercase letter or a digit",
        ));
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b);
    if !rest.iter().all(|&b| allowed(b)) {
        return Err(TraceStateError(
            "a key holds a character other than a-z, 0-9, '_', '-', '*', '/' and '@'",
        ));
    }
    Ok(())
}

/// `value = 0*255(chr) nblk-chr`, `chr = %x20 / nblk-chr`,
/// `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`.
fn check_value(value: &str) -> Result<(), TraceStateError> {
    let bytes = value.as_bytes();
    let Some(&last) = bytes.last() else {
        return Err(TraceStateError("a value is empty"));
    };
    if bytes.len() > MAX_VALUE {
        return Err(TraceStateError("a value is longer than 256 characters"));
    }
    if last == b' ' {
        return Err(TraceStateError("a value ends with a space"));
    }
    if !bytes
        .iter()
        .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
    {
        return Err(TraceStateError(
            "a value holds a character outside printable ASCII, or ',' or '='",
        ));
    }
    Ok(())
}

/// A `tracestate` value that is not valid W3C trace context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tracestate: {0}; expected up to 32 comma-separated key=value members \
     (keys of a-z, 0-9, '_', '-', '*', '/', '@'; values of printable ASCII but ',' and '=')"
)]
pub struct TraceStateError(&'static str);

#[cfg(test)]
mod tests {
    use super::*;

    fn members(state: &TraceState) -> Vec<(&str, &str)> {
        state.iter().collect()
    }

    #[test]
    fn whitespace_and_empty_members_are_dropped() {
        let state = TraceState::parse_all(["foo=1 \t , \t bar=2,, \t baz=3", "", " ,"]).unwrap();
        assert_eq!(state.as_str(), "foo=1,bar=2,baz=3");
        assert_eq!(state.len(), 3);
        assert!(TraceState::parse("").unwrap().is_empty());
        assert!(TraceState::parse(" \t, ,").unwrap().is_empty());
        // Leading spaces belong to the value.
        assert_eq!(TraceState::parse("foo= 1").unwrap().get("foo"), Some(" 1"));
    }

    #[test]
    fn several_fields_combine_in_order() {
        let state = TraceState::parse_all(["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]).unwrap();
        assert_eq!(state.as_str(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    }

    #[test]
    fn repeated_keys_keep_the_first_member() {
        let state = TraceState::parse_all(["foo=1", "foo=2,bar=3"]).unwrap();
        assert_eq!(members(&state), [("foo", "1"), ("bar", "3")]);
    }

    #[test]
    fn keys_follow_the_grammar() {
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        for good in [
            key.to_owned(),
            format!("{key}@a-z0-9_-*/"),
            "foo@".into(),
            "foo@@bar".into(),
            "foo@bar@baz".into(),
            "7".into(),
            "z".repeat(256),
            format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            format!("t@{}", "v".repeat(15)),
        ] {
            let text = format!("{good}=1");
            assert!(TraceState::parse(&text).is_ok(), "{good:?} refused");
        }
        for bad in [
            "foo ",
            "FOO",
            "foo.bar",
            "@foo",
            "_foo",
            "",
            &"z".repeat(257),
        ] {
            let text = format!("{bad}=1,bar=2");
            assert!(TraceState::parse(&text).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn values_follow_the_grammar() {
        let all: String = (0x20u8..=0x7e)
            .filter(|b| *b != b',' && *b != b'=')
            .map(char::from)
            .collect();
        let state = TraceState::parse(&format!("k={all}")).unwrap();
        assert_eq!(state.get("k"), Some(all.as_str()));
        for bad in [
            "foo=bar=baz",
            "foo=,bar=3",
            "foo",
            "foo=\u{e9}",
            "foo=a\u{7f}",
        ] {
            assert!(TraceState::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("k={}", "v".repeat(257));
        assert!(TraceState::parse(&long).is_err());
    }

    #[test]
    fn more_than_32_members_are_refused() {
        let list = |n: usize| {
            (1..=n)
                .map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(TraceState::parse(&list(32)).unwrap().len(), 32);
        assert!(TraceState::parse(&list(33)).is_err());
        assert!(TraceState::parse(&"x".repeat(MAX_INPUT + 1)).is_err());
    }

    #[test]
    fn forwarded_values_are_cut_by_whole_members() {
        let long = format!("long={}", "l".repeat(200));
        let shorts: Vec<String> = (0..31)
            .map(|i| format!("k{i:02}={}", "v".repeat(16)))
            .collect();
        let text = format!("{long},{}", shorts.join(","));
        let state = TraceState::parse(&text).unwrap();
        assert!(
            state.as_str().len() <= MAX_FORWARDED,
            "{}",
            state.as_str().len()
        );
        assert_eq!(state.get("long"), None, "the long member goes first");
        assert_eq!(state.get("k00").map(str::len), Some(16));
        assert!(state.as_str().starts_with("k00="));
        assert_eq!(state.get("k30"), None, "then members from the end");
    }

    #[test]
    fn a_vendor_member_goes_first() {
        let state = TraceState::parse("rojo=1,congo=2").unwrap();
        let updated = state.with_member("congo", "3").unwrap();
        assert_eq!(updated.as_str(), "congo=3,rojo=1");
        assert!(state.with_member("Congo", "3").is_err());
        let full = TraceState::parse(
            &(0..32)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(","),
        )
        .unwrap();
        let added = full.with_member("new", "1").unwrap();
        assert_eq!(added.len(), 32);
        assert_eq!(added.get("k31"), None);
    }
}
