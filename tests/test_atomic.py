"""controller/host/atomic.py: a set of files is written whole or not at all."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from controller.host.atomic import atomic_files, write_text_atomic


def test_files_appear_only_when_the_whole_set_is_complete(tmp_path: Path) -> None:
    with atomic_files(tmp_path) as files:
        files.write_text("report.json", "{}\n")
        png = files.path("report.png")
        assert png.suffix == ".png" and png.parent == tmp_path, "same directory, same suffix"
        png.write_bytes(b"\x89PNG")
        assert not (tmp_path / "report.json").exists(), "nothing is in place before the end"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.png"]
    assert (tmp_path / "report.json").read_text() == "{}\n"


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupt_or_error_part_way_leaves_the_directory_as_it_was(tmp_path: Path, error: type) -> None:
    (tmp_path / "report.json").write_text("old\n")
    with pytest.raises(error), atomic_files(tmp_path) as files:
        files.write_text("report.json", "new\n")
        raise error()
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"], "no temporary file is left behind"
    assert (tmp_path / "report.json").read_text() == "old\n"


def test_one_file(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "faults.json", "[]\n")
    assert [p.name for p in tmp_path.iterdir()] == ["faults.json"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_taken_by_another_thread_during_the_renames_waits_for_the_whole_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    """Outside probe: Ctrl-C or `kill` at the end of `penctl treat` left report.json and patient-sheet.md new and
    report.png old. The kernel gave the signal to tqdm's monitor thread, which does not block it, and Python ran the
    handler in the main thread between two renames. Here a signal arrives for the process after the first rename,
    with such a thread alive: the set is renamed whole, then the interrupt is raised."""
    import os
    import threading

    from controller.host.interrupts import Terminated, raise_terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # blocks nothing: the kernel may deliver to it
    other.start()
    renamed: list[str] = []
    real_replace = os.replace

    def replace_then_signal(source: Path, target: Path) -> None:
        real_replace(source, target)
        renamed.append(Path(target).name)
        if len(renamed) == 1:
            os.kill(os.getpid(), signum)
            stop.wait(0.05)  # time for the signal to be taken, by whichever thread

    monkeypatch.setattr(os, "replace", replace_then_signal)
    try:
        for name in ("report.json", "patient-sheet.md", "report.png"):
            (tmp_path / name).write_text("old\n")
        expected = KeyboardInterrupt if signum == signal.SIGINT else Terminated
        with pytest.raises(expected), atomic_files(tmp_path) as files:
            for name in ("report.json", "patient-sheet.md", "report.png"):
                files.write_text(name, "new\n")
    finally:
        stop.set()
        other.join()
        signal.signal(signal.SIGTERM, previous)
    assert sorted(renamed) == ["patient-sheet.md", "report.json", "report.png"]
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == dict.fromkeys(renamed, "new\n")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("step", ["write_bytes", "unlink"])
def test_an_interrupt_while_out_is_tried_leaves_no_probe_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int, step: str
) -> None:
    """Outside probe: Ctrl-C or `kill` while `penctl treat` tried whether it can write in --out left an empty
    `.penctl-write-test` there (3 of about 60 signals in that phase). The signal comes right after each step of the
    try: the interrupt is raised once the probe file is gone."""
    from controller.cli.common import prepare_out_dir
    from controller.host.interrupts import Terminated, raise_terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)  # as penctl's main sets them
    real = getattr(Path, step)

    def step_then_signal(self: Path, *args: object) -> object:
        done = real(self, *args)
        signal.raise_signal(signum)
        return done

    monkeypatch.setattr(Path, step, step_then_signal)
    try:
        with pytest.raises(KeyboardInterrupt if signum == signal.SIGINT else Terminated):
            prepare_out_dir(str(tmp_path / "out"))
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    assert list((tmp_path / "out").iterdir()) == []
