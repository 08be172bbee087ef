"""Figure: temperature and mean stress crossing the atomistic/continuum seam (README, issue 16).

Runs ``decks/thermal2d.yaml`` (2D LJ crystal at k_B T = 0.1, projected coupling, thermostatted band) with the
continuum's thermal strain matched across the handshake (``handshake: quasi_harmonic``) and the Hardy
fields on, averages ``hardy_temperature`` and the mean normal stress (σ_xx + σ_yy)/2 of ``hardy_stress``
over the frames of the second half (t ≥ 20 τ), and draws both on the mesh, with the core and the
handshake's outer edge outlined. The Hardy fields are the atoms' kernel averages where the atoms cover a
node's kernel and the mesh's own values elsewhere, so the picture shows one field across the seam.

    .venv/bin/python benchmarks/seam_fields_figure.py [OUT.png]    (default decks/gallery/thermal2d_seam_fields.png)

An illustration, not a figure of merit: the numbers it shows are the tested ones (the core temperature of
thermal2d's ``expect:``, the handshake stress of tests/fem/test_thermal_strain.py)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def main(out: Path) -> None:
    deck = yaml.safe_load((ROOT / "decks" / "thermal2d.yaml").read_text())
    deck["continuum"]["material"]["handshake"] = "quasi_harmonic"
    deck["output"] = {"every": 50, "thermo_every": 50,
                      "fields": ["displacement", "hardy_temperature", "hardy_stress"]}
    deck.pop("expect", None)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "thermal2d_fields.yaml"
        p.write_text(yaml.safe_dump(deck, sort_keys=False))
        subprocess.run([sys.executable, "-m", "multiscale.cli", "run", str(p), "-o", str(Path(tmp) / "f.h5"),
                        "--quiet"], check=True, cwd=tmp)
        with h5py.File(Path(tmp) / "f.h5", "r") as f:
            X = f["static/mesh/nodes"][:]
            tri = f["static/mesh/connectivity/block0_tri3"][:]
            t = f["frames/time"][:]
            late = t >= 0.5 * t[-1]
            T = f["frames/nodes/hardy_temperature"][late].mean(axis=0)
            s = f["frames/nodes/hardy_stress"][late]            # (frames, N, 4): xx, xy, yx, yy
            p_mean = (0.5 * (s[..., 0] + s[..., 3])).mean(axis=0)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.tri as mtri
    mesh = mtri.Triangulation(X[:, 0], X[:, 1], tri)
    # the continuum has no temperature of its own: where no atom is in a node's kernel the field is the
    # mesh's value, 0 — shown grey ("no atoms"), not as a cold continuum
    Tm = np.ma.masked_where(T == 0.0, T)
    tmesh = mtri.Triangulation(X[:, 0], X[:, 1], tri, mask=np.any(T[tri] == 0.0, axis=1))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    core, hs = deck["handshake"]["shape"], deck["handshake"]
    axes[0].set_facecolor("0.85")
    for ax, val, title, cmap in ((axes[0], Tm, "Hardy temperature $k_BT$ [ε] (t ≥ 20τ; grey: no atoms)",
                                  "inferno"),
                                 (axes[1], p_mean, "Hardy mean stress (σxx+σyy)/2 [ε/σ²] (t ≥ 20τ)", "coolwarm")):
        if cmap == "coolwarm":
            lim = float(np.abs(val).max())
            im = ax.tripcolor(mesh, val, shading="gouraud", cmap=cmap, vmin=-lim, vmax=lim)
        else:
            im = ax.tripcolor(tmesh, val.filled(0.0), shading="gouraud", cmap=cmap, vmin=0.0)
        lo, hi = np.array(core["lo"]), np.array(core["hi"])
        for a, b, ls in ((lo, hi, "-"), (lo - hs["width"], hi + hs["width"], "--")):
            ax.plot([a[0], b[0], b[0], a[0], a[0]], [a[1], a[1], b[1], b[1], a[1]], ls, color="k", lw=0.9)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle("thermal2d, handshake: quasi_harmonic — core (solid) and handshake outer edge (dashed)",
                 fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}: T at the nodes inside the core box {T[np.all(np.abs(X) <= 6, axis=1)].mean():.4f}, "
          f"nodes with atoms in their kernel {int((T > 0).sum())} of {T.size}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "decks" / "gallery" / "thermal2d_seam_fields.png")
