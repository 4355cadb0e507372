"""The language-model head of a loaded model, shared by the logit lens
(:mod:`.logit_lens`) and the LM loss (:mod:`.lm_loss`): the ``*ForCausalLM`` wrapped
around an already loaded base model (no second copy of tied weights), and the
post-processing some architectures apply to the head's logits (Gemma 2/3
``final_logit_softcapping``: ``c·tanh(z/c)``; Cohere ``logit_scale``; Granite
``1/logits_scaling``).

``torch`` and ``transformers`` are imported inside the functions.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from interlingua.core.errors import InputError

#: Post-processing of the head's logits by model type: multiply by a config value...
_SCALE_BY = {"cohere": "logit_scale", "cohere2": "logit_scale"}
#: ... or divide by one.
_DIVIDE_BY = {"granite": "logits_scaling", "granitemoe": "logits_scaling",
              "granitemoeshared": "logits_scaling", "granitemoehybrid": "logits_scaling"}


def logit_postprocessing(config: Any, model_type: str) -> tuple[float | None, float | None]:
    """``(softcap, scale)`` of a model's logits (None = not applied), from its config.

    Parameters
    ----------
    config : transformers config
        The causal LM's configuration.
    model_type : str
        ``config.model_type`` of the base model (decides scale vs divide).
    """
    softcap = getattr(config, "final_logit_softcapping", None)
    scale = None
    if model_type in _SCALE_BY:
        scale = float(getattr(config, _SCALE_BY[model_type]))
    elif model_type in _DIVIDE_BY:
        scale = 1.0 / float(getattr(config, _DIVIDE_BY[model_type]))
    return (None if softcap is None else float(softcap)), scale


def postprocess_logits(logits: Any, softcap: float | None, scale: float | None) -> Any:
    """float32 ``logits`` after the model's scaling and soft-capping (in that order, as
    the models' own forward passes do)."""
    import torch

    z = logits.float()
    if scale is not None:
        z = z * scale
    if softcap is not None:
        z = torch.tanh(z / softcap) * softcap
    return z


def causal_lm(loaded: Any, model_dtype: str, revision: str | None, trust_remote_code: bool,
              allow_pickle: bool) -> tuple[Any, bool]:
    """The ``*ForCausalLM`` around ``loaded.model``; True when weights were reloaded."""
    import torch
    from transformers import AutoModelForCausalLM

    base = loaded.model
    config = base.config
    try:
        with torch.device("meta"):  # no memory: every tensor is replaced or refused
            causal = AutoModelForCausalLM.from_config(copy.deepcopy(config),
                                                      trust_remote_code=trust_remote_code)
    except ValueError as exc:
        raise InputError(f"model {loaded.name!r} ({loaded.model_type}) has no causal-LM "
                         f"head class in transformers: {exc}") from None
    prefix = causal.base_model_prefix
    if type(getattr(causal, prefix, None)) is type(base):
        setattr(causal, prefix, base)
        causal.tie_weights()
        if not any(t.is_meta for t in (*causal.parameters(), *causal.buffers())):
            return causal.eval(), False
    causal = base = None  # they hold the base model: one copy in memory at a time
    # An untied (or biased) head: load the checkpoint as a causal LM, once.
    try:
        causal = from_checkpoint(loaded, AutoModelForCausalLM, model_dtype=model_dtype,
                                 revision=revision, trust_remote_code=trust_remote_code,
                                 allow_pickle=allow_pickle)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load the LM head of {loaded.name!r}: {exc}") from None
    causal.eval().to(loaded.device)
    loaded.model = causal.base_model
    return causal, True


def from_checkpoint(loaded: Any, auto_class: Any, *, model_dtype: str, revision: str | None,
                    trust_remote_code: bool, allow_pickle: bool, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained`` of ``loaded``'s checkpoint with the safety rules of
    :func:`~interlingua.plugins.extraction.loading.load_model` (safetensors unless
    ``allow_pickle``; a hub id only from the local cache ``load_model`` just filled).
    ``loaded.model`` is dropped first (one copy of the weights in memory at a time);
    ``OSError`` / ``ValueError`` of transformers pass through for the caller's message.
    """
    import torch
    import transformers

    from interlingua.plugins.extraction.loading import check_weights

    common: dict[str, Any] = {"trust_remote_code": trust_remote_code, **kwargs}
    if Path(loaded.source).is_dir():
        use_safetensors = check_weights(Path(loaded.source), allow_pickle)
    else:  # a hub id load_model has just fetched: the local cache has every file
        use_safetensors = None if allow_pickle else True
        common["local_files_only"] = True
        if revision:
            common["revision"] = revision
    dtypes = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    loaded.model = None
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        return auto_class.from_pretrained(loaded.source, use_safetensors=use_safetensors,
                                          dtype=dtypes[model_dtype], **common)
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()


__all__ = ["causal_lm", "from_checkpoint", "logit_postprocessing", "postprocess_logits"]
