#!/usr/bin/env python3
"""Compares the GPU's results (<case>.gpu, from gpu_runner.c) with the
simulator's (<case>.sim) for every case in a directory; prints each
differing 32-bit word (at most a few per buffer)."""
import struct
import sys
from pathlib import Path


def items(path):
    b = path.read_bytes()
    out, off = [], 0
    while off < len(b):
        (n,) = struct.unpack_from("<Q", b, off)
        out.append(b[off + 8 : off + 8 + n])
        off += 8 + n
    return out


def main(d):
    bad = total = 0
    for sim in sorted(Path(d).glob("*.sim")):
        gpu = sim.with_suffix(".gpu")
        total += 1
        if not gpu.exists():
            print(f"{sim.stem}: no GPU result")
            bad += 1
            continue
        s, g = items(sim), items(gpu)
        if s == g:
            continue
        bad += 1
        for k, (x, y) in enumerate(zip(s, g)):
            if x == y:
                continue
            words = [
                (i, x[i : i + 4].hex(), y[i : i + 4].hex())
                for i in range(0, min(len(x), len(y)), 4)
                if x[i : i + 4] != y[i : i + 4]
            ]
            print(f"{sim.stem} item {k}: {len(words)} words differ; byte offset, sim, gpu:")
            for w in words[:6]:
                print("   ", *w)
    print(f"{total - bad} of {total} launches identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
