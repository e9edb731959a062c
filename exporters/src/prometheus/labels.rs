//! Metric keys as the Prometheus text format can carry them.
//!
//! metrics-exporter-prometheus renders what it is given, and three kinds of
//! key would make a scrape wrong or unsafe:
//! - a metric with an empty name renders as a line that starts with `{`, and
//!   a label with an empty name as `{="v"}`: Prometheus then refuses the
//!   whole scrape. Such metrics are not recorded and such labels are left
//!   out; both are counted in `autotel_dropped_total{signal="metrics"}`;
//! - its escaping of label values keeps a backslash that precedes another
//!   backslash or a quote as the escape itself, so `a\"b` and `a"b` render
//!   alike. Backslashes are doubled before the values reach it, so every
//!   value reads back exactly;
//! - a label whose name looks like a secret carries the secret: its value is
//!   replaced by `[REDACTED]`, by the same [`Redaction`] rule as the logs and
//!   the OTLP export.
//!
//! A key that needs none of this (the usual case) is passed on as it is,
//! without allocating.

use autotel_layers::catalog;
use autotel_layers::redact::{REDACTED, Redaction};
use metrics::{Key, Label};

/// What the recorder does with a key.
#[derive(Debug, PartialEq)]
pub(super) enum Prepared {
    /// Record it as it is.
    AsIs,
    /// Record this key instead.
    Changed(Key),
    /// Do not record it: its metric name is empty.
    Refused,
}

/// Why a key or one of its labels was left out, as the `reason` label of
/// `autotel_dropped_total{signal="metrics"}`.
pub(super) const EMPTY_METRIC_NAME: &str = "empty_metric_name";
/// See [`EMPTY_METRIC_NAME`].
pub(super) const EMPTY_LABEL_NAME: &str = "empty_label_name";

/// `key` as it can be recorded, and the reason of anything left out.
pub(super) fn prepare(key: &Key, redaction: &Redaction) -> (Prepared, Option<&'static str>) {
    if key.name().is_empty() {
        return (Prepared::Refused, Some(EMPTY_METRIC_NAME));
    }
    let needs_change = key.labels().any(|label| {
        label.key().is_empty() || label.value().contains('\\') || redaction.matches(label.key())
    });
    if !needs_change {
        return (Prepared::AsIs, None);
    }
    let mut dropped = None;
    let labels: Vec<Label> = key
        .labels()
        .filter(|label| {
            let keep = !label.key().is_empty();
            if !keep {
                dropped = Some(EMPTY_LABEL_NAME);
            }
            keep
        })
        .map(|label| {
            if redaction.matches(label.key()) {
                Label::new(label.key().to_owned(), REDACTED)
            } else if label.value().contains('\\') {
                Label::new(label.key().to_owned(), label.value().replace('\\', "\\\\"))
            } else {
                label.clone()
            }
        })
        .collect();
    (
        Prepared::Changed(Key::from_parts(key.name().to_owned(), labels)),
        dropped,
    )
}

/// The key of `autotel_dropped_total{signal="metrics", reason}`.
pub(super) fn dropped_key(reason: &'static str) -> Key {
    Key::from_parts(
        catalog::AUTOTEL_DROPPED_TOTAL.name(),
        vec![
            Label::new("signal", "metrics"),
            Label::new("reason", reason),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, labels: &[(&str, &str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new((*k).to_owned(), (*v).to_owned()))
            .collect();
        Key::from_parts(name.to_owned(), labels)
    }

    #[test]
    fn ordinary_keys_pass_as_they_are() {
        let redaction = Redaction::default();
        let ordinary = key(
            "span_calls_total",
            &[("span_name", "charge"), ("status", "ok")],
        );
        assert_eq!(prepare(&ordinary, &redaction), (Prepared::AsIs, None));
    }

    #[test]
    fn empty_names_are_left_out_and_named() {
        let redaction = Redaction::default();
        assert_eq!(
            prepare(&key("", &[("a", "b")]), &redaction),
            (Prepared::Refused, Some(EMPTY_METRIC_NAME))
        );
        assert_eq!(
            prepare(&key("m", &[("", "v"), ("status", "ok")]), &redaction),
            (
                Prepared::Changed(key("m", &[("status", "ok")])),
                Some(EMPTY_LABEL_NAME)
            )
        );
    }

    #[test]
    fn backslashes_are_doubled_and_secrets_hidden() {
        let redaction = Redaction::default();
        assert_eq!(
            prepare(
                &key("m", &[("path", r#"C:\dir\"x""#), ("api_key", "k-123")]),
                &redaction
            ),
            (
                Prepared::Changed(key(
                    "m",
                    &[("path", r#"C:\\dir\\"x""#), ("api_key", REDACTED)]
                )),
                None
            )
        );
        assert_eq!(
            prepare(&key("m", &[("api_key", "k")]), &Redaction::none()),
            (Prepared::AsIs, None)
        );
    }
}
