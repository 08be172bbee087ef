"""Applications: the benchmark decks' geometry (indent2d, crack2d) and their analysis helpers.

- `indent2d`: the film of ``problems/indent2d.md`` (exact site layout, a₀, indenter placement) and
  `indent2d.write_decks` that generates ``decks/indent2d*.yaml``;
- `analysis`: load-drop detection and force–depth comparison of two runs;
- `crack2d`: the mode-I crack deck geometry and the Griffith comparison.
"""

from . import precrack  # noqa: E402,F401  (registers the `precrack` load)
