//! Metrics recorders and export pipelines for autotel.
//!
//! autotel-exporters owns the sockets and threads that carry telemetry out of
//! the program. Exporters arrive feature by feature; `prometheus` (on by
//! default) will hold the Prometheus endpoint.
