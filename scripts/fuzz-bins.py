#!/usr/bin/env python3
"""Regenerates the [[bin]] entries of fuzz/Cargo.toml from fuzz/fuzz_targets/<dir>/<target>.rs.

The bin name is "<crate>_<target>", where <crate> is the directory name without "-lite"
(fuzz_targets/bgp-lite/framer.rs -> bgp_framer). Everything after the marker line is rewritten,
so branches that each add targets never conflict on this file.
"""
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent / "fuzz"
manifest = root / "Cargo.toml"
marker = "# Keep each crate's targets together, under a \"# <crate>\" comment."
text = manifest.read_text()
head = text.split(marker)[0] + marker + "\n"
out = [head]
for d in sorted(p for p in (root / "fuzz_targets").iterdir() if p.is_dir()):
    crate = d.name.replace("-lite", "")
    out.append(f"\n# {d.name}\n")
    for f in sorted(f for f in d.glob("*.rs") if "fuzz_target!" in f.read_text()):
        out.append(
            f'[[bin]]\nname = "{crate}_{f.stem}"\npath = "fuzz_targets/{d.name}/{f.name}"\n'
            "test = false\ndoc = false\nbench = false\n\n"
        )
manifest.write_text("".join(out).rstrip("\n") + "\n")
