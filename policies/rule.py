"""Rule metadata and the resource view every rule reads (secrets and unknowns made explicit)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi.runtime.rpc import _special_secret_sig as SECRET_SIG
from pulumi.runtime.rpc import _special_sig_key as SIG_KEY
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, _is_unknown

# The SDK's own envelope markers (one definition: the SDK that writes them): a dict whose
# SIG_KEY entry is SECRET_SIG is a secret ({SIG_KEY: SECRET_SIG, "value"|"ciphertext": ...}).
SECRET = "[secret]"  # an encrypted secret's value, as `pulumi preview --json` shows it
INTERNAL_KEYS = ("__defaults", "__internal")
__all__ = [
    "SECRET",
    "SECRET_SIG",
    "SIG_KEY",
    "Resource",
    "Rule",
    "Stack",
    "Undecided",
    "as_list",
    "as_map",
    "each",
    "known",
]

Severity = Literal["low", "medium", "high", "critical"]
Enforcement = Literal["mandatory", "advisory"]


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One policy check: stable id, what it checks, how bad, which controls, how to fix."""

    id: str  # kebab case; the module is its snake case
    title: str
    severity: Severity
    enforcement: Enforcement
    frameworks: tuple[str, ...]  # keys of policies.controls.CONTROLS
    remediation: str
    resource_types: tuple[str, ...]  # exact type tokens, or a prefix ending in "*"
    config: tuple[str, ...] = ()  # keys of policies.config.SCHEMA the check reads
    scope: Literal["resource", "stack"] = "resource"
    reads: tuple[str, ...] = ()  # other types a stack rule reads to decide (not reported on)

    def applies(self, typ: str) -> bool:
        key = (self.resource_types, typ)
        hit = _APPLIES.get(key)
        if hit is None:
            hit = _APPLIES[key] = any(
                typ == t or (t.endswith("*") and typ.startswith(t[:-1]))
                for t in self.resource_types
            )
        return hit


# (resource types, type) -> applies: a stack has few types and many resources.
_APPLIES: dict[tuple[tuple[str, ...], str], bool] = {}


class _Unknown:
    """A value the engine cannot know during preview (a computed id, an output)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()


@dataclass
class Resource:
    """A resource as a rule sees it: plain props, secret paths recorded, provider props beside."""

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    provider: dict[str, Any] = field(default_factory=dict)
    secret_paths: frozenset[tuple[Any, ...]] = frozenset()
    id: str = ""
    deps: dict[str, list[str]] = field(default_factory=dict)  # property -> URNs it came from

    @classmethod
    def build(
        cls,
        urn: str,
        typ: str,
        name: str,
        props: Any,
        provider: Any = None,
        deps: Mapping[str, Sequence[str]] | None = None,
    ) -> Resource:
        secrets: set[tuple[Any, ...]] = set()
        plain = _plain(props, (), secrets) or {}
        rid = plain.get("id") if isinstance(plain.get("id"), str) else ""
        return cls(
            urn=urn,
            type=typ,
            name=name,
            props=plain,
            provider=_plain(provider, (), set()) or {},
            secret_paths=frozenset(secrets),
            id=rid or "",
            deps={k: list(v) for k, v in (deps or {}).items()},
        )

    def get(self, *path: Any, default: Any = None, of: str = "props") -> Any:
        """The value at `path`; raises the SDK's UnknownValueError when preview cannot know it."""
        value: Any = self.props if of == "props" else self.provider
        for i, key in enumerate(path):
            if isinstance(value, Mapping):
                value = value.get(key, default) if i == len(path) - 1 else value.get(key)
            elif (
                isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value)
            ):
                value = value[key]
            else:
                return default
            if value is UNKNOWN:
                raise UnknownValueError(UNKNOWN_STRING_VALUE, [str(p) for p in path[: i + 1]])
            if value is None:
                return default
        return value

    def has(self, prop: str) -> bool:
        """Whether `prop` is set; a value preview cannot know yet (an id) counts as set."""
        return self.props.get(prop) not in (None, "")

    def is_secret(self, *path: Any) -> bool:
        return any(path[:n] in self.secret_paths for n in range(1, len(path) + 1))

    def tags(self) -> dict[str, str]:
        """OpenStack `tags` ("key=value" strings) merged with `metadata` (a map)."""
        out: dict[str, str] = {}
        for tag in as_list(self.props.get("tags")):  # unknown tags declare nothing
            if isinstance(tag, str):
                key, _, value = tag.partition("=")
                out[key] = value
        meta = self.props.get("metadata")
        if isinstance(meta, Mapping):
            out.update({k: v for k, v in meta.items() if isinstance(v, str)})
        return out


