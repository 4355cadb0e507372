"""The four interfaces the project is built on: Metric, Aligner, ConceptDiscoverer,
Extractor (plus the mergeable Accumulator protocol for streaming paired metrics).

Plugins subclass these. All of them are :class:`~interlingua.core.params.Configurable`:
declared :class:`~interlingua.core.params.Param` objects become ``__init__`` keyword
arguments that are stored without work; learning happens in ``fit`` and fitted
attributes end with ``_`` (scikit-learn conventions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError, NotFittedError, PluginError
from interlingua.core.params import Configurable
from interlingua.core.result import MetricResult
from interlingua.core.validation import check_matrix, check_paired

if TYPE_CHECKING:
    from interlingua.core.concepts import Concepts

#: Transformations a metric may declare itself invariant to. Unless the name starts
#: with ``joint_``, the transformation is applied to each input independently.
INVARIANCES: dict[str, str] = {
    "orthogonal": "X -> X Q for a random orthogonal Q (rotation/reflection of neurons)",
    "isotropic_scaling": "X -> c X for a scalar c > 0",
    "translation": "X -> X + b for a constant row vector b",
    "permutation": "X -> X P for a permutation P of the neurons",
    "invertible_linear": "X -> X A for an invertible matrix A",
    "neuron_affine": "X -> X diag(s) + b with per-neuron scales s > 0 and offsets b",
    "joint_permutation": "the same permutation of neurons applied to both inputs",
    "row_permutation": "the same permutation of the paired rows applied to both inputs",
}

#: What each input kind of a metric expects, and the positional input types the
#: generic runner loads for it (``Metric.inputs`` may override).
INPUT_KINDS: dict[str, tuple[str, ...]] = {
    "paired": ("matrix", "matrix"),
    "concepts": ("concepts",),
    "sets": ("sets",),
    "probe": ("matrix", "vector"),
}


class Accumulator:
    """Mergeable sufficient statistics of a paired metric (map-reduce friendly).

    ``update`` folds in one row-aligned chunk, ``merge`` folds in another accumulator
    (computed on other rows, possibly on another machine) and returns ``self``;
    ``result`` produces the :class:`MetricResult` the in-memory metric would give on
    all rows seen.
    """

    def update(self, x: np.ndarray, y: np.ndarray) -> Accumulator:  # pragma: no cover
        raise NotImplementedError

    def merge(self, other: Accumulator) -> Accumulator:  # pragma: no cover
        raise NotImplementedError

    def result(self) -> MetricResult:  # pragma: no cover
        raise NotImplementedError


def plugin_label(plugin: Any) -> str:
    """``"metric plugin 'cka' (provider interlingua)"``: how messages name a plugin.

    Parameters
    ----------
    plugin : Plugin or type
        A plugin instance (or class). The provider is the distribution that registered
        it when the instance came from the registry, else the module of its class.

    Returns
    -------
    str
        Kind, name and provider, for one-line messages.
    """
    cls = plugin if isinstance(plugin, type) else type(plugin)
    kind = getattr(cls, "kind", "") or "plugin"
    name = getattr(plugin, "name", "") or cls.__name__
    provider = getattr(plugin, "_registry_provider", None)
    origin = f"provider {provider}" if provider else f"class {cls.__module__}.{cls.__qualname__}"
    return f"{kind} plugin {name!r} ({origin})"


class Plugin(Configurable):
    """Common base of the four plugin kinds."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """``None`` when usable here, else why not and how to fix it (install hint)."""
        return None


class Metric(Plugin):
    """A similarity / alignment / overlap measure.

    Subclasses implement :meth:`compute`; calling the metric validates inputs
    according to ``input_kind`` and stamps the result with name and parameters.

    Class attributes
    ----------------
    input_kind : {"paired", "concepts", "sets", "probe"}
        ``paired`` = two row-aligned matrices.
    inputs : tuple of str
        Positional input types for the generic CLI runner (``matrix``, ``vector``,
        ``concepts``, ``dictionary``, ``sets``); defaults from ``input_kind``.
    symmetric : bool
        ``m(X, Y) == m(Y, X)``.
    higher_is_more_similar : bool
        Orientation of ``value``.
    invariances : frozenset of str
        Keys of :data:`INVARIANCES` the value is invariant to.
    value_range : tuple or None
        Bounds of ``value`` when known, e.g. ``(0, 1)``.
    min_rows : int
        Fewest paired rows accepted.
    same_dim : bool
        Paired inputs must have the same number of columns.
    accepts_float32 : bool
        Paired float32 input reaches :meth:`compute` as it is instead of as a float64
        copy (default ``False``); set it only when ``compute`` never needs float64 rows.
    """

    kind: ClassVar[str] = "metric"
    input_kind: ClassVar[str] = "paired"
    inputs: ClassVar[tuple[str, ...]] = ()
    symmetric: ClassVar[bool] = False
    higher_is_more_similar: ClassVar[bool] = True
    invariances: ClassVar[frozenset[str]] = frozenset()
    value_range: ClassVar[tuple[float, float] | None] = None
    min_rows: ClassVar[int] = 2
    same_dim: ClassVar[bool] = False
    accepts_float32: ClassVar[bool] = False

    @classmethod
    def input_types(cls) -> tuple[str, ...]:
        return cls.inputs or INPUT_KINDS.get(cls.input_kind, ())

    def __call__(self, *inputs: Any, **kwargs: Any) -> MetricResult:
        if self.input_kind == "paired":
            if len(inputs) != 2:
                raise InputError(
                    f"{self.name}: a paired metric takes two matrices X, Y; got {len(inputs)}"
                )
            X, Y = check_paired(
                inputs[0], inputs[1], min_rows=self.min_rows, same_dim=self.same_dim,
                dtype=(np.float64, np.float32) if self.accepts_float32 else np.float64,
            )
            result = self.compute(X, Y, **kwargs)
        else:
            result = self.compute(*inputs, **kwargs)
        return self.finish_result(result, "compute()")

    def finish_result(self, raw: Any, where: str = "accumulator().result()") -> MetricResult:
        """What ``compute()`` or an accumulator's ``result()`` returned, as the
        :class:`MetricResult` callers get: a plain number is wrapped, anything else is a
        :class:`PluginError` naming the plugin, and the metric's name and parameters
        are stamped on it (drivers that run accumulators themselves use this too)."""
        result = self._as_result(raw, where)
        result.metric = result.metric or self.name
        result.params = {**self.get_params(), **result.params}
        return result

    def _as_result(self, result: Any, where: str) -> MetricResult:
        """``result`` as a :class:`MetricResult`; a number (anything ``float()`` takes,
        e.g. a numpy or torch scalar, but not text or a container) is wrapped, anything
        else is a :class:`PluginError` naming the plugin and its provider."""
        if isinstance(result, MetricResult):
            return result
        container = isinstance(result, (str, bytes, Mapping, list, tuple, set, frozenset))
        if result is not None and not container and getattr(result, "ndim", 0) == 0:
            try:
                return MetricResult(value=float(result))
            except (TypeError, ValueError):
                pass
        got = "None" if result is None else type(result).__name__
        raise PluginError(
            f"{plugin_label(self)} returned {got} from {where}; expected MetricResult or "
            "float (a bug in the plugin: report it to its provider)"
        )

    def compute(self, *inputs: Any, **kwargs: Any) -> MetricResult:
        """Compute the metric on validated inputs (paired: float64 ``X``, ``Y``, or
        float32 as given when ``accepts_float32``)."""
        raise NotImplementedError

    def accumulator(self) -> Accumulator | None:
        """A fresh streaming accumulator, or ``None`` if the metric needs all rows."""
        return None

    @property
    def supports_streaming(self) -> bool:
        return type(self).accumulator is not Metric.accumulator

    def stream(self, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> MetricResult:
        """Compute over an iterable of row-aligned ``(x, y)`` chunks with an accumulator."""
        acc = self.accumulator()
        if acc is None:
            raise InputError(f"{self.name} cannot be computed streaming; load the rows instead")
        for x, y in chunks:
            x, y = check_paired(x, y, min_rows=1, same_dim=self.same_dim)
            acc.update(x, y)
        return self.finish_result(acc.result())


def check_is_fitted(estimator: Any) -> None:
    """Raise :class:`NotFittedError` unless ``fit`` has set a trailing-underscore attribute."""
    fitted = [
        k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")
    ]
    if not fitted:
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted yet; call fit() first"
        )


class Aligner(Plugin):
    """Learns a map between two representation spaces from paired rows.

    ``fit(X, Y)`` learns a map sending rows of ``X`` close to the matching rows of
    ``Y`` and returns ``self``; ``transform(X)`` maps new rows of the source space.
    """

    kind: ClassVar[str] = "aligner"
    min_rows: ClassVar[int] = 2

    def fit(self, X: Any, Y: Any) -> Aligner:  # pragma: no cover
        raise NotImplementedError

    def transform(self, X: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def fit_transform(self, X: Any, Y: Any) -> np.ndarray:
        return self.fit(X, Y).transform(X)

    def _check_fit_inputs(self, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
        return check_paired(X, Y, min_rows=self.min_rows)

    def _check_transform_input(self, X: Any, n_features: int) -> np.ndarray:
        check_is_fitted(self)
        X = check_matrix(X, "X")
        if X.shape[1] != n_features:
            raise InputError(
                f"X has {X.shape[1]} columns but the aligner was fitted on {n_features}"
            )
        return X


class ConceptDiscoverer(Plugin):
    """Clusters token representations of one layer into latent concepts.

    ``fit(X)`` sets ``labels_`` (one cluster id per row); :meth:`discover` turns the
    labels of word occurrences into :class:`~interlingua.core.concepts.Concepts`.
    """

    kind: ClassVar[str] = "discoverer"
    min_rows: ClassVar[int] = 2

    def fit(self, X: Any) -> ConceptDiscoverer:  # pragma: no cover
        raise NotImplementedError

    def fit_predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.fit(X).labels_)

    def discover(
        self, X: Any, words: Iterable[str], languages: Iterable[str] | None = None
    ) -> Concepts:
        from interlingua.core.concepts import Concepts

        labels = self.fit_predict(X)
        return Concepts.from_labels(list(words), labels, languages)

    def _check_fit_input(self, X: Any) -> np.ndarray:
        return check_matrix(X, "X", min_rows=self.min_rows)


class Extractor(Plugin):
    """Runs a model over a corpus and writes an
    :class:`~interlingua.core.store.ActivationStore`."""

    kind: ClassVar[str] = "extractor"

    def extract(
        self,
        corpus: Any,
        output: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
    ) -> Path:  # pragma: no cover
        raise NotImplementedError


PLUGIN_BASES: dict[str, type[Plugin]] = {
    "metric": Metric,
    "aligner": Aligner,
    "discoverer": ConceptDiscoverer,
    "extractor": Extractor,
}
