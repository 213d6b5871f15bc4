"""Scapy's ESP as an independent peer for esp/tests/interop_scapy.rs.

Reads a JSON list of jobs on stdin, writes a JSON list of results on stdout.
A job: {"op": "seal" | "open", "spi": int, "key": hex of key || salt, "esn_en": bool,
        "esn": int (high 32 bits), "seq": int (low 32 bits, seal only),
        "tunnel": [src, dst] or null, "natt": bool, "packet": hex}
seal: packet is the IP packet to protect (transport: its payload is encrypted; tunnel: the
      whole packet goes inside), result is the outer IP packet Scapy built.
open: packet is an outer IP packet, result is what Scapy decrypted (tunnel: the inner
      packet; transport: the IP header with the plaintext payload).
open_must_fail: as open, for a tampered packet; the result is "" when Scapy refuses it.
Any failure raises, so the Rust test sees a non-zero exit and fails.
"""
import json
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, IPSecIntegrityError, SecurityAssociation
from scapy.compat import raw


def sa_for(job, seq=1):
    kwargs = dict(
        spi=job["spi"],
        seq_num=seq,
        crypt_algo="AES-GCM",
        crypt_key=bytes.fromhex(job["key"]),
        auth_algo="NULL",
        esn_en=job["esn_en"],
        esn=job["esn"],
    )
    if job["tunnel"]:
        kwargs["tunnel_header"] = IP(src=job["tunnel"][0], dst=job["tunnel"][1])
    if job["natt"]:
        kwargs["nat_t_header"] = UDP(sport=4500, dport=4500)
    return SecurityAssociation(ESP, **kwargs)


def run(job):
    pkt = IP(bytes.fromhex(job["packet"]))
    if job["op"] == "seal":
        out = sa_for(job, job["seq"]).encrypt(pkt)
        r = bytearray(raw(out))
        if job["natt"]:
            # Scapy 2.5 freezes the UDP header before appending ESP, so its length field
            # says 8. Write the real length (the checksum stays 0, RFC 3948 section 2.1; the
            # IPv4 checksum does not cover it); the ESP bytes are untouched.
            ihl = (r[0] & 0x0F) * 4
            r[ihl + 4:ihl + 6] = (len(r) - ihl).to_bytes(2, "big")
        return bytes(r).hex()
    if job["op"] == "open":
        if not pkt.haslayer(ESP):
            raise ValueError("no ESP layer in %r" % pkt)
        out = sa_for(job).decrypt(pkt)
        return raw(out).hex()
    if job["op"] == "open_must_fail":
        # A tampered packet: Scapy must refuse it; the result is then empty.
        try:
            out = sa_for(job).decrypt(pkt)
        except IPSecIntegrityError:
            return ""
        raise ValueError("scapy accepted a tampered packet: %r" % out)
    raise ValueError("unknown op %r" % job["op"])


def main():
    jobs = json.load(sys.stdin)
    json.dump([run(j) for j in jobs], sys.stdout)


if __name__ == "__main__":
    main()
