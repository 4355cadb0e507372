"""The demo's affective stage (seed 003): labMT happiness probes in every installed labMT
language, the top-k neuron sets at the best layers, their super exact test, the mean
pairwise overlap (MPO) and the mixed model, through the affective family's public
functions (:mod:`interlingua.plugins.affective.pipeline`,
:mod:`interlingua.plugins.affective.norms`).

Words of the languages in the store (the corpus languages) are probed in verses that
contain them; the other labMT languages' words run alone (``mode`` says which). One
variable per model: the probed layer (the three best) stands in for seed 003's model
factor in the mixed model (§7); the demo runs this stage once per model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.progress import Progress
from interlingua.plugins.demo.config import DemoConfig
from interlingua.plugins.demo.stages import Reporter, cache_name, extract_store


def _context_rows(store: Any, lang: str, norms: Any, cfg: DemoConfig,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rated target words in the Bible verses already extracted: up to
    ``affective_contexts`` random occurrences of each of ``affective_words`` random
    labMT words with at least that many occurrences → (word rows, ratings, words)."""
    rows = store.word_rows(lang)
    folded = np.array([str(w).casefold() for w in store.words.text[rows]], dtype=object)
    rated = norms.mapping("happiness", casefold=True)
    types, counts = np.unique(folded, return_counts=True)
    cand = [t for t, c in zip(types, counts) if c >= cfg.affective_contexts and t in rated
            and any(ch.isalpha() for ch in t)]
    chosen = set(rng.permutation(np.array(cand, dtype=object))[: cfg.affective_words])
    pick: list[int] = []
    for word in sorted(chosen):
        occ = np.flatnonzero(folded == word)
        pick.extend(rng.choice(occ, size=cfg.affective_contexts, replace=False).tolist())
    pick_arr = np.array(sorted(pick), dtype=np.int64)
    words = folded[pick_arr]
    return rows[pick_arr], np.array([rated[w] for w in words]), words


