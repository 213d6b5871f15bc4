#!/usr/bin/python3
"""Independent reference values for ikev2/tests/vectors.rs.

Computed with Python's hmac/hashlib, int pow() and the `cryptography` package
(OpenSSL), not with this crate. Run from this directory:
    /usr/bin/python3 gen_vectors.py
It rewrites sk.txt, modp.txt, modp2048_prime.hex and psk_auth.txt. Inputs are fixed, so the output
is stable. Format: blocks separated by blank lines, `name = hex` per line.
"""
import hashlib
import hmac
import subprocess

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def pattern(n, start):
    return bytes((start + 7 * i) & 0xFF for i in range(n))


def write(path, blocks):
    with open(path, "w") as f:
        for b in blocks:
            for k, v in b.items():
                f.write(f"{k} = {v.hex() if isinstance(v, bytes) else v}\n")
            f.write("\n")


# --- SK payloads (RFC 5282 / RFC 7296 3.14) -------------------------------
blocks = []
prefix = pattern(28, 0x11) + bytes([0x23, 0x00, 0x01, 0x00])  # header + SK generic header
inner = pattern(45, 0x40)
for name, klen in (("aes128gcm16", 16), ("aes256gcm16", 32)):
    key, salt, iv = pattern(klen, 0x01), pattern(4, 0xA0), pattern(8, 0xC0)
    padding = bytes([9, 9, 9])  # 3 pad bytes of any value, then pad length 3
    pt = inner + padding + bytes([len(padding)])
    ct_tag = AESGCM(key).encrypt(salt + iv, pt, prefix)
    blocks.append({"suite": name, "integ": "none", "sk_e": key + salt, "sk_a": b"",
                   "prefix": prefix, "inner": inner, "body": iv + ct_tag})
for name, klen, integ, h, icv in (
    ("aes128cbc", 16, "sha256_128", hashlib.sha256, 16),
    ("aes256cbc", 32, "sha384_192", hashlib.sha384, 24),
    ("aes256cbc", 32, "sha512_256", hashlib.sha512, 32),
):
    ek, ak, iv = pattern(klen, 0x03), pattern(h().digest_size, 0x05), pattern(16, 0xD0)
    n = len(inner) + 1
    padlen = (16 - n % 16) % 16 + 16  # one extra block: padding need not be minimal
    pt = inner + bytes(range(1, padlen + 1)) + bytes([padlen])
    enc = Cipher(algorithms.AES(ek), modes.CBC(iv)).encryptor()
    ct = enc.update(pt) + enc.finalize()
    mac = hmac.new(ak, prefix + iv + ct, h).digest()[:icv]
    blocks.append({"suite": name, "integ": integ, "sk_e": ek, "sk_a": ak,
                   "prefix": prefix, "inner": inner, "body": iv + ct + mac})
write("sk.txt", blocks)

# --- MODP DH (RFC 3526) ----------------------------------------------------
def prime(bits):
    subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                    f"group:modp_{bits}", "-out", f"/tmp/gen_modp{bits}.pem"], check=True,
                   capture_output=True)
    out = subprocess.run(["openssl", "asn1parse", "-in", f"/tmp/gen_modp{bits}.pem"],
                         check=True, capture_output=True, text=True).stdout
    return int([l for l in out.splitlines() if "INTEGER" in l][0].split(":")[-1], 16)


blocks = []
for bits, group in ((2048, 14), (3072, 15), (4096, 16)):
    p, plen = prime(bits), bits // 8
    x = int.from_bytes(pattern(40, 0x21), "big")
    # pick the responder's exponent so the shared secret has a leading zero
    # byte, which exercises the left padding of g^ir
    y0 = int.from_bytes(pattern(40, 0x33), "big")
    gx = pow(2, x, p)
    y = next(y for y in range(y0, y0 + 100000) if pow(gx, y, p) < 1 << (bits - 8))
    gy = pow(2, y, p)
    blocks.append({"group": str(group), "x": x.to_bytes(40, "big"), "y": y.to_bytes(40, "big"),
                   "gx": gx.to_bytes(plen, "big"), "gy": gy.to_bytes(plen, "big"),
                   "gxy": pow(gy, x, p).to_bytes(plen, "big")})
write("modp.txt", blocks)
with open("modp2048_prime.hex", "w") as f:
    f.write(prime(2048).to_bytes(256, "big").hex() + "\n")

# --- PSK AUTH (RFC 7296 2.15) ----------------------------------------------
blocks = []
for name, h in (("sha256", hashlib.sha256), ("sha384", hashlib.sha384), ("sha512", hashlib.sha512)):
    msg, nonce = pattern(300, 0x55), pattern(32, 0x66)
    sk_p = pattern(h().digest_size, 0x77)
    id_body = bytes([1, 0, 0, 0, 10, 1, 1, 100])  # ID_IPV4_ADDR 10.1.1.100
    psk = b"cisco"
    octets = msg + nonce + hmac.new(sk_p, id_body, h).digest()
    auth = hmac.new(hmac.new(psk, b"Key Pad for IKEv2", h).digest(), octets, h).digest()
    blocks.append({"prf": name, "psk": psk, "message": msg, "peer_nonce": nonce,
                   "sk_p": sk_p, "id_body": id_body, "auth": auth})
write("psk_auth.txt", blocks)
