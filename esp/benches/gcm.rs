//! AES-256-GCM seal and open, side by side in one criterion group: the portable backend,
//! every SIMD backend this CPU can run, and `ring`; plus the multi-packet path at 64 bytes.
//!
//! `cargo bench -p esp --bench gcm -- --warm-up-time 1 --measurement-time 3`
//! (`esp/benches/openssl_speed.sh` runs `openssl speed` on the same sizes.)
//!
//! Every buffer sits at a fixed address mod 64 (0 in the main group), so runs are repeatable;
//! the group `aes256gcm_align` measures `Vaes256` and `ring` at offsets 0, 8, 16, 32 mod 64
//! (`python3 esp/benches/gcm_table.py --align` prints it).
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use esp::{Backend, Gcm};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};

const KEY: [u8; 32] = [0x42; 32];
const NONCE: [u8; 12] = [0x24; 12];
const AAD: [u8; 8] = [0, 0, 0x10, 0x01, 0, 0, 0, 7]; // SPI + sequence number
const SIZES: [usize; 4] = [64, 512, 1400, 9000];
const BATCH: usize = 8;
const OFFSETS: [usize; 4] = [0, 8, 16, 32];

/// A `len`-byte window of a heap buffer whose address is `off` mod 64, allocated once.
struct Aligned {
    backing: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(data: &[u8], off: usize) -> Self {
        let mut backing = vec![0u8; data.len() + 128];
        let start = (64 - backing.as_ptr() as usize % 64) % 64 + off;
        backing[start..start + data.len()].copy_from_slice(data);
        Self {
            backing,
            start,
            len: data.len(),
        }
    }

    fn buf(&mut self) -> &mut [u8] {
        &mut self.backing[self.start..self.start + self.len]
    }
}

fn backends() -> Vec<Backend> {
    let (run, not_run): (Vec<_>, Vec<_>) = Backend::ALL.into_iter().partition(|b| b.is_available());
    eprintln!("gcm bench: backends {run:?}; NOT RUN (CPU lacks them): {not_run:?}");
    run
}

fn ring_key() -> LessSafeKey {
    match UnboundKey::new(&AES_256_GCM, &KEY) {
        Ok(k) => LessSafeKey::new(k),
        Err(_) => unreachable!("32-byte key"),
    }
}

fn bench(c: &mut Criterion) {
    let backends = backends();
    let mut g = c.benchmark_group("aes256gcm");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let pt = vec![0x5a_u8; size];
        for &b in &backends {
            let Ok(gcm) = Gcm::new(&KEY, b) else { continue };
            let mut buf = Aligned::new(&pt, 0);
            g.bench_with_input(
                BenchmarkId::new(format!("seal/{b:?}"), size),
                &size,
                |bch, _| {
                    bch.iter(|| black_box(gcm.seal_in_place(&NONCE, &AAD, black_box(buf.buf()))))
                },
            );
            let mut ct = pt.clone();
            let tag = gcm.seal_in_place(&NONCE, &AAD, &mut ct);
            g.bench_with_input(
                BenchmarkId::new(format!("open/{b:?}"), size),
                &size,
                |bch, _| {
                    bch.iter_batched_ref(
                        || Aligned::new(&ct, 0),
                        |buf| black_box(gcm.open_in_place(&NONCE, &AAD, buf.buf(), &tag)),
                        BatchSize::SmallInput,
                    )
                },
            );
        }
        let key = ring_key();
        let mut buf = Aligned::new(&pt, 0);
        g.bench_with_input(BenchmarkId::new("seal/ring", size), &size, |bch, _| {
            bch.iter(|| {
                let n = Nonce::assume_unique_for_key(NONCE);
                black_box(key.seal_in_place_separate_tag(n, Aad::from(AAD), black_box(buf.buf())))
            })
        });
        let mut ct = pt.clone();
        let n = Nonce::assume_unique_for_key(NONCE);
        let tag = key
            .seal_in_place_separate_tag(n, Aad::from(AAD), &mut ct)
            .map(|t| {
                let mut b = [0u8; 16];
                b.copy_from_slice(t.as_ref());
                b
            });
        let tag = tag.unwrap_or([0; 16]);
        g.bench_with_input(BenchmarkId::new("open/ring", size), &size, |bch, _| {
            bch.iter_batched_ref(
                || Aligned::new(&ct, 0),
                |buf| {
                    let n = Nonce::assume_unique_for_key(NONCE);
                    let (t, b) = (Tag::from(tag), buf.buf());
                    let r = key.open_in_place_separate_tag(n, Aad::from(AAD), t, b, 0..);
                    black_box(r.is_ok())
                },
                BatchSize::SmallInput,
            )
        });
    }

    // The multi-packet path: 8 packets of 64 bytes per call, throughput counts all 512 bytes.
    let size = 64;
    g.throughput(Throughput::Bytes((size * BATCH) as u64));
    let nonces: Vec<[u8; 12]> = (0..BATCH as u8).map(|i| [i; 12]).collect();
    let aads = [&AAD[..]; BATCH];
    for &b in &backends {
        let Ok(gcm) = Gcm::new(&KEY, b) else { continue };
        let mut bufs = vec![vec![0x5a_u8; size]; BATCH];
        let mut tags = [[0u8; 16]; BATCH];
        g.bench_with_input(
            BenchmarkId::new(format!("seal_batch8/{b:?}"), size),
            &size,
            |bch, _| {
                bch.iter(|| {
                    let mut refs: [&mut [u8]; BATCH] = bufs_refs(&mut bufs);
                    black_box(gcm.seal_many(&nonces, &aads, &mut refs, &mut tags))
                })
            },
        );
        let mut cts = vec![vec![0x5a_u8; size]; BATCH];
        {
            let mut refs = bufs_refs(&mut cts);
            gcm.seal_many(&nonces, &aads, &mut refs, &mut tags);
        }
        let mut results = [Ok(()); BATCH];
        g.bench_with_input(
            BenchmarkId::new(format!("open_batch8/{b:?}"), size),
            &size,
            |bch, _| {
                bch.iter_batched_ref(
                    || cts.clone(),
                    |bufs| {
                        let mut refs = bufs_refs(bufs);
                        black_box(gcm.open_many(&nonces, &aads, &mut refs, &tags, &mut results))
                    },
                    BatchSize::SmallInput,
                )
            },
        );
    }
    g.finish();
}

