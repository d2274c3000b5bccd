"""Outputs land only on success: a stage that dies leaves nothing a later stage could take for a result."""

from __future__ import annotations

from pathlib import Path

import pytest

from paddy_edge.runtime.outputs import atomic_dir, atomic_file


def test_atomic_dir_moves_into_place_on_success(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with atomic_dir(final) as work:
        (work / "a.txt").write_text("new")
        assert not final.exists()
    assert (final / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_dir_keeps_the_old_output_when_the_block_fails(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(final) as work:
        (work / "a.txt").write_text("half")
        raise RuntimeError("stage died")
    assert (final / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no temporary folder is left behind"


def test_atomic_file_replaces_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "reports" / "m.json"
    with atomic_file(final) as tmp:
        tmp.write_text("1")
    with pytest.raises(ValueError), atomic_file(final) as tmp:
        tmp.write_text("2")
        raise ValueError
    assert final.read_text() == "1"
    assert [p.name for p in final.parent.iterdir()] == ["m.json"]
