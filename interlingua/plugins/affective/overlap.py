"""Cross-lingual overlap of top-k neuron sets (seed 003 §5–§7).

* :func:`mean_pairwise_overlap` — MPO, seed 003 eq. 2:
  ``MPO(l_i) = mean over the other languages l of |top(l) ∩ top(l_i)|``;
* :func:`shared_neurons` — neurons in the most (or at least ``min_sets``) sets, the
  candidates of the unseen-language test (§6);
* :func:`overlap_analysis` — top-k sets per language of probe results → super exact
  test and MPO per run, then the mixed model of performance on MPO over all runs (§7).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.plugins.affective.mixed_model import mixed_model
from interlingua.plugins.affective.probe_result import LayerwiseProbe


def _clean_sets(sets: Mapping[str, Iterable[int]], what: str) -> dict[str, set[int]]:
    if not isinstance(sets, Mapping):
        raise InputError(f"{what}: sets must be a dict {{name: iterable of int ids}}")
    out: dict[str, set[int]] = {}
    for name, ids in sets.items():
        items = list(ids)
        if not items:
            raise InputError(f"{what}: set {name!r} is empty")
        if any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) for x in items):
            raise InputError(f"{what}: set {name!r} contains non-integer ids")
        if len(set(items)) != len(items):
            raise InputError(f"{what}: set {name!r} contains duplicate ids")
        out[str(name)] = {int(x) for x in items}
    return out


def mean_pairwise_overlap(sets: Mapping[str, Iterable[int]]) -> dict[str, float]:
    """MPO (seed 003 eq. 2): mean over the other languages of ``|top(l) ∩ top(l_i)|``.

    Parameters
    ----------
    sets : mapping
        Language → its top-k neuron ids (at least 2 sets; no duplicates).

    Returns
    -------
    dict
        Language → its MPO.
    """
    clean = _clean_sets(sets, "MPO")
    if len(clean) < 2:
        raise InputError(f"MPO needs at least 2 sets, got {len(clean)}")
    names = list(clean)
    return {
        a: float(np.mean([len(clean[a] & clean[b]) for b in names if b != a])) for a in names
    }


def shared_neurons(
    sets: Mapping[str, Iterable[int]], min_sets: int | None = None
) -> dict[int, list[str]]:
    """Neurons in at least ``min_sets`` of the sets (default: in as many sets as any
    neuron is — the highest-degree non-empty intersections, seed 003 §5–6).

    Parameters
    ----------
    sets : mapping
        Set name → neuron ids.
    min_sets : int, optional
        Minimum number of sets a neuron must be in.

    Returns
    -------
    dict
        ``{neuron: [set names]}`` ordered by decreasing number of sets.
    """
    clean = _clean_sets(sets, "shared_neurons")
    members: dict[int, list[str]] = {}
    for name, ids in clean.items():
        for u in ids:
            members.setdefault(u, []).append(name)
    if not members:
        return {}
    top = max(len(v) for v in members.values())
    need = top if min_sets is None else min_sets
    chosen = {u: names for u, names in members.items() if len(names) >= need}
    return dict(sorted(chosen.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def overlap_analysis(
    probes: Sequence[LayerwiseProbe],
    *,
    k: int = 100,
    layers: Sequence[str | None] | None = None,
    labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Top-``k`` neuron sets per language → super exact test and MPO per probe run,
    then the mixed model of performance on MPO over all runs (seed 003 §5, §7).

    Parameters
    ----------
    probes : sequence of LayerwiseProbe
        One per (model, variable) run; the model name is ``meta["model"]``.
    k : int
        Neurons per language set (seed 003: 100).
    layers : sequence, optional
        Layer per run (``None`` = that run's best layer).
    labels : sequence of str, optional
        Names of the runs (default ``model:target``).

    Returns
    -------
    dict
        ``runs`` (per run: label, model, variable, layer, k, background, sets and the
        ``superexact`` details and ``mpo``), ``records`` (one per run and language:
        performance and MPO) and ``mixed_model`` (or ``mixed_model_note``).
    """
    from interlingua.plugins.affective.superexact import SuperExact

    if not probes:
        raise InputError("no probe results given")
    layers = list(layers) if layers is not None else [None] * len(probes)
    if len(layers) != len(probes):
        raise InputError("give one layer per probe result")
    runs = []
    records = []
    for i, (probe, layer) in enumerate(zip(probes, layers)):
        layer = probe.best_layers(1)[0] if layer is None else str(layer)
        sets = probe.top_sets(layer, k)
        model = str(probe.meta.get("model") or f"model{i}")
        label = labels[i] if labels else f"{model}:{probe.target}"
        dim = len(probe.results[probe.languages[0]][layer].per_unit)
        entry: dict[str, Any] = {"label": label, "model": model, "variable": probe.target,
                                 "layer": layer, "k": k, "background": dim, "sets": sets}
        if len(sets) >= 2:
            test = SuperExact()(sets, background=dim)
            entry["superexact"] = test.details
            mpo = mean_pairwise_overlap(sets)
            entry["mpo"] = mpo
            for lang in probe.languages:
                records.append({"run": label, "model": model, "variable": probe.target,
                                "language": lang, "layer": layer,
                                "performance": probe.score(lang, layer), "mpo": mpo[lang]})
        else:
            entry["note"] = "one language: no overlap statistics"
        runs.append(entry)
    out: dict[str, Any] = {"runs": runs, "records": records}
    if len({r["language"] for r in records}) >= 3:
        perf = [r["performance"] for r in records]
        try:
            out["mixed_model"] = mixed_model(
                perf, [r["mpo"] for r in records], [r["language"] for r in records],
                [r["model"] for r in records], [r["variable"] for r in records],
            ).to_dict()
        except InputError as exc:
            out["mixed_model_note"] = f"mixed model not fitted: {exc}"
    else:
        out["mixed_model_note"] = "the mixed model needs at least 3 languages"
    return out


__all__ = ["mean_pairwise_overlap", "overlap_analysis", "shared_neurons"]
