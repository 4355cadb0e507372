"""Benchmark: streaming linear CKA, debiased CKA and ANC over an HDF5 store.

For each n in ``--sizes`` (default 10k, 100k, 1M paired rows) × d = ``--dim``
(default 768), a synthetic parallel store (``en``/``es`` sentences paired by
``pair_id``; Y = X·A + noise) is written once to ``--workdir``. Each measurement runs
in a fresh subprocess so its peak RSS (``ru_maxrss``) is its own:

* ours: ``metric.stream`` over ``Layer.iter_chunks`` (float64 moments, O(d²) memory);
* ``gram``: the Gram-matrix formulation of Kornblith et al. (2019) — n×n kernel
  matrices, (unbiased) centring, Frobenius inner products — written plainly here;
* ``ckatorch``: ``ckatorch.cka_base`` (PyTorch, Gram matrices; benchmark-only
  dependency: ``pip install ckatorch``).

Baselines run only where their n×n matrices fit in ``--baseline-max-gb``. Every time
includes reading the rows from the store. Prints a table with seconds, peak RSS,
time / memory ratios of each baseline against ours, and |Δ value|.

``--mutual-knn`` instead times the in-memory ``mutual-knn`` metric (blockwise, O(n·k +
block²) working memory) on seeded random rows (``--knn-sizes`` × ``--knn-dim``,
default 5k, 10k, 20k × 384; Y = X·A + noise) against the plain full-matrix version
(n×n cosine matrices, stable argsort), which runs where its matrices fit in
``--baseline-max-gb``; times exclude generating the rows.

``--in-memory`` instead calls the moment metrics in memory (``--mem-metrics``, default
linear CKA) on seeded float32 rows (``--mem-rows`` × ``--mem-dim``, default 300k × 768;
``--small``: 60k × 256; Y = X·A + noise, generated in float32 blocks), each in a fresh
subprocess, and prints peak RSS ÷ input size and time ÷ the plain float64 version
(``numpy``: float64 copies of X and Y, centred in place, XᵀX, YᵀY, XᵀY, linear CKA).
``before`` replays the previous path in the same code (float64 copies from
validation, then one whole-chunk float64 copy in ``Moments.update``). Times exclude
generating the rows.

Usage::

    python benchmarks/similarity.py --sizes 10000,100000 --dim 768
    nice -n 10 python benchmarks/similarity.py            # full run (needs ~15 GB disk)
    python benchmarks/similarity.py --mutual-knn          # ~1 min
    python benchmarks/similarity.py --in-memory --small   # ~1 min
    nice -n 10 python benchmarks/similarity.py --in-memory   # 300k × 768 (~9 GB for before)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _memory import peak_rss_mib  # benchmarks/ is sys.path[0] when a script runs

TASKS_OURS = ("ours:cka", "ours:cka-debiased", "ours:anc")
TASKS_BASE = ("gram:cka", "gram:cka-debiased", "ckatorch:cka", "ckatorch:cka-debiased")


# -- data ----------------------------------------------------------------------------
def build_store(path: Path, n: int, dim: int, seed: int = 0, batch: int = 16384) -> None:
    """en rows X, es rows Y = X·A/√d + noise; written batch by batch (bounded memory)."""
    from interlingua.core.store import ActivationStore, SentenceRecord

    rng = np.random.default_rng(seed)
    A = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    with ActivationStore.create(path, model="synthetic", extractor="benchmark",
                                overwrite=True) as st:
        for lang in ("en", "es"):
            gen = np.random.default_rng(seed + 1)  # same X stream for both languages
            noise = np.random.default_rng(seed + 2)
            for start in range(0, n, batch):
                stop = min(n, start + batch)
                X = gen.normal(size=(stop - start, dim)) + 0.5
                rows = X if lang == "en" else X @ A + 1.5 * noise.normal(size=X.shape)
                recs = [SentenceRecord(["w"], lang, pair_id=i) for i in range(start, stop)]
                st.append(recs, {"0": {"sentences": rows.astype(np.float32)}})
        st.finalize()


def paired(path: Path):
    from interlingua.core.store import ActivationStore

    st = ActivationStore.open(path)
    ra, rb = st.parallel_rows("en", "es")
    return st, st.layer("0", "sentences"), ra, rb


# -- children ------------------------------------------------------------------------
def run_child(task: str, path: Path, chunk_rows: int) -> dict:
    kind, name = task.split(":")
    debiased = name.endswith("debiased")
    rss0 = peak_rss_mib()
    if kind == "ours":
        import interlingua as il

        metric = il.get_metric("anc") if name == "anc" else il.get_metric("cka", debiased=debiased)
        t0 = time.perf_counter()
        st, lay, ra, rb = paired(path)
        chunks = zip(lay.iter_chunks(chunk_rows, index=ra), lay.iter_chunks(chunk_rows, index=rb))
        value = metric.stream(chunks).value
        st.close()
    elif kind == "gram":
        t0 = time.perf_counter()
        st, lay, ra, rb = paired(path)
        X = lay.read(ra).astype(np.float64)
        Y = lay.read(rb).astype(np.float64)
        st.close()
        value = gram_cka(X, Y, debiased)
    elif kind == "ckatorch":
        import torch
        from ckatorch import cka_base

        torch.set_num_threads(os.cpu_count() or 1)
        t0 = time.perf_counter()
        st, lay, ra, rb = paired(path)
        X = torch.from_numpy(lay.read(ra).astype(np.float64))
        Y = torch.from_numpy(lay.read(rb).astype(np.float64))
        st.close()
        value = float(cka_base(X, Y, kernel="linear", unbiased=debiased))
    else:
        raise SystemExit(f"unknown task {task}")
    seconds = time.perf_counter() - t0
    return {"task": task, "seconds": seconds, "peak_rss_mb": peak_rss_mib(),
            "import_rss_mb": rss0, "value": float(value)}


def gram_cka(X: np.ndarray, Y: np.ndarray, debiased: bool) -> float:
    """Kornblith et al.'s Gram-space CKA: centre K = XXᵀ, L = YYᵀ (biased: HKH;
    unbiased: Song's U-statistic centring), then ⟨K', L'⟩ / (‖K'‖ ‖L'‖)."""

    def centre(K: np.ndarray) -> np.ndarray:
        n = K.shape[0]
        if debiased:
            np.fill_diagonal(K, 0.0)
            m = K.sum(axis=0) / (n - 2)
            m -= m.sum() / (2 * (n - 1))
        else:
            m = K.mean(axis=0)
            m -= m.mean() / 2
        K -= m[:, None]
        K -= m[None, :]
        if debiased:
            np.fill_diagonal(K, 0.0)
        return K

    K = centre(X @ X.T)
    L = centre(Y @ Y.T)
    # Row blocks keep the elementwise products from needing another n×n temporary.
    kl = kk = ll = 0.0
    for s in range(0, K.shape[0], 2048):
        a, b = K[s:s + 2048], L[s:s + 2048]
        kl += float(np.einsum("ij,ij->", a, b))
        kk += float(np.einsum("ij,ij->", a, a))
        ll += float(np.einsum("ij,ij->", b, b))
    return kl / np.sqrt(kk * ll)


