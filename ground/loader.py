"""The one reader of YAML and JSON inputs: UTF-8 only, bounded in size and depth, no duplicates.

Every file a user hands the toolkit (stack, profile, export, preview, plan, inventory, policy
config) goes through `load`. What it refuses, each as one `file: key: message` line:

- bytes that are not UTF-8 (a PowerShell `>` writes UTF-16 with a byte-order mark: named as such);
- a key given twice in one YAML mapping (the engine's YAML parser refuses it too) or in a JSON
  file a person writes (policy config, inventory). State documents (exports, previews, plans)
  are machine-written and read as the engine's Go JSON reader reads them, the last value
  winning: checking every object of a 10,000-resource export would double its parse time;
- keys that are not strings (`1:`, `null:`), tags other than the plain YAML types (`!!binary`,
  `!!set`, `!!python/...`), NaN and infinities;
- nesting deeper than MAX_DEPTH and YAML aliases expanding to more than MAX_NODES nodes (an
  "alias bomb" is a few hundred bytes that expand to gigabytes once walked).

YAML is read with the YAML 1.2 core schema, as the engine's Go parser reads it: `yes`, `on`,
`2024-01-01` and `1:20` stay strings (PyYAML's default YAML 1.1 turns them into a boolean, a
date and the integer 80).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from ground.errors import ConfigError

MAX_DEPTH = 100  # levels of nesting; real exports stay under 20
MAX_NODES = 2_000_000  # YAML nodes once aliases are expanded
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def decode(data: bytes, where: str) -> str:
    """UTF-8 text of `data` (a UTF-8 byte-order mark is dropped); anything else is refused."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise ConfigError(
                where,
                "",
                f"encoded as {name} (a PowerShell `>` redirect writes this): save it as UTF-8",
            )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(where, "", f"not UTF-8 text (invalid byte at line {line})") from None
    if "\x00" in text:
        raise ConfigError(where, "", "holds NUL bytes: not a text file (UTF-16 without a BOM?)")
    return text.removeprefix("\ufeff")


def read(path: Path | str, where: str | None = None) -> str:
    """The UTF-8 text of a file ('-': standard input)."""
    where = where or str(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(where, "", f"cannot read: {exc.strerror or exc}") from None
    return decode(data, where)


def load(path: Path | str, kind: str = "auto", where: str | None = None) -> Any:
    """Parse a JSON or YAML file (kind 'json', 'yaml', 'state' for a machine-written JSON state
    document, or 'auto': by suffix, JSON if '-')."""
    where = where or str(path)
    text = read(path, where)
    if kind == "auto":
        kind = "yaml" if str(path).endswith((".yaml", ".yml")) else "json"
    if kind == "yaml":
        return load_yaml(text, where)
    return load_json(text, where, duplicates=kind != "state")


# ---------------------------------------------------------------- JSON


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return out


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def load_json(text: str, where: str, duplicates: bool = True) -> Any:
    """Parse JSON text, refusing NaN/Infinity, nesting beyond MAX_DEPTH and, unless
    `duplicates` is False (the last value wins, as in Go), keys given twice."""
    # The C decoder counts each nested object/array against the recursion limit: lowering the
    # limit to about "here + MAX_DEPTH" bounds the depth at no cost per value (a walk of a
    # 10,000-resource export to measure its depth would cost more than the parse). C calls
    # below us count too and Python frames alone cannot see them: the slack keeps MAX_DEPTH
    # levels readable from any caller; the bound is approximate, its purpose is a bound.
    depth = _stack_depth()
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + MAX_DEPTH + 50)
    try:
        hook = _pairs if duplicates else None
        return json.loads(text, object_pairs_hook=hook, parse_constant=_no_constant)
    except _Duplicate as exc:
        raise ConfigError(where, _shown_key(exc.key), "duplicate key") from None
    except RecursionError:
        raise ConfigError(where, "", f"nested deeper than about {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise ConfigError(where, "", f"not JSON: {exc}") from None
    finally:
        sys.setrecursionlimit(old)


def _stack_depth() -> int:
    frame, n = sys._getframe(), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1  # type: ignore[assignment]
    return n


def _shown_key(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 60 and text.isprintable() else repr(text[:60])


# ---------------------------------------------------------------- YAML


def load_yaml(text: str, where: str) -> Any:
    """Parse one YAML document with the core schema, bounded and without duplicate keys."""
    import yaml  # only YAML readers pay for it

    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, where)
        return loader.construct_document(node)
    except _YamlProblem as exc:
        raise ConfigError(where, exc.key, exc.msg) from None
    except RecursionError:
        raise ConfigError(where, "", f"nested deeper than {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(where, "", f"not valid YAML: {problem}{at}") from None
    finally:
        loader.dispose()


class _YamlProblem(Exception):
    def __init__(self, key: str, msg: str) -> None:
        super().__init__(msg)
        self.key, self.msg = key, msg


def _check_size(root: Any, where: str) -> None:
    """Expanded node count and depth of a node graph (aliases are shared nodes), iteratively."""
    import yaml

    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node, yaml)
        if done:
            active.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_NODES:
                raise _YamlProblem("", f"aliases expand to more than {MAX_NODES:,} nodes")
            if depth[key] > MAX_DEPTH:
                raise _YamlProblem("", f"nested deeper than {MAX_DEPTH} levels")
            continue
        if key in size:
            continue
        if key in active:
            line = node.start_mark.line + 1
            raise _YamlProblem("", f"line {line}: an alias refers to its own ancestor")
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: Any, yaml: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_LOADER: list[Any] = []
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_CORE = (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", [*"~nN", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
        list("-+0123456789"),
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?)$",
        list("-+.0123456789"),
    ),
)
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "null", "bool", "int", "float")}


