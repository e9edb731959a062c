#!/usr/bin/env bash
# What a build costs a user: a clean `cargo build` of a program that uses
# `autotel-presets` with its default features, against the same program
# wiring the stack it replaces by hand (tracing-subscriber's JSON formatter,
# tracing-opentelemetry and opentelemetry-appender-tracing onto
# opentelemetry-otlp, metrics-exporter-prometheus, tracing-appender). Each
# program is built from nothing in a target directory of its own, with the
# versions of this workspace's lock file, and the script prints the wall
# time and the number of crates compiled.
#
#   scripts/build_cost.sh            # debug builds, as `cargo build`
#   scripts/build_cost.sh --release  # release builds
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
profile=()
if [ "${1:-}" = "--release" ]; then
    profile=(--release)
fi
work="$root/target/build-cost"
rm -rf "$work"
mkdir -p "$work"

program() {
    local name=$1 dependencies=$2 main=$3
    mkdir -p "$work/$name/src"
    cat >"$work/$name/Cargo.toml" <<EOF
[package]
name = "$name"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
$dependencies

# A workspace of its own, not a member of autotel's.
[workspace]
EOF
    printf '%s\n' "$main" >"$work/$name/src/main.rs"
    # The versions autotel is built and tested with.
    cp "$root/Cargo.lock" "$work/$name/Cargo.lock"
}

program autotel "autotel-presets = { path = \"$root/presets\" }
tracing = \"0.1\"" '
fn main() {
    let _telemetry = autotel_presets::production("checkout").init();
    tracing::info!("ready");
}'

program by-hand 'tracing = "0.1"
tracing-subscriber = { version = "0.3", features = ["json", "env-filter"] }
tracing-appender = "0.2"
tracing-opentelemetry = "0.34"
opentelemetry = "0.33"
opentelemetry_sdk = "0.33"
opentelemetry-otlp = "0.33"
opentelemetry-appender-tracing = "0.33"
metrics = "0.24"
metrics-exporter-prometheus = "0.18"' '
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::prelude::*;

fn main() {
    let (writer, _guard) = tracing_appender::non_blocking(std::io::stdout());
    let spans = opentelemetry_otlp::SpanExporter::builder().with_http().build().unwrap();
    let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .build();
    let logs = opentelemetry_otlp::LogExporter::builder().with_http().build().unwrap();
    let logger = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_batch_exporter(logs)
        .build();
    metrics_exporter_prometheus::PrometheusBuilder::new().install().unwrap();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(writer))
        .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("checkout")))
        .with(opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&logger))
        .init();
    tracing::info!("ready");
}'

for name in autotel by-hand; do
    log="$work/$name.log"
    start=$(date +%s.%N)
    (cd "$work/$name" && CARGO_TARGET_DIR="$work/$name/target" cargo build "${profile[@]}" >"$log" 2>&1) || {
        cat "$log" >&2
        echo "the $name program did not build: its log is above" >&2
        exit 1
    }
    end=$(date +%s.%N)
    crates=$(grep -c '^ *Compiling ' "$log" || true)
    printf '%-8s %6.1f s  %3d crates compiled\n' "$name" "$(echo "$end - $start" | bc)" "$crates"
done
