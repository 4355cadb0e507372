"""``hf`` extractor: Hugging Face transformers models → activation store.

Runs any ``AutoModel`` checkpoint (local directory, hub id, or ``builtin:`` name, see
:mod:`.models`) over a corpus and writes every hidden layer (embeddings =
layer ``"0"``) at word level and pooled sentence level into an
:class:`~interlingua.core.store.ActivationStore`. This is the extraction step of the
NeuroX pipeline (seed 000 §3.2, seed 003 §4.3.1) and of the layer-wise similarity
analyses of seed 001 §4.1.

Design decisions
----------------
* **Subword → word mapping** uses the fast tokenizer's character offsets: the sentence
  is the words joined by single spaces (as a user would type it), and each token is
  assigned to the word holding its first non-space character; a token made only of a
  space marker (SentencePiece "▁", byte-level "Ġ") belongs to the next word. This is
  exact for WordPiece, SentencePiece and byte-level BPE alike — unlike NeuroX's
  "prefix a letter" detokenizer, which misaligns SentencePiece vocabularies, and
  unlike ``is_split_into_words``, which silently glues words together for byte-level
  BPE tokenizers created without ``add_prefix_space``.
* **Word aggregation** ``first`` / ``last`` / ``mean`` over the word's subwords.
  Special tokens (and the optional text ``prefix``, e.g. e5's ``"passage: "``) are
  never part of a word.
* **Sentence pooling**: ``mean`` = mean of the sentence's word rows (default);
  ``mean-tokens`` = mean over all tokens including special tokens, weighted by the
  attention mask (the convention of seed 001's code and of sentence-transformers);
  ``cls`` = first token; ``last`` = last non-padding token (causal LMs).
* **Encoder–decoder models** (T5, mT5, BART...): layers ``encoder/i`` hold the encoder
  run on the sentence; layers ``decoder/i`` hold the decoder, teacher-forced on the
  sentence (decoder input = start token + the sentence's tokens, so a word's decoder
  rows are the states where its subwords are read), attending to the encoder output of
  the sentence's *source*: for a JSONL ``target`` that is the line's ``text``;
  otherwise the sentence itself.
* **Batching and determinism**: the corpus is cut into windows of ``sort_window``
  sentences aligned to absolute corpus positions; inside a window sentences are
  batched by decreasing token length (less padding) and the window is written in
  corpus order with one atomic store commit. Results do not depend on the batch size
  beyond float rounding, and a resumed run repeats exactly the batches of an
  uninterrupted one.
* **Truncation** at ``max_length`` tokens is counted (root attribute
  ``n_truncated_sentences``) and warned about; words that lost all their tokens are
  not stored (``n_truncated_words``).
* **Safety**: ``trust_remote_code`` is off unless asked; only safetensors weights are
  loaded unless ``allow_pickle`` (pickle files can run arbitrary code).
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from interlingua.core.errors import InputError, StoreError
from interlingua.core.interfaces import Extractor
from interlingua.core.params import Param
from interlingua.core.progress import make_progress
from interlingua.registry import hookimpl

WORD_AGGREGATIONS = ("first", "last", "mean")
SENTENCE_POOLINGS = ("mean", "mean-tokens", "cls", "last")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
# Roberta-style position ids start after the padding index, losing two positions.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl",
                     "bart", "mbart"}


# ----------------------------------------------------------------------------------
# tokenization plan (pure numpy; reused by the benchmark)
# ----------------------------------------------------------------------------------
@dataclass
class TokenizedSentence:
    """One sentence after tokenization and word mapping."""

    index: int  # position in the corpus
    ids: list[int]
    token_word: np.ndarray  # per token: index into ``kept`` words, or -1 (special/prefix)
    kept: list[int]  # corpus word indices that have at least one token
    truncated: bool
    source_ids: list[int] | None = None  # seq2seq conditioning input (None = itself)

    @property
    def n_tokens(self) -> int:
        return len(self.ids)


def _char_word_map(prefix: str, words: Sequence[str]) -> tuple[str, np.ndarray, list[int]]:
    """Joined text, per-character word index (-1 space, -2 prefix) and word starts."""
    text = prefix + " ".join(words)
    cmap = np.full(len(text), -1, dtype=np.int64)
    cmap[: len(prefix)] = -2
    starts = []
    pos = len(prefix)
    for i, w in enumerate(words):
        starts.append(pos)
        cmap[pos : pos + len(w)] = i
        pos += len(w) + 1
    # Whitespace inside the prefix behaves like a separator (so "▁" after "passage:"
    # belongs to the first word).
    for j, ch in enumerate(prefix):
        if ch.isspace():
            cmap[j] = -1
    return text, cmap, starts


def map_tokens_to_words(
    offsets: Sequence[tuple[int, int]],
    special: Sequence[int],
    cmap: np.ndarray,
) -> np.ndarray:
    """Word index of every token (-1 = special token or part of the prefix).

    A token belongs to the word of its first character that lies inside a word; a
    token covering only separator spaces (a lone "▁" or "Ġ") belongs to the next word;
    a zero-width token belongs to the word at (or after) its position.
    """
    n_chars = len(cmap)
    off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts = np.clip(off[:, 0], 0, n_chars)
    ends = np.clip(off[:, 1], 0, n_chars)
    positions = np.arange(n_chars + 1)
    # first_word[c] / first_prefix[c]: first position >= c holding a word / prefix char
    # (n_chars if none), via a reversed running minimum.
    word_pos = np.where(np.append(cmap >= 0, True), positions, n_chars)
    first_word = np.minimum.accumulate(word_pos[::-1])[::-1]
    prefix_pos = np.where(np.append(cmap == -2, True), positions, n_chars)
    first_prefix = np.minimum.accumulate(prefix_pos[::-1])[::-1]
    word_of = np.append(cmap, -1)  # position n_chars = "no word"
    p = first_word[starts]
    out = word_of[p]  # the first word char at/after the start: inside the token, or next
    has_prefix = (first_prefix[starts] < ends) & (p >= ends)
    out = np.where(has_prefix, -1, out)
    out = np.where(np.asarray(special, dtype=bool), -1, out)
    return out.astype(np.int64)


def tokenize_window(
    tokenizer: Any,
    sentences: Sequence[Any],
    first_index: int,
    *,
    prefix: str,
    max_length: int,
    seq2seq: bool = False,
) -> list[TokenizedSentence]:
    """Tokenize sentences and map their tokens to words (see the module docstring)."""
    texts, maps = [], []
    for s in sentences:
        text, cmap, _ = _char_word_map(prefix, s.words)
        texts.append(text)
        maps.append(cmap)
    enc = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length,
                    return_offsets_mapping=True, return_special_tokens_mask=True,
                    return_attention_mask=False, return_token_type_ids=False)
    sources: list[list[int] | None] = [None] * len(sentences)
    if seq2seq:
        need = [i for i, s in enumerate(sentences) if getattr(s, "source", None) is not None]
        if need:
            src_texts = [prefix + " ".join(sentences[i].source) for i in need]
            src = tokenizer(src_texts, add_special_tokens=True, truncation=True,
                            max_length=max_length, return_attention_mask=False,
                            return_token_type_ids=False)
            for j, i in enumerate(need):
                sources[i] = list(src["input_ids"][j])
    out = []
    for i, s in enumerate(sentences):
        token_word = map_tokens_to_words(enc["offset_mapping"][i], enc["special_tokens_mask"][i],
                                         maps[i])
        present = np.unique(token_word[token_word >= 0])
        renumber = np.full(len(s.words), -1, dtype=np.int64)
        renumber[present] = np.arange(present.size)
        token_word = np.where(token_word >= 0, renumber[np.maximum(token_word, 0)], -1)
        truncated = len(enc.encodings[i].overflowing) > 0
        out.append(TokenizedSentence(first_index + i, list(enc["input_ids"][i]), token_word,
                                     present.tolist(), truncated, sources[i]))
    return out


def plan_batches(
    tokenized: Sequence[TokenizedSentence], batch_size: int, max_batch_tokens: int | None = None
) -> list[list[int]]:
    """Positions (into ``tokenized``) grouped in batches of decreasing token length.

    A batch holds at most ``batch_size`` sentences and, when ``max_batch_tokens`` is
    given, at most that many tokens including padding (at least one sentence), so
    that the memory of a forward pass is bounded by the budget, not by the longest
    sentence of the corpus times the batch size.
    """
    order = sorted(range(len(tokenized)), key=lambda i: (-tokenized[i].n_tokens, i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = tokenized[current[0]].n_tokens if current else tokenized[i].n_tokens
        full = len(current) >= batch_size or (
            max_batch_tokens is not None and current
            and (len(current) + 1) * width > max_batch_tokens
        )
        if full:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded ``(ids, attention_mask)`` int64 arrays."""
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = s
        mask[r, : len(s)] = 1
    return ids, mask


