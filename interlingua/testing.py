"""Contract checks for plugins — run them in your plugin's own test suite.

Like scikit-learn's ``check_estimator``: each function exercises a plugin instance on
seeded random data and raises ``AssertionError`` with a precise message when the
plugin breaks the contract (result type, determinism, declared symmetry and
invariances, streaming accumulators, parameter handling, clean errors on bad input)::

    from interlingua.testing import check_metric

    def test_contract():
        check_metric(MyMetric())

Metrics whose inputs cannot be generated from ``input_kind`` alone may define
``example_inputs(self, rng) -> (args, kwargs)``. :func:`check_extractor` runs an
extractor on a tiny local model (:mod:`interlingua._extractor_check`).
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np

from interlingua._check_common import check_declarations as _check_declarations
from interlingua._check_common import close as _close
from interlingua._check_common import expect_error as _expect_error
from interlingua._check_common import fail as _fail
from interlingua._extractor_check import check_extractor
from interlingua.core.concepts import Concepts
from interlingua.core.dictionary import Dictionary
from interlingua.core.interfaces import (
    INPUT_KINDS,
    INVARIANCES,
    Aligner,
    ConceptDiscoverer,
    Metric,
)
from interlingua.core.result import MetricResult

__all__ = ["check_aligner", "check_discoverer", "check_extractor", "check_metric",
           "example_inputs"]


# -- example data --------------------------------------------------------------------
def _paired(metric: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = max(80, 4 * int(getattr(metric, "min_rows", 2)))
    p = 8
    X = rng.normal(size=(n, p))
    A = rng.normal(size=(p, p)) / np.sqrt(p)
    Y = X @ A + 0.5 * rng.normal(size=(n, p))
    return X, Y


def _concepts(rng: np.random.Generator, language: str | None, vocab: list[str],
              n_concepts: int = 8) -> Concepts:
    words, labels, langs = [], [], []
    for cid in range(n_concepts):
        members = vocab[cid * 8 : cid * 8 + 8]
        for word in members:
            for _ in range(int(rng.integers(1, 4))):
                words.append(word)
                labels.append(cid)
                langs.append(language)
    return Concepts.from_labels(words, labels, langs if language else None)


def example_inputs(metric: Any, rng: np.random.Generator) -> tuple[tuple, dict]:
    """Seeded example inputs for ``metric`` (its own ``example_inputs`` if defined)."""
    own = getattr(metric, "example_inputs", None)
    if callable(own):
        args, kwargs = own(rng)
        return tuple(args), dict(kwargs)
    types = metric.input_types()
    if metric.input_kind == "paired":
        return _paired(metric, rng), {}
    if metric.input_kind == "probe" or types == ("matrix", "vector"):
        X = rng.normal(size=(200, 12))
        w = np.zeros(12)
        w[:3] = [1.5, -1.0, 0.8]
        return (X, X @ w + 0.3 * rng.normal(size=200)), {}
    if metric.input_kind == "sets" or types == ("sets",):
        background = 200
        sets = {f"s{i}": sorted(rng.choice(background, 30, replace=False).tolist())
                for i in range(3)}
        return (sets,), {"background": background}
    if types == ("concepts", "concepts", "dictionary"):
        src = [f"w{i}" for i in range(64)]
        tgt = [f"t{i}" for i in range(64)]
        source = _concepts(rng, "aa", src)
        target = _concepts(rng, "bb", tgt)
        dictionary = Dictionary.from_pairs(zip(src, tgt))
        return (source, target, dictionary), {}
    if types == ("concepts",):
        words, labels, langs = [], [], []
        for cid in range(10):
            for lang in ("aa", "bb", "cc"):
                share = int(rng.integers(0, 6))
                for j in range(share):
                    words.append(f"{lang}{cid}_{j}")
                    labels.append(cid)
                    langs.append(lang)
            words.append(f"aa{cid}_x")
            labels.append(cid)
            langs.append("aa")
        return (Concepts.from_labels(words, labels, langs),), {}
    raise AssertionError(
        f"cannot generate inputs of types {types} for {type(metric).__name__}; "
        "define example_inputs(self, rng) -> (args, kwargs)"
    )


# -- invariance transforms ------------------------------------------------------------
def _orthogonal(rng: np.random.Generator, p: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(p, p)))
    return q * np.sign(np.diag(r))


def _transform(name: str, X: np.ndarray, Y: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, p = X.shape
    q = Y.shape[1]
    if name == "orthogonal":
        return X @ _orthogonal(rng, p), Y @ _orthogonal(rng, q)
    if name == "isotropic_scaling":
        return 2.5 * X, 0.4 * Y
    if name == "translation":
        return X + 3 * rng.normal(size=p), Y - 2 * rng.normal(size=q)
    if name == "permutation":
        return X[:, rng.permutation(p)], Y[:, rng.permutation(q)]
    if name == "invertible_linear":
        def mat(k: int) -> np.ndarray:
            return _orthogonal(rng, k) @ np.diag(rng.uniform(0.5, 2.0, k)) @ _orthogonal(rng, k)
        return X @ mat(p), Y @ mat(q)
    if name == "neuron_affine":
        return (X * rng.uniform(0.5, 2.0, p) + rng.normal(size=p),
                Y * rng.uniform(0.5, 2.0, q) - rng.normal(size=q))
    if name == "joint_permutation":
        perm = rng.permutation(p)
        return X[:, perm], Y[:, perm]
    if name == "row_permutation":
        perm = rng.permutation(n)
        return X[perm], Y[perm]
    raise KeyError(name)


# -- metrics --------------------------------------------------------------------------
def check_metric(metric: Metric, *, seed: int = 0, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Check a metric instance against the :class:`~interlingua.core.Metric` contract.

    Parameters
    ----------
    metric : Metric
        The instance to check (its current parameters are used).
    seed : int
        Seed of the random example data.
    rtol, atol : float
        Tolerance for symmetry, invariance, determinism and streaming comparisons.
    """
    _check_declarations(metric, Metric)
    if metric.input_kind not in INPUT_KINDS and not metric.inputs:
        raise _fail(metric, f"unknown input_kind {metric.input_kind!r} and no `inputs` declared")
    unknown = set(metric.invariances) - set(INVARIANCES)
    if unknown:
        raise _fail(metric, f"declares unknown invariances {sorted(unknown)}; known: "
                            f"{sorted(INVARIANCES)}")
    rng = np.random.default_rng(seed)
    args, kwargs = example_inputs(metric, rng)
    first = metric(*args, **kwargs)
    _check_result(metric, first)
    again = metric(*args, **kwargs)
    if not _close(first.value, again.value, 0.0, 1e-12):
        raise _fail(metric, f"not deterministic: {first.value!r} then {again.value!r}")
    if first.per_unit is not None and not np.array_equal(
        np.asarray(first.per_unit), np.asarray(again.per_unit), equal_nan=True
    ):
        raise _fail(metric, "per_unit differs between two identical calls")
    if metric.input_kind == "paired":
        _check_paired_metric(metric, args, kwargs, first, rng, rtol, atol)


