"""Per-sentence language-model loss of decoders (next token) and encoders (masked
tokens), the measure of the causal interventions (Tang et al. 2024, §3: the effect of
deactivating neurons is the change in per-language perplexity).

Objectives
----------
* **causal** (decoder-only models): every token of the sentence is predicted from the
  tokens before it; special tokens (BOS, EOS, PAD) are never targets, so a leading BOS
  is context only and a model without one never predicts its first token.
* **masked** (encoders with a masked-LM head): a fixed fraction (default 15 %, at least
  one token) of the sentence's non-special tokens is chosen by a generator seeded with
  ``(seed, sentence index)``, so every condition compared (baseline, ablation, control)
  masks the same positions; all chosen positions are replaced by the mask token and
  predicted in one pass. Simplification against BERT's pre-training recipe (Devlin et
  al. 2019, §3.1: of the chosen tokens 80 % masked, 10 % random, 10 % unchanged): here
  all are masked, which is the pseudo-log-likelihood-style evaluation, not training.

A sentence's loss is the summed negative log-likelihood (nats, float64) over its
targets, with its number of targets; perplexity = exp(Σ NLL / Σ targets).

Memory: sentences run in length-sorted batches with right padding (a sentence's tokens
sit where they would sit alone); only the target rows of the last hidden state go
through the head, in chunks of at most :data:`CHUNK_LOGITS` floats (128 MB; Gemma's
vocabulary is 262k wide), reduced to log-sum-exp and the target's logit in float32 at
once, so (tokens × vocabulary) logits are never held for a whole batch.

Loading (:func:`load_loss_model`) goes through
:func:`~interlingua.plugins.extraction.loading.load_model` (safetensors only unless
``allow_pickle``, no remote code unless ``trust_remote_code``, Gemma refused in
float16); the head of a decoder wraps that base model without reloading tied weights
(the logit lens's machinery), an encoder is reloaded once as ``AutoModelForMaskedLM``
and refused when its checkpoint has no trained masked-LM head (e5 models are sentence
encoders without one). One short sentence then checks that the chunked head reproduces
the logits of the model's own forward pass. Interventions hook modules of
:attr:`LossModel.base` (the names LAPE reports). ``torch`` and ``transformers`` are
imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.core.progress import Task

OBJECTIVES = ("auto", "causal", "masked")
#: Largest chunk of logits (rows × vocabulary floats) held at once.
CHUNK_LOGITS = 2**25
_CHECK_TEXT = "Interventions are measured by the loss of the model's own head."


@dataclass
class LossModel:
    """A model with its LM head, ready for :func:`sentence_losses`."""

    name: str
    loaded: Any  # extraction.loading.LoadedModel: tokenizer, base model, limits
    lm: Any  # the *ForCausalLM / *ForMaskedLM module (shares the base model)
    head: Any  # rows of the last hidden state -> logits
    objective: str  # "causal" or "masked"
    softcap: float | None = None
    scale: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def base(self) -> Any:
        """The base model: its modules are the ones LAPE counts and interventions edit."""
        return self.loaded.model

    @property
    def device(self) -> Any:
        return self.loaded.device

    def head_logits(self, rows: Any) -> Any:
        """float32 logits ``(rows, vocab)`` of rows of the last hidden state."""
        from interlingua.plugins.neurons.lm_head import postprocess_logits

        return postprocess_logits(self.head(rows), self.softcap, self.scale)


def load_loss_model(name: str | os.PathLike, *, objective: str = "auto",
                    device: str = "auto", model_dtype: str = "float32",
                    revision: str | None = None, trust_remote_code: bool = False,
                    allow_pickle: bool = False, max_length: int | None = None) -> LossModel:
    """Load a model with its LM head for :func:`sentence_losses`.

    Parameters
    ----------
    name : str or path
        A local directory, hub id or ``builtin:`` name.
    objective : {"auto", "causal", "masked"}
        ``auto``: causal for decoder-only models, masked for encoders.
    device, model_dtype, revision, trust_remote_code, allow_pickle, max_length
        As for :func:`~interlingua.plugins.extraction.loading.load_model`.

    Returns
    -------
    LossModel

    Raises
    ------
    InputError
        An encoder–decoder model, an objective the architecture does not have, an
        encoder without a trained masked-LM head, a head whose chunked logits differ
        from the model's own; and everything ``load_model`` refuses.
    """
    import torch

    from interlingua.plugins.extraction.loading import load_model

    if objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    name = str(name)
    loaded = load_model(name, device=device, model_dtype=model_dtype, revision=revision,
                        trust_remote_code=trust_remote_code, allow_pickle=allow_pickle,
                        max_length=max_length)
    arch = loaded.architecture
    if arch == "encoder-decoder":
        raise InputError(f"model {name!r} is an encoder-decoder ({loaded.model_type}); LM "
                         "loss is measured for decoder-only (causal) or encoder (masked) "
                         "models")
    wanted = {"decoder": "causal", "encoder": "masked"}[arch]
    if objective not in ("auto", wanted):
        raise InputError(f"model {name!r} is {'a decoder' if arch == 'decoder' else 'an encoder'}"
                         f" ({loaded.model_type}): its objective is {wanted}, not {objective}")
    if wanted == "causal":
        from interlingua.plugins.neurons.lm_head import causal_lm, logit_postprocessing

        lm, reloaded = causal_lm(loaded, model_dtype, revision, trust_remote_code,
                                 allow_pickle)
        softcap, scale = logit_postprocessing(lm.config, loaded.model_type)
        model = LossModel(name, loaded, lm, lm.get_output_embeddings(), "causal",
                          softcap=softcap, scale=scale)
    else:
        lm, reloaded = _masked_lm(loaded, model_dtype, revision, trust_remote_code,
                                  allow_pickle)
        model = LossModel(name, loaded, lm, _mlm_head(lm, name), "masked")
    with torch.inference_mode():
        vocab = _check_head(model)
    model.meta = {"model": name, "model_type": loaded.model_type, "objective": model.objective,
                  "model_dtype": model_dtype, "head_reloaded": reloaded,
                  "vocab_size": int(vocab), "max_length": int(loaded.max_length),
                  "final_logit_softcapping": model.softcap, "logit_scale": model.scale}
    return model


def _masked_lm(loaded: Any, model_dtype: str, revision: str | None, trust_remote_code: bool,
               allow_pickle: bool) -> tuple[Any, bool]:
    """``AutoModelForMaskedLM`` of ``loaded``'s checkpoint (same safety flags), with
    ``loaded.model`` replaced by its base; refused without a trained head."""
    from transformers import AutoModelForMaskedLM

    from interlingua.plugins.neurons.lm_head import from_checkpoint

    name = loaded.name
    try:
        lm, info = from_checkpoint(loaded, AutoModelForMaskedLM, model_dtype=model_dtype,
                                   revision=revision, trust_remote_code=trust_remote_code,
                                   allow_pickle=allow_pickle, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"model {name!r} ({loaded.model_type}) has no masked-LM head "
                         f"class: {exc}") from None
    prefix = lm.base_model_prefix + "."
    # Base weights the checkpoint lacks are the pooler's at most (e5 ships none); a
    # missing head weight means a randomly initialised head: its loss means nothing.
    head_missing = [k for k in info.get("missing_keys", []) if not k.startswith(prefix)]
    if head_missing:
        raise InputError(f"model {name!r} has no trained masked-LM head: its checkpoint lacks "
                         f"{head_missing[0]} (and {len(head_missing) - 1} more head weights); "
                         "sentence encoders such as e5 are not language models")
    lm.eval().to(loaded.device)
    loaded.model = lm.base_model
    return lm, True


def _mlm_head(lm: Any, name: str) -> Any:
    """The module after the base model (BERT ``cls``, RoBERTa ``lm_head``)."""
    others = [m for n, m in lm.named_children() if m is not lm.base_model]
    if len(others) != 1:
        raise InputError(f"model {name!r}: its masked-LM head is not one module after the "
                         f"base model ({', '.join(n for n, _ in lm.named_children())}); not "
                         "supported")
    return others[0]


def _check_head(model: LossModel) -> int:
    """The chunked head on the base model's last hidden state must give the logits of
    the model's own forward pass (else the loss would not be the model's); returns the
    vocabulary size."""
    import torch

    ids = model.tokenizer(_CHECK_TEXT, truncation=True, max_length=16)["input_ids"]
    ids_t = torch.tensor([ids], device=model.device)
    real = model.lm(input_ids=ids_t).logits[0].float()
    mine = model.head_logits(model.base(input_ids=ids_t).last_hidden_state[0])
    tol = 1e-4 if next(model.lm.parameters()).dtype == torch.float32 else 2e-2
    scale = float(real.abs().max()) or 1.0
    if real.shape != mine.shape or not torch.allclose(mine, real, rtol=tol, atol=tol * scale):
        raise InputError(f"cannot reproduce the output logits of model {model.name!r} "
                         f"({model.loaded.model_type}) from its last hidden state; its head "
                         "is not supported for the LM loss")
    return int(real.shape[-1])


# -- inputs ------------------------------------------------------------------------------
@dataclass
class LossInputs:
    """Tokenized sentences with their targets, fixed once for every condition compared.

    ``ids[i]`` are the model's input ids of sentence ``i`` (masked positions already
    replaced by the mask token), ``positions[i]`` the positions whose output predicts
    ``targets[i]`` (causal: ``t`` predicts token ``t+1``; masked: ``t`` predicts the
    original token at ``t``).
    """

    ids: list[np.ndarray]
    positions: list[np.ndarray]
    targets: list[np.ndarray]
    n_truncated: int = 0

    @property
    def tokens(self) -> np.ndarray:
        """Targets per sentence, int64."""
        return np.array([len(t) for t in self.targets], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)


def encode(model: LossModel, sentences: Sequence[str], *, seed: int = 0,
           mask_fraction: float = 0.15) -> LossInputs:
    """Tokenize ``sentences`` and choose their targets (module docstring).

    Parameters
    ----------
    model : LossModel
    sentences : sequence of str
    seed : int
        Masked objective: sentence ``i``'s positions come from
        ``numpy.random.default_rng([seed, i])``.
    mask_fraction : float
        Masked objective: share of the non-special tokens masked (at least one).

    Returns
    -------
    LossInputs
    """
    if not 0 < mask_fraction <= 1:
        raise InputError(f"mask_fraction must be in (0, 1], got {mask_fraction}")
    tok = model.tokenizer
    if model.objective == "masked" and tok.mask_token_id is None:
        raise InputError(f"the tokenizer of {model.name!r} has no mask token")
    limit = model.loaded.max_length
    enc = tok([str(s) for s in sentences], add_special_tokens=True, truncation=False,
              return_special_tokens_mask=True)
    out = LossInputs([], [], [])
    for i, (seq, special) in enumerate(zip(enc["input_ids"], enc["special_tokens_mask"])):
        if len(seq) > limit:
            out.n_truncated += 1
            seq, special = seq[:limit], special[:limit]
        ids = np.asarray(seq, dtype=np.int64)
        real = ~np.asarray(special, dtype=bool)
        if model.objective == "causal":
            pos = np.flatnonzero(real[1:])  # position t predicts token t + 1
            tgt = ids[pos + 1]
        else:
            candidates = np.flatnonzero(real)
            k = min(candidates.size, max(1, round(mask_fraction * candidates.size)))
            rng = np.random.default_rng([seed, i])
            pos = np.sort(rng.choice(candidates, size=k, replace=False)) if k else candidates
            tgt = ids[pos].copy()
            ids = ids.copy()
            ids[pos] = tok.mask_token_id
        out.ids.append(ids)
        out.positions.append(pos.astype(np.int64))
        out.targets.append(tgt.astype(np.int64))
    return out


# -- losses ------------------------------------------------------------------------------
def sentence_losses(model: LossModel, inputs: LossInputs | Sequence[str], *,
                    batch_size: int = 16, task: Task | None = None) -> np.ndarray:
    """Summed NLL (nats, float64) of each sentence's targets.

    Parameters
    ----------
    model : LossModel
    inputs : LossInputs or sequence of str
        From :func:`encode` (strings are encoded with its defaults).
    batch_size : int
        Sentences per forward pass (sorted by length, right padding).
    task : Task, optional
        Advanced by the sentences done.

    Returns
    -------
    numpy.ndarray
        ``(n_sentences,)`` float64; :attr:`LossInputs.tokens` are the target counts.
    """
    import torch

    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if not isinstance(inputs, LossInputs):
        inputs = encode(model, inputs)
    n = len(inputs)
    nll = np.zeros(n, dtype=np.float64)
    order = sorted(range(n), key=lambda i: (-len(inputs.ids[i]), i))
    dev = model.device
    pad = model.loaded.pad_id
    vocab_chunk = max(1, CHUNK_LOGITS // int(model.meta.get("vocab_size") or 262144))
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            chosen = order[start:start + batch_size]
            width = max(len(inputs.ids[i]) for i in chosen)
            ids = np.full((len(chosen), width), pad, dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.int64)
            rows, cols, targets, owner = [], [], [], []
            for r, i in enumerate(chosen):
                seq = inputs.ids[i]
                ids[r, :len(seq)] = seq
                mask[r, :len(seq)] = 1
                rows.append(np.full(len(inputs.positions[i]), r))
                cols.append(inputs.positions[i])
                targets.append(inputs.targets[i])
                owner.append(np.full(len(inputs.positions[i]), i))
            owner_np = np.concatenate(owner)
            if owner_np.size:
                out = model.base(input_ids=torch.from_numpy(ids).to(dev),
                                 attention_mask=torch.from_numpy(mask).to(dev))
                states = out.last_hidden_state[torch.from_numpy(np.concatenate(rows)).to(dev),
                                               torch.from_numpy(np.concatenate(cols)).to(dev)]
                tgt = torch.from_numpy(np.concatenate(targets)).to(dev)
                parts = []
                for s in range(0, len(tgt), vocab_chunk):
                    z = model.head_logits(states[s:s + vocab_chunk])  # float32
                    zt = z.gather(1, tgt[s:s + vocab_chunk, None])[:, 0]
                    parts.append((torch.logsumexp(z, dim=-1) - zt).cpu().numpy())
                    del z
                np.add.at(nll, owner_np, np.concatenate(parts).astype(np.float64))
            if task is not None:
                task.advance(len(chosen))
    return nll


def perplexity(nll: np.ndarray, tokens: np.ndarray) -> float:
    """exp(Σ NLL / Σ targets), float64 (nan without targets)."""
    total = float(np.asarray(tokens, dtype=np.float64).sum())
    if total == 0:
        return float("nan")
    return float(np.exp(np.asarray(nll, dtype=np.float64).sum() / total))


__all__ = ["CHUNK_LOGITS", "OBJECTIVES", "LossInputs", "LossModel", "encode",
           "load_loss_model", "perplexity", "sentence_losses"]
