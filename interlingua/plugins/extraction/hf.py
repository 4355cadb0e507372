"""``hf`` extractor: Hugging Face transformers models → activation store.

Runs any ``AutoModel`` checkpoint (local directory, hub id, or ``builtin:`` name, see
:mod:`.models`) over a corpus and writes every hidden layer (embeddings =
layer ``"0"``) at word level and pooled sentence level into an
:class:`~interlingua.core.store.ActivationStore`. This is the extraction step of the
NeuroX pipeline (seed 000 §3.2, seed 003 §4.3.1) and of the layer-wise similarity
analyses of seed 001 §4.1.

The pieces live beside this module: subword → word mapping in
:mod:`~interlingua.plugins.extraction.words`, model loading (weights safety, device,
dtype, hub) and layer selection in :mod:`~interlingua.plugins.extraction.loading`,
batches, the forward pass, word aggregation and sentence pooling in
:mod:`~interlingua.plugins.extraction.forward`. This module holds the extractor: the
window loop, the store it writes, resuming, and progress.

Design decisions
----------------
* **Batching and determinism**: the corpus is cut into windows of ``sort_window``
  sentences aligned to absolute corpus positions; inside a window sentences are
  batched by decreasing token length (less padding) and each window is one store
  commit. Results do not depend on the batch size beyond float rounding, and a resumed
  run repeats exactly the batches of an uninterrupted one (it keeps the interrupted
  run's window). By default the window is as large as ``window_mb`` of rows allows
  (4x that for uncompressed stores, whose windows wait in the page cache, not in
  memory; :mod:`~interlingua.plugins.extraction.windows`): nearly the padding of a
  global length sort.
* **Rows written in place** (uncompressed stores): a tokenize-only pass first gives
  every sentence's words, hence its rows' final positions; the store file is reserved
  at its final size (:meth:`~interlingua.core.store_writer.StoreWriter.reserve`) and
  each batch's rows are written straight there, on the store's placer thread while the
  next batch runs through the model. Nothing window-sized is held in memory and no row
  is copied to finish the store (issue 15). Compressed stores hold a window's rows in
  memory and append them (the previous window is written while the model runs).
* **Truncation** at ``max_length`` tokens is counted (root attribute
  ``n_truncated_sentences``) and warned about; words that lost all their tokens are
  not stored (``n_truncated_words``).
* **Layers** are the model's ``hidden_states`` as transformers returns them: layer 0 =
  the embedding output (Gemma: scaled by sqrt(hidden size)), layer i = the output of
  block i. Post-LN encoders (BERT, XLM-R) give normalized states; pre-norm decoders
  (GPT-2, Llama, Gemma) give the raw residual stream, except the last layer N, which
  transformers replaces by the final norm's output (the LM head's input). For
  ``builtin:gemma-3-270m`` (18 blocks): layers 1–17 are residuals (norms up to ~1e5,
  mostly on ``<bos>``), layer 18 is the final RMSNorm of the residual after block 18.
  Special tokens such as Gemma's ``<bos>`` belong to no word.
* **Module groups** (``modules``): the outputs of named submodules — e.g. every block's
  FFN activation-function output (``mlp=mlp-act``, the neurons of LAPE) — stored as
  extra layers ``mlp/0`` … (``encoder/mlp/0`` in encoder–decoder models), pooled like
  the hidden states, in the same windows and commits (see
  :mod:`~interlingua.plugins.extraction.module_capture`).
* **Progress** goes through :mod:`interlingua.core.progress`: a ``progress`` object
  given to :meth:`HFExtractor.extract`, else a rich bar on stderr when the
  ``progress`` parameter is true (one task, advanced per batch with a sentences/s and
  tokens/s ``rate`` field).

The module is about 550 lines: the extractor's declared parameters (with their
help texts, from which the CLI is generated) take a third of it, and the window loop has
two ways to store rows (in place, or windows held and appended for compressed stores);
module capture lives in :mod:`~interlingua.plugins.extraction.module_capture`.
"""

from __future__ import annotations

