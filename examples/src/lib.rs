//! The example FlexVPN router `flexvpn-router`: it composes the protocol crates of the workspace
//! into one router and runs the scenario of `SCENARIO.md` in a deterministic simulator.
//!
//! - [`config`]: the IOS-style configuration parser (every line of the scenario's configurations);
//! - [`sim`]: the deterministic simulator (virtual clock, links with delay/loss/cuts, pcap tap);
//! - [`pcap`]: the pcap writer and the Wireshark key-file hook;
//! - [`ipv4`], [`gre`]: packet helpers (checksums, TTL, MSS clamping, ICMP) and the GRE codec;
//! - [`node`]: one router composed of the engines; [`tcp`]: its smoltcp TCP/IP endpoint;
//! - [`lab`]: the scenario lab (topology, phases, timeline, summary);
//! - [`fib`]: the user-space forwarding table with longest-prefix match;
//! - [`prefix`]: IPv4 prefixes and masks.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod fib;
pub mod gre;
pub mod ipv4;
pub mod lab;
pub mod linux;
pub mod node;
pub mod pcap;
pub mod prefix;
pub mod sim;
pub mod tcp;
