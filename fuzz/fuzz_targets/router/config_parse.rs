//! `router_config_parse` (kind: parse): any bytes, read as a configuration, give a
//! configuration or a `ConfigError` whose line number lies inside the input; never a panic.
#![no_main]

use flexvpn_router::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = Config::parse(&text) {
        assert!(e.line() >= 1 && e.line() <= text.lines().count().max(1));
    }
});
