"""README and CI stay in step: CI runs exactly the README's install and test commands."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fenced_commands(text: str, after: str) -> list[str]:
    section = text.split(after, 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


def test_ci_runs_the_readme_install_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    install = fenced_commands(readme, "## Install")
    test = fenced_commands(readme, "## Test")
    assert len(install) == 1 and len(test) == 1, "the README gives one install and one test command"
    assert install[0] in ci and test[0] in ci


def test_readme_lists_every_registered_reproduction():
    from artx import registry

    readme = (ROOT / "README.md").read_text()
    # the Reproductions table only (a plugin may share a reproduction's name, e.g. defensive-distillation)
    section = readme.split("\n## Reproductions\n", 1)[1].split("\n## ", 1)[0]
    for name in registry.names("reproduction"):
        assert f"\n| `{name}` |" in section, name


def test_readme_plugin_example_works(tmp_path, monkeypatch):
    """The third-party plugin in the README, registered as written, is found and works."""
    import configparser

    import pytest
    import torch

    from artx import registry
    from tests.conftest import make_distribution

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Writing a plugin", 1)[1]
    ini = section.split("```ini", 1)[1].split("```", 1)[0]
    source = section.split("```python", 1)[1].split("```", 1)[0]
    config = configparser.ConfigParser()
    config.read_string(ini)
    entry_points = "[artx.preprocessors]\n" + config["options.entry_points"]["artx.preprocessors"].strip() + "\n"
    module = config["options"]["py_modules"].strip()
    root = make_distribution(tmp_path / "site", config["metadata"]["name"], entry_points, {module: source})
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()

    rows = {(r.kind, r.name): r for r in registry.list_plugins("preprocessor")}
    assert rows[("preprocessor", "my-blur")].status == "ok"
    blur = registry.create("preprocessor", "my-blur", kernel=5)
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    out, _ = blur.forward(x)
    assert out[0, 0, 4, 4] < 1.0 and out[0, 0, 4, 5] > 0.0
    with pytest.raises(ValueError, match="kernel must be odd"):
        registry.create("preprocessor", "my-blur", kernel=4)
