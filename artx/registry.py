"""Plugin registry: every attack, defence, model and reproduction is found through entry points.

artx never imports a plugin module by name. Each *kind* of plugin is one entry-point group, and
each kind has a base class that a loaded plugin must subclass (mirroring ART's taxonomy):

============== ======================= ==============================================
kind           entry-point group       base class
============== ======================= ==============================================
evasion        ``artx.evasion``        ``art.attacks.attack.EvasionAttack``
poisoning      ``artx.poisoning``      ``art.attacks.attack.PoisoningAttack``
preprocessor   ``artx.preprocessors``  ``art.defences.preprocessor.Preprocessor``
postprocessor  ``artx.postprocessors`` ``art.defences.postprocessor.Postprocessor``
detector       ``artx.detectors``      ``art.defences.detector.evasion.EvasionDetector``
estimator      ``artx.estimators``     ``art.estimators.estimator.BaseEstimator``
trainer        ``artx.trainers``       ``art.defences.trainer.Trainer``
model          ``artx.models``         ``torch.nn.Module``
reproduction   ``artx.reproductions``  ``artx.reproduction.Reproduction``
============== ======================= ==============================================

An entry point may name a class (checked with ``issubclass`` when loaded) or a factory
function (its return value is checked with ``isinstance`` when called through :func:`create`);
factories suit plugins such as scikit-learn baselines whose ART wrapper class depends on the
model. The stock ART attacks are entry points of the ``artx`` distribution itself, so stock and
plugin code are created the same way: ``create("evasion", "fgsm", classifier, eps=0.1)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata as metadata
import inspect
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of plugin: its name, entry-point group and required base class."""

    name: str
    group: str
    base: str  # "module:Class", imported lazily so that listing kinds stays cheap
    description: str

    def base_class(self) -> type:
        """Import and return the base class a plugin of this kind must subclass."""
        module_name, _, attr = self.base.partition(":")
        return getattr(importlib.import_module(module_name), attr)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("evasion", "artx.evasion", "art.attacks.attack:EvasionAttack", "evasion attacks"),
        Kind("poisoning", "artx.poisoning", "art.attacks.attack:PoisoningAttack", "poisoning attacks"),
        Kind(
            "preprocessor",
            "artx.preprocessors",
            "art.defences.preprocessor:Preprocessor",
            "input-transformation defences",
        ),
        Kind("postprocessor", "artx.postprocessors", "art.defences.postprocessor:Postprocessor", "output defences"),
        Kind(
            "detector", "artx.detectors", "art.defences.detector.evasion:EvasionDetector", "adversarial-input detectors"
        ),
        Kind("estimator", "artx.estimators", "art.estimators.estimator:BaseEstimator", "ART estimators / factories"),
        Kind(
            "trainer",
            "artx.trainers",
            "art.defences.trainer:Trainer",
            "training defences (adversarial training, distillation)",
        ),
        Kind("model", "artx.models", "torch.nn:Module", "PyTorch architectures (return logits)"),
        Kind("reproduction", "artx.reproductions", "artx.reproduction:Reproduction", "paper reproductions"),
    )
}


class PluginNotFoundError(KeyError):
    """An unknown kind or plugin name. The message lists what exists and the closest names."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0]) if self.args else ""


class PluginLoadError(ImportError):
    """A plugin whose import failed, or whose class is not of its kind's base class."""


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """One row of the plugin listing.

    ``status`` is ``"ok"``, ``"broken"`` (import failed or wrong base class; see ``error``),
    ``"shadowed"`` (another distribution registered the same kind and name first) or
    ``"not loaded"`` (listing asked not to import). ``description`` is :func:`describe`'s one
    line (a reproduction's title; ART's own classes named as ART's), once loaded.
    """

    kind: str
    name: str
    target: str
    distribution: str
    version: str
    status: str
    error: str | None = None
    description: str = ""


_loaded: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def refresh() -> None:
    """Forget loaded plugins so that the next call re-reads entry points (e.g. after installing)."""
    with _lock:
        _loaded.clear()


def get_kind(kind: str) -> Kind:
    """Return the :class:`Kind` called ``kind``, or raise :class:`PluginNotFoundError`."""
    if kind in KINDS:
        return KINDS[kind]
    raise PluginNotFoundError(_unknown_message("plugin kind", kind, list(KINDS)))


