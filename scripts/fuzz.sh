#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for SECONDS (default 60) with the
# nightly toolchain, starting from the committed corpus in fuzz/corpus/TARGET.
# Not part of CI. A crash stops the script with the failing input in
# fuzz/artifacts/TARGET/; `cargo +nightly fuzz fmt TARGET FILE` prints it.
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 300        # 5 minutes per target
#   scripts/fuzz.sh 60 json    # only the named targets
#   FUZZ_MINIMIZE=1 scripts/fuzz.sh 60   # then shrink each corpus (cargo fuzz cmin)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
if ! [[ "${seconds}" =~ ^[0-9]+$ ]] || [ "${seconds}" -eq 0 ]; then
    echo "scripts/fuzz.sh: SECONDS='${seconds}' is not a positive whole number of seconds" >&2
    exit 2
fi

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "scripts/fuzz.sh: the nightly toolchain is missing; install it with 'rustup toolchain install nightly'" >&2
    exit 2
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

for target in "${targets[@]}"; do
    mkdir -p "corpus/${target}"
    printf '\n==> %s for %s s\n' "${target}" "${seconds}"
    # Inputs of 4 KiB at most; 10 s on one input is a hang; 2 GiB is a leak.
    cargo +nightly fuzz run "${target}" "corpus/${target}" -- \
        -max_total_time="${seconds}" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1
    if [ "${FUZZ_MINIMIZE:-0}" = "1" ]; then
        cargo +nightly fuzz cmin "${target}" "corpus/${target}"
    fi
done
