"""The command author's toolkit: options generated from declared parameters."""

import click
import pytest
from click.testing import CliRunner

from interlingua.core.params import Configurable, Param
from interlingua.registry.commands import LIST, ListType, param_options, plugin_kwargs


class Dummy(Configurable):
    params = (
        Param("n_clusters", 600, "number of concepts", int),
        Param("theta", 0.8, "alignment threshold", float),
        Param("debiased", False, "unbiased HSIC", bool),
        Param("kernel", "linear", "kernel", str, choices=("linear", "rbf")),
        Param("layers", [0, 6], "layers to use"),
        Param("extra", None, "free JSON value"),
    )


def _command():
    @click.command()
    @param_options(Dummy, exclude=("extra",))
    def cmd(**values):
        click.echo(repr(plugin_kwargs(Dummy, values)))
    return cmd


def test_options_carry_the_declared_defaults_help_and_types():
    runner = CliRunner()
    out = runner.invoke(_command(), []).output
    assert out.strip() == repr({"n_clusters": 600, "theta": 0.8, "debiased": False,
                                "kernel": "linear", "layers": ["0", "6"]})
    out = runner.invoke(_command(), ["--n-clusters", "7", "--theta", "0.5", "--debiased",
                                     "--kernel", "rbf", "--layers", "1,2,"]).output
    assert out.strip() == repr({"n_clusters": 7, "theta": 0.5, "debiased": True,
                                "kernel": "rbf", "layers": ["1", "2"]})
    help_text = runner.invoke(_command(), ["--help"]).output
    for spec in Dummy.params[:5]:
        assert spec.help in help_text
    assert "default: 600" in help_text and "--no-debiased" in help_text


def test_bad_values_are_refused_by_click():
    runner = CliRunner()
    assert runner.invoke(_command(), ["--n-clusters", "many"]).exit_code == 2
    assert runner.invoke(_command(), ["--kernel", "poly"]).exit_code == 2


def test_json_parameter_is_parsed_like_param():
    @click.command()
    @param_options(Dummy, only=("extra",))
    def cmd(extra):
        click.echo(repr(extra))

    assert CliRunner().invoke(cmd, ["--extra", '{"a": 1}']).output.strip() == "{'a': 1}"
    assert CliRunner().invoke(cmd, []).output.strip() == "None"


def test_unknown_parameter_names_fail_at_definition():
    with pytest.raises(ValueError, match="did you mean 'theta'"):
        param_options(Dummy, only=("thet",))


def test_list_type():
    assert LIST.convert("a, b,,c", None, None) == ["a", "b", "c"]
    assert ListType(int).convert("1,2", None, None) == [1, 2]
    assert LIST.convert(["x"], None, None) == ["x"]
    with pytest.raises(click.BadParameter):
        ListType(int).convert("1,x", None, None)


def test_broken_third_party_command_is_warned_and_skipped():
    import types

    from interlingua.registry import PluginLoadWarning, Registry, hookimpl

    good, bad = types.SimpleNamespace(), types.SimpleNamespace()

    @hookimpl
    def register_commands(cli):
        @cli.command("hello")
        def hello():
            """Say hello."""

    @hookimpl
    def broken(cli):
        raise RuntimeError("boom")

    good.register_commands = register_commands
    bad.register_commands = broken
    broken.__name__ = "register_commands"
    registry = Registry(load_entry_points=False)
    registry.register_module(good, provider="good-plugin")
    registry.register_module(bad, provider="bad-plugin")
    group = click.Group("interlingua")
    with pytest.warns(PluginLoadWarning, match="bad-plugin failed in register_commands"):
        registry.add_commands(group)
    assert "hello" in group.commands and "extract" in group.commands


def test_builtins_are_the_listed_modules_and_a_broken_one_is_an_error(monkeypatch):
    from interlingua.core.errors import PluginError
    from interlingua.registry import Registry, manager

    registry = Registry(load_entry_points=False)
    builtin = {name for name, (_p, _v, is_builtin) in registry._providers.items()
               if is_builtin}
    assert builtin == set(manager.DEFAULT_PLUGINS)
    monkeypatch.setattr(manager, "DEFAULT_PLUGINS",
                        (*manager.DEFAULT_PLUGINS, "interlingua.plugins.no_such_module"))
    with pytest.raises(PluginError, match="built-in plugin module .*no_such_module"):
        Registry(load_entry_points=False)
