"""The report painter: report.png drawn in a second process is the picture drawn in this one, and
whatever happens to that process, the command still gets its picture or its error, and no worker
outlives the command."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.treatment.painter import ReportPainter
from controller.treatment.plan import load_plan
from controller.treatment.plots import plot_report
from controller.treatment.session import SessionResult, run_session

METHODS = ["fork", "spawn"]
FORK_HERE = ["fork", pytest.param("spawn", marks=pytest.mark.slow)]
"""How the worker started does not change how its death is answered: spawn's form runs in CI only."""


@pytest.fixture(scope="module")
def result() -> SessionResult:
    return run_session(load_plan(None), seed=0)


@pytest.fixture(scope="module")
def drawn_here(result: SessionResult, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("here") / "report.png"
    plot_report(result, path)
    return path.read_bytes()


@pytest.mark.parametrize("method", METHODS)
def test_the_worker_draws_the_same_bytes_as_this_process(result: SessionResult, drawn_here: bytes, method: str) -> None:
    with ReportPainter(method) as painter:
        assert painter._process is not None and painter._process.is_alive()
        painter.start(result)
        png = painter.png()
        worker = painter._process
    assert png == drawn_here
    assert not worker.is_alive(), "the worker ends with the command"


@pytest.mark.parametrize("method", FORK_HERE)
def test_a_worker_that_died_before_the_pass_ended_is_replaced_by_drawing_here(
    result: SessionResult, drawn_here: bytes, method: str
) -> None:
    with ReportPainter(method) as painter:
        assert painter._process is not None
        os.kill(painter._process.pid or 0, signal.SIGKILL)
        painter._process.join()
        painter.start(result)
        assert painter.png() == drawn_here


@pytest.mark.parametrize("method", FORK_HERE)
def test_a_worker_that_dies_while_drawing_is_replaced_by_drawing_here(
    result: SessionResult, drawn_here: bytes, method: str
) -> None:
    with ReportPainter(method) as painter:
        assert painter._process is not None
        painter.start(result)
        os.kill(painter._process.pid or 0, signal.SIGKILL)
        assert painter.png() == drawn_here


def test_where_no_process_can_be_started_the_picture_is_drawn_here(
    result: SessionResult, drawn_here: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Any) -> None:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(multiprocessing.get_context("spawn").Process, "start", refuse)
    monkeypatch.setattr(multiprocessing.get_context("fork").Process, "start", refuse)
    with ReportPainter() as painter:
        assert painter._process is None
        painter.start(result)
        assert painter.png() == drawn_here


def test_a_drawing_that_fails_in_the_worker_fails_here_with_its_own_error(result: SessionResult) -> None:
    """The worker reports the failure; this process draws again and meets the real exception,
    so the command's error handling sees what it would have seen without a worker."""
    with ReportPainter() as painter:
        painter.start("not a pass")  # type: ignore[arg-type]
        with pytest.raises(AttributeError):
            painter.png()


@pytest.mark.parametrize("method", METHODS)
def test_the_worker_ignores_ctrl_c_from_its_birth(result: SessionResult, drawn_here: bytes, method: str) -> None:
    """Ctrl-C goes to the whole foreground process group: the worker must not print a traceback
    or die of it, whenever it comes, even during its start-up; the command ends it."""
    with ReportPainter(method) as painter:
        assert painter._process is not None
        for _ in range(5):
            os.kill(painter._process.pid or 0, signal.SIGINT)  # during its start-up, then its imports
        painter.start(result)
        os.kill(painter._process.pid or 0, signal.SIGINT)  # while it draws
        assert painter.png() == drawn_here
        worker = painter._process
    assert worker.exitcode in (0, -signal.SIGTERM), "the worker ended by itself, or by the command: not by the Ctrl-C"


def test_an_interrupt_in_the_command_ends_the_worker(result: SessionResult) -> None:
    workers = []
    with pytest.raises(KeyboardInterrupt), ReportPainter() as painter:
        assert painter._process is not None
        workers.append(painter._process)
        painter.start(result)
        raise KeyboardInterrupt
    assert not workers[0].is_alive()


def _helper_of(worker: int) -> int:
    """The worker's helper (it forks one once matplotlib is warm), waited for."""
    import time

    deadline = time.monotonic() + 60.0
    while not (found := _children(worker)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the helper is forked on Linux only")
@pytest.mark.parametrize("when", ["before the pass", "while drawing", "ctrl-c"])
def test_the_helper_that_draws_the_lower_part_changes_nothing_whatever_happens_to_it(
    result: SessionResult, drawn_here: bytes, when: str
) -> None:
    """The lower part is drawn by a helper forked from the worker (however the worker was started). Killed before
    the pass or while it draws, the worker draws that part itself; a Ctrl-C (to the whole process group) is
    ignored: the same picture every time."""
    with ReportPainter("fork") as painter:
        assert painter._process is not None
        painter.expect(len(result.plan.zones))
        helper = _helper_of(painter._process.pid or 0)
        if when == "before the pass":
            os.kill(helper, signal.SIGKILL)
        painter.start(result)
        if when == "while drawing":
            os.kill(helper, signal.SIGKILL)
        if when == "ctrl-c":
            os.kill(helper, signal.SIGINT)
        assert painter.png() == drawn_here
    assert not _running(helper)


@pytest.mark.parametrize("maps", [None, 3, 12])
def test_a_wrong_or_missing_count_of_maps_still_draws_the_same_picture(
    result: SessionResult, drawn_here: bytes, maps: int | None
) -> None:
    """The helper lays out the maps before the pass from the plan's zones; a pass where a zone never ran has
    fewer maps, and the picture is laid out again for them."""
    with ReportPainter() as painter:
        if maps is not None:
            painter.expect(maps)
        painter.start(result)
        assert painter.png() == drawn_here


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the helper is forked on Linux only")
@pytest.mark.parametrize("count", ["before the worker is ready", "after it waits for it"])
@pytest.mark.parametrize("helper_reads", ["at once", "late"])
def test_whenever_the_count_comes_and_however_slowly_the_helper_reads_the_picture_is_the_same(
    result: SessionResult, drawn_here: bytes, count: str, helper_reads: str
) -> None:
    """The worker forks the helper beside its own layout when the zone count is already there, or after its
    layout when the count comes later; and it hands the pass on to the helper without waiting for the helper to
    read it (a stopped helper is read late)."""
    with ReportPainter("fork") as painter:
        assert painter._process is not None and painter._process.pid is not None
        worker = painter._process.pid
        if count == "after it waits for it":
            _wait_in_kernel(worker, "read")
        painter.expect(len(result.plan.zones))
        helper = _helper_of(worker)
        if helper_reads == "late":
            os.kill(helper, signal.SIGSTOP)
        painter.start(result)
        if helper_reads == "late":
            _wait_in_kernel(worker, "send")  # the pass fills the pipe to the stopped helper
            _wait_in_kernel(worker, "futex", main_thread=True)  # and meanwhile the worker drew the upper part
            os.kill(helper, signal.SIGCONT)
        assert painter.png() == drawn_here


def _wait_in_kernel(pid: int, what: str, main_thread: bool = False) -> None:
    """Until a thread of ``pid`` (or its main thread) waits in the kernel where ``what`` says, from its wait channel:
    ``unix_stream_read_generic`` or ``sock_alloc_send_pskb`` for a pipe (``multiprocessing.Pipe`` is a socket pair),
    ``futex_do_wait`` for a lock or a join; at most 60 s."""
    import time

    def waiting() -> bool:
        tasks = [Path(f"/proc/{pid}/task/{pid}")] if main_thread else Path(f"/proc/{pid}/task").iterdir()
        return any(what in (task / "wchan").read_text() for task in tasks)

    deadline = time.monotonic() + 60.0
    while not waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waiting()


def test_a_pass_cut_short_draws_in_two_processes_what_it_draws_in_one(tmp_path: Path) -> None:
    from dataclasses import replace

    plan = load_plan(None)
    cut = run_session(replace(plan, zones=plan.zones[:3]), seed=0)
    path = tmp_path / "here.png"
    plot_report(cut, path)
    with ReportPainter() as painter:
        painter.expect(len(plan.zones))
        painter.start(cut)
        assert painter.png() == path.read_bytes()


def test_the_command_line_draws_the_report_the_library_draws(tmp_path: Path, drawn_here: bytes) -> None:
    """As a user runs it: a new process (single-threaded, so the worker is forked on Linux)."""
    penctl = Path(sys.executable).with_name("penctl")
    run = subprocess.run([str(penctl), "treat", "--out", str(tmp_path)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "report.png").read_bytes() == drawn_here


def test_the_worker_is_forked_only_from_a_process_with_no_other_thread() -> None:
    import threading

    from controller.treatment.painter import start_method

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        other.join()
    assert start_method() == ("fork" if sys.platform.startswith("linux") and threading.active_count() == 1 else "spawn")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    """Children, their children, and so on (the painter and its helper)."""
    found = _children(pid)
    return found + [d for child in found for d in _descendants(child)]


def _treat_until(tmp_path: Path, phrase: str) -> subprocess.Popen[str]:
    """``penctl -vv treat`` started, once its stderr has said ``phrase`` (the rest of stderr is left to read)."""
    penctl = Path(sys.executable).with_name("penctl")
    proc = subprocess.Popen(
        [str(penctl), "-vv", "treat", "--out", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    while phrase not in (line := proc.stderr.readline()) and line:
        pass
    return proc


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie whose parent died waits for init, which may be slow to reap it)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM])
@pytest.mark.parametrize("delay_s", [0.2, 0.6, 1.2])
def test_no_painter_outlives_a_killed_command(tmp_path: Path, kill: signal.Signals, delay_s: float) -> None:
    """Outside probe: a `penctl treat` killed with SIGKILL or SIGTERM left its forked painter running for
    ever, parented to init: the worker held a copy of the command's end of the pipe and never saw it
    close. Now it ends within seconds of the command, whenever the command is killed."""
    import time

    proc = _treat_until(tmp_path, "reading the plan")
    time.sleep(delay_s)
    workers = _descendants(proc.pid)
    proc.send_signal(kill)
    err = proc.communicate(timeout=60)[1]
    deadline = time.monotonic() + 15.0
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _running(w)], "a painter outlived the command"
    if kill == signal.SIGTERM:
        assert "Traceback" not in err
        assert proc.returncode in (0, 143), err
        names = {p.name for p in (tmp_path / "out").iterdir()} if (tmp_path / "out").exists() else set()
        assert not [n for n in names if "partial" in n], names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the helper is forked on Linux only")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("after_pass_s", [0.0, 0.04, 0.08, 0.12])
def test_when_an_interrupted_command_has_exited_its_painter_and_helper_are_gone(
    tmp_path: Path, signum: signal.Signals, after_pass_s: float
) -> None:
    """Outside probe: after Ctrl-C or SIGTERM while report.png was being drawn, the helper was still running, parented
    to init, for up to 0.12 s after the command had exited 130 or 143. Now the command's wait covers both."""
    import time

    proc = _treat_until(tmp_path, "pass done")
    time.sleep(after_pass_s)
    painters = _descendants(proc.pid)
    proc.send_signal(signum)
    proc.wait(timeout=60)  # not communicate(): a helper still running holds stderr open, and that would wait for it
    assert not [p for p in painters if _running(p)], f"still running when the command had exited: {painters}"
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode in (0, 128 + signum), err
    assert "Traceback" not in err


def test_a_worker_that_meets_an_error_before_the_pass_says_nothing_and_the_picture_is_drawn_here(
    result: SessionResult, drawn_here: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    """A CI run of the malformed-input corpus saw a Python traceback on stderr from a treat refused after the painter
    had started (its source was not found again). Whatever the worker meets before the pass (here a message that
    does not unpickle), it ends without a word; the command draws the picture itself."""
    with ReportPainter("fork") as painter:
        assert painter._conn is not None and painter._process is not None
        painter._conn.send_bytes(b"not a pickle")
        painter._process.join(timeout=60)
        assert painter._process.exitcode == 0
        painter.start(result)
        assert painter.png() == drawn_here
    assert "Traceback" not in capfd.readouterr().err
