"""The recorder's disk budget and disk errors: oldest unlabelled first, labelled kept, pause."""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firstcrack.agent.config import RecordingConfig
from firstcrack.agent.recording import Recorder
from firstcrack.agent.recording.budget import WRITING, WRITING_LOCK, Scanner, enforce
from firstcrack.agent.recording.spool import open_spool
from tests.recording_fixtures import SR, Roast, recordings

KB = 1024


def old_recording(directory: Path, stem: str, day: int, size: int = 100 * KB,
                  label: str = "agent", alog: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}.flac").write_bytes(os.urandom(size))
    side = {"audio_file": f"{stem}.flac", "duration": 1.0, "annotations": [],
            "label_source": label,
            "firstcrack": {"started_ts": f"2026-01-{day:02d}T10:00:00.000Z"}}
    (directory / f"{stem}.json").write_text(json.dumps(side))
    if alog:
        (directory / f"{stem}.alog").write_text("{}")


def stems(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.flac"))


def test_oldest_unlabelled_go_first_and_labelled_stay(tmp_path: Path) -> None:
    old_recording(tmp_path, "r_e", day=9)  # newest; names do not decide, started_ts does
    old_recording(tmp_path, "r_a", day=1)
    old_recording(tmp_path, "r_b", day=2, label="user")
    old_recording(tmp_path, "r_c", day=3, alog=True)
    old_recording(tmp_path, "r_d", day=4)
    scanner = Scanner(tmp_path)
    verdict = enforce(scanner, 350 * KB, 0)
    assert verdict.deleted == ("r_a", "r_d") and not verdict.full
    assert stems(tmp_path) == ["r_b", "r_c", "r_e"]
    assert not (tmp_path / "r_a.json").exists()  # both files go
    with WRITING_LOCK:
        WRITING.add((tmp_path / "r_e.flac").resolve())
    try:
        verdict = enforce(scanner, 150 * KB, 0)  # the one being written is never deleted
    finally:
        with WRITING_LOCK:
            WRITING.discard((tmp_path / "r_e.flac").resolve())
    assert verdict.full and verdict.deleted == ()
    verdict = enforce(scanner, 150 * KB, 0)
    assert verdict.deleted == ("r_e",) and verdict.full  # only labelled ones left
    assert stems(tmp_path) == ["r_b", "r_c"]


def test_free_space_counts_too(tmp_path: Path) -> None:
    old_recording(tmp_path, "r_a", day=1)
    old_recording(tmp_path, "r_b", day=2, label="user")
    verdict = enforce(Scanner(tmp_path), 1e12, 1e15)  # no disk has a petabyte free
    assert verdict.deleted == ("r_a",) and verdict.full


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_only_labelled_left_pauses_recording(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    old_recording(tmp_path, "r_b", day=2, size=300 * KB, label="user")
    roast = Roast()
    rec = roast.make(tmp_path, max_gb=200 * KB / 2**30)
    with caplog.at_level(logging.WARNING, "firstcrack.recording"):
        roast.set(start=0.0)
        roast.run_to(10.0)
        wait_for(lambda: rec.usage()["recording_error"] is not None)
        assert rec.usage()["recording_active"] is False
        roast.set(start=10.0)  # the next roast tries again, and is refused again
        roast.run_to(20.0)
        rec.close()
    assert stems(tmp_path) == ["r_b"]
    assert "budget" in (rec.usage()["recording_error"] or "")
    assert sum("budget" in r.getMessage() for r in caplog.records) == 1  # logged once


def test_budget_full_while_recording_finishes_the_file_then_evicts_it_first(
        tmp_path: Path) -> None:
    old_recording(tmp_path, "r_b", day=2, size=100 * KB, label="user")
    old_recording(tmp_path, "r_a", day=1, size=100 * KB)
    roast = Roast()
    rec = roast.make(tmp_path, max_gb=600 * KB / 2**30)
    roast.set(start=0.0)
    roast.run_to(40.0)  # ~30 kB/s of noise: over budget at the 30 s check, r_a already gone
    wait_for(lambda: rec.usage()["recording_active"] is False)
    roast.set(end=40.0)
    roast.set(start=40.0, end=None)  # next roast: the paused (unlabelled) one goes first
    roast.run_to(45.0)
    roast.set(end=45.0)
    rec.close()
    files = recordings(tmp_path)
    assert [s["firstcrack"]["end_reason"] for _, s in files] == ["drop"]
    assert len(files[0][0]) == 5 * SR
    assert "r_b" in stems(tmp_path) and "r_a" not in stems(tmp_path)
    assert rec.usage()["recording_error"] is None  # a file opened again


def test_paused_file_says_budget_full(tmp_path: Path) -> None:
    old_recording(tmp_path, "r_b", day=2, size=100 * KB, label="user")
    roast = Roast()
    rec = roast.make(tmp_path, max_gb=600 * KB / 2**30)
    roast.set(start=0.0)
    roast.run_to(40.0)
    rec.close()
    [(audio, side)] = recordings(tmp_path)
    assert side["firstcrack"]["end_reason"] == "budget_full"
    assert 30 * SR <= len(audio) <= 40 * SR  # checked every 30 s of audio written
    assert side["firstcrack"]["complete"] is True and side["duration"] == len(audio) / SR


def test_a_folder_that_cannot_be_written_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    roast = Roast()
    rec = roast.make(blocker / "recordings")
    roast.set(start=0.0)
    roast.run_to(20.0)
    wait_for(lambda: rec.usage()["recording_error"] is not None)
    assert rec.usage()["recording_active"] is False
    roast.run_to(30.0)
    rec.close()
    assert "cannot write" in (rec.usage()["recording_error"] or "")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_reported_not_raised(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        roast = Roast()
        rec = roast.make(folder)
        roast.set(start=0.0)
        roast.run_to(20.0)
        rec.close()
        assert rec.usage()["recording_error"] is not None
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


class FullDisk:
    """A real spool on a disk that fills up after 10 s of audio (ENOSPC)."""

    def __init__(self, path: Path) -> None:
        self.inner, self.samples = open_spool(path), 0

    def write(self, data: np.ndarray) -> Any:
        fits = 10 * SR - self.samples
        if len(data) > fits:  # a partial write, then the error, as a real full disk does
            self.inner.write(data[:fits])
            self.samples += fits
            raise OSError(errno.ENOSPC, "No space left on device")
        self.samples += len(data)
        return self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


def test_disk_full_mid_roast_pauses_and_keeps_what_was_written(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    roast = Roast()
    rec = Recorder(RecordingConfig(min_free_gb=0.0), "roaster1", tmp_path, "demo", roast.view,
                   open_audio=FullDisk)
    roast.recorder = rec
    rec.start()
    with caplog.at_level(logging.WARNING, "firstcrack.recording"):
        roast.set(start=0.0)
        roast.run_to(30.0)
        wait_for(lambda: rec.usage()["recording_error"] is not None)
        roast.set(start=30.0)  # the next roast fails the same way: logged once
        roast.run_to(60.0)
        rec.close()
    assert "No space left" in (rec.usage()["recording_error"] or "")
    assert sum("No space" in r.getMessage() for r in caplog.records) == 1
    audio, side = recordings(tmp_path)[0]
    assert len(audio) == 10 * SR  # what made it to disk is a valid FLAC
    assert side["firstcrack"]["end_reason"] == "error" and side["duration"] == len(audio) / SR


def test_spools_count_and_are_never_deleted(tmp_path: Path) -> None:
    old_recording(tmp_path, "r_a", day=1)  # the oldest, and a spool beside it (being written,
    (tmp_path / "r_a.pcm.part").write_bytes(os.urandom(100 * KB))  # or left by a crash)
    (tmp_path / "r_s.pcm.part").write_bytes(os.urandom(100 * KB))  # a spool alone
    old_recording(tmp_path, "r_b", day=2)
    verdict = enforce(Scanner(tmp_path), 250 * KB, 0)
    assert verdict.deleted == ("r_b",) and verdict.full
    assert verdict.count == 2 and verdict.bytes > 300 * KB
    assert (tmp_path / "r_a.pcm.part").exists() and (tmp_path / "r_s.pcm.part").exists()
