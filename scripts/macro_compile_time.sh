#!/usr/bin/env bash
# Compile time of `#[instrument_all]`: generates a crate with one module of
# N functions (default 200; half return a `Result`) and times `cargo build`
# (dev profile, dependencies already built) of three versions of it:
#   plain            no instrumentation
#   instrument_all   #[instrument_all] on the module
#   instrument       #[tracing::instrument(skip_all)] on each function
#                    (`err` on those that return a `Result`)
# Each build is run RUNS times (default 3) after touching the source, without
# incremental compilation (each build compiles the whole crate, as a first
# build or CI does); the median is printed. Usage: scripts/macro_compile_time.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=${1:-200}
runs=${2:-3}
dir=$root/target/macro-compile-time
mkdir -p "$dir/src"
cat >"$dir/Cargo.toml" <<EOF
[package]
name = "instrument-all-compile-time"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
autotel-layers = { path = "$root/layers" }
tracing = "0.1"
EOF
cp Cargo.lock "$dir/Cargo.lock"
export CARGO_TARGET_DIR=$dir/target
export CARGO_INCREMENTAL=0

generate() {
    local variant=$1
    {
        echo "#![allow(dead_code)]"
        [ "$variant" = instrument_all ] && echo "#[autotel_layers::instrument_all]"
        echo "pub mod generated {"
        for i in $(seq 1 "$n"); do
            if [ $((i % 2)) -eq 0 ]; then
                [ "$variant" = instrument ] && echo "    #[tracing::instrument(skip_all, err)]"
                echo "    pub fn f$i(x: u64) -> Result<u64, std::num::TryFromIntError> { Ok(u64::from(u32::try_from(x)?) + $i) }"
            else
                [ "$variant" = instrument ] && echo "    #[tracing::instrument(skip_all)]"
                echo "    pub fn f$i(x: u64) -> u64 { x.wrapping_mul($i) }"
            fi
        done
        echo "}"
    } >"$dir/src/lib.rs"
}

# Dependencies first, untimed.
generate plain
cargo build --manifest-path "$dir/Cargo.toml" --quiet

echo "functions: $n, runs: $runs, cores: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for variant in plain instrument_all instrument; do
    generate "$variant"
    times=()
    for _ in $(seq 1 "$runs"); do
        touch "$dir/src/lib.rs"
        start=$(date +%s.%N)
        cargo build --manifest-path "$dir/Cargo.toml" --quiet
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
    printf '%-16s median %.2f s  (runs: %s)\n' "$variant" "$median" "${times[*]}"
done
