"""Publishing a verdict where a pull request shows it: one module per target, listed in
``PUBLISHERS`` (the CLI flag's name without dashes → the module's ``create``), each behind the
:class:`~gatekeeper.act.publish.interface.Publisher` protocol. ``session.py`` drives several
targets through the start, publish and abort steps and gathers what failed.
"""

from __future__ import annotations

from gatekeeper.act.publish import github_check, github_status, gitlab_status
from gatekeeper.act.publish.interface import PublisherFactory

PUBLISHERS: dict[str, PublisherFactory] = {
    "github-check": github_check.create,
    "github-status": github_status.create,
    "gitlab-status": gitlab_status.create,
}
