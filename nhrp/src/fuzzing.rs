//! Entry points for the fuzz targets (built only with `--cfg fuzzing`).

use std::net::Ipv4Addr;
use std::time::Instant;

use crate::config::{Config, Peer, Prefix};
use crate::engine::Engine;

/// A fixed RNG for engine construction (only seeds the request-ID counter).
struct FixedRng(u32);

impl rand_core::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        self.0
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.0)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0x5a);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(0x5a);
        Ok(())
    }
}
impl rand_core::CryptoRng for FixedRng {}

/// Hub 1 of the scenario: server on network-id 2, one known spoke, a route to hub 2 and one to
/// the spoke, cache bounded at `cache_limit`.
pub fn scenario_hub(now: Instant, cache_limit: usize) -> Engine {
    let mut cfg = Config::new(2, Ipv4Addr::new(10, 1, 1, 1), Ipv4Addr::new(172, 25, 1, 1));
    cfg.server = true;
    cfg.cache_limit = cache_limit.max(1);
    let hub2 = Peer::new(Ipv4Addr::new(10, 1, 1, 2), Ipv4Addr::new(192, 168, 0, 2));
    cfg.servers = vec![hub2];
    let spoke = Peer::new(Ipv4Addr::new(10, 1, 1, 111), Ipv4Addr::new(172, 16, 1, 1));
    let mut e = match Engine::new(cfg, &mut FixedRng(7), now) {
        Ok(e) => e,
        Err(_) => unreachable_config(),
    };
    let _ = e.add_peer(now, spoke);
    e.set_route(Prefix::masked(Ipv4Addr::new(192, 168, 1, 0), 24), spoke);
    e.set_route(Prefix::masked(Ipv4Addr::new(192, 168, 2, 0), 24), hub2);
    e
}

#[allow(clippy::panic, reason = "the fixed configuration above is valid")]
fn unreachable_config() -> ! {
    panic!("fixed fuzzing configuration is invalid")
}
