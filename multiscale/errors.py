"""Exception types. User mistakes are `DeckError` (exit status 2); everything else is internal (exit 1)."""

from __future__ import annotations


class MsimError(Exception):
    """Base class of every error msim raises on purpose."""


#: longest message, hint or quoted line an error prints [characters]
MAX_MESSAGE = 400
MAX_LINE = 120


def clip(text: str, n: int) -> str:
    """``text`` shortened to about ``n`` characters (``...`` and the count of characters left out);
    control characters are shown escaped so that garbage cannot garble the terminal."""
    text = "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in text[:n + 1])
    return text if len(text) <= n else f"{text[:n]}... (shortened)"


def excerpt(line: str, column: int) -> tuple[str, int]:
    """At most `MAX_LINE` characters of ``line`` around the 1-based ``column``; the column in the excerpt."""
    if len(line) <= MAX_LINE:
        return clip(line, MAX_LINE * 4), column
    start = max(0, min(column - 1 - MAX_LINE // 2, len(line) - MAX_LINE))
    part = line[start:start + MAX_LINE]
    head = "..." if start > 0 else ""
    tail = "..." if start + MAX_LINE < len(line) else ""
    return head + clip(part, MAX_LINE * 4) + tail, column - start + len(head)


class DeckError(MsimError):
    """A mistake in the user's input: a deck, a potential or mesh file, a command-line value.

    Carries where it is (file, line, column: 1-based), the dotted key path, and an optional hint
    (e.g. "did you mean 'lattice'?"). The CLI prints it and exits with status 2.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, key: str | None = None, hint: str | None = None,
                 source_line: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.hint = hint
        self.source_line = source_line

    def format(self) -> str:
        """Human-readable message: `FILE:LINE:COL: key: message`, the offending line, a caret, the hint.
        Long messages, keys and lines are shortened (a 2 MB value is shown as an excerpt around the caret)."""
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        key = f"{clip(self.key, 200)}: " if self.key else ""
        out = [f"error: {where}{key}{clip(self.message, MAX_MESSAGE)}"]
        if self.source_line is not None:
            line, col = excerpt(self.source_line.rstrip(), max(1, self.column or 1))
            out.append(f"    {line}")
            out.append("    " + " " * (col - 1) + "^")
        if self.hint:
            out.append(f"hint: {clip(self.hint, MAX_MESSAGE)}")
        return "\n".join(out)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.format()


class UnknownPluginError(DeckError):
    """A `type:` (or other plugin name) that no registry entry answers to."""


class KernelsNotBuilt(MsimError):
    """The compiled kernels are missing: msim never falls back to slow Python.

    Deliberately NOT a subclass of `ImportError`: code (or a test) that catches `ImportError` to treat an
    optional module as absent must not swallow a missing kernel.
    """


class KernelError(MsimError):
    """A compiled kernel returned a non-zero status."""


class NotConvergedWarning(UserWarning):
    """A minimiser stopped above its force tolerance (iteration limit or stall) and the deck asked for a
    warning (``integrator.on_unconverged: warn``, the default); ``error`` raises `BlowUpError` instead."""


class ContinuationWarning(UserWarning):
    """``--from`` continues with a potential (or potential file) other than the one of the run that wrote
    the state: legitimate (e.g. a change of model), but the state's forces and energy change at step 0."""


class DeckWarning(UserWarning):
    """A deck value msim had to round to run it (``integrator.time`` not a whole number of steps of ``dt``),
    or a deck `msim validate` warns about that the run also warns about (a coupled lattice not at zero
    stress: `run.summary.prestress_warning`): the run goes on, the message says what it does instead or what
    to change."""


class BlowUpError(MsimError):
    """The run became numerically unstable (NaN/inf, atom lost, energy jump).

    Attributes: step, region ("atoms" / "continuum" / "coupling"), quantity.
    """

    #: what the CLI prints before the message ("error: <headline>: <message>", exit 3)
    headline = "the run became unstable"

    def __init__(self, message: str, *, step: int, region: str, quantity: str) -> None:
        super().__init__(message)
        self.step = step
        self.region = region
        self.quantity = quantity


class NotConvergedError(BlowUpError):
    """A minimiser stopped above its force tolerance and the deck asked to stop the run
    (``integrator.on_unconverged: error``): exit 3 with the state after the last converged stage saved, like a
    blow-up, but nothing became unstable."""

    headline = "the run stopped"
