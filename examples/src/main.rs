//! `flexvpn-router`: runs the scenario of SCENARIO.md.
//!
//! ```text
//! flexvpn-router lab [--pcap FILE] [--seed N] [--config-dir DIR] [--until PHASE] [--quiet]
//! flexvpn-router check-config FILE...
//! ```
#![allow(
    clippy::disallowed_methods,
    reason = "the binary reads the clock once for the simulator's epoch"
)]

use std::process::ExitCode;
use std::time::Instant;

use flexvpn_router::config::Config;
use flexvpn_router::lab::{self, LabOptions, Phase};

const USAGE: &str = "usage:
  flexvpn-router lab [--pcap FILE] [--seed N] [--config-dir DIR] [--until PHASE] [--quiet]
  flexvpn-router check-config FILE...
PHASE is 1-4 or up|shortcut|failover|return";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("lab") if args.iter().any(|a| a == "--netns") => {
            ExitCode::from(flexvpn_router::linux::lab::main(&args[1..]))
        }
        Some("lab") => lab_cmd(&args[1..]),
        Some("check-config") => check_config(&args[1..]),
        Some(sub @ ("run" | "show")) => {
            ExitCode::from(flexvpn_router::linux::run::main(sub, &args[1..]))
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn lab_cmd(args: &[String]) -> ExitCode {
    let mut opts = LabOptions::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| match it.next() {
            Some(v) => Ok(v.clone()),
            None => Err(format!("{a} needs {what}")),
        };
        let r = match a.as_str() {
            "--pcap" => value("a file").map(|v| opts.pcap = Some(v.into())),
            "--seed" => value("a number").and_then(|v| {
                v.parse()
                    .map(|s| opts.seed = s)
                    .map_err(|_| format!("--seed: not a number: {v}"))
            }),
            "--config-dir" => value("a directory").map(|v| opts.config_dir = Some(v.into())),
            "--until" => value("a phase").and_then(|v| {
                Phase::parse(&v)
                    .map(|p| opts.until = p)
                    .ok_or_else(|| format!("--until: unknown phase {v}"))
            }),
            "--quiet" => {
                opts.quiet = true;
                Ok(())
            }
            other => Err(format!("unknown option {other}")),
        };
        if let Err(e) = r {
            eprintln!("flexvpn-router: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let epoch = Instant::now();
    match lab::run(epoch, &opts) {
        Ok(report) => {
            if lab::print(&report, std::io::stdout().lock()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flexvpn-router: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(files: &[String]) -> ExitCode {
    let mut ok = true;
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(text) => match Config::parse(&text) {
                Ok(_) => println!("{f}: ok"),
                Err(e) => {
                    ok = false;
                    println!("{f}: {e}");
                }
            },
            Err(e) => {
                ok = false;
                println!("{f}: {e}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
