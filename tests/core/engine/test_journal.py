"""The journal: append-only JSON lines, one fsync per transition, and a torn last line survives a crash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.engine.journal import Journal, read_journal


def test_every_write_is_one_line_fsynced_before_returning(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run" / "journal.jsonl"
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        # the line is already in the file when fsync is called for it
        synced.append(len(path.read_text().splitlines()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    with Journal(path) as journal:
        journal.write("run", status="started")
        journal.write("step", step="a", status="started")
        journal.write("step", step="a", status="ok")
    assert synced == [1, 2, 3]
    assert [r["event"] for r in read_journal(path)] == ["run", "step", "step"]


def test_append_only_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as j:
        first = j.write("run", status="started")
    with Journal(path) as j:
        j.write("run", status="resumed")
    records = read_journal(path)
    assert records[0] == first
    assert [r["status"] for r in records] == ["started", "resumed"]
    assert all(isinstance(json.loads(line), dict) for line in path.read_text().splitlines())


def test_records_carry_a_timestamp_and_non_json_values_as_strings(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as j:
        rec = j.write("observe", step="a", observation={"path": tmp_path})
    assert isinstance(rec["ts"], float)
    assert read_journal(tmp_path / "j.jsonl")[0]["observation"] == {"path": str(tmp_path)}


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as j:
        j.write("step", step="a", status="ok")
        j.write("step", step="b", status="started")
    with path.open("a") as f:
        f.write('{"event": "step", "step": "b", "sta')  # the executor died inside write()
    assert [(r["step"], r["status"]) for r in read_journal(path)] == [("a", "ok"), ("b", "started")]


def test_records_appended_after_a_torn_line_are_read(tmp_path: Path) -> None:
    """A resumed executor appends to the journal its predecessor tore: nothing it writes may be lost."""
    path = tmp_path / "journal.jsonl"
    with Journal(path) as j:
        j.write("step", step="a", status="ok")
    with path.open("a") as f:
        f.write('{"event": "step", "step": "b", "sta')
    with Journal(path) as j:  # resume
        j.write("run", status="resumed")
        j.write("step", step="b", status="ok")
    assert [(r["event"], r["status"]) for r in read_journal(path)] == [
        ("step", "ok"), ("run", "resumed"), ("step", "ok")]


def test_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    assert read_journal(tmp_path / "none.jsonl") == []
