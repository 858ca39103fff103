"""YAML with positions: parse a file into plain data plus the line/column of every key, and
turn pydantic errors into located :class:`Problem` s (``file:line:col: key.path: message``).

Reading is bounded and safe: see :func:`read_document` for what is refused and why."""

from __future__ import annotations

import difflib
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

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
    #: Values the reader already reported (a tag, a YAML 1.1 boolean): the schema's complaint
    #: about the same value would only repeat it.
    reported: frozenset[Loc] = frozenset()

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


# --- Reading: bounded, safe, YAML 1.2 ---------------------------------------------------------
# Bad input is answered quickly and located, never with a traceback or a hang: the file's size
# is checked before it is read, and the document is composed here from the parser's events
# (not by PyYAML's composer and constructor), so nesting, alias expansion and the number of
# values are counted as they arrive and refused past a limit before anything big is built.

#: A playbook or policy is a few KB; a larger file is refused before it is parsed.
MAX_BYTES = 1 << 20
#: Collections inside collections (a playbook needs about 6); deeper input is refused.
MAX_DEPTH = 64
#: Values in the document with every alias expanded (a playbook has a few hundred). Bounds an
#: alias bomb ("billion laughs") and whatever later walks the data.
MAX_NODES = 50_000
#: libyaml's parse errors are terse ("did not find expected key"); when the error is this near
#: the start, PyYAML's pure-Python parser (about 0.3 MB/s) re-reads the text for its clearer
#: message ("expected <block end>, but found '<block sequence start>'").
CLEARER_MESSAGE_BYTES = 64 << 10

# libyaml's parser when PyYAML was built with it: 30-100x faster than the pure-Python one.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_CORE_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {None, "!", _CORE_TAG + "str", _CORE_TAG + "seq", _CORE_TAG + "map"}
# What YAML (any version) does not allow in a file: C0 controls but tab and newlines, DEL, C1
# controls but NEL, surrogates, U+FFFE/U+FFFF.
_FORBIDDEN = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL_NAMES = ("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT",
                  "FF", "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB",
                  "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US")
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
          "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
# Booleans in YAML 1.1 (and to PyYAML, many CI tools, older editors) but text in YAML 1.2: the
# same file would mean different things to different readers, so it means nothing here.
_YAML11_BOOLS = {"yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"}
# The loc part under which a key that is itself a collection is composed (and then dropped);
# a NUL never reaches the composer, so no real key can be this.
_KEY_PART = "\0key"


