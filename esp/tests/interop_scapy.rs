//! Interoperability with Scapy's ESP (`scapy.layers.ipsec`, Debian python3-scapy), an
//! independent implementation: packets we seal are opened by Scapy and packets Scapy seals are
//! opened by us, byte for byte the same inner packet, in transport and tunnel mode, with
//! 128- and 256-bit keys, ESN on and off, with and without ESP-in-UDP (RFC 3948).
//!
//! Run with `cargo test -p esp --test interop_scapy -- --include-ignored`. Fails loudly when
//! /usr/bin/python3 or Scapy is missing.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: runs the python peer"
)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use bytes::BytesMut;
use esp::udp_encap::{self, Classified, ESP_IN_UDP_PORT, UdpHeader};
use esp::{InboundSa, Mode, OutboundSa, SaKey, SaParams};

const PYTHON: &str = "/usr/bin/python3";
const OUTER_SRC: [u8; 4] = [192, 0, 2, 1];
const OUTER_DST: [u8; 4] = [192, 0, 2, 2];

#[derive(Clone, Copy, Debug)]
struct Combo {
    tunnel: bool,
    key_len: usize,
    esn: bool,
    natt: bool,
}

impl Combo {
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for tunnel in [false, true] {
            for key_len in [16, 32] {
                for esn in [false, true] {
                    for natt in [false, true] {
                        v.push(Self {
                            tunnel,
                            key_len,
                            esn,
                            natt,
                        });
                    }
                }
            }
        }
        v
    }

    fn keymat(&self, salt_seed: u8) -> Vec<u8> {
        (0..self.key_len + 4)
            .map(|i| (i as u8).wrapping_mul(13) ^ salt_seed)
            .collect()
    }

    fn spi(&self, base: u32) -> u32 {
        base | (u32::from(self.tunnel) << 3)
            | (u32::from(self.key_len == 32) << 2)
            | (u32::from(self.esn) << 1)
            | u32::from(self.natt)
    }

    /// ESN high half used for every packet of a combination (Scapy takes it per SA).
    fn esn_hi(&self) -> u32 {
        if self.esn { 0x0102_0304 } else { 0 }
    }

    fn params(&self, spi: u32, keymat: &[u8], initial_seq: u64) -> SaParams {
        SaParams::new(spi, SaKey::from_keymat(keymat).unwrap())
            .with_esn(self.esn)
            .with_mode(if self.tunnel {
                Mode::Tunnel
            } else {
                Mode::Transport
            })
            .with_initial_seq(initial_seq)
    }

    fn job(&self, op: &str, spi: u32, keymat: &[u8], seq: u32, packet: &[u8]) -> String {
        let tunnel = if self.tunnel {
            r#"["192.0.2.1","192.0.2.2"]"#
        } else {
            "null"
        };
        format!(
            r#"{{"op":"{op}","spi":{spi},"key":"{}","esn_en":{},"esn":{},"seq":{seq},"tunnel":{tunnel},"natt":{},"packet":"{}"}}"#,
            hex::encode(keymat),
            self.esn,
            self.esn_hi(),
            self.natt,
            hex::encode(packet)
        )
    }
}

/// The inner packets: an IPv4/UDP packet per size (the transport-mode payload is its UDP part).
fn inner_packets() -> Vec<Vec<u8>> {
    [0usize, 1, 3, 100, 1357]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let data: Vec<u8> = (0..n).map(|j| (j * 7 + i) as u8).collect();
            common::ipv4(
                [10, 1, 1, 100],
                [10, 2, 2, 1],
                17,
                i as u16,
                &common::udp(1000, 2000 + i as u16, &data),
            )
        })
        .collect()
}

fn run_scapy(jobs: &[String]) -> Vec<Vec<u8>> {
    let mut child = Command::new(PYTHON)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scapy_esp.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {PYTHON} (needs python3-scapy): {e}"));
    let input = format!("[{}]", jobs.join(","));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "scapy script failed (is python3-scapy installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let list = text.trim().trim_start_matches('[').trim_end_matches(']');
    let v: Vec<Vec<u8>> = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| hex::decode(s.trim().trim_matches('"')).unwrap())
        .collect();
    assert_eq!(v.len(), jobs.len(), "scapy returned {} results", v.len());
    v
}

