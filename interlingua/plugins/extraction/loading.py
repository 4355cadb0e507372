"""Model loading for extraction: checkpoint resolution, weights safety, device and dtype.

A model name is a local directory, a hub id, or a ``builtin:`` name (see
:mod:`interlingua.plugins.extraction.models`: offline models that never touch the hub).
An unreachable hub falls back to the local hub cache only, failing fast.

Safety: ``trust_remote_code`` is off unless asked; only safetensors weights are loaded
unless ``allow_pickle`` (pickle files can run arbitrary code).

Models are loaded with ``AutoModel``: the base model, so a causal LM never computes its
(for Gemma 262k-wide) logits. Families whose residual stream exceeds the float16 range
(:data:`FLOAT16_UNSAFE`: Gemma's reaches ~1e5) are refused in float16, as model dtype
and as store dtype (:func:`check_float16`), before any work: bfloat16 is safe.

``transformers`` and ``torch`` are imported inside the functions, so importing this
module stays light.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interlingua.core.errors import InputError

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
# Roberta-style position ids start after the padding index, losing two positions.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl",
                     "bart", "mbart"}
#: Model types whose activations exceed float16's ±65504 (Gemma: ~1e5 on <bos> and late
#: layers), refused with model_dtype or store dtype float16 (see check_float16).
FLOAT16_UNSAFE = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text"})


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


def check_weights(path: Path, allow_pickle: bool) -> bool | None:
    """``use_safetensors`` for a local checkpoint directory (refusing pickle if not allowed).

    Parameters
    ----------
    path : Path
        The checkpoint directory.
    allow_pickle : bool
        Accept a checkpoint that has only pickled weights (``*.bin``, ``*.pt``, ...).

    Returns
    -------
    bool
        True when safetensors weights exist, False for pickled weights (allowed).

    Raises
    ------
    InputError
        Pickled weights only and ``allow_pickle`` is off, or no weights at all.
    """
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


def check_float16(name: str, model_type: str, *, model_dtype: str = "float32",
                  store_dtype: str = "float32") -> None:
    """Refuse float16 (as model or store dtype) for a :data:`FLOAT16_UNSAFE` model type.

    Raises
    ------
    InputError
        One line naming the dtype to use instead.
    """
    if model_type not in FLOAT16_UNSAFE:
        return
    if model_dtype == "float16":
        raise InputError(f"model {name!r} ({model_type}) overflows float16: its activations "
                         "reach ~1e5 (float16 ends at 65504); use model_dtype bfloat16 or "
                         "float32")
    if store_dtype == "float16":
        raise InputError(f"model {name!r} ({model_type}) has activations beyond the float16 "
                         "range (~1e5, float16 ends at 65504); store with dtype float32")


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
    """Load a model and its fast tokenizer for extraction.

    Parameters
    ----------
    name : str
        Local model directory, hub id, or ``builtin:<name>`` (offline, never the hub).
    device : str
        ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
    model_dtype : {"float32", "float16", "bfloat16"}
        Type the model runs in.
    revision : str, optional
        Hub revision (ignored for local directories).
    trust_remote_code : bool
        Allow Python code shipped with the checkpoint.
    allow_pickle : bool
        Allow pickled weights (see :func:`check_weights`).
    max_length : int, optional
        Tokens per sentence (default: the model's limit, which it may not exceed).

    Returns
    -------
    LoadedModel
        The model in eval mode on ``device``, its fast tokenizer and its layer counts.

    Raises
    ------
    InputError
        Unknown model, unreachable hub without a cached copy, no fast tokenizer, bad
        ``device`` or ``max_length``.
    """
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
    use_safetensors = check_weights(local, allow_pickle) if local is not None else (
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
        check_float16(name, str(getattr(config, "model_type", "")), model_dtype=model_dtype)
        if is_builtin(name) and config.model_type == "bert":
            kwargs["add_pooling_layer"] = False  # e5 ships no pooler weights
        tokenizer = AutoTokenizer.from_pretrained(source, **common)
        model = AutoModel.from_pretrained(source, config=config, use_safetensors=use_safetensors,
                                          dtype=dtypes[model_dtype], **common, **kwargs)
    except InputError:
        raise
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
                              "mistral", "opt", "qwen2", "gemma", "gemma2", "gemma3_text",
                              "phi"}:
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


def select_layers(spec: Any, n_layers: dict[str, int], *, blocks: bool = False) -> list[str]:
    """Layer names chosen by ``spec`` (None/"all", ints, "3", "-1", "encoder/2", "0,6,-1").

    Parameters
    ----------
    spec : None, str, int or sequence
        ``None``, ``"all"`` or ``[]`` = every hidden state; otherwise layer indices
        (0 = embeddings, negative from the end), optionally ``stack/i`` for
        encoder–decoder models, as a list or a comma-separated string.
    n_layers : dict of str -> int
        Hidden states per stack prefix (:attr:`LoadedModel.n_layers`), or, with
        ``blocks``, blocks per stack prefix.
    blocks : bool
        The indices are block indices (0 = the first block; module layers), which the
        error messages say.

    Returns
    -------
    list of str
        Store layer names in model order, without duplicates.
    """
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
        what = "module layer" if blocks else "layer"
        if stack and stack + "/" not in names_by_stack:
            raise InputError(f"{what} {text!r}: this model has no {stack!r} stack")
        try:
            i = int(idx)
        except ValueError:
            index = "a block index" if blocks else "an integer"
            raise InputError(f"invalid {what} {text!r} ({index}, negative from the end, "
                             "or 'encoder/i' / 'decoder/i')") from None
        for p in stacks:
            n = n_layers[p]
            if not -n <= i < n:
                have = (f"blocks 0..{n - 1}" if blocks
                        else f"hidden states 0..{n - 1} (0 = embeddings)")
                raise InputError(f"{what} {text!r} out of range: the model has {have}")
            name = f"{p}{i % n}"
            if name not in chosen:
                chosen.append(name)
    order = {n: k for k, n in enumerate(every)}
    return sorted(chosen, key=order.__getitem__)


__all__ = ["FLOAT16_UNSAFE", "LoadedModel", "check_float16", "check_weights", "load_model",
           "select_layers"]