import json
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError, StoreError
from interlingua.core.interfaces import Extractor
from interlingua.core.params import Param
from interlingua.core.progress import SILENT, Progress, rich_progress
from interlingua.plugins.extraction.forward import (
    batch_rows,
    pad_batch,
    plan_batches,
    run_model,
)
from interlingua.plugins.extraction.loading import (
    LoadedModel,
    check_float16,
    load_model,
    select_layers,
)
from interlingua.plugins.extraction.module_capture import (
    ModuleCapture,
    module_layers,
    probe_modules,
)
from interlingua.plugins.extraction.module_capture import attrs as module_attrs
from interlingua.plugins.extraction.windows import (
    PLACED_WINDOW_FACTOR,
    WindowRows,
    check_float16_range,
    release_free_heap,
    window_size,
)
from interlingua.plugins.extraction.words import (
    TokenizedSentence,
    check_kept,
    count_lost_words,
    map_tokens_to_words,
    tokenize_window,
)
from interlingua.registry import hookimpl

WORD_AGGREGATIONS = ("first", "last", "mean")
SENTENCE_POOLINGS = ("mean", "mean-tokens", "cls", "last")


class HFExtractor(Extractor):
    """Extract word- and sentence-level activations of a Hugging Face model."""

    name: ClassVar[str] = "hf"
    summary: ClassVar[str] = (
        "Hugging Face transformers model (local dir, hub id or builtin:) -> activation store"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("model", "", "local model directory, hub id, or builtin:multilingual-e5-small",
              str),
        Param("layers", None, "hidden states to keep: null = all; list or '0,6,-1' "
              "(0 = embeddings, negative from the end, 'encoder/i', 'decoder/i')"),
        Param("modules", None, "also store module outputs as layer groups <group>/<block>: "
              "'mlp=mlp-act' (the FFN activation outputs, LAPE's neurons; a bare 'mlp-act' "
              "is group mlp), 'mlp=mlp-act;attn=layers.*.self_attn' (presets, globs, names; "
              "';' between groups, ',' between patterns); a dict in Python"),
        Param("module_layers", None, "blocks whose modules to store: null = all; '0,8,-1' "
              "(block index from 0, negative from the end, 'encoder/i', 'decoder/i')"),
        Param("hidden_states", True, "store the hidden states chosen by layers (off with "
              "modules: the module groups only)", bool),
        Param("word_aggregation", "mean", "subword -> word: first, last or mean", str,
              WORD_AGGREGATIONS),
        Param("sentence_pooling", "mean", "sentence rows: mean of words, mean-tokens "
              "(all tokens incl. special, attention-mask weighted), cls, last", str,
              SENTENCE_POOLINGS),
        Param("dtype", "float32", "storage type of word rows", str, ("float32", "float16")),
        Param("model_dtype", "float32", "dtype the model runs in", str,
              ("float32", "float16", "bfloat16")),
        Param("batch_size", 32, "sentences per forward pass", int),
        Param("max_batch_tokens", 8192, "max tokens per forward pass incl. padding "
              "(long sentences get smaller batches; bounds memory)", int),
        Param("max_length", None, "max tokens per sentence incl. special tokens "
              "(null = the model's limit); longer sentences are truncated and counted", int),
        Param("sort_window", None, "sentences per length-sorted window (= commit unit); "
              "null = as many as window_mb of rows (64-8192)", int),
        Param("window_mb", 1024, "MiB of rows per window when sort_window is null (bigger "
              "windows: less padding); compressed stores hold a window in memory, "
              "uncompressed ones write it in place and use 4x this", int),
        Param("device", "auto", "auto, cpu, cuda or cuda:N", str),
        Param("prefix", "", "text prepended to every sentence, not stored as words "
              "(e.g. 'passage: ' for e5 models)", str),
        Param("revision", None, "hub revision (branch, tag or commit)", str),
        Param("trust_remote_code", False, "allow code shipped with the checkpoint", bool),
        Param("allow_pickle", False, "allow pickled (.bin) weights", bool),
        Param("lang", None, "language of a plain-text corpus", str),
        Param("corpus_format", "auto", "corpus format when a path is given", str,
              ("auto", "text", "tokens", "tsv", "csv", "jsonl", "wic")),
        Param("compression", None, "HDF5 compression of layer datasets: null, gzip, lzf", str),
        Param("progress", True, "show a progress bar (sentences/s, tokens/s)", bool),
    )

    #: Summary of the last run (sentences, tokens, seconds, truncations).
    last_run_: dict[str, Any]

    def check_params(self) -> None:
        """Check the ranges of the parameters (done by :meth:`extract` before any work).

        Raises
        ------
        InputError
            A size below its minimum or an unknown compression.
        """
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 1:
            raise InputError(f"max_batch_tokens must be >= 1, got {self.max_batch_tokens}")
        if self.sort_window is not None and self.sort_window < 1:
            raise InputError(f"sort_window must be >= 1, got {self.sort_window}")
        if self.window_mb < 1:
            raise InputError(f"window_mb must be >= 1, got {self.window_mb}")
        if self.max_length is not None and self.max_length < 2:
            raise InputError(f"max_length must be >= 2, got {self.max_length}")
        if self.compression not in (None, "gzip", "lzf"):
            raise InputError(f"compression must be null, 'gzip' or 'lzf', got {self.compression!r}")

    def extract(
        self,
        corpus: Any,
        output: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        discard_damaged: bool = False,
        progress: Progress | None = None,
    ) -> Path:
        """Run the model over ``corpus`` and write the store ``output``.

        Parameters
        ----------
        corpus : Corpus, path or sequence
            A :class:`~interlingua.plugins.extraction.corpus.Corpus`, a corpus file (read with
            ``corpus_format`` and ``lang``), or a sequence of sentences.
        output : path-like
            The HDF5 store to write.
        resume : bool
            Continue an interrupted extraction of the same corpus and settings (all
            that determines the rows: see :func:`~interlingua.core.fingerprint.check_resume`).
        overwrite : bool
            Replace an existing store (refused while another process writes it).
        discard_damaged : bool
            With ``resume``: recompute a committed segment that fails its checksum,
            and all later ones, instead of refusing to resume.
        progress : Progress, optional
            Where to report (:mod:`interlingua.core.progress`); default: a rich bar on
            stderr when the ``progress`` parameter is true, else nothing.

        Returns
        -------
        Path
            ``output``.
        """
        from interlingua.core.fingerprint import make_fingerprint, resume_checked
        from interlingua.core.locking import check_not_busy
        from interlingua.core.store import ActivationStore
        from interlingua.plugins.extraction.corpus import as_corpus

        self.check_params()
        if resume and overwrite:
            raise InputError("choose either resume or overwrite, not both")
        if discard_damaged and not resume:
            raise InputError("discard_damaged (--discard-damaged) needs resume (--resume)")
        corpus = as_corpus(corpus, lang=self.lang, format=self.corpus_format)
        output = Path(output)
        check_not_busy(output)  # a running extraction is not an interrupted one
        state = store_state(output)
        if state != "absent" and not (resume or overwrite):
            hint = ("pass overwrite=True (--overwrite) to replace it" if state == "complete" else
                    "it is an interrupted extraction: pass resume=True (--resume) to continue "
                    "it, or overwrite=True (--overwrite) to start again")
            raise StoreError(f"{output} already exists; {hint}")
        if resume and state == "complete":
            self.last_run_ = {"sentences": 0, "note": "already complete"}
            return output
        loaded = load_model(self.model, device=self.device, model_dtype=self.model_dtype,
                            revision=self.revision, trust_remote_code=self.trust_remote_code,
                            allow_pickle=self.allow_pickle, max_length=self.max_length)
        check_float16(self.model, loaded.model_type, store_dtype=self.dtype)
        layer_names = select_layers(self.layers, loaded.n_layers) if self.hidden_states else []
        modules = module_layers(loaded.model, self.modules, seq2seq=loaded.seq2seq,
                                n_layers=loaded.n_layers, blocks=self.module_layers)
        if not layer_names and not modules:
            raise InputError("nothing to store: hidden_states is off (--no-hidden-states) "
                             "and no modules are given (--modules)")
        if modules:  # shapes and call counts, before the store exists
            probe_modules(loaded, corpus.sentences[:8], modules, prefix=self.prefix,
                          word_aggregation=self.word_aggregation,
                          sentence_pooling=self.sentence_pooling)
        budget = self.window_mb * (PLACED_WINDOW_FACTOR if self.compression is None else 1)
        window = self.sort_window or self._resumed_window(output, resume and state == "partial") \
            or window_size([len(s.words) for s in corpus.sentences[:4096]], len(layer_names),
                           len(modules or {}), loaded.model.config, budget)
        fields = self._fingerprint(loaded, layer_names, modules, window)
        if resume and state == "partial":
            store = resume_checked(output, fields, [s.text for s in corpus.sentences],
                                   discard_damaged=discard_damaged)
        else:
            attrs = {"max_length": loaded.max_length, "prefix": self.prefix,
                     "layers_selected": json.dumps(layer_names)}
            attrs.update(self._run_attrs(loaded, corpus, window))
            if modules:
                attrs.update(module_attrs(modules, self.modules, self.module_layers))
            attrs.update(make_fingerprint(fields))
            store = ActivationStore.create(
                output, model=self.model, extractor=self.name,
                word_aggregation=self.word_aggregation, sentence_pooling=self.sentence_pooling,
                dtype=self.dtype, model_revision=loaded.revision, attrs=attrs,
                overwrite=overwrite, compression=self.compression,
            )
        # Each window's segment and store rows are written on the writer thread while
        # the next window runs through the model (issue 15).
        store.background = True
        try:
            stats = self._run(loaded, corpus, store, layer_names, progress, modules, window)
            self.last_run_["discarded_segments"] = [str(p) for p in store.discarded]
            store.finalize(**stats)
        finally:
            store.close()  # after an error: commits finished windows, stays resumable
        if stats["n_truncated_sentences"]:
            warnings.warn(
                f"{stats['n_truncated_sentences']} sentence(s) exceeded max_length="
                f"{loaded.max_length} tokens and were truncated; "
                f"{stats['n_truncated_words']} word(s) beyond the limit are not stored",
                stacklevel=2,
            )
        if stats["n_untokenized_words"]:
            warnings.warn(
                f"{stats['n_untokenized_words']} word(s) produced no tokens (e.g. only "
                "characters the tokenizer drops) and are not stored", stacklevel=2,
            )
        return output

    @staticmethod
    def _resumed_window(output: Path, resuming: bool) -> int | None:
        """The window of the interrupted run being resumed (an automatic window depends
        on window_mb and on the version that chose it; the rows depend on the window)."""
        if not resuming:
            return None
        from interlingua.core.store_writer import read_manifest

        value = read_manifest(output)["attrs"].get("sort_window")
        return int(value) if value else None

    def _fingerprint(self, loaded: LoadedModel, layer_names: list[str],
                     modules: dict[str, str] | None, window: int) -> dict[str, Any]:
        """Everything that determines the stored rows (checked before a resume)."""
        import torch
        import transformers

        from interlingua.core.fingerprint import model_identity

        fields = {
            "extractor": self.name,
            "model": model_identity(self.model, loaded.source, loaded.revision),
            "model_dtype": self.model_dtype,
            "word_aggregation": self.word_aggregation,
            "sentence_pooling": self.sentence_pooling,
            "dtype": self.dtype,
            "layers": layer_names,
            "prefix": self.prefix,
            "max_length": loaded.max_length,
            # windows and batches fix the padding, hence the float rounding of each row
            "sort_window": int(window),
            "batch_size": int(self.batch_size),
            "max_batch_tokens": self.max_batch_tokens,
            "device": loaded.device.type,
            "torch_version": str(torch.__version__),
            "transformers_version": str(transformers.__version__),
        }
        if modules:  # only when given, so stores written before modules existed resume
            fields["modules"] = modules
        return fields

    def _run_attrs(self, loaded: LoadedModel, corpus: Any, window: int) -> dict[str, Any]:
        import torch
        import transformers

        return {
            "model_source": loaded.source,
            "model_type": loaded.model_type,
            "architecture": loaded.architecture,
            "model_dtype": self.model_dtype,
            "tokenizer": type(loaded.tokenizer).__name__,
            "torch_version": str(torch.__version__),
            "transformers_version": str(transformers.__version__),
            "corpus": str(corpus.path) if corpus.path else "",
            "corpus_format": corpus.format,
            "corpus_skipped_empty": int(corpus.n_skipped),
            "sort_window": int(window),
            "decoder_conditioning": "source sentence (JSONL target) or the sentence itself"
            if loaded.seq2seq else "",
        }

    # -- the extraction loop -----------------------------------------------------------
    def _run(self, loaded: LoadedModel, corpus: Any, store: Any, layer_names: list[str],
             progress: Progress | None, modules: dict[str, str] | None,
             window: int) -> dict[str, Any]:
        import torch

        from interlingua.plugins.extraction.modules import record

        n = len(corpus)
        start = store.progress
        counts = {"n_truncated_sentences": 0, "n_truncated_words": 0, "n_untokenized_words": 0,
                  "n_dropped_targets": 0}
        # Rows go straight to their places in the store file unless it is compressed (or
        # an interrupted run of an older version appended them in windows).
        in_place = store.placed or (store.compression is None and not store.layers)
        # A tokenize-only pass: every sentence's stored words, hence each sentence's
        # first row in the store (and the counts of lost words; cheap and exact, with no
        # bookkeeping that a kill could leave inconsistent).
        offsets, first_toks = self._word_offsets(loaded, corpus, window, start, counts)
        if store.placed and store.reserved != (n, int(offsets[-1])):
            raise StoreError(
                f"cannot resume {store.path.name}: it holds rows for "
                f"{store.reserved[0]} sentences / {store.reserved[1]} words, the corpus has "
                f"{n} / {int(offsets[-1])}; is it the same corpus?")
        if progress is None:
            progress = rich_progress(rate=True) if self.progress else SILENT
        t0 = time.perf_counter()
        n_tokens = 0
        sent_done = 0
        self._forward_seconds = 0.0
        self._capture = ModuleCapture(
            modules, word_aggregation=self.word_aggregation,
            sentence_pooling=self.sentence_pooling) if modules else None
        hooks = record(loaded.model, list(modules.values()), self._capture) if modules \
            else nullcontext()
        stored = [*layer_names, *(modules or {})]
        with progress.task("extracting", total=n) as task, torch.inference_mode(), hooks:
            if start:
                task.advance(start)  # committed before an interruption
            window_start = start
            while window_start < n:
                # Windows are aligned to multiples of sort_window, so a resumed run
                # repeats the batches of an uninterrupted one.
                window_stop = min(n, (window_start // window + 1) * window)
                items = corpus.sentences[window_start:window_stop]
                toks = first_toks if first_toks and first_toks[0].index == window_start \
                    else tokenize_window(loaded.tokenizer, items, window_start,
                                         prefix=self.prefix, max_length=loaded.max_length,
                                         seq2seq=loaded.seq2seq)
                first_toks = None
                rows = None if in_place else WindowRows([len(t.kept) for t in toks])
                for batch in plan_batches(toks, self.batch_size, self.max_batch_tokens):
                    batch_rows_ = self._forward(loaded, [toks[i] for i in batch], layer_names)
                    if in_place:
                        self._place(store, window_start + np.asarray(batch, dtype=np.int64),
                                    offsets, batch_rows_, n)
                    else:
                        rows.put_batch(batch, batch_rows_)
                    done = sum(toks[i].n_tokens for i in batch)
                    n_tokens += done
                    elapsed = max(time.perf_counter() - t0, 1e-9)
                    sent_done += len(batch)
                    task.advance(len(batch), rate=f"{sent_done / elapsed:,.1f} sent/s "
                                                  f"{n_tokens / elapsed:,.0f} tok/s")
                records = self._records(toks, items)
                if in_place:
                    store.append(records)  # rows placed already
                else:
                    store.append(records, self._window_layers(rows, stored), copy=False)
                # One committed segment per window: a resumed run restarts at a window
                # boundary and repeats exactly the batches of an uninterrupted run. The
                # last window is finished by finalize (or committed as a segment, if the
                # run stops before that).
                if window_stop < n:
                    store.flush()
                release_free_heap()  # else each window's peak sits on the last one's
                window_start = window_stop
        elapsed = time.perf_counter() - t0
        self.last_run_ = {"sentences": n - start, "tokens": n_tokens, "seconds": elapsed,
                          "forward_seconds": self._forward_seconds,
                          "sentences_per_s": (n - start) / elapsed if elapsed else 0.0,
                          "tokens_per_s": n_tokens / elapsed if elapsed else 0.0, **counts}
        return counts

    def _word_offsets(self, loaded: LoadedModel, corpus: Any, window: int, start: int,
                      counts: dict[str, int]
                      ) -> tuple[np.ndarray, list[TokenizedSentence] | None]:
        """Tokenize the corpus once: ``(first store row of each sentence + the total,
        the tokenized window holding sentence start)``; lost words are added to
        ``counts``, and a sentence left without words raises here, before any forward
        pass."""
        n = len(corpus)
        kept = np.zeros(n, dtype=np.int64)
        first: list[TokenizedSentence] | None = None
        for lo in range(0, n, window):
            hi = min(n, lo + window)
            toks = tokenize_window(loaded.tokenizer, corpus.sentences[lo:hi], lo,
                                   prefix=self.prefix, max_length=loaded.max_length,
                                   seq2seq=loaded.seq2seq and lo <= start < hi)
            for tok, item in zip(toks, corpus.sentences[lo:hi]):
                check_kept(tok, item)
                count_lost_words(tok, item, counts)
                kept[tok.index] = len(tok.kept)
            if lo <= start < hi:
                first = toks
        return np.concatenate([[0], np.cumsum(kept)]).astype(np.int64), first

    def _place(self, store: Any, sentences: np.ndarray, offsets: np.ndarray,
               rows: dict[str, tuple[np.ndarray, np.ndarray]], n: int) -> None:
        """Write one batch's rows at their places in the store file."""
        layers = {name: {"words": words, "sentences": sents}
                  for name, (words, sents) in rows.items()}
        if not store.placed:  # widths are known from the first batch
            store.reserve(n, int(offsets[-1]),
                          {name: {level: int(a.shape[1]) for level, a in levels.items()}
                           for name, levels in layers.items()})
        if self.dtype == "float16":
            for name, levels in layers.items():
                check_float16_range(name, levels["words"])
        store.place(sentences, offsets[sentences], offsets[sentences + 1] - offsets[sentences],
                    layers)

    def _forward(self, loaded: LoadedModel, toks: list[TokenizedSentence],
                 layer_names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Run one batch; {layer: (word rows, sentence rows)} of the batch as float32."""
        t0 = time.perf_counter()
        capture = getattr(self, "_capture", None)
        if capture is None:
            streams, modules = run_model(loaded, toks), {}
        else:
            streams, modules = capture.forward(loaded, toks)
        self._forward_seconds += time.perf_counter() - t0
        rows = batch_rows(streams, toks, layer_names, word_aggregation=self.word_aggregation,
                          sentence_pooling=self.sentence_pooling)
        for name, (words, sents, _) in modules.items():
            rows[name] = (words, sents)
        return rows

    def _records(self, toks: list[TokenizedSentence], items: list[Any]) -> list[Any]:
        """Store records of one window: the words that kept a token."""
        records = []
        for tok, item in zip(toks, items):
            check_kept(tok, item)
            rec = item.to_record()
            if len(tok.kept) != len(item.words):
                rec.words = [item.words[i] for i in tok.kept]
                if item.target >= 0:
                    hit = [j for j, i in enumerate(tok.kept) if i == item.target]
                    rec.target = hit[0] if hit else -1
            records.append(rec)
        return records

    def _window_layers(self, rows: WindowRows, layer_names: list[str]) -> dict[str, Any]:
        """The layer rows of one window held in memory (compressed stores)."""
        layers = {}
        for name in layer_names:
            layers[name] = rows.layers[name]
            if self.dtype == "float16":
                check_float16_range(name, layers[name]["words"])
        return layers


def store_state(path: Path) -> str:
    """``"complete"``, ``"partial"`` (an interrupted extraction) or ``"absent"``."""
    from interlingua.core.store_writer import partial_dir

    if partial_dir(path).is_dir():
        return "partial"
    return "complete" if path.exists() else "absent"


@hookimpl
def register_extractors(register):
    register(HFExtractor)


__all__ = [
    "SENTENCE_POOLINGS",
    "WORD_AGGREGATIONS",
    "HFExtractor",
    "LoadedModel",
    "TokenizedSentence",
    "load_model",
    "map_tokens_to_words",
    "pad_batch",
    "plan_batches",
    "select_layers",
    "store_state",
    "tokenize_window",
]
