"""The transferability reproduction (Szegedy et al. 2014) end to end on a tiny preset (the real
quick preset takes minutes): Tables 2-4 and Fig. 7 with the paper's values beside ours, the
claims, the figures, determinism; and the pieces checked against independent computations."""

import json

import numpy as np
import pytest
import torch

from artx import registry
from artx.cli import main
from tests.conftest import make_distribution

TINY = """
    from artx.reproduction import Preset
    from artx_reproductions.transferability import QUICK, TransferabilityReproduction


    class TinyTransfer(TransferabilityReproduction):
        name = "tiny-transfer"
        presets = {
            "quick": Preset("quick", "mnist-5k", "tiny", seeds=1, settings=QUICK.replace(
                train_limit=600,
                test_limit=200,
                attack_images=12,
                table4_images=12,
                linear_epochs=5,
                mlp_epochs=10,
                half_mlp_epochs=20,
                ae_pretrain_epochs=1,
                ae_epochs=10,
                attack={**QUICK.attack, "c_init": 0.03, "c_steps": 5, "max_iter": 40},
                fig7_examples=4,
                unit_top_k=5,
                unit_shown=3,
            )),
        }
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = make_distribution(
        tmp_path / "site",
        "tiny-transfer",
        "[artx.reproductions]\ntiny-transfer = tiny_transfer:TinyTransfer\n",
        {"tiny_transfer": TINY},
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


@pytest.fixture
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_random_targets_are_uniform_over_the_other_classes():
    from artx_reproductions.transferability import _random_targets

    y = np.repeat(np.arange(10), 900)
    targets = _random_targets(y, 10, np.random.default_rng(0))
    assert (targets != y).all()
    counts = np.array([np.bincount(targets[y == label], minlength=10) for label in range(10)])
    others = counts[~np.eye(10, dtype=bool)]
    assert np.diag(counts).sum() == 0 and abs(others.mean() - 100) < 1e-9 and others.min() > 60 and others.max() < 140


def test_rms_is_szegedys_distortion_and_gap_pairs_per_image():
    from artx_reproductions.transferability import _gap, _rms

    delta = np.zeros((2, 1, 28, 28), dtype=np.float32)
    delta[0, 0, 0, :4] = 0.5  # four pixels at 0.5: sqrt(4 · 0.25 / 784)
    assert _rms(delta) == pytest.approx([np.sqrt(1.0 / 784), 0.0])
    # one seed: mean and SE of the per-image differences; several seeds: per-seed means, paired
    a, b = np.array([1.0, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0, 0.0])
    one = _gap([a], [b])
    assert one.mean == pytest.approx(50.0) and one.se == pytest.approx(100 * np.std(a - b, ddof=1) / 2)
    two = _gap([a, a], [b, a])
    assert two.mean == pytest.approx(25.0) and two.se == pytest.approx(25.0)


def test_art_wrapper_calls_the_autoencoders_forward():
    """ART's PyTorchClassifier runs an nn.Sequential's children in order; the autoencoder's last
    child is its decoder, so the reproduction wraps models in a plain module."""
    from artx.models import build_model, to_art_classifier
    from artx_reproductions.transferability import _Logits

    model = build_model("autoencoder-softmax", seed=0).eval()
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(to_art_classifier(_Logits(model)).predict(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_tiny_transferability(tiny, one_torch_thread, tmp_path, capsys):
    from artx_reproductions.transferability import PAPER_TABLE2, PAPER_TABLE3, PAPER_TABLE4, TABLE2_MODELS

    assert main(["reproduce", "tiny-transfer", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "a" / "tiny-transfer"
    results = json.loads((folder / "results.json").read_text())
    cells = {(c["table"].split(":")[0], c["row"], c["column"]): c for c in results["cells"]}

    # Table 2: every paper cell beside ours (6 model rows + 2 noise rows, 6 models + distortion)
    table2 = {k: c for k, c in cells.items() if k[0] == "Table 2"}
    assert len(table2) == 8 * 7
    for row, values in PAPER_TABLE2.items():
        for column, paper in zip([*TABLE2_MODELS, "Av. distortion"], values):
            assert table2[("Table 2", row, column)]["paper"] == paper
    # the diagonal: the attack reaches its targets (all ≠ label), so the own model errs on all
    # the diagonal: an image that reaches its target (≠ its label) is misclassified by its own model
    for name in TABLE2_MODELS:
        success = results["metrics"][f"seed 0/table 2/{name}/attack"]["success rate"]
        assert success >= 0.9 and table2[("Table 2", name, name)]["values"][0] >= 100 * success - 1e-9
    # noise rows read unclipped: their RMS distortion is the stddev (to sampling error)
    assert table2[("Table 2", "Gaussian noise, stddev=0.3", "Av. distortion")]["values"][0] == pytest.approx(
        0.3, rel=0.01
    )
    clipped = cells[("Table 2 (ours)", "Gaussian noise, stddev=0.3", "Av. distortion")]
    assert clipped["paper"] == 0.3 and clipped["values"][0] < 0.3

    table3 = {k: c for k, c in cells.items() if k[0] == "Table 3"}
    assert len(table3) == 12
    assert (
        table3[("Table 3", "FC100-100-10' (trained on P2)", "Error on P1")]["paper"] == PAPER_TABLE3["FC100-100-10'"][0]
    )
    table4 = {k: c for k, c in cells.items() if k[0] == "Table 4"}
    assert len(table4) == 8 * 4
    for row, values in PAPER_TABLE4.items():
        for column, paper in zip(["FC100-100-10", "FC123-456-10", "FC100-100-10'", "av. stddev"], values):
            assert table4[("Table 4", row, column)]["paper"] == paper
    amplified = table4[("Table 4", "Distorted for FC123-456-10 amplified to stddev=0.1", "av. stddev")]["values"][0]
    assert amplified == pytest.approx(0.1, abs=1e-6)  # unclipped: exactly the target RMS
    # Table 3's distortion is Table 4's row distortion
    assert (
        table3[("Table 3", "FC123-456-10 (trained on P1)", "Min Av. Distortion")]["values"]
        == table4[("Table 4", "Distorted for FC123-456-10", "av. stddev")]["values"]
    )
    fig7 = {k: c for k, c in cells.items() if k[0] == "Fig. 7"}
    assert fig7[("Fig. 7", "(a) adversarial for FC10(1e-4), on FC10(1e-4)", "accuracy")]["paper"] == 0.0
    assert fig7[("Fig. 7", "(c) Gaussian noise stddev=1, on FC200-200-10", "accuracy")]["paper"] == 51.0
    assert (
        fig7[("Fig. 7", "(b) adversarial for FC200-200-10, on FC200-200-10", "av. distortion")]["values"]
        == table2[("Table 2", "FC200-200-10", "Av. distortion")]["values"]
    )
    units = {k[1] for k in cells if k[0] == "Unit analysis (ours)"}
    assert units == {f"layer {layer}, {kind}" for layer in (1, 2) for kind in ("natural basis", "random directions")}

    assert sum(out.count(f"- {verdict}: ") for verdict in ("PASS", "FAIL", "INCONCLUSIVE", "N/A")) == 8
    assert {c["verdict"] for c in results["claims"] if c["text"].startswith("the adversarial examples have 0%")} == {
        "N/A"
    }
    assert {"fig7_adversarial_vs_noise.png", "unit_analysis_natural.png", "unit_analysis_random.png"} == set(
        results["figures"]
    )
    assert all((folder / name).is_file() for name in results["figures"])
    assert any(note.startswith("Attack: lbfgs (targeted") for note in results["notes"])

    # --fresh: recompute every unit (the trained models still come from the cache), not reuse the stored ones
    assert main(["reproduce", "tiny-transfer", "--fresh", "--out", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "tiny-transfer" / "results.json").read_text())
    for block in ("cells", "claims", "notes", "metrics"):
        assert again[block] == results[block]


def test_units_train_in_phase_0_and_attack_in_phase_1(tmp_path):
    from artx.reproduction import RunContext
    from artx_reproductions.transferability import TABLE2_MODELS, TABLE4_MODELS, TransferabilityReproduction

    reproduction = TransferabilityReproduction()
    context = RunContext(
        preset=reproduction.presets["quick"], seeds=[0, 1], device="cpu", data_dir=None, out_dir=tmp_path
    )
    units = reproduction.units(context)
    assert len({unit.key for unit in units}) == len(units)
    per_phase = {phase: [u for u in units if u.phase == phase] for phase in (0, 1)}
    expected = {(seed, 2, name) for seed in (0, 1) for name in TABLE2_MODELS}
    expected |= {(seed, 4, name) for seed in (0, 1) for name in TABLE4_MODELS}
    for phase, phase_units in per_phase.items():
        assert {(u.args["seed"], u.args["table"], u.args["model"]) for u in phase_units} == expected
        assert all(("train" if phase == 0 else "attack") in u.key for u in phase_units)
    assert units == per_phase[0] + per_phase[1]  # every training before any attack