/// The ESP packet inside an outer IPv4 packet (after the UDP header with NAT-T).
fn esp_of(outer: &[u8], natt: bool) -> Vec<u8> {
    assert_eq!(outer[0], 0x45, "outer IPv4 without options");
    let body = &outer[20..];
    if natt {
        assert_eq!(outer[9], 17);
        let (h, payload) = UdpHeader::parse(body).unwrap();
        assert_eq!((h.src_port, h.dst_port), (ESP_IN_UDP_PORT, ESP_IN_UDP_PORT));
        match udp_encap::classify(payload).unwrap() {
            Classified::Esp(p) => p.to_vec(),
            other => panic!("not ESP: {other:?}"),
        }
    } else {
        assert_eq!(outer[9], 50);
        body.to_vec()
    }
}

#[test]
#[ignore = "needs python3-scapy"]
fn scapy_seals_we_open() {
    let inner = inner_packets();
    let mut jobs = Vec::new();
    let mut expect = Vec::new();
    for c in Combo::all() {
        let spi = c.spi(0x5c00);
        let km = c.keymat(0x11);
        for (i, p) in inner.iter().enumerate() {
            jobs.push(c.job("seal", spi, &km, 1000 + i as u32, p));
            expect.push((c, spi, km.clone(), i));
        }
    }
    let outs = run_scapy(&jobs);
    let mut sas: std::collections::BTreeMap<u32, InboundSa> = Default::default();
    for ((c, spi, km, i), outer) in expect.into_iter().zip(outs) {
        let rx = sas.entry(spi).or_insert_with(|| {
            let start = (u64::from(c.esn_hi()) << 32) | 999;
            InboundSa::new(c.params(spi, &km, start)).unwrap()
        });
        let mut buf = BytesMut::from(&esp_of(&outer, c.natt)[..]);
        let o = rx
            .open(&mut buf)
            .unwrap_or_else(|e| panic!("{c:?} packet {i}: {e}"));
        assert_eq!(
            o.seq,
            (u64::from(c.esn_hi()) << 32) | (1000 + i as u64),
            "{c:?}"
        );
        if c.tunnel {
            assert_eq!(o.next_header, 4, "{c:?}");
            assert_eq!(
                hex::encode(&buf),
                hex::encode(&inner[i]),
                "{c:?} packet {i}"
            );
        } else {
            assert_eq!(o.next_header, 17, "{c:?}");
            assert_eq!(
                hex::encode(&buf),
                hex::encode(&inner[i][20..]),
                "{c:?} packet {i}"
            );
        }
    }
    assert_eq!(sas.len(), 16);
}

