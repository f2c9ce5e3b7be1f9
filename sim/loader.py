"""Reading scenario files: safe YAML with positions, validation, and errors a person can act on.

:func:`load_scenario` reads a file, :func:`load_scenario_text` a string; both parse plain YAML
data only (no Python tags), keep every node's line and column, fill in the built-in catalogue
(:func:`sim.scenario.merge_catalogue`) and validate with :class:`sim.scenario.Scenario`. Anything
wrong becomes one :class:`~sim.errors.ScenarioError` listing every problem as
``file:line:column: field.path: what was expected, got what``.

The other direction: :func:`scenario_to_document` and :func:`dump_resolved_yaml` write a validated
scenario back out with every default and catalogue value filled in (it loads back to an equal
scenario), and :func:`with_changes` / :func:`set_path` change fields by dotted path, list items
addressed by name (``defenders.narew-1.magazine``), for sweeps and notebooks.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import difflib
import math
import numbers
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sim import scenario as _scenario
from sim.catalogue import CATALOGUE_KINDS, shared_catalogue
from sim.errors import GeographyError, IncursionError, Problem, ScenarioError
from sim.scenario import Scenario, merge_catalogue

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_PROBLEMS",
    "dump_resolved_yaml",
    "format_path",
    "json_schema",
    "load_scenario",
    "load_scenario_text",
    "scenario_to_document",
    "set_path",
    "with_changes",
]

#: Largest scenario file read (bytes). A real scenario is a few kilobytes.
MAX_FILE_BYTES = 5_000_000
#: Deepest nesting of mappings and lists. A scenario needs six levels.
MAX_DEPTH = 50
#: Most values in one document once anchors and aliases are expanded ("billion laughs" guard).
MAX_NODES = 1_000_000
#: Most problems listed for one file; the rest are counted.
MAX_PROBLEMS = 50

Loc = tuple[str | int, ...]
#: A path part that may be a list index.
_DIGITS = re.compile(r"[0-9]+")
_Pos = tuple[int, int]

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _TAG + "str", _TAG + "map", _TAG + "seq", _TAG + "merge"
_SCALAR_TAGS = {_TAG + t for t in ("str", "null", "bool", "int", "float", "timestamp")}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


# --------------------------------------------------------------------------------------------
# Paths


def format_path(loc: Loc) -> str:
    """Field path in the spec's form: ``defenders[1].magazine``, ``drone_types.gerbera``."""
    out = ""
    for seg in loc:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out


def _tokens(path: str) -> list[str | int]:
    """Split ``a.b[2].c`` into ``['a', 'b', 2, 'c']``; a bare digit token stays a string."""
    out: list[str | int] = []
    for part in path.split("."):
        m = re.fullmatch(r"(.*?)((?:\[\d+\])*)", part)
        assert m is not None  # the pattern matches every string
        name, indices = m.groups()
        if name or not indices:
            out.append(name)
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", indices))
    return out


# --------------------------------------------------------------------------------------------
# YAML with positions


