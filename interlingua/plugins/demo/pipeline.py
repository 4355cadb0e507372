"""The ``interlingua demo`` pipeline: every method of the four seed papers on an offline
multilingual model and the embedded English–Spanish Bible sample.

Steps (each a thin driver over the library; no number is computed here that a plugin
could compute):

1. **extraction** — ``builtin:multilingual-e5-small`` (the hf extractor) over the
   sentence pairs of ``examples/data/bible_en_es.tsv``, tokenised into words and
   punctuation (:func:`interlingua.plugins.affective.norms.tokenize`). The store is cached under
   ``<out>/cache/`` keyed by the settings; a rerun reuses it (an interrupted one
   resumes).
2. **similarity** (seeds 001, 002) — layer-wise ANC, linear and debiased CKA, SVCCA,
   PWCCA and sentence retrieval (cosine and CSLS P@1) between the mean-pooled English
   and Spanish verse representations
   (:func:`~interlingua.plugins.similarity.compare.compare_layers`).
3. **word translation** (seed 002 §5.1) — a dictionary induced with eflomal from the same
   parallel text (:mod:`interlingua.plugins.concepts.dictionary_induction`); word vectors = mean of
   a word type's occurrence rows at a layer; Procrustes fitted on 80 % of the 1-best
   pairs, P@1 by cosine and CSLS on the rest
   (:func:`interlingua.plugins.similarity.word_translation.evaluate_word_translation`).
4. **latent concepts** (seed 000) — k-means per layer, per language (CALIGN) and on the
   mixed data (COLAP), :mod:`interlingua.plugins.concepts.pipeline`. K is much smaller than the
   paper's 600 because the sample has ~10× fewer word types than the paper's data
   (seed 000 sizes K to give ~10 types per concept).
5. **affective neurons** (seed 003) — labMT happiness in every labMT language the
   installed norms package has. English and Spanish target words are probed in Bible
   verses (sampled contexts); for the other languages the sample has no text, so each
   word is run alone (a one-word "sentence") — stated in the report. Layer-wise elastic
   net probes, top-100 neurons per language at the best layer, super exact test, MPO and
   the mixed model (one model and one variable offline, so the model factor of seed 003
   §7 is replaced by the probed layer: the three best layers).
6. **report** — ``report.md``, ``results.json`` (all values behind every figure), one PNG
   per analysis and a *findings check* computed from the numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.result import to_jsonable

__all__ = ["DemoConfig", "add_setup_arguments", "config_from_args", "default_data_path",
           "findings_check", "full_config", "quick_config", "run_demo"]

MODEL = "builtin:multilingual-e5-small"
SIMILARITY_METRICS = ("anc", "cka", "cka:debiased=true", "svcca", "pwcca",
                      "retrieval", "retrieval:method=csls")


def default_data_path() -> Path:
    """``examples/data/bible_en_es.tsv`` of the source tree (or of the working directory)."""
    here = Path(__file__).resolve().parents[2] / "examples" / "data" / "bible_en_es.tsv"
    if here.exists():
        return here
    return Path("examples/data/bible_en_es.tsv")


@dataclass
class DemoConfig:
    """Settings of one demo run (see :func:`quick_config` / :func:`full_config`).

    Attributes
    ----------
    model : str
        Model name for the hf extractor.
    data : str
        Parallel TSV (header = language codes).
    lang_a, lang_b : str
        The two languages of ``data``.
    pairs : int or None
        Use the first N pairs (None = all).
    layers : list of str or None
        Layers to store and analyse (None = all).
    batch_size : int
        Sentences per forward pass.
    n_concepts : int
        K of k-means per layer (seed 000: 600 on ~10× more word types).
    concept_layers : list of str or None
        Layers clustered for CALIGN / COLAP (None = all analysed layers). k-means is the
        slowest step (three runs per layer), so the full demo clusters every other layer.
    min_freq, max_freq : int
        Concept frequency filter (seed 000 §3.2: ≥5 occurrences, ≤10 kept per type).
    wt_min_count : int
        Word translation: word types with at least this many occurrences get a vector.
    affective_languages : list of str or None
        labMT languages to probe (None = all installed).
    affective_words : int
        Target words per language.
    affective_contexts : int
        Bible contexts per English/Spanish target word (seed 003: 15).
    top_k : int
        Neurons per language set (seed 003: 100).
    sentence_pooling : str
        Sentence rows of the extractor: ``mean`` (of words) or ``mean-tokens`` (all
        tokens including special ones, seed 001's pooling).
    affective_corpora : dict of str -> str, optional
        One-sentence-per-line text per language: target words of that language are
        probed in contexts sampled from it (seed 003 §4.1), instead of alone.
    seed : int
    """

    model: str = MODEL
    data: str = ""
    lang_a: str = "en"
    lang_b: str = "es"
    pairs: int | None = None
    layers: list[str] | None = None
    batch_size: int = 32
    n_concepts: int = 150
    concept_layers: list[str] | None = None
    min_freq: int = 5
    max_freq: int = 10
    wt_min_count: int = 3
    affective_languages: list[str] | None = None
    affective_words: int = 300
    affective_contexts: int = 3
    top_k: int = 100
    sentence_pooling: str = "mean"
    affective_corpora: dict[str, str] | None = None
    seed: int = 0
    quick: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quick_config(**overrides: Any) -> DemoConfig:
    """Smoke-test settings (< 3 minutes on 2 cores): 400 pairs, 5 layers, K = 40."""
    base = DemoConfig(data=str(default_data_path()), pairs=400,
                      layers=["0", "3", "6", "9", "12"], n_concepts=40, min_freq=3,
                      affective_words=120, affective_contexts=2, quick=True)
    return replace(base, **overrides)


def full_config(**overrides: Any) -> DemoConfig:
    """The full demo (< 15 minutes on 2 cores): all 3,000 pairs, all 13 layers, K = 150
    on the even layers."""
    base = DemoConfig(data=str(default_data_path()),
                      concept_layers=["0", "2", "4", "6", "8", "10", "12"])
    return replace(base, **overrides)


def add_setup_arguments(parser: Any, *, out: str, parallel: bool = True) -> None:
    """Add the options every paper script shares to an ``argparse`` parser:
    ``--model``, ``--data`` (+ ``--langs``, ``--pairs`` when ``parallel``), ``--quick``,
    ``--out``."""
    parser.add_argument("--model", default=None, help="hf model (default: offline e5-small)")
    parser.add_argument("--data", default=None,
                        help="parallel TSV (header: two language codes)")
    if parallel:
        parser.add_argument("--langs", default=None, help="its two languages, e.g. en,es")
        parser.add_argument("--pairs", type=int, default=None, help="use the first N pairs")
    parser.add_argument("--quick", action="store_true",
                        help="smoke-test settings (400 pairs, 5 layers, small K)")
    parser.add_argument("--out", default=out, help="report directory")


def config_from_args(args: Any, **overrides: Any) -> DemoConfig:
    """A :class:`DemoConfig` from :func:`add_setup_arguments` options plus overrides
    (``None`` overrides are ignored)."""
    over = {k: v for k, v in overrides.items() if v is not None}
    if args.model:
        over["model"] = args.model
    if args.data:
        over["data"] = args.data
    if getattr(args, "langs", None):
        over["lang_a"], over["lang_b"] = args.langs.split(",")
    if getattr(args, "pairs", None):
        over["pairs"] = args.pairs
    return (quick_config if args.quick else full_config)(**over)


# -- helpers -----------------------------------------------------------------------------------
class _Reporter:
    """Rich output (or silence): headings, tables and a progress bar per stage."""

    def __init__(self, console: Any = None) -> None:
        self.console = console

    def rule(self, text: str) -> None:
        if self.console is not None:
            self.console.rule(f"[bold]{text}")

    def print(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, highlight=False)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.console is not None:
            from interlingua.registry.commands import make_table

            self.console.print(make_table(title, columns, rows))

    def progress(self, description: str, total: int):
        return _Stage(self.console is not None, description, total)


class _Stage:
    def __init__(self, enabled: bool, description: str, total: int) -> None:
        self.enabled, self.description, self.total = enabled, description, total
        self.bar = None

    def __enter__(self) -> _Stage:
        if self.enabled:
            from interlingua.registry.commands import make_progress

            self.bar = make_progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=self.total)
        return self

    def advance(self, text: str | None = None) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1,
                            description=f"{self.description}: {text}" if text else None)

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


def _slug(cfg: DemoConfig, what: str, extra: Any = None) -> str:
    key = json.dumps([what, cfg.model, str(Path(cfg.data).resolve()), cfg.pairs, cfg.layers,
                      cfg.sentence_pooling, extra], sort_keys=True, default=str)
    name = cfg.model.replace("builtin:", "").replace("/", "_")
    return f"{what}-{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.h5"


def _read_pairs(cfg: DemoConfig) -> tuple[list[str], list[str]]:
    """The first ``cfg.pairs`` rows of the parallel TSV as (lang_a texts, lang_b texts)."""
    from interlingua.plugins.extraction.corpus import read_corpus

    corpus = read_corpus(cfg.data, format="tsv")
    by_pair: dict[int, dict[str, str]] = {}
    for s in corpus:
        by_pair.setdefault(s.pair_id, {})[s.lang] = s.text or " ".join(s.words)
    ids = sorted(p for p, d in by_pair.items() if cfg.lang_a in d and cfg.lang_b in d)
    if not ids:
        raise InputError(f"{cfg.data}: no {cfg.lang_a}-{cfg.lang_b} sentence pairs")
    if cfg.pairs is not None:
        ids = ids[: cfg.pairs]
    return [by_pair[i][cfg.lang_a] for i in ids], [by_pair[i][cfg.lang_b] for i in ids]


def _extract(cfg: DemoConfig, corpus: Any, path: Path, rep: _Reporter) -> dict[str, Any]:
    """Extract into ``path`` unless a complete store with these settings is there."""
    import warnings

    from interlingua.core.store import ActivationStore
    from interlingua.registry import get_extractor

    ex = get_extractor("hf", model=cfg.model, layers=cfg.layers, batch_size=cfg.batch_size,
                       sentence_pooling=cfg.sentence_pooling, progress=rep.console is not None)
    start = time.perf_counter()
    state = "new"
    if path.exists():
        try:
            with ActivationStore.open(path):
                state = "cached"
        except Exception:  # incomplete (interrupted) or unreadable: resume / redo
            state = "resumed"
    if state == "cached":
        rep.print(f"reusing cached store [cyan]{path}[/cyan]")
        return {"path": str(path), "state": "cached", "seconds": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            ex.extract(corpus, path, resume=state == "resumed")
        except InputError:
            if state != "resumed":
                raise
            state = "redone"
            ex.extract(corpus, path, overwrite=True)
    return {"path": str(path), "state": state, "seconds": time.perf_counter() - start,
            **{k: v for k, v in getattr(ex, "last_run_", {}).items()
               if isinstance(v, (int, float, str))}}


# -- stages --------------------------------------------------------------------------------------
def _similarity(cfg: DemoConfig, store: Any, layers: list[str], rep: _Reporter) -> dict[str, Any]:
    from interlingua.plugins.similarity.compare import compare_layers

    with rep.progress("similarity", len(layers)) as bar:
        comp = compare_layers(store, None, list(SIMILARITY_METRICS), lang_a=cfg.lang_a,
                              lang_b=cfg.lang_b, level="sentences", layers=layers,
                              on_layer=bar.advance)
    rows = [[layer, *[comp.results[m][layer].value for m in comp.labels]] for layer in layers]
    rep.table(f"sentence similarity {cfg.lang_a}-{cfg.lang_b} ({comp.info['n']} verse pairs)",
              ["layer", *comp.labels], rows)
    return comp.to_dict()


def _dictionary(cfg: DemoConfig, store: Any, out: Path, rep: _Reporter) -> Any:
    from interlingua.plugins.concepts.dictionary_induction import induce_from_store

    try:
        import eflomal  # noqa: F401

        backend = "eflomal"
    except ImportError:
        backend = "ibm1"
        rep.print("[yellow]eflomal is not installed: using the IBM Model 1 aligner[/yellow]")
    table = induce_from_store(store, cfg.lang_a, cfg.lang_b, backend=backend)
    table.write_arrow(out / "dictionary.txt", nbest=10)
    return table, backend


def _type_vectors(store: Any, layer: str, rows: np.ndarray, index: np.ndarray,
                  n_types: int) -> np.ndarray:
    """Mean occurrence row per word type (``index`` = type of each row)."""
    X = store.layer(layer, "words").read(rows).astype(np.float64)
    sums = np.zeros((n_types, X.shape[1]))
    np.add.at(sums, index, X)
    return sums / np.bincount(index, minlength=n_types)[:, None]


def _vocab(store: Any, lang: str, min_count: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Word types with ≥ min_count occurrences: (types, their occurrence rows, type index)."""
    rows = store.word_rows(lang)
    words = store.words.text[rows]
    types, inverse, counts = np.unique(words, return_inverse=True, return_counts=True)
    keep_type = counts >= min_count
    new_id = np.cumsum(keep_type) - 1
    mask = keep_type[inverse]
    return [str(t) for t in types[keep_type]], rows[mask], new_id[inverse[mask]]


def _word_translation(cfg: DemoConfig, store: Any, layers: list[str], table: Any,
                      rep: _Reporter) -> dict[str, Any]:
    from interlingua.plugins.similarity.word_translation import evaluate_word_translation

    src_types, src_rows, src_idx = _vocab(store, cfg.lang_a, cfg.wt_min_count)
    tgt_types, tgt_rows, tgt_idx = _vocab(store, cfg.lang_b, cfg.wt_min_count)
    tgt_set = set(tgt_types)
    dictionary = table.dictionary()
    pairs = []
    for s in src_types:
        if not any(ch.isalpha() for ch in s):
            continue  # punctuation and numbers translate trivially
        best = dictionary.translations(s, 1)
        if best and best[0] in tgt_set:
            pairs.append((s, best[0]))
    if len(pairs) < 20:
        raise InputError(f"only {len(pairs)} dictionary pairs inside the vocabularies")
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(pairs))
    n_test = max(10, len(pairs) // 5)
    test = [pairs[i] for i in order[:n_test]]
    train = [pairs[i] for i in order[n_test:]]
    # Gold: every translation with p(t|s) >= 0.1 counts (seed 002 counts any gold
    # translation); the 1-best is always among them.
    gold_test = [(s, t) for s, _ in test for t in dictionary.translations(s, 10)
                 if t in tgt_set and (dictionary.probability(s, t) or 0.0) >= 0.1]
    results: dict[str, Any] = {}
    with rep.progress("word translation", len(layers)) as bar:
        for layer in layers:
            S = _type_vectors(store, layer, src_rows, src_idx, len(src_types))
            T = _type_vectors(store, layer, tgt_rows, tgt_idx, len(tgt_types))
            res = evaluate_word_translation(S, src_types, T, tgt_types, train, gold_test,
                                            ks=(1, 5, 10))
            results[layer] = res.to_dict()
            bar.advance(layer)
    rows = [[layer, results[layer]["precision"]["cosine"]["p@1"],
             results[layer]["precision"]["csls"]["p@1"],
             results[layer]["precision"]["csls"]["p@10"]] for layer in layers]
    rep.table(f"Procrustes word translation {cfg.lang_a}->{cfg.lang_b} "
              f"({len(train)} train pairs, {len(test)} test words)",
              ["layer", "P@1 cosine", "P@1 CSLS", "P@10 CSLS"], rows)
    return {"layers": layers, "results": results, "n_train": len(train), "n_test": len(test),
            "n_src_types": len(src_types), "n_tgt_types": len(tgt_types),
            "min_count": cfg.wt_min_count, "test_pairs": test, "train_pairs": train,
            "gold_test_pairs": gold_test}


def _concepts(cfg: DemoConfig, store: Any, layers: list[str], table: Any, out: Path,
              rep: _Reporter) -> dict[str, Any]:
    from interlingua.core.outputs import atomic_output
    from interlingua.plugins.concepts.pipeline import (
        FrequencyFilter,
        calign_layers,
        colap_layers,
        discover_concepts,
    )
    from interlingua.registry import get_discoverer

    path = out / "concepts.h5"
    filt = FrequencyFilter(min_freq=cfg.min_freq, max_freq=cfg.max_freq, seed=cfg.seed)
    km = get_discoverer("kmeans", n_clusters=cfg.n_concepts, random_state=cfg.seed)
    langs = [cfg.lang_a, cfg.lang_b]
    # A fresh concept file, replacing the previous run's only when complete.
    with rep.progress("concepts", 3 * len(layers)) as bar, \
            atomic_output(path, overwrite=True) as tmp:
        def tick(run: Any) -> None:
            bar.advance(f"layer {run.layer} {run.key}")

        discover_concepts(store, layers, discoverer=km, languages=langs, freq_filter=filt,
                          output=tmp, callback=tick)
        discover_concepts(store, layers, discoverer=km, languages=langs, mixed=True,
                          freq_filter=filt, output=tmp, callback=tick)
    calign = calign_layers(path, cfg.lang_a, cfg.lang_b, table.dictionary(), layers)
    colap = colap_layers(path, layers)
    rows = [[layer, calign.results[layer].value, colap.results[layer].value,
             calign.results[layer].details.get("n_source_concepts")] for layer in layers]
    rep.table(f"latent concepts (k-means K={cfg.n_concepts})",
              ["layer", "CALIGN %", "COLAP %", "source concepts"], rows)
    return {"n_clusters": cfg.n_concepts, "filter": filt.to_dict(), "concepts_file": str(path),
            "calign": calign.to_dict(full=False), "colap": colap.to_dict(full=False)}


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


def _affective(cfg: DemoConfig, store: Any, cache: Path, rep: _Reporter,
               layers: list[str]) -> dict[str, Any]:
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
        path = cache / _slug(cfg, "words", [alone, cfg.affective_words, cfg.affective_contexts,
                                            sorted(corpora.items()), cfg.seed])
        extraction = _extract(replace(cfg, batch_size=max(cfg.batch_size, 128)), records,
                              path, rep)
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
                             progress=rep.console is not None)
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


