//! The lab's pcap, dissected by the real Wireshark dissectors through `tshark`, with IKE and
//! ESP decrypted from the key files the lab writes next to it.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: runs tshark, reads the clock once"
)]

use std::process::Command;
use std::time::Instant;

use flexvpn_router::lab::{self, LabOptions, Phase};

/// Removes the capture and key files even when the test fails.
struct TempFiles(Vec<std::path::PathBuf>);
impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn tshark(args: &[String]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("tshark is required for this test (Debian package tshark)");
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs tshark"]
fn lab_pcap_dissects_and_decrypts_without_malformed_packets() {
    let path =
        std::env::temp_dir().join(format!("flexvpn-router-pcap-{}.pcap", std::process::id()));
    let esp = path.with_extension("esp_sa");
    let ike = path.with_extension("ikev2_decryption_table");
    let _guard = TempFiles(vec![path.clone(), esp.clone(), ike.clone()]);
    let opts = LabOptions {
        pcap: Some(path.clone()),
        until: Phase::Shortcut,
        quiet: true,
        ..LabOptions::default()
    };
    lab::run(Instant::now(), &opts).unwrap();
    let mut args = vec!["-r".to_owned(), path.display().to_string()];
    args.extend([
        "-o".to_owned(),
        "esp.enable_encryption_decode:TRUE".to_owned(),
    ]);
    for (file, uat) in [(&esp, "esp_sa"), (&ike, "ikev2_decryption_table")] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.is_empty(), "{uat} key file is empty");
        for line in text.lines() {
            args.extend(["-o".to_owned(), format!("uat:{uat}:{line}")]);
        }
    }
    let with = |extra: &[&str]| {
        let mut a = args.clone();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        tshark(&a)
    };
    let protos = with(&["-T", "fields", "-e", "frame.protocols"]);
    let lines: Vec<&str> = protos.lines().collect();
    // ESP decrypted: GRE inside, carrying BGP over TCP, NHRP, and the lab's traffic.
    for want in [
        "raw:ip:udp:udpencap:esp:gre:ip:tcp:bgp",
        "raw:ip:udp:udpencap:esp:gre:ip:icmp:data",
        "raw:ip:gre:ip:icmp:data",
        "raw:ip:udp:isakmp",
    ] {
        assert!(lines.contains(&want), "no {want} in {}", lines.len());
    }
    assert!(
        lines.iter().any(|l| l.contains("esp:gre:nhrp")),
        "no decrypted NHRP"
    );
    // IKE decrypted: every IKE_AUTH and INFORMATIONAL has its SK payload opened.
    let decrypted = with(&["-Y", "isakmp.enc.decrypted"]);
    let ike_sas = std::fs::read_to_string(&ike).unwrap().lines().count();
    assert!(
        ike_sas >= 4,
        "three spoke-hub SAs and one spoke-spoke SA at least"
    );
    assert!(decrypted.lines().count() >= 2 * ike_sas, "{decrypted}");
    let bad = with(&["-Y", "_ws.malformed || _ws.expert.severity >= error"]);
    assert_eq!(bad.trim(), "", "malformed packets: {bad}");
}
