"""Causal interventions on neurons: run a model with chosen output units of chosen
modules set to zero, to a constant, scaled, or patched from another input.

Tang et al. 2024, "Language-Specific Neurons", §3 deactivate language-specific neurons
by setting their activation to zero during the forward pass and measure the change in
per-language perplexity (:mod:`~interlingua.plugins.neurons.ablation`). Here a neuron is
one output unit (last dimension) of any module selected by its exact name, e.g. unit
``5`` of ``layers.1.mlp.act_fn`` as LAPE reports it (``LanguageNeurons.neurons``).

:func:`intervene` is a context manager installing one forward hook per edited module
(:func:`~interlingua.plugins.extraction.modules.record`); the hook applies that module's
edits in order to a clone of its output and returns the clone, which replaces the
output. Parameters and buffers are never touched, and the hooks are removed when the
block ends, whatever happens inside it.

Modes of an :class:`Edit` (``x`` = the module output, ``J`` = its neurons):

* ``zero``: ``x[..., J] = 0`` (Tang et al.'s deactivation);
* ``constant``: ``x[..., J] = value``;
* ``scale``: ``x[..., J] *= value``;
* ``patch``: ``x[..., J] = source[..., J]`` where ``source`` is the module's output on
  another input (:func:`capture`; same batch size and positions) or a vector with one
  value per neuron of the module or of ``J`` (e.g. a mean activation).

``torch`` is imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from interlingua.core.errors import InputError
from interlingua.core.suggest import did_you_mean

MODES = ("zero", "constant", "scale", "patch")


@dataclass(frozen=True)
class Edit:
    """One intervention on one module's output.

    Parameters
    ----------
    module : str
        Exact module name (``model.named_modules()``), e.g. ``layers.1.mlp.act_fn``.
    neurons : sequence of int, optional
        Indices along the output's last dimension; None = all of them.
    mode : {"zero", "constant", "scale", "patch"}
        See the module docstring.
    value : float
        The constant (``constant``) or the factor (``scale``).
    source : tensor or array, optional
        ``patch`` only: the module's output on the source input, ``(batch, positions,
        width)``, or one value per neuron (``(width,)`` or ``(len(neurons),)``).
    """

    module: str
    neurons: tuple[int, ...] | None = None
    mode: str = "zero"
    value: float = 0.0
    source: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.module, str) or not self.module:
            raise InputError(f"an edit needs a module name, got {self.module!r}")
        if self.mode not in MODES:
            raise InputError(f"edit mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.neurons is not None:
            try:
                idx = tuple(int(j) for j in self.neurons)
            except (TypeError, ValueError):
                raise InputError(f"edit of {self.module!r}: neurons must be integers, got "
                                 f"{self.neurons!r}") from None
            if not idx:
                raise InputError(f"edit of {self.module!r}: no neurons (None means all)")
            if min(idx) < 0:
                raise InputError(f"edit of {self.module!r}: negative neuron index {min(idx)}")
            if len(set(idx)) != len(idx):
                raise InputError(f"edit of {self.module!r}: duplicate neuron indices")
            object.__setattr__(self, "neurons", idx)
        value = float(self.value)
        if not math.isfinite(value):
            raise InputError(f"edit of {self.module!r}: value must be finite, got {value}")
        object.__setattr__(self, "value", value)
        if (self.mode == "patch") != (self.source is not None):
            raise InputError(f"edit of {self.module!r}: a source is needed by mode 'patch' "
                             "and by no other mode")

    def apply(self, output: Any) -> Any:
        """This edit on a module output (in place; :func:`intervene` passes a clone)."""
        import torch

        width = output.shape[-1]
        idx = slice(None) if self.neurons is None else list(self.neurons)
        if self.neurons is not None and max(self.neurons) >= width:
            raise InputError(f"edit of {self.module!r}: neuron {max(self.neurons)} out of range "
                             f"(the module has {width} outputs)")
        if self.mode == "zero":
            output[..., idx] = 0
        elif self.mode == "constant":
            output[..., idx] = self.value
        elif self.mode == "scale":
            output[..., idx] *= self.value
        else:
            src = torch.as_tensor(self.source).to(device=output.device, dtype=output.dtype)
            n_sel = width if self.neurons is None else len(self.neurons)
            lead = tuple(src.shape[:-1])
            # Last dimension: the module's width (indexed by the edit's neurons), else
            # one value per edited neuron.
            if src.dim() and src.shape[-1] == width:
                src = src[..., idx]
            elif not src.dim() or src.shape[-1] != n_sel:
                lead = None
            if lead not in ((), tuple(output.shape[:-1])):
                raise InputError(
                    f"patch source of {self.module!r} has shape "
                    f"{tuple(torch.as_tensor(self.source).shape)}; the module output is "
                    f"{tuple(output.shape)}: give its output on an input of the same batch "
                    f"size and positions (capture), or one value per neuron ({width} or "
                    f"{n_sel})")
            output[..., idx] = src
        return output


def _base(model: Any) -> Any:
    """The torch module of a model or of a loaded model (``.base`` / ``.model``)."""
    if hasattr(model, "named_modules"):
        return model
    for attr in ("base", "model"):
        inner = getattr(model, attr, None)
        if hasattr(inner, "named_modules"):
            return inner
    raise InputError(f"expected a torch model, got {type(model).__name__}")


def check_modules(model: Any, modules: Iterable[str]) -> list[str]:
    """The distinct module names, each checked to exist in ``model`` (exact names).

    Raises
    ------
    InputError
        One line naming the first unknown module (with a close match if any).
    """
    names = dict.fromkeys(str(m) for m in modules)
    table = {n for n, _ in _base(model).named_modules(remove_duplicate=False) if n}
    for name in names:
        if name not in table:
            kind = getattr(getattr(_base(model), "config", None), "model_type", "") or \
                type(_base(model)).__name__
            raise InputError(f"module {name!r} does not exist in the model ({kind})"
                             f"{did_you_mean(name, sorted(table))}")
    return list(names)


@contextmanager
def intervene(model: Any, edits: Edit | Sequence[Edit]) -> Iterator[list[str]]:
    """Run ``model`` with ``edits`` applied inside the block (Tang et al. 2024, §3).

    Parameters
    ----------
    model : torch.nn.Module or LossModel or LoadedModel
        The model (a loaded model's base model is edited).
    edits : Edit or sequence of Edit
        Applied in order; edits of one module share one hook.

    Yields
    ------
    list of str
        The edited module names, in model order.

    Raises
    ------
    InputError
        An unknown module (before anything is hooked); in the forward pass, a module
        output that is not a tensor, a neuron out of range, a patch source of the wrong
        shape.

    Notes
    -----
    The module output is cloned before editing, so neither the weights nor a tensor
    the model keeps elsewhere change; the hooks are always removed.
    """
    from interlingua.plugins.extraction.modules import record

    edits = [edits] if isinstance(edits, Edit) else list(edits)
    for e in edits:
        if not isinstance(e, Edit):
            raise InputError(f"expected Edit objects, got {type(e).__name__}")
    base = _base(model)
    names = check_modules(base, [e.module for e in edits])
    by_module: dict[str, list[Edit]] = {n: [e for e in edits if e.module == n] for n in names}

    def hook(name: str, output: Any) -> Any:
        import torch

        if not isinstance(output, torch.Tensor):
            raise InputError(f"module {name!r} returned {type(output).__name__}, not a tensor; "
                             "edit a module whose output is the activations")
        out = output.clone()
        for edit in by_module[name]:
            edit.apply(out)
        return out

    if not names:
        yield []
        return
    with record(base, names, hook) as hooked:
        yield hooked


def capture(model: Any, modules: str | Sequence[str], **inputs: Any) -> dict[str, Any]:
    """The outputs of ``modules`` when ``model`` runs on ``inputs`` (a source for
    ``patch`` edits).

    Parameters
    ----------
    model : torch.nn.Module or LossModel or LoadedModel
    modules : str or sequence of str
        Exact module names.
    **inputs
        Passed to the model (``input_ids=..., attention_mask=...``).

    Returns
    -------
    dict of str -> torch.Tensor
        Detached copies, one per module.

    Raises
    ------
    InputError
        An unknown module, an output that is not a tensor, a module that runs more than
        once in the pass.
    """
    import torch

    from interlingua.plugins.extraction.modules import record

    base = _base(model)
    names = check_modules(base, [modules] if isinstance(modules, str) else modules)
    out: dict[str, Any] = {}

    def keep(name: str, output: Any) -> None:
        if not isinstance(output, torch.Tensor):
            raise InputError(f"module {name!r} returned {type(output).__name__}, not a tensor")
        if name in out:
            raise InputError(f"module {name!r} ran more than once in one forward pass")
        out[name] = output.detach().clone()

    with record(base, names, keep), torch.inference_mode():
        base(**inputs)
    missing = [n for n in names if n not in out]
    if missing:
        raise InputError(f"module {missing[0]!r} did not run in the forward pass")
    return out


__all__ = ["MODES", "Edit", "capture", "check_modules", "intervene"]
