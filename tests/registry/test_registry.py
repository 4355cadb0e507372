import sys
import types
import warnings

import numpy as np
import pytest

import interlingua as il
from interlingua.core import Metric, MetricResult, Param
from interlingua.core.errors import DuplicatePluginError, PluginError, UnknownPluginError
from interlingua.registry import manager
from interlingua.registry.manager import PluginLoadWarning, Registry


class _Dist:
    def __init__(self, name, version="1.2.3"):
        self.name, self.version = name, version


class _EntryPoint:
    def __init__(self, name, loader, dist="fake-dist"):
        self.name, self._loader, self.dist = name, loader, _Dist(dist)

    def load(self):
        return self._loader()


class MeanDiff(Metric):
    """Absolute difference of the means (a toy third-party metric)."""

    name = "mean-diff"
    symmetric = True
    higher_is_more_similar = False
    params = (Param("scale", 1.0, "multiplier", float),)

    def compute(self, X, Y):
        return MetricResult(abs(X.mean() - Y.mean()) * self.scale)


def _module(name, **hooks):
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, il.hookimpl(fn))
    return module


def _good():
    def register_metrics(register):
        register(MeanDiff)

    return _module("good_plugin", register_metrics=register_metrics)


@pytest.fixture
def entry_points(monkeypatch):
    eps = []
    monkeypatch.setattr(manager.metadata, "entry_points", lambda group: list(eps))
    monkeypatch.delenv("INTERLINGUA_LOAD_PLUGINS", raising=False)
    return eps


def test_builtins_registered_through_hooks(entry_points):
    registry = Registry()
    infos = registry.list()
    assert infos, "built-in plugins are registered"
    assert all(i.provider == "interlingua" and i.builtin for i in infos)
    assert all(i.version == il.__version__ for i in infos)
    kinds = [i.kind for i in infos]
    assert kinds == sorted(kinds, key=manager.KINDS.index)
    for info in infos:
        assert info.summary, f"{info.kind} {info.name} has no summary"
        for p in info.params:
            assert p.help, f"{info.name}.{p.name} has no help"


def test_third_party_entry_point_and_allow_list(entry_points, monkeypatch):
    entry_points.append(_EntryPoint("meandiff", _good, dist="interlingua-meandiff"))
    registry = Registry()
    info = registry.info("metric", "mean-diff")
    assert (info.provider, info.version, info.builtin) == ("interlingua-meandiff", "1.2.3", False)
    metric = registry.create("metric", "mean-diff", scale=2.0)
    assert metric(np.ones((3, 2)), np.zeros((3, 2))).value == 2.0
    monkeypatch.setenv("INTERLINGUA_LOAD_PLUGINS", "")
    assert "mean-diff" not in {i.name for i in Registry().list()}
    monkeypatch.setenv("INTERLINGUA_LOAD_PLUGINS", "other, interlingua-meandiff")
    with pytest.warns(PluginLoadWarning, match="names 'other'"):
        assert "mean-diff" in {i.name for i in Registry().list()}
    monkeypatch.setenv("INTERLINGUA_LOAD_PLUGINS", "meandiff")
    assert "mean-diff" in {i.name for i in Registry().list()}


def test_plugin_failing_on_import_is_reported_and_skipped(entry_points):
    def broken():
        raise ImportError("no module named 'missing_dependency'")

    entry_points.extend([_EntryPoint("broken", broken), _EntryPoint("meandiff", _good)])
    with pytest.warns(PluginLoadWarning, match="broken.*missing_dependency"):
        registry = Registry()
    assert any("broken" in f for f in registry.failures)
    assert "mean-diff" in {i.name for i in registry.list()}


def test_plugin_failing_in_register_is_reported_and_skipped(entry_points):
    def register_metrics(register):
        raise RuntimeError("boom")

    def register_aligners(register):
        register(MeanDiff)  # wrong kind

    entry_points.append(_EntryPoint("bad", lambda: _module(
        "bad", register_metrics=register_metrics, register_aligners=register_aligners)))
    with pytest.warns(PluginLoadWarning) as record:
        registry = Registry()
    messages = " ".join(str(w.message) for w in record)
    assert "boom" in messages and "must subclass interlingua.core.Aligner" in messages
    assert registry.list()


