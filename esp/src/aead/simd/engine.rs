//! The AES-GCM algorithm, written once over a vector of `W` AES blocks and expanded by
//! [`gcm_engine!`] in each width module (`x128`, `x256`, `x512`).
//!
//! The width module provides, all `#[target_feature]` functions on its vector type `V`:
//! `vzero`, `vload`/`vstore` (`VB = 16 * W` bytes), `vxor`, `vadd32`, `venc`, `venclast`,
//! `vclmul_lo`/`vclmul_hi` (the 00 and 11 partial products per lane), `vswap64` (swap
//! the 64-bit halves of each lane),
//! `vbswap` (per-lane byte reversal), `vbcast` (one block to every lane), `vfold` (XOR of the
//! lanes), `vctr(k)` (lane `l` holds `k + l` in its low dword) and `vlane(x, l)` (`x` in lane
//! `l`, zero elsewhere); and the constants `W` (blocks per vector), `VB` and `B` (vectors in
//! flight).
//!
//! A chunk is `N = W * B` blocks. Seal runs the AES rounds of chunk `i` interleaved with the
//! GHASH of the ciphertext of chunk `i - 1`; open interleaves them with the GHASH of chunk
//! `i` itself (read before it is overwritten). GHASH multiplies the `N` blocks of a chunk by
//! `H^N .. H^1` and reduces once per chunk. The tail (< one chunk) runs CTR on as many vectors
//! as needed and GHASHes AAD (when short and there was no full chunk), tail and length block
//! together, front-padded with zero blocks to a whole number of vectors.

