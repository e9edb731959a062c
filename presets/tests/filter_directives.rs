//! Log filter directives from users (`RUST_LOG`, `LOG_LEVEL`,
//! `Preset::log_level`, `TelemetryControl::set_log_filter`) are accepted or
//! refused with an error; none makes the program panic. Found by the
//! `config` fuzz target.
//!
//! Telemetry is global, so everything runs in one test.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Directives on which tracing-subscriber 0.3.23's parser slices inside a
/// character: whitespace before a directive with a non-ASCII character
/// (the parser takes positions in the trimmed text to cut the untrimmed one).
const PANICKING: &[&str] = &[
    " é=debug",
    "info, é=debug",
    "\tcafé=warn",
    "info,  ü[span]=trace",
];

#[test]
fn directives_with_spaces_and_non_ascii_characters_do_not_panic() {
    let telemetry = autotel_presets::testing("svc")
        .try_init()
        .expect("telemetry starts");
    let control = telemetry.control();
    let mut panicked = Vec::new();
    for directives in PANICKING {
        let set = catch_unwind(AssertUnwindSafe(|| control.set_log_filter(directives)));
        if set.is_err() {
            panicked.push(format!("set_log_filter({directives:?})"));
        }
        // A second start resolves the settings, then is refused.
        let start = catch_unwind(|| {
            autotel_presets::testing("svc")
                .log_level(*directives)
                .try_init()
                .map(drop)
        });
        match start {
            Err(_) => panicked.push(format!("log_level({directives:?}).try_init()")),
            Ok(result) => assert!(result.is_err(), "telemetry started twice"),
        }
    }
    assert!(panicked.is_empty(), "panicked: {panicked:?}");
}
