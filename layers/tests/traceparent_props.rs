//! `traceparent` parsing, for any input: never a panic; every valid header
//! round-trips; every value that parses serialises to an equivalent header;
//! a header that breaks one W3C rule is refused.

use autotel_layers::{SpanId, TraceId, TraceParent};
use proptest::prelude::*;

fn header(trace_id: u128, parent_id: u64, flags: u8) -> String {
    format!("00-{trace_id:032x}-{parent_id:016x}-{flags:02x}")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2048,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_headers_round_trip(trace_id in 1..=u128::MAX, parent_id in 1..=u64::MAX, flags in any::<u8>()) {
        let text = header(trace_id, parent_id, flags);
        let parsed = TraceParent::parse(&text).expect("a valid header parses");
        prop_assert_eq!(parsed.trace_id(), TraceId::from_u128(trace_id));
        prop_assert_eq!(parsed.parent_id(), SpanId::from_u64(parent_id));
        prop_assert_eq!(parsed.is_sampled(), flags & 1 == 1);
        prop_assert_eq!(parsed.is_random(), flags & 2 == 2);
        // Only the sampled and random bits are kept: the header comes back
        // with 00 to 03.
        prop_assert_eq!(parsed.to_string(), header(trace_id, parent_id, flags & 3));
        let built = TraceParent::new(parsed.trace_id(), parsed.parent_id(), parsed.is_sampled())
            .map(|built| built.with_random(parsed.is_random()));
        prop_assert_eq!(built, Ok(parsed));
        // Spaces and tabs around the value are allowed (HTTP header OWS).
        let padded = format!(" \t{text}\t ");
        prop_assert_eq!(TraceParent::parse(&padded), Ok(parsed));
    }

    #[test]
    fn later_versions_are_read_by_their_prefix(
        version in 1u8..0xff,
        trace_id in 1..=u128::MAX,
        parent_id in 1..=u64::MAX,
        extra in "(-[a-z0-9]{0,20})?",
    ) {
        let text = format!("{version:02x}{}{extra}", &header(trace_id, parent_id, 1)[2..]);
        let parsed = TraceParent::parse(&text).expect("a future version parses");
        prop_assert_eq!(parsed.to_string(), header(trace_id, parent_id, 1));
    }

    #[test]
    fn any_text_parses_or_is_refused_with_a_reason(text in any::<String>()) {
        match TraceParent::parse(&text) {
            Ok(parsed) => {
                let again = TraceParent::parse(&parsed.to_string());
                prop_assert_eq!(again, Ok(parsed));
            }
            Err(error) => prop_assert!(error.to_string().starts_with("invalid traceparent: ")),
        }
    }

    #[test]
    fn near_valid_text_parses_or_is_refused_with_a_reason(
        trace_id in any::<u128>(),
        parent_id in any::<u64>(),
        flags in any::<u8>(),
        at in 0usize..55,
        byte in any::<u8>(),
    ) {
        // One byte of a valid-looking header replaced by anything.
        let mut bytes = header(trace_id, parent_id, flags).into_bytes();
        bytes[at] = byte;
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(parsed) = TraceParent::parse(&text) {
            prop_assert_eq!(TraceParent::parse(&parsed.to_string()), Ok(parsed));
            prop_assert!(parsed.trace_id().is_valid() && parsed.parent_id().is_valid());
        }
    }

    #[test]
    fn broken_rules_are_refused(
        trace_id in 1..=u128::MAX,
        parent_id in 1..=u64::MAX,
        hex_at in prop_oneof![3usize..35, 36usize..52],
        not_hex in "[g-zA-Z_.+ ]",
    ) {
        let valid = header(trace_id, parent_id, 1);
        // A digit that is not lowercase hex.
        let mut broken = valid.clone();
        broken.replace_range(hex_at..=hex_at, &not_hex);
        prop_assert!(TraceParent::parse(&broken).is_err(), "{}", broken);
        // Uppercase hex (only refused when the id has a letter).
        let upper = valid.to_uppercase();
        if upper != valid {
            prop_assert!(TraceParent::parse(&upper).is_err(), "{}", upper);
        }
        // Version ff, a longer version 00, zero ids.
        let version_ff = format!("ff{}", &valid[2..]);
        prop_assert!(TraceParent::parse(&version_ff).is_err(), "{}", version_ff);
        let longer = format!("{valid}-00");
        prop_assert!(TraceParent::parse(&longer).is_err(), "{}", longer);
        prop_assert!(TraceParent::parse(&header(0, parent_id, 1)).is_err());
        prop_assert!(TraceParent::parse(&header(trace_id, 0, 1)).is_err());
    }
}
