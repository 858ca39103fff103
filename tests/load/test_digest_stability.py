"""A pass is bound to its milestone digest: upgrading gatekeeper must not void the passes of a
playbook that uses none of the keys added since. The digests below were computed by the code
at commit 70d979c, before SLAs, approvals, probe profiles and data-governance facts existed;
a key added later must be left out of the dump while unset (``ADDED_LATER``)."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.load.playbook import load_playbook

PLAYBOOKS = Path(__file__).parents[1] / "assets" / "playbooks"

BEFORE = {
    "fraud.yaml": [
        "sha256:81f0717ed460aa65fc518063f2f9cbca9377c7e6ccf4ab7e0dce85452f156766",
        "sha256:5dbf02677c88ba17c4f27ae76694a9c23c7922eb8943940603daf3ecc77ce4d1",
        "sha256:e2982dd427d7d3ad7fb6123b22815fbbcfe4931717d7cd943bfbd29012f163d3"],
    "valid-minimal.yaml": [
        "sha256:86636086458f27068ba37b356fb74237362c94e0b31b7a3edfda9ee1393586f6",
        "sha256:a59a75848384e38260fda26ee1be9cc124a8f28828a7a949b97b4537e4a46622",
        "sha256:c0c2fff20938cc7cf7f0a9207298782836c000ef5587623fdb610968edaabfeb"],
}


def test_milestone_digests_of_playbooks_without_new_keys_are_unchanged() -> None:
    for name, digests in BEFORE.items():
        loaded = load_playbook(PLAYBOOKS / name)
        assert [loaded.milestone_digest(m.id) for m in loaded.playbook.milestones] == digests


def test_a_new_key_once_written_enters_the_digest(tmp_path: Path) -> None:
    text = (PLAYBOOKS / "valid-minimal.yaml").read_text()
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("key: p99_ms, max: 100}",
                                 "key: p99_ms, max: 100, source: probe, profile: steady}"))
    loaded = load_playbook(path)
    assert loaded.milestone_digest("serve") != BEFORE["valid-minimal.yaml"][1]
    assert loaded.milestone_digest("poc") == BEFORE["valid-minimal.yaml"][0]
