"""`run.distributed.quiet_record` (ranks > 0 write no file): its ``save_lastgood`` message names
OUT.lastgood.h5 only for a collective blow-up (rank 0 saves it before any rank stops); a blow-up found by
one rank inside a step leaves rank 0 waiting in a collective, aborted before it can save, so the message
says the state could NOT be saved (review rev28 F6; rev29: the 2-rank tests cannot force either branch)."""

from __future__ import annotations

from pathlib import Path

from multiscale.deck import load_deck
from multiscale.errors import BlowUpError
from multiscale.run.checkpoints import RunRecord
from multiscale.run.distributed import quiet_record

DECKS = Path(__file__).resolve().parents[2] / "decks"


def _err(collective: bool) -> BlowUpError:
    exc = BlowUpError("blow-up at step 7", step=7, region="atoms", quantity="x")
    if collective:
        exc.collective = True
    return exc


def test_messages_name_the_file_only_when_rank_0_saves_it(tmp_path: Path) -> None:
    rec = quiet_record(RunRecord(load_deck(DECKS / "lj_melt.yaml")))
    out = tmp_path / "run.h5"
    err = rec.save_lastgood(out, {}, _err(True), "step 5")
    assert "is saved in" in str(err) and "run.lastgood.h5" in str(err) and err.step == 7
    err = rec.save_lastgood(out, {}, _err(False), "step 5")
    assert "could NOT be saved" in str(err) and "is saved in" not in str(err)
    assert not (tmp_path / "run.lastgood.h5").exists()          # a quiet record writes nothing
