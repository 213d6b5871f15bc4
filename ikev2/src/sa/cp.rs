//! The configuration payload (RFC 7296 sections 2.19 and 3.15): what an initiator asks
//! for in IKE_AUTH, what a responder answers, and how a reply reads.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::{CfgType, ConfigAttribute, ConfigAttributeType, Configuration, Ctx, Sa};
use crate::event::InternalConfig;
use crate::wire::Identification;

/// The CP(CFG_REQUEST) of an initiator, if it asks for anything.
pub(super) fn request(sa: &Sa) -> Option<Configuration> {
    let want = sa.policy.cp_request;
    let mut attributes = Vec::new();
    let mut ask = |ty| attributes.push(ConfigAttribute::request(ty));
    if sa.request_address {
        ask(ConfigAttributeType::INTERNAL_IP4_ADDRESS);
        if want.netmask {
            ask(ConfigAttributeType::INTERNAL_IP4_NETMASK);
        }
    }
    if want.dns {
        ask(ConfigAttributeType::INTERNAL_IP4_DNS);
    }
    if want.subnet {
        ask(ConfigAttributeType::INTERNAL_IP4_SUBNET);
    }
    if want.ipv6 {
        ask(ConfigAttributeType::INTERNAL_IP6_ADDRESS);
    }
    // Only an address request makes a CP worth sending on its own; the rest ride with it
    // or with an IPv6 request.
    (sa.request_address || want.ipv6).then_some(Configuration {
        cfg_type: CfgType::CFG_REQUEST,
        attributes,
    })
}

/// Reads a CP(CFG_REPLY). Attributes of the wrong length are skipped.
pub(super) fn read_reply(c: Option<&Configuration>) -> InternalConfig {
    let mut r = InternalConfig::default();
    let Some(c) = c.filter(|c| c.cfg_type == CfgType::CFG_REPLY) else {
        return r;
    };
    for a in &c.attributes {
        let v = a.value.as_slice();
        match a.ty {
            ConfigAttributeType::INTERNAL_IP4_ADDRESS if v.len() == 4 => {
                r.address = r.address.or(a.as_ipv4());
            }
            ConfigAttributeType::INTERNAL_IP4_NETMASK if v.len() == 4 => {
                r.netmask = r.netmask.or(a.as_ipv4());
            }
            ConfigAttributeType::INTERNAL_IP4_DNS if v.len() == 4 => {
                r.dns.extend(a.as_ipv4());
            }
            ConfigAttributeType::INTERNAL_IP4_SUBNET => {
                if let Ok(b) = <[u8; 8]>::try_from(v) {
                    let (x, m) = b.split_at(4);
                    let to4 = |s: &[u8]| <[u8; 4]>::try_from(s).ok().map(Ipv4Addr::from);
                    if let (Some(x), Some(m)) = (to4(x), to4(m)) {
                        r.subnets.push((x, m));
                    }
                }
            }
            ConfigAttributeType::INTERNAL_IP6_ADDRESS => {
                if let Ok(b) = <[u8; 17]>::try_from(v) {
                    let (x, p) = b.split_at(16);
                    if let (Ok(x), Some(&p)) = (<[u8; 16]>::try_from(x), p.first())
                        && p <= 128
                    {
                        r.address6 = r.address6.or_else(|| Some((Ipv6Addr::from(x), p)));
                    }
                }
            }
            _ => {}
        }
    }
    r
}

/// What the responder hands out for a CP(CFG_REQUEST).
pub(super) struct Reply {
    /// The attributes, in the order asked.
    pub(super) config: Option<Configuration>,
    /// The same, as the event reports it.
    pub(super) internal: InternalConfig,
    /// The pool has no address left for an address request.
    pub(super) exhausted: bool,
}

impl Sa {
    /// Responder: answers a CP(CFG_REQUEST) from the pools and `policy.cp`.
    pub(super) fn cp_reply<R>(
        &self,
        ctx: &mut Ctx<'_, R>,
        req: Option<&Configuration>,
        peer: &Identification,
    ) -> Reply {
        let mut out = Reply {
            config: None,
            internal: InternalConfig::default(),
            exhausted: false,
        };
        let Some(req) = req.filter(|c| c.cfg_type == CfgType::CFG_REQUEST) else {
            return out;
        };
        let asks = |ty| req.get(ty).is_some();
        let cfg = &self.policy.cp;
        let mut attrs = Vec::new();
        if asks(ConfigAttributeType::INTERNAL_IP4_ADDRESS) {
            match ctx.pool.allocate(self.handle, peer) {
                Some(a) => {
                    out.internal.address = Some(a);
                    attrs.push(ConfigAttribute::ipv4(
                        ConfigAttributeType::INTERNAL_IP4_ADDRESS,
                        a,
                    ));
                    if let Some(m) = cfg.netmask
                        && asks(ConfigAttributeType::INTERNAL_IP4_NETMASK)
                    {
                        out.internal.netmask = Some(m);
                        attrs.push(ConfigAttribute::ipv4(
                            ConfigAttributeType::INTERNAL_IP4_NETMASK,
                            m,
                        ));
                    }
                }
                None if ctx.pool.configured() => {
                    out.exhausted = true;
                    return out;
                }
                None => {}
            }
        }
        if asks(ConfigAttributeType::INTERNAL_IP4_DNS) {
            for d in &cfg.dns {
                out.internal.dns.push(*d);
                attrs.push(ConfigAttribute::ipv4(
                    ConfigAttributeType::INTERNAL_IP4_DNS,
                    *d,
                ));
            }
        }
        if asks(ConfigAttributeType::INTERNAL_IP4_SUBNET) {
            for (x, m) in &cfg.subnets {
                out.internal.subnets.push((*x, *m));
                attrs.push(ConfigAttribute {
                    ty: ConfigAttributeType::INTERNAL_IP4_SUBNET,
                    value: [x.octets(), m.octets()].concat(),
                });
            }
        }
        if asks(ConfigAttributeType::INTERNAL_IP6_ADDRESS)
            && let Some(pool6) = &cfg.pool6
            && let Some(a) = ctx.pool.allocate6(self.handle, pool6)
        {
            out.internal.address6 = Some((a, pool6.prefix_len()));
            attrs.push(ConfigAttribute::ipv6_address(a, pool6.prefix_len()));
        }
        if !attrs.is_empty() {
            out.config = Some(Configuration {
                cfg_type: CfgType::CFG_REPLY,
                attributes: attrs,
            });
        }
        out
    }
}
