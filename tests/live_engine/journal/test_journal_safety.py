"""RELIABILITY 4 and 7 at the storage level: modes never share a journal; a damaged file is moved aside, not lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from live_engine.journal.journal import Journal, JournalCorrupt
from live_engine.journal.paper_venue import PaperVenueStore
from quantumtrader.config import load_settings
from quantumtrader.errors import InputError


def _fill_journal(url: str, n: int) -> None:
    with Journal.open(url, mode="paper") as j:
        j.record_start("e1", {})
        for i in range(n):
            j.record_intent({"client_id": f"QT-{i}", "ts_ns": i, "side": 1, "qty": 1, "kind": "market", "tag": "entry"})
            j.apply_fill({"fill_id": f"QT-{i}-F1", "client_id": f"QT-{i}", "ts_ns": i, "side": 1, "qty": 1,
                          "price": 5000.0, "fee": 1.0, "tag": "entry"}, state={"fills": i + 1})


def test_a_journal_of_the_other_mode_is_refused_naming_both_modes_and_the_url(journal_url: str) -> None:
    Journal.open(journal_url, mode="paper").close()
    with pytest.raises(InputError) as err:
        Journal.open(journal_url, mode="live")
    msg = str(err.value)
    assert "\n" not in msg and "belongs to mode 'paper', not 'live'" in msg and journal_url.split("?")[0] in msg
    with Journal.open(journal_url, mode="paper") as j:  # refused without touching it: paper still opens
        assert j.mode == "paper"


def test_each_mode_has_its_own_default_file_and_the_other_modes_file_is_refused(tmp_path: Path) -> None:
    paper = load_settings(root=tmp_path)
    live = load_settings(root=tmp_path, live={"journal": {"mode": "live"}})
    var = paper.var_dir
    assert Journal.url_for(paper) == f"sqlite:///{var / 'journal' / 'paper.db'}"
    assert Journal.url_for(live) == f"sqlite:///{var / 'journal' / 'live.db'}"
    with Journal.for_settings(paper) as j:
        assert j.mode == "paper" and (var / "journal" / "paper.db").exists()
    crossed = load_settings(root=tmp_path, live={"journal": {"mode": "live"}},
                            stores={"journal_db_url": Journal.url_for(paper)})
    with pytest.raises(InputError, match=r"is the paper journal but live\.journal\.mode is live"):
        Journal.url_for(crossed)
    with pytest.raises(InputError, match="is the paper journal's file but mode is live"):
        Journal.open(Journal.url_for(paper), mode="live")
    with pytest.raises(InputError, match="is the live journal's file but mode is paper"):
        Journal.open(f"sqlite:///{tmp_path / 'elsewhere' / 'live.db'}", mode="paper")
    with pytest.raises(InputError, match="mode 'demo' is unknown"):
        Journal.open(f"sqlite:///{tmp_path / 'x.db'}", mode="demo")


@pytest.mark.parametrize("damage", ["garbage", "half", "empty"])
def test_a_damaged_journal_is_moved_aside_and_reported_and_a_fresh_one_starts_halted(tmp_path: Path,
                                                                                      damage: str) -> None:
    path = tmp_path / "journal" / "paper.db"
    url = f"sqlite:///{path}"
    if damage == "garbage":
        path.parent.mkdir(parents=True)
        path.write_bytes(os.urandom(8192))
    else:
        _fill_journal(url, 300)
        size = path.stat().st_size
        assert size > 40_000 and not Path(f"{path}-wal").exists()  # a clean close leaves one self-contained file
        os.truncate(path, 0 if damage == "empty" else size // 2)
    before = path.read_bytes()
    with pytest.raises(JournalCorrupt) as err:
        Journal.open(url, mode="paper")
    msg, moved = str(err.value), err.value.moved_to
    assert "\n" not in msg and f"moved to {moved}" in msg and "starts HALTED" in msg
    assert not path.exists() and moved.read_bytes() == before  # nothing deleted, nothing changed
    assert moved.name.startswith("paper.db.corrupt-") and moved.name.endswith("Z")
    journal, quarantined = Journal.open_or_quarantine(url, mode="paper")  # now a fresh journal opens at once
    with journal:
        assert quarantined is None and journal.fills() == [] and journal.load_state() == {}


def test_open_or_quarantine_moves_the_damaged_file_and_returns_where_it_went(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "paper.db"
    _fill_journal(f"sqlite:///{path}", 50)
    with path.open("r+b") as f:  # overwrite the pages after the header: a disk that lost sectors
        f.seek(4096)
        f.write(b"\xff" * 8192)
    journal, moved = Journal.open_or_quarantine(f"sqlite:///{path}", mode="paper")
    with journal:
        assert moved is not None and Path(moved).exists() and journal.orders() == []
    journal, again = Journal.open_or_quarantine(f"sqlite:///{path}", mode="paper")  # the fresh one is sound
    journal.close()
    assert again is None and sorted(p.name for p in path.parent.iterdir() if ".corrupt-" in p.name) == [
        Path(moved).name]


def test_the_journal_and_the_paper_venue_never_share_a_database(journal_url: str) -> None:
    PaperVenueStore.open(journal_url).close()
    with pytest.raises(InputError, match=r"is not a journal .*never share a database") as err:
        Journal.open(journal_url, mode="paper")
    assert not isinstance(err.value, JournalCorrupt)  # refused, not quarantined: the venue's book stays put
    PaperVenueStore.open(journal_url).close()


def test_the_paper_venue_refuses_a_journals_database(journal_url: str) -> None:
    Journal.open(journal_url, mode="paper").close()
    with pytest.raises(InputError, match="is not a paper venue book"):
        PaperVenueStore.open(journal_url)
    Journal.open(journal_url, mode="paper").close()


def test_a_second_engine_on_the_same_journal_is_refused_and_the_lock_ends_with_the_first(journal_url: str) -> None:
    from live_engine.service.main import hold_journal

    first = Journal.open(journal_url, mode="paper")
    held = hold_journal(first)
    second = Journal.open(journal_url, mode="paper")
    with pytest.raises(InputError, match=r"another engine .* holds the journal .*stop it first"):
        hold_journal(second)
    held.close()
    third = Journal.open(journal_url, mode="paper")
    hold_journal(third).close()  # released: the next engine starts
    third.close()
    first.close()
