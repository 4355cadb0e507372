"""``lape`` metric plugin: language-specific neurons (Tang et al. 2024, §2) as a registered
metric over activation counts, so that ``get_metric("lape")``, ``interlingua run
metric:lape counts.h5`` and ``interlingua plugins`` know it like any other method.

Input: an :class:`~interlingua.plugins.neurons.activation_counts.ActivationCounts` (or the
path of a counts file written by ``interlingua lape`` / ``ActivationCounts.to_hdf5``).
The selection is :func:`~interlingua.plugins.neurons.lape.select_language_neurons` with
the plugin's parameters (the same ones as the ``lape`` command). Result:

* ``value``: the share of the selected neurons that are specific to two languages or
  more — a sharing measure (0 = every language-specific neuron serves one language);
  0 when nothing is selected;
* ``per_unit``: the LAPE (entropy over languages, nats) of every counted neuron;
* ``details``: languages, modules, thresholds, the neurons per language and layer and
  each language's neuron set (flat indices into the concatenated modules).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.plugins.neurons.activation_counts import ActivationCounts
from interlingua.plugins.neurons.lape import CITATION, LapeSettings, select_language_neurons
from interlingua.registry import hookimpl


class LapeMetric(Metric):
    """Language-specific neurons by LAPE over activation counts (module docstring)."""

    name: ClassVar[str] = "lape"
    summary: ClassVar[str] = (
        "Language-specific neurons by activation-probability entropy (Tang et al. 2024) "
        "over activation counts; value = share of them serving several languages"
    )
    input_kind: ClassVar[str] = "counts"
    inputs: ClassVar[tuple[str, ...]] = ("path",)
    symmetric: ClassVar[bool] = False
    higher_is_more_similar: ClassVar[bool] = True
    value_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)
    params: ClassVar[tuple[Param, ...]] = LapeSettings.params

    def compute(self, counts: Any, **kw: Any) -> MetricResult:
        """Select the language-specific neurons of ``counts`` (Tang et al. 2024 §2).

        Parameters
        ----------
        counts : ActivationCounts or path-like
            Counts from
            :func:`~interlingua.plugins.neurons.activation_probability.count_activations`,
            or a counts file.

        Returns
        -------
        MetricResult
        """
        if kw:
            raise InputError(f"lape: unexpected argument(s) {sorted(kw)}")
        if isinstance(counts, (str, Path)):
            counts = ActivationCounts.from_hdf5(counts)
        if not isinstance(counts, ActivationCounts):
            raise InputError("lape: expected ActivationCounts or the path of a counts file, "
                             f"got {type(counts).__name__}")
        found = select_language_neurons(counts, **self.get_params())
        n_langs = found.specific.sum(axis=0)
        selected = int(found.selected.size)
        shared = int((n_langs >= 2).sum())
        table = found.per_layer()
        return MetricResult(
            value=shared / selected if selected else 0.0,
            per_unit=np.asarray(found.lape, dtype=np.float64),
            details={
                "reference": CITATION,
                "languages": found.languages,
                "modules": counts.modules,
                "layers": counts.layers,
                "n_neurons": counts.n_neurons,
                "n_candidates": int(found.candidates.sum()),
                "n_selected": selected,
                "n_shared": shared,
                "thresholds": found.thresholds,
                "per_language": found.n_per_language,
                "per_layer": {lang: table[:, li].tolist()
                              for li, lang in enumerate(found.languages)},
                "sets": {lang: idx.tolist() for lang, idx in found.sets().items()},
            },
        )

    def example_inputs(self, rng: np.random.Generator) -> tuple[tuple, dict]:
        """Counts of three languages over two modules of 500 neurons: three neurons
        that fire for each language only, one for the first two languages, the rest
        alike in every language (for the contract checks)."""
        tokens = np.array([400, 500, 450])
        active = {}
        for k, module in enumerate(("layers.0.mlp.act_fn", "layers.1.mlp.act_fn")):
            p = rng.uniform(0.2, 0.6, size=(1, 500)).repeat(3, axis=0)
            if k == 0:
                p[:, :9] = 0.01
                for lang in range(3):
                    p[lang, 3 * lang:3 * lang + 3] = 0.97
            else:
                p[:, 0] = [0.96, 0.96, 0.01]
            active[module] = np.round(p * tokens[:, None]).astype(np.int64)
        counts = ActivationCounts(["aa", "bb", "cc"], list(active), active, tokens)
        return (counts,), {}


@hookimpl
def register_metrics(register: Callable[[type[Metric]], None]) -> None:
    register(LapeMetric)


__all__ = ["LapeMetric"]
