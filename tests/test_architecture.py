"""Import direction of the package, checked statically (``ast``; nothing is imported).

The layering of DESIGN.md ("Layout")::

    __main__, cli             may import anything; nothing else imports cli
    plugins/<family>          core, registry, the family itself; demo also other
                              families' public modules
    registry                  core (never plugins or cli; DEFAULT_PLUGINS are strings)
    core                      core only (and interlingua._version)

Every import statement counts, including those inside functions and under
``if TYPE_CHECKING:``: a lazy import is still a dependency. Import *cycles* are looked
for among module-level runtime imports only (function-level and TYPE_CHECKING imports
do not run at import time). Run this file as a script to print the cross-family
imports. That importing the package and listing plugins stays free of heavy libraries
is tested in ``tests/registry/test_registry.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "interlingua"
FAMILIES = ("extraction", "similarity", "concepts", "affective", "neurons", "demo")

#: Cross-family imports tolerated outside the demo family, as (importing module,
#: imported module). Measured when this test was written: there are none — only
#: ``plugins/demo/pipeline.py`` imports other families (extraction.corpus,
#: similarity.compare / word_translation, concepts.pipeline / dictionary_induction,
#: affective.norms / pipeline / superexact, all public names inside functions), which
#: the demo may do by design. Add an entry only with a comment saying why the shared
#: code cannot move to interlingua.core; remove it when the import goes away (the
#: staleness test below insists).
#: The neurons family runs models the way extraction does (model loading with its
#: safety flags, tokenization with word mapping, length-sorted batching, corpus reading):
#: that code belongs to extraction and is used through its public names, inside functions,
#: rather than duplicated or moved into core (which must not import torch).
_NEURONS = "interlingua.plugins.neurons."
_EXTRACTION = "interlingua.plugins.extraction."
CROSS_FAMILY_ALLOWED: frozenset[tuple[str, str]] = frozenset({
    (_NEURONS + "activation_probability", _EXTRACTION + "corpus"),
    (_NEURONS + "activation_probability", _EXTRACTION + "forward"),
    (_NEURONS + "activation_probability", _EXTRACTION + "loading"),
    (_NEURONS + "activation_counts", _EXTRACTION + "modules"),
    (_NEURONS + "activation_probability", _EXTRACTION + "modules"),
    (_NEURONS + "activation_probability", _EXTRACTION + "words"),
    (_NEURONS + "ablation_cli", _EXTRACTION + "corpus"),
    (_NEURONS + "cli", _EXTRACTION + "corpus"),
    (_NEURONS + "intervention", _EXTRACTION + "modules"),
    (_NEURONS + "lm_head", _EXTRACTION + "loading"),
    (_NEURONS + "lm_loss", _EXTRACTION + "loading"),
    (_NEURONS + "lape_anc", _EXTRACTION + "module_capture"),
    # LAPE x ANC pairs store rows exactly as `compare` does, rather than re-implementing it
    (_NEURONS + "lape_anc", "interlingua.plugins.similarity.pairing"),
    (_NEURONS + "lens_cli", _EXTRACTION + "corpus"),
    (_NEURONS + "logit_lens", _EXTRACTION + "loading"),
})


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a module of the package (or not)."""

    source: str  # importing module
    target: str  # imported module (the longest known module prefix of the name)
    names: tuple[str, ...]  # names taken ("from x import a, b"); () for "import x"
    line: int
    module_level: bool  # executed when the importing module is imported
    private: bool  # the target (or a name taken from it) starts with "_"


