//! OTLP export of traces, logs and metrics.