def test_unknown_allow_list_name_is_warned_with_suggestion(entry_points, monkeypatch):
    entry_points.append(_EntryPoint("meandiff", _good, dist="interlingua-meandiff"))
    monkeypatch.setenv("INTERLINGUA_LOAD_PLUGINS", "interlingua-meandif, meandiff")
    with pytest.warns(PluginLoadWarning) as record:
        registry = Registry()
    assert [str(w.message) for w in record] == [
        "INTERLINGUA_LOAD_PLUGINS names 'interlingua-meandif', but no installed plugin has "
        "that entry-point or distribution name. Did you mean 'interlingua-meandiff'? "
        "Installed: interlingua-meandiff, meandiff — ignored"
    ]
    assert registry.failures and "interlingua-meandif" in registry.failures[0]
    assert "mean-diff" in {i.name for i in registry.list()}  # the valid name still loads
    # nothing installed at all, and a set-but-empty list warns about nothing
    entry_points.clear()
    monkeypatch.setenv("INTERLINGUA_LOAD_PLUGINS", "zzz")
    with pytest.warns(PluginLoadWarning, match="'zzz'.*Installed: none — ignored"):
        Registry()
    monkeypatch.setenv("INTERLINGUA_LOAD_PLUGINS", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Registry()


def test_created_instances_name_their_provider(entry_points):
    entry_points.append(_EntryPoint("meandiff", _good, dist="interlingua-meandiff"))
    metric = Registry().create("metric", "mean-diff")
    assert il.core.interfaces.plugin_label(metric) == (
        "metric plugin 'mean-diff' (provider interlingua-meandiff)"
    )


def test_duplicate_names_are_an_error_naming_both(entry_points):
    entry_points.append(_EntryPoint("one", _good, dist="first-dist"))
    entry_points.append(_EntryPoint("two", _good, dist="second-dist"))
    with pytest.warns(PluginLoadWarning, match="registered twice"):
        registry = Registry()
    with pytest.raises(DuplicatePluginError, match="first-dist, second-dist"):
        registry.create("metric", "mean-diff")


def test_unknown_names_list_and_suggest(entry_points):
    registry = Registry()
    names = [i.name for i in registry.list("metric")]
    if names:
        typo = names[0][:-1] + "x"
        with pytest.raises(UnknownPluginError, match=f"Did you mean '{names[0]}'"):
            registry.create("metric", typo)
    with pytest.raises(UnknownPluginError, match="Available:"):
        registry.create("metric", "zzzz-not-a-metric")
    with pytest.raises(UnknownPluginError, match="unknown kind 'metrics'.*Did you mean 'metric'"):
        registry.create("metrics", "x")


def test_unknown_parameter_suggests(entry_points):
    entry_points.append(_EntryPoint("meandiff", _good))
    registry = Registry()
    with pytest.raises(il.InputError, match="did you mean 'scale'"):
        registry.create("metric", "mean-diff", scael=2)


def test_factory_registration_and_type_check(entry_points):
    def make(**params):
        return MeanDiff(**params)

    def not_a_metric(**params):
        return object()

    def register_metrics(register):
        register(make, name="made")
        register(not_a_metric, name="bogus")

    entry_points.append(_EntryPoint("factories", lambda: _module(
        "factories", register_metrics=register_metrics)))
    registry = Registry()
    assert isinstance(registry.create("metric", "made"), MeanDiff)
    with pytest.raises(PluginError, match="not a Metric"):
        registry.create("metric", "bogus")


def test_public_api_uses_process_registry(monkeypatch, entry_points):
    entry_points.append(_EntryPoint("meandiff", _good))
    manager.reset_registry()
    try:
        assert "mean-diff" in {p.name for p in il.list_plugins("metric")}
        assert isinstance(il.get_metric("mean-diff"), MeanDiff)
        for getter, kind in ((il.get_aligner, "aligner"), (il.get_discoverer, "discoverer"),
                             (il.get_extractor, "extractor")):
            with pytest.raises(UnknownPluginError, match=f"unknown {kind}"):
                getter("no-such-plugin")
    finally:
        manager.reset_registry()


def test_hookimpl_is_the_projects_marker():
    assert il.hookimpl.project_name == "interlingua"


def test_plugin_info_metadata_is_json_ready(entry_points):
    import json

    entry_points.append(_EntryPoint("meandiff", _good))
    info = Registry().info("metric", "mean-diff")
    data = info.to_dict()
    json.dumps(data)
    assert data["symmetric"] is True and data["higher_is_more_similar"] is False
    assert data["params"][0] == {"name": "scale", "default": 1.0, "help": "multiplier",
                                 "type": "float", "choices": None}


HEAVY = ("torch", "transformers", "sklearn", "scipy.stats", "statsmodels", "h5py", "dask",
         "matplotlib")


@pytest.mark.parametrize(("code", "loads_plugins"), [
    ("import interlingua, interlingua.core", False),
    ("import interlingua, interlingua.registry", False),
    # listing (with the metadata `interlingua plugins --json` shows) imports the plugin
    # modules, which import heavy libraries inside functions only
    ("import interlingua as il, interlingua.registry;"
     "[p.to_dict() for p in il.list_plugins()]; il.list_plugins('metric')", True),
    # `interlingua --help` adds every family's commands through register_commands
    ("import contextlib, io; from interlingua.cli import main;"
     "contextlib.redirect_stdout(io.StringIO()).__enter__(); main(['--help']);"
     "sys.stdout = sys.__stdout__", True),
])
def test_core_does_not_import_plugins_or_heavy_modules(code, loads_plugins):
    probe = (
        f"import sys; {code};"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules];"
        "plugins = [m for m in sys.modules if m.startswith('interlingua.plugins.')];"
        "print(heavy, bool(plugins))"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == f"[] {loads_plugins}", out.stderr[-2000:]


def test_registry_loading_stays_light():
    # `interlingua plugins` must start fast: plugin modules import heavy libraries lazily.
    code = (
        "import sys; from interlingua.cli import main; main(['plugins', '--json']);"
        f"heavy = [m for m in {(*HEAVY, 'scipy.sparse', 'eflomal', 'neurox')!r}"
        " if m in sys.modules];"
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    import subprocess

    with warnings.catch_warnings():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
    assert "HEAVY []" in out.stderr, out.stderr