def module_name(path: Path) -> str:
    """``interlingua/core/store.py`` -> ``interlingua.core.store``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, known: set[str]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, module_level: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Every node with whether it runs when the module is imported."""
    for child in ast.iter_child_nodes(node):
        runs = module_level and not isinstance(
            child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.body:
                yield sub, False
                yield from _walk(sub, False)
            for sub in child.orelse:
                yield sub, runs
                yield from _walk(sub, runs)
            continue
        yield child, runs
        yield from _walk(child, runs)


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    """The imports of one module that resolve to modules of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out: list[Import] = []
    for node, runs in _walk(tree, True):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, known)
                if target:
                    private = any(p.startswith("_") for p in target.split("."))
                    out.append(Import(name, target, (), node.lineno, runs, private))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                full = ".".join(base + ([node.module] if node.module else []))
            else:
                full = node.module or ""
            if full == "__future__":
                continue
            for alias in node.names:
                # "from pkg import mod" imports the module pkg.mod; else a name of pkg.
                target = _resolve(f"{full}.{alias.name}", known) or _resolve(full, known)
                if not target:
                    continue
                taken = () if target.endswith(f".{alias.name}") else (alias.name,)
                private = any(p.startswith("_") for p in target.split(".")) or any(
                    t.startswith("_") for t in taken)
                out.append(Import(name, target, taken, node.lineno, runs, private))
    return out


def all_imports() -> list[Import]:
    modules = package_modules()
    known = set(modules)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, known)]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def family_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["interlingua", "plugins"] and parts[2] in FAMILIES:
        return parts[2]
    return None


def _describe(imp: Import) -> str:
    names = f" ({', '.join(imp.names)})" if imp.names else ""
    where = "" if imp.module_level else ", inside a function"
    return f"{imp.source}:{imp.line} imports {imp.target}{names}{where}"


IMPORTS = all_imports()


def cross_family_imports() -> list[Import]:
    """Imports from one family package into another (the demo's included)."""
    return [imp for imp in IMPORTS
            if family_of(imp.source) and family_of(imp.target)
            and family_of(imp.source) != family_of(imp.target)]


# -- the rules --------------------------------------------------------------------------
def test_the_package_is_parsed(tmp_path):
    modules = package_modules()
    assert "interlingua.core.store" in modules and "interlingua.plugins.demo.pipeline" in modules
    assert any(imp.target == "interlingua.core.errors" for imp in IMPORTS)
    probe = tmp_path / "probe.py"  # parsed as if it were interlingua/core/probe.py
    probe.write_text("from .errors import InputError\nfrom . import store\n"
                     "from .. import _version\nimport interlingua.core.store_format as f\n"
                     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from interlingua.core.concepts import Concepts\n"
                     "def late():\n    from interlingua.core import dictionary\n",
                     encoding="utf-8")
    found = {(i.target, i.module_level, i.private)
             for i in imports_of("interlingua.core.probe", probe, set(modules))}
    assert found == {("interlingua.core.errors", True, False),
                     ("interlingua.core.store", True, False),
                     ("interlingua._version", True, True),
                     ("interlingua.core.store_format", True, False),
                     ("interlingua.core.concepts", False, False),
                     ("interlingua.core.dictionary", False, False)}


#: Modules above the CLI: ``python -m interlingua`` runs it.
CLI_ENTRY_POINTS = frozenset({"interlingua.__main__"})
CORE_MAY_IMPORT = ("interlingua.core", "interlingua._version")
FAMILY_MAY_IMPORT = ("interlingua.core", "interlingua.registry", "interlingua._version")


def cli_violations(imports: list[Import]) -> list[str]:
    """Imports of interlingua.cli from outside it."""
    return [_describe(i) for i in imports
            if _within(i.target, "interlingua.cli") and not _within(i.source, "interlingua.cli")
            and i.source not in CLI_ENTRY_POINTS]


def core_violations(imports: list[Import]) -> list[str]:
    """Imports from interlingua.core of anything of interlingua outside it."""
    return [_describe(i) for i in imports if _within(i.source, "interlingua.core")
            and not any(_within(i.target, a) for a in CORE_MAY_IMPORT)]


def registry_violations(imports: list[Import]) -> list[str]:
    """Imports from interlingua.registry of plugins or cli."""
    return [_describe(i) for i in imports if _within(i.source, "interlingua.registry")
            and (_within(i.target, "interlingua.plugins") or _within(i.target, "interlingua.cli"))]


def family_violations(imports: list[Import],
                      allowed: frozenset[tuple[str, str]] = CROSS_FAMILY_ALLOWED) -> list[str]:
    """Family imports beyond core, registry, the family itself and (demo) other families."""
    bad = []
    for imp in imports:
        family = family_of(imp.source)
        if family is None:
            continue
        other = family_of(imp.target)
        if other is None:
            if not any(_within(imp.target, a) for a in FAMILY_MAY_IMPORT):
                bad.append(_describe(imp))
        elif other != family:
            if imp.private:
                bad.append(_describe(imp) + " — private module or name of another family")
            elif family != "demo" and (imp.source, imp.target) not in allowed:
                bad.append(_describe(imp) + " — another family (not in CROSS_FAMILY_ALLOWED)")
    return bad


def test_nothing_outside_cli_imports_cli():
    bad = cli_violations(IMPORTS)
    assert not bad, "only interlingua.cli may import interlingua.cli:\n" + "\n".join(bad)


def test_core_imports_only_core():
    bad = core_violations(IMPORTS)
    assert not bad, "interlingua.core must not import the rest of interlingua:\n" + "\n".join(bad)


def test_registry_imports_neither_plugins_nor_cli():
    bad = registry_violations(IMPORTS)
    assert not bad, "interlingua.registry imports plugins or cli:\n" + "\n".join(bad)


def test_families_import_only_core_registry_and_themselves():
    bad = family_violations(IMPORTS)
    assert not bad, ("families import core, registry, their own modules and (demo only) "
                     "other families' public modules:\n" + "\n".join(bad))


def test_the_rules_catch_violations():
    def imp(source, target, names=(), private=False):
        return Import(source, target, tuple(names), 1, True, private)

    P = "interlingua.plugins"
    assert cli_violations([imp("interlingua.registry.manager", "interlingua.cli.run"),
                           imp("interlingua.cli.run", "interlingua.cli"),
                           imp("interlingua.__main__", "interlingua.cli")]) == [
        "interlingua.registry.manager:1 imports interlingua.cli.run"]
    assert len(core_violations([imp("interlingua.core.store", "interlingua.registry"),
                                imp("interlingua.core.store", "interlingua.testing"),
                                imp("interlingua.core.store", "interlingua._version"),
                                imp("interlingua.core.store", "interlingua.core.errors")])) == 2
    assert len(registry_violations([imp("interlingua.registry.manager", f"{P}.similarity.cka"),
                                    imp("interlingua.registry", "interlingua.cli"),
                                    imp("interlingua.registry", "interlingua.core")])) == 2
    cases = [
        (imp(f"{P}.concepts.pipeline", f"{P}.similarity.retrieval"), "another family"),
        (imp(f"{P}.demo.pipeline", f"{P}.concepts.clustering", ["_helper"], True), "private"),
        (imp(f"{P}.demo.pipeline", f"{P}._clustering", private=True), None),  # not a family
        (imp(f"{P}.affective.cli", "interlingua.cli"), "imports interlingua.cli"),
        (imp(f"{P}.affective.cli", "interlingua.testing"), "imports interlingua.testing"),
    ]
    for case, message in cases:
        found = family_violations([case])
        if message is None:
            assert found, case  # outside core/registry/families altogether
        else:
            assert len(found) == 1 and message in found[0], (case, found)
    ok = [imp(f"{P}.demo.pipeline", f"{P}.concepts.pipeline", ["calign_layers"]),
          imp(f"{P}.concepts.cli", f"{P}.concepts._private"),
          imp(f"{P}.concepts.cli", "interlingua.registry.commands"),
          imp(f"{P}.concepts.cli", "interlingua.core.store")]
    assert family_violations(ok) == []
    pair = (f"{P}.concepts.pipeline", f"{P}.similarity.retrieval")
    assert family_violations([imp(*pair)], frozenset({pair})) == []


def test_the_cross_family_allow_list_is_not_stale():
    used = {(i.source, i.target) for i in cross_family_imports()}
    stale = sorted(CROSS_FAMILY_ALLOWED - used)
    assert not stale, f"remove from CROSS_FAMILY_ALLOWED (no such import any more): {stale}"


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a
    module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return cycles


def test_find_cycles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    assert find_cycles({"a": {"a"}}) == [["a"]]


def test_no_import_cycles_at_module_level():
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        if imp.module_level and imp.target != imp.source:
            edges.setdefault(imp.source, set()).add(imp.target)
    cycles = find_cycles(edges)
    detail = []
    for cycle in cycles:
        members = set(cycle)
        detail.append(" <-> ".join(cycle) + ": " + "; ".join(
            _describe(i) for i in IMPORTS
            if i.module_level and i.source in members and i.target in members))
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(detail)


if __name__ == "__main__":  # pragma: no cover - the measurement behind the allow-list
    for imp in sorted(cross_family_imports(), key=lambda i: (i.source, i.line)):
        print(_describe(imp))
