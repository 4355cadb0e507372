"""Every analysis of the demo on one model: extraction of all languages' verses into one
cached store, then sentence similarity per language pair, Procrustes word translation and
latent concepts per pivot–language pair, the affective neurons, and (decoders, full run)
language-specific neurons with their ablation and the logit lens, each through the stage
runners of :mod:`.stages`, :mod:`.affective_stage` and :mod:`.neurons_stage`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from interlingua.core.progress import Progress
from interlingua.plugins.demo.config import DemoConfig
from interlingua.plugins.demo.stages import Reporter


def language_pairs(languages: Sequence[str], all_pairs: bool) -> list[tuple[str, str]]:
    """Pivot–language pairs (pivot = first language), then, with ``all_pairs``, every
    other pair in order."""
    pivot = languages[0]
    pairs = [(pivot, x) for x in languages[1:]]
    if all_pairs:
        pairs += [(a, b) for a, b in combinations(languages[1:], 2)]
    return pairs


def sentence_records(rows: list[dict[str, str]], languages: Sequence[str]) -> list[Any]:
    """Corpus sentences (words by :func:`~interlingua.plugins.affective.norms.tokenize`),
    one per language per verse, the verse index as ``pair_id``."""
    from interlingua.plugins.affective.norms import tokenize
    from interlingua.plugins.extraction.corpus import CorpusSentence

    return [CorpusSentence(tokenize(row[lang]), lang, pair_id=i, text=row[lang])
            for i, row in enumerate(rows) for lang in languages]


def run_model(cfg: DemoConfig, rows: list[dict[str, str]], cache: Path, out: Path,
              rep: Reporter, progress: Progress, steps: Sequence[str],
              tables: dict[str, Any], stage_done: Callable[[str, float], None]
              ) -> dict[str, Any]:
    """The demo's stages on ``cfg.model`` (``cfg`` narrowed by
    :meth:`DemoConfig.for_model`, ``cfg.languages`` resolved, pivot first).

    Parameters
    ----------
    cfg : DemoConfig
        Settings of this model.
    rows : list of dict
        The verses, ``{language: text}`` each (:func:`.corpus_stage.read_parallel`).
    cache, out : Path
        Store cache and report directory.
    rep, progress
        Tables and progress.
    steps : sequence of str
        Analyses to run.
    tables : dict of str -> LexicalTable
        Pivot → language dictionaries induced so far (filled here on first need; they
        depend on the text only, so later models reuse them).
    stage_done : callable
        Called with ``"<stage> <model>"`` and the seconds it took.

    Returns
    -------
    dict
        This model's entry of ``results.json["models"]``.
    """
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.demo.affective_stage import affective_stage
    from interlingua.plugins.demo.concepts_stage import concepts_stage
    from interlingua.plugins.demo.stages import (
        cache_name,
        dictionary_stage,
        extract_store,
        model_slug,
        similarity_stage,
        word_translation_stage,
    )
    from interlingua.plugins.extraction.corpus import Corpus

    langs = list(cfg.languages)
    pivot = langs[0]
    slug = model_slug(cfg.model)
    t0 = time.perf_counter()
    rep.rule(f"{slug}: extraction ({len(rows)} verses × {len(langs)} languages)")
    path = cache / cache_name(cfg, "bible")
    corpus = Corpus(sentence_records(rows, langs), format="memory")
    entry: dict[str, Any] = {"extraction": extract_store(cfg, corpus, path, rep, progress)}
    stage_done(f"extraction {slug}", t0)
    with ActivationStore.open(path) as store:
        layers = list(store.layers)
        entry["store"] = {"path": str(path), "n_verses": len(rows),
                          "n_sentences": store.n_sentences, "n_words": store.n_words,
                          "layers": layers, "model": store.attrs.get("model", cfg.model),
                          "dim": int(store.layer(layers[-1], "sentences").dim),
                          "model_dtype": cfg.model_dtype}
        rep.print(f"store: {store.n_sentences} sentences, {store.n_words} words, layers "
                  f"{', '.join(layers)}")
        if "similarity" in steps:
            t0 = time.perf_counter()
            rep.rule(f"{slug}: sentence similarity (ANC, CKA, SVCCA/PWCCA, retrieval)")
            entry["similarity"] = {
                f"{a}-{b}": similarity_stage(cfg.for_pair(a, b), store, layers, rep, progress)
                for a, b in language_pairs(langs, cfg.all_pairs)}
            stage_done(f"similarity {slug}", t0)
        if "word_translation" in steps or "concepts" in steps:
            t0 = time.perf_counter()
            new = [x for x in langs[1:] if x not in tables]
            if new:
                rep.rule(f"dictionary induction ({', '.join(f'{pivot}-{x}' for x in new)})")
            for lang in new:
                tables[lang], backend = dictionary_stage(cfg.for_pair(pivot, lang), store, out,
                                                         rep, progress)
                tables.setdefault("_backend", backend)
            stage_done(f"dictionaries {slug}", t0)
        if "word_translation" in steps:
            t0 = time.perf_counter()
            rep.rule(f"{slug}: Procrustes word translation")
            entry["word_translation"] = {
                f"{pivot}-{x}": word_translation_stage(cfg.for_pair(pivot, x), store, layers,
                                                       tables[x], rep, progress)
                for x in langs[1:]}
            stage_done(f"word_translation {slug}", t0)
        if "concepts" in steps:
            t0 = time.perf_counter()
            rep.rule(f"{slug}: latent concepts (CALIGN, COLAP)")
            c_layers = [x for x in layers if cfg.concept_layers is None
                        or x in set(cfg.concept_layers)] or layers
            entry["concepts"] = concepts_stage(cfg.for_pair(pivot, langs[1]), store, c_layers,
                                               tables, out, rep, progress)
            stage_done(f"concepts {slug}", t0)
        if "affective" in steps:
            t0 = time.perf_counter()
            rep.rule(f"{slug}: affective neurons (probes, super exact test, MPO)")
            entry["affective"] = affective_stage(cfg, store, cache, rep, layers, progress)
            stage_done(f"affective {slug}", t0)
        decoder = store.attrs.get("architecture") == "decoder"
    if "neurons" in steps and cfg.neurons and decoder:
        from interlingua.plugins.demo.neurons_stage import neurons_stage

        t0 = time.perf_counter()
        rep.rule(f"{slug}: language-specific neurons, ablation, logit lens")
        entry["neurons"] = neurons_stage(cfg, rows, out, rep, progress)
        stage_done(f"neurons {slug}", t0)
    return entry


__all__ = ["language_pairs", "run_model", "sentence_records"]
