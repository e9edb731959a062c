//! Redaction: any name and any pattern, no panic; matching ignores case and
//! punctuation, and a name holding a pattern is always hidden.
#![no_main]

use autotel_layers::redact::{DEFAULT_REDACTED_NAMES, Redaction};
use libfuzzer_sys::fuzz_target;

/// `text` with every ASCII letter's case flipped and `_`, `-`, `.` and spaces
/// moved around: a different spelling of the same name.
fn respell(text: &str, seed: u8) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for (i, c) in text.chars().enumerate() {
        match c {
            '_' | '-' | '.' | ' ' => {}
            c if c.is_ascii_lowercase() => out.push(c.to_ascii_uppercase()),
            c if c.is_ascii_uppercase() => out.push(c.to_ascii_lowercase()),
            c => out.push(c),
        }
        if (i as u8).wrapping_add(seed) % 3 == 0 {
            out.push(['-', '_', '.', ' '][usize::from(seed % 4)]);
        }
    }
    out
}

fn ascii_alphanumeric_lowercase(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_ascii() || c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (pattern, name) = text.split_once('\0').unwrap_or((&text, ""));

    let defaults = Redaction::default();
    let custom = Redaction::none().with_name(pattern);
    for candidate in [name, pattern] {
        let respelled = respell(candidate, seed);
        assert_eq!(
            defaults.matches(candidate),
            defaults.matches(&respelled),
            "{candidate:?} / {respelled:?}"
        );
        assert_eq!(custom.matches(candidate), custom.matches(&respelled));
    }

    // A name that holds the pattern, in any spelling, is hidden.
    let key = ascii_alphanumeric_lowercase(pattern);
    if !key.is_empty() {
        let wrapped = format!("x_{}_{name}", respell(pattern, seed));
        assert!(
            custom.matches(&wrapped),
            "{pattern:?} does not hide {wrapped:?}"
        );
        assert!(custom.matches(pattern));
    } else {
        // Nothing but punctuation: an empty pattern, which hides nothing.
        assert!(custom.is_empty());
        assert!(!custom.matches(name));
    }
    // Matching is a substring test on the normalised name.
    let normalised_name = ascii_alphanumeric_lowercase(name);
    let by_hand = DEFAULT_REDACTED_NAMES
        .iter()
        .any(|secret| normalised_name.contains(&ascii_alphanumeric_lowercase(secret)));
    assert_eq!(defaults.matches(name), by_hand, "{name:?}");
});
