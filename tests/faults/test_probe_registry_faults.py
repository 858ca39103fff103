"""The probe's own MLflow calls fail closed like the gate's: a bad model name before any
load is sent, and a trickling tracking server within the registry deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.evidence.mlflow_env import DEADLINE_ENV
from tests.faults.harness import assert_fails_closed, gatekeeper
from tests.probe.target import Reply, Target, always
from tests.support.misbehaving import misbehaving_server, trickle

pytestmark = pytest.mark.slow


SEND = ("--endpoint", "root=/", "--rate", "20", "--duration", "3s", "--warmup", "1s")


@pytest.mark.parametrize("model", ["a/b", "../x"])
def test_a_bad_model_name_is_refused_before_any_load(tmp_path: Path, model: str) -> None:
    with Target(always(Reply())) as url:
        run = gatekeeper("probe", url, *SEND, "--model", model, "--version", "1",
                         "--tracking-uri", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert_fails_closed(run, codes={2}, message="not a valid model name")
    assert not (tmp_path / "x.db").exists()


def test_a_trickling_tracking_server_ends_the_probe_within_the_deadline(
        tmp_path: Path) -> None:
    with misbehaving_server(lambda path: trickle(every_s=1.0, total_bytes=600)) as server, \
            Target(always(Reply())) as url:
        run = gatekeeper("probe", url, *SEND, "--model", "fraud", "--version", "1",
                         "--tracking-uri", server.url, "--out", str(tmp_path / "out"),
                         cwd=tmp_path, env={DEADLINE_ENV: "5"})
    assert_fails_closed(run, codes={3}, within_s=60, message="gave no complete answer within 5 s")
