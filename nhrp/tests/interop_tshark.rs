//! Wireshark's NHRP dissector as the oracle: every packet type this crate emits, taken from
//! the two-hub scenario, is written to a pcap as GRE (0x2001) in IPv4 and dissected by
//! `tshark`; no packet may be malformed or carry an expert error, every frame must carry
//! `nhrp.hdr.op.type`, the checksum must verify, and the dissected fields must equal what was
//! encoded.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: real files and processes"
)]

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use nhrp::wire::{Body, ExtValue, PacketType};
use nhrp::{Packet, Prefix};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temp dir removed on drop, even when the test fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("nhrp-tshark-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// A pcap (Ethernet link type) of NHRP packets in GRE 0x2001 in IPv4.
fn write_pcap(path: &std::path::Path, packets: &[(Ipv4Addr, Ipv4Addr, Vec<u8>)]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    for (i, (src, dst, nhrp)) in packets.iter().enumerate() {
        let mut frame = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = u16::try_from(20 + 4 + nhrp.len()).unwrap();
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 47, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let c = ip_checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&[0x00, 0x00, 0x20, 0x01]);
        frame.extend_from_slice(nhrp);
        let n = u32::try_from(frame.len()).unwrap();
        f.extend_from_slice(&u32::try_from(i).unwrap().to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&n.to_le_bytes());
        f.extend_from_slice(&n.to_le_bytes());
        f.extend_from_slice(&frame);
    }
    std::fs::write(path, f).unwrap();
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().expect(
        "tshark must be installed (apt-get install tshark): this test never passes without it",
    );
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every packet type the engines emit, from the scenario.
fn emitted_packets() -> Vec<(Ipv4Addr, Ipv4Addr, Vec<u8>)> {
    let mut net = Net::scenario(Opts::default());
    // Redirects, resolution requests (forwarded across hubs), replies from the owner.
    net.send_data(SPOKE1, a("192.168.1.10"), a("192.168.2.20"));
    net.settle();
    net.send_data(SPOKE2, a("192.168.2.20"), a("192.168.1.10"));
    net.settle();
    // Authoritative reply from hub 2, relayed by hub 1.
    let now = net.now;
    net.nodes[SPOKE1].engine.resolve(now, a("10.1.1.177"));
    net.settle();
    // Registration request and reply.
    net.nodes[SPOKE1].engine.register(now);
    net.settle();
    // Purge request and reply.
    net.nodes[SPOKE2]
        .engine
        .purge_local(now, "192.168.2.0/24".parse::<Prefix>().unwrap());
    net.settle();
    // Error indication (loop between the hubs), relayed back to the spoke.
    net.nodes[HUB1]
        .engine
        .set_route("172.31.0.0/16".parse().unwrap(), hub2_link());
    net.nodes[HUB2]
        .engine
        .set_route("172.31.0.0/16".parse().unwrap(), hub1_link());
    net.nodes[SPOKE1].engine.resolve(now, a("172.31.1.1"));
    net.settle();
    net.run_for(Duration::from_secs(1));
    let src_of = |name: &str| match name {
        "hub1" => a("172.25.1.1"),
        "hub2" => a("172.25.2.1"),
        "spoke1" => a("172.16.1.1"),
        _ => a("172.16.2.2"),
    };
    net.wire
        .iter()
        .map(|(_, from, to, b)| (src_of(from), *to, b.clone()))
        .collect()
}

fn field_list(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_owned).collect()
    }
}

