//! The readable text logs hide secret-looking fields too, with the same
//! rule as the JSON lines.

use autotel_presets::autotel_layers::redact::Redaction;

#[test]
fn text_logs_hide_what_the_preset_redaction_matches() {
    let telemetry = autotel_presets::testing("redaction-text")
        .json_logs(false)
        .redaction(Redaction::default().with_name("iban"))
        .init();
    {
        let _span = tracing::info_span!("login", api_key = "sk-live-1", user = "ada").entered();
        tracing::info!(
            password = "hunter2",
            iban = "DE89 3704",
            attempt = 2,
            "logged in"
        );
        log::info!("through the log crate");
    }
    let logs = telemetry.captured_logs();
    let line = logs
        .iter()
        .find(|line| line.contains("logged in"))
        .unwrap_or_else(|| panic!("no line: {logs:#?}"));
    assert!(
        line.contains("login{api_key=[REDACTED] user=\"ada\"}"),
        "{line}"
    );
    assert!(
        line.ends_with("logged in password=[REDACTED] iban=[REDACTED] attempt=2"),
        "{line}"
    );
    let bridged = logs
        .iter()
        .find(|line| line.contains("through the log crate"))
        .unwrap_or_else(|| panic!("no line: {logs:#?}"));
    assert!(!bridged.contains("log."), "{bridged}");
    for secret in ["sk-live", "hunter2", "DE89"] {
        assert!(
            logs.iter().all(|line| !line.contains(secret)),
            "{secret}: {logs:#?}"
        );
    }
}
