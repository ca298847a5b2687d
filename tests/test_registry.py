import pytest

from artx import registry
from artx.cli import main
from tests.conftest import make_distribution

STOCK_ATTACKS = {"fgsm", "bim", "pgd", "jsma", "cw-l0", "cw-l2", "cw-linf", "deepfool"}

THIRD_PARTY = {
    "thirdparty_defence": """
        from art.defences.preprocessor import Preprocessor

        class Halve(Preprocessor):
            def __init__(self, factor=0.5):
                super().__init__(is_fitted=True, apply_fit=False, apply_predict=True)
                self.factor = factor

            def __call__(self, x, y=None):
                return x * self.factor, y

        class NotAnAttack:
            pass

        def make_halve(factor=0.5):
            return Halve(factor)

        def make_wrong():
            return NotAnAttack()
    """,
    "thirdparty_broken": "raise RuntimeError('this plugin is broken on purpose')\n",
}

ENTRY_POINTS = """
    [artx.preprocessors]
    halve = thirdparty_defence:Halve
    halve-factory = thirdparty_defence:make_halve
    wrong-factory = thirdparty_defence:make_wrong
    broken = thirdparty_broken:Anything

    [artx.evasion]
    not-an-attack = thirdparty_defence:NotAnAttack
"""


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    root = make_distribution(tmp_path / "site", "thirdparty-plugins", ENTRY_POINTS, THIRD_PARTY, version="2.3")
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()
    return root


def test_stock_art_attacks_are_registered_by_the_artx_distribution():
    rows = {row.name: row for row in registry.list_plugins("evasion")}
    assert STOCK_ATTACKS <= set(rows)
    for name in STOCK_ATTACKS:
        assert rows[name].distribution == "artx"
        assert rows[name].status == "ok"


def test_create_stock_attack_by_name(trained_lenet):
    from art.attacks.evasion import FastGradientMethod

    attack = registry.create("evasion", "fgsm", trained_lenet, eps=0.2)
    assert isinstance(attack, FastGradientMethod)
    assert attack.eps == 0.2


def test_zoo_models_are_plugins():
    assert {"paper-cnn", "lenet5", "lenet5-dropout", "shallow-mlp", "cw-mnist"} <= set(registry.names("model"))


def test_unknown_kind_lists_kinds_and_close_match():
    with pytest.raises(KeyError) as info:
        registry.load("evasions", "fgsm")
    message = str(info.value)
    assert "'evasion'" in message and "preprocessor" in message


def test_unknown_name_suggests_closest():
    with pytest.raises(registry.PluginNotFoundError) as info:
        registry.create("evasion", "fgsn")
    message = str(info.value)
    assert "Did you mean 'fgsm'" in message
    assert "deepfool" in message  # the full list of known names


def test_third_party_distribution_is_discovered_without_changing_artx(third_party):
    rows = {(row.kind, row.name): row for row in registry.list_plugins()}
    halve = rows[("preprocessor", "halve")]
    assert (halve.distribution, halve.version, halve.status) == ("thirdparty-plugins", "2.3", "ok")
    defence = registry.create("preprocessor", "halve", factor=0.25)
    assert defence.factor == 0.25


def test_broken_plugin_is_listed_as_broken_while_others_load(third_party, caplog):
    rows = {(row.kind, row.name): row for row in registry.list_plugins()}
    broken = rows[("preprocessor", "broken")]
    assert broken.status == "broken"
    assert "broken on purpose" in broken.error
    assert "broken on purpose" in caplog.text  # reported as a warning
    assert rows[("preprocessor", "halve")].status == "ok"
    assert rows[("evasion", "fgsm")].status == "ok"
    with pytest.raises(registry.PluginLoadError, match="failed to import"):
        registry.load("preprocessor", "broken")


def test_plugin_of_wrong_base_class_is_refused(third_party):
    with pytest.raises(registry.PluginLoadError, match="must subclass art.attacks.attack.EvasionAttack"):
        registry.load("evasion", "not-an-attack")
    rows = {(row.kind, row.name): row for row in registry.list_plugins("evasion")}
    assert rows[("evasion", "not-an-attack")].status == "broken"


def test_factory_plugins_are_checked_on_create(third_party):
    from art.defences.preprocessor import Preprocessor

    assert isinstance(registry.create("preprocessor", "halve-factory", factor=0.1), Preprocessor)
    with pytest.raises(registry.PluginLoadError, match="not a art.defences.preprocessor"):
        registry.create("preprocessor", "wrong-factory")


def test_cli_plugins_lists_third_party_and_broken(third_party, capsys):
    assert main(["plugins"]) == 0  # fast: from entry-point metadata, nothing imported
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "DISTRIBUTION", "VERSION"]
    assert any(line.split() == ["preprocessor", "broken", "thirdparty-plugins", "2.3"] for line in lines)
    assert main(["plugins", "--check"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "DISTRIBUTION", "VERSION", "STATUS", "DESCRIPTION"]
    fgsm = next(line for line in lines if line.split()[:2] == ["evasion", "fgsm"])
    assert fgsm.split()[4] == "ok" and "ART's FastGradientMethod:" in fgsm
    assert any(line.split()[:5] == ["preprocessor", "halve", "thirdparty-plugins", "2.3", "ok"] for line in lines)
    assert any(line.split() == ["preprocessor", "broken", "thirdparty-plugins", "2.3", "broken"] for line in lines)
    assert "broken on purpose" in captured.err
    jsma = next(line for line in lines if line.split()[:2] == ["evasion", "jsma-z"])
    assert "Papernot" in jsma  # the two JSMA families say which is which
    stock = next(line for line in lines if line.split()[:2] == ["evasion", "jsma"])
    assert "ART's SaliencyMapMethod:" in stock
    reproduction = next(line for line in lines if line.split()[:2] == ["reproduction", "cw-attacks"])
    assert "Carlini & Wagner (2017)" in reproduction  # its paper, not the base class's docstring


def test_describe_gives_one_sentence_or_the_papers_title():
    class Wrapped:
        """The Basic Iterative Method of Kurakin et al. (2016) is the
        iterative version of FGSM. It clips after every step.

        :param eps: not part of the summary.
        """

    class Summary:
        """One-line summary with ``x`` and :class:`Other`.
        :param y: not part of it either.
        """

    class Titled(Summary):  # a reproduction's docstring is its base class's: its title says what it is
        title = "Some  paper:\n Table 1"

    assert (
        registry.describe(Wrapped)
        == "The Basic Iterative Method of Kurakin et al. (2016) is the iterative version of FGSM."
    )
    assert registry.describe(Summary) == "One-line summary with `x` and Other."
    assert registry.describe(Titled) == "Some paper: Table 1"
    assert registry.describe(type("Bare", (), {})) == ""
    Wrapped.__module__ = "art.attacks.evasion.fake"
    assert registry.describe(Wrapped).startswith("ART's Wrapped: The Basic Iterative Method of Kurakin")


def test_listing_does_not_import_plugins(third_party):
    import sys

    sys.modules.pop("thirdparty_defence", None)
    rows = registry.list_plugins("preprocessor", load_plugins=False)
    assert {row.name for row in rows} >= {"halve", "broken"} and all(row.status == "not loaded" for row in rows)
    assert "thirdparty_defence" not in sys.modules


def test_cli_plugins_kind_filter(capsys):
    assert main(["plugins", "--kind", "model"]) == 0
    body = capsys.readouterr().out.splitlines()[1:]
    assert body and all(line.split()[0] == "model" for line in body)
