"""Activations of named modules as extra layer groups of an activation store.

Besides the hidden states, the ``hf`` extractor can store the output of any submodule
(:mod:`~interlingua.plugins.extraction.modules` names them: presets, globs, names), e.g.
every block's FFN activation-function output — the neurons that LAPE counts (Tang et
al. 2024, §2) — or each attention block's output. This module turns a *group spec* into
store layer names, hooks the modules during extraction and pools their outputs exactly
like hidden states.

Group spec (the ``modules`` parameter)
--------------------------------------
``"NAME=SPEC;NAME=SPEC"`` or a dict ``{NAME: SPEC}`` (Python), where SPEC is a module
spec as :func:`~interlingua.plugins.extraction.modules.resolve_modules` takes it
(presets, globs or names, comma-separated). A bare preset is its own group, named by
:data:`PRESET_GROUPS` (``mlp-act`` → ``mlp``). Group names are letters, digits, ``_``
and ``-``, start with a letter, and are not ``encoder`` / ``decoder``.

Store layer names
-----------------
``<group>/<block>`` (``mlp/0`` … ``mlp/17``: the block index, 0-based, i.e. the first
integer component of the module name, :func:`~.modules.layer_label`), and for
encoder–decoder models ``encoder/<group>/<block>`` / ``decoder/<group>/<block>``. A
module outside numbered blocks keeps its dotted name as label (``final=norm`` →
``final/norm``). They sort after the hidden states of their stack
(:func:`~interlingua.core.store.layer_sort_key`). Two modules of one group in one block
(``attn=layers.*.self_attn.*_proj``) are refused: one group per kind of module. The root
attribute ``modules`` maps every module layer to its module (JSON), so a LAPE neuron
(``layers.3.mlp.act_fn``, index 5) is column 5 of layer ``mlp/3``
(:func:`module_layers`).

Rows
----
A module's output ``(batch, tokens, d)`` — the first element when it returns a tuple
(attention blocks) — goes through :func:`~.forward.pool_layers` with the mask and
position shift of its stack: encoder and decoder-only models shift 0; inside the
decoder of an encoder–decoder model the decoder mask and shift 1 (the start token).
Pooling happens inside the hook, so only the pooled rows of one batch are held, never
the ``(batch, tokens, d)`` outputs of every module. Outputs of another shape, and
modules that run more (or less) often than once per pass, are refused naming the module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from interlingua.core.errors import InputError
from interlingua.plugins.extraction.modules import layer_label, resolve_modules

#: Group name of a bare preset in a group spec.
PRESET_GROUPS = {"mlp-act": "mlp"}
_GROUP = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_STACKS = ("encoder", "decoder")


def parse_groups(spec: Any) -> dict[str, str]:
    """``{group: module spec}`` from a group spec (see the module docstring).

    Parameters
    ----------
    spec : None, str, dict or sequence of str
        ``"mlp=mlp-act;attn=layers.*.self_attn"``, ``{"mlp": "mlp-act"}``,
        ``["mlp=mlp-act"]`` or a bare preset ``"mlp-act"``; None or empty = no groups.

    Returns
    -------
    dict
        Group name → module spec (comma-separated patterns), in the order given.

    Raises
    ------
    InputError
        An unnamed pattern, an invalid or repeated group name, an empty spec.
    """
    if spec is None or spec == "" or spec == {} or spec == []:
        return {}
    if isinstance(spec, Mapping):
        items = [(str(k), v) for k, v in spec.items()]
    else:
        parts = spec.split(";") if isinstance(spec, str) else [str(s) for s in spec]
        items = []
        for part in (p.strip() for p in parts):
            if not part:
                continue
            name, eq, value = part.partition("=")
            if eq:
                items.append((name.strip(), value))
            elif part in PRESET_GROUPS:
                items.append((PRESET_GROUPS[part], part))
            else:
                known = ", ".join(f"{p} (group {g!r})" for p, g in PRESET_GROUPS.items())
                raise InputError(f"modules: name the group of {part!r} as NAME={part} (only "
                                 f"presets name their own group: {known})")
    out: dict[str, str] = {}
    for name, value in items:
        if not _GROUP.fullmatch(name) or name in _STACKS:
            raise InputError(f"modules: invalid group name {name!r} (letters, digits, '_', "
                             "'-', starting with a letter; not 'encoder' or 'decoder')")
        if name in out:
            raise InputError(f"modules: group {name!r} is given twice")
        text = value if isinstance(value, str) else ",".join(str(v) for v in value)
        if not text.strip():
            raise InputError(f"modules: group {name!r} has no module pattern")
        out[name] = text.strip()
    return out


def _stack_of(name: str) -> str:
    """``"encoder"`` / ``"decoder"``: the stack component nearest before the block index."""
    parts = name.split(".")
    end = next((i for i, p in enumerate(parts) if p.isdigit()), len(parts))
    return next((p for p in reversed(parts[:end]) if p in _STACKS),
                next((p for p in parts if p in _STACKS), ""))


def _blocks(spec: Any, n_layers: dict[str, int]) -> dict[str, set[int]] | None:
    """Chosen block indices per stack prefix (None = all) from ``module_layers``, parsed
    like the hidden-state layers (:func:`~.loading.select_layers`) over the blocks."""
    from interlingua.plugins.extraction.loading import select_layers

    if spec is None or spec == "all" or spec == []:
        return None
    # hidden states = blocks + the embeddings
    names = select_layers(spec, {p: n - 1 for p, n in n_layers.items()}, blocks=True)
    chosen: dict[str, set[int]] = {p: set() for p in n_layers}
    for name in names:
        stack, _, index = name.rpartition("/")
        chosen[stack + "/" if stack else ""].add(int(index))
    return chosen


def module_layers(model: Any, spec: Any, *, seq2seq: bool, n_layers: dict[str, int],
                  blocks: Any = None) -> dict[str, str]:
    """Store layer name → module name for a group spec, in store order.

    Parameters
    ----------
    model : torch.nn.Module
        The model the modules are resolved in.
    spec : str, dict or sequence
        A group spec (:func:`parse_groups`).
    seq2seq : bool
        An encoder–decoder model: layer names get the ``encoder/`` or ``decoder/`` prefix.
    n_layers : dict of str -> int
        Hidden states per stack prefix (:attr:`~.loading.LoadedModel.n_layers`).
    blocks : None, str, int or sequence
        Keep only these blocks (``"0,8,-1"``, negative from the end, ``"decoder/2"``);
        modules outside numbered blocks are always kept.

    Returns
    -------
    dict
        ``{"mlp/0": "layers.0.mlp.act_fn", …}``; empty when ``spec`` names no group.

    Raises
    ------
    InputError
        Any problem of :func:`parse_groups` or of
        :func:`~interlingua.plugins.extraction.modules.resolve_modules`, a module in two
        groups, two modules of a group in one block, a module of an encoder–decoder
        model in neither stack, a group left empty by ``blocks``.
    """
    from interlingua.core.store import layer_sort_key

    groups = parse_groups(spec)
    if not groups:
        if blocks not in (None, "all", []):
            raise InputError("module_layers (--module-layers) needs modules (--modules)")
        return {}
    chosen = _blocks(blocks, n_layers)
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    for group, patterns in groups.items():
        kept = 0
        for name in resolve_modules(model, patterns):
            if name in owner:
                raise InputError(f"module {name!r} is in groups {owner[name]!r} and "
                                 f"{group!r}; give each module to one group")
            owner[name] = group
            stack = _stack_of(name) if seq2seq else ""
            if seq2seq and not stack:
                raise InputError(f"module {name!r} is in neither the encoder nor the decoder "
                                 "of this encoder-decoder model; choose modules of one stack")
            prefix = f"{stack}/" if stack else ""
            label = layer_label(name, stack=False)
            if chosen is not None and label.isdigit() and int(label) not in chosen[prefix]:
                continue
            layer = f"{prefix}{group}/{label}"
            if layer in out:
                raise InputError(f"modules {out[layer]!r} and {name!r} of group {group!r} are "
                                 f"both in layer {layer!r}; use one group per kind of module")
            out[layer] = name
            kept += 1
        if not kept:
            raise InputError(f"group {group!r}: module_layers leaves none of its modules")
    return {k: out[k] for k in sorted(out, key=layer_sort_key)}


class ModuleCapture:
    """The hook function: pools each hooked module's output into word/sentence rows.

    Use inside :func:`~interlingua.plugins.extraction.modules.record` (which removes the
    hooks whatever happens): :meth:`start_batch` before the forward pass,
    :meth:`end_batch` after it, which returns ``{layer: (words, sentences)}``.

    Parameters
    ----------
    layers : dict
        Store layer name → module name (:func:`module_layers`).
    word_aggregation, sentence_pooling : str
        As for the hidden states (:func:`~.forward.pool_layers`).
    """

    def __init__(self, layers: dict[str, str], *, word_aggregation: str,
                 sentence_pooling: str) -> None:
        self.layer_of = {module: layer for layer, module in layers.items()}
        self.word_aggregation = word_aggregation
        self.sentence_pooling = sentence_pooling
        self.toks: Sequence[Any] = ()
        self.streams: dict[str, tuple[Any, int]] = {}
        self.expected: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.rows: dict[str, tuple[np.ndarray, np.ndarray, list[int]]] = {}

    @property
    def modules(self) -> list[str]:
        return list(self.layer_of)

    def start_batch(self, toks: Sequence[Any], streams: dict[str, tuple[Any, int]],
                    seq2seq_source: bool = False) -> None:
        """Masks of the next forward pass: ``{stack prefix: (mask, shift)}``
        (:func:`~.forward.stream_masks`). With ``seq2seq_source`` the encoder runs twice
        (on the JSONL source, then on the sentence): the second call is kept."""
        self.toks = toks
        self.streams = streams
        self.rows = {}
        self.calls = dict.fromkeys(self.layer_of, 0)
        self.expected = {m: 2 if seq2seq_source and layer.startswith("encoder/") else 1
                         for m, layer in self.layer_of.items()}

    def __call__(self, name: str, output: Any) -> None:
        import torch

        from interlingua.plugins.extraction.forward import pool_layers

        self.calls[name] += 1
        if self.calls[name] > self.expected[name]:
            raise InputError(f"module {name!r} ran more than once in one forward pass "
                             "(shared or reused); its rows would mix uses")
        if self.calls[name] < self.expected[name]:
            return None  # the encoder's run on the source sentence
        if isinstance(output, (tuple, list)) and output:
            output = output[0]  # attention blocks: (output, weights, ...)
        layer = self.layer_of[name]
        prefix = layer.split("/")[0] + "/" if layer.startswith(("encoder/", "decoder/")) else ""
        mask, shift = self.streams[prefix]
        if not isinstance(output, torch.Tensor) or output.dim() != 3 \
                or tuple(output.shape[:2]) != tuple(mask.shape) \
                or not output.is_floating_point():
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else \
                type(output).__name__
            raise InputError(f"module {name!r} returned {got}, not (batch, tokens, d) = "
                             f"{(*mask.shape, 'd')}; choose modules with one output row "
                             "per token")
        words, sents, counts = pool_layers(
            [output.detach()], mask, self.toks, shift,
            word_aggregation=self.word_aggregation, sentence_pooling=self.sentence_pooling)
        self.rows[layer] = (words[0].cpu().numpy(), sents[0].cpu().numpy(), counts)
        return None

    def forward(self, loaded: Any, toks: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
        """:func:`~.forward.run_model` on the batch with this capture armed (its hooks
        installed by the caller): ``(hidden-state streams, end_batch() rows)``."""
        from interlingua.plugins.extraction.forward import run_model, stream_masks

        self.start_batch(toks, stream_masks(loaded, toks), seq2seq_source=loaded.seq2seq
                         and any(t.source_ids is not None for t in toks))
        streams = run_model(loaded, toks)
        return streams, self.end_batch()

    def end_batch(self) -> dict[str, tuple[np.ndarray, np.ndarray, list[int]]]:
        """``{layer: (word rows, sentence rows, words per sentence)}`` of the batch."""
        missing = [n for n, c in self.calls.items() if c < self.expected[n]]
        if missing:
            raise InputError(f"module {missing[0]!r} did not run in the forward pass; "
                             "choose modules the model uses")
        rows, self.rows = self.rows, {}
        return rows


def probe_modules(loaded: Any, sentences: Sequence[Any], layers: dict[str, str], *,
                  prefix: str = "", word_aggregation: str = "mean",
                  sentence_pooling: str = "mean") -> None:
    """Run the first of ``sentences`` that has words with the modules hooked, so that a
    module with outputs of another shape, or that does not run once per pass, is
    refused before any store exists.

    Parameters
    ----------
    loaded : LoadedModel
        The model (:func:`~.loading.load_model`).
    sentences : sequence of CorpusSentence
        Candidates (the corpus' first few).
    layers : dict
        Store layer name → module name (:func:`module_layers`).
    prefix, word_aggregation, sentence_pooling : str
        As for the extraction.

    Raises
    ------
    InputError
        From :class:`ModuleCapture`, naming the module.
    """
    import torch

    from interlingua.plugins.extraction.modules import record
    from interlingua.plugins.extraction.words import tokenize_window

    toks = [t for t in tokenize_window(loaded.tokenizer, list(sentences), 0, prefix=prefix,
                                       max_length=loaded.max_length, seq2seq=loaded.seq2seq)
            if t.kept][:1]
    if not toks:
        return  # the extraction itself names a sentence without words
    capture = ModuleCapture(layers, word_aggregation=word_aggregation,
                            sentence_pooling=sentence_pooling)
    with torch.inference_mode(), record(loaded.model, list(layers.values()), capture):
        capture.forward(loaded, toks)


def attrs(layers: dict[str, str], spec: Any, blocks: Any) -> dict[str, str]:
    """Root attributes recording the module groups: ``modules`` (layer → module, JSON),
    ``module_groups`` (group → spec, JSON) and ``module_layers_selected``."""
    return {"modules": json.dumps(layers),
            "module_groups": json.dumps(parse_groups(spec)),
            "module_layers_selected": json.dumps(blocks)}


def stored_modules(store: Any) -> dict[str, str]:
    """Layer → module map recorded in a store (empty for a store without module groups).

    Parameters
    ----------
    store : ActivationStore
        An open store.
    """
    text = store.attrs.get("modules")
    if not text:
        return {}
    try:
        data = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        raise InputError(f"{store.path.name}: root attribute 'modules' is not a JSON "
                         "object") from None
    if not isinstance(data, dict):
        raise InputError(f"{store.path.name}: root attribute 'modules' is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


__all__ = ["PRESET_GROUPS", "ModuleCapture", "attrs", "module_layers", "parse_groups",
           "probe_modules", "stored_modules"]
