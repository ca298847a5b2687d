"""Paper reproductions, one thin module per paper, installed as the package ``artx_reproductions``
and registered under the ``artx.reproductions`` entry-point group. Each uses plugins only by
registry name. Run one with ``artx reproduce NAME`` or ``python reproductions/<module>.py``."""
