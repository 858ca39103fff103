from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from gatekeeper.errors import ValidationError
from gatekeeper.probe.requests_mix import body_content_type, load_mix, parse_mix

WEIGHTED = [
    '{"endpoint": "predict", "method": "POST", "path": "/invocations", '
    '"payload": {"inputs": [[1, 2]]}, "weight": 3}',
    "",
    '{"endpoint": "health", "method": "GET", "path": "/ping"}',
]


def test_weighted_mix_parses_and_chooses_by_weight_deterministically() -> None:
    mix = parse_mix(WEIGHTED, "mix.jsonl")
    assert not mix.is_replay
    assert mix.requests[0].body == b'{"inputs": [[1, 2]]}'
    assert mix.requests[1].body is None and mix.requests[1].weight == 1.0
    plan = list(mix.plan([i / 100 for i in range(4000)], seed=3))
    assert plan == list(mix.plan([i / 100 for i in range(4000)], seed=3))
    counts = Counter(p.request.endpoint for p in plan)
    assert counts["predict"] / 4000 == pytest.approx(0.75, abs=0.03)


def test_replay_mix_uses_timestamps() -> None:
    mix = parse_mix(['{"endpoint": "a", "path": "/x", "timestamp": 12.5}',
                     '{"endpoint": "b", "path": "/y", "timestamp": 10}'], "m")
    assert mix.is_replay
    assert [(p.offset_s, p.request.endpoint) for p in mix.replay_plan()] == [(0, "b"),
                                                                            (2.5, "a")]


def test_every_problem_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mix.jsonl"
    path.write_text(
        '{"endpoint": "a", "path": "/x"}\n'
        "{not json\n"
        '{"endpoint": "", "path": "http://elsewhere/", "wieght": 2, "method": "FETCH"}\n'
        '{"endpoint": "a", "path": "/x", "weight": 0}\n'
        "[1]\n"
    )
    with pytest.raises(ValidationError) as caught:
        load_mix(path)
    assert str(caught.value).splitlines() == [
        f"{path}:2:2: invalid JSON: Expecting property name enclosed in double quotes",
        f"{path}:3:1: wieght: unknown key (expected one of: endpoint, method, path, payload, "
        "timestamp, weight)",
        f"{path}:3:1: endpoint: required, a non-empty string",
        f"{path}:3:1: method: must be one of: DELETE, GET, PATCH, POST, PUT",
        f"{path}:3:1: path: required, a path starting with a single '/' (relative to the URL)",
        f"{path}:4:1: weight: must be > 0",
        f"{path}:5:1: each line must be a JSON object",
    ]


def test_mixing_weights_and_timestamps_or_an_empty_mix_is_an_error() -> None:
    with pytest.raises(ValidationError, match="m:1:1: some lines have a timestamp"):
        parse_mix(['{"endpoint": "a", "path": "/x", "timestamp": 1}',
                   '{"endpoint": "a", "path": "/x"}'], "m")
    with pytest.raises(ValidationError, match="m:1:1: the mix has no requests"):
        parse_mix(["", "  "], "m")


HOSTILE = {
    "deep payload": ('{"endpoint": "a", "path": "/", "payload": ' + "[" * 5000 + "]" * 5000
                     + "}", "m:1:1: payload: nested deeper than 64 levels"),
    "deep, no key": ("[" * 100 + "]" * 100, "m:1:1: nested deeper than 64 levels"),
    "brackets in strings are not nesting": (
        '{"endpoint": "a", "path": "/", "payload": "' + "[" * 100 + '", "weight": -1}',
        "m:1:1: weight: must be > 0"),
    "NaN payload": ('{"endpoint": "a", "path": "/", "payload": {"x": NaN}}',
                    "m:1:1: payload: must be strict JSON: NaN and Infinity have no JSON form"),
    "tab in endpoint": ('{"endpoint": "a\\tb", "path": "/"}',
                        "m:1:1: endpoint: must not contain control characters (NUL, tab, "
                        "newline, ...)"),
    "huge integer": ('{"endpoint": "a", "path": "/", "weight": ' + "9" * 5000 + "}",
                     "m:1:1: invalid JSON: a number too long or nesting too deep to read"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_lines_are_located_problems(case: str) -> None:
    line, message = HOSTILE[case]
    with pytest.raises(ValidationError) as caught:
        parse_mix([line], "m")
    assert str(caught.value.problems[0]) == message


def test_weights_that_overflow_when_summed_name_the_line() -> None:
    line = '{"endpoint": "a", "path": "/", "weight": 1e308}'
    with pytest.raises(ValidationError) as caught:
        parse_mix([line, "", line], "m")
    assert [str(p) for p in caught.value.problems] == [
        "m:3:1: weight: the weights up to this line add up to more than the largest number "
        "(about 1.8e308); use smaller weights (only their ratios matter)"]


def test_a_file_that_is_not_utf8_names_each_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "mix.jsonl"
    path.write_bytes(b'{"endpoint": "a", "path": "/"}\n{"endpoint": "\xe9"}\n\x00\xff\n')
    with pytest.raises(ValidationError) as caught:
        load_mix(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:2:15: not UTF-8 text (byte 0xe9); a mix is JSON lines",
        f"{path}:3:2: not UTF-8 text (byte 0xff); a mix is JSON lines"]


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"inputs": [[1, 2]]}', "application/json"),
    (b'  [1, "\xc3\xa9"]\n', "application/json"),
    (b"42", "application/json"),
    (b'{"x": NaN}', "application/octet-stream"),  # not strict JSON
    (b"\x89PNG\r\n\x1a\n", "application/octet-stream"),
    (b"", "application/octet-stream"),
    (b"inputs=1", "application/octet-stream"),
])
def test_a_body_is_json_only_when_it_parses_as_strict_json(body: bytes, content_type: str
                                                           ) -> None:
    assert body_content_type(body) == content_type


def test_mix_payloads_are_sent_as_json() -> None:
    mix = parse_mix(['{"endpoint": "p", "path": "/p", "payload": {"a": 1}}'], "m.jsonl")
    assert mix.requests[0].content_type == "application/json"