def affective_stage(cfg: DemoConfig, store: Any, cache: Path, rep: Reporter,
                    layers: list[str], progress: Progress) -> dict[str, Any]:
    """Affective neurons (seed 003): layer-wise labMT happiness probes per language,
    top-k neurons at the best layers, super exact test, MPO and the mixed model.

    Words of the store's languages are probed in its verses (sampled occurrences);
    the other labMT languages' words run alone (a one-word sentence), or in contexts
    sampled from ``cfg.affective_corpora`` (seed 003 §4.1).

    Parameters
    ----------
    cfg : DemoConfig
        The run's settings (languages, words, contexts, top-k, seed).
    store : ActivationStore
        The open store of the parallel verses.
    cache : Path
        Where the store of the words run alone is cached.
    rep : Reporter
        Tables and messages.
    layers : list of str
        Layers to probe.
    progress : Progress
        Passed to the extractor and the probes.

    Returns
    -------
    dict
        Probe curves, top-k sets, super exact test, MPO and the mixed model, or
        ``{"skipped": reason}`` when fewer than two labMT languages are installed.
    """
    from interlingua.core.store import ActivationStore, SentenceRecord
    from interlingua.plugins.affective.norms import LABMT_LANGUAGES, labmt_norms, sample_contexts
    from interlingua.plugins.affective.pipeline import mixed_model, overlap_analysis, probe_layers
    from interlingua.plugins.affective.superexact import SuperExact

    langs = cfg.affective_languages or list(LABMT_LANGUAGES)
    rng = np.random.default_rng(cfg.seed)
    norms: dict[str, Any] = {}
    for lang in langs:
        try:
            norms[lang] = labmt_norms(lang)
        except InputError as exc:
            rep.print(f"[yellow]labMT {lang}: {exc}[/yellow]")
    if len(norms) < 2:
        return {"skipped": "fewer than 2 labMT languages are installed"}
    in_store = [lang for lang in norms if lang in store.languages]
    alone = [lang for lang in norms if lang not in in_store]
    corpora = dict(cfg.affective_corpora or {})
    # Languages without offline text: each rated word is run alone (a one-word sentence);
    # with a corpus (seed 003 §4.1) the words are sampled in its sentences instead.
    records, modes = [], {}
    for lang in alone:
        words = sorted({w for w in norms[lang].words if any(ch.isalpha() for ch in w)
                        and " " not in w})
        if lang in corpora:
            sample = sample_contexts(corpora[lang], words, lang=lang,
                                     k=cfg.affective_contexts, seed=cfg.seed)
            kept = list(dict.fromkeys(sample.words))
            chosen = set(rng.permutation(np.array(kept, dtype=object))[: cfg.affective_words])
            records.extend(r for r, w in zip(sample.records, sample.words) if w in chosen)
            modes[lang] = f"contexts from {Path(corpora[lang]).name}"
        else:
            chosen = [str(w) for w in rng.permutation(np.array(words, dtype=object))
                      [: cfg.affective_words]]
            records.extend(SentenceRecord([w], lang, text=w, target=0) for w in chosen)
            modes[lang] = "word alone"
    extraction = None
    alone_store = None
    if records:
        path = cache / cache_name(cfg, "words", [alone, cfg.affective_words, cfg.affective_contexts,
                                            sorted(corpora.items()), cfg.seed])
        extraction = extract_store(replace(cfg, batch_size=max(cfg.batch_size, 128)), records,
                                   path, rep, progress)
        alone_store = ActivationStore.open(path)
    try:
        data: dict[str, dict[str, Any]] = {}
        targets: dict[str, np.ndarray] = {}
        groups: dict[str, np.ndarray] = {}
        how: dict[str, Any] = {}
        for lang in norms:
            if lang in in_store:
                rows, y, words = _context_rows(store, lang, norms[lang], cfg, rng)
                src = store
                how[lang] = {"mode": "bible contexts", "words": int(np.unique(words).size),
                             "rows": int(rows.size), "contexts_per_word": cfg.affective_contexts}
            else:
                rows, _ = alone_store.target_rows(lang)
                words = np.array([str(w).casefold() for w in alone_store.words.text[rows]],
                                 dtype=object)
                found = norms[lang].lookup(words, "happiness", casefold=True)
                rows, y, words = rows[found.found], found.values[found.found], words[found.found]
                src = alone_store
                how[lang] = {"mode": modes[lang], "words": int(np.unique(words).size),
                             "rows": int(rows.size)}
            data[lang] = {layer: (lambda s=src, r=rows, lay=layer: s.layer(lay, "words")[r])
                          for layer in layers}
            targets[lang], groups[lang] = y, words
        probe = probe_layers(data, targets, target="happiness", groups=groups,
                             params={"backend": "sklearn", "top_k": cfg.top_k, "seed": cfg.seed},
                             progress=progress)
    finally:
        if alone_store is not None:
            alone_store.close()
    probe.meta["model"] = cfg.model
    mean = probe.mean_curve()
    rep.table("affective probes: test Pearson r (labMT happiness)",
              ["layer", *probe.languages, "mean"],
              [[layer, *[probe.scores[lg][i] for lg in probe.languages], mean[i]]
               for i, layer in enumerate(probe.layers)])
    best = probe.best_layers(min(3, len(probe.layers)))
    overlap = overlap_analysis([probe] * len(best), k=cfg.top_k, layers=best,
                               labels=[f"layer {layer}" for layer in best])
    main = overlap["runs"][0]
    # One offline model and one variable: the layer stands in for seed 003's model factor.
    recs = overlap["records"]
    try:
        mm = mixed_model([r["performance"] for r in recs], [r["mpo"] for r in recs],
                         [r["language"] for r in recs], [r["layer"] for r in recs]).to_dict()
    except InputError as exc:
        mm = {"error": str(exc)}
    sets = main["sets"]
    names = list(sets)
    pair_fe = np.full((len(names), len(names)), np.nan)
    pair_p = np.full((len(names), len(names)), np.nan)
    for entry in main["superexact"]["intersections"]:
        if len(entry["sets"]) == 2:
            i, j = names.index(entry["sets"][0]), names.index(entry["sets"][1])
            pair_fe[i, j] = pair_fe[j, i] = entry["fold_enrichment"]
            pair_p[i, j] = pair_p[j, i] = entry["pvalue"]
    top = max(main["superexact"]["intersections"], key=lambda e: (len(e["sets"]) if
              e["observed"] > 0 else 0, e["fold_enrichment"]))
    rep.print(f"best layer {best[0]}: top-{cfg.top_k} neuron sets of {len(names)} languages; "
              f"mean pairwise fold enrichment {np.nanmean(pair_fe):.2f}; largest non-empty "
              f"intersection: {len(top['sets'])} languages, {top['observed']} neuron(s)")
    rep.table("mean pairwise overlap (MPO) vs probe r at the best layer",
              ["language", "MPO", "r"],
              [[lg, main["mpo"][lg], probe.score(lg, best[0])] for lg in names])
    return {
        "store": extraction, "languages": how, "probe": probe.to_dict(include_weights=False),
        "best_layers": best, "top_sets": {"layer": best[0], "k": cfg.top_k, "sets": sets},
        "background": main["background"], "superexact": main["superexact"],
        "superexact_metric": SuperExact.name, "mpo": main["mpo"],
        "pairwise_fold_enrichment": {"languages": names, "matrix": pair_fe.tolist(),
                                     "pvalues": pair_p.tolist()},
        "records": recs, "mixed_model": mm,
        "mixed_model_design": "performance ~ MPO + (1|language) + (1|layer) + (0+MPO|layer): "
                              "one offline model and one variable, so the probed layer "
                              "(3 best) replaces seed 003's model factor",
    }


__all__ = ["affective_stage"]
