"""README promises that CI and documentation rely on."""

import re
from pathlib import Path

import interlingua as il
from interlingua.testing import check_metric

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_test_command_is_marked_and_run_by_ci():
    block = re.search(r"<!-- test-command -->\n```bash\n(.+?)\n```\n<!-- /test-command -->",
                      README, re.S)
    assert block and "pytest" in block.group(1)
    assert "readme_block test-command" in (ROOT / ".ci" / "run").read_text()


def test_plugin_example_in_readme_passes_the_contract_checks():
    code = README.split("## Writing a plugin", 1)[1].split("```python\n", 1)[1].split("```")[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    metric = namespace["MeanCosine"]()
    check_metric(metric)
    assert isinstance(metric, il.Metric)


def test_ci_runs_the_readme_install_and_nothing_of_its_own():
    install = re.search(r"<!-- install-command -->\n```bash\n(.+?)\n```\n<!-- /install-command -->",
                        README, re.S)
    assert install and "pip install" in install.group(1) and "neurox==1.0.9" in install.group(1)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_block install-command" in ci
    code = [line for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert not any(re.search(r"\bpip\b", line) for line in code), "CI installs nothing itself"


def test_allowed_skip_reasons_are_listed_in_the_readme():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_conftest", ROOT / "tests" / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    section = README.split("<!-- /test-command -->", 1)[1].split("\n## ", 1)[0]
    for reason in conftest.ALLOWED_SKIP_REASONS:
        assert f"`{reason}`" in section


def test_skips_fail_under_ci_unless_allowed(tmp_path):
    """The conftest policy: a skip hides a missing component, so under CI it fails."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_policy.py").write_text(
        "import pytest\n"
        "def test_missing():\n    pytest.skip('component X not installed')\n"
        "def test_allowed():\n    pytest.skip('needs a CUDA GPU here')\n"
    )
    module_dir = tmp_path / "module"
    module_dir.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", module_dir / "conftest.py")
    (module_dir / "test_module_skip.py").write_text(
        "import pytest\npytest.importorskip('no_such_module_xyz')\n"
    )

    def run(ci: str, where) -> subprocess.CompletedProcess:
        env = {**os.environ, "CI": ci}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-rA", str(where)], capture_output=True,
                              text=True, env=env, cwd=tmp_path)

    relaxed = run("", tmp_path)
    assert relaxed.returncode == 0, relaxed.stdout
    strict = run("true", tmp_path / "test_policy.py")
    assert strict.returncode == 1, strict.stdout
    assert "1 failed" in strict.stdout and "1 skipped" in strict.stdout, strict.stdout
    assert "component X not installed" in strict.stdout
    module = run("true", module_dir)
    assert module.returncode != 0 and "no_such_module_xyz" in module.stdout, module.stdout
