"""The linear-explanation reproduction (Goodfellow et al. 2015) end to end on a tiny preset, and its
L1 weight-decay objective against a hand computation."""

import json

import numpy as np
import pytest
import torch

from artx import registry
from artx.cli import main
from artx.models import build_model
from tests.conftest import make_distribution

TINY = """
    from artx.reproduction import Preset
    from artx_reproductions.linear_explanation import QUICK, LinearExplanationReproduction


    class TinyLinearExplanation(LinearExplanationReproduction):
        name = "tiny-linear-explanation"
        presets = {
            "quick": Preset("quick", "mnist-5k", "tiny", seeds=1, settings=QUICK.replace(
                train_limit=700,
                test_limit=200,
                validation_size=100,
                maxout_epochs=2,
                units=16,
                linear_epochs=2,
                train_error_size=100,
                pgd_images=40,
                pgd_iter=5,
                pgd_step=0.06,
                pgd_eps=(0.25,),
                curve_eps=(0.1, 0.25),
                cw_images=4,
                cw_max_iter=5,
                filter_units=2,
                grid=2,
            )),
        }
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    root = make_distribution(
        tmp_path / "site",
        "tiny-linear-explanation",
        "[artx.reproductions]\ntiny-linear-explanation = tiny_linear_explanation:TinyLinearExplanation\n",
        {"tiny_linear_explanation": TINY},
    )
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()


def test_l1_weight_decay_matches_hand_computation():
    from artx_reproductions.linear_explanation import L1WeightDecay

    model = build_model("maxout-mlp", seed=0, units=4, input_dropout=0.0, dropout=0.0)
    model.eval()
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([1, 7, 3])
    ce = torch.nn.functional.cross_entropy(model(x), y)
    first = model.maxout1.linear.weight.abs().sum()
    every = first + model.maxout2.linear.weight.abs().sum() + model.fc3.weight.abs().sum()  # weights, not biases
    loss, logits = L1WeightDecay(0.01, ("maxout1",))(model, x, y)
    assert torch.allclose(loss, ce + 0.01 * first) and logits.shape == (3, 10)
    assert torch.allclose(L1WeightDecay(0.01)(model, x, y)[0], ce + 0.01 * every)
    # its gradient on a weight is the CE gradient plus λ·sign(w)
    loss.backward()
    ce_grad = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), model.maxout1.linear.weight)[0]
    w = model.maxout1.linear.weight
    assert torch.allclose(w.grad, ce_grad + 0.01 * w.sign(), atol=1e-6)
    assert L1WeightDecay(0.01, ("maxout1",)) != L1WeightDecay(0.02, ("maxout1",))
    with pytest.raises(ValueError, match="layers"):
        L1WeightDecay(0.01, ("conv9",))(model, x, y)
    with pytest.raises(TypeError, match="layers"):
        L1WeightDecay(0.01, "maxout1")
    with pytest.raises((TypeError, ValueError), match="coefficient"):
        L1WeightDecay(-1.0)


def test_tiny_linear_explanation(tiny, tmp_path, capsys):
    assert main(["reproduce", "tiny-linear-explanation", "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "a" / "tiny-linear-explanation"
    results = json.loads((folder / "results.json").read_text())
    cells = {(c["table"].split(":")[0], c["row"], c["column"]): c for c in results["cells"]}
    assert cells[("Fig. 2", "logistic regression", "clean")]["paper"] == 1.6
    assert cells[("Fig. 2", "logistic regression", "FGSM ε = 0.25")]["paper"] == 99.0
    assert cells[("D2", "Shallow softmax", "error on adversarial examples")]["paper"] == 99.9
    # the slide's 97.6 % maxout error is a transcription error: the cell carries D4's 89.4 %
    assert cells[("D2", "Maxout network", "error on adversarial examples")]["paper"] == 89.4
    d4 = {k[1:]: c for k, c in cells.items() if k[0] == "D4/D5"}
    assert d4[("FGSM adversarial training", "error on FGSM examples")]["paper"] == 17.9
    assert d4[("Random ±ε noise training", "error on FGSM examples")]["paper"] == 86.2
    assert d4[("U(−ε, ε) noise training", "confidence on misclassified")]["paper"] == 97.8
    assert d4[("Standard (naive) training", "test error")]["paper"] == 0.94
    assert len(d4) == 15
    assert cells[("D6", "L1 weight decay", "training error")]["paper"] == 5.0
    # D2's maxout row is D4's naive row (same model, same attack)
    assert (
        cells[("D2", "Maxout network", "error on adversarial examples")]["values"]
        == d4[("Standard (naive) training", "error on FGSM examples")]["values"]
    )
    for c in results["cells"]:
        assert all(0 <= v <= 100 for v in c["values"]) or c["table"].startswith("Training")
    epochs = [c["values"][0] for c in results["cells"] if c["table"].startswith("Training")]
    assert len(epochs) == 5 and all(e in (1, 2) for e in epochs)
    rigor = {k[1]: c for k, c in cells.items() if k[0] == "Beyond the paper" and k[2] == "FGSM adversarial training"}
    assert {"PGD-5 ε = 0.25 (white-box)", "FGSM ε = 0.25 crafted on the naive net (transfer)"} <= set(rigor)
    assert any(row.startswith("C&W L∞ within ε = 0.25") for row in rigor) == (
        "cw-linf-reference" in registry.names("evasion")
    )
    curve = [k for k in cells if k[0] == "Beyond the paper" and k[1].startswith("naive, FGSM")]
    assert sorted(k[2] for k in curve) == ["0.1", "0.25"]
    curves = results["metrics"]["training curves (seed 0)"]
    assert set(curves) == {"naive", "fgsm", "random-sign", "uniform", "l1"}
    assert all(len(c["train"]) == 2 and len(c["validation fgsm"]) == 2 for c in curves.values())
    assert set(results["figures"]) == {
        "figure2_logistic_regression.png",
        "figure3_maxout_filters.png",
        "accuracy_vs_eps.png",
        "training_curves.png",
    }
    assert all((folder / name).is_file() for name in results["figures"])
    # 13 claims; the absolute ones read N/A at this scale
    verdicts = [c["verdict"] for c in results["claims"]]
    assert len(verdicts) == 13 and sum(out.count(f"- {v}: ") for v in ("PASS", "FAIL", "INCONCLUSIVE", "N/A")) == 13
    assert verdicts.count("N/A") == 8
    assert any("97.6" in note and "89.4" in note for note in results["notes"])
    assert any("∇_y" in note for note in results["notes"])
    assert any(note.startswith("Beyond the paper") for note in results["notes"])

    # a second run (models from the cache) gives the same numbers
    assert main(["reproduce", "tiny-linear-explanation", "--out", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "tiny-linear-explanation" / "results.json").read_text())
    for block in ("cells", "claims", "notes", "metrics", "config"):
        assert again[block] == results[block]
    assert np.isfinite([c["mean"] for c in again["cells"]]).all()
