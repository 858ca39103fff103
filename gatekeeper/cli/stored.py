"""A result stored by ``gatekeeper check -o json=PATH``, read back for ``gatekeeper report``
(and any command taking ``--from RESULT.json``): anything that is not one is invalid input
(exit 2) in one line naming the file and what is wrong (the JSON line and column of a syntax
error, the path of a missing or mistyped field), never a traceback."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from gatekeeper.decide.result import (
    SCHEMA,
    AuditRef,
    BaselineRef,
    CheckResult,
    Location,
    MilestoneHistory,
    MilestoneRef,
    ModelRef,
    PlaybookRef,
    PolicyRef,
    Promotion,
    Result,
    WaiverReport,
)
from gatekeeper.errors import InvalidInputError


def read_result(path: Path) -> Result:
    """The result stored at ``path``; anything else is invalid input naming the file."""
    return parse_result(path, read_json(path))


def read_json(path: Path) -> Any:
    flag = f"--from {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"{flag}: no such file") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{flag}: is a folder, not a result file") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{flag}: not UTF-8 text, not a result file") from None
    except OSError as exc:
        raise InvalidInputError(f"{flag}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{flag}:{exc.lineno}:{exc.colno}: not valid JSON: "
                                f"{exc.msg}") from None


def parse_result(path: Path, data: Any) -> Result:
    flag = f"--from {path}"
    if not isinstance(data, dict):
        raise InvalidInputError(f"{flag}: not a gatekeeper result: expected a JSON object "
                                f'with "schema": "{SCHEMA}", got {_kind(data)}')
    if data.get("schema") != SCHEMA:
        raise InvalidInputError(f'{flag}: not a gatekeeper result: "schema" is '
                                f'{json.dumps(data.get("schema"))}, expected "{SCHEMA}"')
    problem = field_problem(data)
    if problem:
        raise InvalidInputError(f"{flag}: not a valid result: {problem}")
    try:
        result = Result.from_dict(data)
    except KeyError as exc:
        raise InvalidInputError(f"{flag}: not a valid result: missing field "
                                f"'{exc.args[0]}'") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"{flag}: not a valid result: {exc}") from None
    problem = type_problem(result, "")
    if problem:
        raise InvalidInputError(f"{flag}: not a valid result: {problem}")
    return result


#: The result's objects (``Result.to_dict``) and the model classes they are read back into.
SECTIONS: dict[str, type] = {"model": ModelRef, "milestone": MilestoneRef,
                             "playbook": PlaybookRef, "baseline": BaselineRef,
                             "audit": AuditRef, "promotion": Promotion}
LISTS: dict[str, type] = {"checks": CheckResult, "policies": PolicyRef,
                          "history": MilestoneHistory}
NULLABLE = frozenset({"baseline", "audit", "promotion"})


def field_problem(data: Mapping[str, Any]) -> str | None:
    """The first object of the result that is not one, lacks a required field or has an
    unknown one (``missing field 'model.name'``); value types are checked once it is read."""
    absent = [key for key in (*SECTIONS, "checks") if key not in data]
    if absent:
        return f"missing field '{absent[0]}'"
    found = [_fields(data[key], cls, key, key in NULLABLE) for key, cls in SECTIONS.items()]
    # Optional: results written before waivers existed, or without --waivers, have none.
    found.append(_fields(data.get("waivers"), WaiverReport, "waivers", True))
    for key, cls in LISTS.items():
        items = data.get(key, [])
        if items is None and key != "checks":
            continue
        if not isinstance(items, list):
            return _mismatch(key, list, items)
        found += [_fields(item, cls, f"{key}[{i}]", False) for i, item in enumerate(items)]
        if key == "checks":
            found += [_fields(item.get("location"), Location, f"checks[{i}].location", True)
                      for i, item in enumerate(items) if isinstance(item, dict)]
    return next((p for p in found if p), None)


def _fields(obj: Any, cls: type, path: str, nullable: bool) -> str | None:
    if obj is None and nullable:
        return None
    if not isinstance(obj, dict):
        return _mismatch(path, dict, obj)
    known = {f.name: f for f in fields(cls)}
    missing = [name for name, f in known.items() if name not in obj
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        return f"missing field '{path}.{missing[0]}'"
    if cls is not CheckResult:  # a check ignores fields it does not know (newer writers)
        unknown = [key for key in obj if key not in known]
        if unknown:
            return f"unknown field '{path}.{unknown[0]}'"
    return None


def type_problem(value: Any, path: str, hint: Any = None) -> str | None:
    """The first value of a read-back result whose type differs from the result model's
    annotation (``checks[2].evidence: expected an object, got list``), or None. ``from_dict``
    only places the values; a renderer must never meet a list where it expects a mapping."""
    hint = type(value) if hint is None else hint
    if hint is Any:
        return None
    if get_origin(hint) in (Union, UnionType):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        if value is None:
            return None if len(options) < len(get_args(hint)) else _mismatch(path, options[0],
                                                                               value)
        fits = [type_problem(value, path, arg) for arg in options]
        return None if None in fits else fits[0]
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(value, hint):
            return _mismatch(path, hint, value)
        hints = get_type_hints(hint)
        return next((p for f in fields(hint) if (p := type_problem(
            getattr(value, f.name), f"{path}.{f.name}".lstrip("."), hints[f.name]))), None)
    if get_origin(hint) is tuple:
        if not isinstance(value, tuple):
            return _mismatch(path, list, value)
        return next((p for i, item in enumerate(value)
                     if (p := type_problem(item, f"{path}[{i}]", get_args(hint)[0]))), None)
    if get_origin(hint) is Mapping:
        if not isinstance(value, Mapping):
            return _mismatch(path, dict, value)
        return next((p for k, v in value.items()
                     if (p := type_problem(v, f"{path}.{k}", get_args(hint)[1]))), None)
    if hint is type(None):
        return None if value is None else _mismatch(path, hint, value)
    if (hint is int and isinstance(value, bool)) or not isinstance(value, hint):
        return _mismatch(path, hint, value)
    return None


_JSON_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
               dict: "an object", type(None): "null"}


def _mismatch(path: str, expected: Any, value: Any) -> str:
    return f"{path}: expected {_JSON_NAMES.get(expected, 'an object')}, got {_kind(value)}"


def _kind(value: Any) -> str:
    """A JSON value as an error message names it: scalars as written, containers by kind."""
    if value is None or isinstance(value, str | int | float):
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:39] + "…"
    return "a list" if isinstance(value, list | tuple) else "an object"