def _unknown_message(what: str, given: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(given), known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    listing = ", ".join(sorted(known)) if known else "(none installed)"
    return f"unknown {what} {given!r}.{hint} Known: {listing}"


def _entry_points(kind: Kind) -> list[metadata.EntryPoint]:
    """Entry points of a group in sys.path order; the first one of a name wins."""
    return list(metadata.entry_points(group=kind.group))


def _dist_of(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"] or "?", dist.version or "?"


def _validate(kind: Kind, name: str, obj: Any) -> Any:
    base = kind.base_class()
    if inspect.isclass(obj):
        if not issubclass(obj, base):
            raise PluginLoadError(
                f"{kind.name} plugin {name!r} ({obj.__module__}.{obj.__qualname__}) must subclass "
                f"{base.__module__}.{base.__qualname__}"
            )
    elif not callable(obj):
        raise PluginLoadError(
            f"{kind.name} plugin {name!r} must be a class or a factory function; got {type(obj).__name__}"
        )
    return obj


def _find(kind: Kind, name: str) -> metadata.EntryPoint:
    entry_points = _entry_points(kind)
    for entry_point in entry_points:
        if entry_point.name == name:
            return entry_point
    raise PluginNotFoundError(_unknown_message(f"{kind.name} plugin", name, sorted({ep.name for ep in entry_points})))


def load(kind: str, name: str) -> Any:
    """Import the plugin ``name`` of ``kind`` and return its class (or factory), validated.

    :raises PluginNotFoundError: unknown kind or name (the message lists what exists).
    :raises PluginLoadError: its import failed or it does not subclass the kind's base class.
    """
    spec = get_kind(kind)
    key = (spec.name, name)
    with _lock:
        if key in _loaded:
            return _loaded[key]
    entry_point = _find(spec, name)
    try:
        obj = entry_point.load()
    except Exception as error:  # a plugin may fail in any way; report it, never crash the host
        raise PluginLoadError(
            f"{spec.name} plugin {name!r} ({entry_point.value}) failed to import: {error!r}"
        ) from error
    obj = _validate(spec, name, obj)
    with _lock:
        _loaded[key] = obj
    return obj


def create(kind: str, name: str, *args: Any, **params: Any) -> Any:
    """Instantiate the plugin ``name`` of ``kind`` with ``args`` and ``params``.

    For a factory plugin the returned object is checked against the kind's base class.
    """
    factory: Callable[..., Any] = load(kind, name)
    obj = factory(*args, **params)
    if not inspect.isclass(factory):
        base = get_kind(kind).base_class()
        if not isinstance(obj, base):
            raise PluginLoadError(
                f"{kind} factory {name!r} returned {type(obj).__name__}, which is not a "
                f"{base.__module__}.{base.__qualname__}"
            )
    return obj


def names(kind: str) -> list[str]:
    """Sorted names registered for ``kind`` (without importing them)."""
    return sorted({ep.name for ep in _entry_points(get_kind(kind))})


#: A Sphinx field list line (``:param x:``, ``:return:``), which ends a docstring's summary.
SPHINX_FIELD = re.compile(r":(param|type|returns?|rtype|raises?|ivar|var)\b")


def describe(obj: Any) -> str:
    """One line: the first sentence of a plugin's docstring; ART's own classes as "ART's <class>: ...".

    ART's docstrings wrap their first sentence over several lines, so the first paragraph (up to a
    blank line or the ``:param:`` list) is joined and cut at its first full stop followed by a
    capital letter ("et al. (2015)" does not end a sentence); naming ART's class says which of two
    same-named attacks a row is. A plugin with a ``title`` (a reproduction: its paper) is
    described by it, not by a docstring it inherits.
    """
    title = getattr(obj, "title", None)
    if isinstance(title, str) and title.strip():
        return " ".join(title.split())
    paragraph = []
    for line in (inspect.getdoc(obj) or "").strip().splitlines():
        if not line.strip() or SPHINX_FIELD.match(line.lstrip()):  # a blank line or the :param: list ends it
            break
        paragraph.append(line)
    text = " ".join(" ".join(paragraph).split())
    text = re.split(r"(?<=\.)\s+(?=[A-Z])", text, maxsplit=1)[0]
    # Sphinx markup reads as noise in a terminal: :class:`X` → X, ``x`` → `x`
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text).replace("``", "`")
    module = getattr(obj, "__module__", "") or ""
    if module.split(".")[0] == "art":
        return f"ART's {getattr(obj, '__name__', type(obj).__name__)}: {text}"
    return text


def list_plugins(kind: str | None = None, *, load_plugins: bool = True) -> list[PluginInfo]:
    """List plugins with their distribution, version and load status.

    A plugin that fails to load is logged as a warning and listed as ``broken``; it never stops
    the others from loading.

    :param kind: Only this kind, or None for all kinds.
    :param load_plugins: Import each plugin to report its status (else ``"not loaded"``).
    """
    kinds = [get_kind(kind)] if kind is not None else list(KINDS.values())
    rows: list[PluginInfo] = []
    for spec in kinds:
        seen: dict[str, str] = {}
        for entry_point in _entry_points(spec):
            distribution, version = _dist_of(entry_point)
            status, error, description = "not loaded", None, ""
            if entry_point.name in seen:
                status, error = "shadowed", f"{seen[entry_point.name]} registered {entry_point.name!r} first"
            elif load_plugins:
                try:
                    description = describe(load(spec.name, entry_point.name))
                    status = "ok"
                except PluginLoadError as exc:
                    status, error = "broken", str(exc)
                    logger.warning("%s", exc)
            seen.setdefault(entry_point.name, distribution)
            info = PluginInfo(
                spec.name, entry_point.name, entry_point.value, distribution, version, status, error, description
            )
            rows.append(info)
    return sorted(rows, key=lambda row: (row.kind, row.name, row.status != "ok"))
