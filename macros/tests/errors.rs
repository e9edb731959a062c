//! A traced function that returns `Err` marks its span as failed, with the
//! error's type, in the span metrics, the JSON line and the OTLP span.

use autotel_layers::testing::{SpanStatus, capture};
use autotel_layers::{ErrorType, JsonLayer, SpanMetricsLayer};
use autotel_presets::instrument_all;
use autotel_test_support::writer::Sink;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;

/// An error with kinds of its own.
#[derive(Debug)]
enum StoreError {
    Full,
    Locked(u32),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full => f.write_str("the store is full"),
            Self::Locked(by) => write!(f, "locked by {by}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl ErrorType for StoreError {
    fn error_type(&self) -> &str {
        match self {
            Self::Full => "store_full",
            Self::Locked(_) => "store_locked",
        }
    }
}

/// An error with no `ErrorType`, and no `Display`.
#[derive(Debug)]
struct Opaque;

#[instrument_all]
mod store {
    use super::{Opaque, StoreError};

    pub fn put(full: bool) -> Result<(), StoreError> {
        write(full)?;
        Ok(())
    }

    fn write(full: bool) -> Result<(), StoreError> {
        if full {
            return Err(StoreError::Full);
        }
        Ok(())
    }

    pub fn lock() -> Result<(), StoreError> {
        Err(StoreError::Locked(7))
    }

    pub fn opaque() -> Result<u8, Opaque> {
        Err(Opaque)
    }

    pub fn open(path: &str) -> std::io::Result<std::fs::File> {
        std::fs::File::open(path)
    }

    #[autotel(err = false)]
    pub fn lookup(key: &str) -> Result<u8, String> {
        Err(format!("no {key}: a normal outcome"))
    }

    pub async fn put_later(full: bool) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        write(full)
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn an_err_is_a_span_error_with_its_error_type() {
    let run = capture(|| {
        assert!(store::put(false).is_ok());
        assert!(store::put(true).is_err());
        assert!(store::lock().is_err());
        assert!(block_on(store::put_later(true)).is_err());
    });
    for (span, ok, error) in [
        ("store::put", 1, 1),
        ("store::write", 1, 2),
        ("store::lock", 0, 1),
        ("store::put_later", 0, 1),
    ] {
        let calls = |status| {
            run.counter(
                "span_calls_total",
                &[("span_name", span), ("status", status)],
            )
        };
        assert_eq!((calls("ok"), calls("error")), (ok, error), "{span}");
    }
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "store::write"), ("error_type", "store_full")]
        ),
        2
    );
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "store::lock"), ("error_type", "store_locked")]
        ),
        1
    );
    // The error event is inside the span that failed, at ERROR, with the
    // error's text.
    let lock = run.span("store::lock").unwrap();
    assert_eq!(lock.status(), SpanStatus::Error);
    let event = run
        .events()
        .iter()
        .find(|event| event.span() == Some(lock.id()))
        .unwrap();
    assert_eq!(event.level(), tracing::Level::ERROR);
    assert_eq!(event.field("error").unwrap().to_string(), "locked by 7");
    assert_eq!(
        event.field("error.type").unwrap().to_string(),
        "store_locked"
    );
}

#[test]
fn errors_without_error_type_are_named_by_their_type() {
    let run = capture(|| {
        assert!(store::opaque().is_err());
        assert!(store::open("/nonexistent/autotel/file").is_err());
    });
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[
                ("span_name", "store::opaque"),
                ("error_type", "errors::Opaque")
            ]
        ),
        1
    );
    let event = &run.events()[0];
    assert_eq!(event.field("error").unwrap().to_string(), "Opaque");
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "store::open"), ("error_type", "not_found")]
        ),
        1
    );
}

#[test]
fn err_false_keeps_the_span_ok() {
    let run = capture(|| {
        assert!(store::lookup("k").is_err());
    });
    assert_eq!(run.span("store::lookup").unwrap().status(), SpanStatus::Ok);
    assert!(run.events().is_empty());
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "store::lookup"), ("status", "ok")]
        ),
        1
    );
}

#[test]
fn the_json_line_and_the_otlp_span_show_the_error() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let sink = Sink::new();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(JsonLayer::new(sink.clone()))
        .with(SpanMetricsLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        assert!(store::lock().is_err());
    });
    provider.force_flush().unwrap();

    let lines = sink.json();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["logger"], "errors::store");
    assert_eq!(line["data"]["error.type"], "store_locked");
    assert_eq!(line["data"]["error"], "locked by 7");

    let spans = exporter.get_finished_spans().unwrap();
    let span = spans
        .iter()
        .find(|span| span.name == "store::lock")
        .unwrap();
    assert_eq!(span.status, Status::error("locked by 7"));
}

#[instrument_all(pipeline = "nightly")]
mod nightly {
    pub fn run(fail: bool) -> Result<u32, std::io::Error> {
        let rows = extract();
        load(rows, fail)
    }

    fn extract() -> u32 {
        tracing::info!(items_processed = 10u64, "extracted");
        10
    }

    fn load(rows: u32, fail: bool) -> Result<u32, std::io::Error> {
        if fail {
            return Err(std::io::ErrorKind::PermissionDenied.into());
        }
        Ok(rows)
    }
}

#[test]
fn a_pipeline_module_gives_runs_and_steps() {
    let run = capture(|| {
        assert!(nightly::run(false).is_ok());
        assert!(nightly::run(true).is_err());
    });
    let names: Vec<_> = run.spans().iter().map(|span| span.name()).collect();
    assert_eq!(
        names,
        ["extract", "load", "nightly", "extract", "load", "nightly"]
    );
    let pipeline = [("pipeline_name", "nightly")];
    let runs = |status| {
        run.counter(
            "pipeline_executions_total",
            &[("pipeline_name", "nightly"), ("status", status)],
        )
    };
    assert_eq!((runs("ok"), runs("error")), (1, 1));
    assert_eq!(run.counter("items_processed_total", &pipeline), 20);
    assert_eq!(
        run.counter(
            "step_errors_total",
            &[
                ("pipeline_name", "nightly"),
                ("step_name", "load"),
                ("error_type", "permission_denied")
            ]
        ),
        1
    );
    assert_eq!(
        run.histogram(
            "step_duration_seconds",
            &[("pipeline_name", "nightly"), ("step_name", "extract")]
        )
        .len(),
        2
    );
}

mod renamed {
    // The attribute through a path of another name.
    pub(crate) use autotel_layers as telemetry;

    #[telemetry::instrument_all(crate = crate::renamed::telemetry)]
    pub mod jobs {
        pub fn nightly() -> Result<(), String> {
            Err("late".into())
        }
    }
}

#[test]
fn crate_path_can_be_renamed() {
    let run = capture(|| {
        assert!(renamed::jobs::nightly().is_err());
    });
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[
                ("span_name", "jobs::nightly"),
                ("error_type", "alloc::string::String")
            ]
        ),
        1
    );
}
