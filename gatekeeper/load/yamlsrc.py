"""YAML with positions: parse a file into plain data plus the line/column of every key, and
turn pydantic errors into located :class:`Problem` s (``file:line:col: key.path: message``)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from gatekeeper.errors import Problem

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: its data, and for each key path the 1-based (line, col)."""

    file: str
    data: Any
    marks: Mapping[Loc, tuple[int, int]]
    text: str

    def position(self, loc: Loc) -> tuple[int, int]:
        """Position of the deepest key of ``loc`` the file has (a missing key points at its
        parent)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.marks:
                return self.marks[loc[:end]]
        return (1, 1)

    def problem(self, loc: Loc, message: str) -> Problem:
        line, col = self.position(loc)
        return Problem(self.file, line, col, format_loc(loc), message)


def format_loc(loc: Loc) -> str:
    """``milestones[0].checks[2].max`` style."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_document(path: Path, display: str | None = None) -> tuple[Document | None, list[Problem]]:
    """Parse ``path``; on malformed YAML return no document and one located problem."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(name, 1, 1, "", f"cannot read file: {_reason(exc)}")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [Problem(name, line, col, "", f"malformed YAML: {what}")]
    if node is None:
        return None, [Problem(name, 1, 1, "", "file is empty")]
    marks: dict[Loc, tuple[int, int]] = {(): _pos(node)}
    problems = list(_walk(node, (), marks, name))
    data = yaml.safe_load(text)
    return Document(name, data, marks, text), problems


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(node: yaml.Node, loc: Loc, marks: dict[Loc, tuple[int, int]],
          name: str) -> Iterator[Problem]:
    """Record each key's position; report duplicate keys (YAML would silently keep the last,
    and a silently dropped threshold weakens a gate)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*loc, key)
            if child in marks:
                line, col = _pos(key_node)
                first = marks[child][0]
                yield Problem(name, line, col, format_loc(child),
                              f"duplicate key '{key}' (first at line {first})")
                # YAML keeps the last value: point later messages at the one in effect.
                for stale in [k for k in marks if k[: len(child)] == child]:
                    del marks[stale]
            marks[child] = _pos(key_node)
            yield from _walk(value_node, child, marks, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            marks[(*loc, index)] = _pos(item)
            yield from _walk(item, (*loc, index), marks, name)


def pydantic_problems(doc: Document, error: pydantic.ValidationError,
                      root: type[pydantic.BaseModel]) -> list[Problem]:
    """One located, readable problem per pydantic error."""
    problems = []
    for err in error.errors():
        loc = _data_loc(doc.data, err["loc"])
        if err["type"] == "too_short" and _length(doc.data, loc) >= err["ctx"]["min_length"]:
            continue  # pydantic counts only valid items; the invalid ones are reported already
        problems.append(doc.problem(loc, _message(err, loc, doc.data, root)))
    return problems


def _length(data: Any, loc: Loc) -> int:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return 0
    return len(data) if isinstance(data, list) else 0


def _data_loc(data: Any, loc: Sequence[Any]) -> Loc:
    """Keep the parts of pydantic's loc that are keys in the data; drop discriminator tags
    and union member names. A last part not in the data is a missing or unknown key."""
    out: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if part == "[key]":
            continue  # pydantic's marker for "the key itself" of a dict entry
        if _has(current, part):
            current = current[part]
        elif isinstance(current, Mapping) and index == len(loc) - 1:
            current = None
        else:
            continue
        out.append(part)
    return tuple(out)


def _has(container: Any, part: Any) -> bool:
    if isinstance(container, list):
        return isinstance(part, int) and 0 <= part < len(container)
    return isinstance(container, Mapping) and part in container


def _message(err: Any, loc: Loc, data: Any, root: type[pydantic.BaseModel]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        fields = _fields_at(root, data, loc[:-1])
        return f"unknown key '{key}'{_did_you_mean(key, fields)}"
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag", ""))
        known = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        return (f"unknown check kind '{tag}'{_did_you_mean(tag, known)}"
                f" (known: {', '.join(sorted(known))})")
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return f"needs {bound} {limit} item(s), has {_length(data, loc)}"
    if kind == "union_tag_not_found":
        return "missing required key 'kind'"
    if kind == "enum":
        value = str(err.get("input"))
        known = [t.strip().strip("'") for t in
                 str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
        return f"unknown value '{value}'{_did_you_mean(value, known)} (known: {', '.join(known)})"
    message = str(err["msg"])
    if kind.endswith(("_type", "_parsing")):
        return f"{message}, got {err.get('input')!r}"
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _fields_at(root: type[pydantic.BaseModel], data: Any, loc: Loc) -> list[str]:
    """Names of the fields the model at ``loc`` accepts (for did-you-mean)."""
    model: type[pydantic.BaseModel] | None = root
    current = data
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            current = current[part] if isinstance(current, list) else None
            continue
        field = model.model_fields.get(part)
        current = current.get(part) if isinstance(current, Mapping) else None
        model = _model_in(field.annotation, current) if field else None
    return sorted(model.model_fields) if model else []


def _model_in(annotation: Any, value: Any) -> type[pydantic.BaseModel] | None:
    """The pydantic model an annotation holds (inside Optional, tuples, tagged unions)."""
    item = value[0] if isinstance(value, list) and value else value
    candidates = [m for m in _models(annotation)]
    if len(candidates) > 1 and isinstance(item, Mapping):
        for model in candidates:
            tag = model.model_fields.get("kind")
            if tag is not None and item.get("kind") in typing.get_args(tag.annotation):
                return model
        return None
    return candidates[0] if candidates else None


def _models(annotation: Any) -> list[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return []
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]
