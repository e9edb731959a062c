//! Configuration parsers reachable from the public API: the presets'
//! environment variables (the first seed's and `OTEL_*`), log filter
//! directives, sample ratios and OTLP endpoints. Any value is accepted or
//! refused with a readable error; nothing panics.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Mutex, OnceLock, PoisonError};

use autotel_exporters::otlp::Otlp;
use autotel_presets::{Error, TelemetryControl, TelemetryGuard};
use libfuzzer_sys::fuzz_target;

/// The variables the presets and the OTLP exporter read, in the order the
/// input's NUL-separated values are assigned to them.
const VARS: &[&str] = &[
    "ENVIRONMENT",
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "RUST_LOG",
    "LOG_LEVEL",
    "JSON_LOGS",
    "PROMETHEUS_PORT",
    "OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
];

/// Telemetry is initialised once per process: the first input installs the
/// testing preset (in memory, no socket), and every later `try_init` runs
/// the whole resolution of the environment before it is refused.
fn control() -> &'static TelemetryControl {
    static CONTROL: OnceLock<TelemetryControl> = OnceLock::new();
    /// The guard lives as long as the fuzzing process.
    static GUARD: Mutex<Option<TelemetryGuard>> = Mutex::new(None);
    CONTROL.get_or_init(|| {
        clear();
        let guard = autotel_presets::testing("fuzz")
            .json_logs(false)
            .without_otlp()
            .try_init()
            .expect("the testing preset starts with no variable set");
        let control = guard.control();
        *GUARD.lock().unwrap_or_else(PoisonError::into_inner) = Some(guard);
        control
    })
}

fn clear() {
    for name in VARS {
        // SAFETY: the fuzz target runs inputs on one thread, and the preset
        // installed here starts no thread that reads the environment.
        unsafe { std::env::remove_var(name) };
    }
}

/// An error a user reads: not empty, and naming what was wrong.
fn check_readable(error: &Error) {
    let text = error.to_string();
    assert!(!text.trim().is_empty(), "{error:?}");
    if let Error::InvalidSetting(invalid) = error {
        let setting = invalid.setting();
        assert!(
            VARS.contains(&setting) || setting.contains("::") || setting.starts_with("OTEL_"),
            "{setting} is neither a variable nor a builder method: {text}"
        );
        assert!(text.contains(setting), "{text}");
    }
}

fuzz_target!(|data: &[u8]| {
    let control = control();
    let mut values = data.split(|b| *b == 0);
    clear();
    for name in VARS {
        let Some(value) = values.next() else { break };
        if value.is_empty() {
            continue;
        }
        // SAFETY: as in `clear`.
        unsafe { std::env::set_var(name, OsStr::from_bytes(value)) };
    }
    for preset in [
        autotel_presets::from_env("fuzz"),
        autotel_presets::testing("fuzz"),
    ] {
        match preset.try_init() {
            Ok(_) => panic!("telemetry initialised twice in one process"),
            Err(error) => check_readable(&error),
        }
    }
    clear();

    // What is left goes to the run-time controls and the OTLP builder.
    let rest: Vec<u8> = values
        .flat_map(|v| v.iter().copied().chain([b'\n']))
        .collect();
    let text = String::from_utf8_lossy(&rest);
    let before = control.log_filter();
    match control.set_log_filter(&text) {
        Ok(()) => {
            let restored = control.set_log_filter(&before);
            assert!(
                restored.is_ok(),
                "the filter in force was refused: {before:?}"
            );
        }
        Err(error) => {
            check_readable(&error);
            assert_eq!(
                control.log_filter(),
                before,
                "a refused filter replaced the old one"
            );
        }
    }
    let ratio = text.trim().parse::<f64>().unwrap_or(f64::from_bits(
        rest.iter()
            .fold(0u64, |bits, b| bits.rotate_left(8) ^ u64::from(*b)),
    ));
    match control.set_trace_sample_ratio(ratio) {
        Ok(()) => assert!((0.0..=1.0).contains(&ratio), "ratio {ratio} accepted"),
        Err(error) => {
            check_readable(&error);
            assert!(!(0.0..=1.0).contains(&ratio), "ratio {ratio} refused");
        }
    }
    let _ = control.set_trace_sample_ratio(1.0);
    match Otlp::new().with_sample_ratio(ratio) {
        Ok(_) => assert!((0.0..=1.0).contains(&ratio)),
        Err(error) => assert!(!error.to_string().trim().is_empty()),
    }
    if let Err(error) = Otlp::new().with_endpoint(text.as_ref()) {
        assert!(!error.to_string().trim().is_empty(), "{error:?}");
    }
});