def _loader_class() -> Any:
    if _LOADER:
        return _LOADER[0]
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class CoreLoader(base):  # type: ignore[misc,valid-type]
        yaml_implicit_resolvers: dict[str, Any] = {}
        yaml_constructors = {
            k: v
            for k, v in yaml.SafeLoader.yaml_constructors.items()
            if k in _PLAIN_TAGS or k in ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
        }

        def construct_yaml_int(self, node: Any) -> int:
            value = self.construct_scalar(node)
            if value.startswith("0o"):
                return int(value[2:], 8)
            return int(value, 0) if value.startswith("0x") else int(value, 10)

        def construct_yaml_float(self, node: Any) -> float:
            value = float(self.construct_scalar(node))
            if value != value or value in (float("inf"), float("-inf")):
                raise _YamlProblem("", f"line {node.start_mark.line + 1}: not a finite number")
            return value

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            # Duplicates among the keys written here; merged (`<<: *base`) ones may be overridden.
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    raise _YamlProblem(
                        "", f"line {line}: key {key!r} is not a string (quote it: '{key}')"
                    )
                if key in seen:
                    raise _YamlProblem(_shown_key(key), f"line {line}: duplicate key")
                seen.add(key)
            self.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    line = key_node.start_mark.line + 1
                    raise _YamlProblem("", f"line {line}: key {key!r} is not a string")
                out[key] = self.construct_object(value_node, deep=deep)
            return out

        def construct_undefined(self, node: Any) -> Any:
            line = node.start_mark.line + 1
            raise _YamlProblem("", f"line {line}: tag {node.tag} is not accepted (plain YAML only)")

    CoreLoader.add_constructor("tag:yaml.org,2002:int", CoreLoader.construct_yaml_int)
    CoreLoader.add_constructor("tag:yaml.org,2002:float", CoreLoader.construct_yaml_float)
    CoreLoader.add_constructor("tag:yaml.org,2002:map", CoreLoader.construct_yaml_map)
    CoreLoader.add_constructor(None, CoreLoader.construct_undefined)
    for tag, pattern, first in _CORE:
        CoreLoader.add_implicit_resolver(tag, re.compile(pattern), first)
    _LOADER.append(CoreLoader)
    return CoreLoader
