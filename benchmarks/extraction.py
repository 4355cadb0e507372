"""Extraction benchmark (issue 3, item 6).

Prints, for the offline multilingual-e5-small (``builtin:``) and a tiny random BERT:

(a) tokens/s of the ``hf`` extractor divided by tokens/s of a bare
    ``model(**batch, output_hidden_states=True)`` loop over the same (length-sorted)
    batches with no storage and pre-tokenized input — the practical limit (target
    >= 0.85);
(b) tokens/s of the ``hf`` extractor divided by tokens/s of NeuroX's transformers
    extractor (one sentence per forward pass), when NeuroX is installed;
(c) peak RSS of an extraction run (fresh process) at 1x and 4x corpus size (target:
    grows < 10%).

Corpus: English–Spanish Bible verse pairs (World English Bible, Reina-Valera 1909;
public domain) read with Debian's ``diatheke`` (``apt-get install diatheke
sword-text-web sword-text-sparv``); without it, sentences are synthesized.

Usage::

    nice -n 10 python benchmarks/extraction.py [--sentences 2000] [--models e5,tiny]
                                               [--neurox-sentences 200] [--no-rss]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REF = re.compile(r"^((?:[1-3] )?[A-Z][A-Za-z ]*?) (\d+):(\d+): ?(.*)$")


def bible_verses(module: str) -> dict[tuple[str, int, int], str]:
    """Verses of a SWORD module as {(book, chapter, verse): text}."""
    out = subprocess.run(["diatheke", "-b", module, "-f", "plain", "-k",
                          "Genesis 1:1-Revelation 22:21"], capture_output=True, text=True,
                         check=True).stdout
    verses: dict[tuple[str, int, int], str] = {}
    key = None
    for line in out.splitlines():
        m = _REF.match(line)
        if m:
            key = (m[1], int(m[2]), int(m[3]))
            verses[key] = m[4].strip()
        elif key is not None and line.strip() and not line.startswith("("):
            verses[key] += " " + line.strip()
    return {k: " ".join(v.split()) for k, v in verses.items() if v.strip()}


def bible_pairs() -> list[tuple[str, str]]:
    """English-Spanish verse pairs (cached: diatheke needs ~30 s per translation)."""
    from interlingua.plugins.extraction.models import cache_dir

    cache = cache_dir() / "bible-web-rv1909.tsv"
    if cache.is_file():
        return [tuple(line.split("\t")) for line in cache.read_text("utf-8").splitlines()]
    if not shutil.which("diatheke"):
        return []
    try:
        en = bible_verses("engWEB2015eb")
        es = bible_verses("spaRV1909eb")
    except (subprocess.CalledProcessError, OSError):
        return []
    pairs = [(en[k], es[k]) for k in en if k in es and "\t" not in en[k] + es[k]]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    tmp.write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    os.replace(tmp, cache)
    return pairs


def make_corpus(path: Path, n_sentences: int, offset: int = 0) -> str:
    """A TSV of en/es pairs with ``n_sentences`` sentences; returns the source name."""
    pairs = bible_pairs()
    source = "bible (WEB / RV1909 via diatheke)" if pairs else "synthetic"
    if len(pairs) < offset + n_sentences // 2:
        from interlingua.plugins.extraction.models.tiny import SAMPLE_SENTENCES

        base = list(SAMPLE_SENTENCES)
        pairs = [(f"{base[i % 10]} {base[(i * 7 + 3) % 10]} {i}",
                  f"{base[(i + 5) % 10]} {base[(i * 3 + 1) % 10]} {i}")
                 for i in range(offset + n_sentences)]
        source = "synthetic"
    rows = pairs[offset : offset + n_sentences // 2]
    path.write_text("en\tes\n" + "".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return source


def model_dir(kind: str, work: Path) -> str:
    if kind == "e5":
        from interlingua.plugins.extraction.models import resolve_builtin

        resolve_builtin("builtin:multilingual-e5-small")
        return "builtin:multilingual-e5-small"
    from interlingua.plugins.extraction.models.tiny import build_tiny_model

    return str(build_tiny_model("bert", work / "tiny-bert"))


def bare_loop(model_name: str, corpus, batch_size: int, sort_window: int) -> dict:
    """tokens/s of model(**batch, output_hidden_states=True) over the extractor's batches."""
    import torch

    from interlingua.plugins.extraction.hf import (
        load_model,
        pad_batch,
        plan_batches,
        tokenize_window,
    )

    loaded = load_model(model_name, device="cpu")
    batches = []
    for lo in range(0, len(corpus), sort_window):
        toks = tokenize_window(loaded.tokenizer, corpus.sentences[lo : lo + sort_window], lo,
                               prefix="", max_length=loaded.max_length)
        for b in plan_batches(toks, batch_size, 8192):
            ids, mask = pad_batch([toks[i].ids for i in b], loaded.pad_id)
            batches.append((torch.from_numpy(ids), torch.from_numpy(mask), int(mask.sum())))
    n_tokens = sum(b[2] for b in batches)
    with torch.inference_mode():
        loaded.model(input_ids=batches[0][0], attention_mask=batches[0][1])  # warm-up
        t0 = time.perf_counter()
        for ids, mask, _ in batches:
            loaded.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        seconds = time.perf_counter() - t0
    return {"tokens": n_tokens, "seconds": seconds, "tokens_per_s": n_tokens / seconds}


