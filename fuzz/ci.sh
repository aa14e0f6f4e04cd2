#!/usr/bin/env bash
# The short fuzz run (CI): every target for FUZZ_SECONDS (default 10) on stable Rust, from the
# committed seeds. A crash fails the run; its input is left in fuzz/artifacts/<target>/.
# The longer run: FUZZ_SECONDS=300 bash fuzz/ci.sh
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-10}"
targets=(smpp_inbound receipt segment msisdn api_json)

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# No sanitizer: Flit's crates forbid unsafe code, and AddressSanitizer needs nightly. The
# coverage instrumentation and libFuzzer itself work on stable.
cargo fuzz build --sanitizer none

passed=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" artifacts
    log="artifacts/$target.log"
    echo "fuzz: $target for ${seconds}s"
    status=0
    cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done ' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log"
        echo "fuzz: $target failed (exit $status); a crashing input, if any, is in fuzz/artifacts/$target/"
        echo "fuzz: $passed passed, 1 failed"
        exit 1
    fi
    passed=$((passed + 1))
done
echo "fuzz: $passed passed, 0 failed"
