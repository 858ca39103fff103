"""action.yml and the workflows of docs/ci.md, linted with the real actionlint, and the action's
gate script run as GitHub's runner runs it.

actionlint reads an action only through a workflow that uses it (``uses: ./``): it then checks
the inputs given and the outputs read against action.yml. The action's own steps are linted as
a reusable workflow with the same inputs, and its structure (inputs reach scripts only through
``env:``) is checked here. Each kind of mistake is shown to fail on a deliberately broken copy.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.workflows import (
    ACTION,
    DOCS,
    PUBLISHED_ACTION,
    actionlint_binary,
    as_local_action,
    doc_files,
    expressions,
    github_workflows,
    inputs_used,
    lint_repository,
    steps_as_workflow,
)

INTERFACE_INPUTS = {"playbook", "model", "version", "alias", "milestone", "promote",
                    "github-status", "github-check", "require-publish", "tracking-uri",
                    "audit-log", "policies", "python-version", "outputs", "working-directory"}
INTERFACE_OUTPUTS = {"verdict", "exit_code", "audit_hash", "result-path"}
#: Keys of a step where an input may appear: values handed over, never code.
SAFE_KEYS = {"env", "with", "working-directory"}
#: A workflow that gives every input and reads every output.
EVERY_INPUT = """\
on: pull_request
permissions: {contents: read, statuses: write, checks: write}
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: gate
        uses: ./
        with:
          playbook: playbooks/fraud.yaml
          model: fraud
          version: "12"
          alias: ""
          milestone: serve
          promote: true
          github-status: true
          github-check: true
          require-publish: true
          sha: ${{ github.event.pull_request.head.sha }}
          token: ${{ github.token }}
          tracking-uri: http://mlflow.internal:5000
          audit-log: /srv/gatekeeper/audit.jsonl
          policies: policies
          outputs: |
            junit=gatekeeper.junit.xml
          result-path: gate-result.json
          python-version: "3.11"
          working-directory: .
      - env:
          VERDICT: ${{ steps.gate.outputs.verdict }}
          CODE: ${{ steps.gate.outputs.exit_code }}
          HASH: ${{ steps.gate.outputs.audit_hash }}
          RESULT: ${{ steps.gate.outputs.result-path }}
        run: echo "$VERDICT $CODE $HASH $RESULT"
