"""Quickstart: a small end-to-end run of interlingua without any model download.

It writes a synthetic two-language parallel activation store (six "layers" in which a
shared meaning signal grows with depth while language-specific signal shrinks),
then compares English and Spanish layer by layer with every installed paired metric
(built-in and third-party), printing a rich table and writing JSON, CSV and a PNG.

    python examples/quickstart.py [--out quickstart-output]

The real pipeline (`interlingua extract` on a multilingual model, then
`interlingua compare`, `concepts`, `probe`, ...) is described in README.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import interlingua as il
from interlingua.cli._common import console, print_table, write_outputs
from interlingua.core.store import ActivationStore, SentenceRecord
from interlingua.plotting import plot_layer_curves

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
    store_path = args.out / "synthetic.h5"
    write_store(store_path)
    console.print(f"wrote {store_path}")

    metrics = [info for info in il.list_plugins("metric")
               if info.available and info.metadata().get("input_kind") == "paired"]
    if not metrics:
        console.print("no paired metrics installed")
        return
    curves: dict[str, list[float]] = {m.name: [] for m in metrics}
    rows = []
    with ActivationStore.open(store_path) as store:
        rows_en, rows_es = store.parallel_rows("en", "es")
        for layer in store.layers:
            view = store.layer(layer, "sentences")
            X, Y = view[rows_en], view[rows_es]
            row = {"layer": layer}
            for info in metrics:
                value = il.get_metric(info.name)(X, Y).value
                curves[info.name].append(value)
                row[info.name] = value
            rows.append(row)
    print_table("en vs es, sentence level (synthetic)", ["layer", *curves],
                [[r["layer"], *[r[m] for m in curves]] for r in rows])
    written = write_outputs(args.out, {"layers": rows}, rows, stem="quickstart")
    figure = plot_layer_curves(curves, [r["layer"] for r in rows], ylabel="similarity",
                               title="en–es similarity by layer (synthetic)",
                               path=args.out / "quickstart.png")
    for path in [*written, figure]:
        console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