#[test]
#[ignore = "needs python3-scapy"]
fn we_seal_scapy_opens() {
    let inner = inner_packets();
    let mut jobs = Vec::new();
    let mut tampered = Vec::new();
    let mut expect = Vec::new();
    for c in Combo::all() {
        let spi = c.spi(0x7e00);
        let km = c.keymat(0x22);
        let start = (u64::from(c.esn_hi()) << 32) | 41;
        let mut tx = OutboundSa::new(c.params(spi, &km, start)).unwrap();
        for (i, p) in inner.iter().enumerate() {
            let (payload, nh) = if c.tunnel {
                (&p[..], 4)
            } else {
                (&p[20..], 17)
            };
            let mut buf = BytesMut::from(payload);
            tx.seal(&mut buf, nh).unwrap();
            let (proto, body) = if c.natt {
                (17, common::udp(ESP_IN_UDP_PORT, ESP_IN_UDP_PORT, &buf))
            } else {
                (50, buf.to_vec())
            };
            let outer = if c.tunnel {
                common::ipv4(OUTER_SRC, OUTER_DST, proto, i as u16, &body)
            } else {
                common::ipv4(
                    p[12..16].try_into().unwrap(),
                    p[16..20].try_into().unwrap(),
                    proto,
                    i as u16,
                    &body,
                )
            };
            jobs.push(c.job("open", spi, &km, 0, &outer));
            expect.push((c, i));
            if i == 3 {
                // The same packet with one ciphertext bit flipped must be refused by Scapy.
                let mut bad = outer.clone();
                let last = bad.len() - 20;
                bad[last] ^= 0x04;
                tampered.push(c.job("open_must_fail", spi, &km, 0, &bad));
            }
        }
    }
    let n = jobs.len();
    jobs.extend(tampered);
    let mut outs = run_scapy(&jobs);
    let refused = outs.split_off(n);
    assert_eq!(refused.len(), 16);
    assert!(refused.iter().all(Vec::is_empty));
    for ((c, i), got) in expect.into_iter().zip(outs) {
        if c.tunnel {
            assert_eq!(
                hex::encode(&got),
                hex::encode(&inner[i]),
                "{c:?} packet {i}"
            );
        } else {
            assert_eq!(got[9], 17, "{c:?}: next header");
            assert_eq!(
                hex::encode(&got[20..]),
                hex::encode(&inner[i][20..]),
                "{c:?} packet {i}"
            );
        }
    }
}

/// ESN across a 2^32 boundary against Scapy, both directions: Scapy takes the high half per
/// packet, we reconstruct it (RFC 4303 A2.2) from the low half alone, with some reordering.
#[test]
#[ignore = "needs python3-scapy"]
fn esn_across_the_low_half_wrap() {
    let c = Combo {
        tunnel: true,
        key_len: 32,
        esn: true,
        natt: true,
    };
    let spi = 0xe5e5;
    let km = c.keymat(0x33);
    let inner = inner_packets();
    let seqs: [u64; 6] = [
        (5 << 32) | 0xffff_fffd,
        (5 << 32) | 0xffff_ffff,
        (5 << 32) | 0xffff_fffe,
        (6 << 32) | 1,
        6 << 32,
        (6 << 32) | 2,
    ];
    let job = |op: &str, seq: u64, p: &[u8]| {
        c.job(op, spi, &km, seq as u32, p).replace(
            &format!(r#""esn":{}"#, c.esn_hi()),
            &format!(r#""esn":{}"#, seq >> 32),
        )
    };
    // Scapy seals, we open in the order above.
    let jobs: Vec<String> = seqs
        .iter()
        .enumerate()
        .map(|(i, &s)| job("seal", s, &inner[i % 5]))
        .collect();
    let outs = run_scapy(&jobs);
    let mut rx = InboundSa::new(c.params(spi, &km, (5 << 32) | 0xffff_fff0)).unwrap();
    for (i, (outer, &seq)) in outs.iter().zip(&seqs).enumerate() {
        let mut buf = BytesMut::from(&esp_of(outer, true)[..]);
        let o = rx
            .open(&mut buf)
            .unwrap_or_else(|e| panic!("packet {i}: {e}"));
        assert_eq!(o.seq, seq);
        assert_eq!(&buf[..], &inner[i % 5][..]);
    }
    // We seal across the wrap, Scapy opens each with the high half it belongs to.
    let mut tx = OutboundSa::new(c.params(spi, &km, (5 << 32) | 0xffff_fffd)).unwrap();
    let mut jobs = Vec::new();
    for (i, p) in inner.iter().enumerate() {
        let mut buf = BytesMut::from(&p[..]);
        let sealed = tx.seal(&mut buf, 4).unwrap();
        let outer = common::ipv4(
            OUTER_SRC,
            OUTER_DST,
            17,
            i as u16,
            &common::udp(4500, 4500, &buf),
        );
        jobs.push(job("open", sealed.seq, &outer));
    }
    assert_eq!(tx.last_seq(), (6 << 32) | 2);
    for (i, got) in run_scapy(&jobs).into_iter().enumerate() {
        assert_eq!(hex::encode(&got), hex::encode(&inner[i]), "packet {i}");
    }
}
