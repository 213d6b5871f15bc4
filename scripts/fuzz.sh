#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a short fixed time on its corpus.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# A crash, a timeout (-timeout) or memory growth past -rss_limit_mb fails the run and leaves
# the reproducer in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}; shift || true

# cargo-fuzz passes nightly-only flags (-Zsanitizer); the installed stable toolchain accepts
# them with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install --locked cargo-fuzz || { echo "fuzz.sh: cannot install cargo-fuzz" >&2; exit 1; }
fi

cd fuzz
cargo clippy --locked --all-targets -- -D warnings
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then mapfile -t targets < <(cargo fuzz list); fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets" >&2; exit 1; }

echo "==> cargo fuzz build (${#targets[@]} targets)"
cargo fuzz build -O --debug-assertions

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "==> fuzz $t for ${secs}s"
  out=$(cargo fuzz run -O --debug-assertions "$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1) || {
    echo "$out" | tail -40; echo "fuzz.sh: $t failed (reproducer in fuzz/artifacts/$t/)" >&2; exit 1; }
  echo "$out" | grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' | tr '\n' ' '; echo
done