def _check_result(metric: Metric, result: Any) -> None:
    if not isinstance(result, MetricResult):
        raise _fail(metric, f"returned {type(result).__name__}, not MetricResult")
    if not isinstance(result.value, float) or math.isinf(result.value):
        raise _fail(metric, f"value {result.value!r} is not a finite float")
    if math.isnan(result.value):
        raise _fail(metric, "value is NaN on well-formed random input")
    if metric.value_range is not None:
        lo, hi = metric.value_range
        if not lo - 1e-9 <= result.value <= hi + 1e-9:
            raise _fail(metric, f"value {result.value} outside declared range {metric.value_range}")
    if result.pvalue is not None and not 0.0 <= result.pvalue <= 1.0:
        raise _fail(metric, f"p-value {result.pvalue} outside [0, 1]")
    if result.per_unit is not None and not isinstance(result.per_unit, np.ndarray):
        raise _fail(metric, "per_unit is not a numpy array")
    if result.metric != metric.name:
        raise _fail(metric, f"result is stamped {result.metric!r}, expected {metric.name!r}")
    try:
        json.dumps(result.to_dict())
    except (TypeError, ValueError) as exc:
        raise _fail(metric, f"result.to_dict() is not JSON-serialisable: {exc}") from None


def _check_paired_metric(metric: Metric, args: tuple, kwargs: dict, first: MetricResult,
                         rng: np.random.Generator, rtol: float, atol: float) -> None:
    X, Y = (np.asarray(a, dtype=np.float64) for a in args[:2])
    if metric.symmetric:
        swapped = metric(Y, X, **kwargs)
        if not _close(first.value, swapped.value, rtol, atol):
            raise _fail(metric, f"declared symmetric but m(X,Y)={first.value!r} and "
                                f"m(Y,X)={swapped.value!r}")
    for name in sorted(metric.invariances):
        Xt, Yt = _transform(name, X, Y, rng)
        value = metric(Xt, Yt, **kwargs).value
        if not _close(first.value, value, rtol, atol):
            raise _fail(metric, f"declared invariant to {name} ({INVARIANCES[name]}) but the "
                                f"value changed from {first.value!r} to {value!r}")
    n = X.shape[0]
    _expect_error(metric, "rows of X and Y differ", lambda: metric(X, Y[:-1], **kwargs))
    bad = X.copy()
    bad[n // 2, 0] = np.nan
    _expect_error(metric, "NaN in X", lambda: metric(bad, Y, **kwargs))
    bad = Y.copy()
    bad[0, -1] = np.inf
    _expect_error(metric, "inf in Y", lambda: metric(X, bad, **kwargs))
    few = max(int(metric.min_rows) - 1, 1)
    if few < metric.min_rows:
        _expect_error(metric, f"only {few} row(s)", lambda: metric(X[:few], Y[:few], **kwargs))
    _expect_error(metric, "1-D input", lambda: metric(X[:, 0], Y[:, 0], **kwargs))
    if metric.same_dim:
        _expect_error(metric, "different widths for a same_dim metric",
                      lambda: metric(X, Y[:, :-1], **kwargs))
    if metric.supports_streaming:
        _check_streaming(metric, X, Y, first, rtol)


def _check_streaming(metric: Metric, X: np.ndarray, Y: np.ndarray, first: MetricResult,
                     rtol: float) -> None:
    cuts = [0, 7, 30, X.shape[0]]
    streamed = metric.stream((X[a:b], Y[a:b]) for a, b in itertools.pairwise(cuts))
    if not _close(first.value, streamed.value, max(rtol, 1e-9), 1e-9):
        raise _fail(metric, f"streaming gives {streamed.value!r}, in memory {first.value!r}")
    left, right = metric.accumulator(), metric.accumulator()
    left.update(X[:25], Y[:25])
    right.update(X[25:], Y[25:])
    merged = left.merge(right)
    if merged is None:
        raise _fail(metric, "Accumulator.merge must return the merged accumulator")
    value = merged.result().value
    if not _close(first.value, value, max(rtol, 1e-9), 1e-9):
        raise _fail(metric, f"merged accumulators give {value!r}, in memory {first.value!r}")


# -- aligners -------------------------------------------------------------------------
def _public_fitted(obj: Any) -> set[str]:
    return {k for k in vars(obj) if k.endswith("_") and not k.startswith("_")}


def check_aligner(aligner: Aligner, *, seed: int = 0) -> None:
    """Check an aligner instance against the :class:`~interlingua.core.Aligner` contract."""
    _check_declarations(aligner, Aligner)
    rng = np.random.default_rng(seed)
    n, p = 60, 6
    X = rng.normal(size=(n, p))
    Y = X @ _orthogonal(rng, p) + 0.05 * rng.normal(size=(n, p))
    fresh = type(aligner)(**aligner.get_params())
    _expect_error(fresh, "transform before fit", lambda: fresh.transform(X))
    before = set(vars(fresh))
    returned = fresh.fit(X, Y)
    if returned is not fresh:
        raise _fail(aligner, "fit() must return self")
    added = set(vars(fresh)) - before
    if not _public_fitted(fresh):
        raise _fail(aligner, "fit() set no fitted attribute ending in '_'")
    plain = {k for k in added if not k.endswith("_") and not k.startswith("_")}
    if plain:
        raise _fail(aligner, f"fit() set attributes without a trailing '_': {sorted(plain)}")
    mapped = fresh.transform(X)
    if not isinstance(mapped, np.ndarray) or mapped.shape != Y.shape:
        raise _fail(aligner, f"transform(X) has shape {np.shape(mapped)}, expected {Y.shape}")
    if not np.isfinite(mapped).all():
        raise _fail(aligner, "transform(X) contains non-finite values")
    twice = type(aligner)(**aligner.get_params()).fit(X, Y).transform(X)
    if not np.allclose(mapped, twice, rtol=1e-10, atol=1e-12):
        raise _fail(aligner, "fit/transform is not deterministic")
    _expect_error(aligner, "rows of X and Y differ",
                  lambda: type(aligner)(**aligner.get_params()).fit(X, Y[:-1]))
    bad = X.copy()
    bad[3, 2] = np.nan
    _expect_error(aligner, "NaN in X", lambda: type(aligner)(**aligner.get_params()).fit(bad, Y))
    _expect_error(aligner, "transform with the wrong width", lambda: fresh.transform(X[:, :-1]))


# -- discoverers ----------------------------------------------------------------------
def check_discoverer(discoverer: ConceptDiscoverer, *, seed: int = 0) -> None:
    """Check a concept discoverer against the :class:`~interlingua.core.ConceptDiscoverer`
    contract (on three well-separated blobs; ``n_clusters`` is set to 3 if declared)."""
    _check_declarations(discoverer, ConceptDiscoverer)
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0] * 5, [10.0] * 5, [-10.0, 10.0, -10.0, 10.0, -10.0]])
    X = np.concatenate([c + rng.normal(size=(30, 5)) for c in centers])
    truth = np.repeat(np.arange(3), 30)
    params = discoverer.get_params()
    if "n_clusters" in params:
        params["n_clusters"] = 3

    def make() -> ConceptDiscoverer:
        return type(discoverer)(**params)

    model = make()
    if model.fit(X) is not model:
        raise _fail(discoverer, "fit() must return self")
    labels = np.asarray(model.labels_)
    if labels.shape != (X.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise _fail(discoverer, f"labels_ must be {X.shape[0]} integers, got {labels.dtype} "
                                f"{labels.shape}")
    again = make().fit_predict(X)
    if not np.array_equal(labels, again):
        raise _fail(discoverer, "not reproducible: two fits with the same parameters differ")
    if "n_clusters" in params:
        # Blobs 20 standard deviations apart must be recovered exactly (up to renaming).
        pairs = set(zip(truth.tolist(), labels.tolist()))
        if len(pairs) != 3 or len({b for _, b in pairs}) != 3:
            raise _fail(discoverer, "did not separate three well-separated clusters")
    words = [f"w{i % 17}" for i in range(X.shape[0])]
    concepts = make().discover(X, words)
    if not isinstance(concepts, Concepts) or len(concepts) != np.unique(labels).size:
        raise _fail(discoverer, "discover() must return Concepts with one concept per cluster")
    bad = X.copy()
    bad[5, 1] = np.nan
    _expect_error(discoverer, "NaN in X", lambda: make().fit(bad))
    _expect_error(discoverer, "1-D input", lambda: make().fit(X[:, 0]))
    _expect_error(discoverer, "a single row", lambda: make().fit(X[:1]))
