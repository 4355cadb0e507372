"""Meta-tests: every registered plugin passes its kind's contract check, and every hook
is documented and used.

The plugins are read from the registry when the tests are collected, so a new plugin
(built-in or an installed third-party package) is covered without touching this file.
Inputs come from each metric's declared ``input_kind`` / ``inputs`` (see
:func:`interlingua.testing.example_inputs`); extractors run on the session's tiny BERT.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import interlingua as il
from interlingua.registry import get_registry, hookspecs
from interlingua.registry.manager import DEFAULT_PLUGINS
from interlingua.testing import check_aligner, check_discoverer, check_extractor, check_metric

README = Path(__file__).resolve().parents[1] / "README.md"
#: Hidden states of the session's tiny BERT (embeddings + 2 layers).
TINY_BERT_LAYERS = ["0", "1", "2"]
PLUGINS = [(p.kind, p.name) for p in il.list_plugins()]
HOOK_NAMES = sorted(name for name, obj in vars(hookspecs).items()
                    if inspect.isfunction(obj) and hasattr(obj, f"{hookspecs.PROJECT}_spec"))


def _unavailable(kind: str, name: str) -> None:
    reason = get_registry().info(kind, name).unavailable_reason
    if reason:
        pytest.skip(f"{kind} {name!r} unavailable: {reason}")


def test_the_sweep_sees_every_kind():
    assert {kind for kind, _ in PLUGINS} == {"extractor", "discoverer", "aligner", "metric"}
    assert {"hf", "neurox"} <= {name for kind, name in PLUGINS if kind == "extractor"}


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p[0] == "metric"],
                         ids=lambda v: str(v))
def test_metric_contract(kind, name):
    _unavailable(kind, name)
    metric = il.get_metric(name)
    assert metric.input_kind in ("paired", "concepts", "sets", "probe") or metric.inputs
    check_metric(metric)


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p[0] == "aligner"],
                         ids=lambda v: str(v))
def test_aligner_contract(kind, name):
    _unavailable(kind, name)
    check_aligner(il.get_aligner(name))


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p[0] == "discoverer"],
                         ids=lambda v: str(v))
def test_discoverer_contract(kind, name):
    _unavailable(kind, name)
    check_discoverer(il.get_discoverer(name))


@pytest.mark.parametrize(("kind", "name"), [p for p in PLUGINS if p[0] == "extractor"],
                         ids=lambda v: str(v))
def test_extractor_contract(kind, name, tiny_bert, tmp_path):
    _unavailable(kind, name)
    info = get_registry().info(kind, name)
    check_extractor(il.get_extractor(name), tiny_bert, workdir=tmp_path,
                    expected_layers=TINY_BERT_LAYERS if info.builtin else None)


# -- hooks ------------------------------------------------------------------------------
def test_hookspecs_are_found():
    assert set(hookspecs.HOOKS.values()) | {"register_commands"} <= set(HOOK_NAMES)


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hookspec_has_a_docstring(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and doc.strip(), f"hookspec {hook} has no docstring"


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hookspec_is_documented_in_the_readme(hook):
    text = README.read_text(encoding="utf-8")
    assert re.search(rf"\b{hook}\b", text), f"README.md does not mention the hook {hook}"


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hookspec_is_used_by_a_builtin_plugin_module(hook):
    pm = get_registry().pm
    users = {pm.get_name(impl.plugin) for impl in getattr(pm.hook, hook).get_hookimpls()}
    builtin = sorted(users & set(DEFAULT_PLUGINS))
    assert builtin, f"no module of DEFAULT_PLUGINS implements {hook} (implemented by: {users})"
