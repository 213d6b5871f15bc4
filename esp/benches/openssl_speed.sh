#!/usr/bin/env bash
# OpenSSL's AES-256-GCM throughput at the sizes of esp/benches/gcm.rs, for the side-by-side
# table in esp/BENCH-SIMD.md. Run it right after the criterion bench, on the same machine:
#
#   cargo bench -p esp --bench gcm -- --warm-up-time 1 --measurement-time 3
#   esp/benches/openssl_speed.sh [SECONDS]        # default 3 s per size, single thread
#
# Prints one line per size: bytes, MB/s (10^6 bytes/s), GB/s. `openssl speed -evp` times
# encryption (seal) only, and (without -elapsed) divides by the process's CPU time, which
# keeps the figure meaningful on a shared, loaded machine.
set -euo pipefail
secs=${1:-3}
command -v openssl >/dev/null || { echo "openssl_speed.sh: openssl CLI not found" >&2; exit 1; }
echo "# $(openssl version)"
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf '%8s %12s %8s\n' bytes 'MB/s' 'GB/s'
for n in 64 512 1400 9000; do
  # The last line of `openssl speed` is "aes-256-gcm  <N>k"; N is in 1000s of bytes/s.
  line=$(openssl speed -seconds "$secs" -evp aes-256-gcm -bytes "$n" 2>/dev/null | tail -1)
  kbs=$(awk '{v=$NF; sub(/k$/,"",v); print v}' <<<"$line")
  awk -v n="$n" -v k="$kbs" 'BEGIN { printf "%8d %12.1f %8.2f\n", n, k/1000, k/1e6 }'
done