# ----------------------------------------------------------------------------------
# model loading
# ----------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """A model with its tokenizer and what the extractor needs to know about it."""

    model: Any
    tokenizer: Any
    name: str
    source: str
    revision: str
    seq2seq: bool
    architecture: str
    model_type: str
    n_layers: dict[str, int]  # stack prefix ("" / "encoder/" / "decoder/") -> hidden states
    max_length: int
    pad_id: int
    decoder_start_id: int | None
    device: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _check_weights(path: Path, allow_pickle: bool) -> bool | None:
    """``use_safetensors`` for a local checkpoint directory (refusing pickle if not allowed)."""
    files = [p.name for p in path.iterdir() if p.is_file()]
    if any(f.endswith(".safetensors") or f == "model.safetensors.index.json" for f in files):
        return True
    pickled = [f for f in files if f.endswith(_PICKLE_SUFFIXES) or f.endswith(".bin.index.json")]
    if pickled:
        if not allow_pickle:
            raise InputError(
                f"{path} has only pickled PyTorch weights ({', '.join(sorted(pickled)[:3])}); "
                "unpickling can run arbitrary code. Convert them to safetensors, or pass "
                "allow_pickle=True (--allow-pickle) if you trust the checkpoint"
            )
        return False
    raise InputError(f"{path} holds no PyTorch weights (*.safetensors or pytorch_model.bin)")