"""


@pytest.fixture(scope="module", autouse=True)
def _actionlint_present() -> None:
    actionlint_binary()


def action_text() -> str:
    return ACTION.read_text(encoding="utf-8")


def load(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def structure_problems(action: Mapping[str, Any]) -> list[str]:
    """What actionlint does not check in an action: composite steps need a shell, inputs are
    declared, and an input reaches a script only through ``env:`` (an input pasted into a
    script is code the caller controls: script injection)."""
    problems = []
    declared = set(action.get("inputs", {}))
    for index, step in enumerate(action["runs"]["steps"]):
        if "run" in step and "shell" not in step:
            problems.append(f"step {index}: a composite run step needs `shell`")
    for path, expression in expressions(action):
        used = inputs_used(expression)
        for name in sorted(used - declared):
            problems.append(f"{'.'.join(path)}: input '{name}' is not declared")
        if path[-1] == "run":
            problems.append(f"{'.'.join(path)}: expression `{expression}` inside a script")
        elif used and (path[:2] != ("runs", "steps") or path[3] not in SAFE_KEYS):
            problems.append(f"{'.'.join(path)}: input used outside env/with/working-directory")
    step_ids = {step.get("id") for step in action["runs"]["steps"]}
    for name, output in action.get("outputs", {}).items():
        match = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.[\w-]+ \}\}", output["value"])
        if match is None or match.group(1) not in step_ids:
            problems.append(f"outputs.{name}: not an output of one of the action's steps")
    return problems


# --- the action -------------------------------------------------------------------------------


def test_action_is_composite_with_the_documented_interface() -> None:
    action = load(action_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= INTERFACE_INPUTS
    assert set(action["outputs"]) == INTERFACE_OUTPUTS
    assert {n for n, i in action["inputs"].items() if i.get("required")} == {
        "playbook", "model", "milestone"}
    installs = [s["run"] for s in action["runs"]["steps"] if "pip install" in s.get("run", "")]
    assert len(installs) == 1 and '"$GITHUB_ACTION_PATH"' in installs[0]
    assert any(s.get("uses", "").startswith("actions/setup-python@")
               for s in action["runs"]["steps"])


def test_action_structure_is_sound() -> None:
    assert structure_problems(load(action_text())) == []


def test_every_declared_input_is_used() -> None:
    action = load(action_text())
    used = set().union(*(inputs_used(e) for p, e in expressions(action["runs"])))
    assert set(action["inputs"]) - used == set()


def test_action_steps_lint_clean(tmp_path: Path) -> None:
    action = load(action_text())
    assert lint_repository(tmp_path, {"steps.yml": steps_as_workflow(action)},
                           action_text()) == []


def test_workflow_giving_every_input_lints_clean(tmp_path: Path) -> None:
    assert lint_repository(tmp_path, {"gate.yml": EVERY_INPUT}, action_text()) == []


# --- docs/ci.md -------------------------------------------------------------------------------


def docs() -> str:
    return DOCS.read_text(encoding="utf-8")


def test_docs_github_workflows_lint_clean(tmp_path: Path) -> None:
    workflows = github_workflows(doc_files(docs()))
    assert len(workflows) >= 3, [w.name for w in workflows]
    for index, workflow in enumerate(workflows):
        findings = lint_repository(tmp_path / str(index),
                                   {"w.yml": as_local_action(workflow.text)}, action_text())
        assert findings == [], f"docs/ci.md:{workflow.line}: {findings}"


def test_docs_gate_workflow_has_what_a_pull_request_needs() -> None:
    workflows = [w.data for w in github_workflows(doc_files(docs()))]
    complete = next(w for w in workflows if "security-events" in w.get("permissions", {}))
    assert complete[True] == {"pull_request": None}  # YAML 1.1 reads the key `on` as True
    assert {k: complete["permissions"][k] for k in ("contents", "statuses", "checks")} == {
        "contents": "read", "statuses": "write", "checks": "write"}
    steps = complete["jobs"]["gate"]["steps"]
    gate = next(s for s in steps if s.get("uses") == PUBLISHED_ACTION)
    assert gate["with"]["github-status"] is True and gate["with"]["github-check"] is True
    outputs = dict(line.split("=", 1) for line in gate["with"]["outputs"].split())
    sarif = next(s for s in steps if s.get("uses", "").startswith(
        "github/codeql-action/upload-sarif@"))
    assert sarif["with"]["sarif_file"] == outputs["sarif"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert outputs["junit"] in upload["with"]["path"]


def test_docs_fork_pattern_publishes_from_a_trusted_workflow_run() -> None:
    workflows = [w.data for w in github_workflows(doc_files(docs()))]
    trusted = next(w for w in workflows if "workflow_run" in w[True])
    assert trusted["permissions"]["statuses"] == "write"
    assert trusted["permissions"]["checks"] == "write"
    assert trusted[True]["workflow_run"]["workflows"] == ["gatekeeper"]
    steps = next(iter(trusted["jobs"].values()))["steps"]
    assert not any(s.get("uses", "").startswith("actions/checkout@") for s in steps)
    script = next(s["run"] for s in steps if "gatekeeper publish" in s.get("run", ""))
    assert re.search(r"gatekeeper publish --from \S+ --github-status --github-check", script)
    assert "${{" not in script  # the sha comes in through env, like every value
    fork_gate = next(w for w in workflows if w is not trusted and w.get("name") == "gatekeeper"
                     and w["permissions"] == {"contents": "read"})
    uploads = [s for s in fork_gate["jobs"]["gate"]["steps"]
               if s.get("uses", "").startswith("actions/upload-artifact@")]
    download = next(s for s in steps if s.get("uses", "").startswith(
        "actions/download-artifact@"))
    assert uploads[0]["with"]["name"] == download["with"]["name"]


def test_docs_gitlab_job_reports_junit_and_posts_a_status() -> None:
    gitlab = next(f for f in doc_files(docs()) if f.name == ".gitlab-ci.yml")
    data = gitlab.data
    jobs = {k: v for k, v in data.items() if isinstance(v, dict) and "script" in v}
    assert list(jobs) == ["gatekeeper"]
    job = jobs["gatekeeper"]
    assert job["stage"] in data["stages"]
    check = next(line for line in job["script"] if line.startswith("gatekeeper check"))
    assert "--gitlab-status" in check.split()
    junit = re.search(r"-o junit=(\S+)", check)
    assert junit is not None and job["artifacts"]["reports"]["junit"] == junit.group(1)
    assert job["artifacts"]["when"] == "always"  # a blocked gate still hands in its report
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert "GITLAB_TOKEN" in docs()


# --- broken copies: the checks above would catch each mistake -----------------------------


def broken_workflow(old: str, new: str) -> Callable[[], tuple[dict[str, str], str]]:
    def build() -> tuple[dict[str, str], str]:
        assert old in EVERY_INPUT
        return {"gate.yml": EVERY_INPUT.replace(old, new, 1)}, action_text()
    return build


def broken_action_steps(old: str, new: str) -> Callable[[], tuple[dict[str, str], str]]:
    def build() -> tuple[dict[str, str], str]:
        text = action_text()
        assert old in text
        broken = text.replace(old, new, 1)
        return {"steps.yml": steps_as_workflow(load(broken))}, broken
    return build


def broken_docs_workflow(old: str, new: str) -> Callable[[], tuple[dict[str, str], str]]:
    def build() -> tuple[dict[str, str], str]:
        complete = next(w for w in github_workflows(doc_files(docs()))
                        if "security-events" in w.text)
        assert old in complete.text
        return {"w.yml": as_local_action(complete.text.replace(old, new, 1))}, action_text()
    return build


@pytest.mark.parametrize(("build", "expected"), [
    (broken_workflow("          model: fraud\n", "          modle: fraud\n"),
     'input "modle" is not defined in action "gatekeeper"'),
    (broken_workflow("          milestone: serve\n", ""),
     'missing input "milestone" which is required by action "gatekeeper"'),
    (broken_workflow("steps.gate.outputs.verdict", "steps.gate.outputs.verdit"),
     'property "verdit" is not defined'),
    (broken_action_steps("GK_MODEL: ${{ inputs.model }}", "GK_MODEL: ${{ inputs.modle }}"),
     'property "modle" is not defined'),
    (broken_action_steps("steps.python.outputs.python-path", "steps.python.outputs.path"),
     'property "path" is not defined'),
    (broken_docs_workflow("github-check: true", "github-chek: true"),
     'input "github-chek" is not defined'),
    (broken_docs_workflow("runs-on: [self-hosted, linux]", "runs-on: ubuntu-lastest"),
     'label "ubuntu-lastest" is unknown'),
], ids=["unknown-input", "missing-required-input", "unknown-output", "action-unknown-input",
        "action-unknown-step-output", "docs-unknown-input", "docs-unknown-runner"])
def test_actionlint_reports_a_broken_copy(
        build: Callable[[], tuple[dict[str, str], str]], expected: str, tmp_path: Path) -> None:
    workflows, action = build()
    findings = lint_repository(tmp_path, workflows, action)
    assert any(expected in f["message"] for f in findings), findings


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('args=(check "$GK_PLAYBOOK"', 'args=(check "${{ inputs.playbook }}"',
     "run: expression `inputs.playbook` inside a script"),
    ("GK_MODEL: ${{ inputs.model }}", "GK_MODEL: ${{ inputs.modle }}",
     "env.GK_MODEL: input 'modle' is not declared"),
    ("    - name: Gate the model version\n", "    - name: Gate ${{ inputs.model }}\n",
     "name: input used outside env/with/working-directory"),
    ("      shell: bash\n      env:\n        GK_PYTHON", "      env:\n        GK_PYTHON",
     "step 1: a composite run step needs `shell`"),
    ("value: ${{ steps.gate.outputs.verdict }}", "value: ${{ steps.gates.outputs.verdict }}",
     "outputs.verdict: not an output of one of the action's steps"),
], ids=["input-in-script", "undeclared-input", "input-in-name", "no-shell", "unknown-step"])
def test_structure_check_reports_a_broken_copy(old: str, new: str, expected: str) -> None:
    text = action_text()
    assert old in text
    problems = structure_problems(load(text.replace(old, new, 1)))
    assert any(p.endswith(expected) for p in problems), problems


# --- the gate step, run as the runner runs it -------------------------------------------------

FAKE_GATEKEEPER = """#!{python}
import json, os, sys
with open(os.environ["FAKE_RECORD"], "w") as handle:
    json.dump({{"argv": sys.argv[1:], "token": os.environ.get("GITHUB_TOKEN"),
               "cwd": os.getcwd()}}, handle)
