//! Flow control towards a slow peer: UPDATEs for a neighbor are built only when the caller
//! polls for bytes, a batch at a time, from the set of prefixes that changed. A caller that
//! does not drain a peer leaves the speaker with one pending entry per prefix, not a growing
//! byte queue, and what changed twice before it was sent is sent once (or not at all).
//! Public API only.

mod two_peers;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use bgp_lite::wire::{DecodeCtx, Ipv4Prefix, Message};
use bgp_lite::{ConnId, Framer};
use two_peers::{A, B, Change, epoch, prefix, setup};

const N: u32 = 20_000;

/// UPDATEs from A announcing (or withdrawing) prefixes `range`, 100 per UPDATE.
fn from_a(range: std::ops::Range<u32>, withdraw: bool) -> Vec<u8> {
    let change = if withdraw {
        Change::Withdraw
    } else {
        Change::Announce {
            next_hop: Ipv4Addr::new(10, 9, 9, 9),
            local_pref: Some(100),
        }
    };
    two_peers::updates(range, change, 100)
}

/// Announced and withdrawn prefixes in a byte stream sent to B.
fn decode(stream: &[u8]) -> (Vec<Ipv4Prefix>, Vec<Ipv4Prefix>) {
    let mut f = Framer::new(DecodeCtx::default());
    f.push(stream);
    let (mut ann, mut wd) = (Vec::new(), Vec::new());
    while let Some(m) = f.next().unwrap() {
        if let Message::Update(u) = m {
            assert!(!u.treat_as_withdraw());
            ann.extend(u.nlri);
            wd.extend(u.withdrawn);
        }
    }
    (ann, wd)
}

#[test]
fn undrained_peer_costs_pending_entries_not_bytes() {
    let now = epoch();
    let mut sp = setup(now, None);
    // A sends N prefixes; the caller handles input but does not poll for output.
    for chunk in from_a(0..N, false).chunks(65536) {
        sp.handle_stream_data(now, ConnId(1), chunk).unwrap();
    }
    assert_eq!(sp.loc_rib().len(), N as usize);
    assert_eq!(sp.pending_prefixes(IpAddr::V4(B)), N as usize);
    assert_eq!(
        sp.pending_prefixes(IpAddr::V4(A)),
        0,
        "nothing goes back to A"
    );
    assert!(
        sp.queued_bytes() < 1024,
        "no UPDATE encoded before the caller asks: {} bytes queued",
        sp.queued_bytes()
    );
    // Before B is drained, A withdraws the first quarter: those are never sent to B at all.
    for chunk in from_a(0..N / 4, true).chunks(65536) {
        sp.handle_stream_data(now, ConnId(1), chunk).unwrap();
    }
    assert_eq!(sp.loc_rib().len(), (N - N / 4) as usize);
    // One poll: one batch of at most 1,024 prefixes.
    let t = sp.poll_transmit().expect("UPDATEs for B");
    assert_eq!(t.conn, ConnId(2));
    let (ann, wd) = decode(&t.bytes);
    assert!(wd.is_empty());
    assert!(!ann.is_empty() && ann.len() <= 1024, "{}", ann.len());
    assert!(t.bytes.len() <= 1024 * 5 + 64 * 4096, "{}", t.bytes.len());
    assert!(sp.queued_bytes() < 1024);
    // Drain the rest: every remaining prefix exactly once, none of the withdrawn ones.
    let mut stream = t.bytes;
    let mut polls = 1;
    while let Some(t) = sp.poll_transmit() {
        assert_eq!(t.conn, ConnId(2));
        stream.extend(t.bytes);
        polls += 1;
    }
    let (ann, wd) = decode(&stream);
    assert!(wd.is_empty(), "nothing withdrawn: it was never sent");
    let got: BTreeSet<Ipv4Prefix> = ann.iter().copied().collect();
    assert_eq!(got.len(), ann.len(), "no prefix sent twice");
    let want: BTreeSet<Ipv4Prefix> = (N / 4..N).map(prefix).collect();
    assert_eq!(got, want);
    assert!(polls >= (N - N / 4) as usize / 1024, "{polls} polls");
    assert_eq!(sp.pending_prefixes(IpAddr::V4(B)), 0);
    assert_eq!(
        sp.adj_rib_out(IpAddr::V4(B)).unwrap().len(),
        (N - N / 4) as usize
    );
    // Now a withdrawal of sent routes reaches B as withdrawals.
    for chunk in from_a(N / 4..N / 2, true).chunks(65536) {
        sp.handle_stream_data(now, ConnId(1), chunk).unwrap();
    }
    let mut stream = Vec::new();
    while let Some(t) = sp.poll_transmit() {
        stream.extend(t.bytes);
    }
    let (ann, wd) = decode(&stream);
    assert!(ann.is_empty());
    assert_eq!(
        wd.into_iter().collect::<BTreeSet<_>>(),
        (N / 4..N / 2).map(prefix).collect::<BTreeSet<_>>()
    );
}
