"""The malformed decks of ``decks/bad/`` and what each must report.

Each deck is ``decks/bad/_valid.yaml`` with exactly one mistake. Its header says what is expected::

    # expect-key: integrator.dt            (the reported key path; '-' for YAML syntax errors)
    # expect-message: expected a number > 0
    # expect-hint: did you mean 'lattice'?  (optional)

and the line the error must name carries the comment ``# <-- error``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BAD_DIR = Path(__file__).resolve().parents[2] / "decks" / "bad"
VALID = BAD_DIR / "_valid.yaml"


@dataclass(frozen=True)
class BadDeck:
    path: Path
    line: int
    key: str | None
    message: str
    hint: str | None

    @property
    def name(self) -> str:
        return self.path.stem


def read(path: Path) -> BadDeck:
    lines = path.read_text(encoding="utf-8").splitlines()
    head = {}
    for ln in lines:
        if ln.startswith("# expect-"):
            k, _, v = ln[len("# expect-"):].partition(":")
            head[k.strip()] = v.strip()
    marked = [i + 1 for i, ln in enumerate(lines) if "# <-- error" in ln]
    assert len(marked) == 1, f"{path.name}: exactly one line must carry '# <-- error'"
    key = head["key"]
    return BadDeck(path, marked[0], None if key == "-" else key, head["message"], head.get("hint"))


def all_bad_decks() -> list[BadDeck]:
    return [read(p) for p in sorted(BAD_DIR.glob("*.yaml")) if not p.name.startswith("_")]
