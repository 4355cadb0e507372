"""COLAP — concept overlap across languages (seed 000 §2.3, §3.3).

Concepts are discovered on mixed multilingual data. With L_i the tokens
(occurrences) of language i, a concept C is *overlapping* when

    Σ_i 1[ |C ∩ L_i| / |C| >= θ_O ] >= 2        (θ_O = 0.3)

i.e. at least two languages each contribute at least θ_O of its occurrences.
COLAP = 100 x overlapping concepts / all concepts. Works for any k >= 2 languages.

The authors' released script (``get_overlapping_clusters.py``) takes the threshold in
percent, splits languages by a sentence-index threshold (and crashes comparing it as a
string) and uses strict inequalities; we implement the formula of the paper.
``details["pairs"]`` breaks the result down per language pair (concepts where both
languages reach θ_O), and ``details["n_all_languages"]`` counts concepts where *every*
language reaches θ_O (the wording of seed 000 §3.3; identical for k = 2).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, ClassVar

import numpy as np

from interlingua.core.concepts import Concepts
from interlingua.core.errors import InputError
from interlingua.core.interfaces import Metric
from interlingua.core.params import Param
from interlingua.core.result import MetricResult
from interlingua.registry import hookimpl

_EPS = 1e-9


def language_counts(concepts: Concepts) -> tuple[list[int], list[str], np.ndarray]:
    """Concept ids, languages and the (concepts x languages) occurrence-count matrix."""
    if not isinstance(concepts, Concepts):
        raise InputError(f"expected interlingua.Concepts, got {type(concepts).__name__}")
    if concepts.languages_of_occurrences is None:
        raise InputError(
            "COLAP needs the language of every occurrence: build the concepts with "
            "Concepts.from_labels(words, labels, languages) on mixed multilingual data"
        )
    langs = np.asarray([str(x) for x in concepts.languages_of_occurrences], dtype=object)
    lang_names, lang_idx = np.unique(langs, return_inverse=True)
    ids, cid = np.unique(concepts.labels, return_inverse=True)
    counts = np.zeros((ids.size, lang_names.size), dtype=np.int64)
    np.add.at(counts, (cid, lang_idx), 1)
    return ids.tolist(), [str(x) for x in lang_names], counts


class COlap(Metric):
    """Percentage of concepts in which at least two languages each hold >= θ_O of the tokens."""

    name: ClassVar[str] = "colap"
    summary: ClassVar[str] = (
        "COLAP: % of mixed-data concepts shared by >= 2 languages (each >= θ_O; seed 000)"
    )
    input_kind: ClassVar[str] = "concepts"
    inputs: ClassVar[tuple[str, ...]] = ("concepts",)
    symmetric: ClassVar[bool] = False
    higher_is_more_similar: ClassVar[bool] = True
    value_range: ClassVar[tuple[float, float] | None] = (0.0, 100.0)
    params: ClassVar[tuple[Param, ...]] = (
        Param("theta", 0.3, "θ_O: least share of a concept's tokens per language", float),
        Param("min_languages", 2, "languages that must reach θ_O", int),
    )

    def compute(self, concepts: Any) -> MetricResult:
        """COLAP of concepts discovered on mixed multilingual data.

        Returns
        -------
        MetricResult
            ``value`` = COLAP in percent; ``per_unit`` = overlapping flag of each concept
            (in ``details["concept_ids"]`` order); ``details["pairs"]`` = per language
            pair, the number and percentage of concepts where both reach θ_O.
        """
        if not 0.0 < self.theta <= 1.0:
            raise InputError(f"theta must be in (0, 1], got {self.theta}")
        if self.min_languages < 1:
            raise InputError(f"min_languages must be >= 1, got {self.min_languages}")
        ids, langs, counts = language_counts(concepts)
        if len(langs) < 2:
            raise InputError(
                f"COLAP needs concepts over at least 2 languages; got only {langs}"
            )
        totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
        shares = counts / totals
        reach = shares >= self.theta - _EPS  # (concepts, languages)
        n_reach = reach.sum(axis=1)
        overlapping = n_reach >= self.min_languages
        n = len(ids)
        pairs = {}
        for a, b in combinations(range(len(langs)), 2):
            both = int((reach[:, a] & reach[:, b]).sum())
            pairs[f"{langs[a]}-{langs[b]}"] = {"n_overlapping": both, "percent": 100.0 * both / n}
        details = {
            "languages": langs,
            "n_concepts": n,
            "n_overlapping": int(overlapping.sum()),
            "n_all_languages": int(reach.all(axis=1).sum()),
            "percent_all_languages": 100.0 * reach.all(axis=1).sum() / n,
            "per_language": {
                lang: {"n_reaching": int(reach[:, i].sum()),
                       "n_dominant": int((shares.argmax(axis=1) == i).sum()),
                       "tokens": int(counts[:, i].sum())}
                for i, lang in enumerate(langs)
            },
            "pairs": pairs,
            "concept_ids": ids,
            "shares": {str(c): dict(zip(langs, row.tolist())) for c, row in zip(ids, shares)},
        }
        return MetricResult(value=100.0 * overlapping.sum() / n, per_unit=overlapping,
                            details=details)


@hookimpl
def register_metrics(register):
    register(COlap)