# -- mutual k-NN ---------------------------------------------------------------------
def knn_rows(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded paired rows: X, and Y = X·A/√d + noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim))
    Y = X @ (rng.normal(size=(dim, dim)) / np.sqrt(dim)) + 1.5 * rng.normal(size=(n, dim))
    return X, Y


def full_mutual_knn(X: np.ndarray, Y: np.ndarray, k: int) -> float:
    """The plain version: n×n cosine matrix per space, self excluded, stable argsort."""

    def neighbours(Z: np.ndarray) -> np.ndarray:
        U = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        S = U @ U.T
        np.fill_diagonal(S, -np.inf)
        return np.argsort(-S, axis=1, kind="stable")[:, :k]

    A, B = neighbours(X), neighbours(Y)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(A, B)]))


def run_knn_child(task: str, n: int, dim: int, k: int) -> dict:
    X, Y = knn_rows(n, dim)
    rss0 = peak_rss_mib()
    t0 = time.perf_counter()
    if task == "ours:mutual-knn":
        import interlingua as il

        value = il.get_metric("mutual-knn", k=k)(X, Y).value
    elif task == "full:mutual-knn":
        value = full_mutual_knn(X, Y, k)
    else:
        raise SystemExit(f"unknown task {task}")
    seconds = time.perf_counter() - t0
    return {"task": task, "seconds": seconds, "peak_rss_mb": peak_rss_mib(),
            "import_rss_mb": rss0, "value": float(value)}


