"""Scale-out: a reproduction split into units gives the same results.json serially, on local
worker processes and on a real local Ray instance; a killed run resumes with only the missing
units; a failed unit stops the run with its name; unit outputs survive their encoding."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import time

import numpy as np
import pytest

from artx import engines, registry
from artx.cli import main
from tests.conftest import make_distribution

UNITS = """
    import dataclasses
    import os
    import time

    import numpy as np

    from artx import claims
    from artx.evaluation import accuracy
    from artx.reproduction import Preset, Reproduction, Settings, Unit
    from artx.training import TrainingSpec


    @dataclasses.dataclass(frozen=True)
    class UnitSettings(Settings):
        archs: tuple = ("shallow-mlp", "linear")
        epochs: int = 2
        fail_on: str = ""


    class Units(Reproduction):
        name = "tiny-units"
        title = "units"
        presets = {"quick": Preset("quick", "mnist-5k", "300 images", seeds=2, settings=UnitSettings()),
                   "paper": Preset("paper", "mnist-5k", "failing", seeds=1, settings=UnitSettings(fail_on="linear"))}

        def units(self, context):
            return [Unit(f"seed {seed} · {arch}", {"seed": seed, "arch": arch})
                    for seed in context.seeds for arch in context.settings.archs]

        def run_unit(self, context, unit):
            s = context.settings
            pids = os.environ.get("ARTX_TEST_UNIT_PIDS")
            if unit.args["arch"] == s.fail_on:
                waited = 0
                while pids and not os.path.exists(pids) and waited < 300:  # fail while the other unit runs
                    time.sleep(0.1)
                    waited += 1
                raise RuntimeError("this unit fails on purpose")
            if pids:
                with open(pids, "a") as handle:
                    handle.write(f"{os.getpid()}\\n")
            time.sleep(float(os.environ.get("ARTX_TEST_UNIT_DELAY", "0")))
            marker = os.environ.get("ARTX_TEST_UNIT_LOG")
            if marker:
                with open(marker, "a") as handle:
                    handle.write(unit.key + "\\n")
            x, y = context.load("train", limit=300)
            x_test, y_test = context.load("test", limit=200)
            trained = context.train(TrainingSpec(unit.args["arch"], epochs=s.epochs), x, y, seed=unit.args["seed"])
            scores = context.classifier(trained.model).predict(x_test)
            return {"accuracy": 100 * accuracy(context.classifier(trained.model), x_test, y_test),
                    "scores": scores.astype(np.float32), "pair": (1, 2)}

        def report(self, context, results, outputs):
            for arch in context.settings.archs:
                values = [outputs[f"seed {seed} · {arch}"]["accuracy"] for seed in context.seeds]
                results.add_cell("Accuracy", arch, "clean", values)
                first = outputs[f"seed {context.seeds[0]} · {arch}"]
                assert first["pair"] == (1, 2) and first["scores"].dtype == np.float32
                results.add_metric(f"{arch}/score checksum", float(np.round(first["scores"].sum(), 3)))
            results.add_claim("above chance", claims.at_least(claims.Estimate.from_seeds(values), 10.0), "x")
