"""The plan's shortcuts through the Pulumi SDK under the mock runtime, each giving what the SDK
would give there, measured on a 250-bubble plan (benchmarks/plan.py, docs in its docstring).

They change only the process that runs a plan (`hdh plan`, tests, benchmarks): `pulumi up`
runs the program in the engine's own Python process, untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Any

import pulumi
from pulumi import _types
from pulumi.output import _OutputData
from pulumi.runtime import resource as resource_runtime
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2

_SDK_TRANSFER = rpc.transfer_properties
_SDK_UNWRAP = _types.unwrap_type
_SDK_UNWRAP_OPTIONAL = _types.unwrap_optional_type
_SDK_CONTAINS_UNKNOWNS = rpc.contains_unknowns


def install(computed: Collection[str]) -> None:
    """Every shortcut but the event loop's (`inline_rpcs`); `computed`: the output names the
    plan's mocks compute (every other output of a resource is one of its inputs, or None)."""
    _skip_source_positions()
    _skip_debug_messages()
    _lean_outputs(frozenset(computed))
    _remember_type_unwrapping()
    _scalars_are_known()


def _skip_source_positions() -> None:
    """Register without capturing a Python stack trace per resource.

    The SDK walks the stack (with a stat per frame) so the engine can show where a resource was
    declared; the plan never shows it and it is ~15 % of a 250-bubble plan.
    """
    resource_runtime._get_stack_trace = source_pb2.StackTrace


def _skip_debug_messages() -> None:
    """Drop the SDK's per-resource debug messages: under mocks nothing reads them, and
    formatting and routing ~5 of them per resource was ~5 % of a 250-bubble plan."""
    pulumi.log.debug = _no_debug


def _no_debug(*_args: Any, **_kwargs: Any) -> None:
    return None


def _lean_outputs(computed: frozenset[str]) -> None:
    """Outputs the mocks cannot resolve to anything but None are made resolved at once.

    The SDK gives each declared property of a resource an Output with four futures and a task,
    resolved when the monitor answers. The plan's mocks answer with the inputs (plus `computed`
    names), so a property that is neither resolves to None, known, depending on the resource:
    the same Output can be made resolved up front without the futures, the task and the
    tracking. About half of the properties of a provider resource are outputs only; this was
    ~15 % of a 250-bubble plan. The resolver left for such a property refuses any other value
    than None, so a mock that starts returning it fails loudly instead of being ignored.
    """

    def transfer(res: pulumi.Resource, props: dict[str, Any], custom: bool) -> dict[str, Any]:
        lean = [
            k
            for k, v in props.items()
            if v is None and k not in computed and k != "urn" and not (k == "id" and custom)
        ]
        resolvers: dict[str, Any] = _SDK_TRANSFER(
            res, {k: v for k, v in props.items() if k not in lean}, custom
        )
        loop = asyncio.get_event_loop()
        for name in lean:
            data: asyncio.Future[Any] = loop.create_future()
            data.set_result(
                _OutputData(resources={res}, value=None, is_known=True, is_secret=False)
            )
            out: pulumi.Output[Any] = object.__new__(pulumi.Output)
            out._data = data
            res.__dict__[name] = out
            resolvers[name] = _only_none(name)
        return resolvers

    rpc.transfer_properties = transfer  # type: ignore[assignment]


def _only_none(name: str) -> Callable[..., None]:
    def resolve(value: Any, _known: bool, _secret: bool, _deps: Any, failed: Any) -> None:
        if value is not None or failed is not None:
            raise AssertionError(f"plan: output {name!r} was resolved up front but got {value!r}")

    return resolve


def _remember_type_unwrapping() -> None:
    """Unwrap each declared input type once, not once per property serialised.

    The SDK strips `Optional[Input[T]]` down to `T` for every property of every resource it
    serialises, through `typing` introspection (~10 % of a 250-bubble plan's instructions);
    the answer depends only on the type object, which the provider classes keep alive.
    Keyed by identity, with the type held so that an id is never reused for another one.
    """
    _types.unwrap_type = _by_identity(_SDK_UNWRAP)  # type: ignore[assignment]
    _types.unwrap_optional_type = _by_identity(_SDK_UNWRAP_OPTIONAL)  # type: ignore[assignment]


def _by_identity(unwrap: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[int, tuple[Any, Any]] = {}

    def remembered(typ: Any) -> Any:
        hit = seen.get(id(typ))
        if hit is not None and hit[0] is typ:
            return hit[1]
        answer = unwrap(typ)
        seen[id(typ)] = (typ, answer)
        return answer

    return remembered


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _scalars_are_known() -> None:
    """Answer "does this value contain an unknown?" at once for a plain scalar.

    The SDK asks it of every Output's value when the Output is made; its walk allocates a set
    per call. An unknown is an instance of the SDK's own class, so a value whose type is
    exactly a builtin scalar never is one: same answer, without the walk. Anything else (lists,
    dicts, the SDK's Unknown) still takes the SDK's walk.
    """
    rpc.contains_unknowns = _contains_unknowns


def _contains_unknowns(val: Any) -> bool:
    if type(val) in _SCALARS:
        return False
    return _SDK_CONTAINS_UNKNOWNS(val)


def inline_rpcs(loop: asyncio.AbstractEventLoop) -> None:
    """Run the SDK's monitor calls on the loop's own thread instead of a thread pool.

    The SDK hands every RPC to `run_in_executor` because a real monitor is a gRPC server;
    the plan's monitor is an in-process object, and the pool's futures, locks and thread
    switches were ~20 % of a 250-bubble plan.
    """

    def run_inline(executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = loop.create_future()
        try:
            fut.set_result(func(*args))
        except BaseException as exc:  # handed to the awaiting SDK code, as a pool would
            fut.set_exception(exc)
        return fut

    loop.run_in_executor = run_inline  # type: ignore[method-assign,assignment]