class _Refused(Exception):
    """Input that leaves nothing to validate: one located problem, and no document."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read_document(path: Path, display: str | None = None) -> tuple[Document | None, list[Problem]]:
    """Parse ``path`` into plain data and the position of every key. Never raises.

    Input that leaves nothing to validate (unreadable, too large, not UTF-8, control
    characters, malformed, nested too deeply, an alias bomb) returns no document and one
    located problem. Other problems (duplicate keys, tags, a list or mapping as a key, a YAML
    1.1 boolean) come with the document, so validation still reports everything else.

    Scalars resolve as YAML 1.2 (core schema): ``1e-5`` is a float, ``yes`` is not a boolean
    (and refused, see above), ``2024-01-01`` is text.
    """
    name = display or str(path)
    try:
        text = _read_text(path, name)
        composer = _Composer(name)
        data = composer.compose(text)
    except _Refused as refused:
        return None, [refused.problem]
    if data is _Composer.EMPTY:
        return None, [Problem(name, 1, 1, "", "file is empty")]
    return (Document(name, data, composer.marks(), text, frozenset(composer.reported)),
            composer.problems)


def _read_text(path: Path, name: str) -> str:
    """The file's text: at most MAX_BYTES, UTF-8, no control characters."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BYTES + 1)
            size = max(os.fstat(file.fileno()).st_size, len(raw))
    except OSError as exc:
        raise _Refused(Problem(name, 1, 1, "", f"cannot read file: {_reason(exc)}")) from None
    if len(raw) > MAX_BYTES:
        raise _Refused(Problem(name, 1, 1, "", f"file is {_mib(size)}, over the limit of "
                               f"{_mib(MAX_BYTES)}; not read"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw.decode("utf-8", errors="replace"),
                              len(raw[: exc.start].decode("utf-8", errors="replace")))
        raise _Refused(Problem(name, line, col, "", f"not UTF-8: byte 0x{raw[exc.start]:02x} "
                               f"cannot be decoded; save the file as UTF-8")) from None
    if forbidden := _FORBIDDEN.search(text):
        line, col = _line_col(text, forbidden.start())
        raise _Refused(Problem(name, line, col, "", f"control character "
                               f"{_describe_char(forbidden.group())} is not allowed in YAML"))
    return text


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``."""
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def _describe_char(char: str) -> str:
    code = ord(char)
    name = _CONTROL_NAMES[code] if code < len(_CONTROL_NAMES) else ""
    return f"U+{code:04X}" + (f" ({name})" if name else "")


def _pos(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


class _Events:
    """A parser's event stream, typed (PyYAML's stubs leave these methods untyped)."""

    def __init__(self, text: str, loader: type[yaml.SafeLoader] = _LOADER) -> None:
        parser = loader(text)
        self.next: Callable[[], yaml.Event] = parser.get_event
        self.peek: Callable[[], yaml.Event] = parser.peek_event
        self.at: Callable[..., bool] = parser.check_event
        self.dispose: Callable[[], None] = parser.dispose


@dataclass(frozen=True)
class _Node:
    """A composed value, with what it costs: values it holds once expanded, collections it
    nests, and where its keys' marks are in the composer's list (for aliases to copy)."""

    value: Any
    size: int
    height: int
    marks: tuple[int, int, int] = (0, 0, 0)  # start, end, length of the node's own loc


class _Composer:
    """Builds plain data and key positions from parser events, within the limits above."""

    EMPTY = object()
    OPEN = _Node(None, 0, 0)  # an anchored collection still being composed

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[Problem] = []
        self.reported: set[Loc] = set()
        self._marks: list[tuple[Loc, tuple[int, int]]] = []
        self._dead: list[tuple[int, int]] = []  # mark ranges of values a duplicate key replaced
        self._anchors: dict[str, _Node] = {}
        self._values = 0
        self._events = _Events("")

    def compose(self, text: str) -> Any:
        """The single document of ``text`` (``EMPTY`` when there is none)."""
        self._events.dispose()
        self._events = _Events(text)
        try:
            return self._document()
        except yaml.MarkedYAMLError as exc:
            raise _Refused(self._malformed(exc, text)) from None
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _Refused(Problem(self.name, 1, 1, "", f"malformed YAML: {first}")) from None
        finally:
            self._events.dispose()

    def marks(self) -> dict[Loc, tuple[int, int]]:
        """Each key path's position; a duplicate key's replaced value leaves none behind."""
        alive = bytearray(b"\1") * len(self._marks)
        for start, end in self._dead:
            alive[start:end] = bytes(end - start)
        return {loc: pos for (loc, pos), ok in zip(self._marks, alive, strict=True)
                if ok and _KEY_PART not in loc}

    def _document(self) -> Any:
        self._events.next()  # stream start
        if self._events.at(yaml.StreamEndEvent):
            return self.EMPTY
        self._events.next()  # document start
        self._marks.append(((), _pos(self._events.peek())))
        data = self._node((), 0).value
        self._events.next()  # document end
        if not self._events.at(yaml.StreamEndEvent):
            self._refuse(self._events.peek(), "expected a single document in the file, "
                         "but another one starts here")
        return data

    def _node(self, loc: Loc, depth: int) -> _Node:
        event = self._events.next()
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, loc, depth)
        self._count(1, event)
        if isinstance(event, yaml.ScalarEvent):
            node = _Node(self._scalar(event, loc), 1, 0)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            node = self._collection(event, loc, depth)
        else:  # the parser yields nothing else where a node belongs
            self._refuse(event, f"unexpected {type(event).__name__}")
        if event.anchor is not None:
            self._anchors[event.anchor] = node
        return node

    def _collection(self, event: yaml.CollectionStartEvent, loc: Loc, depth: int) -> _Node:
        if depth >= MAX_DEPTH:
            self._refuse(event, f"nested deeper than {MAX_DEPTH} levels; not read")
        self._check_tag(event, loc)
        if event.anchor is not None:
            self._anchors[event.anchor] = self.OPEN
        start = len(self._marks)
        value: list[Any] | dict[Any, Any]
        if isinstance(event, yaml.SequenceStartEvent):
            value, size, height = self._sequence(loc, depth)
        else:
            value, size, height = self._mapping(loc, depth)
        return _Node(value, size + 1, height + 1, (start, len(self._marks), len(loc)))

    def _sequence(self, loc: Loc, depth: int) -> tuple[list[Any], int, int]:
        items: list[Any] = []
        size = height = 0
        while not self._events.at(yaml.SequenceEndEvent):
            child = (*loc, len(items))
            self._marks.append((child, _pos(self._events.peek())))
            node = self._node(child, depth + 1)
            items.append(node.value)
            size, height = size + node.size, max(height, node.height)
        self._events.next()
        return items, size, height

    def _mapping(self, loc: Loc, depth: int) -> tuple[dict[Any, Any], int, int]:
        out: dict[Any, Any] = {}
        seen: dict[Any, tuple[int, int]] = {}  # key -> range of its marks (key and value)
        size = height = 0
        while not self._events.at(yaml.MappingEndEvent):
            key_event = self._events.peek()
            key = self._node((*loc, _KEY_PART), depth + 1)
            usable = self._usable_key(key_event, key.value, loc)
            child = (*loc, _loc_part(key.value)) if usable else (*loc, _KEY_PART)
            start = len(self._marks)
            self._marks.append((child, _pos(key_event)))
            value = self._node(child, depth + 1)
            size, height = size + key.size + value.size, max(height, value.height)
            if not usable:
                continue
            if key.value in seen:
                first = seen[key.value]
                self._problem(key_event, child, f"duplicate key '{_key_text(key_event)}' "
                              f"(first at line {self._marks[first[0]][1][0]})")
                # YAML keeps the last value: point later messages at the one in effect.
                self._dead.append(first)
            seen[key.value] = (start, len(self._marks))
            out[key.value] = value.value
        self._events.next()
        return out, size, height

    def _usable_key(self, event: yaml.Event, key: Any, loc: Loc) -> bool:
        """A key is one value; a list or mapping as a key (``? [a, b]``) cannot name a field."""
        if isinstance(key, list | dict):
            what = "a list" if isinstance(key, list) else "a mapping"
            self._problem(event, loc, f"a key must be a single value, not {what}")
            return False
        if isinstance(event, yaml.ScalarEvent) and _is_plain(event) and event.value == "<<":
            self._problem(event, loc, "merge keys ('<<') are not supported; write the keys out")
            return False
        return True

    def _alias(self, event: yaml.AliasEvent, loc: Loc, depth: int) -> _Node:
        node = self._anchors.get(event.anchor or "")
        if node is None:
            self._refuse(event, f"alias '*{event.anchor}' has no anchor '&{event.anchor}' "
                         "before it")
        if node is self.OPEN:
            self._refuse(event, f"alias '*{event.anchor}' is inside the collection it names")
        if self._values + node.size > MAX_NODES:
            self._refuse(event, f"alias '*{event.anchor}' expands the document past "
                         f"{MAX_NODES:,} values (an alias bomb?); not read")
        if depth + node.height > MAX_DEPTH:
            self._refuse(event, f"alias '*{event.anchor}' nests the document deeper than "
                         f"{MAX_DEPTH} levels; not read")
        self._values += node.size
        # The repeated keys are located where the anchored collection wrote them.
        start, end, own = node.marks
        copied = [((*loc, *sub[own:]), pos) for sub, pos in self._marks[start:end]]
        self._marks.extend(copied)
        return node

    def _count(self, values: int, event: yaml.Event) -> None:
        self._values += values
        if self._values > MAX_NODES:
            self._refuse(event, f"more than {MAX_NODES:,} values in the document; not read")

    def _scalar(self, event: yaml.ScalarEvent, loc: Loc) -> Any:
        if not _is_plain(event):
            self._check_tag(event, loc)
            return event.value  # quoted, block or tagged: text
        if event.value in _YAML11_BOOLS and loc[-1:] != (_KEY_PART,):
            self._value_problem(event, loc, f"'{event.value}' is text in YAML 1.2 but a "
                                "boolean in YAML 1.1: write true or false, or quote it if it "
                                "is text")
            return event.value
        try:
            return _resolve(event.value)
        except ValueError:  # an integer of more than 4,300 digits
            self._value_problem(event, loc, "number too long")
            return event.value

    def _value_problem(self, event: yaml.Event, loc: Loc, message: str) -> None:
        """A problem with the value at ``loc`` itself (not with a key in it)."""
        if loc[-1:] != (_KEY_PART,):
            self.reported.add(loc)
        self._problem(event, loc, message)

    def _check_tag(self, event: yaml.NodeEvent, loc: Loc) -> None:
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _ALLOWED_TAGS:
            shown = "!!" + tag.removeprefix(_CORE_TAG) if tag.startswith(_CORE_TAG) else tag
            self._value_problem(event, loc, f"tag '{shown}' is not allowed; gatekeeper reads "
                                "plain YAML data only (remove the tag)")

    def _problem(self, event: yaml.Event, loc: Loc, message: str) -> None:
        shown = tuple(part for part in loc if part != _KEY_PART)
        self.problems.append(Problem(self.name, *_pos(event), format_loc(shown), message))

    def _refuse(self, event: yaml.Event, message: str) -> NoReturn:
        raise _Refused(Problem(self.name, *_pos(event), "", message))

    def _malformed(self, exc: yaml.MarkedYAMLError, text: str) -> Problem:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own bound (1,000 levels)
            return Problem(self.name, line, col, "", f"nested deeper than {MAX_DEPTH} levels; "
                           "not read")
        exc = _clearer(exc, text)
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return Problem(self.name, line, col, "", f"malformed YAML: {what}")


def _is_plain(event: yaml.Event) -> bool:
    """An untagged, unquoted scalar: the only kind whose type depends on its text."""
    return (isinstance(event, yaml.ScalarEvent) and event.tag is None
            and bool(event.implicit[0]))


def _key_text(event: yaml.Event) -> str:
    return str(event.value) if isinstance(event, yaml.ScalarEvent) else "*" + str(
        getattr(event, "anchor", ""))


def _loc_part(key: Any) -> str | int:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)


def _resolve(text: str) -> Any:
    """A plain scalar's value in the YAML 1.2 core schema."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if not text or text[0] not in "0123456789+-.":
        return text
    if _INT.fullmatch(text):
        return int(text, 10)
    if _OCT.fullmatch(text):
        return int(text[2:], 8)
    if _HEX.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _INF.fullmatch(text):
        return -math.inf if text[0] == "-" else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    return text


