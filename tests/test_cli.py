import subprocess
import sys

import pytest

from artx import __version__
from artx.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"artx {__version__}"


def test_console_script_lists_stock_attacks():
    result = subprocess.run(
        [sys.executable, "-m", "artx.cli", "plugins", "--kind", "evasion"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    names = {line.split()[1] for line in result.stdout.splitlines()[1:]}
    assert {"fgsm", "bim", "pgd", "jsma", "cw-l0", "cw-l2", "cw-linf", "deepfool"} <= names


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["reproduce", "model-zoo", "--seeds", "0"], "expected a positive integer, got 0"),
        (["reproduce", "model-zoo", "--preset", "full"], "invalid choice: 'full'"),
        (["reproduce", "model-zo"], "Did you mean 'model-zoo'"),
        (["reproduce", "model-zoo", "--device", "tpu"], "use --device cpu"),
        (["reproduce", "model-zoo", "--data-dir", "/no/such/folder"], "is not a folder; it must hold MNIST/raw/"),
        (["plugins", "--kind", "attack"], "invalid choice: 'attack'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["plugins", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert len(err.strip().splitlines()) == 1


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "reproduce" in capsys.readouterr().out


def test_reproductions_lists_presets_and_data(capsys):
    assert main(["reproductions"]) == 0
    out = capsys.readouterr().out
    assert "model-zoo: Clean accuracy of the artx model zoo on MNIST" in out
    assert "--preset quick: 1 seed(s), mnist-5k (offline)" in out
    assert "pixel-poisoning" in out and "mnist, fashion-mnist (needs --data-dir)" in out


def test_verbose_flag_works_after_the_command(capsys):
    assert main(["plugins", "-v", "--kind", "model"]) == 0
    assert main(["-v", "plugins", "--kind", "model"]) == 0


@pytest.mark.parametrize("command", [[], ["plugins"], ["reproduce"], ["reproductions"]])
def test_help_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: artx" in capsys.readouterr().out


def test_committed_run_time_counts_resumed_units(tmp_path, monkeypatch):
    """A run carried over several invocations: its time is the last wall time plus the unit time
    the resumed units recorded, not the last invocation's alone."""
    import json

    from artx import reproduction

    folder = tmp_path / "demo"
    folder.mkdir()
    blob = {
        "preset": "paper",
        "timings": {"wall_seconds": 600.0},
        "provenance": {"cpu_threads": {"torch": 1}, "resumed_units": {"units": 2, "timed": 2, "unit_seconds": 1200.0}},
    }
    (folder / "results.json").write_text(json.dumps(blob))
    monkeypatch.setattr(reproduction, "results_folder", lambda: tmp_path)
    assert reproduction.committed_run("demo", "paper") == {
        "minutes": 30.0,
        "resumed_units": 2,
        "threads": "CPU threads torch 1",
    }
    assert reproduction.committed_run("demo", "quick") is None
    blob["provenance"].pop("resumed_units")
    (folder / "results.json").write_text(json.dumps(blob))
    assert reproduction.committed_run("demo", "paper")["minutes"] == 10.0
