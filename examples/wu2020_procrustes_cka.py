"""Reproduce Wu, Conneau et al. (2020), *Emerging Cross-lingual Structure in
Pretrained Language Models* (seed 002): word-level Procrustes alignment of averaged
contextual word vectors with CSLS retrieval (Fig. 4b, §5.1), parallel-sentence
retrieval (Fig. 6) and linear CKA of mean-pooled parallel sentences per layer (Fig. 7).

What it runs: the model over parallel sentences; per layer, a word vector = mean of a
word type's occurrence rows; Procrustes fitted on a dictionary induced with eflomal
from the same parallel text (80 % train / 20 % test, P@1/5/10 by cosine and CSLS,
:func:`interlingua.plugins.similarity.word_translation.evaluate_word_translation`); linear and
debiased CKA and sentence retrieval (:func:`interlingua.plugins.similarity.compare.compare_layers`).

Offline default vs. the paper:
* multilingual models (multilingual-e5-small and Gemma 3 270M, offline) instead of pairs of
  *monolingual* BERTs trained by the authors, so the Procrustes map aligns two
  languages inside one model rather than two separate models;
* test dictionary: induced from the six-language Bible per X–en pair instead of MUSE
  (``--data`` takes any parallel TSV; with hub access ``--model bert-base-multilingual-cased``);
* sentence retrieval: without a Procrustes map (seed 002 Fig. 6 maps first).

    python examples/wu2020_procrustes_cka.py [--quick] [--out wu2020-output]
"""

from __future__ import annotations

import argparse

from interlingua.plugins.demo.pipeline import add_setup_arguments, config_from_args, run_demo
from interlingua.registry.commands import console


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--min-count", type=int, default=3,
                    help="occurrences a word type needs to get a vector")
    add_setup_arguments(ap, out="wu2020-output")
    args = ap.parse_args(argv)
    cfg = config_from_args(args, wt_min_count=args.min_count)
    results = run_demo(args.out, cfg, console=console,
                       steps=("similarity", "word_translation"))
    console.print("figures: " + ", ".join(f"{args.out}/{name}"
                                          for name in results["figures"].values())
                  + f"; numbers in {args.out}/results.json")
    return results


if __name__ == "__main__":
    main()
