//! `traceparent` parsing: any text is refused with an error or parsed into a
//! value that serialises back to an equivalent header.
#![no_main]

use autotel_layers::TraceParent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = TraceParent::parse(&text) else {
        return;
    };
    let header = parsed.to_string();
    assert_eq!(header.len(), 55, "{header}");
    assert_eq!(
        TraceParent::parse(&header),
        Ok(parsed),
        "{text:?} -> {header}"
    );
    assert_eq!(header.parse::<TraceParent>(), Ok(parsed));

    // The ids are those of the input, and the sampled flag its low bit.
    let trimmed = text.trim_matches(|c| c == ' ' || c == '\t');
    assert_eq!(&trimmed[3..35], parsed.trace_id().to_string(), "{text:?}");
    assert_eq!(&trimmed[36..52], parsed.parent_id().to_string(), "{text:?}");
    let flags = u8::from_str_radix(&trimmed[53..55], 16).expect("parsed flags are hex");
    assert_eq!(parsed.is_sampled(), flags & 1 == 1, "{text:?}");
    assert_eq!(parsed.is_random(), flags & 2 == 2, "{text:?}");
    // A version 00 header whose flags say only "sampled", "random" or nothing
    // comes back as it was.
    if trimmed.starts_with("00-") && matches!(&trimmed[53..55], "00" | "01" | "02" | "03") {
        assert_eq!(header, trimmed);
    }

    // The same bytes as the other W3C fields, and as a whole carrier.
    fields(&text);
});

/// `tracestate` and `baggage` parsing, and extraction from a carrier that
/// holds the text under every field, once and twice: never a panic, and what
/// comes out is within the limits and parses back to itself.
fn fields(text: &str) {
    use autotel_layers::propagation::{self, Baggage, RemoteContext, TraceState};

    if let Ok(state) = TraceState::parse_all(text.split('\n')) {
        assert!(state.as_str().len() <= 512, "{text:?}");
        assert!(state.len() <= 32, "{text:?}");
        assert_eq!(TraceState::parse(state.as_str()).as_ref(), Ok(&state));
    }
    let baggage = Baggage::parse_all(text.split('\n'));
    assert!(baggage.as_str().len() <= 8192 && baggage.len() <= 64, "{text:?}");
    assert_eq!(Baggage::parse(baggage.as_str()), baggage);

    for copies in 1..=2 {
        let carrier: Vec<(String, String)> = ["traceparent", "tracestate", "baggage"]
            .iter()
            .flat_map(|name| std::iter::repeat_n(((*name).to_owned(), text.to_owned()), copies))
            .collect();
        let context = propagation::extract(&carrier);
        if copies == 2 {
            assert_eq!(context.parent(), None, "a repeated traceparent is no parent");
        }
        let mut out = Vec::new();
        context.inject_w3c(&mut out);
        assert_eq!(RemoteContext::extract_w3c(&out), context);
    }
}
