//! JSON logs: `JsonLayer` against the JSON formatters of the ecosystem, for an
//! event two spans deep with five fields, written to an in-memory sink; and
//! the non-blocking writer against `tracing_appender::non_blocking`, by the
//! producer's cost per line.
//!
//! Run with `cargo bench -p autotel-benches --bench json`.

use std::cell::RefCell;
use std::hint::black_box;
use std::io::{self, Write};

use autotel_layers::JsonLayer;
use autotel_layers::writer::NonBlocking;
use criterion::{Criterion, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

thread_local! {
    static MEMORY: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1 << 20));
}

/// An in-memory sink: lines are copied into a per-thread buffer, cleared when
/// it reaches 1 MiB.
#[derive(Clone, Copy, Debug)]
struct Memory;

struct MemoryWriter;

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        MEMORY.with(|memory| {
            let mut memory = memory.borrow_mut();
            if memory.len() + buf.len() > 1 << 20 {
                memory.clear();
            }
            memory.extend_from_slice(buf);
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Memory {
    type Writer = MemoryWriter;

    fn make_writer(&self) -> Self::Writer {
        MemoryWriter
    }
}

fn subscribers() -> Vec<(&'static str, Dispatch)> {
    vec![
        (
            "no layer (registry only)",
            Dispatch::new(tracing_subscriber::registry()),
        ),
        (
            "autotel JsonLayer",
            Dispatch::new(
                tracing_subscriber::registry().with(
                    JsonLayer::new(Memory)
                        .with_service_name("bench")
                        .with_service_version("1.0.0")
                        .with_environment("production"),
                ),
            ),
        ),
        (
            "tracing-subscriber fmt().json()",
            Dispatch::new(
                tracing_subscriber::registry().with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_current_span(true)
                        .with_writer(Memory),
                ),
            ),
        ),
        (
            "tracing-subscriber fmt().json(), current span only",
            Dispatch::new(
                tracing_subscriber::registry().with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_current_span(true)
                        .with_span_list(false)
                        .with_writer(Memory),
                ),
            ),
        ),
        (
            "json-subscriber, current span only",
            Dispatch::new(
                tracing_subscriber::registry().with(
                    json_subscriber::fmt::layer()
                        .with_current_span(true)
                        .with_span_list(false)
                        .with_writer(Memory),
                ),
            ),
        ),
        (
            "json-subscriber",
            Dispatch::new(
                tracing_subscriber::registry().with(
                    json_subscriber::fmt::layer()
                        .with_current_span(true)
                        .with_writer(Memory),
                ),
            ),
        ),
        (
            "tracing-bunyan-formatter",
            Dispatch::new(
                tracing_subscriber::registry()
                    .with(tracing_bunyan_formatter::JsonStorageLayer)
                    .with(tracing_bunyan_formatter::BunyanFormattingLayer::new(
                        "bench".to_owned(),
                        Memory,
                    )),
            ),
        ),
    ]
}

fn json_event(c: &mut Criterion) {
    let mut group = c.benchmark_group("json");
    for (name, dispatch) in subscribers() {
        tracing::dispatcher::with_default(&dispatch, || {
            let pipeline = tracing::info_span!("pipeline", pipeline.name = "etl", run = 7u64);
            let _pipeline = pipeline.enter();
            let step = tracing::info_span!("step", step.name = "load", attempt = 1u64);
            let _step = step.enter();
            group.bench_function(format!("event two spans deep, five fields/{name}"), |b| {
                b.iter(|| {
                    tracing::info!(
                        rows = black_box(1000u64),
                        table = "orders",
                        ratio = 0.25,
                        ok = true,
                        user = "ada",
                        "loaded rows"
                    );
                });
            });
        });
    }

    let line = br#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"INFO","logger":"bench","message":"loaded rows","service.name":"bench","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","data":{"rows":1000,"table":"orders","ratio":0.25,"ok":true,"user":"ada"}}
"#;
    {
        let (writer, guard) = NonBlocking::builder()
            .build(io::sink())
            .expect("writer thread");
        group.bench_function("writer, producer cost per line/autotel writer", |b| {
            b.iter(|| (&writer).write_all(black_box(line)));
        });
        drop(guard);
    }
    {
        let (mut writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(io::sink());
        group.bench_function(
            "writer, producer cost per line/tracing_appender non_blocking",
            |b| {
                b.iter(|| writer.write_all(black_box(line)));
            },
        );
        drop(guard);
    }
    group.finish();
}

criterion_group!(benches, json_event);
criterion_main!(benches);
