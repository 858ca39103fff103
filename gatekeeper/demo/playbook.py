"""The demo playbook: shipped as package data, copied into the demo's working folder so the
user can edit it and re-run ``gatekeeper demo`` from any folder.

The packaged file is the one canonical copy; ``playbooks/demo-classifier.yaml`` in the
checkout is a symlink to it, so ``gatekeeper validate`` keeps holding it to the policies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PLAYBOOK_NAME = "demo-classifier.yaml"


class Copy(enum.Enum):
    """What the demo found in its working folder."""

    WRITTEN = "written"  # none there: the packaged playbook was written
    PACKAGED = "packaged"  # the packaged playbook, unchanged
    EDITED = "edited"  # differs from the packaged playbook: the user's edits are used


@dataclass(frozen=True)
class DemoPlaybook:
    path: Path
    copy: Copy


def packaged_playbook() -> str:
    """The text of the demo playbook shipped inside the package."""
    return resources.files(__package__).joinpath(PLAYBOOK_NAME).read_text(encoding="utf-8")


def prepare_playbook(workdir: Path) -> DemoPlaybook:
    """``workdir/demo-classifier.yaml``: written from the package when missing, otherwise
    used as it is (never overwritten: it may hold the user's edits)."""
    from gatekeeper.common.files import write_atomic

    path = workdir / PLAYBOOK_NAME
    packaged = packaged_playbook()
    if not path.exists():
        write_atomic(path, packaged)
        return DemoPlaybook(path, Copy.WRITTEN)
    same = path.read_text(encoding="utf-8") == packaged
    return DemoPlaybook(path, Copy.PACKAGED if same else Copy.EDITED)
