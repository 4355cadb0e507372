"""Quickstart: a small end-to-end run of interlingua without any model download.

It writes a synthetic two-language parallel activation store (six "layers" in which a
shared meaning signal grows with depth while language-specific signal shrinks), then
runs the same CLI commands a user would type on a real store:

    interlingua info quickstart-output/synthetic.h5
    interlingua compare quickstart-output/synthetic.h5 -m anc -m cka ... -o quickstart-output
    interlingua run metric:cka quickstart-output/synthetic.h5:5@en ...:5@es --param debiased=true

    python examples/quickstart.py [--out quickstart-output]

The real pipeline (`interlingua extract` on a multilingual model, then `compare`,
`concepts`, `probe`, ...) is described in README.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import interlingua as il
from interlingua.cli import main as cli_main
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.registry.commands import console

N_PAIRS, DIM, LAYERS = 300, 32, 6


def write_store(path: Path, seed: int = 0) -> None:
    """Parallel en/es 'activations': layer l mixes a shared meaning vector (weight
    rising with l) with language-specific noise."""
    rng = np.random.default_rng(seed)
    meaning = rng.normal(size=(N_PAIRS, DIM))
    mixing = {lang: [rng.normal(size=(DIM, DIM)) / np.sqrt(DIM) for _ in range(LAYERS)]
              for lang in ("en", "es")}
    writer = ActivationStore.create(path, model="synthetic", extractor="quickstart",
                                    overwrite=True)
    records, words_per_sentence = [], []
    for pair in range(N_PAIRS):
        for lang in ("en", "es"):
            n = int(rng.integers(3, 9))
            records.append(SentenceRecord([f"{lang}{pair}_{k}" for k in range(n)], lang, pair))
            words_per_sentence.append(n)
    layers = {}
    for layer in range(LAYERS):
        share = layer / (LAYERS - 1)
        rows = []
        for pair in range(N_PAIRS):
            for lang in ("en", "es"):
                signal = meaning[pair] @ (np.eye(DIM) * 0.5 + 0.5 * mixing[lang][0])
                rows.append(share * signal + (1.2 - share) * rng.normal(size=DIM))
        sentences = np.array(rows)
        words = np.repeat(sentences, words_per_sentence, axis=0)
        words += 0.3 * rng.normal(size=words.shape)
        layers[str(layer)] = {"words": words, "sentences": sentences}
    writer.append(records, layers)
    writer.finalize(note="synthetic data written by examples/quickstart.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("quickstart-output"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "synthetic.h5"
    write_store(store)
    console.print(f"wrote {store}")
    metrics = ["anc", "cka", "cka:debiased=true", "svcca", "pwcca", "procrustes", "retrieval"]
    installed = {p.name for p in il.list_plugins("metric")}
    metrics += [m for m in ("rsa",) if m in installed]  # third-party, if installed
    steps = [
        ["info", str(store)],
        ["compare", str(store), "--lang-a", "en", "--lang-b", "es",
         *[arg for m in metrics for arg in ("-m", m)], "-o", str(args.out)],
        ["run", "metric:cka", f"{store}:5@en", f"{store}:5@es", "--param", "debiased=true",
         "--out", str(args.out / "cka_layer5.json")],
    ]
    for step in steps:
        console.print(f"\n[bold]$ interlingua {' '.join(step)}[/bold]")
        code = cli_main(step)
        if code:
            raise SystemExit(code)


if __name__ == "__main__":
    main()
