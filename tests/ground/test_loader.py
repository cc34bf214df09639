"""The one safe reader of YAML and JSON inputs: what it refuses, and how it reads YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ground.errors import ConfigError
from ground.loader import MAX_DEPTH, load, load_json, load_yaml


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a: yes\nb: on\nc: NO\n", {"a": "yes", "b": "on", "c": "NO"}),  # YAML 1.2: strings
        ("d: 2024-01-01\nt: 12:30\n", {"d": "2024-01-01", "t": "12:30"}),
        ("i: 012\nh: 0x1F\no: 0o17\nf: 1.5\n", {"i": 12, "h": 31, "o": 15, "f": 1.5}),
        ("b: true\nn: ~\ne:\n", {"b": True, "n": None, "e": None}),
        ("base: &b {x: 1}\nother: {<<: *b, y: 2}\n", {"base": {"x": 1}, "other": {"x": 1, "y": 2}}),
        ("\ufeffa: 1\n", {"a": 1}),
    ],
)
def test_yaml_core_schema(text: str, value: object) -> None:
    assert load_yaml(text, "f.yaml") == value


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: 1\nb: 2\na: 3\n", "a: line 3: duplicate key"),
        ("a:\n  x: 1\n  x: 2\n", "x: line 3: duplicate key"),
        ("1: one\n", "not a string"),
        ("null: x\n", "not a string"),
        ("? [a, b]\n: x\n", "not a string"),
        ("a: !!binary aGk=\n", "not accepted"),
        ("a: !!set {x}\n", "not accepted"),
        ("a: !!python/name:os.system\n", "not accepted"),
        ("a: 1e999\n", "not a finite number"),
        ("a: &a [*a]\n", "refers to its own ancestor"),
        ("a: [" * 200 + "]" * 200, "nested deeper"),
    ],
)
def test_yaml_refusals(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "f.yaml")
    assert why in str(info.value) and str(info.value).startswith("f.yaml: ")


def test_yaml_alias_bomb_is_refused_quickly() -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ConfigError, match="aliases expand"):
        load_yaml("\n".join(lines), "bomb.yaml")  # 10^9 nodes once expanded


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"a": 1, "a": 2}', "a: duplicate key"),
        ('{"x": {"b": 1, "b": 1}}', "b: duplicate key"),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": Infinity}', "Infinity"),
        ("[" * (2 * MAX_DEPTH) + "]" * (2 * MAX_DEPTH), "nested deeper"),
        ("[" * 100_000, "nested deeper"),
        ("{", "not JSON"),
    ],
)
def test_json_refusals(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_json(text, "e.json")
    assert why in str(info.value)


def test_state_documents_read_as_go_reads_them() -> None:
    # Machine-written state (exports, previews): the last value wins, as in the engine.
    assert load_json('{"a": 1, "a": 2}', "s.json", duplicates=False) == {"a": 2}


def test_json_just_within_the_depth_limit() -> None:
    assert load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "e.json") is not None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ('{"a": 1}'.encode("utf-16"), "UTF-16 (a PowerShell"),
        ('{"a": 1}'.encode("utf-16-be"), "NUL bytes"),
        ("\ufeff{}".encode("utf-32"), "UTF-32"),
        (b'{"a": "\xe9t\xe9"}', "not UTF-8"),
    ],
)
def test_encodings(tmp_path: Path, data: bytes, why: str) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert why in str(info.value) and str(info.value).startswith(str(path))


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}')
    assert load(path) == {"a": 1}


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=200)
@given(JSONISH)
def test_property_json_round_trips(value: object) -> None:
    assert load_json(json.dumps(value), "p.json") == value


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_property_any_bytes_load_or_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("b") / "x.yaml"
    path.write_bytes(data)
    try:
        load(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
