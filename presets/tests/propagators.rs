//! `OTEL_PROPAGATORS` in a real process: the B3 and Jaeger propagators it
//! names write their headers beside the W3C ones, with the same ids, and
//! continue a trace that arrives with only theirs; the W3C fields travel
//! only when named (`b3` alone sends B3 alone, `none` nothing); an unknown
//! name is an error naming the variable. Each case runs in a child process (this test
//! binary, running only [`child`]), since telemetry is global.

use std::collections::HashMap;

use autotel_presets::autotel_layers::TraceContext;
use autotel_presets::autotel_layers::propagation;
use autotel_test_support::child::run_test_in_child;

/// Set in the child process to the case it runs.
const CASE: &str = "AUTOTEL_PROPAGATORS_CASE";

const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";

/// What the current span sends.
fn sent() -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    propagation::inject(&mut carrier);
    carrier
}

/// The trace id of a span continued from `carrier`.
fn continued(carrier: &[(&str, &str)]) -> String {
    let carrier: HashMap<String, String> = carrier
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let span = tracing::info_span!("consumer");
    propagation::extract(&carrier)
        .set_as_parent_of(&span)
        .expect("a registry span");
    TraceContext::of_span(&span).unwrap().trace_id().to_string()
}

#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    let started = autotel_presets::testing("propagators").try_init();
    if case == "unknown" {
        let error = started.expect_err("xray is not known").to_string();
        assert!(
            error.starts_with("OTEL_PROPAGATORS='tracecontext,xray' is not a list"),
            "{error}"
        );
        return;
    }
    let _telemetry = started.expect("telemetry starts");
    let _span = tracing::info_span!("handler").entered();
    let own = TraceContext::current().unwrap();
    let (trace, span) = (own.trace_id().to_string(), own.span_id().to_string());
    let carrier = sent();
    let w3c = format!("00-{TRACE}-00f067aa0ba902b7-01");
    if !["b3_alone", "none"].contains(&case.as_str()) {
        assert!(
            carrier["traceparent"].contains(&format!("{trace}-{span}")),
            "{carrier:?}"
        );
    }
    match case.as_str() {
        "b3multi_jaeger" => {
            assert_eq!(carrier["x-b3-traceid"], trace, "{carrier:?}");
            assert_eq!(carrier["x-b3-spanid"], span);
            assert_eq!(carrier["x-b3-sampled"], "1");
            assert_eq!(carrier["uber-trace-id"], format!("{trace}:{span}:0:1"));
            assert!(!carrier.contains_key("b3"));
            assert_eq!(
                continued(&[("uber-trace-id", &format!("{TRACE}:e457b5a2e4d86bd1:0:1"))]),
                TRACE
            );
            assert_eq!(
                continued(&[("x-b3-traceid", TRACE), ("x-b3-spanid", "e457b5a2e4d86bd1")]),
                TRACE
            );
        }
        "b3" => {
            assert_eq!(carrier["b3"], format!("{trace}-{span}-1"), "{carrier:?}");
            assert!(!carrier.contains_key("uber-trace-id"));
            assert_eq!(
                continued(&[("b3", &format!("{TRACE}-e457b5a2e4d86bd1-1"))]),
                TRACE
            );
            // A valid traceparent wins over B3.
            let w3c = format!(
                "00-{}-00f067aa0ba902b7-01",
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            assert_eq!(
                continued(&[
                    ("b3", &format!("{TRACE}-e457b5a2e4d86bd1-1")),
                    ("traceparent", &w3c)
                ]),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
        }
        "default" => {
            let keys: Vec<&String> = carrier.keys().collect();
            assert_eq!(keys, ["traceparent"], "only W3C by default");
            assert_ne!(
                continued(&[("b3", &format!("{TRACE}-e457b5a2e4d86bd1-1"))]),
                TRACE
            );
        }
        "b3_alone" => {
            let keys: Vec<&String> = carrier.keys().collect();
            assert_eq!(keys, ["b3"], "B3 alone: {carrier:?}");
            assert_eq!(carrier["b3"], format!("{trace}-{span}-1"));
            assert_ne!(continued(&[("traceparent", &w3c)]), TRACE);
            assert_eq!(
                continued(&[("b3", &format!("{TRACE}-e457b5a2e4d86bd1-1"))]),
                TRACE
            );
        }
        "none" => {
            assert!(carrier.is_empty(), "nothing travels: {carrier:?}");
            assert_ne!(
                continued(&[("traceparent", &w3c), ("baggage", "tenant=acme")]),
                TRACE
            );
        }
        other => panic!("no case {other}"),
    }
}

fn run(case: &str, propagators: Option<&str>) {
    let mut vars = vec![(CASE, case)];
    if let Some(propagators) = propagators {
        vars.push(("OTEL_PROPAGATORS", propagators));
    }
    run_test_in_child("child", &vars, |name| name.starts_with("OTEL_"));
}

#[test]
fn b3_multiple_headers_and_jaeger_go_beside_the_w3c_headers() {
    run(
        "b3multi_jaeger",
        Some("tracecontext, baggage, b3multi, jaeger"),
    );
}

#[test]
fn a_single_b3_header_is_written_and_read() {
    run("b3", Some("b3,tracecontext"));
}

#[test]
fn without_the_variable_only_w3c_travels() {
    run("default", None);
}

#[test]
fn b3_alone_sends_no_w3c_field_and_ignores_them() {
    run("b3_alone", Some("b3"));
}

#[test]
fn none_sends_and_continues_nothing() {
    run("none", Some("none"));
}

#[test]
fn an_unknown_propagator_is_an_error_naming_the_variable() {
    run("unknown", Some("tracecontext,xray"));
}
