//! The IOS log lines the block emits, rendered byte for byte as IOS 15.2M prints them (without
//! the timestamp and sequence-number prefix, which belong to the caller's logger).
//!
//! ```text
//! %CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is DOWN.  Peer 172.25.1.1:500 Id: 172.25.1.1
//! %FLEXVPN-6-FLEXVPN_CONNECTION_DOWN: FlexVPN(Flex_Client) Client_public_addr = 172.16.2.2 Server_public_addr = 172.25.1.1
//! %LINEPROTO-5-UPDOWN: Line protocol on Interface Tunnel1, changed state to down
//! ```
//! Note the two spaces after `DOWN.` / `UP.` in the CRYPTO line.

use std::net::Ipv4Addr;

/// `%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is UP|DOWN.  Peer A:PORT Id: ID`
pub fn ikev2_session_status(up: bool, peer: Ipv4Addr, port: u16, id: &str) -> String {
    let state = if up { "UP" } else { "DOWN" };
    format!(
        "%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is {state}.  Peer {peer}:{port} Id: {id}"
    )
}

/// `%FLEXVPN-6-FLEXVPN_CONNECTION_UP: ... Assigned_Tunnel_v4_addr = X` (the suffix only when the
/// server assigned an address).
pub fn flexvpn_connection_up(
    block: &str,
    client: Ipv4Addr,
    server: Ipv4Addr,
    assigned: Option<Ipv4Addr>,
) -> String {
    let mut s = format!(
        "%FLEXVPN-6-FLEXVPN_CONNECTION_UP: FlexVPN({block}) Client_public_addr = {client} Server_public_addr = {server}"
    );
    if let Some(a) = assigned {
        s.push_str(&format!(" Assigned_Tunnel_v4_addr = {a}"));
    }
    s
}

/// `%FLEXVPN-6-FLEXVPN_CONNECTION_DOWN: FlexVPN(NAME) Client_public_addr = C Server_public_addr = S`
pub fn flexvpn_connection_down(block: &str, client: Ipv4Addr, server: Ipv4Addr) -> String {
    format!(
        "%FLEXVPN-6-FLEXVPN_CONNECTION_DOWN: FlexVPN({block}) Client_public_addr = {client} Server_public_addr = {server}"
    )
}

/// `%LINEPROTO-5-UPDOWN: Line protocol on Interface IF, changed state to up|down`
pub fn lineproto_updown(interface: &str, up: bool) -> String {
    let state = if up { "up" } else { "down" };
    format!("%LINEPROTO-5-UPDOWN: Line protocol on Interface {interface}, changed state to {state}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_the_scenario() {
        let h1 = Ipv4Addr::new(172, 25, 1, 1);
        let me = Ipv4Addr::new(172, 16, 2, 2);
        assert_eq!(
            ikev2_session_status(false, h1, 500, "172.25.1.1"),
            "%CRYPTO-5-IKEV2_SESSION_STATUS: Crypto tunnel v2 is DOWN.  Peer 172.25.1.1:500 Id: 172.25.1.1"
        );
        assert_eq!(
            flexvpn_connection_down("Flex_Client", me, h1),
            "%FLEXVPN-6-FLEXVPN_CONNECTION_DOWN: FlexVPN(Flex_Client) Client_public_addr = 172.16.2.2 Server_public_addr = 172.25.1.1"
        );
        assert_eq!(
            lineproto_updown("Tunnel1", true),
            "%LINEPROTO-5-UPDOWN: Line protocol on Interface Tunnel1, changed state to up"
        );
        assert_eq!(
            flexvpn_connection_up("F", me, h1, None),
            "%FLEXVPN-6-FLEXVPN_CONNECTION_UP: FlexVPN(F) Client_public_addr = 172.16.2.2 Server_public_addr = 172.25.1.1"
        );
    }
}
