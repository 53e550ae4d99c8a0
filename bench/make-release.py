#!/usr/bin/env python3
"""Make a sample release for the benchmarks: N gzip tarballs of realistic,
compressible content (log- and config-like text, some binary-ish data),
about SIZE_MB compressed each, plus SHA256SUMS.  Deterministic (seeded).
usage: make-release.py DIR N SIZE_MB"""
import hashlib, io, os, random, sys, tarfile

def text_block(rng, words, n):
    out = []
    size = 0
    while size < n:
        line = " ".join(rng.choices(words, k=rng.randint(4, 16)))
        line = f"{rng.randint(0, 10**9):09d} {line} id={rng.getrandbits(48):012x}\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()

def main():
    outdir, count, size_mb = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(1337)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10))) for _ in range(5000)]
    sums = []
    for i in range(count):
        name = f"component{i}-1.0.{i}-linux-amd64.tar.gz"
        path = os.path.join(outdir, name)
        target = int(size_mb * 1024 * 1024)
        with tarfile.open(path, "w:gz", compresslevel=6) as tar:
            def add(arcname, data, mode=0o644):
                ti = tarfile.TarInfo(arcname)
                ti.size = len(data)
                ti.mode = mode
                ti.mtime = 1700000000
                tar.addfile(ti, io.BytesIO(data))
            add(f"component{i}/bin/run", b"#!/bin/sh\necho component\n", 0o755)
            n = 0
            while os.path.getsize(path) < target - (1 << 20):
                # ~3:1 compressible text, and a little incompressible data
                add(f"component{i}/share/data{n:04d}.log", text_block(rng, words, 4 << 20))
                add(f"component{i}/lib/blob{n:04d}.bin", rng.randbytes(256 << 10))
                n += 1
                tar.fileobj.flush()
        sums.append((hashlib.sha256(open(path, "rb").read()).hexdigest(), name))
    with open(os.path.join(outdir, "SHA256SUMS"), "w") as f:
        for h, n in sums:
            f.write(f"{h}  {n}\n")

main()
