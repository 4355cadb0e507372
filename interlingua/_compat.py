"""Old module paths of 0.1 (before the method families), kept for one release.

``import interlingua.plugins.cka`` or ``from interlingua.analysis.compare import
compare_layers`` still work: a meta-path finder maps each old name to the module's new
home in its family package and warns with a :class:`DeprecationWarning`. The old name
is an alias of the new module (one module object, not a copy). Remove in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

#: old module name -> new module name
MOVED: dict[str, str] = {
    "interlingua.analysis.affective": "interlingua.plugins.affective.pipeline",
    "interlingua.analysis.compare": "interlingua.plugins.similarity.compare",
    "interlingua.analysis.concepts": "interlingua.plugins.concepts.pipeline",
    "interlingua.analysis.demo": "interlingua.plugins.demo.pipeline",
    "interlingua.analysis.dictionary_induction":
        "interlingua.plugins.concepts.dictionary_induction",
    "interlingua.analysis.norms": "interlingua.plugins.affective.norms",
    "interlingua.analysis.significance": "interlingua.plugins.similarity.significance",
    "interlingua.analysis.word_translation": "interlingua.plugins.similarity.word_translation",
    "interlingua.cli._common": "interlingua.registry.commands",
    "interlingua.cli._concept_tables": "interlingua.plugins.concepts.tables",
    "interlingua.cli._inputs": "interlingua.core.inputs",
    "interlingua.cli._messages": "interlingua.registry.messages",
    "interlingua.cli.compare": "interlingua.plugins.similarity.cli",
    "interlingua.cli.concepts": "interlingua.plugins.concepts.cli",
    "interlingua.cli.demo": "interlingua.plugins.demo.cli",
    "interlingua.cli.dictionary": "interlingua.plugins.concepts.dictionary_command",
    "interlingua.cli.extract": "interlingua.plugins.extraction.cli",
    "interlingua.cli.overlap": "interlingua.plugins.affective.overlap_command",
    "interlingua.cli.probe": "interlingua.plugins.affective.cli",
    "interlingua.corpus": "interlingua.plugins.extraction.corpus",
    "interlingua.models": "interlingua.plugins.extraction.models",
    "interlingua.models.e5_offline": "interlingua.plugins.extraction.models.e5_offline",
    "interlingua.models.e5_tokenizer": "interlingua.plugins.extraction.models.e5_tokenizer",
    "interlingua.models.tiny": "interlingua.plugins.extraction.models.tiny",
    "interlingua.plotting": "interlingua.core.plotting",
    "interlingua.plugins._clustering": "interlingua.plugins.concepts.clustering",
    "interlingua.plugins._moments": "interlingua.plugins.similarity.moments",
    "interlingua.plugins.affective_probe": "interlingua.plugins.affective.probe",
    "interlingua.plugins.agglomerative": "interlingua.plugins.concepts.agglomerative",
    "interlingua.plugins.anc": "interlingua.plugins.similarity.anc",
    "interlingua.plugins.calign": "interlingua.plugins.concepts.calign",
    "interlingua.plugins.cca": "interlingua.plugins.similarity.cca",
    "interlingua.plugins.cka": "interlingua.plugins.similarity.cka",
    "interlingua.plugins.colap": "interlingua.plugins.concepts.colap",
    "interlingua.plugins.hf": "interlingua.plugins.extraction.hf",
    "interlingua.plugins.kmeans": "interlingua.plugins.concepts.kmeans",
    "interlingua.plugins.neurox_extractor": "interlingua.plugins.extraction.neurox",
    "interlingua.plugins.procrustes": "interlingua.plugins.similarity.procrustes",
    "interlingua.plugins.retrieval": "interlingua.plugins.similarity.retrieval",
    "interlingua.plugins.superexact": "interlingua.plugins.affective.superexact",
}
#: Old packages that no longer exist; their old submodules are in :data:`MOVED`.
OLD_PACKAGES = frozenset({"interlingua.analysis"})


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str | None) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if self.target is None:  # a vanished package: an empty namespace for its children
            module = types.ModuleType(spec.name, "moved; see interlingua._compat")
            module.__path__ = []
            return module
        warnings.warn(f"{spec.name} moved to {self.target}; the old name goes away in "
                      "interlingua 0.3", DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.target)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolve the old module names of :data:`MOVED` to their new modules."""

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in OLD_PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(None),
                                                  is_package=True)
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Add the finder once, first: it answers only for the old names (so that an old
    submodule of a moved package is the new module, never a second copy)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
