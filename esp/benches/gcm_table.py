#!/usr/bin/env python3
"""Prints the table of esp/BENCH-SIMD.md from criterion's last run of `--bench gcm`.

    cargo bench -p esp --bench gcm -- --warm-up-time 1 --measurement-time 3
    python3 esp/benches/gcm_table.py [GHZ]   # GHZ defaults to /proc/cpuinfo's "cpu MHz"
    python3 esp/benches/gcm_table.py --align # the group aes256gcm_align, per offset mod 64

Time per call -> MB/s (10^6 bytes/s) and cycles/byte at the nominal clock, and the ratios to
`ring` and to the portable backend at the same size and direction. The time is the fastest of
criterion's 100 samples (each the mean of many calls): on a shared, loaded machine that is the
least disturbed estimate; `--median` uses criterion's median instead.
"""
import json, pathlib, re, sys

root = pathlib.Path(__file__).resolve().parents[2] / "target" / "criterion" / "aes256gcm"
use_median = "--median" in sys.argv
args = [a for a in sys.argv[1:] if a not in ("--median", "--align")]
if args:
    ghz = float(args[0])
else:
    mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", open("/proc/cpuinfo").read())
    ghz = float(mhz.group(1)) / 1000 if mhz else 1.0

def sample_ns(est):
    if use_median:
        return json.load(open(est))["median"]["point_estimate"]
    smp = json.load(open(est.parent / "sample.json"))
    return min(t / i for t, i in zip(smp["times"], smp["iters"]))


if "--align" in sys.argv:
    # Open here is copy + open on one hot buffer; "-copy" subtracts the copy alone.
    a = {}
    for est in root.with_name("aes256gcm_align").glob("*/*/new/estimates.json"):
        m = re.match(r"(copy|seal_Vaes256|open_Vaes256|seal_ring|open_ring)_off(\d+)", est.parts[-4])
        a[(m.group(1), int(m.group(2)), int(est.parts[-3]))] = sample_ns(est)
    print(f"time: {'median' if use_median else 'fastest sample'}; ns/call, open minus copy")
    print("| op | bytes | offset | Vaes256 ns | ring ns | ours/ring speed | copy ns |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for op in ("seal", "open"):
        for size in (1400, 9000):
            for off in (0, 8, 16, 32):
                cp = a.get(("copy", off, size), 0.0)
                sub = cp if op == "open" else 0.0
                ours = a.get((f"{op}_Vaes256", off, size))
                ring = a.get((f"{op}_ring", off, size))
                if ours is None or ring is None:
                    continue
                ours, ring = ours - sub, ring - sub
                print(f"| {op} | {size} | {off} | {ours:.0f} | {ring:.0f} | {ring / ours:.2f}x | {cp:.0f} |")
    sys.exit(0)

rows = {}
for est in root.glob("*/*/new/estimates.json"):
    impl, size = est.parts[-4], int(est.parts[-3])
    if use_median:
        ns = json.load(open(est))["median"]["point_estimate"]
    else:
        smp = json.load(open(est.parent / "sample.json"))
        ns = min(t / i for t, i in zip(smp["times"], smp["iters"]))
    m = re.match(r"(seal|open)(_batch8)?_(.*)", impl)
    op, batch, name = m.group(1), bool(m.group(2)), m.group(3)
    nbytes = size * (8 if batch else 1)
    rows[(op, size, name + (" batch8" if batch else ""))] = (ns, nbytes)

print(f"clock for cycles/byte: {ghz:.3f} GHz; time: {'median' if use_median else 'fastest sample'}")
print(f"| op | bytes | impl | ns/call | MB/s | cycles/B | vs ring | vs portable |")
print(f"|---|---:|---|---:|---:|---:|---:|---:|")
order = ["Portable", "AesNi", "Vaes256", "Vaes512", "ring", "Portable batch8", "AesNi batch8",
         "Vaes256 batch8", "Vaes512 batch8"]
for op in ("seal", "open"):
    for size in (64, 512, 1400, 9000):
        ring = rows.get((op, size, "ring"))
        port = rows.get((op, size, "Portable"))
        for name in order:
            r = rows.get((op, size, name))
            if not r:
                continue
            ns, nbytes = r
            mbs = nbytes / ns * 1e3
            cpb = ns * ghz / nbytes
            vr = f"{(nbytes / ns) / (ring[1] / ring[0]):.2f}x" if ring else "-"
            vp = f"{(nbytes / ns) / (port[1] / port[0]):.2f}x" if port else "-"
            print(f"| {op} | {size} | {name} | {ns:.0f} | {mbs:.0f} | {cpb:.2f} | {vr} | {vp} |")
