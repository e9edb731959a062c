//! What the autotel test suites share, written once. Not published: the
//! crates' integration tests, examples tests and benches take it as a
//! dev-dependency.
//!
//! - [`peers`]: real peers on loopback (a Prometheus server, Datadog's test
//!   agent as OTLP receiver, any program), found through the variables that
//!   `scripts/peers.sh` exports; skipped outside CI when missing.
//! - [`net`]: free ports, forwarders, a receiver that never answers.
//! - [`http`]: `GET` through `ureq`, every status returned as a response.
//! - [`otlp`]: reading what the test agent received.
//! - [`push`] (feature `push`): recording through the push recorder and
//!   sending one interval at once.
//! - [`recorder`]: the one global `metrics` recorder of a test binary, and
//!   a local recorder of atomics readable at any time.
//! - [`writer`]: in-memory destinations for log lines.
//! - [`alloc`]: the counting global allocator of heap-use tests.
//! - [`time`]: a fixed timestamp, waiting on a condition, CPU time.
//! - [`task`]: futures that need no runtime, polled on the test's thread.
//! - [`child`]: one test of the current binary in a child process.
//! - [`scrape`]: Prometheus text, and autotel's own `/metrics` endpoint
//!   (feature `prometheus`).
//! - [`cloudwatch`] (feature `cloudwatch`): a stand-in for the CloudWatch
//!   API that decodes its CBOR requests.
//! - [`emf`]: CloudWatch embedded metric format lines checked against the
//!   schema written from the specification.
//! - [`statsd`]: Etsy statsd, with a backend that writes each flush as a
//!   JSON line.
//! - [`victoria_metrics`]: VictoriaMetrics, which stores Datadog series and
//!   answers PromQL.
//! - [`tls`] (feature `tls`): a test PKI and a TLS-terminating proxy.
//! - [`examples`] (feature `examples`): running the example binaries.
//!
//! Helpers panic with a message that says what failed: they run in tests.

pub mod alloc;
pub mod child;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
pub mod emf;
#[cfg(feature = "examples")]
pub mod examples;
pub mod http;
pub mod net;
pub mod otlp;
pub mod peers;
#[cfg(feature = "push")]
pub mod push;
pub mod recorder;
pub mod scrape;
pub mod statsd;
pub mod task;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod victoria_metrics;
pub mod writer;
