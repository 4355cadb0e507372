"""Benchmark: latent-concept discovery at scale (issue 5, item 7; seed 000 §3.2, App. F).

K-means with K = 600 over synthetic clustered word-occurrence representations
(default 100k and 1M rows x 768 dims) streamed from an activation store. For each
size it measures wall time and peak RSS of

* ``kmeans`` (exact Lloyd; all rows loaded into one float32 array),
* ``minibatch-kmeans`` (streamed from the store through ``partial_fit``),
* ``agglomerative`` (Ward) on sub-samples small enough for its O(n^2) memory,

each in its own child process (so peak RSS is per method), plus the clustering
quality of mini-batch relative to full k-means: inertia ratio and adjusted Rand
index (ARI), and the ARI of both against the generating clusters. It also times
CALIGN on 600 x 600 concepts with a 10-best dictionary.

Run small::

    python benchmarks/concepts.py --sizes 20000 --dim 128

Full run (the issue's target: 1M x 768, K=600 in < 15 min and < 8 GB)::

    nice -n 10 python benchmarks/concepts.py --out benchmarks/results/concepts.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_store(path: Path, n: int, dim: int, k_true: int, seed: int, batch: int = 50_000
               ) -> None:
    """Synthetic clustered data: K_true Gaussian clusters with Zipf-like sizes."""
    from interlingua.core.store import ActivationStore, SentenceRecord

    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k_true, dim)).astype(np.float32)
    weights = 1.0 / np.arange(1, k_true + 1) ** 0.5
    weights /= weights.sum()
    truth = rng.choice(k_true, size=n, p=weights)
    np.save(path.with_suffix(".truth.npy"), truth)
    words_per_sentence = 20
    with ActivationStore.create(path, model="synthetic", extractor="benchmark",
                                overwrite=True, chunk_rows=4096) as st:
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            labels = truth[start:stop]
            block = centers[labels] + 0.6 * rng.standard_normal((stop - start, dim),
                                                                   dtype=np.float32)
            records = [SentenceRecord([f"c{c}" for c in labels[i:i + words_per_sentence]], "xx")
                       for i in range(0, stop - start, words_per_sentence)]
            st.append(records, {"0": {"words": block}})
        st.finalize()


def worker(method: str, store: str, k: int, seed: int, sample: int, out: str,
           params: dict) -> None:
    """One clustering run in this (child) process; writes labels and a JSON summary."""
    import interlingua as il
    from interlingua.core.store import ActivationStore

    t0 = time.perf_counter()
    with ActivationStore.open(store) as st:
        layer = st.layer("0")
        index = None
        if sample and sample < layer.shape[0]:
            rng = np.random.default_rng(seed)
            index = np.sort(rng.choice(layer.shape[0], size=sample, replace=False))
        extra = {"random_state": seed} if method != "agglomerative" else {}
        model = il.get_discoverer(method, n_clusters=k, **extra, **params)
        model.fit_store(layer, index)
    seconds = time.perf_counter() - t0
    np.save(out + ".labels.npy", model.labels_)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = {"method": method, "params": params, "seconds": seconds,
               "peak_rss_gb": peak_kb / 1024**2, "n": int(model.labels_.size),
               "inertia": getattr(model, "inertia_", None),
               "n_iter": getattr(model, "n_iter_", None)}
    Path(out + ".json").write_text(json.dumps(summary))


def run_child(method: str, store: Path, k: int, seed: int, sample: int, tag: str,
              params: dict, timeout: float) -> dict:
    out = str(store.with_name(f"{store.stem}.{tag}"))
    cmd = [sys.executable, __file__, "--worker", method, "--store", str(store), "-k", str(k),
           "--seed", str(seed), "--sample", str(sample), "--worker-out", out,
           "--params", json.dumps(params)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "params": params, "error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"method": method, "params": params,
                "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    summary = json.loads(Path(out + ".json").read_text())
    summary["wall_with_startup"] = time.perf_counter() - t0
    summary["labels"] = out + ".labels.npy"
    return summary


def inertia_of(store: Path, labels: np.ndarray, index: np.ndarray | None = None) -> float:
    """Inertia of a labelling w.r.t. its own cluster means (float64, streamed)."""
    from interlingua.core.store import ActivationStore

    with ActivationStore.open(store) as st:
        layer = st.layer("0")
        k = int(labels.max()) + 1
        sums = np.zeros((k, layer.dim))
        sq = 0.0
        n = labels.size
        for start in range(0, n, 65536):
            rows = slice(start, min(start + 65536, n))
            block = (layer[rows] if index is None else layer[index[rows]]).astype(np.float64)
            np.add.at(sums, labels[rows], block)
            sq += float(np.einsum("ij,ij->", block, block))
        counts = np.bincount(labels, minlength=k)
        nz = counts > 0
        return sq - float((np.einsum("ij,ij->i", sums[nz], sums[nz]) / counts[nz]).sum())


def bench_calign(k: int = 600, nbest: int = 10, seed: int = 0) -> dict:
    """CALIGN on k x k concepts (10-60 types each) with an N-best dictionary."""
    import interlingua as il

    rng = np.random.default_rng(seed)
    vocab = 20_000
    src = {i: [f"s{w}" for w in rng.choice(vocab, rng.integers(10, 60), replace=False)]
           for i in range(k)}
    tgt = {j: [f"t{w}" for w in rng.choice(vocab, rng.integers(10, 60), replace=False)]
           for j in range(k)}
    pairs = [(f"s{w}", f"t{t}", float(p)) for w in range(vocab)
             for t, p in zip(rng.choice(vocab, 12, replace=False), rng.random(12))]
    d = il.Dictionary.from_pairs(pairs)
    metric = il.get_metric("calign", nbest=nbest)
    metric(src, tgt, d)  # warm-up (imports)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = metric(src, tgt, d)
        times.append(time.perf_counter() - t0)
    return {"concepts": k, "nbest": nbest, "dictionary_pairs": len(pairs),
            "seconds_best_of_3": min(times), "value": res.value}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000",
                    help="Comma-separated numbers of word occurrences.")
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("-k", type=int, default=600)
    ap.add_argument("--k-true", type=int, default=600, help="Generating clusters.")
    ap.add_argument("--methods", default="kmeans,minibatch-kmeans,agglomerative")
    ap.add_argument("--kmeans-params", default="{}",
                    help='JSON parameters of kmeans, e.g. \'{"init_size": 60000}\'.')
    ap.add_argument("--minibatch-params", default="{}")
    ap.add_argument("--agglomerative-sizes", default="5000,20000",
                    help="Sub-sample sizes for Ward clustering (O(n^2) memory).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=3600, help="Seconds per child run.")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/interlingua-bench-concepts"))
    ap.add_argument("--out", type=Path, help="Write the results as JSON.")
    ap.add_argument("--keep", action="store_true", help="Keep the synthetic stores.")
    # internal: one clustering run in a child process
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    ap.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.store, args.k, args.seed, args.sample, args.worker_out,
               json.loads(args.params))
        return

    from sklearn.metrics import adjusted_rand_score

    methods = args.methods.split(",")
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {"dim": args.dim, "k": args.k, "k_true": args.k_true, "cpu_count": os.cpu_count(),
               "sizes": {}, "calign": bench_calign(args.k)}
    print(f"calign {args.k}x{args.k}, 10-best: {results['calign']['seconds_best_of_3']:.3f} s",
          flush=True)
    params = {"kmeans": json.loads(args.kmeans_params),
              "minibatch-kmeans": json.loads(args.minibatch_params), "agglomerative": {}}
    for n in [int(x) for x in args.sizes.split(",")]:
        store = args.workdir / f"synthetic-{n}x{args.dim}.h5"
        t0 = time.perf_counter()
        make_store(store, n, args.dim, args.k_true, args.seed)
        entry: dict = {"store_seconds": time.perf_counter() - t0,
                       "store_gb": store.stat().st_size / 1e9, "runs": {}}
        print(f"n={n}: store written in {entry['store_seconds']:.1f} s", flush=True)
        truth = np.load(store.with_suffix(".truth.npy"))
        labels = {}
        for method in methods:
            if method == "agglomerative":
                continue
            run = run_child(method, store, args.k, args.seed, 0, method, params[method],
                            args.timeout)
            if "labels" in run:
                labels[method] = np.load(run.pop("labels"))
                run["ari_vs_truth"] = adjusted_rand_score(truth, labels[method])
            entry["runs"][method] = run
            print(f"  {method}: {json.dumps(run)}", flush=True)
        if {"kmeans", "minibatch-kmeans"} <= set(labels):
            km, mb = entry["runs"]["kmeans"], entry["runs"]["minibatch-kmeans"]
            entry["minibatch_vs_kmeans"] = {
                "inertia_ratio": mb["inertia"] / km["inertia"],
                "ari": adjusted_rand_score(labels["kmeans"], labels["minibatch-kmeans"]),
            }
            print(f"  minibatch vs kmeans: {entry['minibatch_vs_kmeans']}", flush=True)
        if "agglomerative" in methods:
            for m in [int(x) for x in args.agglomerative_sizes.split(",") if x]:
                if m > n:
                    continue
                run = run_child("agglomerative", store, args.k, args.seed, m, f"ward{m}", {},
                                args.timeout)
                if "labels" in run:
                    lab = np.load(run.pop("labels"))
                    index = np.sort(np.random.default_rng(args.seed).choice(n, m, replace=False))
                    run["ari_vs_truth"] = adjusted_rand_score(truth[index], lab)
                    run["inertia"] = inertia_of(store, lab, index)
                entry["runs"][f"agglomerative@{m}"] = run
                print(f"  agglomerative@{m}: {json.dumps(run)}", flush=True)
        results["sizes"][str(n)] = entry
        if not args.keep:
            for p in args.workdir.glob(f"synthetic-{n}x{args.dim}*"):
                p.unlink()
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