/// Expands the GCM algorithm for the vector type of the calling module.
macro_rules! gcm_engine {
    ($feat:literal) => {
        /// Blocks per chunk.
        const N: usize = W * B;
        /// Bytes per chunk.
        const CH: usize = 16 * N;
        /// AAD up to this length is hashed together with the tail when there is no full chunk.
        const AAD_INLINE: usize = 64;
        /// Packets up to this length go through the multi-packet path of `seal_many`.
        const BATCH_MAX_LEN: usize = 512;
        /// Counter blocks per batch group.
        const BATCH_BLOCKS: usize = 128;
        /// Packets per batch group.
        const BATCH_PACKETS: usize = 8;

        /// Round key `r` in every lane, loaded from the key's broadcast table (the key
        /// schedule is never copied to the stack; in the unrolled loops this is a memory
        /// operand of `vaesenc`).
        #[inline]
        #[target_feature(enable = $feat)]
        fn rkey(k: &KeyData, r: usize) -> V {
            match k.rkb.get(r * 64..).and_then(|s| s.first_chunk::<VB>()) {
                Some(s) => vload(s),
                None => vzero(),
            }
        }

        /// Overwrites a stack buffer that held keystream or plaintext. The buffers are on the
        /// per-packet path, so this is a plain `fill` (vector stores) kept alive by
        /// `black_box`, not `zeroize`'s byte-by-byte volatile writes, which would cost more
        /// than the AES. `black_box` is documented as best effort; the generated code keeps
        /// the stores (checked in the disassembly of the bench binary).
        #[inline]
        fn scrub(b: &mut [u8]) {
            b.fill(0);
            core::hint::black_box(b);
        }

        /// `scrub` for an array of vectors (keystream or AES states).
        #[inline]
        #[target_feature(enable = $feat)]
        fn scrub_vectors(s: &mut [V]) {
            s.fill(vzero());
            core::hint::black_box(s);
        }

        /// `W` consecutive powers of H starting at table block `t` (`H^(HP - t)`, ...).
        #[inline]
        #[target_feature(enable = $feat)]
        fn hpow(k: &KeyData, t: usize) -> V {
            match k.htab.get(t * 16..).and_then(|s| s.first_chunk::<VB>()) {
                Some(s) => vload(s),
                None => vzero(),
            }
        }

        /// `W` consecutive Karatsuba middle terms (`lo ^ hi` of the powers at block `t`).
        #[inline]
        #[target_feature(enable = $feat)]
        fn hkar(k: &KeyData, t: usize) -> V {
            match k.hkar.get(t * 16..).and_then(|s| s.first_chunk::<VB>()) {
                Some(s) => vload(s),
                None => vzero(),
            }
        }

        /// Unreduced GHASH products: (lo, Karatsuba middle, hi).
        type Acc = (V, V, V);

        /// Adds `x * H^(HP - t)` (per lane) to `p`: three carry-less multiplications.
        #[inline]
        #[target_feature(enable = $feat)]
        fn mac(p: &mut Acc, x: V, k: &KeyData, t: usize) {
            let h = hpow(k, t);
            p.0 = vxor(p.0, vclmul_lo(x, h));
            p.1 = vxor(p.1, vclmul_lo(vxor(x, vswap64(x)), hkar(k, t)));
            p.2 = vxor(p.2, vclmul_hi(x, h));
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn finish(p: Acc) -> __m128i {
            let lo = vfold(p.0);
            let hi = vfold(p.2);
            let mid = _mm_xor_si128(vfold(p.1), _mm_xor_si128(lo, hi));
            common::reduce_parts(lo, mid, hi)
        }

        /// GHASH of one full chunk, folded into `acc`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn ghash_chunk(k: &KeyData, acc: __m128i, c: &[u8; CH]) -> __m128i {
            let mut p = (vzero(), vzero(), vzero());
            for (j, d) in c.as_chunks::<VB>().0.iter().enumerate() {
                let mut x = vbswap(vload(d));
                if j == 0 {
                    x = vxor(x, vlane(acc, 0));
                }
                mac(&mut p, x, k, HP - N + j * W);
            }
            finish(p)
        }

        /// GHASH of at most one block (`data`, zero-padded), folded into `acc`:
        /// `(acc + data) * H`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn ghash_block(k: &KeyData, acc: __m128i, data: &[u8]) -> __m128i {
            if data.is_empty() {
                return acc;
            }
            let mut b = [0u8; 16];
            if let Some(d) = b.get_mut(..data.len()) {
                d.copy_from_slice(data);
            }
            let h1 = match k
                .htab
                .get((HP - 1) * 16..)
                .and_then(|s| s.first_chunk::<16>())
            {
                Some(h) => common::load16(h),
                None => _mm_setzero_si128(),
            };
            common::dot(_mm_xor_si128(acc, common::bswap(common::load16(&b))), h1)
        }

        /// GHASH of `data`, zero-padded to whole blocks, folded into `acc`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn ghash_bytes(k: &KeyData, mut acc: __m128i, data: &[u8]) -> __m128i {
            if data.len() <= 16 {
                // One block (ESP's AAD, 8 or 12 bytes): a single multiplication by H.
                return ghash_block(k, acc, data);
            }
            let (chunks, rest) = data.as_chunks::<CH>();
            for c in chunks {
                acc = ghash_chunk(k, acc, c);
            }
            if rest.is_empty() {
                return acc;
            }
            let m = rest.len().div_ceil(16); // 1..=N blocks
            let nv = m.div_ceil(W); // 1..=B vectors
            let pad = nv * W - m; // leading zero blocks, < W
            let mut tmp = [0u8; CH];
            if let Some(d) = tmp.get_mut(pad * 16..pad * 16 + rest.len()) {
                d.copy_from_slice(rest);
            }
            let mut p = (vzero(), vzero(), vzero());
            for (j, d) in tmp.as_chunks::<VB>().0.iter().take(nv).enumerate() {
                let mut x = vbswap(vload(d));
                if j == 0 {
                    x = vxor(x, vlane(acc, pad));
                }
                mac(&mut p, x, k, HP - nv * W + j * W);
            }
            finish(p)
        }

        /// GHASH of `[aad][ct][lens]`, the first two zero-padded to whole blocks, folded into
        /// `acc`. A short `aad` and the last partial chunk of `ct` are hashed together with
        /// the length block, with one reduction per chunk.
        #[inline]
        #[target_feature(enable = $feat)]
        fn ghash_final(
            k: &KeyData,
            mut acc: __m128i,
            aad: &[u8],
            ct: &[u8],
            lens: &[u8; 16],
        ) -> __m128i {
            let (chunks, ct) = ct.as_chunks::<CH>();
            let aad: &[u8] = if chunks.is_empty() && aad.len() <= AAD_INLINE {
                aad
            } else {
                acc = ghash_bytes(k, acc, aad);
                &[]
            };
            for c in chunks {
                acc = ghash_chunk(k, acc, c);
            }
            // [pad zero blocks][aad][ct][lens], `pad < W` making a whole number of vectors;
            // hashed straight from this buffer in groups of at most `B` vectors, the first
            // group the shortest, one reduction per group.
            let a = aad.len().div_ceil(16) * 16;
            let c = ct.len().div_ceil(16) * 16;
            let m = (a + c) / 16 + 1;
            let nv = m.div_ceil(W);
            let pad = nv * W - m;
            let o = pad * 16;
            let mut fb = [0u8; AAD_INLINE + CH + 16 + VB];
            if let Some(d) = fb.get_mut(o..o + aad.len()) {
                d.copy_from_slice(aad);
            }
            if let Some(d) = fb.get_mut(o + a..o + a + ct.len()) {
                d.copy_from_slice(ct);
            }
            if let Some(d) = fb.get_mut(o + a + c..o + a + c + 16) {
                d.copy_from_slice(lens);
            }
            let mut vecs = fb.as_chunks::<VB>().0.iter().take(nv);
            let mut left = nv;
            let mut lane = pad;
            while left > 0 {
                let g = left - B * ((left - 1) / B);
                let mut p = (vzero(), vzero(), vzero());
                for (j, d) in vecs.by_ref().take(g).enumerate() {
                    let mut x = vbswap(vload(d));
                    if j == 0 {
                        x = vxor(x, vlane(acc, lane));
                    }
                    mac(&mut p, x, k, HP - g * W + j * W);
                }
                acc = finish(p);
                left -= g;
                lane = 0;
            }
            acc
        }

        /// Counter vector `j` of a chunk whose first block has counter `ctr`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn ctr_block(ctr: V, j: usize) -> V {
            vbswap(vadd32(ctr, vctr((j * W) as i32)))
        }

        /// One chunk of CTR mode on `cur`, first counter `ctr` (whose 32-bit value is `first`),
        /// with the GHASH of one chunk
        /// between the AES rounds: for seal the previous chunk's ciphertext `prev` (if any),
        /// for open (`OPEN`) `cur` itself, read before it is overwritten. Returns the new
        /// accumulator. One instance per call site, so that it is inlined into the loop and
        /// the keystream stays in registers.
        #[inline]
        #[target_feature(enable = $feat)]
        fn chunk<const NR: usize, const OPEN: bool>(
            k: &KeyData,
            ctr: V,
            first: u32,
            prev: Option<&[u8; CH]>,
            cur: &mut [u8; CH],
            acc: __m128i,
        ) -> __m128i {
            let mut s = [vzero(); B];
            if (first & 0xff) as usize + N <= 256 {
                // No counter of the chunk carries out of its lowest byte: add the offsets to
                // the big-endian counter block directly (one byte swap instead of `B`).
                let be = vbswap(ctr);
                for (j, x) in s.iter_mut().enumerate() {
                    *x = vxor(vadd32(be, vbswap(vctr((j * W) as i32))), rkey(k, 0));
                }
            } else {
                for (j, x) in s.iter_mut().enumerate() {
                    *x = vxor(ctr_block(ctr, j), rkey(k, 0));
                }
            }
            let mut p = (vzero(), vzero(), vzero());
            let hashed = {
                let g: Option<&[u8; CH]> = if OPEN { Some(&*cur) } else { prev };
                let gv = match g {
                    Some(g) => Some(g.as_chunks::<VB>().0),
                    None => None,
                };
                for r in 1..NR {
                    for x in s.iter_mut() {
                        *x = venc(*x, rkey(k, r));
                    }
                    if let Some(d) = gv.and_then(|gv| gv.get(r - 1)) {
                        let mut x = vbswap(vload(d));
                        if r == 1 {
                            x = vxor(x, vlane(acc, 0));
                        }
                        mac(&mut p, x, k, HP - N + (r - 1) * W);
                    }
                }
                g.is_some()
            };
            // aesenclast ends with the XOR of the round key: fold the data into the key.
            let last = rkey(k, NR);
            for (d, x) in cur.as_chunks_mut::<VB>().0.iter_mut().zip(s.iter()) {
                vstore(d, venclast(*x, vxor(last, vload(d))));
            }
            if hashed { finish(p) } else { acc }
        }

        /// CTR over `data` (at most `NV` vectors), first counter `ctr`, with the GHASH of `gv`
        /// (at most `B` vectors, the accumulator entering at lane `lane`) between the AES
        /// rounds. Returns the new accumulator (`acc` when `gv` is empty).
        #[inline]
        #[target_feature(enable = $feat)]
        fn tail_nv<const NR: usize, const NV: usize>(
            k: &KeyData,
            ctr: V,
            gv: &[[u8; VB]],
            lane: usize,
            acc: __m128i,
            data: &mut [u8],
        ) -> __m128i {
            let ng = gv.len().min(B);
            let mut s = [vzero(); NV];
            for (j, x) in s.iter_mut().enumerate() {
                *x = vxor(ctr_block(ctr, j), rkey(k, 0));
            }
            let mut p = (vzero(), vzero(), vzero());
            for r in 1..NR {
                for x in s.iter_mut() {
                    *x = venc(*x, rkey(k, r));
                }
                if let Some(d) = gv.get(r - 1).filter(|_| r <= ng) {
                    let mut x = vbswap(vload(d));
                    if r == 1 {
                        x = vxor(x, vlane(acc, lane));
                    }
                    mac(&mut p, x, k, HP - ng * W + (r - 1) * W);
                }
            }
            for x in s.iter_mut() {
                *x = venclast(*x, rkey(k, NR));
            }
            xor_partial(data, &s);
            // `xor_partial` indexes `s` at run time, so the keystream sits in a stack array.
            scrub_vectors(&mut s);
            if ng > 0 { finish(p) } else { acc }
        }

        /// `tail_nv` with AES on half a chunk of counter blocks when `data` fits in it
        /// (the tails of 1400- and 9000-byte packets do), else on a whole chunk.
        #[inline]
        #[target_feature(enable = $feat)]
        fn ctr_tail<const NR: usize>(
            k: &KeyData,
            ctr: V,
            gv: &[[u8; VB]],
            lane: usize,
            acc: __m128i,
            data: &mut [u8],
        ) -> __m128i {
            if data.len() <= CH / 2 {
                tail_nv::<NR, { B / 2 }>(k, ctr, gv, lane, acc, data)
            } else {
                tail_nv::<NR, B>(k, ctr, gv, lane, acc, data)
            }
        }

        /// XORs `data` (at most `s.len()` vectors) with the keystream vectors `s`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn xor_partial(data: &mut [u8], s: &[V]) {
            let (full, rest) = data.as_chunks_mut::<VB>();
            for (d, x) in full.iter_mut().zip(s.iter()) {
                vstore(d, vxor(vload(d), *x));
            }
            if let Some(x) = s.get(full.len()) {
                if !rest.is_empty() {
                    // `t` holds plaintext (and, after the XOR, its ciphertext): scrubbed.
                    let mut t = [0u8; VB];
                    if let Some(tp) = t.get_mut(..rest.len()) {
                        tp.copy_from_slice(rest);
                    }
                    let v = vxor(vload(&t), *x);
                    vstore(&mut t, v);
                    if let Some(tp) = t.get(..rest.len()) {
                        rest.copy_from_slice(tp);
                    }
                    scrub(&mut t);
                }
            }
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn chunk_step() -> V {
            vbcast(_mm_set_epi32(0, 0, 0, N as i32))
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn seal_impl<const NR: usize>(
            k: &KeyData,
            nonce: &[u8; 12],
            aad: &[u8],
            buf: &mut [u8],
        ) -> [u8; 16] {
            let j0 = common::j0(nonce);
            let ej0 = common::encrypt1::<NR>(&k.rk, j0);
            let mut ctr = vbcast(common::first_ctr(j0));
            let lens = common::len_block(aad.len(), buf.len());
            let (chunks, tail) = buf.as_chunks_mut::<CH>();
            let inline_aad = chunks.is_empty() && aad.len() <= AAD_INLINE;
            let mut acc = _mm_setzero_si128();
            if !inline_aad {
                acc = ghash_bytes(k, acc, aad);
            }
            for i in 0..chunks.len() {
                let (done, rest) = chunks.split_at_mut(i);
                let Some(cur) = rest.first_mut() else { break };
                let prev: Option<&[u8; CH]> = match done.last() {
                    Some(c) => Some(c),
                    None => None,
                };
                // An opaque copy of the key pointer per chunk: otherwise LLVM hoists the
                // loads of the round keys and powers of H out of the loop and, short of
                // registers, spills them to the stack (slower, and key material left there).
                let first = (2 + i * N) as u32;
                acc = chunk::<NR, false>(core::hint::black_box(k), ctr, first, prev, cur, acc);
                ctr = vadd32(ctr, chunk_step());
            }
            match chunks.last() {
                // The GHASH of the last full chunk runs between the AES rounds of the tail's
                // counter blocks.
                Some(last) if !tail.is_empty() => {
                    acc = ctr_tail::<NR>(k, ctr, last.as_chunks::<VB>().0, 0, acc, tail);
                }
                Some(last) => acc = ghash_chunk(k, acc, last),
                None => acc = ctr_tail::<NR>(k, ctr, &[], 0, acc, tail),
            }
            let aad_in: &[u8] = if inline_aad { aad } else { &[] };
            acc = ghash_final(k, acc, aad_in, tail, &lens);
            common::tag(acc, ej0)
        }

        #[inline]
        #[target_feature(enable = $feat)]
        fn open_impl<const NR: usize>(
            k: &KeyData,
            nonce: &[u8; 12],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; 16],
        ) -> bool {
            let j0 = common::j0(nonce);
            let ej0 = common::encrypt1::<NR>(&k.rk, j0);
            let mut ctr = vbcast(common::first_ctr(j0));
            let lens = common::len_block(aad.len(), buf.len());
            let (chunks, tail) = buf.as_chunks_mut::<CH>();
            let inline_aad = chunks.is_empty() && aad.len() <= AAD_INLINE;
            let mut acc = _mm_setzero_si128();
            if !inline_aad {
                acc = ghash_bytes(k, acc, aad);
            }
            for (i, cur) in chunks.iter_mut().enumerate() {
                // Opaque key pointer: see `seal_impl`.
                let first = (2 + i * N) as u32;
                acc = chunk::<NR, true>(core::hint::black_box(k), ctr, first, None, cur, acc);
                ctr = vadd32(ctr, chunk_step());
            }
            let m = tail.len().div_ceil(16) + 1; // tail blocks + the length block
            if !inline_aad && !tail.is_empty() && m <= N {
                // The AAD is already hashed: GHASH `[pad][tail][lens]` between the AES rounds
                // of the tail's counter blocks.
                let nv = m.div_ceil(W);
                let pad = nv * W - m;
                let c = tail.len().div_ceil(16) * 16;
                let mut fb = [0u8; CH];
                if let Some(d) = fb.get_mut(pad * 16..pad * 16 + tail.len()) {
                    d.copy_from_slice(tail);
                }
                if let Some(d) = fb.get_mut(pad * 16 + c..pad * 16 + c + 16) {
                    d.copy_from_slice(&lens);
                }
                let gv = fb.as_chunks::<VB>().0.get(..nv).unwrap_or(&[]);
                acc = ctr_tail::<NR>(k, ctr, gv, pad, acc, tail);
            } else {
                let aad_in: &[u8] = if inline_aad { aad } else { &[] };
                acc = ghash_final(k, acc, aad_in, tail, &lens);
                ctr_tail::<NR>(k, ctr, &[], 0, acc, tail);
            }
            let ok = common::tag_eq(&common::tag(acc, ej0), tag);
            if !ok {
                buf.fill(0);
            }
            ok
        }

        /// AES over a list of counter blocks, in place, `B` vectors in flight.
        #[inline]
        #[target_feature(enable = $feat)]
        fn encrypt_blocks<const NR: usize>(k: &KeyData, blocks: &mut [u8]) {
            let (chunks, rest) = blocks.as_chunks_mut::<CH>();
            for c in chunks.iter_mut() {
                let mut s = [vzero(); B];
                for (x, d) in s.iter_mut().zip(c.as_chunks::<VB>().0) {
                    *x = vxor(vload(d), rkey(k, 0));
                }
                for r in 1..NR {
                    for x in s.iter_mut() {
                        *x = venc(*x, rkey(k, r));
                    }
                }
                for (x, d) in s.iter().zip(c.as_chunks_mut::<VB>().0.iter_mut()) {
                    vstore(d, venclast(*x, rkey(k, NR)));
                }
            }
            if rest.is_empty() {
                return;
            }
            let mut t = [0u8; CH];
            if let Some(d) = t.get_mut(..rest.len()) {
                d.copy_from_slice(rest);
            }
            let nv = rest.len().div_ceil(VB).min(B);
            let mut s = [vzero(); B];
            for (x, d) in s.iter_mut().zip(t.as_chunks::<VB>().0).take(nv) {
                *x = vxor(vload(d), rkey(k, 0));
            }
            for r in 1..NR {
                for x in s.iter_mut().take(nv) {
                    *x = venc(*x, rkey(k, r));
                }
            }
            for (x, d) in s.iter().zip(t.as_chunks_mut::<VB>().0.iter_mut()).take(nv) {
                vstore(d, venclast(*x, rkey(k, NR)));
            }
            // A run-time count of vectors: `s` (AES states) lives in a stack array.
            scrub_vectors(&mut s);
            if let Some(d) = t.get(..rest.len()) {
                rest.copy_from_slice(d);
            }
            // `t` held keystream.
            scrub(&mut t);
        }

        /// XORs `data` with the keystream blocks `ks` (at least `data.len()` bytes).
        #[inline]
        #[target_feature(enable = $feat)]
        fn xor_keystream(data: &mut [u8], ks: &[u8]) {
            let (full, rest) = data.as_chunks_mut::<16>();
            let (kb, krest) = ks.as_chunks::<16>();
            for (d, s) in full.iter_mut().zip(kb) {
                common::store16(d, _mm_xor_si128(common::load16(d), common::load16(s)));
            }
            let kr = kb.get(full.len()).map(|b| &b[..]).unwrap_or(krest);
            for (d, s) in rest.iter_mut().zip(kr) {
                *d ^= *s;
            }
        }

        /// Writes `nonce || be32(ctr)`.
        #[inline]
        fn counter_block(d: &mut [u8; 16], nonce: &[u8; 12], ctr: u32) {
            d[..12].copy_from_slice(nonce);
            d[12..].copy_from_slice(&ctr.to_be_bytes());
        }

        /// Whether a packet goes through the multi-packet path.
        #[inline]
        fn batchable(aad: &[u8], buf: &[u8]) -> bool {
            aad.len() <= AAD_INLINE && buf.len() <= BATCH_MAX_LEN
        }

        /// Seals or opens a group of small packets: the counter blocks of all of them go
        /// through AES together, then each packet is GHASHed and XORed.
        #[inline]
        #[target_feature(enable = $feat)]
        fn batch_group<const NR: usize>(
            k: &KeyData,
            nonces: &[[u8; 12]],
            aads: &[&[u8]],
            bufs: &mut [&mut [u8]],
            mut tags: Tags<'_>,
        ) {
            let mut ctrs = [[0u8; 16]; BATCH_BLOCKS];
            let mut starts = [0usize; BATCH_PACKETS];
            let mut n = 0;
            for ((nonce, buf), st) in nonces.iter().zip(bufs.iter()).zip(starts.iter_mut()) {
                *st = n;
                let nb = buf.len().div_ceil(16);
                for (i, d) in ctrs.iter_mut().skip(n).take(nb + 1).enumerate() {
                    counter_block(d, nonce, 1 + i as u32);
                }
                n += nb + 1;
            }
            let n = n.min(BATCH_BLOCKS);
            if let Some(blocks) = ctrs.get_mut(..n) {
                encrypt_blocks::<NR>(k, blocks.as_flattened_mut());
            }
            for (i, ((aad, buf), st)) in aads.iter().zip(bufs.iter_mut()).zip(starts).enumerate() {
                let Some((ej0, stream)) = ctrs.get(st..).and_then(|s| s.split_first()) else {
                    continue;
                };
                let ej0 = common::load16(ej0);
                let lens = common::len_block(aad.len(), buf.len());
                match &mut tags {
                    Tags::Seal(out) => {
                        xor_keystream(buf, stream.as_flattened());
                        let acc = ghash_final(k, _mm_setzero_si128(), aad, buf, &lens);
                        if let Some(t) = out.get_mut(i) {
                            *t = common::tag(acc, ej0);
                        }
                    }
                    Tags::Open(given, oks) => {
                        let acc = ghash_final(k, _mm_setzero_si128(), aad, buf, &lens);
                        let ok = given
                            .get(i)
                            .is_some_and(|t| common::tag_eq(&common::tag(acc, ej0), t));
                        if ok {
                            xor_keystream(buf, stream.as_flattened());
                        } else {
                            buf.fill(0);
                        }
                        if let Some(o) = oks.get_mut(i) {
                            *o = ok;
                        }
                    }
                }
            }
            // The encrypted counter blocks are keystream (and `E(K, J0)` of each packet).
            if let Some(used) = ctrs.get_mut(..n) {
                scrub(used.as_flattened_mut());
            }
        }

        /// `seal_many`/`open_many`: groups consecutive small packets, runs the others alone.
        #[inline]
        #[target_feature(enable = $feat)]
        fn many_impl<const NR: usize>(
            k: &KeyData,
            nonces: &[[u8; 12]],
            aads: &[&[u8]],
            bufs: &mut [&mut [u8]],
            mut tags: Tags<'_>,
        ) {
            let n = nonces.len().min(aads.len()).min(bufs.len()).min(tags.len());
            let mut i = 0;
            while i < n {
                // The longest run of batchable packets starting at i that fits one group.
                let mut j = i;
                let mut blocks = 0;
                while j < n && j - i < BATCH_PACKETS {
                    let (Some(a), Some(b)) = (aads.get(j), bufs.get(j)) else {
                        break;
                    };
                    let nb = b.len().div_ceil(16) + 1;
                    if !batchable(a, b) || blocks + nb > BATCH_BLOCKS {
                        break;
                    }
                    blocks += nb;
                    j += 1;
                }
                if j > i + 1 {
                    let (Some(nn), Some(aa), Some(bb), Some(tt)) = (
                        nonces.get(i..j),
                        aads.get(i..j),
                        bufs.get_mut(i..j),
                        tags.sub(i, j),
                    ) else {
                        break;
                    };
                    batch_group::<NR>(k, nn, aa, bb, tt);
                    i = j;
                    continue;
                }
                let (Some(nonce), Some(aad), Some(buf)) =
                    (nonces.get(i), aads.get(i), bufs.get_mut(i))
                else {
                    break;
                };
                match &mut tags {
                    Tags::Seal(out) => {
                        if let Some(t) = out.get_mut(i) {
                            *t = seal_impl::<NR>(k, nonce, aad, buf);
                        }
                    }
                    Tags::Open(given, oks) => {
                        if let (Some(t), Some(o)) = (given.get(i), oks.get_mut(i)) {
                            *o = open_impl::<NR>(k, nonce, aad, buf, t);
                        }
                    }
                }
                i += 1;
            }
        }

        /// Seals `buf` in place and returns the tag.
        #[target_feature(enable = $feat)]
        pub(super) fn seal(k: &KeyData, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
            if k.aes256 {
                seal_impl::<14>(k, nonce, aad, buf)
            } else {
                seal_impl::<10>(k, nonce, aad, buf)
            }
        }

        /// Verifies `tag` and decrypts `buf` in place; on failure `buf` is zeroed.
        #[target_feature(enable = $feat)]
        pub(super) fn open(
            k: &KeyData,
            nonce: &[u8; 12],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; 16],
        ) -> bool {
            if k.aes256 {
                open_impl::<14>(k, nonce, aad, buf, tag)
            } else {
                open_impl::<10>(k, nonce, aad, buf, tag)
            }
        }

        /// Seals or opens many packets; see `Gcm::seal_many`.
        #[target_feature(enable = $feat)]
        pub(super) fn many(
            k: &KeyData,
            nonces: &[[u8; 12]],
            aads: &[&[u8]],
            bufs: &mut [&mut [u8]],
            tags: Tags<'_>,
        ) {
            if k.aes256 {
                many_impl::<14>(k, nonces, aads, bufs, tags)
            } else {
                many_impl::<10>(k, nonces, aads, bufs, tags)
            }
        }
    };
}
