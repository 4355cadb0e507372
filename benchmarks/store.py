"""Activation-store throughput and memory, against plain h5py in the same run.

    python benchmarks/store.py [--rows 400000] [--dim 768] [--dtype float16]

Prints, for writing (segment writer + final assembly) and for reading
(``iter_chunks``, random-row gathers, ``as_dask`` reduction), the time, MB/s, and the
ratio to a baseline that does the same I/O with bare h5py on one dataset, plus the
peak RSS growth of each phase (bounded memory: it must not scale with the rows).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from interlingua.core.store import ActivationStore, SentenceRecord


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def batches(rows: int, dim: int, batch_rows: int, words_per_sentence: int = 20):
    rng = np.random.default_rng(0)
    block = rng.normal(size=(batch_rows, dim)).astype(np.float32)
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        n_sent = max(1, n // words_per_sentence)
        sizes = [words_per_sentence] * (n_sent - 1) + [n - words_per_sentence * (n_sent - 1)]
        records = [SentenceRecord(["w"] * k, "en", pair_id=start + i)
                   for i, k in enumerate(sizes)]
        yield records, block[:n] + (start % 7), block[:n_sent]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--batch-rows", type=int, default=8192)
    args = parser.parse_args()
    itemsize = np.dtype(args.dtype).itemsize
    mb = args.rows * args.dim * itemsize / 2**20
    tmp = Path(tempfile.mkdtemp(prefix="il-bench-"))
    print(f"{args.rows:,} rows x {args.dim} ({args.dtype}), {mb:,.0f} MB of word rows")

    # -- write --------------------------------------------------------------------
    base_rss = peak_rss_mb()
    t0 = time.perf_counter()
    with h5py.File(tmp / "raw.h5", "w") as f:
        ds = f.create_dataset("x", shape=(args.rows, args.dim), dtype=args.dtype,
                              chunks=(max(1, (1 << 20) // (args.dim * 4)), args.dim))
        pos = 0
        for _, words, _ in batches(args.rows, args.dim, args.batch_rows):
            ds[pos:pos + len(words)] = words
            pos += len(words)
    t_raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    writer = ActivationStore.create(tmp / "store.h5", model="bench", extractor="bench",
                                    dtype=args.dtype)
    for records, words, sents in batches(args.rows, args.dim, args.batch_rows):
        writer.append(records, {"0": {"words": words, "sentences": sents}})
    t_segments = time.perf_counter() - t0
    writer.finalize()
    t_write = time.perf_counter() - t0
    write_rss = peak_rss_mb() - base_rss
    print(f"write: h5py {t_raw:6.2f}s | store {t_write:6.2f}s "
          f"(segments {t_segments:.2f}s + assembly {t_write - t_segments:.2f}s) "
          f"| {mb / t_write:7.1f} MB/s | ratio store/h5py {t_write / t_raw:5.2f} "
          f"| peak RSS +{write_rss:.0f} MB")

    # -- read ---------------------------------------------------------------------
    gc.collect()
    rows = 65536
    t0 = time.perf_counter()
    total = np.zeros(args.dim)
    with h5py.File(tmp / "raw.h5", "r") as f:
        ds = f["x"]
        for start in range(0, args.rows, rows):
            total += ds[start:start + rows].astype(np.float32).sum(0)
    t_raw = time.perf_counter() - t0
    base_rss = peak_rss_mb()
    with ActivationStore.open(tmp / "store.h5") as st:
        layer = st.layer("0")
        t0 = time.perf_counter()
        check = np.zeros(args.dim)
        for block in layer.iter_chunks(rows=rows):
            check += block.sum(0)
        t_read = time.perf_counter() - t0
        np.testing.assert_allclose(check, total, rtol=1e-3)
        rng = np.random.default_rng(1)
        idx = rng.choice(args.rows, size=min(50_000, args.rows), replace=False)
        t0 = time.perf_counter()
        layer[idx]
        t_gather = time.perf_counter() - t0
        t0 = time.perf_counter()
        layer.as_dask(rows=rows).sum(axis=0).compute(scheduler="threads")
        t_dask = time.perf_counter() - t0
    read_rss = peak_rss_mb() - base_rss
    print(f"read : h5py {t_raw:6.2f}s | iter_chunks {t_read:6.2f}s | {mb / t_read:7.1f} MB/s "
          f"| ratio {t_read / t_raw:5.2f} | as_dask sum {t_dask:.2f}s "
          f"| 50k random rows {t_gather:.2f}s | peak RSS +{read_rss:.0f} MB")
    size = (tmp / "store.h5").stat().st_size / 2**20
    print(f"store file {size:,.0f} MB; temporary files in {tmp}")
    for path in tmp.iterdir():
        path.unlink()
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
