"""Reproduce Mousi et al. (2024), *Exploring Alignment in Shared Cross-lingual Spaces*
(seed 000): layer-wise concept alignment CALIGN (Figs 2, 4, 5, 11: % of source-language
concepts aligned to a target-language concept) and concept overlap COLAP (Figs 7, 8).

What it runs: the model over parallel sentences; per layer k-means over word
occurrences (frequency filter: types seen ≥ 5 times, ≤ 10 occurrences each), once per
language (CALIGN) and once on the mixed data (COLAP); the translation dictionary is
induced with eflomal + grow-diag-final-and from the same parallel text (the paper:
fast_align + Moses); CALIGN with θ=0.8, 10-best translations, > 5 types, size
ratio ≥ 0.6 (:mod:`interlingua.plugins.concepts.pipeline`).

Offline default vs. the paper:
* models: multilingual-e5-small (BERT body) and Gemma 3 270M (decoder), offline, instead
  of mT5 / mBERT / XLM-R, base models only (no fine-tuned MT / NER / SST-2 checkpoints);
* data: the installed public-domain Bible in six languages (CALIGN for every X–en pair
  with its own eflomal dictionary, COLAP on the mixed data) instead of TED / WMT / news
  data, hence K=150 (quick: 30) instead of 600 — ~10 word types per concept;
  pass ``--concepts 600`` with a larger ``--data``;
* ``--variant reference`` is not exposed here; use ``interlingua calign --variant
  reference`` on the written concepts file (``OUT/concepts-<model>.h5``) for the authors'
  script behaviour.

    python examples/mousi2024_calign_colap.py [--quick] [--out mousi2024-output]
    python examples/mousi2024_calign_colap.py --model google/mt5-base --data my_de_en.tsv
"""

from __future__ import annotations

import argparse

from interlingua.plugins.demo.pipeline import add_setup_arguments, config_from_args, run_demo
from interlingua.registry.commands import console


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concepts", type=int, default=None, help="K of k-means per layer")
    ap.add_argument("--min-freq", type=int, default=None, help="frequency filter minimum")
    add_setup_arguments(ap, out="mousi2024-output")
    args = ap.parse_args(argv)
    cfg = config_from_args(args, n_concepts=args.concepts, min_freq=args.min_freq)
    results = run_demo(args.out, cfg, console=console, steps=("concepts",))
    console.print("figures: " + ", ".join(f"{args.out}/{name}"
                                          for name in results["figures"].values())
                  + f"; numbers in {args.out}/results.json")
    return results


if __name__ == "__main__":
    main()
