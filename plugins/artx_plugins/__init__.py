"""artx-plugins: the paper plugins of artx, one module per plugin, registered as entry points
in ``plugins/setup.cfg``."""

__version__ = "0.1.0"
