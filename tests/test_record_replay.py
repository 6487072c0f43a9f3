"""penctl record / penctl replay: a session over a served pen, recorded, replays to the same report bytes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli.main import main
from hal.errors import InputError
from hal.recording import FORMAT, VERSION, read_recording
from sim.backend import SimBackend
from sim.serve import listen_tcp, serve_tcp
from sim.virtual_pen import VirtualPen
from tests.test_plan import plan_text


@pytest.fixture
def pen_url() -> Iterator[str]:
    """A virtual pen served on a TCP port of this process, as ``penctl serve --tcp 0`` does."""
    server = listen_tcp(0)
    stop = threading.Event()
    thread = threading.Thread(target=serve_tcp, args=(VirtualPen(SimBackend()), server, stop), daemon=True)
    thread.start()
    yield f"socket://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


@pytest.fixture
def recorded(tmp_path: Path, pen_url: str) -> Path:
    """A recording of a small two-zone pass, with its report in tmp_path/rec."""
    plan = tmp_path / "plan.toml"
    second_zone = "[[zone]]" + plan_text(area="forehead", depth=0.5).split("[[zone]]", 1)[1]
    plan.write_text(plan_text(extra=second_zone))
    log = tmp_path / "session.jsonl"
    assert main(["record", str(plan), "--port", pen_url, "--log", str(log), "--out", str(tmp_path / "rec")]) == 0
    return log


def test_replay_reproduces_the_recorded_report_byte_for_byte(tmp_path: Path, recorded: Path) -> None:
    assert main(["replay", str(recorded), "--out", str(tmp_path / "rep")]) == 0
    original = (tmp_path / "rec/report.json").read_bytes()
    assert (tmp_path / "rep/report.json").read_bytes() == original
    assert len(json.loads(original)["zones"]) == 2


def test_the_recording_is_json_lines_with_a_header_frames_and_telemetry(recorded: Path) -> None:
    lines = [json.loads(line) for line in recorded.read_text().splitlines()]
    assert lines[0]["format"] == FORMAT and lines[0]["version"] == VERSION and lines[0]["meta"]["seed"] == 0
    assert lines[-1]["end"] is True
    frames = lines[1:-1]
    assert frames[0]["dir"] == "tx" and frames[0]["type"] == "HELLO"
    assert all(f["t"] >= 0 and f["dir"] in ("tx", "rx") and bytes.fromhex(f["frame"]) for f in frames)
    assert [f["t"] for f in frames] == sorted(f["t"] for f in frames)
    telemetry = [f["telemetry"] for f in frames if f.get("type") == "TELEMETRY"]
    assert sum(len(t["index"]) for t in telemetry) > 100 and "depth_mm" in telemetry[0]


def test_a_crash_leaves_a_readable_prefix_that_replay_refuses_as_truncated(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.jsonl"
    text = recorded.read_text()
    cut.write_text(text[: len(text) // 2])
    complete_lines = cut.read_text().splitlines()[:-1]
    assert all(json.loads(line) for line in complete_lines)
    assert main(["replay", str(cut), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(cut) in err


HEAD = b'{"format": "penctl-recording", "version": 1, "meta": {}}\n'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "expected a penctl-recording file"),
        (b"\x89PNG\r\n\x1a\n garbage", "expected a penctl-recording file"),
        (
            HEAD.replace(b"1", b"99") + b'{"end": true}\n',
            "expected penctl-recording version 1",
        ),
        (HEAD, "expected a complete recording"),
        (
            HEAD + b'not json\n{"end": true}\n',
            "line 2: expected a JSON",
        ),
        (
            HEAD + b'{"dir": "tx", "frame": "7e0102"}\n{"end": true}\n',
            "line 2: expected a frame line",
        ),
        (HEAD + b'{"end": true}\n', "meta has seed"),
    ],
    ids=["empty", "garbage", "wrong-version", "truncated", "bad-json-line", "bad-frame", "no-plan"],
)
def test_bad_recordings_exit_2_naming_the_file_and_what_was_expected(
    tmp_path: Path, content: bytes, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    assert main(["replay", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"penctl replay: error: {bad}") and expected in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_a_missing_recording_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
    assert "expected a readable penctl recording file" in capsys.readouterr().err


def test_a_recording_of_another_session_diverges_with_a_clear_error(tmp_path: Path, recorded: Path) -> None:
    header, *rest = recorded.read_text().splitlines()
    meta = json.loads(header)
    meta["meta"]["seed"] = 1  # the controller now sends another RESET_WORLD than was recorded
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join([json.dumps(meta), *rest]) + "\n")
    assert main(["replay", str(other), "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(InputError):
        from hal.recording import RecordedLinkBackend

        backend = RecordedLinkBackend(read_recording(other))
        backend.reset_world(1, None, 0.5)


def test_record_and_replay_help_show_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("record", "replay"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "examples:" in capsys.readouterr().out


# --- found by an outside probe (docs and CLI only) --------------------------------------------------------


def test_the_log_level_does_not_change_what_crosses_the_wire(tmp_path: Path, recorded: Path) -> None:
    """A recording made without -v replays with -v (and the other way): the link statistics are always read."""
    assert main(["-v", "replay", str(recorded), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep/report.json").read_bytes() == (tmp_path / "rec/report.json").read_bytes()


def _edited(recorded: Path, tmp_path: Path, edit: object) -> Path:
    lines = recorded.read_text().splitlines()
    header = json.loads(lines[0])
    assert callable(edit)
    edit(header)
    path = tmp_path / "edited.jsonl"
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    return path


@pytest.mark.parametrize(
    "name,edit,expected",
    [
        ("seed false", lambda h: h["meta"].update(seed=False), "seed, plan_source and plan_b64"),
        ("seed negative", lambda h: h["meta"].update(seed=-1), "a seed from 0"),
        ("seed huge", lambda h: h["meta"].update(seed=2**64), "a seed from 0"),
        ("version true", lambda h: h.update(version=True), "version"),
        ("plan changed", lambda h: h["meta"].update(plan_b64=h["meta"]["plan_b64"][:-8] + "AAAAAAA="), "SHA-256"),
        ("no digest", lambda h: h["meta"].pop("plan_sha256"), "SHA-256"),
    ],
)
def test_a_damaged_header_is_refused_never_replayed_differently(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str], name: str, edit: object, expected: str
) -> None:
    path = _edited(recorded, tmp_path, edit)
    capsys.readouterr()
    assert main(["replay", str(path), "--out", str(tmp_path / "rep")]) == 2, name
    err = capsys.readouterr().err
    assert str(path) in err and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "rep" / "report.json").exists()


def test_deeply_nested_json_is_refused_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert main(["replay", str(path)]) == 2
    assert str(path) in capsys.readouterr().err


def test_an_interrupted_recording_says_so_and_replay_refuses_it(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = recorded.read_text().splitlines()
    end = json.loads(lines[-1])
    end["complete"] = False
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join([*lines[: len(lines) // 2], json.dumps(end)]) + "\n")
    capsys.readouterr()
    assert main(["replay", str(cut), "--out", str(tmp_path / "rep")]) == 2
    assert "a complete recording (this session was cut short)" in capsys.readouterr().err
