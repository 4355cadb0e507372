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

``--seeding`` (issue 15, part 4) compares instead the k-means++ seeding of exact
``kmeans`` on the same data: ours (greedy k-means++ with float32 products and float64
potentials, ``kmeans_seeding.py``) against the previous code path (scikit-learn's
``kmeans_plusplus`` on a float64 copy of the ``init_size`` sample) and against
scikit-learn's ``kmeans_plusplus`` on the float32 sample itself (its chunked float64
up-cast; timed on ``--sklearn-centres`` centres and extrapolated, since a full run
takes minutes). It runs ``fit_store`` twice, once per seeding (same code otherwise),
and prints the seeding seconds inside each run, the total seconds, the Lloyd
iterations and the inertia ratio::

    python benchmarks/concepts.py --seeding --sizes 20000 --dim 128 -k 50
    nice -n 10 python benchmarks/concepts.py --seeding --sizes 1000000
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


def bench_seeding(store: Path, k: int, seed: int, params: dict,
                  sklearn_centres: int) -> dict:
    """Exact ``kmeans`` seeded two ways (ours, previous path) plus scikit-learn's timing.

    Both runs are ``KMeansDiscoverer.fit_store`` with ``_kmeans_plusplus`` (the seeding
    hook of ``kmeans.py``) wrapped to time it; for the previous path it is replaced by
    the pre-issue-15 code: ``kmeans_plusplus`` on a float64 copy of the sample.
    """
    from sklearn.cluster import kmeans_plusplus

    import interlingua as il
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.concepts import kmeans as km
    from interlingua.plugins.concepts.clustering import load_layer

    def previous(sample: np.ndarray, n_clusters: int, rs: int) -> np.ndarray:
        centers, _ = kmeans_plusplus(sample.astype(np.float64), n_clusters, random_state=rs)
        return centers.astype(sample.dtype)

    calls: dict = {}

    def timed(name: str, fn):
        def wrapper(sample, n_clusters, rs):
            t0 = time.perf_counter()
            centers = fn(sample, n_clusters, rs)
            calls[name] = {"seconds": time.perf_counter() - t0, "sample": sample,
                           "centers": centers, "seed": rs}
            return centers
        return wrapper

    ours_fn = km._kmeans_plusplus
    out: dict = {}
    with ActivationStore.open(store) as st:
        layer = st.layer("0")
        t0 = time.perf_counter()
        X = load_layer(layer)
        out["load_seconds"] = time.perf_counter() - t0
        out["n"], out["dim"] = X.shape
        del X
        for name, fn in (("ours", ours_fn), ("previous", previous)):
            km._kmeans_plusplus = timed(name, fn)
            try:
                t0 = time.perf_counter()
                model = il.get_discoverer("kmeans", n_clusters=k, random_state=seed,
                                          **params).fit_store(layer)
                seconds = time.perf_counter() - t0
            finally:
                km._kmeans_plusplus = ours_fn
            out[name] = {"total_seconds": seconds, "seeding_seconds": calls[name]["seconds"],
                         "inertia": model.inertia_, "n_iter": model.n_iter_}
            print(f"  kmeans, {name} seeding: {json.dumps(out[name])}", flush=True)
            del model
    sample, rs = calls["ours"]["sample"], calls["ours"]["seed"]
    out["sample_rows"] = int(sample.shape[0])
    trials = 2 + int(np.log(k))
    # the seeds' own quality: potential of the centres on the sample (float64)
    sample64 = sample.astype(np.float64)
    for name in ("ours", "previous"):
        out[name]["seed_potential"] = km._min_sq_dist(
            sample64, calls[name]["centers"].astype(np.float64))
    same = np.all(calls["ours"]["centers"] == calls["previous"]["centers"], axis=1)
    out["identical_picks"] = int(same.sum())
    out["identical_prefix"] = int(same.size if same.all() else np.argmin(same))
    del sample64
    m = max(2, min(sklearn_centres, k))
    t0 = time.perf_counter()
    kmeans_plusplus(sample, m, random_state=rs, n_local_trials=trials)
    part = time.perf_counter() - t0
    # every step after the first costs one pass of `trials` candidates over the sample
    out["sklearn_float32"] = {"centres_timed": m, "seconds_timed": part,
                              "seeding_seconds_extrapolated": part * (k - 1) / (m - 1)}
    out["ratios"] = {
        "seeding_previous_over_ours": out["previous"]["seeding_seconds"]
        / out["ours"]["seeding_seconds"],
        "seeding_sklearn_float32_over_ours":
            out["sklearn_float32"]["seeding_seconds_extrapolated"]
            / out["ours"]["seeding_seconds"],
        "total_previous_over_ours": out["previous"]["total_seconds"]
        / out["ours"]["total_seconds"],
        "inertia_ours_over_previous": out["ours"]["inertia"] / out["previous"]["inertia"],
        "seed_potential_ours_over_previous": out["ours"]["seed_potential"]
        / out["previous"]["seed_potential"],
    }
    return out


