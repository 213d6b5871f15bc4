//! ESP seal and open throughput, single core, side by side in one group per operation:
//! `esp` (this crate's whole ESP path: header, padding, AES-256-GCM, ICV, replay window),
//! `gcm` (this crate's AES-256-GCM alone, via `esp::Gcm`), and `ring` (ring's AES-256-GCM,
//! the reference). Payloads of 64, 512, 1400 and 9000 bytes.
//!
//! `cargo bench -p esp --bench esp -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, reason = "criterion_group! generates an undocumented fn")]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use esp::{Backend, Gcm, InboundSa, OutboundSa, SaParams};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

const SIZES: [usize; 4] = [64, 512, 1400, 9000];
const KEYMAT: [u8; 36] = [0x42; 36];
const SPI: u32 = 0x0102_0304;

fn pair() -> (OutboundSa, InboundSa) {
    let p = || {
        SaParams::from_keymat(SPI, &KEYMAT)
            .expect("keymat")
            .with_esn(true)
    };
    (
        OutboundSa::new(p()).expect("outbound sa"),
        InboundSa::new(p()).expect("inbound sa"),
    )
}

fn ring_key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &KEYMAT[..32]).expect("ring key"))
}

fn seal(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal");
    for size in SIZES {
        let payload = vec![0xa5u8; size];
        g.throughput(Throughput::Bytes(size as u64));

        let (mut tx, _) = pair();
        let mut buf = BytesMut::with_capacity(size + 64);
        g.bench_with_input(BenchmarkId::new("esp", size), &payload, |b, p| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(p);
                black_box(tx.seal(&mut buf, 4).expect("seal"));
            });
        });

        let gcm = Gcm::new(&KEYMAT[..32], Backend::best()).expect("gcm");
        let mut raw = payload.clone();
        let mut n = 0u64;
        g.bench_with_input(BenchmarkId::new("gcm", size), &payload, |b, p| {
            b.iter(|| {
                raw.copy_from_slice(p);
                n += 1;
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&n.to_be_bytes());
                black_box(gcm.seal_in_place(&nonce, &[0u8; 12], &mut raw));
            });
        });

        let key = ring_key();
        let mut raw = payload.clone();
        let mut n = 0u64;
        g.bench_with_input(BenchmarkId::new("ring", size), &payload, |b, p| {
            b.iter(|| {
                raw.copy_from_slice(p);
                n += 1;
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&n.to_be_bytes());
                let nonce = Nonce::assume_unique_for_key(nonce);
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from([0u8; 12]), &mut raw)
                    .expect("ring seal");
                black_box(tag.as_ref()[0]);
            });
        });
    }
    g.finish();
}

fn open(c: &mut Criterion) {
    let mut g = c.benchmark_group("open");
    for size in SIZES {
        let payload = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));

        // Every packet opened is a fresh one (the replay window refuses repeats); sealing it
        // is setup, outside the measurement.
        let (mut tx, mut rx) = pair();
        g.bench_function(BenchmarkId::new("esp", size), |b| {
            b.iter_batched(
                || {
                    let mut buf = BytesMut::with_capacity(size + 64);
                    buf.extend_from_slice(&payload);
                    tx.seal(&mut buf, 4).expect("seal");
                    buf
                },
                |mut buf| black_box(rx.open(&mut buf).expect("open")),
                BatchSize::SmallInput,
            );
        });

        let gcm = Gcm::new(&KEYMAT[..32], Backend::best()).expect("gcm");
        let nonce = [7u8; 12];
        let mut ct = payload.clone();
        let tag = gcm.seal_in_place(&nonce, &[0u8; 12], &mut ct);
        g.bench_function(BenchmarkId::new("gcm", size), |b| {
            b.iter_batched(
                || ct.clone(),
                |mut buf| {
                    gcm.open_in_place(&nonce, &[0u8; 12], &mut buf, &tag)
                        .expect("gcm open");
                    black_box(buf)
                },
                BatchSize::SmallInput,
            );
        });

        let key = ring_key();
        let mut sealed = payload.clone();
        let rtag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from([0u8; 12]),
                &mut sealed,
            )
            .expect("ring seal");
        sealed.extend_from_slice(rtag.as_ref());
        g.bench_function(BenchmarkId::new("ring", size), |b| {
            b.iter_batched(
                || sealed.clone(),
                |mut buf| {
                    key.open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from([0u8; 12]),
                        &mut buf,
                    )
                    .expect("ring open");
                    black_box(buf)
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, seal, open);
criterion_main!(benches);