#[test]
#[ignore = "needs tshark"]
fn tshark_dissects_every_emitted_packet_cleanly_with_matching_fields() {
    let packets = emitted_packets();
    let types: BTreeSet<u8> = packets.iter().map(|(_, _, b)| b[17]).collect();
    assert_eq!(
        types,
        (1..=8).collect::<BTreeSet<u8>>(),
        "every packet type is emitted"
    );

    let dir = TempDir::new();
    let pcap = dir.0.join("nhrp.pcap");
    write_pcap(&pcap, &packets);
    let pcap = pcap.to_str().unwrap();

    let bad = tshark(&[
        "-r",
        pcap,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error",
    ]);
    assert!(bad.trim().is_empty(), "malformed or expert errors:\n{bad}");

    let fields = [
        "nhrp.hdr.op.type",
        "nhrp.hdr.chksum.status",
        "nhrp.hdr.pktsz",
        "nhrp.hdr.extoff",
        "nhrp.hdr.hopcnt",
        "nhrp.src.nbma.addr",
        "nhrp.src.prot.addr",
        "nhrp.dst.prot.addr",
        "nhrp.reqid",
        "nhrp.flags",
        "nhrp.client.nbma.addr",
        "nhrp.client.prot.addr",
        "nhrp.prefix",
        "nhrp.htime",
        "nhrp.mtu",
        "nhrp.ext.type",
        "nhrp.ext.c",
        "ip.dst",
    ];
    let mut args = vec![
        "-r",
        pcap,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "aggregator=,",
        "-E",
        "occurrence=a",
    ];
    for f in &fields {
        args.push("-e");
        args.push(f);
    }
    let out = tshark(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), packets.len());
    for (line, (_, dst, bytes)) in lines.iter().zip(&packets) {
        let col: Vec<&str> = line.split('|').collect();
        let get = |name: &str| field_list(col[fields.iter().position(|f| *f == name).unwrap()]);
        let p = Packet::parse(bytes).unwrap();
        let m = &p.mandatory;
        let ctx = format!("{p}\n{line}");
        let first = |name: &str| get(name).first().cloned().unwrap_or_default();
        assert_eq!(
            first("nhrp.hdr.op.type"),
            p.packet_type().0.to_string(),
            "{ctx}"
        );
        assert_eq!(first("nhrp.hdr.chksum.status"), "1", "checksum good: {ctx}");
        assert_eq!(first("nhrp.hdr.pktsz"), bytes.len().to_string(), "{ctx}");
        let extoff = u16::from_be_bytes([bytes[14], bytes[15]]);
        assert_eq!(first("nhrp.hdr.extoff"), extoff.to_string(), "{ctx}");
        assert_eq!(
            first("nhrp.hdr.hopcnt"),
            p.header.hop_count.to_string(),
            "{ctx}"
        );
        assert_eq!(first("nhrp.src.nbma.addr"), m.src_nbma.to_string(), "{ctx}");
        assert_eq!(
            first("nhrp.src.prot.addr"),
            m.src_proto.to_string(),
            "{ctx}"
        );
        assert_eq!(
            first("nhrp.dst.prot.addr"),
            m.dst_proto.to_string(),
            "{ctx}"
        );
        assert_eq!(
            get("ip.dst").first().map(String::as_str),
            Some(dst.to_string().as_str())
        );
        // CIEs: mandatory part first, then the CIE-carrying extensions, in wire order.
        let mut cies = Vec::new();
        match &m.body {
            Body::Message(msg) => {
                assert_eq!(
                    first("nhrp.reqid"),
                    format!("0x{:08x}", msg.request_id),
                    "{ctx}"
                );
                assert_eq!(first("nhrp.flags"), format!("0x{:04x}", msg.flags), "{ctx}");
                cies.extend(msg.cies.iter().cloned());
            }
            Body::TrafficIndication(ti) => {
                let (_, qdst) = ti.quoted_ipv4().unwrap();
                assert_eq!(
                    get("ip.dst").get(1).cloned(),
                    Some(qdst.to_string()),
                    "quoted packet: {ctx}"
                );
            }
            Body::ErrorIndication(_) => {}
        }
        let exts = p.extensions.clone().unwrap_or_default();
        for e in &exts {
            if let Some(c) = e.value.cies() {
                cies.extend(c.iter().cloned());
            }
        }
        if p.packet_type() != PacketType::ERROR_INDICATION {
            let want =
                |f: &dyn Fn(&nhrp::wire::Cie) -> String| cies.iter().map(f).collect::<Vec<_>>();
            assert_eq!(
                get("nhrp.prefix"),
                want(&|c| c.prefix_len.to_string()),
                "{ctx}"
            );
            assert_eq!(
                get("nhrp.htime"),
                want(&|c| c.holding_time.to_string()),
                "{ctx}"
            );
            assert_eq!(get("nhrp.mtu"), want(&|c| c.mtu.to_string()), "{ctx}");
            let nbmas: Vec<String> = cies
                .iter()
                .filter(|c| !c.nbma.is_empty())
                .map(|c| c.nbma.to_string())
                .collect();
            assert_eq!(get("nhrp.client.nbma.addr"), nbmas, "{ctx}");
            let protos: Vec<String> = cies
                .iter()
                .filter(|c| !c.proto.is_empty())
                .map(|c| c.proto.to_string())
                .collect();
            assert_eq!(get("nhrp.client.prot.addr"), protos, "{ctx}");
            let types: Vec<String> = exts
                .iter()
                .map(|e| format!("0x{:04x}", e.value.ty().0))
                .collect();
            assert_eq!(get("nhrp.ext.type"), types, "{ctx}");
            let cbits: Vec<String> = exts
                .iter()
                .map(|e| if e.compulsory { "1" } else { "0" }.to_owned())
                .collect();
            assert_eq!(get("nhrp.ext.c"), cbits, "{ctx}");
            assert!(exts.is_empty() || exts.last().map(|e| &e.value) == Some(&ExtValue::End));
        }
    }
}