def _plain(value: Any, path: tuple[Any, ...], secrets: set[tuple[Any, ...]]) -> Any:
    """Unwrap the SDK's proxies and secret envelopes; unknown sentinels become UNKNOWN."""
    kind = type(value)
    # Fast paths first (exact types: an ABC isinstance check costs ten times more); a 10,000-
    # resource export is ~200,000 values.
    if kind is bool or kind is int or value is None:
        return value
    if kind is str:
        if value == SECRET:
            secrets.add(path)
            return value
        return UNKNOWN if _is_unknown(value) else value
    if kind is dict and SIG_KEY not in value:
        return {
            k: _plain(v, (*path, k), secrets) for k, v in value.items() if k not in INTERNAL_KEYS
        }
    if kind is list:
        return [_plain(v, (*path, i), secrets) for i, v in enumerate(value)]
    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = value["__target"]  # pulumi_policy's unknown-checking proxy
    elif isinstance(value, Sequence) and not isinstance(value, list | str | tuple):
        value = value["__target"]  # type: ignore[call-overload]  # the proxy's own key
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            secrets.add(path)
            return _plain(_secret_value(value), path, secrets)
        return {
            k: _plain(v, (*path, k), secrets) for k, v in value.items() if k not in INTERNAL_KEYS
        }
    if isinstance(value, list | tuple):
        return [_plain(v, (*path, i), secrets) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Structs carry every number as a double
    if isinstance(value, str):
        if _is_unknown(value):
            return UNKNOWN
        if value == SECRET:
            secrets.add(path)
    return value


def _secret_value(envelope: Mapping[str, Any]) -> Any:
    if "value" in envelope:  # the engine's wire form
        return envelope["value"]
    if "plaintext" in envelope:  # `pulumi stack export --show-secrets`: JSON-encoded
        try:
            return json.loads(envelope["plaintext"])
        except (TypeError, ValueError):
            return envelope["plaintext"]
    return SECRET  # ciphertext: the value is not readable here, and needs not be


@dataclass(frozen=True)
class Undecided:
    """What a stack rule yields for a resource it cannot judge yet (a value unknown in preview);
    the other resources are still judged (policies/pack.py raises once at the end)."""

    reason: str


class StackUnknowns(UnknownValueError):
    """Raised after a stack rule reported what it could: the resources it could not judge."""

    def __init__(self, undecided: list[tuple[str, str]]) -> None:
        first = undecided[0][1]
        more = f" (and {len(undecided) - 1} more resource(s))" if len(undecided) > 1 else ""
        super().__init__(UNKNOWN_STRING_VALUE, [])
        self.message = first + more  # what the engine shows: the first reason, and how many
        self.undecided = undecided  # [(urn, reason)]


def each(res: Resource, problems: Iterable[str]) -> Iterator[tuple[Resource, Any]]:
    """(res, message) per problem; (res, Undecided) if a value it needs is unknown."""
    try:
        for problem in problems:
            yield res, problem
    except UnknownValueError as exc:
        yield res, Undecided(exc.message)


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else [] (absent, unknown, or a hostile document's odd shape)."""
    return value if isinstance(value, list) else []


def as_map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def known(value: Any, *path: str) -> Any:
    """`value`, raising the SDK's UnknownValueError if anything under it is unknown."""
    for where, leaf in walk(value):
        if leaf is UNKNOWN:
            raise UnknownValueError(UNKNOWN_STRING_VALUE, [*path, *map(str, where)])
    return value


def walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, leaf) under a plain value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, (*path, i))
    else:
        yield path, value


class Stack:
    """All resources of a stack, with references resolved by property dependency or by id.

    Views are built on first use: a stack rule reads a few types of a 10,000-resource stack,
    and building every view twice (resource and stack rules) was a third of a check's time.
    """

    def __init__(
        self,
        resources: Sequence[Resource] = (),
        lazy: Sequence[tuple[str, str, str, Callable[[], Resource]]] = (),
    ) -> None:
        """`resources` ready built, or `lazy` (urn, type, id, build) entries."""
        self._entries = [(r.urn, r.type, r.id, _ready(r)) for r in resources] + list(lazy)
        self._built: dict[str, Resource] = {}
        self._urns = {e[0]: e for e in self._entries}
        self._ids = {e[2]: e for e in self._entries if e[2]}
        self.memo: dict[str, Any] = {}  # views several rules derive (policies/topology.py)

    def _view(self, entry: tuple[str, str, str, Callable[[], Resource]]) -> Resource:
        view = self._built.get(entry[0])
        if view is None:
            view = self._built[entry[0]] = entry[3]()
        return view

    @property
    def resources(self) -> list[Resource]:
        return [self._view(e) for e in self._entries]

    def of_type(self, typ: str) -> list[Resource]:
        return [self._view(e) for e in self._entries if e[1] == typ]

    def by_urn(self, urn: str) -> Resource | None:
        entry = self._urns.get(urn)
        return self._view(entry) if entry else None

    def ref(self, res: Resource, prop: str) -> Resource | None:
        """The resource whose id `res.props[prop]` holds (known in preview through its deps)."""
        for urn in res.deps.get(prop, []):
            if urn in self._urns:
                return self._view(self._urns[urn])
        value = res.props.get(prop)
        entry = self._ids.get(value) if isinstance(value, str) else None
        return self._view(entry) if entry else None

    def by_id(self, rid: Any) -> Resource | None:
        entry = self._ids.get(rid) if isinstance(rid, str) else None
        return self._view(entry) if entry else None

    def refs(self, res: Resource, prop: str) -> list[Resource]:
        """Every resource whose id appears anywhere under `res.props[prop]` (lists, maps)."""
        found = [self._view(self._urns[u]) for u in res.deps.get(prop, []) if u in self._urns]
        ids = {v for _, v in walk(res.props.get(prop)) if isinstance(v, str)}
        found += [self._view(self._ids[i]) for i in sorted(ids) if i in self._ids]
        return list({r.urn: r for r in found}.values())

    def given(self, res: Resource, prop: str) -> bool:
        """Whether the program set `prop`. In a preview a computed output the program never
        set is unknown too; an unknown the program did set comes from a dependency."""
        value = res.props.get(prop)
        if value in (None, "", [], {}):
            return False
        return value is not UNKNOWN or bool(res.deps.get(prop))

    def of_types(self, *types: str) -> list[Resource]:
        return [self._view(e) for e in self._entries if e[1] in types]


def _ready(res: Resource) -> Callable[[], Resource]:
    return lambda: res
