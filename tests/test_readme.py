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
    assert "<!-- test-command -->" in (ROOT / ".ci" / "run").read_text()


def test_plugin_example_in_readme_passes_the_contract_checks():
    code = README.split("## Writing a plugin", 1)[1].split("```python\n", 1)[1].split("```")[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    metric = namespace["MeanCosine"]()
    check_metric(metric)
    assert isinstance(metric, il.Metric)
