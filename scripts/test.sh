#!/usr/bin/env bash
# The one test command of the workspace (README and .ci/run call it).
#
#   scripts/test.sh            everything: fmt, clippy, tests (+ interop when root), docs, fuzz smoke
#   FUZZ_SECONDS=0 scripts/test.sh   skip the fuzz smoke run
#
# It installs what it needs when missing and fails loudly when it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

is_root=0
[ "$(id -u)" = 0 ] && is_root=1

# ---- tools and peers -------------------------------------------------------
# Debian packages the interoperability tests use (see ../shared/PEERS.md).
# command -> package
declare -A debs=(
  [/usr/lib/ipsec/charon]=strongswan-charon
  [swanctl]=strongswan-swanctl
  [/usr/lib/ipsec/plugins/libstrongswan-gcm.so]=libstrongswan-standard-plugins
  [/usr/lib/ipsec/plugins/libstrongswan-curve25519.so]=libstrongswan-extra-plugins
  [/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so]=libcharon-extra-plugins
  [bird]=bird2
  [gobgpd]=gobgpd
  [/usr/lib/frr/bgpd]=frr
  [tshark]=tshark
  [text2pcap]=tshark
  [tcpdump]=tcpdump
  [iperf3]=iperf3
  [/usr/lib/python3/dist-packages/scapy/__init__.py]=python3-scapy
  [ip]=iproute2
  [ping]=iputils-ping
)
have() { case "$1" in /*) [ -e "$1" ] ;; *) command -v "$1" >/dev/null 2>&1 ;; esac; }

if [ "$is_root" = 1 ]; then
  missing=()
  for c in "${!debs[@]}"; do have "$c" || missing+=("${debs[$c]}"); done
  if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing Debian packages: ${missing[*]}"
    # The tshark package asks whether non-root users may capture: answer no.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      || die "apt-get install ${missing[*]} failed"
    for c in "${!debs[@]}"; do have "$c" || die "$c still missing after installing ${debs[$c]}"; done
  fi
else
  echo "test.sh: not root: interoperability tests (strongSwan, FRR, BIRD, GoBGP, Scapy, tshark) are skipped" >&2
fi

# ---- the workspace ---------------------------------------------------------
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

log "cargo fmt --check"
cargo fmt --all --check
( cd fuzz && cargo fmt --check )

log "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

log "cargo test"
if [ "$is_root" = 1 ]; then
  cargo test --locked --workspace -- --include-ignored
else
  cargo test --locked --workspace
fi

log "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps

# ---- fuzzing smoke run -----------------------------------------------------
FUZZ_SECONDS=${FUZZ_SECONDS:-8}
if [ "$FUZZ_SECONDS" != 0 ]; then
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi

log "all checks passed"