# -- findings ----------------------------------------------------------------------------------
def _layer_numbers(layers: Sequence[str]) -> np.ndarray:
    return np.array([float(str(x).split("/")[-1]) for x in layers])


def findings_check(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The seeds' qualitative findings, checked against this run's numbers.

    * seed 001: ANC rises from the embedding layer into the middle layers — holds if the
      maximum ANC over the middle third of the layers exceeds the ANC of layer 0.
    * seed 000: CALIGN rises with depth — holds if Spearman's ρ(layer, CALIGN) > 0 and the
      last layer's CALIGN exceeds the first's.
    * seed 003: top affective neurons overlap across languages above chance — holds if the
      mean pairwise fold enrichment of the top-k sets is > 1 and most pairs are
      significant (p < 0.05).
    """
    from scipy import stats

    out: list[dict[str, Any]] = []
    sim = results.get("similarity")
    if sim:
        layers = sim["layers"]
        anc = [sim["results"]["anc"][layer]["value"] for layer in layers]
        nums = _layer_numbers(layers)
        lo, hi = nums.min() + (nums.max() - nums.min()) / 3, nums.max() - (
            nums.max() - nums.min()) / 3
        middle = [i for i, v in enumerate(nums) if lo <= v <= hi] or list(range(len(layers)))
        best_mid = max(middle, key=lambda i: anc[i])
        holds = anc[best_mid] > anc[0]
        out.append({
            "seed": "001 (Del & Fishel)", "claim": "ANC rises from the embedding layer into "
            "the middle layers", "holds": bool(holds),
            "numbers": {"anc_layer0": anc[0], "best_middle_layer": layers[best_mid],
                        "anc_best_middle": anc[best_mid], "anc_last": anc[-1],
                        "peak_layer": layers[int(np.argmax(anc))]},
            "text": f"ANC {anc[0]:.3f} at layer {layers[0]} → {anc[best_mid]:.3f} at layer "
                    f"{layers[best_mid]} (peak at layer {layers[int(np.argmax(anc))]}, "
                    f"{anc[-1]:.3f} at the last layer)",
        })
    conc = results.get("concepts")
    if conc:
        lay = conc["calign"]["layers"]
        layers = list(lay)
        vals = [lay[layer]["value"] for layer in layers]
        rho = float(stats.spearmanr(_layer_numbers(layers), vals).statistic) \
            if len(set(vals)) > 1 else 0.0
        holds = rho > 0 and vals[-1] > vals[0]
        out.append({
            "seed": "000 (Mousi et al.)", "claim": "CALIGN rises with depth",
            "holds": bool(holds),
            "numbers": {"calign_first": vals[0], "calign_last": vals[-1], "spearman_rho": rho,
                        "peak_layer": layers[int(np.argmax(vals))]},
            "text": f"CALIGN {vals[0]:.1f}% at layer {layers[0]} → {vals[-1]:.1f}% at layer "
                    f"{layers[-1]} (Spearman ρ with depth {rho:.2f}, peak at layer "
                    f"{layers[int(np.argmax(vals))]})",
        })
    aff = results.get("affective")
    if aff and "pairwise_fold_enrichment" in aff:
        m = np.array(aff["pairwise_fold_enrichment"]["matrix"], dtype=float)
        p = np.array(aff["pairwise_fold_enrichment"]["pvalues"], dtype=float)
        iu = np.triu_indices_from(m, k=1)
        fe, pv = m[iu], p[iu]
        frac_sig = float(np.mean(pv < 0.05))
        holds = float(np.mean(fe)) > 1 and frac_sig > 0.5
        out.append({
            "seed": "003 (de Varda & Marelli)",
            "claim": "top affective neurons overlap across languages above chance (FE > 1)",
            "holds": bool(holds),
            "numbers": {"mean_pairwise_fe": float(np.mean(fe)), "min_pairwise_fe":
                        float(np.min(fe)), "max_pairwise_fe": float(np.max(fe)),
                        "share_pairs_p_below_0.05": frac_sig, "layer": aff["top_sets"]["layer"],
                        "n_languages": len(aff["pairwise_fold_enrichment"]["languages"])},
            "text": f"mean pairwise fold enrichment {np.mean(fe):.2f} (range "
                    f"{np.min(fe):.2f}–{np.max(fe):.2f}); {100 * frac_sig:.0f}% of the "
                    f"{fe.size} language pairs have p < 0.05 (layer "
                    f"{aff['top_sets']['layer']}, top-{aff['top_sets']['k']} neurons)",
        })
    return out


# -- figures and report ----------------------------------------------------------------------------
def _figures(results: dict[str, Any], out: Path) -> dict[str, str]:
    from interlingua.core.plotting import _pyplot, plot_heatmap, plot_layer_curves, save_figure

    figs: dict[str, str] = {}
    model = results["config"]["model"].replace("builtin:", "")
    sim = results.get("similarity")
    if sim:
        layers = sim["layers"]
        curves = {m: [sim["results"][m][layer]["value"] for layer in layers]
                  for m in ("anc", "cka", "cka[debiased=True]", "svcca", "pwcca")}
        figs["similarity"] = plot_layer_curves(
            curves, layers, ylabel="similarity", path=out / "similarity.png",
            title=f"en–es sentence similarity by layer ({model})", bold=("anc",)).name
        curves = {"cosine": [sim["results"]["retrieval"][layer]["value"] for layer in layers],
                  "CSLS": [sim["results"]["retrieval[method=csls]"][layer]["value"]
                           for layer in layers]}
        figs["retrieval"] = plot_layer_curves(
            curves, layers, ylabel="P@1", path=out / "sentence_retrieval.png", ylim=(0, 1.02),
            title=f"en→es sentence retrieval ({model})").name
    wt = results.get("word_translation")
    if wt:
        layers = wt["layers"]
        curves = {f"{m} P@{k}": [wt["results"][layer]["precision"][m][f"p@{k}"]
                                 for layer in layers]
                  for m in ("cosine", "csls") for k in (1, 10)}
        figs["word_translation"] = plot_layer_curves(
            curves, layers, ylabel="precision", path=out / "word_translation.png",
            ylim=(0, 1.02), title=f"Procrustes word translation en→es ({model})").name
    conc = results.get("concepts")
    if conc:
        for key, label in (("calign", "CALIGN (%)"), ("colap", "COLAP (%)")):
            lay = conc[key]["layers"]
            figs[key] = plot_layer_curves(
                {key.upper(): [lay[layer]["value"] for layer in lay]}, list(lay),
                ylabel=label, path=out / f"{key}.png", ylim=(0, 100),
                title=f"{key.upper()} en–es, K={conc['n_clusters']} ({model})").name
    aff = results.get("affective")
    if aff and "probe" in aff:
        pr = aff["probe"]
        curves = {lg: pr["scores"][lg] for lg in pr["languages"]}
        curves["mean"] = pr["mean"]
        figs["affective_probe"] = plot_layer_curves(
            curves, pr["layers"], ylabel="test Pearson r", path=out / "affective_probe.png",
            title=f"labMT happiness probes by layer ({model})", bold=("mean",)).name
        pf = aff["pairwise_fold_enrichment"]
        m = np.array(pf["matrix"], dtype=float)
        figs["affective_overlap"] = plot_heatmap(
            m, pf["languages"], path=out / "affective_overlap.png",
            colorbar_label="fold enrichment", title=f"top-{aff['top_sets']['k']} neuron overlap,"
            f" layer {aff['top_sets']['layer']}").name
        recs = aff["records"]
        if recs:
            plt = _pyplot()
            fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
            for layer in dict.fromkeys(r["layer"] for r in recs):
                sel = [r for r in recs if r["layer"] == layer]
                ax.scatter([r["mpo"] for r in sel], [r["performance"] for r in sel],
                           label=f"layer {layer}", s=18)
            ax.set_xlabel("mean pairwise overlap (MPO)")
            ax.set_ylabel("probe test r")
            ax.set_title("probe performance vs MPO (mixed model input)")
            ax.legend(fontsize=8, frameon=False)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            try:
                save_figure(fig, out / "mpo_performance.png")
            finally:
                plt.close(fig)
            figs["mpo"] = "mpo_performance.png"
    return figs


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _report_md(results: dict[str, Any]) -> str:
    cfg = results["config"]
    st = results["store"]
    parts = [
        "# interlingua demo report", "",
        f"Model `{cfg['model']}`, data `{Path(cfg['data']).name}` "
        f"({st['n_pairs']} {cfg['lang_a']}–{cfg['lang_b']} verse pairs, {st['n_words']} words), "
        f"layers {', '.join(st['layers'])}{' — quick run' if cfg['quick'] else ''}. "
        f"Every number below comes from `results.json` (written by the plugins).", "",
        "## Findings check", "",
    ]
    for f in results["findings"]:
        parts.append(f"* **{'holds' if f['holds'] else 'does not hold'}** — seed {f['seed']}: "
                     f"{f['claim']}. {f['text']}.")
    sim = results.get("similarity")
    if sim:
        labels = sim["metrics"]
        parts += ["", "## Sentence similarity and retrieval (seeds 001, 002)", "",
                  f"{sim['n']} paired verses, mean-pooled word vectors."
                  + (f" Caution: with {sim['n']} rows for {st.get('dim')} neurons, CCA over all "
                     "neurons (PWCCA) is overfit and close to 1; SVCCA keeps 20 directions."
                     if st.get("dim") and sim["n"] < 4 * st["dim"] else ""), "",
                  _md_table(["layer", *labels],
                            [[layer, *[sim["results"][m][layer]["value"] for m in labels]]
                             for layer in sim["layers"]]),
                  "", "![similarity](similarity.png)", "",
                  "![sentence retrieval](sentence_retrieval.png)"]
    wt = results.get("word_translation")
    if wt:
        parts += ["", "## Procrustes word translation (seed 002 §5.1)", "",
                  f"Dictionary induced with {results.get('dictionary_backend')} from the same "
                  f"verses (`dictionary.txt`); {wt['n_train']} training pairs, {wt['n_test']} "
                  f"test words; vectors = mean over ≥{wt['min_count']} occurrences. eflomal "
                  "samples without a seed, so the dictionary (and these numbers) vary "
                  "slightly between runs.", "",
                  _md_table(["layer", "P@1 cosine", "P@1 CSLS", "P@10 CSLS"],
                            [[layer, wt["results"][layer]["precision"]["cosine"]["p@1"],
                              wt["results"][layer]["precision"]["csls"]["p@1"],
                              wt["results"][layer]["precision"]["csls"]["p@10"]]
                             for layer in wt["layers"]]),
                  "", "![word translation](word_translation.png)"]
    conc = results.get("concepts")
    if conc:
        cal, col = conc["calign"]["layers"], conc["colap"]["layers"]
        parts += ["", "## Latent concepts: CALIGN and COLAP (seed 000)", "",
                  f"k-means with K={conc['n_clusters']} per layer (seed 000 used K=600 on ~10× "
                  f"more word types); frequency filter {conc['filter']}.", "",
                  _md_table(["layer", "CALIGN %", "COLAP %"],
                            [[layer, cal[layer]["value"], col[layer]["value"]] for layer in cal]),
                  "", "![CALIGN](calign.png)", "", "![COLAP](colap.png)"]
    aff = results.get("affective")
    if aff and "probe" in aff:
        pr = aff["probe"]
        modes = "; ".join(f"{lg}: {v['mode']} ({v['words']} words)"
                          for lg, v in aff["languages"].items())
        mm = aff["mixed_model"]
        parts += ["", "## Affective neurons (seed 003)", "",
                  "labMT happiness (min-max normalised). Offline text exists only for English "
                  "and Spanish, so their words are probed in the Bible verses of the store "
                  "(occurrences sampled per word) and the other languages' words are run "
                  "alone (one-word input) — a weaker setting than seed 003's 15 contexts "
                  f"per word. {modes}.", "",
                  _md_table(["layer", *pr["languages"], "mean"],
                            [[layer, *[pr["scores"][lg][i] for lg in pr["languages"]],
                              pr["mean"][i]] for i, layer in enumerate(pr["layers"])]),
                  "", "![affective probes](affective_probe.png)", "",
                  f"Top-{aff['top_sets']['k']} neurons by |w| at layer "
                  f"{aff['top_sets']['layer']} (background {aff['background']} neurons); "
                  "pairwise fold enrichment from the super exact test:", "",
                  "![overlap](affective_overlap.png)", "",
                  _md_table(["language", "MPO"], [[lg, v] for lg, v in aff["mpo"].items()]),
                  "", f"Mixed model ({aff['mixed_model_design']}): "
                  + (f"slope {mm['slope']:.4f} (SE {mm['se']:.4f}, p {mm['pvalue']:.3g}); "
                     f"Pearson r(performance, MPO) = {mm['pearson_r']:.3f}."
                     if "slope" in mm else mm.get("error", "")),
                  "", "![MPO vs performance](mpo_performance.png)"]
    parts += ["", "## Timing", "", _md_table(["stage", "seconds"],
                                              [[k, v] for k, v in results["timing"].items()]),
              ""]
    return "\n".join(parts)


# -- driver ------------------------------------------------------------------------------------
def run_demo(out: str | Path, config: DemoConfig | None = None, *, console: Any = None,
             steps: Sequence[str] = ("similarity", "word_translation", "concepts", "affective"),
             on_stage: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Run the demo into directory ``out`` and return the results (also in results.json).

    Parameters
    ----------
    out : path
        Report directory (``report.md``, ``results.json``, PNGs; activation stores in
        ``out/cache``, reused by later runs with the same settings).
    config : DemoConfig
        Defaults to :func:`full_config`.
    console : rich Console, optional
        Where progress and tables go (None = silent).
    steps : sequence of str
        Analyses to run.
    """
    from interlingua.core.store import ActivationStore
    from interlingua.plugins.affective.norms import tokenize
    from interlingua.plugins.extraction.corpus import Corpus, CorpusSentence

    cfg = config or full_config()
    if not cfg.data:
        cfg = replace(cfg, data=str(default_data_path()))
    if not Path(cfg.data).exists():
        raise InputError(f"data file {cfg.data} not found")
    unknown = set(steps) - {"similarity", "word_translation", "concepts", "affective"}
    if unknown:
        raise InputError(f"unknown demo step(s): {', '.join(sorted(unknown))}")
    rep = _Reporter(console)
    out = Path(out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    t_all = time.perf_counter()

    def stage_done(name: str, t0: float) -> None:
        timing[name] = round(time.perf_counter() - t0, 2)
        if on_stage is not None:
            on_stage(name, timing[name])

    t0 = time.perf_counter()
    rep.rule("1/6 extraction")
    texts_a, texts_b = _read_pairs(cfg)
    sentences = []
    for i, (a, b) in enumerate(zip(texts_a, texts_b)):
        sentences.append(CorpusSentence(tokenize(a), cfg.lang_a, pair_id=i, text=a))
        sentences.append(CorpusSentence(tokenize(b), cfg.lang_b, pair_id=i, text=b))
    store_path = cache / _slug(cfg, "bible")
    extraction = _extract(cfg, Corpus(sentences, format="memory"), store_path, rep)
    stage_done("extraction", t0)
    results: dict[str, Any] = {"config": cfg.to_dict(), "extraction": extraction}
    with ActivationStore.open(store_path) as store:
        layers = list(store.layers)
        results["store"] = {"path": str(store_path), "n_pairs": len(texts_a),
                            "n_sentences": store.n_sentences, "n_words": store.n_words,
                            "layers": layers, "model": store.attrs.get("model", ""),
                            "dim": int(store.layer(layers[-1], "sentences").dim)}
        rep.print(f"store: {store.n_sentences} sentences, {store.n_words} words, layers "
                  f"{', '.join(layers)}")
        if "similarity" in steps:
            t0 = time.perf_counter()
            rep.rule("2/6 similarity: ANC, CKA, SVCCA/PWCCA, sentence retrieval")
            results["similarity"] = _similarity(cfg, store, layers, rep)
            stage_done("similarity", t0)
        table = None
        if "word_translation" in steps or "concepts" in steps:
            t0 = time.perf_counter()
            rep.rule("3/6 dictionary induction")
            table, backend = _dictionary(cfg, store, out, rep)
            results["dictionary_backend"] = backend
            results["dictionary_file"] = "dictionary.txt"
            stage_done("dictionary", t0)
        if "word_translation" in steps:
            t0 = time.perf_counter()
            rep.rule("4/6 Procrustes word translation")
            results["word_translation"] = _word_translation(cfg, store, layers, table, rep)
            stage_done("word_translation", t0)
        if "concepts" in steps:
            t0 = time.perf_counter()
            rep.rule("5/6 latent concepts: CALIGN, COLAP")
            c_layers = [x for x in layers if cfg.concept_layers is None
                        or x in set(cfg.concept_layers)] or layers
            results["concepts"] = _concepts(cfg, store, c_layers, table, out, rep)
            stage_done("concepts", t0)
        if "affective" in steps:
            t0 = time.perf_counter()
            rep.rule("6/6 affective neurons: probes, super exact test, MPO, mixed model")
            results["affective"] = _affective(cfg, store, cache, rep, layers)
            stage_done("affective", t0)
    results["findings"] = findings_check(results)
    t0 = time.perf_counter()
    results["figures"] = _figures(results, out)
    stage_done("figures", t0)
    timing["total"] = round(time.perf_counter() - t_all, 2)
    results["timing"] = timing
    from interlingua.core.outputs import atomic_write_text
    from interlingua.registry.commands import write_json

    # The demo owns its directory and refreshes its own files (atomically).
    write_json(out / "results.json", to_jsonable(results), overwrite=True)
    atomic_write_text(out / "report.md", _report_md(results), overwrite=True)
    rep.rule("findings check (seed claims vs. this run's numbers)")
    for f in results["findings"]:
        mark = "[green]holds[/green]" if f["holds"] else "[red]does not hold[/red]"
        rep.print(f"{mark} — seed {f['seed']}: {f['claim']}. {f['text']}")
    return results