"""


@pytest.fixture
def tiny_units(tmp_path, monkeypatch):
    entry_points = "[artx.reproductions]\ntiny-units = tiny_units:Units\n"
    root = make_distribution(tmp_path / "site", "tiny-units", entry_points, {"tiny_units": UNITS})
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


def stable(path):
    blob = json.loads(path.read_text())
    blob.pop("timings")
    blob.pop("provenance")
    return blob


@pytest.mark.slow
def test_serial_workers_and_ray_give_the_same_results(tiny_units, tmp_path, monkeypatch):
    runs = {"serial": [], "workers": ["--workers", "2"]}
    if importlib.util.find_spec("ray") is not None:
        runs["ray"] = ["--ray"]
    blobs = {}
    for label, extra in runs.items():
        # a fresh cache per engine: every engine trains the models itself
        monkeypatch.setenv("ARTX_CACHE_DIR", str(tmp_path / f"cache-{label}"))
        assert main(["reproduce", "tiny-units", "-q", "--out", str(tmp_path / label), *extra]) == 0
        blobs[label] = stable(tmp_path / label / "tiny-units" / "results.json")
        provenance = json.loads((tmp_path / label / "tiny-units" / "results.json").read_text())["provenance"]
        assert provenance["threads_per_unit"] == 1
    assert "ray" in blobs, "CI installs the ray extra: the Ray engine must be tested"
    assert blobs["workers"] == blobs["serial"]
    assert blobs["ray"] == blobs["serial"]
    assert len(blobs["serial"]["cells"]) == 2 and len(blobs["serial"]["cells"][0]["values"]) == 2


def test_a_killed_run_resumes_with_only_the_missing_units(tiny_units, tmp_path, monkeypatch):
    log = tmp_path / "units.log"
    monkeypatch.setenv("ARTX_TEST_UNIT_LOG", str(log))
    assert main(["reproduce", "tiny-units", "-q", "--out", str(tmp_path / "a")]) == 0
    assert len(log.read_text().splitlines()) == 4
    # "kill" after two units: remove the other two stored outputs, then run again
    stored = sorted((engines.cache_dir() / "units" / "tiny-units").glob("*.json"))
    assert len(stored) == 4
    keys = {json.loads(p.read_text())["unit"]: p for p in stored}
    for key in ("seed 1 · shallow-mlp", "seed 1 · linear"):
        keys[key].unlink()
    log.write_text("")
    assert main(["reproduce", "tiny-units", "-q", "--out", str(tmp_path / "b")]) == 0
    assert sorted(log.read_text().splitlines()) == ["seed 1 · linear", "seed 1 · shallow-mlp"]
    first, second = (stable(tmp_path / run / "tiny-units" / "results.json") for run in ("a", "b"))
    assert first == second
    # the second run's wall time covers only its own two units, and its header says so
    provenance = {
        run: json.loads((tmp_path / run / "tiny-units" / "results.json").read_text())["provenance"] for run in "ab"
    }
    assert "resumed_units" not in provenance["a"]
    resumed = provenance["b"]["resumed_units"]
    assert resumed["units"] == 2 and resumed["timed"] == 2 and resumed["unit_seconds"] > 0
    header = (tmp_path / "b" / "tiny-units" / "table.md").read_text().splitlines()[3]
    assert (
        "(this invocation; 2 unit(s) resumed from earlier invocations of the same code, whose unit time was" in header
    )
    assert "resumed" not in (tmp_path / "a" / "tiny-units" / "table.md").read_text().splitlines()[3]
    log.write_text("")
    assert main(["reproduce", "tiny-units", "-q", "--fresh", "--out", str(tmp_path / "c")]) == 0
    assert len(log.read_text().splitlines()) == 4  # --fresh recomputes every unit
    assert "resumed_units" not in json.loads((tmp_path / "c" / "tiny-units" / "results.json").read_text())["provenance"]


def test_a_failed_unit_stops_the_run_with_its_name(tiny_units, tmp_path, capsys):
    assert main(["reproduce", "tiny-units", "--preset", "paper", "-q", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unit 'seed 0 · linear' failed: RuntimeError: this unit fails on purpose" in err
    assert not (tmp_path / "tiny-units" / "results.json").exists()


def test_a_failed_unit_stops_the_running_units_at_once(tiny_units, tmp_path, monkeypatch, capsys):
    # the other unit would write its line after 60 s: the run must not wait for it, nor leave its
    # worker running (this process would then wait for that worker when it exits)
    log, pids = tmp_path / "units.log", tmp_path / "units.pids"
    monkeypatch.setenv("ARTX_TEST_UNIT_LOG", str(log))
    monkeypatch.setenv("ARTX_TEST_UNIT_PIDS", str(pids))
    monkeypatch.setenv("ARTX_TEST_UNIT_DELAY", "60")
    started = time.monotonic()
    assert main(["reproduce", "tiny-units", "--preset", "paper", "--workers", "2", "-q", "--out", str(tmp_path)]) == 1
    assert time.monotonic() - started < 50, "the run waited for the running unit"
    assert "unit 'seed 0 · linear' failed: RuntimeError: this unit fails on purpose" in capsys.readouterr().err
    assert not log.exists()
    running = [int(pid) for pid in pids.read_text().split()]
    assert running, "no unit reached its delay"
    for pid in running:
        with pytest.raises(ProcessLookupError):  # terminated and reaped, not a zombie
            os.kill(pid, 0)


def test_engines_need_units_and_ray_needs_its_extra(tmp_path, monkeypatch, capsys):
    from tests.test_reproduction import TINY  # a reproduction that overrides run() (no units)

    entry_points = "[artx.reproductions]\ntiny = tiny_repro:Tiny\n"
    root = make_distribution(tmp_path / "site", "tiny-repro", entry_points, {"tiny_repro": TINY})
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()
    assert main(["reproduce", "tiny", "--workers", "2", "--out", str(tmp_path)]) == 2
    assert "not split into units" in capsys.readouterr().err
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else object())
    with pytest.raises(ValueError, match=r'pip install "artx\[ray\]"'):
        engines.require_ray()


def test_unit_outputs_survive_their_encoding():
    output = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": (1, 2.5, "x"),
        3: [np.int64(4), float("nan"), float("inf"), None, True],
        ("seed", 0): {"nested": np.array([True, False])},
    }
    back = engines.decode_output(engines.encode_output(output))
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], output["a"])
    assert back["b"] == (1, 2.5, "x") and back[3][0] == 4 and np.isnan(back[3][1]) and back[3][2] == float("inf")
    assert back[("seed", 0)]["nested"].tolist() == [True, False]
    with pytest.raises(TypeError, match="numbers, strings, lists"):
        engines.encode_output({"model": object()})


@pytest.mark.slow
@pytest.mark.parametrize(
    "module, name, engines_run",
    [
        ("gaussian_smoothing", "tiny-smoothing:TinySmoothing", (["--workers", "2"], ["--ray"])),
        ("linear_explanation", "tiny-linear-explanation:TinyLinearExplanation", (["--workers", "2"],)),
    ],
)
def test_real_reproductions_give_the_serial_results_on_every_engine(module, name, engines_run, tmp_path, monkeypatch):
    """Two real reproductions' tiny presets (those of their own tests): serial, then every unit again
    (--fresh) on local workers and on Ray, with the models the serial run cached."""
    source = importlib.import_module(f"tests.test_{module}_reproduction").TINY
    reproduction, class_name = name.split(":")
    package = reproduction.replace("-", "_")
    entry_points = f"[artx.reproductions]\n{reproduction} = {package}:{class_name}\n"
    root = make_distribution(tmp_path / "site", reproduction, entry_points, {package: source})
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()
    monkeypatch.setenv("ARTX_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["reproduce", reproduction, "-q", "--out", str(tmp_path / "serial")]) == 0
    serial = stable(tmp_path / "serial" / reproduction / "results.json")
    for index, extra in enumerate(engines_run):
        if extra == ["--ray"] and importlib.util.find_spec("ray") is None:
            pytest.fail("CI installs the ray extra: the Ray engine must be tested")
        out = tmp_path / f"engine-{index}"
        assert main(["reproduce", reproduction, "-q", "--fresh", "--out", str(out), *extra]) == 0
        assert stable(out / reproduction / "results.json") == serial, extra
