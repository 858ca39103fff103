"""The demo playbook in the working folder: written once, never overwritten, edits used."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.cli.demo import resolve_playbook
from gatekeeper.demo.playbook import Copy, DemoPlaybook, packaged_playbook, prepare_playbook


def test_missing_playbook_is_written_from_the_package(tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert prepare_playbook(work) == DemoPlaybook(work / "demo-classifier.yaml", Copy.WRITTEN)
    assert (work / "demo-classifier.yaml").read_text() == packaged_playbook()
    assert prepare_playbook(work) == DemoPlaybook(work / "demo-classifier.yaml", Copy.PACKAGED)


def test_edited_playbook_is_used_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "demo-classifier.yaml"
    edited = packaged_playbook().replace("p95_ms: 40", "p95_ms: 90")
    path.write_text(edited)
    assert resolve_playbook(tmp_path, None) == (
        path, " (your edited copy, used as it is: it differs from the packaged demo playbook, "
              "so verdicts may differ; delete it to get the packaged one back)")
    assert path.read_text() == edited


def test_explicit_playbook_is_used_and_nothing_written(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(packaged_playbook())
    assert resolve_playbook(tmp_path / "work", mine) == (mine, "")
    assert not (tmp_path / "work").exists()
