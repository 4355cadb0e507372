"""Which modules of a model to watch, and watching them: name patterns, presets, hooks.

Modules are named as ``model.named_modules()`` names them (``layers.3.mlp.act_fn``).
A *module spec* is one of, or a comma-separated list / sequence of:

* a **preset** (:data:`PRESETS`), resolved per architecture from ``model.config.model_type``:
  ``mlp-act`` is the FFN activation-function output, the neurons that LAPE counts
  (Tang et al. 2024, §2; see the table below);
* a **glob** over dotted names: ``*`` matches one name component (``layers.*.mlp.act_fn``:
  every layer), ``**`` any number of components, including none
  (``**.mlp.act_fn``); ``?`` and ``[...]`` as in :mod:`fnmatch`, within one component;
* an **exact** module name.

``mlp-act`` per architecture (what the neuron's activation *is*):

==========================================  ============================================
``model_type``                              module (its output = the neurons)
==========================================  ============================================
gemma, gemma2, gemma3, gemma3_text, llama,  ``layers.*.mlp.act_fn`` = act(gate(x)), the
mistral, qwen2, qwen3 (gated MLP:           activation side of the gate product, as Tang
down(act(gate(x)) * up(x)))                 et al. count it (act > 0 iff gate(x) > 0)
gpt2                                        ``h.*.mlp.act`` = gelu(c_fc(x))
gpt_neox / phi                              ``layers.*.mlp.act`` / ``layers.*.mlp.activation_fn``
bloom                                       ``h.*.mlp.gelu_impl`` (Tang et al.'s BLOOM count)
opt, xglm, bart, mbart, m2m_100, marian     ``layers.*.activation_fn`` = act(fc1(x))
bert, roberta, xlm-roberta, camembert,      ``encoder.layer.*.intermediate.intermediate_act_fn``
electra (e5 is a BERT)                      = gelu(intermediate.dense(x))
distilbert                                  ``transformer.layer.*.ffn.activation``
t5, mt5, umt5                               ``block.*.layer.*.DenseReluDense.act`` (encoder
                                            and decoder blocks; mT5: the gated act(wi_0(x)))
==========================================  ============================================

All patterns of a preset start with ``**.``, so they also match a base model wrapped in a
head (``model.layers.*.mlp.act_fn`` of a ``...ForCausalLM``). An architecture without a
preset (and a pattern matching nothing) is one :class:`~interlingua.core.errors.InputError`
listing the modules that look like activation functions, as patterns to pass instead.

:func:`record` installs forward hooks calling ``fn(name, output)`` and always removes
them. It holds no analysis logic: counting (LAPE), storing or intervening (a hook that
returns a tensor replaces the module's output) are the callers' business.

``torch`` is never imported here at module level.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from interlingua.core.errors import InputError

_GATED = "**.layers.*.mlp.act_fn"
_ENCODER = "**.encoder.layer.*.intermediate.intermediate_act_fn"
_FC1 = "**.layers.*.activation_fn"

#: Named module sets: preset -> {model_type: patterns}.
PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "mlp-act": {
        **{t: (_GATED,) for t in ("gemma", "gemma2", "gemma3", "gemma3_text", "llama",
                                  "mistral", "qwen2", "qwen3")},
        "gpt2": ("**.h.*.mlp.act",),
        "gpt_neox": ("**.layers.*.mlp.act",),
        "phi": ("**.layers.*.mlp.activation_fn",),
        "bloom": ("**.h.*.mlp.gelu_impl",),
        **{t: (_FC1,) for t in ("opt", "xglm", "bart", "mbart", "m2m_100", "marian")},
        **{t: (_ENCODER,) for t in ("bert", "roberta", "xlm-roberta", "camembert",
                                    "electra")},
        "distilbert": ("**.transformer.layer.*.ffn.activation",),
        **{t: ("**.block.*.layer.*.DenseReluDense.act",) for t in ("t5", "mt5", "umt5")},
    },
}

_ACT_CLASS = re.compile(r"gelu|relu|silu|swish|mish|tanh|sigmoid|softplus|activation", re.I)
_ACT_NAME = re.compile(r"(^|_)act(_|$)|activation|gelu|relu|silu", re.I)


def model_type(model: Any) -> str:
    """``model.config.model_type`` (``""`` when the model has no config)."""
    return str(getattr(getattr(model, "config", None), "model_type", "") or "")


def _component_regex(part: str) -> str:
    """Regex of one name component: ``*`` and ``?`` never cross a dot; ``[...]`` classes."""
    out, i = [], 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^.]*")
        elif ch == "?":
            out.append("[^.]")
        elif ch == "[" and "]" in part[i + 2:]:
            end = part.index("]", i + 2)  # "[]...]": a "]" first is a member, as in fnmatch
            body = part[i + 1:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Regex of a dotted glob: ``*`` = one component, ``**`` = any number (also none)."""
    parts = pattern.split(".")
    if not pattern or any(p == "" for p in parts):
        raise InputError(f"invalid module pattern {pattern!r} (empty name component)")
    parts = [p for i, p in enumerate(parts) if not (p == "**" and i and parts[i - 1] == "**")]
    regex = ""
    for i, part in enumerate(parts):
        if part == "**":  # zero or more whole components, with their joining dots
            if i == 0:
                regex += r"(?:[^.]+\.)*" if len(parts) > 1 else r"[^.]+(?:\.[^.]+)*"
            else:
                regex += r"(?:\.[^.]+)*"
        else:
            joined = i == 0 or (i == 1 and parts[0] == "**")
            regex += ("" if joined else r"\.") + _component_regex(part)
    return re.compile(regex + r"\Z")


