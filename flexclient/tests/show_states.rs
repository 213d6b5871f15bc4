//! `show crypto ikev2 client flexvpn` in every state.

mod common;

use common::{HUB1, HUB2, Net, two_hubs};
use flexclient::ConnectMode;

#[test]
fn inactive_waiting_activating_active() {
    let mut net = Net::new();
    let id = net.set.add(
        net.now,
        two_hubs("Flex_Client")
            .connect(ConnectMode::Manual)
            .backup_group(3)
            .ivrf("INSIDE")
            .build()
            .unwrap(),
    );
    net.run_for(1.0);
    let show = |net: &Net| net.set.client(id).unwrap().show();
    assert_eq!(
        show(&net),
        "Profile : Flex_Client
Current state:INACTIVE
Peer : None
Source : Ethernet0/0
ivrf : INSIDE
fvrf : IP DEFAULT
Backup group: 3
Tunnel interface : Tunnel1
Assigned IP address: None
"
    );
    net.set.connect(net.now, id).unwrap();
    net.drain();
    assert_eq!(
        show(&net),
        "Profile : Flex_Client
Current state:ACTIVATING
Peer : 172.25.1.1
Source : Ethernet0/0
ivrf : INSIDE
fvrf : IP DEFAULT
Backup group: 3
Tunnel interface : Tunnel1
Assigned IP address: None
"
    );
    net.run_for(1.0);
    assert!(show(&net).contains("Current state:ACTIVE\nPeer : 172.25.1.1\n"));
    assert!(show(&net).ends_with("Assigned IP address: 10.1.1.100\n"));

    for h in [HUB1, HUB2] {
        net.hub(h).refuse = true;
    }
    net.hub(HUB2).alive = false;
    net.hub_dies_now(HUB1);
    net.run_for(1.0);
    assert_eq!(
        show(&net),
        "Profile : Flex_Client
Current state:WAITING
Peer : None
Source : Ethernet0/0
ivrf : INSIDE
fvrf : IP DEFAULT
Backup group: 3
Tunnel interface : Tunnel1
Assigned IP address: None
"
    );
    net.interface("Ethernet0/0", false);
    assert!(show(&net).contains("Source : None\n"));
}