def ours(model_name: str, corpus, out: Path, batch_size: int, sort_window: int) -> dict:
    import interlingua as il

    ex = il.get_extractor("hf", model=model_name, batch_size=batch_size,
                          sort_window=sort_window, progress=False)
    t0 = time.perf_counter()
    ex.extract(corpus, out, overwrite=True)
    total = time.perf_counter() - t0
    run = dict(ex.last_run_)
    run["end_to_end_seconds"] = total  # includes model loading and store finalization
    run["store_bytes"] = out.stat().st_size
    return run


def neurox_loop(model_name: str, corpus, n: int) -> dict | None:
    """tokens/s of NeuroX's extractor (its own per-sentence loop and HDF5 writer)."""
    try:
        from neurox.data.extraction import transformers_extractor as tx
        from neurox.data.writer import ActivationsWriter
    except ImportError:
        return None
    import contextlib
    import io

    from interlingua.plugins.extraction.models import is_builtin, resolve_builtin

    path = str(resolve_builtin(model_name)) if is_builtin(model_name) else model_name
    with contextlib.redirect_stdout(io.StringIO()):
        model, tokenizer = tx.get_model_and_tokenizer(path)
    sentences = [" ".join(s.words) for s in corpus.sentences[:n]]
    n_tokens = sum(len(tokenizer(s)["input_ids"]) for s in sentences)
    with tempfile.TemporaryDirectory() as tmp:
        writer = ActivationsWriter.get_writer(os.path.join(tmp, "a.hdf5"), filetype="hdf5")
        counts: dict = {}
        t0 = time.perf_counter()
        failed = 0
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            for i, s in enumerate(sentences):
                try:
                    hidden, words = tx.extract_sentence_representations(
                        s, model, tokenizer, aggregation="average", tokenization_counts=counts)
                except (AssertionError, RuntimeError, IndexError):
                    # NeuroX's detokenizer (or its truncation) failed on this sentence
                    failed += 1
                    continue
                writer.write_activations(i, words, hidden)
            writer.close()
        seconds = time.perf_counter() - t0
    return {"sentences": n, "tokens": n_tokens, "seconds": seconds,
            "tokens_per_s": n_tokens / seconds, "failed_sentences": failed}


def rss_child(model_name: str, corpus_path: str, out: str) -> None:
    """Run one extraction and print the process's peak RSS (MiB) as JSON."""
    import interlingua as il

    ex = il.get_extractor("hf", model=model_name, progress=False)
    ex.extract(corpus_path, out, overwrite=True)
    print(json.dumps({"peak_rss_mib": _peak_rss_mib(), **ex.last_run_}))


