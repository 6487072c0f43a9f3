"""controller/host/atomic.py: a set of files is written whole or not at all."""

from __future__ import annotations

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
