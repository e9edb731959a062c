//! Which propagators carry traces between services: `OTEL_PROPAGATORS`.

use super::read::text;
use super::{InvalidSetting, ReadVar};

/// A propagator that `OTEL_PROPAGATORS` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Propagator {
    /// W3C Trace Context: `traceparent` and `tracestate`.
    TraceContext,
    /// W3C Baggage: `baggage`.
    Baggage,
    /// B3 in one header (`b3`).
    B3,
    /// B3 in several headers (`X-B3-TraceId`, `X-B3-SpanId`, ...).
    B3Multi,
    /// Jaeger's `uber-trace-id` and `uberctx-*` headers.
    Jaeger,
}

impl Propagator {
    /// The name `OTEL_PROPAGATORS` gives it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TraceContext => "tracecontext",
            Self::Baggage => "baggage",
            Self::B3 => "b3",
            Self::B3Multi => "b3multi",
            Self::Jaeger => "jaeger",
        }
    }

    const ALL: [Self; 5] = [
        Self::TraceContext,
        Self::Baggage,
        Self::B3,
        Self::B3Multi,
        Self::Jaeger,
    ];
}

/// The propagators `OTEL_PROPAGATORS` names, in order and each once:
/// `tracecontext` and `baggage` when unset, none for `none`.
///
/// # Errors
///
/// When the list names a propagator autotel does not know (`xray`,
/// `ottrace`, a misspelling), combines `none` with others, or `read` could
/// not read it.
pub fn propagators(read: ReadVar<'_>) -> Result<Vec<Propagator>, InvalidSetting> {
    let Some(value) = text(read, "OTEL_PROPAGATORS")? else {
        return Ok(vec![Propagator::TraceContext, Propagator::Baggage]);
    };
    let error = |expected| InvalidSetting::new("OTEL_PROPAGATORS", value.clone(), expected);
    let names: Vec<String> = value
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    if names.iter().any(|name| name == "none") {
        return if names.iter().all(|name| name == "none") {
            Ok(Vec::new())
        } else {
            Err(error(
                "combines none with propagators: give none alone, or a list of tracecontext, \
                 baggage, b3, b3multi and jaeger",
            ))
        };
    }
    let mut out = Vec::new();
    for name in &names {
        let propagator = Propagator::ALL
            .into_iter()
            .find(|propagator| propagator.name() == name)
            .ok_or_else(|| {
                error(
                    "is not a list of propagators autotel knows: tracecontext, baggage, b3, \
                     b3multi, jaeger, or none",
                )
            })?;
        if !out.contains(&propagator) {
            out.push(propagator);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::read::tests_support::vars;

    #[test]
    fn the_list_is_read_in_order_with_the_standard_default() {
        use Propagator::*;
        let read = |value: &str| propagators(&vars(&[("OTEL_PROPAGATORS", value)]));
        assert_eq!(propagators(&vars(&[])).unwrap(), [TraceContext, Baggage]);
        assert_eq!(
            read("b3multi, TraceContext,b3multi,,").unwrap(),
            [B3Multi, TraceContext]
        );
        assert_eq!(read("jaeger,b3,baggage").unwrap(), [Jaeger, B3, Baggage]);
        assert_eq!(read("none").unwrap(), []);
        let error = read("tracecontext,xray").unwrap_err().to_string();
        assert_eq!(
            error,
            "OTEL_PROPAGATORS='tracecontext,xray' is not a list of propagators autotel knows: \
             tracecontext, baggage, b3, b3multi, jaeger, or none"
        );
        assert!(
            read("none,b3")
                .unwrap_err()
                .to_string()
                .contains("combines none")
        );
    }
}
