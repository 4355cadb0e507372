"""Layer-wise comparison of paired representations (seed 001 Figs 3–5, seed 002 Fig. 5).

Compares, at every layer, the rows of two languages of one parallel store (sentences
paired by ``pair_id``), or the rows of two stores (e.g. two models or two languages
run separately), with any number of paired metrics.

Metrics computed from moments (ANC, linear and debiased CKA, CCA/SVCCA/PWCCA,
Procrustes) share **one streaming pass** per layer: the rows are read chunk by chunk
(``Layer.iter_chunks``) into one :class:`~interlingua.plugins.similarity.moments.Moments`
configured for all of them, so memory is O(d²) whatever the number of rows. With a
Dask cluster (``dask=`` a ``distributed.Client``, an address, or ``"local"``) each
worker accumulates the moments of a partition of the rows and the client merges
them — the same numbers to ~1e-12. Metrics that need all rows at once (retrieval,
RBF CKA) read the paired rows of the layer and work blockwise.

Word level: two languages of one store are paired through their flagged *target*
words (``SentenceRecord.target``, one per sentence, e.g. a word and its translation
in parallel sentences); two stores holding the same text are paired word by word.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.result import MetricResult, to_jsonable

__all__ = ["Comparison", "Pairing", "compare_layers", "metric_label", "pair_rows",
           "parse_metric_spec"]

LEVELS = ("sentences", "words")


# -- metric specs ----------------------------------------------------------------------
def parse_metric_spec(spec: str) -> Metric:
    """``"cka"`` or ``"cka:debiased=true,kernel=rbf"`` → a metric instance."""
    from interlingua.registry import get_metric, get_registry

    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise InputError(f"empty metric name in {spec!r}")
    info = get_registry().info("metric", name)
    params: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, text = item.partition("=")
        if not eq:
            raise InputError(f"metric parameter {item!r} in {spec!r} is not key=value")
        declared = {p.name: p for p in info.params}
        if key.strip() not in declared:
            raise InputError(
                f"metric {name!r} has no parameter {key.strip()!r}; parameters: "
                + (", ".join(declared) or "none")
            )
        params[key.strip()] = declared[key.strip()].parse(text.strip())
    return get_metric(name, **params)


def metric_label(metric: Metric) -> str:
    """``name`` plus the parameters that differ from their defaults."""
    changed = [f"{p.name}={getattr(metric, p.name)}" for p in metric.params
               if getattr(metric, p.name) != p.default]
    return metric.name + (f"[{','.join(changed)}]" if changed else "")


def _as_metrics(metrics: Iterable[Metric | str]) -> list[tuple[str, Metric]]:
    out: list[tuple[str, Metric]] = []
    for m in metrics:
        metric = parse_metric_spec(m) if isinstance(m, str) else m
        if not isinstance(metric, Metric):
            raise InputError(f"not a metric: {m!r}")
        if metric.input_kind != "paired":
            raise InputError(
                f"metric {metric.name!r} takes {metric.input_kind} inputs; compare needs "
                "paired metrics (anc, cka, cca, svcca, pwcca, procrustes, retrieval, ...)"
            )
        label = metric_label(metric)
        if label in dict(out):
            raise InputError(f"metric {label} is given twice")
        out.append((label, metric))
    if not out:
        raise InputError("give at least one metric")
    return out


# -- pairing rows -------------------------------------------------------------------------
@dataclass
class Pairing:
    """Which rows of store A pair with which rows of store B at one level.

    ``rows_a`` / ``rows_b`` are row indices at ``level`` (``None`` = all rows in order).
    """

    path_a: Path
    path_b: Path
    level: str
    rows_a: np.ndarray | None
    rows_b: np.ndarray | None
    n: int
    how: str
    lang_a: str | None = None
    lang_b: str | None = None


def _open(store: Any):
    from interlingua.core.store import ActivationStore

    if isinstance(store, ActivationStore):
        return store, False
    return ActivationStore.open(store), True


def _pair_by_id(pid_a: np.ndarray, pid_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep_a, keep_b = pid_a >= 0, pid_b >= 0
    ia_all, ib_all = np.flatnonzero(keep_a), np.flatnonzero(keep_b)
    for pid, name in ((pid_a[keep_a], "A"), (pid_b[keep_b], "B")):
        u, c = np.unique(pid, return_counts=True)
        if (c > 1).any():
            raise InputError(f"pair id {u[c > 1][0]} occurs more than once in store {name}")
    _, ia, ib = np.intersect1d(pid_a[keep_a], pid_b[keep_b], assume_unique=True,
                               return_indices=True)
    return ia_all[ia], ib_all[ib]


def _target_pairs(st_a, sa: np.ndarray, st_b, sb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ta = st_a.sentences.target[sa]
    tb = st_b.sentences.target[sb]
    keep = (ta >= 0) & (tb >= 0)
    if not keep.any():
        raise InputError(
            "word-level comparison of two languages pairs the flagged target word of each "
            "parallel sentence (SentenceRecord.target), but no parallel pair has targets in "
            "both languages; compare at --level sentences, or store target words"
        )
    sa, sb = sa[keep], sb[keep]
    wa = st_a.sentences.word_offsets[sa] + st_a.sentences.target[sa]
    wb = st_b.sentences.word_offsets[sb] + st_b.sentences.target[sb]
    return wa, wb


def pair_rows(
    store_a: Any,
    store_b: Any = None,
    *,
    lang_a: str | None = None,
    lang_b: str | None = None,
    level: str = "sentences",
) -> Pairing:
    """Work out the paired rows of a comparison (see the module docstring).

    * one store: ``lang_a`` and ``lang_b`` (default: its two languages, if it has
      exactly two) → parallel sentences by ``pair_id``; words → target words.
    * two stores, no languages: row i of A with row i of B (same number of rows).
    * two stores with ``lang_a`` (``lang_b`` defaults to ``lang_a``): sentences of
      those languages paired by ``pair_id`` (by position if they carry no pair ids);
      words → word by word where the paired sentences have identical words,
      otherwise the flagged target words.
    """
    if level not in LEVELS:
        raise InputError(f"level must be 'sentences' or 'words', got {level!r}")
    st_a, close_a = _open(store_a)
    st_b, close_b = (st_a, False) if store_b is None else _open(store_b)
    try:
        if store_b is None:
            if lang_a is None and lang_b is None:
                langs = st_a.languages
                if len(langs) != 2:
                    raise InputError(
                        f"{st_a.path.name} has languages {', '.join(langs) or 'none'}; "
                        "choose two with lang_a / lang_b (--lang-a / --lang-b)"
                    )
                lang_a, lang_b = langs
            if lang_a is None or lang_b is None:
                raise InputError("comparing languages of one store needs both lang_a and lang_b")
            if lang_a == lang_b:
                raise InputError(f"lang_a and lang_b are both {lang_a!r}")
            sa, sb = st_a.parallel_rows(lang_a, lang_b)
            if level == "sentences":
                return Pairing(st_a.path, st_a.path, level, sa, sb, len(sa), "pair_id",
                               lang_a, lang_b)
            wa, wb = _target_pairs(st_a, sa, st_a, sb)
            return Pairing(st_a.path, st_a.path, level, wa, wb, len(wa), "target words",
                           lang_a, lang_b)
        # two stores
        if lang_a is None and lang_b is None:
            na = st_a.n_sentences if level == "sentences" else st_a.n_words
            nb = st_b.n_sentences if level == "sentences" else st_b.n_words
            if na != nb:
                raise InputError(
                    f"the stores have {na} and {nb} {level}; row-by-row comparison needs "
                    "equal counts (or give --lang-a/--lang-b to pair by pair_id)"
                )
            return Pairing(st_a.path, st_b.path, level, None, None, na, "row order")
        lang_b = lang_b or lang_a
        lang_a = lang_a or lang_b
        ra, rb = st_a.sentence_rows(lang_a), st_b.sentence_rows(lang_b)
        pid_a, pid_b = st_a.sentences.pair_id[ra], st_b.sentences.pair_id[rb]
        if (pid_a >= 0).all() and (pid_b >= 0).all():
            ia, ib = _pair_by_id(pid_a, pid_b)
            sa, sb, how = ra[ia], rb[ib], "pair_id"
        else:
            if len(ra) != len(rb):
                raise InputError(
                    f"{len(ra)} {lang_a!r} sentences in A but {len(rb)} {lang_b!r} in B and "
                    "no pair ids to match them"
                )
            sa, sb, how = ra, rb, "sentence order"
        if len(sa) == 0:
            raise InputError("no paired sentences between the two stores")
        if level == "sentences":
            return Pairing(st_a.path, st_b.path, level, sa, sb, len(sa), how, lang_a, lang_b)
        wa = st_a.word_rows(sentence_rows=sa)
        wb = st_b.word_rows(sentence_rows=sb)
        if len(wa) == len(wb) and np.array_equal(st_a.words.text[wa], st_b.words.text[wb]):
            return Pairing(st_a.path, st_b.path, level, wa, wb, len(wa),
                           f"{how}, word by word", lang_a, lang_b)
        wa, wb = _target_pairs(st_a, sa, st_b, sb)
        return Pairing(st_a.path, st_b.path, level, wa, wb, len(wa), f"{how}, target words",
                       lang_a, lang_b)
    finally:
        if close_a:
            st_a.close()
        if close_b:
            st_b.close()


# -- results ---------------------------------------------------------------------------
@dataclass
class Comparison:
    """Metric values per layer: ``results[label][layer]`` is a :class:`MetricResult`."""

    layers: list[str]
    labels: list[str]
    results: dict[str, dict[str, MetricResult]]
    info: dict[str, Any] = field(default_factory=dict)

    def values(self, label: str) -> list[float]:
        return [self.results[label][layer].value for layer in self.layers]

    def curves(self) -> dict[str, list[float]]:
        return {label: self.values(label) for label in self.labels}

    def rows(self) -> list[dict[str, Any]]:
        """Flat rows (one per layer and metric) for CSV."""
        out = []
        for layer in self.layers:
            for label in self.labels:
                r = self.results[label][layer]
                out.append({
                    "layer": layer, "metric": label, "value": r.value, "pvalue": r.pvalue,
                    "ci_low": r.ci[0] if r.ci else None, "ci_high": r.ci[1] if r.ci else None,
                    "n": self.info.get("n"),
                })
        return out

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable({
            **self.info,
            "layers": self.layers,
            "metrics": self.labels,
            "results": {label: {layer: self.results[label][layer].to_dict()
                                for layer in self.layers} for label in self.labels},
        })


# -- the streaming pass ----------------------------------------------------------------
def _moments_partition(path_a: str, path_b: str, layer: str, level: str,
                       rows_a: np.ndarray | None, rows_b: np.ndarray | None,
                       start: int, stop: int, chunk_rows: int, config: dict):
    """Moments of paired rows ``[start, stop)`` (positions in the pairing); runs on a
    Dask worker, so it opens the stores itself."""
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.similarity.moments import Moments

    moments = Moments(**config)
    with ActivationStore.open(path_a) as sa:
        sb = sa if path_b == path_a else ActivationStore.open(path_b)
        try:
            la, lb = sa.layer(layer, level), sb.layer(layer, level)
            for lo in range(start, stop, chunk_rows):
                hi = min(stop, lo + chunk_rows)
                x = la[lo:hi] if rows_a is None else la.read(rows_a[lo:hi])
                y = lb[lo:hi] if rows_b is None else lb.read(rows_b[lo:hi])
                _check_finite(x, y, layer)
                moments.update(x, y)
        finally:
            if sb is not sa:
                sb.close()
    return moments


def _merge_all(parts: list):
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total


def _check_finite(x: np.ndarray, y: np.ndarray, layer: str) -> None:
    for arr, side in ((x, "A"), (y, "B")):
        if not np.isfinite(arr).all():
            raise InputError(f"layer {layer}: store {side} has NaN or infinite activations")


def _get_client(dask: Any):
    """(client, owned) for ``dask`` = Client | address | "local"."""
    from distributed import Client, LocalCluster

    if isinstance(dask, Client):
        return dask, None
    if dask == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    return Client(dask), None


def compare_layers(
    store_a: Any,
    store_b: Any = None,
    metrics: Sequence[Metric | str] = ("anc", "cka"),
    *,
    lang_a: str | None = None,
    lang_b: str | None = None,
    level: str = "sentences",
    layers: Sequence[str] | None = None,
    chunk_rows: int = 16384,
    dask: Any = None,
    partition_rows: int | None = None,
    n_permutations: int = 0,
    n_bootstrap: int = 0,
    significance_rows: int = 5000,
    seed: int = 0,
    max_memory_gb: float = 4.0,
    on_layer: Callable[[str], None] | None = None,
) -> Comparison:
    """Compare paired rows layer by layer with several metrics.

    Parameters
    ----------
    store_a, store_b : path or ActivationStore
        One store (compare two of its languages) or two stores.
    metrics : sequence of Metric or str
        Metric instances or specs like ``"cka:debiased=true"``.
    lang_a, lang_b : str, optional
        Languages to pair (see :func:`pair_rows`).
    level : {"sentences", "words"}
        Row level.
    layers : sequence of str, optional
        Layers to compare (default: all layers the stores share, in order).
    chunk_rows : int
        Rows per streamed chunk (memory ≈ chunk_rows × d × 8 bytes × 2).
    dask : distributed.Client, str or None
        Accumulate moments on a Dask cluster (an address, or ``"local"`` for a
        LocalCluster created and closed here).
    partition_rows : int, optional
        Rows per Dask task (default: split into 2 tasks per worker).
    n_permutations, n_bootstrap : int
        Permutation test (p-value) and bootstrap (CI) per layer and metric, computed
        on a seeded random subsample of at most ``significance_rows`` pairs; the
        reported value itself always uses all rows.
    seed : int
        Seed of the subsample and the resampling.
    max_memory_gb : float
        Refuse to load a layer's paired rows for the non-streaming metrics (retrieval,
        RBF CKA) when they would need more memory than this.
    on_layer : callable, optional
        Called with each layer name when it is done (progress display).
    """
    from interlingua.plugins.similarity.moments import MomentsAccumulator, merge_requirements

    named = _as_metrics(metrics)
    if chunk_rows < 1:
        raise InputError("chunk_rows must be ≥ 1")
    pairing = pair_rows(store_a, store_b, lang_a=lang_a, lang_b=lang_b, level=level)
    if pairing.n < 2:
        raise InputError(f"only {pairing.n} paired rows; need at least 2")
    st_a, close_a = _open(store_a)
    st_b, close_b = (st_a, False) if store_b is None else _open(store_b)
    client = cluster = None
    try:
        common = [name for name in st_a.layers if name in set(st_b.layers)]
        if layers is not None:
            missing = [str(x) for x in layers if str(x) not in common]
            if missing:
                raise InputError(
                    f"layer(s) {', '.join(missing)} not in both stores; available: "
                    + ", ".join(common)
                )
            common = [str(x) for x in layers]
        common = [name for name in common
                  if _has_level(st_a, name, level) and _has_level(st_b, name, level)]
        if not common:
            raise InputError(f"the stores share no layer with {level}-level activations")
        streaming: list[tuple[str, Metric, MomentsAccumulator]] = []
        in_memory: list[tuple[str, Metric]] = []
        for label, metric in named:
            acc = metric.accumulator() if metric.supports_streaming else None
            if isinstance(acc, MomentsAccumulator):
                streaming.append((label, metric, acc))
            else:
                in_memory.append((label, metric))
        config = merge_requirements(*(acc.requires for _, _, acc in streaming))
        if dask is not None and streaming:
            client, cluster = _get_client(dask)
        rng = np.random.default_rng(seed)
        sig_idx = None
        if n_permutations > 0 or n_bootstrap > 0:
            k = min(pairing.n, significance_rows)
            sig_idx = np.sort(rng.choice(pairing.n, size=k, replace=False))
        results: dict[str, dict[str, MetricResult]] = {label: {} for label, _ in named}
        for name in common:
            la, lb = st_a.layer(name, level), st_b.layer(name, level)
            for label, metric in named:
                if metric.same_dim and la.dim != lb.dim:
                    raise InputError(
                        f"{label} needs equal widths but layer {name} has {la.dim} and "
                        f"{lb.dim} neurons"
                    )
            if streaming:
                moments = _layer_moments(pairing, name, config, chunk_rows, client,
                                         partition_rows, la, lb)
                for label, metric, acc in streaming:
                    res = acc.result_from(moments)
                    res.metric = metric.name
                    res.params = metric.get_params()
                    results[label][name] = res
            if in_memory:
                need = pairing.n * (la.dim + lb.dim) * 8 / 1024**3
                if need > max_memory_gb:
                    raise InputError(
                        f"{', '.join(label for label, _ in in_memory)} need all "
                        f"{pairing.n} paired rows in memory (~{need:.1f} GB > "
                        f"max_memory_gb={max_memory_gb}); use the streaming metrics "
                        "(anc, cka, cca, svcca, pwcca, procrustes) or fewer rows"
                    )
                X = _read(la, pairing.rows_a, pairing.n)
                Y = _read(lb, pairing.rows_b, pairing.n)
                for label, metric in in_memory:
                    results[label][name] = metric(X, Y)
                del X, Y
            if sig_idx is not None:
                Xs = _read(la, pairing.rows_a, pairing.n, sig_idx)
                Ys = _read(lb, pairing.rows_b, pairing.n, sig_idx)
                from interlingua.plugins.similarity.significance import with_significance

                for label, metric in named:
                    with_significance(metric, Xs, Ys, n_permutations=n_permutations,
                                      n_bootstrap=n_bootstrap, seed=seed,
                                      result=results[label][name])
            if on_layer is not None:
                on_layer(name)
        info = {
            "store_a": str(pairing.path_a),
            "store_b": str(pairing.path_b),
            "level": level,
            "lang_a": pairing.lang_a,
            "lang_b": pairing.lang_b,
            "pairing": pairing.how,
            "n": int(pairing.n),
            "model_a": st_a.attrs.get("model"),
            "model_b": st_b.attrs.get("model"),
            "dask": None if dask is None else (str(dask) if isinstance(dask, str) else "client"),
            "significance_rows": None if sig_idx is None else int(sig_idx.size),
            "n_permutations": n_permutations,
            "n_bootstrap": n_bootstrap,
            "seed": seed,
        }
        return Comparison(common, [label for label, _ in named], results, info)
    finally:
        if client is not None and cluster is not None:
            client.close()
            cluster.close()
        if close_a:
            st_a.close()
        if close_b:
            st_b.close()


def _has_level(store: Any, name: str, level: str) -> bool:
    from interlingua.core.errors import StoreError

    try:
        store.layer(name, level)
    except StoreError:
        return False
    return True


def _read(layer: Any, rows: np.ndarray | None, n: int,
          subset: np.ndarray | None = None) -> np.ndarray:
    if rows is None:
        index = subset if subset is not None else None
    else:
        index = rows if subset is None else rows[subset]
    data = layer.read(index) if index is not None else layer[:n]
    return np.asarray(data, dtype=np.float64)


def _layer_moments(pairing: Pairing, layer: str, config: dict, chunk_rows: int, client: Any,
                   partition_rows: int | None, la: Any, lb: Any):
    from interlingua.plugins.similarity.moments import Moments

    n = pairing.n
    if client is None:
        moments = Moments(**config)
        chunks_a = la.iter_chunks(rows=chunk_rows, index=pairing.rows_a) \
            if pairing.rows_a is not None else la.iter_chunks(rows=chunk_rows)
        chunks_b = lb.iter_chunks(rows=chunk_rows, index=pairing.rows_b) \
            if pairing.rows_b is not None else lb.iter_chunks(rows=chunk_rows)
        for x, y in zip(chunks_a, chunks_b):
            _check_finite(x, y, layer)
            moments.update(x, y)
        return moments
    if partition_rows is None:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        partition_rows = max(chunk_rows, math.ceil(n / (2 * n_workers)))
    bounds = [(lo, min(n, lo + partition_rows)) for lo in range(0, n, partition_rows)]
    # Ship only each partition's slice of the row index to its task.
    futures = [
        client.submit(
            _moments_partition, str(pairing.path_a), str(pairing.path_b), layer,
            pairing.level,
            None if pairing.rows_a is None else pairing.rows_a[lo:hi],
            None if pairing.rows_b is None else pairing.rows_b[lo:hi],
            0 if pairing.rows_a is not None else lo,
            hi - lo if pairing.rows_a is not None else hi,
            chunk_rows, config, pure=False,
        )
        for lo, hi in bounds
    ]
    return client.submit(_merge_all, futures).result()
