//! `show crypto ikev2 client flexvpn`, rendered as IOS 15.2M prints it:
//!
//! ```text
//! Profile : Flex_Client
//! Current state:ACTIVE
//! Peer : 172.25.1.1
//! Source : Ethernet0/0
//! ivrf : IP DEFAULT
//! fvrf : IP DEFAULT
//! Backup group: Default
//! Tunnel interface : Tunnel1
//! Assigned IP address: 10.1.1.111
//! ```
//!
//! In the other states the same fields are printed: `Peer` is the peer being tried (its name
//! while it is being resolved) or `None`; `Source` the interface in use or that would be used,
//! or `None`; `Assigned IP address` is `None` without a session.

use std::fmt::Write as _;

use crate::client::Client;
use crate::config::PeerAddress;

/// Renders the block; every line ends with `\n`.
pub(crate) fn render(c: &Client) -> String {
    let cfg = c.config();
    let (peer, source) = match (&c.session, &c.attempt) {
        (Some(s), _) => (s.addr.to_string(), c.source_name(s.source).to_owned()),
        (None, Some(a)) => {
            let p = match (a.addr, cfg.peers().get(a.peer).map(|p| p.peer_address())) {
                (Some(ip), _) => ip.to_string(),
                (None, Some(PeerAddress::Fqdn { name, .. })) => name.clone(),
                (None, _) => "None".to_owned(),
            };
            (p, c.source_name(a.source).to_owned())
        }
        (None, None) => (
            "None".to_owned(),
            c.pick_source()
                .map_or_else(|| "None".to_owned(), |s| c.source_name(s).to_owned()),
        ),
    };
    let vrf = |v: &Option<String>| v.clone().unwrap_or_else(|| "IP DEFAULT".to_owned());
    let group = cfg
        .backup_group()
        .map_or_else(|| "Default".to_owned(), |g| g.to_string());
    let assigned = c
        .assigned_address()
        .map_or_else(|| "None".to_owned(), |a| a.to_string());
    let mut out = String::with_capacity(200);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "Profile : {}", cfg.name());
    let _ = writeln!(out, "Current state:{}", c.state());
    let _ = writeln!(out, "Peer : {peer}");
    let _ = writeln!(out, "Source : {source}");
    let _ = writeln!(out, "ivrf : {}", vrf(&cfg.ivrf));
    let _ = writeln!(out, "fvrf : {}", vrf(&cfg.fvrf));
    let _ = writeln!(out, "Backup group: {group}");
    let _ = writeln!(out, "Tunnel interface : {}", cfg.tunnel());
    let _ = writeln!(out, "Assigned IP address: {assigned}");
    out
}
