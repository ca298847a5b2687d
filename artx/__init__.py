"""artx: plugin-based extensions of the Adversarial Robustness Toolbox (ART).

The package root stays import-light (no torch, no ART) so that ``artx --version`` and the
entry-point listing start fast; import the submodules you need, e.g. ``artx.registry``,
``artx.data``, ``artx.models``, ``artx.training``.
"""

__version__ = "0.1.0"
