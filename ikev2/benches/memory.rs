//! Memory held per established IKE SA with one Child SA, in a responder (hub):
//! 5,000 spokes connect one after the other (each spoke dropped after its
//! handshake), and the hub's growth is reported two ways:
//! - live heap bytes, counted exactly by a wrapping global allocator (what the
//!   SA state asks for, without allocator overhead);
//! - RSS growth from `/proc/self/statm` (what the process really costs,
//!   including malloc's per-chunk overhead and fragmentation).
//!
//! It also prints the CPU time per handshake while the hub fills up, which
//! shows whether a handshake's cost grows with the number of SAs held.
//!
//! `cargo bench -p ikev2 --bench memory`
#![allow(missing_docs, reason = "bench binary")]
#![allow(unsafe_code, reason = "a counting GlobalAlloc wrapper around System")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use ikev2::crypto::DhGroup;
use ikev2::{Endpoint, EndpointConfig};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use setup::{epoch, handshake, hub};

#[path = "common/cpu_time.rs"]
#[allow(dead_code, reason = "shared with the handshake bench")]
mod cpu_time;
#[path = "common/setup.rs"]
#[allow(dead_code, reason = "shared with the handshake bench")]
mod setup;

/// Bytes currently allocated through the global allocator.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Allocations made (alloc, alloc_zeroed and realloc calls).
static CALLS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and only adds bookkeeping on an atomic counter, so `System`'s
// guarantees carry over.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        CALLS.fetch_add(1, Ordering::Relaxed);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        CALLS.fetch_add(1, Ordering::Relaxed);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        CALLS.fetch_add(1, Ordering::Relaxed);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn rss_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    const WARM: u32 = 200;
    const N: u32 = 5_000;
    let now = epoch();
    let mut hub = hub(DhGroup::Curve25519, 7, now);
    let spoke = |i: u32| {
        Endpoint::new(
            EndpointConfig::new(),
            ChaCha20Rng::seed_from_u64(u64::from(i)),
            now,
        )
    };
    // Warm up the allocator's pools and the hub's maps.
    for i in 0..WARM {
        assert_eq!(
            handshake(&mut hub, &mut spoke(i), DhGroup::Curve25519, i, now),
            1
        );
    }
    let (heap0, rss0) = (LIVE.load(Ordering::Relaxed), rss_bytes().unwrap_or(0));
    let cpu0 = cpu_time::thread_cpu_time();
    let calls0 = CALLS.load(Ordering::Relaxed);
    for i in WARM..WARM + N {
        // A fresh spoke each time, dropped afterwards: only the hub's state grows.
        assert_eq!(
            handshake(&mut hub, &mut spoke(i), DhGroup::Curve25519, i, now),
            1
        );
    }
    let cpu = cpu_time::thread_cpu_time().saturating_sub(cpu0);
    let calls = CALLS.load(Ordering::Relaxed) - calls0;
    let (heap1, rss1) = (LIVE.load(Ordering::Relaxed), rss_bytes().unwrap_or(0));
    let sas = hub.handles().len();
    assert_eq!(
        sas,
        (WARM + N) as usize,
        "every spoke left one established SA"
    );
    let n = N as usize;
    println!("memory per established IKE SA + 1 Child SA, responder, over {N} SAs:");
    println!(
        "  live heap: {} bytes/SA ({} -> {} KiB)",
        heap1.saturating_sub(heap0) / n,
        heap0 / 1024,
        heap1 / 1024
    );
    println!(
        "  RSS:       {} bytes/SA ({} -> {} KiB)",
        rss1.saturating_sub(rss0) / n,
        rss0 / 1024,
        rss1 / 1024
    );
    println!(
        "  and the CPU time of those handshakes (both ends, hub growing from {WARM} to {} SAs): {:.1} us each",
        WARM + N,
        cpu.as_secs_f64() * 1e6 / f64::from(N)
    );
    println!(
        "  allocator calls per handshake (both ends, spoke creation included): {}",
        calls / N as usize
    );
    black_box(hub);
}
