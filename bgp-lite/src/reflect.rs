//! Route reflection (RFC 4456) and the iBGP advertisement rules (RFC 4271 §9.2).

use std::net::Ipv4Addr;

use crate::rib::RouteAttrs;

/// Where a best path came from, for the advertisement rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// Originated by this speaker (`network`, aggregate).
    Local,
    /// Learned from an iBGP neighbor; `client` if it is our route-reflector client.
    Ibgp {
        /// Route-reflector client.
        client: bool,
    },
}

/// Whether a route may be sent to an iBGP neighbor (`to_client` if it is a client).
///
/// RFC 4271 §9.2: routes learned over iBGP are not sent to iBGP peers (split horizon), except
/// that RFC 4456 §6 lets a reflector send client routes to everyone and non-client routes to
/// clients. The route is never sent back to the neighbor it came from (checked by the caller).
pub fn may_advertise(from: From, to_client: bool) -> bool {
    match from {
        From::Local => true,
        From::Ibgp { client: true } => true,
        From::Ibgp { client: false } => to_client,
    }
}

/// Sets the reflection attributes (RFC 4456 §8): ORIGINATOR_ID (the originator's router ID)
/// if absent, and our CLUSTER_ID prepended to CLUSTER_LIST.
pub fn reflect(a: &mut RouteAttrs, originator: Ipv4Addr, cluster_id: Ipv4Addr) {
    if a.originator_id.is_none() {
        a.originator_id = Some(originator);
    }
    a.cluster_list.insert(0, cluster_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_rules() {
        assert!(may_advertise(From::Local, false));
        assert!(may_advertise(From::Ibgp { client: true }, false));
        assert!(!may_advertise(From::Ibgp { client: false }, false));
        assert!(may_advertise(From::Ibgp { client: false }, true));
        let mut a = RouteAttrs {
            cluster_list: vec![Ipv4Addr::new(2, 2, 2, 2)],
            ..Default::default()
        };
        reflect(&mut a, Ipv4Addr::new(9, 9, 9, 9), Ipv4Addr::new(1, 1, 1, 1));
        assert_eq!(a.originator_id, Some(Ipv4Addr::new(9, 9, 9, 9)));
        assert_eq!(
            a.cluster_list,
            vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)]
        );
        reflect(&mut a, Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(3, 3, 3, 3));
        assert_eq!(a.originator_id, Some(Ipv4Addr::new(9, 9, 9, 9)), "kept");
        assert!(a.reflection_loop(Ipv4Addr::new(9, 9, 9, 9), Ipv4Addr::new(7, 7, 7, 7)));
        assert!(a.reflection_loop(Ipv4Addr::new(7, 7, 7, 7), Ipv4Addr::new(3, 3, 3, 3)));
    }
}