def _clearer(exc: yaml.MarkedYAMLError, text: str) -> yaml.MarkedYAMLError:
    """PyYAML's own message for a parse error libyaml found, when it finds the same one."""
    mark = exc.problem_mark
    if _LOADER is yaml.SafeLoader or mark is None or mark.index > CLEARER_MESSAGE_BYTES:
        return exc
    # The text past the error cannot change what comes before it; a little is kept so a
    # truncation does not stand in for the real error.
    events = _Events(text[: mark.index + 4096], yaml.SafeLoader)
    depth = 0
    try:
        while events.at():
            event = events.next()
            depth += (isinstance(event, yaml.CollectionStartEvent)
                      - isinstance(event, yaml.CollectionEndEvent))
            if depth > MAX_DEPTH:
                return exc
    except yaml.MarkedYAMLError as clearer:
        found = clearer.problem_mark
        if found is not None and found.index <= mark.index + 1:
            return clearer
    except yaml.YAMLError:
        pass
    finally:
        events.dispose()
    return exc


def pydantic_problems(doc: Document, error: pydantic.ValidationError,
                      root: type[pydantic.BaseModel]) -> list[Problem]:
    """One located, readable problem per pydantic error."""
    problems = []
    for err in error.errors():
        loc = _data_loc(doc.data, err["loc"])
        if any(loc[:end] in doc.reported for end in range(len(loc) + 1)):
            continue  # the reader reported this value already
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
    if kind.endswith(("_type", "_parsing")) or kind == "finite_number":  # .inf, .nan, 1e999
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
