//! The lab's pcap, dissected by the real Wireshark dissectors through `tshark`.
#![allow(
    clippy::disallowed_methods,
    reason = "test driver: runs tshark, reads the clock once"
)]

use std::process::Command;
use std::time::Instant;

use flexvpn_router::lab::{self, LabOptions, Phase};

/// Removes the capture file even when the test fails.
struct TempFile(std::path::PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tshark(args: &[&str]) -> String {
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
fn lab_pcap_dissects_without_malformed_packets() {
    let path =
        std::env::temp_dir().join(format!("flexvpn-router-pcap-{}.pcap", std::process::id()));
    let _guard = TempFile(path.clone());
    let opts = LabOptions {
        pcap: Some(path.clone()),
        until: Phase::Up,
        quiet: true,
        ..LabOptions::default()
    };
    lab::run(Instant::now(), &opts).unwrap();
    let file = path.to_str().unwrap();
    let protos = tshark(&["-r", file, "-T", "fields", "-e", "frame.protocols"]);
    let lines: Vec<&str> = protos.lines().collect();
    assert!(lines.len() >= 14, "{protos}");
    assert!(
        lines.contains(&"raw:ip:gre:ip:icmp:data"),
        "GRE-encapsulated ping expected: {protos}"
    );
    assert!(lines.contains(&"raw:ip:icmp:data"), "{protos}");
    let malformed = tshark(&[
        "-r",
        file,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ]);
    assert_eq!(
        malformed.trim(),
        "",
        "malformed or warned packets: {malformed}"
    );
}
