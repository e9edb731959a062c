//! Redaction, for any names and patterns: no panic, and matching ignores
//! case and punctuation, so that a secret's name is hidden in any spelling.

use autotel_layers::redact::{DEFAULT_REDACTED_NAMES, Redaction};
use proptest::prelude::*;

/// The same name spelled differently: each ASCII letter's case set by
/// `upper`, and the separators of `seps` put between characters.
fn respell(name: &str, upper: &[bool], seps: &[&str]) -> String {
    let mut out = String::new();
    for (i, c) in name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .enumerate()
    {
        if upper.get(i).copied().unwrap_or(false) {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
        out.push_str(seps.get(i).copied().unwrap_or(""));
    }
    out
}

fn separators() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(
        prop_oneof![
            Just(""),
            Just(""),
            Just("_"),
            Just("-"),
            Just("."),
            Just(" "),
            Just("::")
        ],
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_spelling_matches_alike(
        name in any::<String>(),
        pattern in any::<String>(),
        upper in proptest::collection::vec(any::<bool>(), 0..40),
        seps in separators(),
    ) {
        let defaults = Redaction::default();
        let custom = Redaction::none().with_name(&pattern);
        let respelled = respell(&name, &upper, &seps);
        prop_assert_eq!(defaults.matches(&name), defaults.matches(&respelled), "{:?}", respelled);
        prop_assert_eq!(custom.matches(&name), custom.matches(&respelled));
    }

    #[test]
    fn a_name_holding_a_secret_is_hidden(
        secret in proptest::sample::select(DEFAULT_REDACTED_NAMES),
        before in "[a-z0-9_.-]{0,12}",
        after in "[a-z0-9_.-]{0,12}",
        upper in proptest::collection::vec(any::<bool>(), 0..40),
        seps in separators(),
    ) {
        let respelled = respell(secret, &upper, &seps);
        let name = format!("{before}{respelled}{after}");
        prop_assert!(Redaction::default().matches(&name), "{} is not hidden", name);
        prop_assert!(Redaction::none().with_name(secret).matches(&name));
        prop_assert!(!Redaction::none().matches(&name));
    }

    #[test]
    fn custom_patterns_match_what_contains_them(
        pattern in "[A-Za-z0-9]{1,12}",
        before in any::<String>(),
        after in any::<String>(),
    ) {
        let redaction = Redaction::none().with_name(&pattern);
        let holding = format!("{before}{pattern}{after}");
        prop_assert!(redaction.matches(&holding), "{:?}", holding);
        prop_assert!(redaction.matches(&pattern.to_uppercase()));
        // A name without the pattern's first letter cannot match.
        let first = pattern.chars().next().unwrap().to_ascii_lowercase();
        let joined = format!("{before}{after}");
        let without: String = joined
            .chars()
            .filter(|c| c.to_ascii_lowercase() != first)
            .collect();
        prop_assert!(!redaction.matches(&without), "{:?}", without);
    }

    #[test]
    fn punctuation_only_patterns_hide_nothing(pattern in "[-_. :/]{0,8}", name in any::<String>()) {
        let redaction = Redaction::none().with_name(&pattern);
        prop_assert!(redaction.is_empty());
        prop_assert!(!redaction.matches(&name));
    }
}