def knn_main(args: argparse.Namespace) -> list[dict]:
    records = []
    for n in [int(s) for s in args.knn_sizes.split(",") if s.strip()]:
        tasks, skipped = ["ours:mutual-knn"], []
        need = 2 * n * n * 8 / 1024**3  # S and its argsort (int64)
        if not args.no_baselines and need <= args.baseline_max_gb:
            tasks.append("full:mutual-knn")
        elif not args.no_baselines:
            skipped.append({"n": n, "task": "full:mutual-knn",
                            "skipped": f"needs ~{need:.0f} GB"})
        for task in tasks:
            cmd = [sys.executable, __file__, "--child", task, "--knn-sizes", str(n),
                   "--knn-dim", str(args.knn_dim), "--knn-k", str(args.knn_k)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                records.append({"n": n, "task": task, "skipped":
                                f"failed: {proc.stderr.strip().splitlines()[-1:]}"})
                print(f"n={n} {task}: FAILED\n{proc.stderr}", flush=True)
                continue
            rec = {"n": n, **json.loads(proc.stdout.strip().splitlines()[-1])}
            records.append(rec)
            print(f"n={n:>8} {task:<22} {rec['seconds']:8.2f} s  peak RSS "
                  f"{rec['peak_rss_mb']:8.0f} MB  (after data {rec['import_rss_mb']:.0f} MB)  "
                  f"value {rec['value']:.10f}", flush=True)
        records.extend(skipped)
    return records


# -- in-memory moment metrics -----------------------------------------------------------
def mem_rows(n: int, dim: int, seed: int = 0,
             block: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Seeded float32 paired rows X, Y = X·A/√d + noise, built in float32 row blocks so
    that generating them costs no more than the rows themselves."""
    rng = np.random.default_rng(seed)
    A = (rng.normal(size=(dim, dim)) / np.sqrt(dim)).astype(np.float32)
    X = np.empty((n, dim), dtype=np.float32)
    Y = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        x = rng.standard_normal(size=(stop - start, dim), dtype=np.float32)
        x += 0.5
        X[start:stop] = x
        Y[start:stop] = x @ A + 1.5 * rng.standard_normal(size=x.shape, dtype=np.float32)
    return X, Y


def numpy_moments_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """The plain float64 version: float64 copies centred in place, then the three
    scatter matrices and linear CKA from them."""
    Xc = X.astype(np.float64)
    Xc -= Xc.mean(axis=0)
    Yc = Y.astype(np.float64)
    Yc -= Yc.mean(axis=0)
    xy = np.sum((Xc.T @ Yc) ** 2)
    return float(xy / np.sqrt(np.sum((Xc.T @ Xc) ** 2) * np.sum((Yc.T @ Yc) ** 2)))


def mem_metric(name: str):
    import interlingua as il

    if name == "cka-debiased":
        return il.get_metric("cka", debiased=True)
    return il.get_metric(name)


def run_mem_child(task: str, n: int, dim: int) -> dict:
    _, kind, name = task.split(":")
    metric = None if kind == "numpy" else mem_metric(name)
    if kind == "before":
        # The previous path: validation converts float32 to float64, and
        # Moments.update copies the whole chunk once more.
        from interlingua.plugins.similarity import moments

        moments.BLOCK_ELEMENTS = 1 << 62
        type(metric).accepts_float32 = False
    rss0 = peak_rss_mib()
    X, Y = mem_rows(n, dim)
    data_mb = peak_rss_mib()
    t0 = time.perf_counter()
    value = numpy_moments_cka(X, Y) if kind == "numpy" else metric(X, Y).value
    seconds = time.perf_counter() - t0
    return {"task": task, "seconds": seconds, "peak_rss_mb": peak_rss_mib(),
            "import_rss_mb": rss0, "data_rss_mb": data_mb,
            "input_mb": (X.nbytes + Y.nbytes) / 1024**2, "value": float(value)}


def mem_main(args: argparse.Namespace) -> list[dict]:
    n, dim = (60_000, 256) if args.small else (args.mem_rows, args.mem_dim)
    names = [s.strip() for s in args.mem_metrics.split(",") if s.strip()]
    tasks = ([] if args.no_baselines else ["mem:numpy:cka"]) + [f"mem:ours:{m}" for m in names]
    if not args.no_baselines:
        tasks += [f"mem:before:{m}" for m in names]
    records = []
    for task in tasks:
        cmd = [sys.executable, __file__, "--child", task, "--mem-rows", str(n),
               "--mem-dim", str(dim)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            records.append({"n": n, "dim": dim, "task": task, "skipped":
                            f"failed: {proc.stderr.strip().splitlines()[-1:]}"})
            print(f"{n}×{dim} {task}: FAILED\n{proc.stderr}", flush=True)
            continue
        rec = {"n": n, "dim": dim, **json.loads(proc.stdout.strip().splitlines()[-1])}
        records.append(rec)
        print(f"{n}×{dim} {task:<22} {rec['seconds']:8.2f} s  peak RSS "
              f"{rec['peak_rss_mb']:8.0f} MB  input {rec['input_mb']:.0f} MB  "
              f"(imports {rec['import_rss_mb']:.0f} MB)  value {rec['value']:.10f}",
              flush=True)
    return records


def mem_report(records: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    base = {r["n"]: r for r in records if r.get("task") == "mem:numpy:cka" and "seconds" in r}
    table = Table(title="in-memory moment metrics on float32 input", header_style="bold cyan")
    for col in ("n × d", "task", "seconds", "peak RSS MB", "÷ input",
                "− imports ÷ input", "time ÷ numpy", "|Δ| vs numpy"):
        table.add_column(col, justify="right" if col != "task" else "left", no_wrap=True)
    for r in records:
        shape = f"{r['n']} × {r['dim']}"
        if "skipped" in r:
            table.add_row(shape, r["task"], "—", "—", "—", "—", "—", r["skipped"])
            continue
        ref = base.get(r["n"])
        ratio_t = "" if ref is None else f"{r['seconds'] / ref['seconds']:.2f}×"
        same = ref is not None and r["task"].endswith(":cka") and r is not ref
        delta = f"{abs(r['value'] - ref['value']):.1e}" if same else ""
        table.add_row(shape, r["task"], f"{r['seconds']:.2f}", f"{r['peak_rss_mb']:.0f}",
                      f"{r['peak_rss_mb'] / r['input_mb']:.2f}×",
                      f"{(r['peak_rss_mb'] - r['import_rss_mb']) / r['input_mb']:.2f}×",
                      ratio_t, delta)
    Console(width=max(Console().width, 120)).print(table)


# -- driver --------------------------------------------------------------------------
def baseline_gb(task: str, n: int) -> float:
    # gram: K and L (+ a product temporary); ckatorch: K, L, their centred clones and
    # the temporaries of its symmetry check.
    per = 3 if task.startswith("gram") else 6
    return per * n * n * 8 / 1024**3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="comma-separated numbers of paired rows")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--chunk-rows", type=int, default=16384)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/interlingua-bench"))
    ap.add_argument("--baseline-max-gb", type=float, default=5.0,
                    help="skip a baseline whose n×n matrices need more than this")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic stores")
    ap.add_argument("--json", type=Path, help="also write all measurements as JSON")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--report", type=Path, help="only print the table of a --json file")
    ap.add_argument("--mutual-knn", action="store_true",
                    help="benchmark mutual-knn (in memory) instead of the streaming metrics")
    ap.add_argument("--knn-sizes", default="5000,10000,20000",
                    help="comma-separated numbers of paired rows for --mutual-knn")
    ap.add_argument("--knn-dim", type=int, default=384)
    ap.add_argument("--knn-k", type=int, default=10)
    ap.add_argument("--in-memory", action="store_true",
                    help="benchmark in-memory moment metrics on float32 rows (peak RSS)")
    ap.add_argument("--mem-rows", type=int, default=300_000)
    ap.add_argument("--mem-dim", type=int, default=768)
    ap.add_argument("--mem-metrics", default="cka",
                    help="comma-separated: anc, cka, cka-debiased, cca, svcca, pwcca, "
                         "procrustes")
    ap.add_argument("--small", action="store_true",
                    help="--in-memory on 60k × 256 rows instead")
    args = ap.parse_args(argv)
    if args.report:
        report(json.loads(args.report.read_text()))
        return 0

    if args.child and args.child.startswith("mem:"):
        print(json.dumps(run_mem_child(args.child, args.mem_rows, args.mem_dim)))
        return 0
    if args.child and args.child.endswith(":mutual-knn"):
        print(json.dumps(run_knn_child(args.child, int(args.knn_sizes), args.knn_dim,
                                       args.knn_k)))
        return 0
    if args.child:
        print(json.dumps(run_child(args.child, args.store, args.chunk_rows)))
        return 0
    if args.in_memory:
        records = mem_main(args)
        mem_report(records)
        if args.json:
            args.json.write_text(json.dumps(records, indent=2))
        return 0
    if args.mutual_knn:
        records = knn_main(args)
        report(records, title=f"mutual-knn benchmark (d={args.knn_dim}, k={args.knn_k})")
        if args.json:
            args.json.write_text(json.dumps(records, indent=2))
        return 0

    try:
        import ckatorch  # noqa: F401

        have_ckatorch = True
    except ImportError:
        have_ckatorch = False
        print("ckatorch not installed (pip install ckatorch): its column is skipped")

    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    records = []
    for n in sizes:
        path = args.workdir / f"synthetic_{n}x{args.dim}.h5"
        if not path.exists():
            t0 = time.perf_counter()
            build_store(path, n, args.dim)
            print(f"built {path} ({path.stat().st_size / 1024**3:.2f} GB) in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        tasks = list(TASKS_OURS)
        skipped = []
        if not args.no_baselines:
            for t in TASKS_BASE:
                if t.startswith("ckatorch") and not have_ckatorch:
                    continue
                if baseline_gb(t, n) <= args.baseline_max_gb:
                    tasks.append(t)
                else:
                    skipped.append({"n": n, "task": t, "skipped":
                                    f"needs ~{baseline_gb(t, n):.0f} GB"})
        for task in tasks:
            cmd = [sys.executable, __file__, "--child", task, "--store", str(path),
                   "--chunk-rows", str(args.chunk_rows)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                records.append({"n": n, "task": task, "skipped":
                                f"failed: {proc.stderr.strip().splitlines()[-1:]}"})
                print(f"n={n} {task}: FAILED\n{proc.stderr}", flush=True)
                continue
            rec = {"n": n, **json.loads(proc.stdout.strip().splitlines()[-1])}
            records.append(rec)
            print(f"n={n:>8} {task:<22} {rec['seconds']:8.2f} s  peak RSS "
                  f"{rec['peak_rss_mb']:8.0f} MB  value {rec['value']:.10f}", flush=True)
        records.extend(skipped)
        if not args.keep:
            path.unlink()
    report(records)
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0


def report(records: list[dict], title: str = "streaming similarity benchmark") -> None:
    from rich.console import Console
    from rich.table import Table

    ours = {(r["n"], r["task"].split(":")[1]): r for r in records
            if r.get("task", "").startswith("ours") and "seconds" in r}
    table = Table(title=title, header_style="bold cyan")
    for col in ("n", "task", "seconds", "peak RSS MB", "time ÷ ours", "RSS ÷ ours",
                "|Δ value|"):
        table.add_column(col, justify="right" if col != "task" else "left", no_wrap=True)
    for r in records:
        if "skipped" in r:
            table.add_row(str(r["n"]), r["task"], "—", "—", "—", "—", r["skipped"])
            continue
        ref = ours.get((r["n"], r["task"].split(":")[1]))
        is_ours = r["task"].startswith("ours")
        ratio_t = "" if is_ours or ref is None else f"{r['seconds'] / ref['seconds']:.1f}×"
        ratio_m = "" if is_ours or ref is None else f"{r['peak_rss_mb'] / ref['peak_rss_mb']:.1f}×"
        delta = "" if is_ours or ref is None else f"{abs(r['value'] - ref['value']):.1e}"
        table.add_row(str(r["n"]), r["task"], f"{r['seconds']:.2f}", f"{r['peak_rss_mb']:.0f}",
                      ratio_t, ratio_m, delta)
    Console(width=max(Console().width, 110)).print(table)


if __name__ == "__main__":
    sys.exit(main())