def _resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"invalid device {device!r}: {exc}") from None


def load_model(
    name: str,
    *,
    device: str = "auto",
    model_dtype: str = "float32",
    revision: str | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    max_length: int | None = None,
) -> LoadedModel:
    """Load a model and its fast tokenizer for extraction (see :class:`HFExtractor`)."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from interlingua.plugins.extraction.models import hub_status, is_builtin, resolve_builtin

    if not name:
        raise InputError("no model given (a local directory, a hub id or builtin:<name>)")
    kwargs: dict[str, Any] = {}
    local = Path(name).expanduser()
    offline_only = False
    if is_builtin(name):
        # Never the hub: a missing offline component is an error naming its package.
        local = resolve_builtin(name)
        source = str(local)
        kwargs["add_pooling_layer"] = False
    elif local.exists():
        if not local.is_dir():
            raise InputError(f"{local} is a file; give the model directory")
        source = str(local)
    elif _HUB_ID.match(name):
        source, local = name, None
        # Unreachable hub: use the local hub cache only (no retry storm), fail fast.
        offline_only = hub_status(name) == "cache-only"
    else:
        raise InputError(f"model {name!r}: no such directory, and not a valid hub id")
    use_safetensors = _check_weights(local, allow_pickle) if local is not None else (
        None if allow_pickle else True
    )
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    common: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if offline_only:
        common["local_files_only"] = True
    if revision and local is None:
        common["revision"] = revision
    dev = _resolve_device(device)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(source, **common)
        tokenizer = AutoTokenizer.from_pretrained(source, **common)
        model = AutoModel.from_pretrained(source, config=config, use_safetensors=use_safetensors,
                                          dtype=dtypes[model_dtype], **common, **kwargs)
    except (OSError, ValueError) as exc:
        where = str(local) if local is not None else (
            "the local hub cache (the model hub is unreachable; give a local model "
            "directory or a builtin: model)" if offline_only else "the hub")
        raise InputError(f"cannot load model {name!r} from {where}: {exc}") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(
            f"model {name!r} has no fast (Rust) tokenizer; word alignment needs its offsets"
        )
    model.eval().to(dev)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    model_type = str(getattr(config, "model_type", ""))
    archs = " ".join(getattr(config, "architectures", None) or [])
    if seq2seq:
        architecture = "encoder-decoder"
    elif getattr(config, "is_decoder", False) or "CausalLM" in archs or "LMHead" in archs \
            or model_type in {"gpt2", "gpt_neo", "gptj", "gpt_neox", "bloom", "xglm", "llama",
                              "mistral", "opt", "qwen2", "gemma", "phi"}:
        architecture = "decoder"
    else:
        architecture = "encoder"
    # hidden-state count = layers + 1 (embeddings)
    if seq2seq:
        enc_layers = getattr(config, "num_layers", None) or getattr(config, "encoder_layers", None)
        dec_layers = getattr(config, "num_decoder_layers", None) or getattr(
            config, "decoder_layers", None) or enc_layers
        n_layers = {"encoder/": int(enc_layers) + 1, "decoder/": int(dec_layers) + 1}
    else:
        n = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
        if n is None:
            raise InputError(f"cannot tell the number of layers of model {name!r}")
        n_layers = {"": int(n) + 1}
    limit = _model_limit(tokenizer, config, model_type)
    if max_length is None:
        max_length = limit
    elif max_length < 2:
        raise InputError(f"max_length must be >= 2, got {max_length}")
    elif limit and max_length > limit:
        raise InputError(f"max_length {max_length} exceeds the model's limit of {limit} tokens")
    pad_id = tokenizer.pad_token_id
    if pad_id is None:  # e.g. GPT-2: any id works, padded positions are masked out
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    start = getattr(config, "decoder_start_token_id", None)
    if seq2seq and start is None:
        start = pad_id
    revision_used = str(getattr(config, "_commit_hash", None) or revision or "")
    return LoadedModel(model=model, tokenizer=tokenizer, name=name, source=source,
                       revision=revision_used, seq2seq=seq2seq, architecture=architecture,
                       model_type=model_type, n_layers=n_layers, max_length=int(max_length),
                       pad_id=int(pad_id), decoder_start_id=start, device=dev)


def _model_limit(tokenizer: Any, config: Any, model_type: str) -> int:
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and limit < 100_000:
        return int(limit)
    positions = getattr(config, "max_position_embeddings", None) or getattr(
        config, "n_positions", None
    )
    if positions:
        return int(positions) - (2 if model_type in _OFFSET_POSITIONS else 0)
    return 512  # relative-position models (T5): a practical default


# ----------------------------------------------------------------------------------
# layer selection
# ----------------------------------------------------------------------------------
def select_layers(spec: Any, n_layers: dict[str, int]) -> list[str]:
    """Layer names chosen by ``spec`` (None/"all", ints, "3", "-1", "encoder/2", "0,6,-1")."""
    names_by_stack = {p: [f"{p}{i}" for i in range(n)] for p, n in n_layers.items()}
    every = [n for names in names_by_stack.values() for n in names]
    if spec is None or spec == "all" or spec == []:
        return every
    items: list[Any]
    if isinstance(spec, str):
        items = [x.strip() for x in spec.split(",") if x.strip()]
    elif isinstance(spec, (int, np.integer)):
        items = [int(spec)]
    else:
        items = list(spec)
    chosen: list[str] = []
    for item in items:
        text = str(item).strip()
        stack, _, idx = text.rpartition("/")
        stacks = [stack + "/"] if stack else list(names_by_stack)
        if stack and stack + "/" not in names_by_stack:
            raise InputError(f"layer {text!r}: this model has no {stack!r} stack")
        try:
            i = int(idx)
        except ValueError:
            raise InputError(f"invalid layer {text!r} (an integer, negative from the end, "
                             "or 'encoder/i' / 'decoder/i')") from None
        for p in stacks:
            n = n_layers[p]
            if not -n <= i < n:
                raise InputError(f"layer {text!r} out of range: the model has hidden states "
                                 f"0..{n - 1} (0 = embeddings)")
            name = f"{p}{i % n}"
            if name not in chosen:
                chosen.append(name)
    order = {n: k for k, n in enumerate(every)}
    return sorted(chosen, key=order.__getitem__)


# ----------------------------------------------------------------------------------
# the extractor
# ----------------------------------------------------------------------------------
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
        Param("sort_window", 256, "sentences per length-sorted window (= commit unit; "
              "bounds memory)", int),
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

    def _check_params(self) -> None:
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 1:
            raise InputError(f"max_batch_tokens must be >= 1, got {self.max_batch_tokens}")
        if self.sort_window < 1:
            raise InputError(f"sort_window must be >= 1, got {self.sort_window}")
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

        Returns
        -------
        Path
            ``output``.
        """
        from interlingua.core.fingerprint import make_fingerprint, resume_checked
        from interlingua.core.locking import check_not_busy
        from interlingua.core.store import ActivationStore
        from interlingua.plugins.extraction.corpus import as_corpus

        self._check_params()
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
        layer_names = select_layers(self.layers, loaded.n_layers)
        fields = self._fingerprint(loaded, layer_names)
        if resume and state == "partial":
            store = resume_checked(output, fields, [s.text for s in corpus.sentences],
                                   discard_damaged=discard_damaged)
        else:
            attrs = {"max_length": loaded.max_length, "prefix": self.prefix,
                     "layers_selected": json.dumps(layer_names)}
            attrs.update(self._run_attrs(loaded, corpus))
            attrs.update(make_fingerprint(fields))
            store = ActivationStore.create(
                output, model=self.model, extractor=self.name,
                word_aggregation=self.word_aggregation, sentence_pooling=self.sentence_pooling,
                dtype=self.dtype, model_revision=loaded.revision, attrs=attrs,
                overwrite=overwrite, compression=self.compression,
            )
        try:
            stats = self._run(loaded, corpus, store, layer_names)
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

    def _fingerprint(self, loaded: LoadedModel, layer_names: list[str]) -> dict[str, Any]:
        """Everything that determines the stored rows (checked before a resume)."""
        import torch
        import transformers

        from interlingua.core.fingerprint import model_identity

        return {
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
            "sort_window": int(self.sort_window),
            "batch_size": int(self.batch_size),
            "max_batch_tokens": self.max_batch_tokens,
            "device": loaded.device.type,
            "torch_version": str(torch.__version__),
            "transformers_version": str(transformers.__version__),
        }

    def _run_attrs(self, loaded: LoadedModel, corpus: Any) -> dict[str, Any]:
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
            "sort_window": int(self.sort_window),
            "decoder_conditioning": "source sentence (JSONL target) or the sentence itself"
            if loaded.seq2seq else "",
        }

    # -- the extraction loop -----------------------------------------------------------
    def _run(self, loaded: LoadedModel, corpus: Any, store: Any,
             layer_names: list[str]) -> dict[str, Any]:
        import torch

        n = len(corpus)
        start = store.progress
        counts = {"n_truncated_sentences": 0, "n_truncated_words": 0, "n_untokenized_words": 0,
                  "n_dropped_targets": 0}
        # Counts for sentences written before an interruption: re-tokenizing is cheap and
        # exact (no bookkeeping that a kill could leave inconsistent).
        for lo in range(0, start, 4096):
            hi = min(lo + 4096, start)
            for tok in tokenize_window(loaded.tokenizer, corpus.sentences[lo:hi], lo,
                                       prefix=self.prefix, max_length=loaded.max_length,
                                       seq2seq=False):
                _count(tok, corpus[tok.index], counts)
        progress = _make_progress(self.progress)
        t0 = time.perf_counter()
        n_tokens = 0
        sent_done = 0
        self._forward_seconds = 0.0
        with progress, torch.inference_mode():
            task = progress.add_task("extracting", total=n, completed=start, rate="")
            window_start = start
            while window_start < n:
                # Windows are aligned to multiples of sort_window, so a resumed run
                # repeats the batches of an uninterrupted one.
                window_stop = min(n, (window_start // self.sort_window + 1) * self.sort_window)
                items = corpus.sentences[window_start:window_stop]
                toks = tokenize_window(loaded.tokenizer, items, window_start,
                                       prefix=self.prefix, max_length=loaded.max_length,
                                       seq2seq=loaded.seq2seq)
                results: list[Any] = [None] * len(toks)
                for batch in plan_batches(toks, self.batch_size, self.max_batch_tokens):
                    out = self._forward(loaded, [toks[i] for i in batch], layer_names)
                    for i, res in zip(batch, out):
                        results[i] = res
                    done = sum(toks[i].n_tokens for i in batch)
                    n_tokens += done
                    elapsed = max(time.perf_counter() - t0, 1e-9)
                    sent_done += len(batch)
                    progress.update(task, advance=len(batch),
                                    rate=f"{sent_done / elapsed:,.1f} sent/s "
                                         f"{n_tokens / elapsed:,.0f} tok/s")
                records, layers = self._assemble(toks, items, results, layer_names, counts)
                store.append(records, layers)
                # One committed segment per window: a resumed run restarts at a window
                # boundary and repeats exactly the batches of an uninterrupted run.
                store.flush()
                window_start = window_stop
        elapsed = time.perf_counter() - t0
        self.last_run_ = {"sentences": n - start, "tokens": n_tokens, "seconds": elapsed,
                          "forward_seconds": self._forward_seconds,
                          "sentences_per_s": (n - start) / elapsed if elapsed else 0.0,
                          "tokens_per_s": n_tokens / elapsed if elapsed else 0.0, **counts}
        return counts

    def _forward(self, loaded: LoadedModel, toks: list[TokenizedSentence],
                 layer_names: list[str]) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Run one batch; per sentence {layer: (word rows, sentence row)} as float32."""
        import torch

        dev = loaded.device
        ids, mask = pad_batch([t.ids for t in toks], loaded.pad_id)
        ids_t = torch.from_numpy(ids).to(dev)
        mask_t = torch.from_numpy(mask).to(dev)
        streams: list[tuple[str, Any, Any, int]] = []  # (prefix, hidden states, mask, shift)
        t0 = time.perf_counter()
        if not loaded.seq2seq:
            out = loaded.model(input_ids=ids_t, attention_mask=mask_t, output_hidden_states=True)
            streams.append(("", out.hidden_states, mask_t, 0))
        else:
            dec_ids, dec_mask = pad_batch([[loaded.decoder_start_id, *t.ids] for t in toks],
                                          loaded.pad_id)
            dec_ids_t = torch.from_numpy(dec_ids).to(dev)
            dec_mask_t = torch.from_numpy(dec_mask).to(dev)
            has_source = any(t.source_ids is not None for t in toks)
            if has_source:
                cond, cond_mask = pad_batch(
                    [t.source_ids if t.source_ids is not None else t.ids for t in toks],
                    loaded.pad_id)
                cond_t = torch.from_numpy(cond).to(dev)
                cond_mask_t = torch.from_numpy(cond_mask).to(dev)
            else:
                cond_t, cond_mask_t = ids_t, mask_t
            out = loaded.model(input_ids=cond_t, attention_mask=cond_mask_t,
                               decoder_input_ids=dec_ids_t, decoder_attention_mask=dec_mask_t,
                               output_hidden_states=True)
            enc_states = out.encoder_hidden_states
            if has_source:
                enc_states = loaded.model.get_encoder()(
                    input_ids=ids_t, attention_mask=mask_t, output_hidden_states=True
                ).hidden_states
            streams.append(("encoder/", enc_states, mask_t, 0))
            streams.append(("decoder/", out.decoder_hidden_states, dec_mask_t, 1))
        self._forward_seconds += time.perf_counter() - t0

        per_sentence: list[dict[str, tuple[np.ndarray, np.ndarray]]] = [{} for _ in toks]
        for prefix, states, m, shift in streams:
            chosen = [(name, int(name[len(prefix):])) for name in layer_names
                      if name.startswith(prefix) and name[len(prefix):].isdigit()]
            if not chosen:
                continue
            words, sents, word_counts = self._pool([states[i] for _, i in chosen], m, toks,
                                                   shift)
            words_np = words.cpu().numpy()
            sents_np = sents.cpu().numpy()
            bounds = np.concatenate([[0], np.cumsum(word_counts)])
            for r in range(len(toks)):
                w = words_np[:, bounds[r] : bounds[r + 1]]
                for k, (name, _) in enumerate(chosen):
                    per_sentence[r][name] = (w[k], sents_np[k, r])
        return per_sentence

    def _pool(self, hs: list, mask: Any, toks: list[TokenizedSentence], shift: int):
        """Word aggregation and sentence pooling of layers ``hs`` (each (B, T, d)).

        Returns word rows (nl, n_words, d), sentence rows (nl, B, d) in float32 and the
        number of words per sentence.
        """
        import torch

        b, t, d = hs[0].shape
        nl = len(hs)
        dev = hs[0].device
        flat_pos, word_row, word_counts = [], [], []
        offset = 0
        for r, tok in enumerate(toks):
            tw = tok.token_word
            pos = np.flatnonzero(tw >= 0)
            flat_pos.append(r * t + pos + shift)
            word_row.append(tw[pos] + offset)
            word_counts.append(len(tok.kept))
            offset += len(tok.kept)
        n_words = offset
        flat_pos_t = torch.from_numpy(np.concatenate(flat_pos)).to(dev)
        word_row_np = np.concatenate(word_row)
        agg = self.word_aggregation
        if agg == "mean":
            # Group each word's tokens into one contiguous segment (they already are, in
            # token order; the stable sort makes it a guarantee) for a segment mean,
            # which is much faster on CPU than index_add_ with repeated indices.
            order = np.argsort(word_row_np, kind="stable")
            seg_pos_t = flat_pos_t.index_select(0, torch.from_numpy(order).to(dev))
            seg_len_t = torch.from_numpy(np.bincount(word_row_np, minlength=n_words)).to(dev)
        else:
            # word_row is sorted per sentence, so the first (last) occurrence of each row
            # number is the word's first (last) token.
            if agg == "first":
                _, idx = np.unique(word_row_np, return_index=True)
            else:
                _, ridx = np.unique(word_row_np[::-1], return_index=True)
                idx = len(word_row_np) - 1 - ridx
            pick_t = flat_pos_t.index_select(0, torch.from_numpy(idx).to(dev))
        pooling = self.sentence_pooling
        if pooling == "mean":
            words_per_sent_t = torch.tensor(word_counts, dtype=torch.int64, device=dev)
        elif pooling == "mean-tokens":
            w = mask.to(torch.float32)[:, :, None]
            w_sum = w.sum(dim=1)
        elif pooling == "last":
            last = mask.sum(dim=1) - 1
            rows = torch.arange(b, device=dev)
        words = torch.empty(nl, n_words, d, dtype=torch.float32, device=dev)
        sents = torch.empty(nl, b, d, dtype=torch.float32, device=dev)
        for k, h in enumerate(hs):
            h = h.float()
            flat = h.reshape(b * t, d)
            if agg == "mean":
                words[k] = _segment_mean(flat.index_select(0, seg_pos_t), seg_len_t)
            else:
                words[k] = flat.index_select(0, pick_t)
            if pooling == "mean":
                sents[k] = _segment_mean(words[k], words_per_sent_t)
            elif pooling == "mean-tokens":
                sents[k] = (h * w).sum(dim=1) / w_sum
            elif pooling == "cls":
                sents[k] = h[:, 0]
            else:
                sents[k] = h[rows, last]
        return words, sents, word_counts

    def _assemble(self, toks, items, results, layer_names, counts):
        records = []
        for tok, item in zip(toks, items):
            if not tok.kept:
                where = getattr(item, "origin", None) or f"sentence {tok.index}"
                if tok.truncated:
                    raise InputError(
                        f"{where}: no word of {item.text[:60]!r} fits within max_length "
                        "after the prefix; increase max_length or shorten the prefix"
                    )
                raise InputError(
                    f"{where}: no tokens after the tokenizer's normalisation: "
                    f"{item.text[:60]!r} holds only characters the tokenizer drops; "
                    "delete the line or fix its text"
                )
            _count(tok, item, counts)
            rec = item.to_record()
            if len(tok.kept) != len(item.words):
                rec.words = [item.words[i] for i in tok.kept]
                if item.target >= 0:
                    hit = [j for j, i in enumerate(tok.kept) if i == item.target]
                    rec.target = hit[0] if hit else -1
            records.append(rec)
        layers = {}
        for name in layer_names:
            words = [res[name][0] for res in results]
            sents = [res[name][1] for res in results]
            layers[name] = {"words": np.concatenate(words, axis=0), "sentences": np.stack(sents)}
            if self.dtype == "float16":
                peak = float(np.abs(layers[name]["words"]).max(initial=0.0))
                if peak > 65504:
                    raise InputError(
                        f"layer {name!r} has activations up to {peak:.4g}, beyond the float16 "
                        "range; use dtype float32"
                    )
        return records, layers


def _segment_mean(values: Any, lengths: Any) -> Any:
    """Mean of consecutive row segments of ``values`` with the given lengths (all > 0)."""
    import torch

    try:
        return torch.segment_reduce(values, "mean", lengths=lengths, axis=0)
    except (AttributeError, RuntimeError, NotImplementedError):  # pragma: no cover
        # Fallback for torch builds without segment_reduce on this device.
        ids = torch.repeat_interleave(torch.arange(len(lengths), device=values.device), lengths)
        out = torch.zeros(len(lengths), values.shape[1], dtype=values.dtype,
                          device=values.device)
        out.index_add_(0, ids, values)
        return out / lengths.to(values.dtype)[:, None]


def _count(tok: TokenizedSentence, item: Any, counts: dict[str, int]) -> None:
    missing = len(item.words) - len(tok.kept)
    if tok.truncated:
        counts["n_truncated_sentences"] += 1
        # words after the last kept one were cut off; gaps before it had no tokens at all
        last = tok.kept[-1] if tok.kept else -1
        cut = len(item.words) - 1 - last
        counts["n_truncated_words"] += cut
        counts["n_untokenized_words"] += missing - cut
    else:
        counts["n_untokenized_words"] += missing
    if item.target >= 0 and item.target not in set(tok.kept):
        counts["n_dropped_targets"] += 1


def store_state(path: Path) -> str:
    """``"complete"``, ``"partial"`` (an interrupted extraction) or ``"absent"``."""
    from interlingua.core.store_writer import partial_dir

    if partial_dir(path).is_dir():
        return "partial"
    return "complete" if path.exists() else "absent"


def _make_progress(enabled: bool):
    return make_progress(enabled=enabled, rate=True)


@hookimpl
def register_extractors(register):
    register(HFExtractor)


__all__ = [
    "SENTENCE_POOLINGS",
    "WORD_AGGREGATIONS",
    "HFExtractor",
    "LoadedModel",
    "load_model",
    "map_tokens_to_words",
    "pad_batch",
    "plan_batches",
    "select_layers",
    "tokenize_window",
]