sys.exit(int(os.environ["FAKE_EXIT"]))
"""


def evaluate(value: str, inputs: Mapping[str, str]) -> str:
    """The expressions the gate step's env uses: exactly one ``${{ inputs.x }}``."""
    match = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", value)
    assert match is not None or "${{" not in value, value
    return inputs[match.group(1)] if match else value


def run_gate_step(tmp_path: Path, given: Mapping[str, str], gatekeeper: Path | None,
                  fake_exit: int = 0) -> tuple[subprocess.CompletedProcess[str],
                                               dict[str, str], Path]:
    """Run the `gate` step's script with ``bash --noprofile --norc -eo pipefail`` (GitHub's
    ``shell: bash``), its env evaluated from ``given`` and the defaults, in a runner-like
    environment; returns the process, the step's outputs and the work folder."""
    action = load(action_text())
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "gate")
    inputs = {n: str(i.get("default", "")) for n, i in action["inputs"].items()}
    inputs.update(given, token="ghs_not_a_real_token")
    venv_bin = tmp_path / "runner" / "gatekeeper-venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)
    if gatekeeper is None:
        fake = venv_bin / "gatekeeper"
        fake.write_text(FAKE_GATEKEEPER.format(python=sys.executable))
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    else:
        (venv_bin / "gatekeeper").symlink_to(gatekeeper)
    work = tmp_path / "work"
    work.mkdir()
    outputs, summary = tmp_path / "github_output", tmp_path / "step_summary"
    outputs.touch()
    summary.touch()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "RUNNER_TEMP": str(venv_bin.parents[1]),
           "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary),
           "FAKE_RECORD": str(tmp_path / "record.json"), "FAKE_EXIT": str(fake_exit),
           "GATEKEEPER_NO_HINTS": "1"}
    env.update({k: evaluate(str(v), inputs) for k, v in step["env"].items()})
    script = tmp_path / "gate.sh"
    script.write_text(step["run"])
    cwd = work / evaluate(step["working-directory"], inputs)
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return proc, written, work


