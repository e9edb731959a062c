//! Trace every function of a module or impl block with one attribute.
//!
//! Rust cannot patch functions at run time, so autotel traces a whole module
//! or impl block at compile time instead: `#[instrument_all]` wraps every
//! function inside it in an ordinary `tracing` span. Span metrics
//! (`SpanMetricsLayer`), JSON logs and OTLP traces follow with no other
//! change. Use it through `autotel_presets::instrument_all` (or
//! `autotel_layers::instrument_all` without the presets):
//!
//! ```
//! use autotel_presets::instrument_all;
//!
//! #[instrument_all]
//! mod billing {
//!     pub fn charge(customer: &str, cents: u64) -> Result<u64, std::io::Error> {
//!         let fee = fee(cents);
//!         Ok(cents + fee)
//!     }
//!
//!     fn fee(cents: u64) -> u64 {
//!         cents / 100
//!     }
//! }
//!
//! # let run = autotel_layers::testing::capture(|| {
//! billing::charge("acme", 1_000).unwrap();
//! # });
//! # assert_eq!(run.span("billing::fee").unwrap().parent(), Some(run.span("billing::charge").unwrap().id()));
//! ```
//!
//! gives the spans `billing::charge` and, inside it, `billing::fee`, and
//! with them `span_calls_total{span_name="billing::charge",status="ok"}` and
//! the other span metrics.
//!
//! # What is traced
//!
//! | item | span name |
//! |---|---|
//! | a function of the module | `module::function` |
//! | a function of a nested inline module | `module::inner::function` |
//! | a method of an impl block or trait impl (in the module, or annotated itself) | `Type::method` |
//!
//! Sync and `async` functions, methods with any receiver (`self`, `&self`,
//! `&mut self`, `self: Box<Self>`, `self: Pin<&mut Self>`), generics,
//! `impl Trait` arguments, `unsafe fn`, and `async fn` of trait impls are
//! all traced. An `async fn`'s span covers every poll of its future, as
//! `tracing::Instrument` does. The generated code has no `unsafe`: it
//! builds under `#![forbid(unsafe_code)]`.
//!
//! Left alone:
//!
//! - `const fn`: a span cannot be entered in a const context;
//! - functions that already have `#[instrument]` / `#[tracing::instrument]`:
//!   their own attribute decides;
//! - a nested module or impl block with its own `#[instrument_all]` (its own
//!   options apply), and nested `#[cfg(test)]` modules;
//! - trait definitions, closures and functions defined inside function
//!   bodies;
//! - anything marked `#[autotel(skip)]`.
//!
//! The attribute needs the module's body: on `mod name;` (a module in its
//! own file) it is an error, as on a struct or a trait definition. Put it on
//! that file's impl blocks, or wrap its functions in an inline module.
//! With `#[async_trait]`, put `#[instrument_all]` above it, so that it sees
//! the `async fn`s.
//!
//! # Arguments and fields
//!
//! Arguments are never recorded unless listed: they may hold secrets, and
//! formatting them costs time. `fields(...)` lists arguments to record
//! and fields with a value, as in `tracing::instrument`:
//!
//! ```
//! use autotel_presets::instrument_all;
//!
//! #[instrument_all(fields(tenant, component = "billing"))]
//! mod billing {
//!     // `tenant` is recorded wherever a function has an argument of that name.
//!     pub fn charge(tenant: &str, cents: u64) -> u64 {
//!         refund(tenant, cents / 10)
//!     }
//!
//!     // Per function: more fields, another name or level, or no span.
//!     #[autotel(fields(cents), name = "refund", level = "debug")]
//!     fn refund(tenant: &str, cents: u64) -> u64 {
//!         cents
//!     }
//!
//!     #[autotel(skip)]
//!     pub fn hot_loop() {}
//! }
//! # let run = autotel_layers::testing::capture(|| { billing::charge("acme", 1_000); });
//! # assert_eq!(run.span("refund").unwrap().field("cents").unwrap().to_string(), "100");
//! ```
//!
//! Numbers, `bool`, `str` and `String` arguments are recorded as values,
//! others with their `Debug` text. Listing an argument that no function has
//! is an error, and so is a `#[autotel(fields(name))]` that is not an
//! argument of its function.
//!
//! | option | on | meaning |
//! |---|---|---|
//! | `level = "debug"` | attribute, function | the span's level (default `"info"`) |
//! | `fields(arg, key = value)` | attribute, function | record arguments; add fields |
//! | `name = "..."` | function | the span's name |
//! | `err = false` | function | an `Err` is a normal outcome here, not an error |
//! | `skip` | function, nested module or impl block | leave it untraced |
//! | `pipeline = "name"` | attribute | the module is a pipeline (below) |
//! | `crate = path` | attribute | where autotel is (below) |
//!
//! # Errors
//!
//! A function that returns a `Result` (any type named `Result`:
//! `Result<T, E>`, `io::Result<T>`, `anyhow::Result<T>`) and returns `Err`
//! records an `ERROR` event in its span with the fields `error.type` and
//! `error` (the error's `Display`, else its `Debug`, else its type's name),
//! as `#[tracing::instrument(err)]` does. So the span counts in
//! `span_calls_total{status="error"}` and
//! `span_errors_total{error_type=...}`, the JSON log line shows the error,
//! and the OTLP span gets the error status.
//!
//! `error.type` is the error's `autotel_layers::ErrorType` when it
//! implements it, else the Rust type's name (`my_app::db::QueryError`).
//! `std::io::Error` implements it with its kind (`not_found`,
//! `connection_refused`, ...). An error that travels up through `?` is
//! recorded by each traced function it leaves, as each of them failed. A
//! `Result` whose type is an alias with another name, or that contains
//! `impl Trait`, is not looked into.
//!
//! # Pipelines
//!
//! `pipeline = "name"` makes the module a pipeline for autotel's pipeline
//! metrics: its `pub` functions are runs (a span named after the pipeline,
//! with the field `pipeline.name`), the others are steps (a span named after
//! the function, with the field `step.name`):
//!
//! ```
//! use autotel_presets::instrument_all;
//!
//! #[instrument_all(pipeline = "daily_import")]
//! mod daily_import {
//!     pub fn run(rows: u64) -> u64 {
//!         save(load(rows))
//!     }
//!     fn load(rows: u64) -> u64 { rows }
//!     fn save(rows: u64) -> u64 { rows }
//! }
//! # let run = autotel_layers::testing::capture(|| { daily_import::run(3); });
//! # assert_eq!(run.counter("pipeline_executions_total", &[("pipeline_name", "daily_import")]), 1);
//! ```
//!
//! counts `pipeline_executions_total{pipeline_name="daily_import"}` and the
//! `step_duration_seconds` of `load` and `save`.
//!
//! # Where autotel is
//!
//! The generated code names `tracing` through the crate that re-exports the
//! attribute: `autotel_presets::instrument_all` expands to paths under
//! `::autotel_presets`, `autotel_layers::instrument_all` to paths under
//! `::autotel_layers`, so a crate needs no `tracing` dependency of its own.
//! Under another name (a renamed dependency, a re-export of your own), say
//! where with `crate = path`:
//!
//! ```
//! use autotel_layers as telemetry;
//!
//! // The path is resolved inside the module, hence `crate::`.
//! #[telemetry::instrument_all(crate = crate::telemetry)]
//! mod jobs {
//!     pub fn nightly() {}
//! }
//! # fn main() { jobs::nightly(); }
//! ```
//!
//! # Cost
//!
//! Per call: one span created, entered, exited and closed, exactly as
//! `#[tracing::instrument]`; a `Result` is matched once. Nothing happens
//! at run time when no subscriber is interested in the span. The span name,
//! callsite and fields are fixed at compile time.

mod expand;
mod options;
mod walk;

use proc_macro::TokenStream;

/// Traces every function of an inline module or impl block: see the
/// [crate docs](crate). Its generated code names `::autotel_presets`
/// unless `crate = path` says otherwise.
#[proc_macro_attribute]
pub fn instrument_all(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, "::autotel_presets")
}

/// The same attribute, re-exported as `autotel_layers::instrument_all`:
/// its generated code names `::autotel_layers` unless `crate = path` says
/// otherwise. See the [crate docs](crate).
#[proc_macro_attribute]
pub fn instrument_all_layers(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, "::autotel_layers")
}

fn expand(args: TokenStream, item: TokenStream, default_crate: &str) -> TokenStream {
    let item: syn::Item = match syn::parse(item) {
        Ok(item) => item,
        Err(error) => return error.to_compile_error().into(),
    };
    let walk = match options::Options::parse(args.into(), default_crate) {
        Ok(options) => walk::Walk::new(options),
        // The item is still walked with the default options, so that its
        // `#[autotel]` markers go and the only errors are the real ones.
        Err(error) => walk::Walk::with_error(options::Options::default_for(default_crate), error),
    };
    walk.run(item).into()
}
