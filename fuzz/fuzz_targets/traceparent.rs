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
    // A version 00 header whose flags say only "sampled" or nothing comes back as it was.
    if trimmed.starts_with("00-") && matches!(&trimmed[53..55], "00" | "01") {
        assert_eq!(header, trimmed);
    }
});
