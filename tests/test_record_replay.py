"""penctl record / penctl replay: a session over a served pen, recorded, replays to the same report bytes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli.main import main
from hal.errors import InputError
from hal.recording import FORMAT, VERSION
from hal.recording_seal import MAC, LineChain, key_file_beside, key_id, replay_master_key
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


TEST_KEY = bytes(range(32))


def sealed(path: Path, texts: list[str], key: bytes = TEST_KEY) -> Path:
    """``texts`` (JSON objects) as a recording sealed under ``key``, the key beside it: what a key holder can write."""
    chain = LineChain(key, "00" * 16)
    path.write_text("".join(chain.seal(text) + "\n" for text in texts))
    key_file_beside(path).write_text(key.hex())
    return path


HEAD = json.dumps(
    {"format": FORMAT, "version": VERSION, "seal": {"nonce": "00" * 16, "key_id": key_id(TEST_KEY)}, "meta": {}},
    separators=(",", ":"),
)
END = '{"end":true}'


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        ([HEAD.replace(f'"version":{VERSION}', '"version":1'), END], f"expected penctl-recording version {VERSION}"),
        ([HEAD], "expected a complete recording"),
        ([HEAD, '{"dir":"tx","frame":"7e0102"}', END], "line 2: expected a frame line"),
        ([HEAD, END], "meta has seed"),
        ([HEAD, END, END], "line 3: expected nothing after the end line"),
    ],
    ids=["version-1", "truncated", "bad-frame", "no-plan", "after-the-end"],
)
def test_bad_recordings_sealed_by_a_key_holder_exit_2_naming_the_line(
    tmp_path: Path, texts: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = sealed(tmp_path / "bad.jsonl", texts)
    assert main(["replay", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"penctl replay: error: {bad}") and expected in err and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "expected a penctl-recording file"),
        (b"\x89PNG\r\n\x1a\n garbage", "expected a penctl-recording file"),
        (HEAD.encode() + b"\n", "line 1: expected the header sealed as recorded"),
        (b'{"format":"penctl-recording","version":2,"meta":{}}\n', "line 1: expected a header with a seal"),
    ],
    ids=["empty", "garbage", "unsealed-header", "no-seal"],
)
def test_bad_recordings_exit_2_naming_the_file_and_what_was_expected(
    tmp_path: Path, content: bytes, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    key_file_beside(bad).write_text(TEST_KEY.hex())
    assert main(["replay", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"penctl replay: error: {bad}") and expected in err and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_a_missing_recording_or_key_exits_2(tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    key_file_beside(missing).write_text(TEST_KEY.hex())
    assert main(["replay", str(missing)]) == 2
    assert "expected a readable penctl recording file" in capsys.readouterr().err
    key_file_beside(recorded).unlink()
    assert main(["replay", str(recorded), "--out", str(tmp_path / "o")]) == 2
    assert f"{recorded}.key: expected a readable key file" in capsys.readouterr().err
    other = tmp_path / "other.key"
    other.write_text(TEST_KEY.hex())
    assert main(["replay", str(recorded), "--key-file", str(other), "--out", str(tmp_path / "o")]) == 2
    assert "line 1: expected a recording sealed with the key given" in capsys.readouterr().err


def resealed(recorded: Path, path: Path, lines: list[str]) -> Path:
    """``lines`` (JSON objects, unsealed) sealed again under ``recorded``'s own key: what a key holder can do."""
    key = replay_master_key(recorded, None)
    nonce = json.loads(lines[0])["seal"]["nonce"]
    chain = LineChain(key, nonce)
    path.write_text("".join(chain.seal(line) + "\n" for line in lines))
    key_file_beside(path).write_text(key.hex())
    return path


def unsealed_lines(recorded: Path) -> list[str]:
    return [MAC.sub("}", line) for line in recorded.read_text().splitlines()]


def test_a_recording_of_another_session_diverges_with_a_clear_error(tmp_path: Path, recorded: Path) -> None:
    header, *rest = unsealed_lines(recorded)
    meta = json.loads(header)
    meta["meta"]["seed"] = 1  # the controller now sends another RESET_WORLD than was recorded
    other = resealed(recorded, tmp_path / "other.jsonl", [json.dumps(meta, separators=(",", ":")), *rest])
    assert main(["replay", str(other), "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(InputError):
        from hal.recording import RecordedLinkBackend

        backend = RecordedLinkBackend(other)
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
    lines = unsealed_lines(recorded)
    header = json.loads(lines[0])
    assert callable(edit)
    edit(header)
    return resealed(recorded, tmp_path / "edited.jsonl", [json.dumps(header, separators=(",", ":")), *lines[1:]])


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
    lines = unsealed_lines(recorded)
    end = json.loads(lines[-1])
    end["complete"] = False
    cut = resealed(recorded, tmp_path / "cut.jsonl", [*lines[: len(lines) // 2], json.dumps(end)])
    capsys.readouterr()
    assert main(["replay", str(cut), "--out", str(tmp_path / "rep")]) == 2
    assert "a complete recording (this session was cut short)" in capsys.readouterr().err


# --- found by an outside probe (issue 22): edits that replayed into a different report ---------------------


def test_two_lines_swapped_near_the_end_exit_2_naming_the_line(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = recorded.read_text().splitlines()
    lines[-3], lines[-2] = lines[-2], lines[-3]
    swapped = tmp_path / "swapped.jsonl"
    swapped.write_text("\n".join(lines) + "\n")
    key_file_beside(swapped).write_bytes(key_file_beside(recorded).read_bytes())
    capsys.readouterr()
    assert main(["replay", str(swapped), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert f"{swapped}: line {len(lines) - 2}: expected the line sealed here" in err and err.count("\n") == 1, err
    assert not (tmp_path / "rep" / "report.json").exists()


def test_a_plan_edited_with_its_digest_recomputed_is_refused(
    tmp_path: Path, recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import base64
    import hashlib

    lines = recorded.read_text().splitlines()
    header = json.loads(lines[0])
    plan = base64.b64decode(header["meta"]["plan_b64"]).replace(b"depth_mm = 0.5", b"depth_mm = 0.7")
    assert b"depth_mm = 0.7" in plan
    header["meta"]["plan_b64"] = base64.b64encode(plan).decode()
    header["meta"]["plan_sha256"] = hashlib.sha256(plan).hexdigest()
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join([json.dumps(header, separators=(",", ":")), *lines[1:]]) + "\n")
    key_file_beside(edited).write_bytes(key_file_beside(recorded).read_bytes())
    capsys.readouterr()
    assert main(["replay", str(edited), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert f"{edited}: line 1: expected the header sealed as recorded" in err and err.count("\n") == 1, err


def test_a_recording_sealed_with_a_key_file_replays_only_with_it(tmp_path: Path, pen_url: str) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text())
    key_file = tmp_path / "clinic.key"
    key_file.write_text(TEST_KEY.hex())
    log = tmp_path / "s.jsonl"
    args = ["record", str(plan), "--port", pen_url, "--log", str(log), "--key-file", str(key_file)]
    assert main([*args, "--out", str(tmp_path / "rec")]) == 0
    assert not key_file_beside(log).exists(), "no key written beside it: the key is the one given"
    assert TEST_KEY.hex() not in log.read_text()
    assert main(["replay", str(log), "--out", str(tmp_path / "o")]) == 2, "no key beside it"
    assert main(["replay", str(log), "--key-file", str(key_file), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep/report.json").read_bytes() == (tmp_path / "rec/report.json").read_bytes()
