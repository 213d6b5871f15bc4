#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a short fixed time on its committed corpus.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 8 s, every target)
#
# Fails when a target crashes, hangs (-timeout) or grows past -rss_limit_mb; the reproducer is
# left in fuzz/artifacts/<target>/ and its name is printed. The committed corpus
# (fuzz/corpus/<target>/) is read, never written: new inputs go to a scratch directory that is
# removed at the end (set FUZZ_KEEP_CORPUS=1 to keep it, FUZZ_SCRATCH=dir to choose it).
# Environment: FUZZ_TIMEOUT (s per input, default 10), FUZZ_RSS_MB (default 2048),
# FUZZ_JOBS (parallel targets, default 1; the machine is shared).
# See fuzz/README.md for longer runs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
shift || true
timeout_s=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}

# cargo-fuzz passes nightly-only flags (-Zsanitizer=address); the installed stable toolchain
# accepts them with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install --locked cargo-fuzz || { echo "fuzz.sh: cannot install cargo-fuzz" >&2; exit 1; }
fi

t0=$(date +%s)
cd fuzz
echo "==> fuzz: cargo fmt --check"
cargo fmt --check
# fuzz/.cargo/config.toml sets --cfg fuzzing, so the crates' fuzzing entry points type-check.
# No --locked: fuzz/Cargo.lock is not committed (the crates' versions come from ../Cargo.lock).
echo "==> fuzz: cargo clippy"
cargo clippy --all-targets -- -D warnings

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then mapfile -t targets < <(cargo fuzz list); fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets" >&2; exit 1; }

echo "==> cargo fuzz build -O --debug-assertions (${#targets[@]} targets)"
t1=$(date +%s)
cargo fuzz build -O --debug-assertions
t2=$(date +%s)

scratch=${FUZZ_SCRATCH:-$(mktemp -d "${TMPDIR:-/tmp}/flexvpn-fuzz.XXXXXX")}
cleanup() { [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$scratch"; }
trap cleanup EXIT

summary=()
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "$scratch/$t" "artifacts/$t"
  before=$(ls "artifacts/$t" | wc -l)
  echo "==> fuzz $t for ${secs}s"
  # The first corpus directory is the one libFuzzer writes to: the scratch one.
  set +e
  out=$(cargo fuzz run -O --debug-assertions "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
        -malloc_limit_mb="$rss_mb" -print_final_stats=1 2>&1)
  rc=$?
  set -e
  execs=$(echo "$out" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -1)
  rss=$(echo "$out" | sed -n 's/^stat::peak_rss_mb: *//p' | tail -1)
  cov=$(echo "$out" | grep -oE 'cov: [0-9]+' | tail -1 | grep -oE '[0-9]+' || true)
  line=$(printf '%-32s execs %-9s exec/s %-7s cov %-6s rss %sMB' "$t" "${execs:-?}" \
         "$(( ${execs:-0} / (secs > 0 ? secs : 1) ))" "${cov:-?}" "${rss:-?}")
  if [ $rc -ne 0 ]; then
    echo "$out" | grep -E -A4 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|^SUMMARY' | head -40
    repro=$(echo "$out" | grep -oE 'artifacts/[^ ]+/(crash|timeout|oom|leak|slow-unit)-[0-9a-f]+' | tail -1 || true)
    [ -n "$repro" ] || repro=$(ls -t "artifacts/$t" | head -1 | sed "s|^|artifacts/$t/|")
    echo "fuzz.sh: $t FAILED (exit $rc); reproducer: fuzz/${repro:-artifacts/$t/}" >&2
    echo "          replay: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O --debug-assertions $t ${repro:-artifacts/$t/...}" >&2
    failed+=("$t")
    line="$line  FAILED"
  elif [ "$(ls "artifacts/$t" | wc -l)" != "$before" ]; then
    failed+=("$t")
    line="$line  FAILED (new artifact)"
  fi
  echo "$line"
  summary+=("$line")
done
t3=$(date +%s)

echo
echo "==> fuzz summary (${secs}s per target; build $((t2 - t1))s, runs $((t3 - t2))s, total $((t3 - t0))s)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
