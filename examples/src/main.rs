//! `flexvpn-router`: runs the scenario of SCENARIO.md.

fn main() {
    println!("flexvpn-router: not built yet");
}