def _peak_rss_mib() -> float:
    # VmHWM belongs to this process image; ru_maxrss would also count the RSS inherited
    # from the parent at fork (it survives exec).
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss(model_name: str, corpus_path: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--rss-child", model_name,
                           str(corpus_path), str(out)], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--models", default="e5,tiny")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sort-window", type=int, default=256)
    parser.add_argument("--neurox-sentences", type=int, default=200)
    parser.add_argument("--parts", type=int, default=4,
                        help="interleave ours/bare measurements over this many corpus parts")
    parser.add_argument("--rss-model", default="tiny", help="model of the RSS runs (c)")
    parser.add_argument("--no-rss", action="store_true")
    parser.add_argument("--only-rss", action="store_true", help="skip (a) and (b)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--rss-child", nargs=3, metavar=("MODEL", "CORPUS", "OUT"))
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return

    import torch
    import transformers

    from interlingua.plugins.extraction.corpus import Corpus, read_corpus

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    results: dict = {"torch_threads": torch.get_num_threads(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="interlingua-bench-") as tmpdir:
        work = Path(tmpdir)
        corpus_path = work / "corpus.tsv"
        results["corpus"] = make_corpus(corpus_path, args.sentences)
        corpus = read_corpus(corpus_path)
        results["sentences"] = len(corpus)
        print(f"corpus: {len(corpus)} sentences ({results['corpus']})", flush=True)
        for kind in ([] if args.only_rss else args.models.split(",")):
            name = model_dir(kind, work)
            r: dict = {"model": name, "parts": []}
            # Interleave the two measurements part by part, so that both see the same
            # machine load (other processes share these cores).
            size = -(-len(corpus) // args.parts)
            ours_tok = ours_s = bare_tok = bare_s = fwd_s = 0.0
            for k in range(args.parts):
                part = Corpus(corpus.sentences[k * size : (k + 1) * size], format="part")
                if not len(part):
                    continue
                bare = bare_loop(name, part, args.batch_size, args.sort_window)
                mine = ours(name, part, work / f"{kind}-{k}.h5", args.batch_size,
                            args.sort_window)
                r["parts"].append({"ours": mine, "bare": bare})
                ours_tok += mine["tokens"]
                ours_s += mine["seconds"]
                fwd_s += mine["forward_seconds"]
                bare_tok += bare["tokens"]
                bare_s += bare["seconds"]
                (work / f"{kind}-{k}.h5").unlink()
            r["ours_tokens_per_s"] = ours_tok / ours_s
            r["bare_tokens_per_s"] = bare_tok / bare_s
            r["ratio_vs_bare"] = r["ours_tokens_per_s"] / r["bare_tokens_per_s"]
            # Load-independent view: the share of our loop spent inside model forward
            # calls (1.0 = no overhead at all beyond the forward pass).
            r["forward_share"] = fwd_s / ours_s
            e2e = sum(p["ours"]["end_to_end_seconds"] for p in r["parts"])
            print(f"[{kind}] ours {r['ours_tokens_per_s']:,.0f} tok/s "
                  f"({ours_s:.1f} s for {len(corpus)} sentences; with model loading and store "
                  f"finalization {e2e:.1f} s), bare loop {r['bare_tokens_per_s']:,.0f} tok/s "
                  f"-> (a) ratio {r['ratio_vs_bare']:.3f} (target >= 0.85); share of our loop "
                  f"inside the model forward {r['forward_share']:.3f}", flush=True)
            n_neurox = min(args.neurox_sentences, len(corpus))
            nx = neurox_loop(name, corpus, n_neurox) if n_neurox > 0 else None
            if nx is not None:
                r["neurox"] = nx
                r["ratio_vs_neurox"] = r["ours_tokens_per_s"] / nx["tokens_per_s"]
                print(f"[{kind}] NeuroX {nx['tokens_per_s']:,.0f} tok/s on {nx['sentences']} "
                      f"sentences ({nx['failed_sentences']} failed its alignment check) -> "
                      f"(b) ratio {r['ratio_vs_neurox']:.2f}", flush=True)
            else:
                why = "not installed" if n_neurox > 0 else "not asked for (--neurox-sentences 0)"
                print(f"[{kind}] NeuroX {why}: (b) skipped", flush=True)
            results["models"][kind] = r
        if not args.no_rss:
            kind = args.rss_model
            name = model_dir(kind, work)
            # 4x the corpus with the same length distribution: the 1x corpus four times
            # (peak memory of a forward pass depends on the longest batch, not on size).
            big = work / "corpus4.tsv"
            lines = corpus_path.read_text(encoding="utf-8").splitlines(keepends=True)
            big.write_text(lines[0] + "".join(lines[1:]) * 4, encoding="utf-8")
            one = peak_rss(name, corpus_path, work / "rss1.h5")
            four = peak_rss(name, big, work / "rss4.h5")
            growth = four["peak_rss_mib"] / one["peak_rss_mib"] - 1
            results["rss"] = {"model": name, "1x": one, "4x": four, "growth": growth}
            print(f"[{kind}] (c) peak RSS {one['peak_rss_mib']:.0f} MiB at 1x "
                  f"({one['sentences']} sentences), {four['peak_rss_mib']:.0f} MiB at 4x "
                  f"({four['sentences']} sentences): growth {100 * growth:+.1f}% "
                  "(target < 10%)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
