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

``--lloyd`` (issue 15, part 4) runs only exact ``kmeans`` (``fit_store``, float32: greedy
k-means++ seeding, then the Hamerly-pruned Lloyd of ``kmeans_lloyd.py``) and times
scikit-learn's ``KMeans(algorithm="lloyd")`` from the same seeded centres, each in its
own child process (peak RSS per run, from ``VmHWM``). scikit-learn runs only
``--sklearn-iters`` iterations (default 5; 0 = to convergence), then once more with one
iteration: the difference gives its seconds per iteration without the fixed costs of a
fit (tolerance, centring), extrapolated to our iteration count, which is also its own
(the two compute the same assignments in every iteration). The quality check compares like
with like: our Lloyd stopped after the same ``--sklearn-iters`` iterations against
scikit-learn's (inertia ratio, adjusted Rand index), plus our full run's inertia::

    python benchmarks/concepts.py --lloyd --sizes 20000 --dim 128 -k 50
    nice -n 5 python benchmarks/concepts.py --lloyd --sizes 1000000 \
        --out benchmarks/results/concepts-lloyd.json

``--sklearn-iters 0`` runs scikit-learn to convergence and compares the two final
clusterings. At 1M points both runs meet float32 rounding ties (two centres at the same
distance to float32 resolution) that they decide differently; each such point moves
two centres by ~|x - c| / cluster size, so the trajectories drift apart (scikit-learn
does the same against itself on row-permuted data): compare inertia, not labels.
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
from _memory import peak_rss_mib  # benchmarks/ is sys.path[0] when a script runs

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


def lloyd_worker(mode: str, store: str, k: int, seed: int, out: str, params: dict,
                 iters: int) -> None:
    """One ``--lloyd`` run in this child process; writes labels and a JSON summary.

    ``ours``: ``KMeansDiscoverer.fit_store`` with its seeding and Lloyd steps timed
    (saves the initial centres for the other modes). ``ours-truncated`` /
    ``sklearn``: the layer loaded as ``fit_store`` does, then ``kmeans_lloyd`` /
    scikit-learn's Lloyd (``copy_x=False``, the blockwise tolerance of
    ``_low_memory_kmeans``, as ``kmeans`` ran before issue 15) from those centres for
    at most ``iters`` iterations (0: ``max_iter``).
    """
    import interlingua as il
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.concepts import kmeans as km
    from interlingua.plugins.concepts.clustering import load_layer
    from interlingua.plugins.concepts.kmeans_lloyd import _inertia

    summary: dict = {"mode": mode, "params": params}
    t0 = time.perf_counter()
    with ActivationStore.open(store) as st:
        layer = st.layer("0")
        if mode == "ours":
            timers: dict = {}
            seeding, lloyd = km._kmeans_plusplus, km.kmeans_lloyd

            def timed_seeding(*a, **kw):
                t = time.perf_counter()
                centres = seeding(*a, **kw)
                timers["seeding"] = time.perf_counter() - t
                np.save(out + ".init.npy", centres)
                return centres

            def timed_lloyd(*a, **kw):
                t = time.perf_counter()
                result = lloyd(*a, **kw)
                timers["lloyd"] = time.perf_counter() - t
                return result

            km._kmeans_plusplus, km.kmeans_lloyd = timed_seeding, timed_lloyd
            try:
                model = il.get_discoverer("kmeans", n_clusters=k, random_state=seed,
                                          **params).fit_store(layer)
            finally:
                km._kmeans_plusplus, km.kmeans_lloyd = seeding, lloyd
            est = model._estimator_
            labels, inertia, n_iter = model.labels_, model.inertia_, model.n_iter_
            summary.update(seeding_seconds=timers["seeding"], lloyd_seconds=timers["lloyd"],
                           n_distance_rows=list(est.n_distance_rows_),
                           n_tightened=list(est.n_tightened_))
        else:
            X = load_layer(layer)
            summary["load_seconds"] = time.perf_counter() - t0
            init = np.load(out.rsplit(".", 1)[0] + ".ours.init.npy")
            base = il.get_discoverer("kmeans", n_clusters=k, random_state=seed, **params)
            max_iter = iters or base.max_iter
            sk_kmeans = km._low_memory_kmeans()  # imports scikit-learn before timing
            t = time.perf_counter()
            if mode == "sklearn":
                def fit(m: int):
                    return sk_kmeans(n_clusters=k, init=init, n_init=1, max_iter=m,
                                     tol=base.tol, algorithm="lloyd", copy_x=False).fit(X)

                est = fit(max_iter)
                seconds = time.perf_counter() - t
                if iters and est.n_iter_ > 1:  # per iteration, less a fit's fixed costs
                    t1 = time.perf_counter()
                    fit(1)
                    one = time.perf_counter() - t1
                    summary["lloyd_seconds_per_iteration"] = (
                        (seconds - one) / (est.n_iter_ - 1))
                    summary["fixed_seconds"] = max(
                        one - summary["lloyd_seconds_per_iteration"], 0.0)
            else:
                est = km.kmeans_lloyd(X, init, max_iter=max_iter, tol=base.tol)
                summary["n_distance_rows"] = list(est.n_distance_rows_)
                seconds = time.perf_counter() - t
            summary["lloyd_seconds"] = seconds
            labels, n_iter = est.labels_, int(est.n_iter_)
            # float64 inertia for both (scikit-learn's own inertia_ is a float32 sum)
            inertia = _inertia(X, est.cluster_centers_, labels, 8192)
    summary.update(seconds=time.perf_counter() - t0, peak_rss_gb=peak_rss_mib() / 1024,
                   n=int(labels.size), inertia=float(inertia), n_iter=int(n_iter))
    np.save(out + ".labels.npy", labels)
    Path(out + ".json").write_text(json.dumps(summary))