class _AbortError(Exception):
    """Stop reading the document: one problem makes the rest meaningless."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _pos(node: Node) -> _Pos:
    return node.start_mark.line + 1, node.start_mark.column + 1


#: YAML 1.2 floats that YAML 1.1 (PyYAML) reads as text: an exponent without a dot or without a
#: sign (``1e6``, ``2.5e1``, ``1.0e5``, ``2E+4``). JSON, YAML 1.2 editors and the JSON Schema of
#: ``incursion schema`` take them as numbers, so the scenario reader does too.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class _Composer(yaml.SafeLoader):
    """The safe loader's composer with a nesting limit (the composer is recursive), reading
    exponent-form numbers as YAML 1.2 does (:data:`_EXPONENT_FLOAT`)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _AbortError(
                    Problem(
                        "",
                        f"the document is nested more than {MAX_DEPTH} levels deep "
                        f"(the limit); a scenario needs a few",
                        mark.line + 1,
                        mark.column + 1,
                    )
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Composer.add_implicit_resolver(_TAG + "float", _EXPONENT_FLOAT, list("-+0123456789."))


class _ResolvedDumper(yaml.SafeDumper):
    """Quotes text that :class:`_Composer` would read back as a number (``'1e3'``)."""


_ResolvedDumper.add_implicit_resolver(_TAG + "float", _EXPONENT_FLOAT, list("-+0123456789."))


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _kind_of_node(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "a value"


@dataclasses.dataclass
class _Doc:
    """Plain data of a YAML document and where each value and key is in the file."""

    data: Any
    marks: dict[Loc, _Pos] = dataclasses.field(default_factory=dict)
    key_marks: dict[Loc, _Pos] = dataclasses.field(default_factory=dict)


class _Builder:
    """Turn a composed node graph into plain data, recording positions and structural problems."""

    def __init__(self) -> None:
        self.doc = _Doc(None)
        self.problems: list[Problem] = []
        self.count = 0

    def build(self, node: Node, loc: Loc, depth: int) -> Any:
        self._check(node, loc, depth)
        self.doc.marks.setdefault(loc, _pos(node))
        if isinstance(node, ScalarNode):
            return self._scalar(node, loc)
        if node.tag not in (_MAP, _SEQ):
            self._bad_tag(node, loc)
            return None
        if isinstance(node, SequenceNode):
            return [self.build(child, (*loc, i), depth + 1) for i, child in enumerate(node.value)]
        return self._mapping(node, loc, depth)

    def _check(self, node: Node, loc: Loc, depth: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise _AbortError(
                Problem(
                    "",
                    f"the document expands to more than {MAX_NODES:,} values (the limit); "
                    "anchors and aliases that repeat each other multiply quickly",
                    *_pos(node),
                )
            )
        if depth > MAX_DEPTH:
            raise _AbortError(
                Problem(
                    format_path(loc[:1]),
                    f"nested more than {MAX_DEPTH} levels deep (the limit), "
                    "through anchors and aliases or an alias that contains itself",
                    *_pos(node),
                )
            )

    def _bad_tag(self, node: Node, loc: Loc) -> None:
        self.problems.append(
            Problem(
                format_path(loc),
                f"the YAML tag {_short_tag(node.tag)} is not allowed: only plain data "
                "(text, numbers, true/false, dates, lists and mappings) is read",
                *_pos(node),
            )
        )

    def _scalar(self, node: ScalarNode, loc: Loc) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            self._bad_tag(node, loc)
            return None
        try:
            return _CONSTRUCTOR.yaml_constructors[node.tag](_CONSTRUCTOR, node)
        except Exception as exc:  # a malformed explicitly tagged scalar, a 5000-digit integer
            reason = str(exc).split("\n")[0]
            reason = "too many digits" if "digits" in reason else _clip(reason, 100)
            self.problems.append(
                Problem(
                    format_path(loc),
                    f"cannot read {_clip(node.value)!r} as {_short_tag(node.tag)}: {reason}",
                    *_pos(node),
                )
            )
            return None

    def _key(self, node: Node, loc: Loc) -> str | None:
        if isinstance(node, ScalarNode) and node.tag in _SCALAR_TAGS:
            return node.value
        if isinstance(node, ScalarNode):
            self._bad_tag(node, loc)
        else:
            self.problems.append(
                Problem(
                    format_path(loc),
                    f"a mapping key must be a plain name, got {_kind_of_node(node)}",
                    *_pos(node),
                )
            )
        return None

    def _mapping(self, node: MappingNode, loc: Loc, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key = self._key(key_node, loc)
            if key is None:
                continue
            here = (*loc, key)
            if key in out:
                line = self.doc.key_marks.get(here, (None,))[0]
                first = f" (first at line {line})" if line is not None else ""
                self.problems.append(
                    Problem(
                        format_path(here),
                        f"duplicate key '{key}'{first}: YAML would silently keep only one",
                        *_pos(key_node),
                    )
                )
                continue
            self.doc.key_marks.setdefault(here, _pos(key_node))
            out[key] = self.build(value_node, here, depth + 1)
        for merge in merges:  # YAML merge keys ('<<: *defaults'); the mapping's own keys win
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for src in sources:
                if not isinstance(src, MappingNode) or src.tag != _MAP:
                    self.problems.append(
                        Problem(
                            format_path(loc),
                            "a merge key '<<' takes a mapping or a list of mappings, "
                            f"got {_kind_of_node(src)}",
                            *_pos(src),
                        )
                    )
                    continue
                self._check(src, loc, depth + 1)  # a mapping may merge itself
                for key, value in self._mapping(src, loc, depth + 1).items():
                    out.setdefault(key, value)
        return out


def _line_col(text: str, index: int) -> _Pos:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _parse(text: str, file: str | None) -> _Doc:
    """Parse one YAML document into plain data with positions; ScenarioError if it cannot."""
    try:
        loader = _Composer(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is None or (isinstance(node, ScalarNode) and node.tag == _TAG + "null"):
            raise _AbortError(
                Problem("", "the file is empty: expected a mapping of scenario fields")
            )
        if not isinstance(node, MappingNode) and node.tag not in (_SEQ, *_SCALAR_TAGS):
            tagged = _Builder()  # a tag on the whole document: say so, as for a single field
            tagged._bad_tag(node, ())
            raise _AbortError(tagged.problems[0])
        if not isinstance(node, MappingNode):
            kind = "a list" if isinstance(node, SequenceNode) else "a single value"
            raise _AbortError(
                Problem(
                    "",
                    "expected a mapping of scenario fields (name, duration_h, waves, ...) "
                    f"at the top level, got {kind}",
                    *_pos(node),
                )
            )
        builder = _Builder()
        builder.doc.data = builder.build(node, (), 1)
    except _AbortError as exc:
        raise ScenarioError(file, [exc.problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or str(exc)
        if exc.context and "single document" in exc.context:
            message = "the file holds more than one YAML document ('---'); a scenario is one"
        elif exc.context:
            ctx_at = ""
            if exc.context_mark is not None and exc.context_mark is not mark:
                ctx_at = f" at line {exc.context_mark.line + 1}"
            message += f" ({exc.context}{ctx_at})"
        if "'\\t'" in message:
            message += "; YAML does not allow tabs for indentation: indent with spaces"
        where = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise ScenarioError(file, [Problem("", f"YAML syntax error: {message}", *where)]) from None
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        char = exc.character
        code = f"U+{char if isinstance(char, int) else ord(char[:1] or ' '):04X}"
        raise ScenarioError(
            file,
            [Problem("", f"the character {code} is not allowed in YAML text", line, col)],
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(file, [Problem("", f"YAML error: {exc}")]) from None
    except RecursionError:  # belt and braces: the depth limit should come first
        raise ScenarioError(file, [Problem("", "the document is nested too deeply")]) from None
    if builder.problems:
        raise ScenarioError(file, _sorted(list(dict.fromkeys(builder.problems))))
    return builder.doc


# --------------------------------------------------------------------------------------------
# The scenario model's types, walked along a data path


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[Any]:
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [_unwrap(m) for m in typing.get_args(tp) if m is not type(None)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _pick_model(tp: Any, data: Any) -> type[BaseModel] | None:
    """The model among ``tp``'s members, chosen by the data's ``kind`` when there are several."""
    models = [m for m in _members(tp) if _is_model(m)]
    if len(models) > 1 and isinstance(data, dict):
        for m in models:
            kind = m.model_fields.get("kind")
            if kind is not None and data.get("kind") in typing.get_args(kind.annotation):
                return m
    return models[0] if models else None


def _step(tp: Any, seg: str | int, data: Any) -> Any:
    model = _pick_model(tp, data)
    if model is not None and isinstance(seg, str) and seg in model.model_fields:
        return model.model_fields[seg].annotation
    for m in _members(tp):
        origin, args = typing.get_origin(m), typing.get_args(m)
        if origin is list and isinstance(seg, int):
            return args[0]
        if origin is tuple and isinstance(seg, int) and args:
            if len(args) == 2 and args[1] is Ellipsis:
                return args[0]
            return args[seg] if seg < len(args) else None
        if origin is dict and isinstance(seg, str):
            return args[1]
    return None


def _child(data: Any, seg: str | int) -> Any:
    if isinstance(data, dict) and isinstance(seg, str):
        return data.get(seg)
    if isinstance(data, list) and isinstance(seg, int) and 0 <= seg < len(data):
        return data[seg]
    return None


def _type_at(loc: Loc, document: Any) -> tuple[Any, Any]:
    """The model type at ``loc`` in a scenario document (None if unknown) and the data there."""
    tp: Any = Scenario
    data = document
    for seg in loc:
        tp = _step(tp, seg, data)
        data = _child(data, seg)
        if tp is None:
            return None, data
    return tp, data


def _fixed_tuple(tp: Any) -> tuple[Any, ...] | None:
    for m in _members(tp):
        if typing.get_origin(m) is tuple:
            args = typing.get_args(m)
            if args and not (len(args) == 2 and args[1] is Ellipsis):
                return args
    return None


def _words(tp: Any) -> str:
    """What a value of type ``tp`` looks like, in words."""
    parts = []
    for m in _members(tp):
        origin = typing.get_origin(m)
        if m is bool:
            parts.append("true or false")
        elif m is int:
            parts.append("an integer")
        elif m is float:
            parts.append("a number")
        elif m is str:
            parts.append("text")
        elif m is dt.datetime:
            parts.append("a date and time such as 2025-09-09T23:30:00+02:00")
        elif origin is Literal:
            parts.append("one of " + ", ".join(repr(a) for a in typing.get_args(m)))
        elif origin is tuple and _fixed_tuple(m):
            args = _fixed_tuple(m) or ()
            inner = _words(args[0])
            plural = {"a number": "numbers", "an integer": "integers"}.get(inner, "values")
            parts.append(f"a list of {len(args)} {plural}")
        elif origin is list:
            parts.append("a list")
        elif origin is dict:
            parts.append("a mapping")
        elif _is_model(m):
            required = [n for n, f in m.model_fields.items() if f.is_required()]
            with_ = f" with {', '.join(required)}" if required else ""
            parts.append(f"a mapping{with_}")
        else:
            parts.append(getattr(m, "__name__", str(m)))
    return " or ".join(dict.fromkeys(parts)) or "a value"


# --------------------------------------------------------------------------------------------
# Validation errors in plain English


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _digits(v: int) -> str:
    return str(len(str(abs(v)))) if abs(v).bit_length() < 10_000 else "thousands of"


def _describe(v: Any) -> str:
    """The value found, as a user would recognise it from the file."""
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if abs(v) < 10**30 else f"an integer of {_digits(v)} digits"
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        return repr(v)
    if isinstance(v, str):
        return f"'{_clip(v)}'" if v else "empty text"
    if isinstance(v, dt.datetime | dt.date):
        return f"the date {v.isoformat()}"
    if isinstance(v, dict):
        return "a mapping" if v else "an empty mapping"
    if isinstance(v, list | tuple):
        n = len(v)
        return "an empty list" if n == 0 else f"a list of {n} item{'s' if n != 1 else ''}"
    return type(v).__name__


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "int_parsing_size": "an integer of at most 19 digits",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "datetime_type": "a date and time such as 2025-09-09T23:30:00+02:00",
    "datetime_parsing": "a date and time such as 2025-09-09T23:30:00+02:00",
    "datetime_from_date_parsing": "a date and time such as 2025-09-09T23:30:00+02:00",
}
_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}
_PATTERNS = {
    _scenario._NAME: "a name of ASCII letters (a-z, A-Z), digits, '-' and '_'",
    _scenario._IDENT: "an id of ASCII letters, digits, '.', '-' and '_', not starting with '.'",
}


def _is_shape_error(etype: str) -> bool:
    return etype in _TYPE_WORDS and etype not in ("finite_number", "int_from_float")


@dataclasses.dataclass
class _Issue:
    """One problem before it is placed in the file."""

    loc: Loc
    message: str
    at_key: bool = False
    expected: str | None = None  # for merging the alternatives of a union
    got: str | None = None


def _expected(err: Mapping[str, Any], tp: Any) -> str:
    etype, ctx = err["type"], err.get("ctx") or {}
    if etype in _BOUNDS:
        key, op = _BOUNDS[etype]
        kind = "an integer" if int in _members(tp) and float not in _members(tp) else "a number"
        return f"{kind} {op} {_num(ctx.get(key))}"
    if etype == "tuple_type":
        fixed = [m for m in _members(tp) if typing.get_origin(m) is tuple and _fixed_tuple(m)]
        if fixed:
            return _words(fixed[0])
    if etype in _TYPE_WORDS:
        return _TYPE_WORDS[etype]
    if etype == "literal_error":
        return f"one of {ctx.get('expected')}"
    if etype == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        return _PATTERNS.get(pattern, f"text matching {pattern}")
    if etype == "string_too_short":
        return "non-empty text"
    if etype == "string_too_long":
        return f"text of at most {ctx.get('max_length')} characters"
    if etype in ("too_short", "too_long"):
        bound = "at least" if etype == "too_short" else "at most"
        n = ctx.get("min_length" if etype == "too_short" else "max_length")
        is_map = any(typing.get_origin(m) is dict for m in _members(tp))
        noun = "entr" + ("y" if n == 1 else "ies") if is_map else "item" + ("" if n == 1 else "s")
        return f"{'a mapping' if is_map else 'a list'} of {bound} {n} {noun}"
    msg = str(err.get("msg", ""))
    return msg[:1].lower() + msg[1:] if msg else "a valid value"


def _got(err: Mapping[str, Any]) -> str:
    etype, value = err["type"], err.get("input")
    if etype in ("too_short", "too_long") and isinstance(value, dict | list | tuple):
        n = len(value)
        return "none" if n == 0 else str(n)
    if etype == "string_too_long" and isinstance(value, str):
        return f"{len(value)} characters"
    return _describe(value)


def _quote_hint(err: Mapping[str, Any]) -> str:
    value = err.get("input")
    if err["type"] in ("int_type", "float_type", "bool_type") and isinstance(value, str):
        words = value.strip().lower()
        if err["type"] == "bool_type":
            bools = ("true", "false", "yes", "no", "on", "off")
            return " (write true or false without quotes)" if words in bools else ""
        try:
            float(words)
        except ValueError:
            return ""
        return " (write the number without quotes)"
    if err["type"] != "string_type":
        return ""
    if isinstance(value, bool):
        return " (YAML reads yes/no/on/off/true/false as true or false: put the text in quotes)"
    if isinstance(value, int | float | dt.date):
        return " (put it in quotes to use it as text)"
    return ""


def _allowed(loc: Loc, document: Any) -> list[str]:
    tp, data = _type_at(loc, document)
    model = _pick_model(tp, data) if tp is not None else None
    return list(model.model_fields) if model is not None else []


def _split_cross_references(message: str) -> list[tuple[str, str]]:
    """Split 'waves[0].type: ...; defenders[1].weapon: ...' into (path, message) pairs."""
    pieces: list[str] = []
    for piece in message.split("; "):
        if pieces and not re.match(r"^[A-Za-z_][\w.\-\[\]]*: ", piece):
            pieces[-1] += "; " + piece  # a '; ' inside one message
        else:
            pieces.append(piece)
    out = []
    for piece in pieces:
        m = re.match(r"^([A-Za-z_][\w.\-\[\]]*): (.*)$", piece, re.S)
        out.append((m.group(1), m.group(2)) if m else ("", piece))
    return out


def _resolve_loose(path: str, document: Any) -> Loc:
    """Best-effort data path of a path string (names with dots matched against the data)."""
    tokens = _tokens(path)
    loc: list[str | int] = []
    data = document
    i = 0
    while i < len(tokens):
        found = _match(data, tokens, i)
        if found is None:
            loc.extend(tokens[i:])
            break
        seg, i = found
        loc.append(seg)
        data = _child(data, seg)
    return tuple(loc)


def _match(data: Any, tokens: list[str | int], i: int) -> tuple[str | int, int] | None:
    """The segment of ``data`` that ``tokens[i:]`` starts with (longest dotted name first)."""
    tok = tokens[i]
    if isinstance(data, list):
        if isinstance(tok, int):  # [2]
            return (tok, i + 1) if tok < len(data) else None
        names = [d.get("name") if isinstance(d, dict) else None for d in data]
        for j in range(len(tokens), i, -1):
            if all(isinstance(t, str) for t in tokens[i:j]):
                name = ".".join(str(t) for t in tokens[i:j])
                if name in names:
                    return names.index(name), j
        if _DIGITS.fullmatch(tok) and int(tok) < len(data):  # .2 when no item is named '2'
            return int(tok), i + 1
        return None
    if isinstance(data, dict):
        for j in range(len(tokens), i, -1):
            if all(isinstance(t, str) for t in tokens[i:j]):
                key = ".".join(str(t) for t in tokens[i:j])
                if key in data:
                    return key, j
        return None
    return None


def _issues(exc: ValidationError, document: Any) -> list[_Issue]:
    """Translate pydantic's errors on ``document`` into issues at data paths."""
    # Each error's path in the data; segments that are not in the data are pydantic's union tags.
    rows = []
    for err in exc.errors(include_url=False):
        etype = err["type"]
        loc: list[str | int] = []
        data = document
        union: tuple[Loc, str] | None = None
        at_key = False
        segs = err["loc"]
        for n, seg in enumerate(segs):
            if seg == "[key]":
                at_key = True
            elif (isinstance(data, list) and isinstance(seg, int) and 0 <= seg < len(data)) or (
                isinstance(data, dict) and isinstance(seg, str) and seg in data
            ):
                loc.append(seg)
                data = data[seg]
            elif n == len(segs) - 1 and etype == "missing":
                loc.append(seg)
            elif union is None:
                union = (tuple(loc), str(seg))
        rows.append((err, tuple(loc), union, at_key))

    # Alternatives of a union (a number or a list of two): keep the alternative that matches the
    # value's shape; if none does, say every alternative once.
    by_union: dict[Loc, dict[str, list[int]]] = {}
    for k, (_err, _loc, union, _at_key) in enumerate(rows):
        if union is not None:
            by_union.setdefault(union[0], {}).setdefault(union[1], []).append(k)
    drop: set[int] = set()
    merged_union: set[Loc] = set()
    for point, branches in by_union.items():
        if len(branches) < 2:
            continue
        shape_only = {
            tag: all(rows[k][1] == point and _is_shape_error(rows[k][0]["type"]) for k in branch)
            for tag, branch in branches.items()
        }
        if not all(shape_only.values()):
            for tag, branch in branches.items():
                if shape_only[tag]:
                    drop.update(branch)
        else:
            merged_union.add(point)

    issues: list[_Issue] = []
    listed: set[Loc] = set()  # mappings whose allowed fields were listed once already
    for k, (err, loc, _union, at_key) in enumerate(rows):
        if k not in drop:
            issues.extend(_issue(err, loc, at_key, document, listed))
    # One message per union whose alternatives all failed on shape.
    out: list[_Issue] = []
    seen: dict[Loc, _Issue] = {}
    for issue in issues:
        if issue.loc in merged_union and issue.expected is not None:
            first = seen.get(issue.loc)
            if first is not None:
                if issue.expected not in (first.expected or ""):
                    first.expected = f"{first.expected} or {issue.expected}"
                    first.message = f"expected {first.expected}, got {first.got}"
                continue
            seen[issue.loc] = issue
        out.append(issue)
    return out


def _issue(
    err: Mapping[str, Any], loc: Loc, at_key: bool, document: Any, listed: set[Loc]
) -> list[_Issue]:
    etype = err["type"]
    ctx = err.get("ctx") or {}
    tp, _ = _type_at(loc, document)
    if etype == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed(loc[:-1], document)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hints = [f"did you mean '{close[0]}'?"] if close else []
        if allowed and loc[:-1] not in listed:
            hints.append(f"allowed: {', '.join(allowed)}")
            listed.add(loc[:-1])
        extra = f" ({' '.join(hints)})" if hints else ""
        return [_Issue(loc, f"unknown field '{key}'{extra}", at_key=True)]
    if etype == "missing":
        if isinstance(loc[-1], int):
            parent_tp, parent = _type_at(loc[:-1], document)
            return [
                _Issue(
                    loc[:-1],
                    f"expected {_words(parent_tp)}, got {_describe(parent)}",
                )
            ]
        what = f" (expected {_words(tp)})" if tp is not None else ""
        return [_Issue(loc, f"required field is missing{what}")]
    if etype in ("union_tag_invalid", "union_tag_not_found"):
        disc = str(ctx.get("discriminator", "'kind'")).strip("'")
        tags = [
            a
            for m in _members(tp)
            if _is_model(m) and disc in m.model_fields
            for a in typing.get_args(m.model_fields[disc].annotation)
        ]
        options = " or ".join(repr(t) for t in tags) or str(ctx.get("expected_tags"))
        if etype == "union_tag_not_found":
            if not isinstance(err.get("input"), dict):
                return [_Issue(loc, f"expected a mapping, got {_describe(err.get('input'))}")]
            return [_Issue((*loc, disc), f"required field is missing (expected {options})")]
        return [_Issue((*loc, disc), f"expected {options}, got {_describe(ctx.get('tag'))}")]
    if etype in ("value_error", "assertion_error"):
        msg = str(err.get("msg", ""))
        msg = re.sub(r"^(Value|Assertion) error, ", "", msg)
        if loc == ():
            return [
                _cross_reference(path, text, document)
                for path, text in _split_cross_references(msg)
            ]
        return [_Issue(loc, msg)]
    expected = _expected(err, tp)
    got = _got(err)
    return [
        _Issue(
            loc,
            f"expected {expected}, got {got}{_quote_hint(err)}",
            at_key=at_key,
            expected=expected,
            got=got,
        )
    ]


def _cross_reference(path: str, text: str, document: Any) -> _Issue:
    """An issue from the scenario's cross-reference check, at the item it is about."""
    loc = _resolve_loose(path, document) if path else ()
    twice = re.fullmatch(r"the name '(.*)' is used twice", text)
    items = _child_at(document, loc)
    if twice and isinstance(items, list):
        names = [i.get("name") if isinstance(i, dict) else None for i in items]
        dup = [j for j, n in enumerate(names) if n == twice.group(1)]
        if len(dup) > 1:
            first = f" (also {format_path((*loc, dup[0]))})"
            return _Issue((*loc, dup[1], "name"), text + first)
    return _Issue(loc, text)


def _child_at(data: Any, loc: Loc) -> Any:
    for seg in loc:
        data = _child(data, seg)
    return data


def _place(issue: _Issue, doc: _Doc | None) -> Problem:
    line = col = None
    if doc is not None:
        pos = doc.key_marks.get(issue.loc) if issue.at_key else None
        loc = issue.loc
        while pos is None:
            pos = doc.marks.get(loc)
            if not loc:
                break
            loc = loc[:-1]
        if pos is not None and (issue.loc or issue.at_key):
            line, col = pos
    return Problem(format_path(issue.loc), issue.message, line, col)


def _sorted(problems: list[Problem]) -> list[Problem]:
    problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0, p.path))
    if len(problems) > MAX_PROBLEMS:
        rest = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], Problem("", f"... and {rest} more problems")]
    return problems


# --------------------------------------------------------------------------------------------
# Loading


def _read(path: Path, file: str) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(file, [Problem("", "no such file")]) from None
    except IsADirectoryError:
        raise ScenarioError(file, [Problem("", "is a folder, not a scenario file")]) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        reason = getattr(exc, "strerror", None) or exc
        raise ScenarioError(file, [Problem("", f"cannot read: {reason}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(file, [_too_big()])
    return _decode(raw, file)


def _too_big() -> Problem:
    return Problem(
        "",
        f"the file is larger than {MAX_FILE_BYTES / 1e6:g} MB ({MAX_FILE_BYTES:,} bytes), "
        "the limit for a scenario file",
    )


def _decode(raw: bytes, file: str | None) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(
            file,
            [
                Problem(
                    "",
                    f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                    f"{exc.start} cannot be decoded): save it as UTF-8",
                    line,
                    col,
                )
            ],
        ) from None


def _validate(
    doc: _Doc, file: str | None, base_dir: Path | None, *, check_files: bool = True
) -> Scenario:
    # read only: merge_catalogue copies the entries it takes
    catalogue = shared_catalogue()
    document = merge_catalogue(doc.data, catalogue)
    builtin = {kind: tuple(map(str, catalogue.get(kind, {}))) for kind in CATALOGUE_KINDS}
    try:
        scenario = Scenario.model_validate(
            document, context={"base_dir": base_dir, "catalogue_ids": builtin}
        )
    except ValidationError as exc:
        problems = [_place(i, doc) for i in _issues(exc, document)]
        raise ScenarioError(file, _sorted(list(dict.fromkeys(problems)))) from None
    if check_files:
        problems = [_place(i, doc) for i in _check_files(scenario)]
        if problems:
            raise ScenarioError(file, _sorted(problems))
    return scenario


def _check_files(scenario: Scenario) -> list[_Issue]:
    """The border and no-fire polygons the scenario names can be read, its area can be
    projected, and every no-fire zone overlaps that area."""
    from sim import geo  # geometry is heavy; only needed once the document is valid
    from sim.world import fit_projection, no_fire_zone_problems

    issues = []
    zones = scenario.geography.no_fire_zones
    polygons = {}
    for i, zone in enumerate(zones):
        if zone.polygon is None:
            continue
        try:
            polygons[i] = geo.load_polygon_file(zone.polygon)
        except (GeographyError, OSError, ValueError) as exc:
            issues.append(_Issue(("geography", "no_fire_zones", i, "polygon"), str(exc)))
    try:
        territory = geo.load_territory(scenario.geography.border)
    except (GeographyError, OSError, ValueError) as exc:
        issues.insert(0, _Issue(("geography", "border"), str(exc)))
        return issues
    try:
        projection, pts = fit_projection(scenario, territory)
        territory_xy = geo.project_geometry(territory, projection)
    except GeographyError as exc:
        issues.append(_outlier_issue(scenario, territory, str(exc)))
        return issues
    for i, message in no_fire_zone_problems(scenario, projection, pts, territory_xy, polygons):
        loc = ("geography", "no_fire_zones", i, *(("polygon",) if zones[i].polygon else ()))
        issues.append(_Issue(loc, message))
    return issues


def _outlier_issue(scenario: Scenario, territory: Any, message: str) -> _Issue:
    """An area too large to project, placed at the position farthest from the others (most
    often one whose latitude and longitude are swapped), so the message names its field."""
    import shapely

    x0, y0, x1, y1 = (float(v) for v in shapely.bounds(territory))
    border: Loc = ("geography", "border")
    places: list[tuple[Loc, float, float]] = [(border, x0, y0), (border, x1, y1)]
    for i, w in enumerate(scenario.waves):
        places.append((("waves", i, "launch", "lat"), w.launch.lon, w.launch.lat))
        places += [(("waves", i, "route", j, "lat"), p.lon, p.lat) for j, p in enumerate(w.route)]
    for kind in ("sensors", "defenders", "electronic_warfare"):
        items = getattr(scenario, kind)
        places += [((kind, i, "lat"), item.lon, item.lat) for i, item in enumerate(items)]
    lons = sorted(lon for _, lon, _ in places)
    lats = sorted(lat for _, _, lat in places)
    mid_lon, mid_lat = lons[len(lons) // 2], lats[len(lats) // 2]
    shrink = math.cos(math.radians(mid_lat))

    def away(lon: float, lat: float) -> float:
        return math.hypot(lat - mid_lat, (lon - mid_lon) * shrink)

    loc, lon, lat = max(places, key=lambda p: away(p[1], p[2]))
    if loc == border:
        where = f"the territory (lon {x0:.2f}..{x1:.2f}, lat {y0:.2f}..{y1:.2f})"
    else:
        where = f"this position (lat {lat:g}, lon {lon:g})"
    hint = "; are latitude and longitude swapped?" if away(lat, lon) < away(lon, lat) else ""
    return _Issue(loc, f"{message}. Farthest from the other positions: {where}{hint}")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        The YAML file. Relative paths inside it (a border or no-fire polygon GeoJSON) resolve
        against its folder.

    Returns
    -------
    Scenario
        The validated scenario with the catalogue entries it uses filled in.

    Raises
    ------
    ScenarioError
        With every problem found: file, line and column, field path and what was expected.
    """
    if not isinstance(path, str | os.PathLike):
        raise IncursionError(f"a scenario file path is expected, got {type(path).__name__}")
    p = Path(path)
    file = str(path)
    text = _read(p, file)
    return _validate(_parse(text, file), file, p.absolute().parent)


def load_scenario_text(
    text: str, *, base_dir: str | Path | None = None, name: str = "<string>"
) -> Scenario:
    """Validate a scenario given as YAML text (tests, notebooks).

    Parameters
    ----------
    text : str
        The YAML document.
    base_dir : str or Path, optional
        Folder that relative paths in the document resolve against (default: left relative,
        that is, to the working directory).
    name : str
        What error messages call the document.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise ScenarioError(name, [Problem("", f"not UTF-8 text: {err}")]) from None
    if not isinstance(text, str):
        raise IncursionError(f"scenario text must be a str, got {type(text).__name__}")
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise ScenarioError(name, [_too_big()])
    return _validate(_parse(text, name), name, Path(base_dir) if base_dir is not None else None)


# --------------------------------------------------------------------------------------------
# Writing back out


def scenario_to_document(s: Scenario) -> dict[str, Any]:
    """The scenario as plain JSON-compatible data, every default and catalogue value filled in.

    Unset optional fields are left out, except in ``drone_types``, ``weapons`` and
    ``platforms``, whose entries list every field (an explicit null overrides a catalogue value,
    so the document loads back to an equal scenario).
    """
    doc = s.model_dump(mode="json", exclude_none=True)
    for kind in CATALOGUE_KINDS:
        entries = {}
        for ident, entry in getattr(s, kind).items():
            dumped = entry.model_dump(mode="json", exclude_none=True)
            fields = [f for f in type(entry).model_fields if f != "sources"] + ["sources"]
            entries[ident] = {f: dumped.get(f) for f in fields}
        doc[kind] = entries
    return doc


def dump_resolved_yaml(s: Scenario) -> str:
    """The resolved scenario as YAML: what ran, with every default and catalogue value.

    It loads back (:func:`load_scenario_text`) to a scenario equal to ``s``.
    """
    return yaml.dump(
        scenario_to_document(s),
        Dumper=_ResolvedDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


# --------------------------------------------------------------------------------------------
# Changing fields by path


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (from a sweep design) to Python numbers and lists."""
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | int):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool | int | float):
        return float(value)
    return value


def _existing(data: Any) -> str:
    if isinstance(data, list):
        names = [d["name"] for d in data if isinstance(d, dict) and isinstance(d.get("name"), str)]
        if names:
            return f"the items {', '.join(names)} (or an index 0-{len(data) - 1})"
        return f"the indices 0-{len(data) - 1}" if data else "no items"
    if isinstance(data, dict):
        return f"the entries {', '.join(map(str, data))}" if data else "no entries"
    return _describe(data)


def _resolve(document: dict[str, Any], path: str) -> Loc:
    """The location in ``document`` that ``path`` names, list items as their index.

    Two spellings of one field (``defenders.b1.magazine``, ``defenders.0.magazine`` and
    ``defenders[0].magazine`` when ``b1`` is the first defender) give the same location. The
    last part may be a key :func:`set_path` may add (see :func:`_new_key`). A part made of digits
    that is both the name of one list item and the index of another is refused as ambiguous.

    Raises
    ------
    ScenarioError
        If the path does not exist or is ambiguous.
    """
    tokens = _tokens(path)
    if not path or any(t == "" for t in tokens):
        raise ScenarioError(None, [Problem(path, "not a field path (expected a.b.c)")])
    loc: list[str | int] = []
    data: Any = document
    i = 0
    while True:
        found = _match(data, tokens, i) or _new_key(document, tuple(loc), data, tokens, i, path)
        seg, j = found
        if isinstance(data, list):
            _unambiguous(data, tokens[i], seg, tuple(loc), path)
        loc.append(seg)
        if j == len(tokens):
            return tuple(loc)
        data = data[seg]
        i = j


class _AmbiguousPathError(ScenarioError):
    """A path with a part that may mean two list items (see :func:`_unambiguous`)."""


def _unambiguous(items: list[Any], tok: str | int, seg: str | int, loc: Loc, path: str) -> None:
    """Refuse a digit part of a path that names one item of ``items`` and indexes another."""
    if not (isinstance(tok, str) and _DIGITS.fullmatch(tok)):
        return
    k = int(tok)
    if k >= len(items) or seg == k:
        return
    where = format_path(loc) or "the top level"
    other = items[k].get("name") if isinstance(items[k], dict) else None
    that = f"{where}[{k}]" + (f" (named '{other}')" if isinstance(other, str) else "")
    use = f"{where}.{other}" if isinstance(other, str) else f"{where}[{k}]"
    message = (
        f"'{tok}' in {where} is ambiguous: it is the name of {where}[{seg}] and the index of "
        f"{that}: write {use} for {where}[{k}], or {where}[{seg}] for the item named '{tok}'"
    )
    raise _AmbiguousPathError(None, [Problem(path, message)])


def _set(document: dict[str, Any], path: str, value: Any) -> Loc:
    loc = _resolve(document, path)
    _set_at(document, loc, value)
    return loc


def _set_at(document: dict[str, Any], loc: Loc, value: Any) -> None:
    data: Any = document
    for seg in loc[:-1]:
        data = data[seg]
    data[loc[-1]] = _plain(value)


def _contains(outer: Loc, inner: Loc) -> bool:
    """Whether location ``inner`` is ``outer`` or lies inside it."""
    return inner[: len(outer)] == outer


def _overlaps(locs: list[Loc]) -> list[tuple[int, int]]:
    """Pairs ``(a, b)`` of indices into ``locs`` where ``locs[a]`` contains ``locs[b]`` (or
    equals it): every location that lies in (or is) an earlier-sorted one, paired with the
    innermost such one."""

    def key(loc: Loc) -> tuple[tuple[int, Any], ...]:
        return tuple((0, s) if isinstance(s, int) else (1, s) for s in loc)

    order = sorted(range(len(locs)), key=lambda n: (key(locs[n]), n))
    stack: list[int] = []
    pairs = []
    for n in order:
        while stack and not _contains(locs[stack[-1]], locs[n]):
            stack.pop()
        if stack:
            pairs.append((stack[-1], n))
        stack.append(n)
    return pairs


def _overlap_text(path: str, loc: Loc, other: str, other_loc: Loc, ref: str = "") -> str:
    """How setting ``path`` (at ``loc``) collides with setting ``other`` (at ``other_loc``, one of
    them containing the other); ``ref`` says where ``other`` is written."""
    named = f"'{other}'" + (f" ({ref})" if ref else "")
    if loc == other_loc:
        return f"'{path}' sets {format_path(loc)}, as {named} does"
    if _contains(other_loc, loc):
        return (
            f"'{path}' sets {format_path(loc)}, which is part of {format_path(other_loc)}, set "
            f"whole by {named}"
        )
    return (
        f"'{path}' sets the whole {format_path(loc)}, of which {named} sets "
        f"{format_path(other_loc)}"
    )


def _new_key(
    document: Any, loc: Loc, data: Any, tokens: list[str | int], i: int, path: str
) -> tuple[str, int]:
    """A key ``set_path`` may add: an unset field of a model, or a new entry of a mapping field."""
    tok = tokens[i]
    tp, _ = _type_at(loc, document)
    model = _pick_model(tp, data) if tp is not None else None
    if i == len(tokens) - 1 and isinstance(tok, str) and isinstance(data, dict):
        if model is not None and tok in model.model_fields:
            return tok, i + 1
        if model is None and any(typing.get_origin(m) is dict for m in _members(tp)):
            return tok, i + 1
    where = format_path(loc) or "the top level"
    if isinstance(data, dict) and model is not None:
        message = f"no '{tok}' in {where}: it has the fields {', '.join(model.model_fields)}"
    elif isinstance(data, dict | list):
        message = f"no '{tok}' in {where}: it has {_existing(data)}"
    else:
        message = f"{where} is a single value ({_describe(data)}): it has no '{tok}'"
    raise ScenarioError(None, [Problem(path, message)])


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    """Set one field of a scenario document (plain data) in place.

    Parameters
    ----------
    document : dict
        A scenario document, e.g. from :func:`scenario_to_document`.
    path : str
        Dotted path. List items are addressed by ``name`` or by index: ``waves.north.count``,
        ``defenders.narew-1.magazine``, ``defenders[0].magazine`` (or ``defenders.0.magazine``),
        ``weapons.aim9x.cost_usd``, ``doctrine.assignment``. A part made of digits that is the
        name of one item and the index of another (a defender named ``1`` that is not
        ``defenders[1]``) is ambiguous and refused: use the other item's name, or ``[index]``.
        The last part may name a field the model has but the document leaves unset
        (``defenders.narew-1.reload_min``) or a new key of a mapping field
        (``defenders.qra.loadout.aim120c``).
    value : Any
        The new value (numpy numbers are converted to Python numbers).

    Raises
    ------
    ScenarioError
        If the path does not exist or is ambiguous: the message names the path and what exists
        there.
    """
    _set(document, path, value)


def with_changes(s: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """A copy of a scenario with some fields changed, validated again.

    Parameters
    ----------
    s : Scenario
    changes : mapping of str to Any
        Dotted path (see :func:`set_path`) to new value. Every path names a field of ``s`` (not
        of the scenario as changed by the other paths), and no two may set the same field, or
        one a field inside the other (``defenders.b1.magazine`` with ``defenders.0.magazine``
        when ``b1`` is the first defender, or with ``defenders.b1``): refused, as one would
        overwrite the other. A changed catalogued number (``weapons.aim9x.cost_usd``) loses its
        catalogue source.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        If a path does not exist or is ambiguous, two paths set the same field, or the changed
        scenario is not valid (each problem names the change it comes from).
    """
    if not isinstance(changes, Mapping) or not all(isinstance(k, str) for k in changes):
        raise IncursionError(
            "changes must map dotted paths (str) to new values, e.g. {'waves.north.count': 40}"
        )
    document = scenario_to_document(s)
    changed: dict[str, Loc] = {path: _resolve(document, path) for path in changes}
    paths = list(changed)
    locs = list(changed.values())
    clashes = []
    for a, b in _overlaps(locs):
        later, earlier = max(a, b), min(a, b)
        text = _overlap_text(paths[later], locs[later], paths[earlier], locs[earlier])
        clashes.append(
            Problem(paths[later], f"{text}: one would overwrite the other; drop one of them")
        )
    if clashes:
        raise ScenarioError(f"scenario {s.name!r}", clashes)
    for path, value in changes.items():
        loc = changed[path]
        _set_at(document, loc, copy.deepcopy(value))
        if len(loc) >= 3 and loc[0] in CATALOGUE_KINDS and loc[2] != "sources":
            sources = document[loc[0]][loc[1]].get("sources")
            if isinstance(sources, dict):
                sources.pop(loc[2], None)
    check_files = any(loc[0] == "geography" for loc in changed.values())
    try:
        return _validate(_Doc(document), None, None, check_files=check_files)
    except ScenarioError as exc:
        problems = []
        for p in exc.problems:
            ploc = _resolve_loose(p.path, document)
            related = [
                path
                for path, loc in changed.items()
                if ploc[: len(loc)] == loc or loc[: len(ploc)] == ploc
            ]
            label = ", ".join(related or list(changed))
            same = not p.path or ploc in changed.values()
            detail = p.message if same else f"{p.path}: {p.message}"
            problems.append(Problem(label, f"invalid after the change: {detail}"))
        raise ScenarioError(f"scenario {s.name!r}", problems) from None


# --------------------------------------------------------------------------------------------
# JSON Schema


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the scenario file, for editors.

    Entries of ``drone_types``, ``weapons`` and ``platforms`` have no required fields: in a file
    they may override single fields of a catalogue entry.
    """
    schema = Scenario.model_json_schema()
    defs = schema.get("$defs", {})
    for model in CATALOGUE_KINDS.values():
        entry = defs.get(model.__name__)
        if entry is not None:
            entry.pop("required", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "incursion scenario",
        **{k: v for k, v in schema.items() if k != "title"},
    }