def print_seeding(entry: dict, k: int) -> None:
    o, p, s, r = entry["ours"], entry["previous"], entry["sklearn_float32"], entry["ratios"]
    n = entry["n"]
    print(f"  n={n} x {entry['dim']}, K={k}, k-means++ sample {entry['sample_rows']} rows, "
          f"{2 + int(np.log(k))} trials per centre; layer load {entry['load_seconds']:.1f} s")
    print(f"  seeding  ours (float32 sgemm, float64 potentials) {o['seeding_seconds']:8.1f} s")
    print(f"  seeding  previous (kmeans_plusplus, float64 copy) {p['seeding_seconds']:8.1f} s"
          f"  ({r['seeding_previous_over_ours']:.2f}x ours)")
    print(f"  seeding  scikit-learn kmeans_plusplus on float32  "
          f"{s['seeding_seconds_extrapolated']:8.1f} s  "
          f"({r['seeding_sklearn_float32_over_ours']:.1f}x ours; extrapolated from "
          f"{s['centres_timed']} centres, {s['seconds_timed']:.1f} s)")
    print(f"  identical picks ours vs previous: {entry['identical_picks']}/{k} "
          f"(first {entry['identical_prefix']} in a row); seed potential ratio "
          f"{r['seed_potential_ours_over_previous']:.6f}")
    for name, run in (("ours", o), ("previous", p)):
        share = run["seeding_seconds"] / run["total_seconds"]
        print(f"  exact k-means, {name:8s}: total {run['total_seconds']:8.1f} s (seeding "
              f"{run['seeding_seconds']:.1f} s = {share:.1%}), {run['n_iter']} Lloyd "
              f"iterations, inertia {run['inertia']:.6e}")
    print(f"  inertia ratio ours/previous: {r['inertia_ours_over_previous']:.6f}; "
          f"total time previous/ours: {r['total_previous_over_ours']:.3f}")
    per_iter = {name: (run["total_seconds"] - run["seeding_seconds"]) / max(run["n_iter"], 1)
                for name, run in (("ours", o), ("previous", p))}
    # identical picks mean identical Lloyd work: any gap between the two is machine noise
    print(f"  load + Lloyd per iteration: ours {per_iter['ours']:.2f} s, previous "
          f"{per_iter['previous']:.2f} s"
          + (" (identical work)" if entry["identical_picks"] == k else ""))
    if n < 1_000_000:
        # Lloyd and loading scale with n (same iteration count assumed); the seeding
        # sample is init_size rows whatever n is
        scale = 1_000_000 / n
        for name, run in (("ours", o), ("previous", p)):
            rest = run["total_seconds"] - run["seeding_seconds"]
            est = run["seeding_seconds"] + rest * scale
            print(f"  extrapolated to 1M rows, {name}: {est:.0f} s ({est / 60:.1f} min) "
                  f"if Lloyd needs {run['n_iter']} iterations there too")


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
    ap.add_argument("--seeding", action="store_true",
                    help="Compare k-means++ seedings of exact kmeans (issue 15) instead.")
    ap.add_argument("--sklearn-centres", type=int, default=20,
                    help="--seeding: centres to time scikit-learn's float32 seeding on.")
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
    if args.seeding:
        main_seeding(args)
        return
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
        _after_size(args, n, results)
    print(json.dumps(results, indent=2))


def _after_size(args: argparse.Namespace, n: int, results: dict) -> None:
    """Delete the synthetic store of size ``n`` (unless --keep); save results so far."""
    if not args.keep:
        for p in args.workdir.glob(f"synthetic-{n}x{args.dim}*"):
            p.unlink()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


def main_seeding(args: argparse.Namespace) -> None:
    results: dict = {"dim": args.dim, "k": args.k, "k_true": args.k_true,
                     "cpu_count": os.cpu_count(), "seeding": {}}
    for n in [int(x) for x in args.sizes.split(",")]:
        store = args.workdir / f"synthetic-{n}x{args.dim}.h5"
        t0 = time.perf_counter()
        make_store(store, n, args.dim, args.k_true, args.seed)
        print(f"n={n}: store written in {time.perf_counter() - t0:.1f} s", flush=True)
        entry = bench_seeding(store, args.k, args.seed, json.loads(args.kmeans_params),
                              args.sklearn_centres)
        print_seeding(entry, args.k)
        results["seeding"][str(n)] = entry
        _after_size(args, n, results)


if __name__ == "__main__":
    main()