def run_lloyd_child(mode: str, store: Path, k: int, seed: int, params: dict, iters: int,
                    timeout: float) -> dict:
    out = str(store.with_name(f"{store.stem}.{mode}"))
    cmd = [sys.executable, __file__, "--lloyd-worker", mode, "--store", str(store),
           "-k", str(k), "--seed", str(seed), "--worker-out", out,
           "--params", json.dumps(params), "--sklearn-iters", str(iters)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{mode}: timed out after {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr}")
    summary = json.loads(Path(out + ".json").read_text())
    summary["labels"] = np.load(out + ".labels.npy")
    return summary


def bench_lloyd(store: Path, k: int, seed: int, params: dict, iters: int,
                timeout: float) -> dict:
    """Our exact kmeans end to end, and scikit-learn's Lloyd from the same centres."""
    from sklearn.metrics import adjusted_rand_score

    ours = run_lloyd_child("ours", store, k, seed, params, 0, timeout)
    print(f"  ours: {ours['seconds']:.1f} s, {ours['n_iter']} iterations", flush=True)
    sk = run_lloyd_child("sklearn", store, k, seed, params, iters, timeout)
    print(f"  scikit-learn: {sk['lloyd_seconds']:.1f} s for {sk['n_iter']} iterations",
          flush=True)
    entry: dict = {"ours": ours, "sklearn": sk}
    same = ours
    if iters and sk["n_iter"] < ours["n_iter"]:  # compare at the same iteration count
        same = entry["ours_truncated"] = run_lloyd_child("ours-truncated", store, k, seed,
                                                         params, sk["n_iter"], timeout)
    entry["compare"] = {
        "iterations": [same["n_iter"], sk["n_iter"]],
        "inertia_ratio_ours_over_sklearn": same["inertia"] / sk["inertia"],
        "ari": adjusted_rand_score(same["labels"], sk["labels"]),
        "label_differences": int(np.count_nonzero(same["labels"] != sk["labels"])),
    }
    for run in (ours, sk, same):
        run.pop("labels", None)
    ours["lloyd_seconds_per_iteration"] = ours["lloyd_seconds"] / ours["n_iter"]
    if iters == 0:  # to convergence: measured, not extrapolated
        sk["lloyd_seconds_per_iteration"] = sk["lloyd_seconds"] / sk["n_iter"]
        sk["lloyd_seconds_total"] = sk["lloyd_seconds"]
    elif "fixed_seconds" in sk:
        sk["lloyd_seconds_total"] = (sk["fixed_seconds"] + ours["n_iter"]
                                     * sk["lloyd_seconds_per_iteration"])
    else:
        sk["lloyd_seconds_per_iteration"] = sk["lloyd_seconds"] / sk["n_iter"]
        sk["lloyd_seconds_total"] = sk["lloyd_seconds_per_iteration"] * ours["n_iter"]
    # scikit-learn's exact kmeans as shipped before: the same load and seeding as ours
    sk["total_seconds"] = (ours["seconds"] - ours["lloyd_seconds"]
                           + sk["lloyd_seconds_total"])
    entry["extrapolated"] = bool(iters)
    return entry


def print_lloyd(entry: dict, k: int, dim: int) -> None:
    o, s, c = entry["ours"], entry["sklearn"], entry["compare"]
    n = o["n"]
    rows = o["n_distance_rows"]
    print(f"  n={n} x {dim}, K={k}")
    print(f"  ours: seeding {o['seeding_seconds']:.1f} s, Lloyd {o['lloyd_seconds']:.1f} s "
          f"({o['n_iter']} iterations, {o['lloyd_seconds_per_iteration']:.2f} s/iteration), "
          f"total {o['seconds']:.1f} s ({o['seconds'] / 60:.1f} min), peak RSS "
          f"{o['peak_rss_gb']:.2f} GB, inertia {o['inertia']:.6e}")
    print(f"  ours: full distance rows {sum(rows) / (n * len(rows)):.1%} of n x "
          f"{len(rows)} E-steps; per E-step: {[round(r / n, 3) for r in rows]}")
    if entry["extrapolated"]:
        how = (f"timed on {s['n_iter']} iterations (+ 1 for the fixed cost of a fit: "
               f"{s.get('fixed_seconds', 0):.1f} s), extrapolated to our {o['n_iter']}")
    else:
        how = f"to convergence: {s['n_iter']} iterations"
    print(f"  scikit-learn Lloyd ({how}): {s['lloyd_seconds_per_iteration']:.2f} "
          f"s/iteration, Lloyd {s['lloyd_seconds_total']:.0f} s, total "
          f"{s['total_seconds']:.0f} s ({s['total_seconds'] / 60:.1f} min), peak RSS "
          f"{s['peak_rss_gb']:.2f} GB")
    print(f"  Lloyd speed-up: {s['lloyd_seconds_total'] / o['lloyd_seconds']:.1f}x; "
          f"total: {s['total_seconds'] / o['seconds']:.1f}x")
    its = c["iterations"]
    print(f"  after {its[0]} (ours) and {its[1]} (scikit-learn) iterations from the same "
          f"centres: inertia ratio ours/scikit-learn "
          f"{c['inertia_ratio_ours_over_sklearn']:.8f}, ARI {c['ari']:.6f} "
          f"({c['label_differences']} labels differ"
          + ("; float32 rounding ties decided differently cascade over iterations)"
             if c["label_differences"] else ")"))


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
    ap.add_argument("--lloyd", action="store_true",
                    help="Only exact kmeans: our pruned Lloyd vs scikit-learn's (issue 15).")
    ap.add_argument("--sklearn-iters", type=int, default=5,
                    help="--lloyd: scikit-learn Lloyd iterations to time (0 = converge).")
    # internal: one clustering run in a child process
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--lloyd-worker", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    ap.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.lloyd_worker:
        lloyd_worker(args.lloyd_worker, args.store, args.k, args.seed, args.worker_out,
                     json.loads(args.params), args.sklearn_iters)
        return
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
    if args.lloyd:
        main_lloyd(args)
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


def main_lloyd(args: argparse.Namespace) -> None:
    results: dict = {"dim": args.dim, "k": args.k, "k_true": args.k_true,
                     "cpu_count": os.cpu_count(), "sklearn_iters": args.sklearn_iters,
                     "lloyd": {}}
    for n in [int(x) for x in args.sizes.split(",")]:
        store = args.workdir / f"synthetic-{n}x{args.dim}.h5"
        t0 = time.perf_counter()
        make_store(store, n, args.dim, args.k_true, args.seed)
        print(f"n={n}: store written in {time.perf_counter() - t0:.1f} s", flush=True)
        entry = bench_lloyd(store, args.k, args.seed, json.loads(args.kmeans_params),
                            args.sklearn_iters, args.timeout)
        print_lloyd(entry, args.k, args.dim)
        results["lloyd"][str(n)] = entry
        _after_size(args, n, results)


if __name__ == "__main__":
    main()