/// Seal and open for `Vaes256` and `ring` on one buffer per (size, offset), allocated once and
/// hot in cache. Open restores the ciphertext before every call, so `open` here is copy + open;
/// `copy` (the restore alone) is measured at the same offset to subtract.
fn bench_align(c: &mut Criterion) {
    let mut g = c.benchmark_group("aes256gcm_align");
    let gcm = Gcm::new(&KEY, Backend::Vaes256)
        .ok()
        .filter(|_| Backend::Vaes256.is_available());
    if gcm.is_none() {
        eprintln!("gcm bench: Vaes256 NOT RUN in aes256gcm_align (CPU lacks it)");
    }
    let key = ring_key();
    for size in [1400, 9000] {
        g.throughput(Throughput::Bytes(size as u64));
        let pt = vec![0x5a_u8; size];
        let mut ring_ct = pt.clone();
        let n = Nonce::assume_unique_for_key(NONCE);
        let mut ring_tag = [0u8; 16];
        if let Ok(t) = key.seal_in_place_separate_tag(n, Aad::from(AAD), &mut ring_ct) {
            ring_tag.copy_from_slice(t.as_ref());
        }
        for off in OFFSETS {
            let id = |what: &str| BenchmarkId::new(format!("{what}_off{off}"), size);
            let mut buf = Aligned::new(&pt, off);
            g.bench_function(id("copy"), |bch| {
                bch.iter(|| buf.buf().copy_from_slice(black_box(&ring_ct)))
            });
            if let Some(gcm) = &gcm {
                let mut ct = pt.clone();
                let tag = gcm.seal_in_place(&NONCE, &AAD, &mut ct);
                g.bench_function(id("seal_Vaes256"), |bch| {
                    bch.iter(|| black_box(gcm.seal_in_place(&NONCE, &AAD, black_box(buf.buf()))))
                });
                g.bench_function(id("open_Vaes256"), |bch| {
                    bch.iter(|| {
                        let b = buf.buf();
                        b.copy_from_slice(black_box(&ct));
                        black_box(gcm.open_in_place(&NONCE, &AAD, b, &tag))
                    })
                });
            }
            g.bench_function(id("seal_ring"), |bch| {
                bch.iter(|| {
                    let n = Nonce::assume_unique_for_key(NONCE);
                    black_box(key.seal_in_place_separate_tag(n, Aad::from(AAD), buf.buf()))
                })
            });
            g.bench_function(id("open_ring"), |bch| {
                bch.iter(|| {
                    let b = buf.buf();
                    b.copy_from_slice(black_box(&ring_ct));
                    let n = Nonce::assume_unique_for_key(NONCE);
                    let r = key.open_in_place_separate_tag(
                        n,
                        Aad::from(AAD),
                        Tag::from(ring_tag),
                        b,
                        0..,
                    );
                    black_box(r.is_ok())
                })
            });
        }
    }
    g.finish();
}

fn bufs_refs(bufs: &mut [Vec<u8>]) -> [&mut [u8]; BATCH] {
    let mut it = bufs.iter_mut();
    std::array::from_fn(|_| it.next().map(Vec::as_mut_slice).unwrap_or_default())
}

criterion_group!(benches, bench, bench_align);
criterion_main!(benches);
