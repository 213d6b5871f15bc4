#!/bin/sh
# Reference figures for the handshake bench: OpenSSL's X25519 and FFDH-2048 key agreement
# on one core. Compare "op/s" with the handshake bench's elements/s (each of our handshakes
# does two key pairs and two shared secrets).
set -e
openssl speed -seconds 3 ecdhx25519 2>/dev/null | tail -3
openssl speed -seconds 3 ffdh2048 2>/dev/null | tail -3
