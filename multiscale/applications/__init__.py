"""Applications: the benchmark decks' geometry (indent2d, crack2d) and their analysis helpers.

- `indent2d`: the film of ``docs/problems/indent2d.md`` (exact site layout, a₀, indenter placement) and
  `indent2d.write_decks` that generates ``decks/indent2d*.yaml``;
- `analysis`: load-drop detection and force–depth comparison of two runs;
- `crack2d`: the mode-I crack deck geometry and the Griffith comparison;
- `precrack`: the ``precrack`` load (an atomically sharp initial crack: bonds across the crack line behind
  the tip get weight 0) with its crack-tip tracker (a bond across the plane is broken beyond the cut-off;
  observables ``<label>.extension``, ``.broken_run``, ``.broken``, ``.tip_bond``).

Measured (80 × 40 film, d = 0 … 3.2 in 0.1 steps, L-BFGS, ftol 1e-6): the coupled force–depth curve is
within 0.92 % of max P_ref of the fully atomistic one up to the first load drop, which both show at
d = 3.1 σ. Crack: first advance at K/K_G in `crack2d` (size study, fully atomistic and coupled).
"""

from . import precrack  # noqa: E402,F401  (registers the `precrack` load)
