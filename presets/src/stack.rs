//! Building the subscriber: the registry, the log filter, and every layer a
//! preset asks for, in one flat list.

use std::io::IsTerminal;
use std::sync::Arc;

#[cfg(feature = "console")]
use autotel_exporters::console::ConsoleLayer;
#[cfg(feature = "otlp")]
use autotel_exporters::otlp::OtlpGuard;
use autotel_layers::redact::Redaction;
#[cfg(feature = "testing")]
use autotel_layers::testing::Capture;
use autotel_layers::{JsonLayer, SpanMetricsLayer, SpanResourcesLayer};
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use crate::UserLayers;
use crate::config::Settings;
use crate::filter::LogFilter;
use crate::output::Output;
use crate::registered::{DispatchOnly, Registered, Shared};

/// The layers of the subscriber, gathered before it is built.
pub(crate) struct Layers<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) redaction: &'a Redaction,
    pub(crate) output: &'a Output,
    #[cfg(feature = "otlp")]
    pub(crate) otlp: Option<&'a OtlpGuard>,
    pub(crate) span_metrics: Option<SpanMetricsLayer>,
    #[cfg(feature = "testing")]
    pub(crate) capture: Option<&'a Capture>,
    pub(crate) user_layers: UserLayers,
}

impl Layers<'_> {
    /// The subscriber: `filter` first, then every layer.
    pub(crate) fn subscriber(self, filter: LogFilter) -> impl Subscriber + Send + Sync {
        let Self {
            settings,
            redaction,
            output,
            #[cfg(feature = "otlp")]
            otlp,
            span_metrics,
            #[cfg(feature = "testing")]
            capture,
            user_layers,
        } = self;
        let ansi = matches!(output, Output::NonBlocking(_)) && std::io::stdout().is_terminal();
        // One flat list: nesting a layer per part makes the subscriber's type
        // grow with each part.
        let mut stack: UserLayers = Vec::new();
        // First: it sees each span close before the OpenTelemetry layer does,
        // while the span's OpenTelemetry ids can still be read for exemplars.
        let span_metrics = span_metrics.map(Arc::new);
        if let Some(layer) = &span_metrics {
            stack.push(Box::new(Shared(layer.clone())));
        }
        #[cfg(feature = "otlp")]
        if let Some(layer) = otlp.and_then(OtlpGuard::trace_layer) {
            stack.push(Box::new(layer));
        }
        if !settings.json_logs {
            stack.push(Box::new(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(crate::text::RedactingFields::new(redaction.clone()))
                    .with_writer(output.clone())
                    .with_ansi(ansi),
            ));
        }
        #[cfg(feature = "otlp")]
        if let Some(layer) = otlp.and_then(OtlpGuard::log_layer) {
            stack.push(Box::new(layer));
        }
        #[cfg(feature = "console")]
        if settings.console_export {
            stack.push(Box::new(ConsoleLayer::new()));
        }
        #[cfg(feature = "testing")]
        if let Some(capture) = capture {
            stack.push(Box::new(capture.layer()));
        }
        stack.extend(user_layers);
        tracing_subscriber::registry()
            .with(filter)
            .with(stack)
            // The span metrics layer reads the dispatcher it runs in.
            .with(DispatchOnly(span_metrics))
            // These two read the dispatcher they run in, which a `Vec` of
            // layers does not pass on.
            .with(Registered(
                settings.system_metrics.then(SpanResourcesLayer::new),
            ))
            .with(Registered(
                settings
                    .json_logs
                    .then(|| json_layer(settings, redaction, output.clone())),
            ))
    }
}

/// The JSON log layer, with the service's identity on every line.
fn json_layer<W>(settings: &Settings, redaction: &Redaction, make_writer: W) -> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    JsonLayer::new(make_writer)
        .with_redaction(redaction.clone())
        .with_service_name(&settings.service_name)
        .with_service_version(&settings.service_version)
        .with_environment(settings.environment.as_str())
}
