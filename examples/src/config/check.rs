//! Reference checks, run once the whole configuration is read.

use super::ConfigError;
use super::types::{Config, RefKind};

/// Every reference must name something the configuration defines.
pub(super) fn check(cfg: &Config) -> Result<(), ConfigError> {
    for r in &cfg.references {
        let defined = match r.kind {
            RefKind::Keyring => cfg.keyrings.contains_key(&r.name),
            RefKind::Ikev2Profile => cfg.ikev2_profiles.contains_key(&r.name),
            RefKind::TransformSet => cfg.transform_sets.contains_key(&r.name),
            RefKind::IpsecProfile => cfg.ipsec_profiles.contains_key(&r.name),
            RefKind::Interface => cfg.interfaces.contains_key(&r.name),
            RefKind::Pool => cfg.pools.contains_key(&r.name),
            RefKind::RouteMap => cfg.route_maps.contains_key(&r.name),
            RefKind::AccessList => r
                .name
                .parse::<u32>()
                .is_ok_and(|n| cfg.access_lists.contains_key(&n)),
            RefKind::Track => r
                .name
                .parse::<u32>()
                .is_ok_and(|n| cfg.tracks.contains_key(&n)),
            RefKind::PeerGroup => cfg
                .bgp
                .as_ref()
                .is_some_and(|b| b.peer_groups.contains_key(&r.name)),
        };
        if !defined {
            return Err(ConfigError::Undefined {
                line: r.line,
                kind: r.kind.name(),
                name: r.name.clone(),
            });
        }
    }
    Ok(())
}
