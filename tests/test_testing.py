"""The contract checks must catch broken plugins (and pass correct ones)."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from interlingua.core import (
    Accumulator,
    Aligner,
    ConceptDiscoverer,
    Extractor,
    InputError,
    Metric,
    MetricResult,
    Param,
    StoreError,
    check_matrix,
)
from interlingua.core.store import ActivationStore
from interlingua.testing import check_aligner, check_discoverer, check_extractor, check_metric


class MeanCorr(Metric):
    """Mean Pearson correlation of matching columns (a correct reference metric)."""

    name = "mean-corr"
    symmetric = True
    same_dim = True
    min_rows = 3
    value_range = (-1.0, 1.0)
    invariances = frozenset({"neuron_affine", "joint_permutation", "row_permutation"})

    def compute(self, X, Y):
        return self._from_moments(X.shape[0], X.sum(0), Y.sum(0), (X * X).sum(0),
                                  (Y * Y).sum(0), (X * Y).sum(0))

    @staticmethod
    def _from_moments(n, sx, sy, sxx, syy, sxy):
        cov = sxy - sx * sy / n
        r = cov / np.sqrt((sxx - sx**2 / n) * (syy - sy**2 / n))
        return MetricResult(float(r.mean()), per_unit=r)

    def accumulator(self):
        return _MeanCorrAcc()


class _MeanCorrAcc(Accumulator):
    def __init__(self):
        self.stats = None

    def update(self, x, y):
        new = [x.shape[0], x.sum(0), y.sum(0), (x * x).sum(0), (y * y).sum(0), (x * y).sum(0)]
        self.stats = new if self.stats is None else [a + b for a, b in zip(self.stats, new)]
        return self

    def merge(self, other):
        self.stats = [a + b for a, b in zip(self.stats, other.stats)]
        return self

    def result(self):
        return MeanCorr._from_moments(*self.stats)


def test_correct_metric_passes():
    check_metric(MeanCorr())


def _variant(**overrides):
    return type("Broken", (MeanCorr,), overrides)


def test_catches_false_invariance_claim():
    broken = _variant(invariances=frozenset({"orthogonal"}))
    with pytest.raises(AssertionError, match="invariant to orthogonal"):
        check_metric(broken())


def test_catches_false_symmetry_claim():
    def compute(self, X, Y):
        return MetricResult(float(X.mean() - 0.5 * Y.mean()))

    with pytest.raises(AssertionError, match="declared symmetric"):
        check_metric(_variant(compute=compute, invariances=frozenset(), value_range=None)())


def test_catches_nondeterminism():
    def compute(self, X, Y):
        return MetricResult(float(np.random.default_rng().random()))

    with pytest.raises(AssertionError, match="not deterministic"):
        check_metric(_variant(compute=compute, symmetric=False, invariances=frozenset())())


def test_catches_wrong_result_type_and_range():
    with pytest.raises(AssertionError, match="not MetricResult|not a finite float"):
        check_metric(_variant(compute=lambda self, X, Y: MetricResult(float("inf")))())
    with pytest.raises(AssertionError, match="outside declared range"):
        check_metric(_variant(compute=lambda self, X, Y: MetricResult(5.0),
                              invariances=frozenset())())


def test_catches_broken_streaming():
    class Off(_MeanCorrAcc):
        def result(self):
            res = super().result()
            res.value += 0.01
            return res

    with pytest.raises(AssertionError, match="streaming gives"):
        check_metric(_variant(accumulator=lambda self: Off())())


def test_catches_leaky_errors():
    class Leaky(Metric):
        """Skips validation and indexes blindly."""

        name = "leaky"
        input_kind = "paired"

        def __call__(self, X, Y):
            X, Y = np.asarray(X), np.asarray(Y)
            return MetricResult(float(X[:, 0] @ Y[:, 0] / len(X)), metric="leaky")

    with pytest.raises(AssertionError, match="NaN in X: no error raised"):
        check_metric(Leaky())


def test_catches_work_in_init_and_missing_help():
    class Busy(MeanCorr):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.cache = {}

    with pytest.raises(AssertionError, match="beyond its parameters"):
        check_metric(Busy())
    with pytest.raises(AssertionError, match="no help"):
        check_metric(_variant(params=(Param("x", 1, ""),))())


class MeanShift(Aligner):
    """Translate by the difference of the means."""

    name = "mean-shift"

    def fit(self, X, Y):
        X, Y = self._check_fit_inputs(X, Y)
        if X.shape[1] != Y.shape[1]:
            raise InputError("same width needed")
        self.shift_ = Y.mean(0) - X.mean(0)
        return self

    def transform(self, X):
        return self._check_transform_input(X, self.shift_.size if hasattr(self, "shift_")
                                           else -1) + self.shift_


def test_aligner_checks():
    check_aligner(MeanShift())

    class NoSelf(MeanShift):
        def fit(self, X, Y):
            super().fit(X, Y)

    with pytest.raises(AssertionError, match="must return self"):
        check_aligner(NoSelf())

    class Plain(MeanShift):
        def fit(self, X, Y):
            super().fit(X, Y)
            self.shift = self.shift_
            return self

    with pytest.raises(AssertionError, match="without a trailing '_'"):
        check_aligner(Plain())


class Threshold(ConceptDiscoverer):
    """Cluster by the sign pattern of the first two coordinates."""

    name = "sign"
    params = (Param("n_clusters", 4, "kept for the contract", int),)

    def fit(self, X):
        X = self._check_fit_input(X)
        self.labels_ = ((X[:, 0] > 5).astype(np.int64) + 2 * (X[:, 1] > 5)).astype(np.int64)
        return self


def test_discoverer_checks():
    check_discoverer(Threshold())

    class Random(Threshold):
        def fit(self, X):
            X = check_matrix(X, min_rows=2)
            self.labels_ = np.random.default_rng().integers(0, 3, len(X))
            return self

    with pytest.raises(AssertionError, match="not reproducible"):
        check_discoverer(Random())


# -- extractors (a model-free toy: rows computed from the words) -------------------------
class ToyExtractor(Extractor):
    """Two features per word (length, letter sum); sentence rows are their mean."""

    name = "toy"
    params = (Param("model", "", "model directory", str),
              Param("progress", True, "show a progress bar", bool))

    def rows(self, records):
        words = [w for r in records for w in r.words]
        X = np.array([[len(w), sum(map(ord, w)) % 97] for w in words], dtype=np.float32)
        bounds = np.cumsum([0] + [len(r.words) for r in records])
        S = np.stack([X[a:b].mean(0) for a, b in itertools.pairwise(bounds)])
        return {"0": {"words": X, "sentences": S}, "1": {"words": 2 * X, "sentences": 2 * S}}

    def extract(self, corpus, output, *, resume=False, overwrite=False):
        output = Path(output)
        if output.exists() and resume:
            return output
        if output.exists() and not overwrite:
            raise StoreError(f"{output} already exists")
        if not Path(self.model).is_dir():
            raise InputError(f"no model directory {self.model}")
        records = list(corpus)
        with ActivationStore.create(output, model=self.model, extractor=self.name,
                                    overwrite=overwrite) as writer:
            writer.append(records, self.rows(records))
            writer.finalize()
        return output


def _toy(**overrides):
    return type("BrokenToy", (ToyExtractor,), overrides)


def test_correct_extractor_passes(tmp_path):
    check_extractor(ToyExtractor(), tmp_path, expected_layers=["0", "1"],
                    workdir=tmp_path / "work")
    check_extractor(ToyExtractor, tmp_path, workdir=tmp_path / "class")  # a factory


def test_extractor_loading_in_init_is_caught(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a broken __init__ may leave a file
    class Eager(ToyExtractor):
        def __init__(self, **kw):
            super().__init__(**kw)
            self._model = object()  # "loaded" in __init__

    with pytest.raises(AssertionError, match="load models in extract"):
        check_extractor(Eager(), tmp_path, workdir=tmp_path / "w")

    class Touchy(ToyExtractor):
        def __init__(self, **kw):
            super().__init__(**kw)
            Path("cache.json").write_text("{}")

    with pytest.raises(AssertionError, match=r"__init__ created files: \['cache.json'\]"):
        check_extractor(Touchy(), tmp_path, workdir=tmp_path / "w2")


def test_extractor_rows_and_layers_are_checked(tmp_path):
    with pytest.raises(AssertionError, match=r"layers \['0', '1'\], expected \['0'\]"):
        check_extractor(ToyExtractor(), tmp_path, expected_layers=["0"],
                        workdir=tmp_path / "w")

    def random_rows(self, records):
        out = ToyExtractor.rows(self, records)
        out["1"]["words"] = out["1"]["words"] + np.random.default_rng().random()
        return out

    with pytest.raises(AssertionError, match=r"not deterministic: layer '1' \(words\)"):
        check_extractor(_toy(rows=random_rows)(), tmp_path, workdir=tmp_path / "w2")


def test_extractor_clobbering_or_rewriting_on_resume_is_caught(tmp_path):
    def clobber(self, corpus, output, *, resume=False, overwrite=False):
        return ToyExtractor.extract(self, corpus, output, resume=resume, overwrite=True)

    with pytest.raises(AssertionError, match="overwrote an existing store"):
        check_extractor(_toy(extract=clobber)(), tmp_path, workdir=tmp_path / "w")

    def rewrite(self, corpus, output, *, resume=False, overwrite=False):
        return ToyExtractor.extract(self, corpus, output, overwrite=overwrite or resume)

    with pytest.raises(AssertionError, match="resume=True on a complete store"):
        check_extractor(_toy(extract=rewrite)(), tmp_path, workdir=tmp_path / "w2")