def layer_label(name: str, *, stack: bool = True) -> str:
    """The layer a module belongs to: its first integer name component (the block
    index, 0-based), prefixed by ``encoder/`` or ``decoder/`` inside such a stack (when
    ``stack``); the module name itself when it has no integer component."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            where = next((p for p in reversed(parts[:i]) if p in ("encoder", "decoder")), "")
            return f"{where}/{part}" if where and stack else part
    return name


def layer_labels(names: Sequence[str]) -> list[str]:
    """:func:`layer_label` of each name, with the ``encoder/`` / ``decoder/`` prefix only
    when the labels would collide without it (encoder–decoder models)."""
    plain = [layer_label(n, stack=False) for n in names]
    if len(set(plain)) == len(plain):
        return plain
    return [layer_label(n) for n in names]


def activation_like(model: Any) -> list[str]:
    """Modules that look like activation functions, as patterns (integer components
    replaced by ``*``) with their class and count, e.g.
    ``"layers.*.mlp.act_fn (GELUTanh, 18 modules)"``."""
    groups: dict[str, list[str]] = {}
    for name, module in model.named_modules():
        if not name:
            continue
        cls = type(module)
        if cls.__module__ in ("transformers.activations", "torch.nn.modules.activation") \
                or _ACT_CLASS.search(cls.__name__) or _ACT_NAME.search(name.split(".")[-1]):
            if any(True for _ in module.children()):
                continue  # a block that merely has "act" in its name
            key = re.sub(r"(?<=\.)\d+(?=\.|$)|^\d+(?=\.)", "*", name)
            groups.setdefault(key, []).append(cls.__name__)
    return [f"{k} ({v[0]}, {len(v)} module{'s' if len(v) > 1 else ''})"
            for k, v in groups.items()]


def _split(spec: str | Sequence[str]) -> list[str]:
    items = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
    out = [s.strip() for s in items if s and s.strip()]
    if not out:
        raise InputError("no modules given (a preset such as 'mlp-act', a glob such as "
                         "'layers.*.mlp.act_fn', or module names)")
    return out


def _unknown(model: Any, what: str) -> InputError:
    found = activation_like(model)
    listing = "; ".join(found) if found else "none found"
    kind = model_type(model) or type(model).__name__
    return InputError(f"{what} (model type {kind!r}); modules that look like activation "
                      f"functions: {listing} — pass one of these patterns as modules")


def resolve_modules(model: Any, spec: str | Sequence[str] = "mlp-act") -> list[str]:
    """Names of the modules ``spec`` selects, in the model's module order.

    Parameters
    ----------
    model : torch.nn.Module
        The model (``named_modules`` names, ``config.model_type`` for presets).
    spec : str or sequence of str
        Presets, globs or names (see the module docstring); a string may list several
        separated by commas.

    Returns
    -------
    list of str
        Unique names in ``named_modules`` order.

    Raises
    ------
    InputError
        A preset without an entry for this architecture, a pattern matching nothing,
        or one module object registered under two names (a shared module would fire
        once per use, so its hooks could not tell its layers apart). The message of the
        first two lists the modules that look like activation functions.
    """
    names = [n for n, _ in model.named_modules(remove_duplicate=False) if n]
    chosen: set[str] = set()
    kind = model_type(model)
    for item in _split(spec):
        if item in PRESETS:
            patterns = PRESETS[item].get(kind)
            if patterns is None:
                known = ", ".join(sorted(PRESETS[item]))
                raise _unknown(model, f"module preset {item!r} does not know this "
                                      f"architecture (it knows: {known})")
        else:
            patterns = (item,)
        for pattern in patterns:
            regex = compile_pattern(pattern)
            hits = [n for n in names if regex.match(n)]
            if not hits:
                what = f"preset {item!r}: pattern" if item in PRESETS else "module pattern"
                raise _unknown(model, f"{what} {pattern!r} matches no module of this model")
            chosen.update(hits)
    table = dict(model.named_modules(remove_duplicate=False))
    seen: dict[int, str] = {}
    for name in names:
        if name in chosen:
            other = seen.setdefault(id(table[name]), name)
            if other != name:
                raise InputError(f"modules {other!r} and {name!r} are one shared module "
                                 "object; hooks cannot tell its uses apart — choose a "
                                 "module that is not shared")
    return [n for n in dict.fromkeys(names) if n in chosen]


@contextmanager
def record(model: Any, modules: str | Sequence[str],
           fn: Callable[[str, Any], Any]) -> Iterator[list[str]]:
    """Call ``fn(module_name, output)`` after every forward call of the chosen modules.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose modules are hooked.
    modules : str or sequence of str
        A module spec (presets, globs, names: see :func:`resolve_modules`).
    fn : callable
        Called with the module's name and its output. If it returns something other
        than ``None``, that replaces the module's output (forward-hook semantics: the
        basis for interventions such as zeroing neurons).

    Yields
    ------
    list of str
        The hooked module names, in model order.

    Notes
    -----
    The hooks are removed when the block ends, whatever happens inside it (an
    exception in ``fn`` or in the model, ``KeyboardInterrupt``); a hook installed
    before the failure of a later registration is removed as well.
    """
    names = resolve_modules(model, modules)
    table = dict(model.named_modules(remove_duplicate=False))
    handles: list[Any] = []
    try:
        for name in names:
            def hook(module: Any, args: Any, output: Any, _name: str = name) -> Any:
                return fn(_name, output)

            handles.append(table[name].register_forward_hook(hook))
        yield names
    finally:
        for handle in handles:
            handle.remove()


__all__ = ["PRESETS", "activation_like", "compile_pattern", "layer_label", "layer_labels",
           "model_type", "record", "resolve_modules"]
