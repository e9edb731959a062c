//! `tracestate` and `baggage` parsing, and carrying them through inject and
//! extract, for any input: never a panic; what comes out stays within the
//! W3C limits and parses back to itself; valid lists keep their members.

use std::collections::HashMap;

use autotel_layers::propagation::{Baggage, RemoteContext, TraceState};
use autotel_layers::{SpanId, TraceId, TraceParent};
use proptest::prelude::*;

/// A key of the W3C grammar: a lowercase letter or digit, then up to 255
/// key characters.
fn key() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_*/@-]{0,40}"
}

/// A value of the W3C grammar: printable ASCII but ',' and '=', not ending
/// in a space.
fn value() -> impl Strategy<Value = String> {
    "[ -+\\--<>-~]{0,30}[!-+\\--<>-~]"
}

/// Whitespace that may surround list members.
fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_lists_keep_their_members_in_order(
        members in prop::collection::vec((key(), value(), ows(), ows()), 0..=32),
        split_at in any::<prop::sample::Index>(),
    ) {
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<_> = members.into_iter().filter(|(k, ..)| seen.insert(k.clone())).collect();
        let texts: Vec<String> = unique
            .iter()
            .map(|(k, v, before, after)| format!("{before}{k}={v}{after}"))
            .collect();
        // The list split over two header fields, as HTTP may send it.
        let at = if texts.is_empty() { 0 } else { split_at.index(texts.len() + 1) };
        let (first, second) = (texts[..at].join(","), texts[at..].join(","));
        let state = TraceState::parse_all([first.as_str(), second.as_str()])
            .expect("a valid list parses");
        let expected: Vec<(&str, &str)> =
            unique.iter().map(|(k, v, ..)| (k.as_str(), v.as_str())).collect();
        let joined_len = expected.iter().map(|(k, v)| k.len() + v.len() + 1).sum::<usize>()
            + expected.len().saturating_sub(1);
        if joined_len <= 512 {
            prop_assert_eq!(state.iter().collect::<Vec<_>>(), expected);
        } else {
            prop_assert!(state.as_str().len() <= 512);
            // Whole members are dropped, never cut.
            for member in state.iter() {
                prop_assert!(expected.contains(&member));
            }
        }
        prop_assert_eq!(TraceState::parse(state.as_str()), Ok(state));
    }

    #[test]
    fn any_tracestate_text_parses_within_limits_or_is_refused(text in any::<String>()) {
        match TraceState::parse(&text) {
            Ok(state) => {
                prop_assert!(state.len() <= 32);
                prop_assert!(state.as_str().len() <= 512);
                prop_assert_eq!(TraceState::parse(state.as_str()), Ok(state.clone()));
            }
            Err(error) => prop_assert!(error.to_string().starts_with("invalid tracestate: ")),
        }
    }

    #[test]
    fn near_valid_tracestate_text_never_panics(
        members in prop::collection::vec((key(), value()), 1..40),
        noise in "[ -~\t]{0,4}",
        at in any::<prop::sample::Index>(),
    ) {
        let mut text = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let at = text.floor_char_boundary(at.index(text.len() + 1));
        text.insert_str(at, &noise);
        if let Ok(state) = TraceState::parse(&text) {
            prop_assert!(state.len() <= 32 && state.as_str().len() <= 512);
        }
    }

    #[test]
    fn any_baggage_text_keeps_what_is_valid_within_limits(text in any::<String>()) {
        let baggage = Baggage::parse(&text);
        prop_assert!(baggage.len() <= 64);
        prop_assert!(baggage.as_str().len() <= 8192);
        prop_assert_eq!(Baggage::parse(baggage.as_str()), baggage.clone());
        for (key, _) in baggage.iter() {
            prop_assert!(text.contains(key));
        }
    }

    #[test]
    fn baggage_entries_round_trip_any_value(
        key in "[A-Za-z0-9!#$&'*+.^_`|~-]{1,20}",
        value in any::<String>(),
    ) {
        let baggage = Baggage::new().with_entry(&key, &value).expect("a token key");
        let decoded = baggage.get(&key).map(|v| v.into_owned());
        prop_assert_eq!(decoded.as_deref(), Some(value.as_str()));
        prop_assert_eq!(Baggage::parse(baggage.as_str()), baggage);
    }

    #[test]
    fn inject_then_extract_gives_the_same_context(
        trace_id in 1..=u128::MAX,
        parent_id in 1..=u64::MAX,
        sampled in any::<bool>(),
        random in any::<bool>(),
        members in prop::collection::vec((key(), value()), 0..5),
        entries in prop::collection::vec(("[a-z]{1,8}", any::<String>()), 0..5),
    ) {
        let parent = TraceParent::new(TraceId::from_u128(trace_id), SpanId::from_u64(parent_id), sampled)
            .expect("valid ids")
            .with_random(random);
        let state = members.iter().try_fold(TraceState::new(), |state, (k, v)| state.with_member(k, v))
            .expect("valid members");
        let baggage = entries.iter().try_fold(Baggage::new(), |b, (k, v)| b.with_entry(k, v))
            .expect("valid entries");
        let context = RemoteContext::new(parent).with_trace_state(state).with_baggage(baggage);
        let mut carrier = HashMap::new();
        context.inject_w3c(&mut carrier);
        prop_assert_eq!(RemoteContext::extract_w3c(&carrier), context);
    }
}