def test_gate_step_passes_inputs_as_literal_arguments(tmp_path: Path) -> None:
    hostile = "fraud $(touch pwned) `touch pwned2` \"; touch pwned3; \""
    proc, outputs, work = run_gate_step(tmp_path, {
        "playbook": "playbooks/fraud.yaml", "model": hostile, "alias": "cand'idate",
        "milestone": "serve", "promote": "true", "github-check": "true",
        "tracking-uri": "sqlite:///r.db", "policies": "org policies", "github-pr": "42",
        "waivers": "waivers dir",
        "outputs": "junit=out dir/g.junit.xml\n   sarif=g.sarif  \n\n"}, None, fake_exit=1)
    assert proc.returncode == 1, proc.stderr  # the verdict's exit code is the step's
    record = json.loads((tmp_path / "record.json").read_text())
    result = str(work / "gate-result.json")
    assert record["argv"] == [
        "check", "playbooks/fraud.yaml", "--model", hostile, "--milestone", "serve",
        "--alias", "cand'idate", "--tracking-uri", "sqlite:///r.db", "--policies",
        "org policies", "--github-pr", "42", "--waivers", "waivers dir", "--promote",
        "--github-check", "-o", "github",
        "-o", f"markdown={tmp_path / 'step_summary'}", "-o", f"json={result}",
        "-o", "junit=out dir/g.junit.xml", "-o", "sarif=g.sarif"]
    assert record["token"] == "ghs_not_a_real_token" and record["cwd"] == str(work)
    assert not list(tmp_path.rglob("pwned*"))
    assert outputs == {"result-path": result, "exit_code": "1"}


def test_gate_step_refuses_a_flag_input_that_is_not_true_or_false(tmp_path: Path) -> None:
    proc, outputs, _ = run_gate_step(tmp_path, {"playbook": "p.yaml", "model": "m",
                                                "milestone": "serve", "promote": "yes"}, None)
    assert proc.returncode == 2
    assert proc.stdout == ("::error title=gatekeeper::input for --promote must be true or "
                           "false, got 'yes'\n")
    assert outputs == {"exit_code": "2"}
    assert not (tmp_path / "record.json").exists()  # gatekeeper never ran


def test_gate_step_runs_the_real_cli_and_keeps_its_exit_code(tmp_path: Path) -> None:
    real = Path(sys.executable).with_name("gatekeeper")
    proc, outputs, work = run_gate_step(tmp_path, {
        "playbook": "playbooks/missing.yaml", "model": "fraud", "version": "3",
        "milestone": "serve", "working-directory": "."}, real)
    assert proc.returncode == 2, proc.stderr  # invalid input: no verdict, nothing rendered
    assert proc.stderr.splitlines() == [
        "playbooks/missing.yaml:1:1: cannot read file: No such file or directory",
        "gatekeeper: 1 problem(s) in 1 file(s)"]
    assert outputs == {"result-path": str(work / "gate-result.json"), "exit_code": "2"}
