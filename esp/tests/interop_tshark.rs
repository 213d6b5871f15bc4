//! Wireshark's ESP dissector as an independent checker: packets this crate seals (transport and
//! tunnel mode, AES-128 and AES-256 GCM, plain ESP and ESP-in-UDP on 4500) are written to a
//! pcap; tshark, given the keys through an `esp_sa` table in a private
//! `WIRESHARK_CONFIG_DIR`, decrypts every one with the ICV checked, reports no malformed
//! packet and no expert error, and shows the inner packet we sealed.
//!
//! tshark 4.0 has no ESN column in `esp_sa`, so ESN SAs are covered by the Scapy test only.
//! Run with `cargo test -p esp --test interop_tshark -- --include-ignored`; fails loudly when
//! tshark is missing.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: runs tshark, writes temp files"
)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::BytesMut;
use esp::udp_encap::ESP_IN_UDP_PORT;
use esp::{Mode, OutboundSa, SaKey, SaParams};

const TSHARK: &str = "tshark";

/// A temp directory unique to this process and test, removed on drop (also on failure).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "esp-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A pcap file of raw IPv4 packets (LINKTYPE_RAW, 101).
fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        let len = u32::try_from(p.len()).unwrap();
        f.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(p);
    }
    f
}

struct Expect {
    spi: u32,
    next_header: u8,
    pad_len: usize,
    data: Vec<u8>,
}

#[test]
#[ignore = "needs tshark"]
fn tshark_decrypts_our_packets() {
    let dir = TempDir::new("tshark");
    let (src, dst) = ([198, 51, 100, 1], [198, 51, 100, 2]);
    let mut packets = Vec::new();
    let mut expect = Vec::new();
    let mut sa_lines = Vec::new();
    let mut spi = 0x7500_0000u32;
    for tunnel in [false, true] {
        for key_len in [16usize, 32] {
            for natt in [false, true] {
                spi += 1;
                let keymat: Vec<u8> = (0..key_len + 4)
                    .map(|i| (i as u8).wrapping_mul(29).wrapping_add(spi as u8))
                    .collect();
                let mode = if tunnel {
                    Mode::Tunnel
                } else {
                    Mode::Transport
                };
                let mut tx = OutboundSa::new(
                    SaParams::new(spi, SaKey::from_keymat(&keymat).unwrap()).with_mode(mode),
                )
                .unwrap();
                sa_lines.push(format!(
                    "\"IPv4\",\"{}\",\"{}\",\"{:#010x}\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{}\",\"NULL\",\"\"",
                    std::net::Ipv4Addr::from(src),
                    std::net::Ipv4Addr::from(dst),
                    spi,
                    hex::encode(&keymat)
                ));
                for (n, size) in [0usize, 5, 200, 1300].into_iter().enumerate() {
                    let data: Vec<u8> = (0..size).map(|j| (j as u8) ^ (n as u8) ^ 0x5a).collect();
                    let dgram = common::udp(3000 + n as u16, 4000, &data);
                    let (payload, nh) = if tunnel {
                        (
                            common::ipv4([10, 9, 0, 1], [10, 9, 0, 2], 17, n as u16, &dgram),
                            4,
                        )
                    } else {
                        (dgram, 17)
                    };
                    let mut buf = BytesMut::from(&payload[..]);
                    tx.seal(&mut buf, nh).unwrap();
                    let (proto, body) = if natt {
                        (17, common::udp(ESP_IN_UDP_PORT, ESP_IN_UDP_PORT, &buf))
                    } else {
                        (50, buf.to_vec())
                    };
                    packets.push(common::ipv4(src, dst, proto, packets.len() as u16, &body));
                    expect.push(Expect {
                        spi,
                        next_header: nh,
                        pad_len: esp::wire::pad_len(payload.len()),
                        data,
                    });
                }
            }
        }
    }
    let cap = dir.0.join("esp.pcap");
    std::fs::write(&cap, pcap(&packets)).unwrap();
    std::fs::write(dir.0.join("esp_sa"), sa_lines.join("\n") + "\n").unwrap();

    let tshark = |extra: &[&str]| {
        let out = Command::new(TSHARK)
            .env("WIRESHARK_CONFIG_DIR", &dir.0)
            .env("HOME", &dir.0)
            .args(["-n", "-r"])
            .arg(&cap)
            .args([
                "-o",
                "esp.enable_encryption_decode:TRUE",
                "-o",
                "esp.enable_authentication_check:TRUE",
            ])
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {TSHARK} (needs the tshark package): {e}"));
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let bad = tshark(&["-Y", "_ws.malformed || _ws.expert.severity >= error"]);
    assert!(bad.trim().is_empty(), "malformed or expert errors:\n{bad}");

    let fields = tshark(&[
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "esp.spi",
        "-e",
        "esp.protocol",
        "-e",
        "esp.pad_len",
        "-e",
        "esp.icv_good",
        "-e",
        "udp.dstport",
        "-e",
        "data.data",
    ]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), expect.len(), "{fields}");
    for (i, (line, e)) in lines.iter().zip(&expect).enumerate() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 6, "frame {}: {line}", i + 1);
        assert_eq!(f[0], format!("{:#010x}", e.spi), "frame {}: spi", i + 1);
        assert_eq!(
            f[1],
            format!("{:#04x}", e.next_header),
            "frame {}: next header",
            i + 1
        );
        assert_eq!(f[2], e.pad_len.to_string(), "frame {}: pad length", i + 1);
        assert_eq!(f[3], "1", "frame {}: icv not verified: {line}", i + 1);
        assert!(
            f[4].split(',').any(|p| p == "4000"),
            "frame {}: inner udp not dissected: {line}",
            i + 1
        );
        assert_eq!(f[5], hex::encode(&e.data), "frame {}: inner payload", i + 1);
    }
}
