"""Credential-free plan: the real program under Pulumi's mock runtime, every resource recorded."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.rpc import _special_secret_sig as SECRET_SIG
from pulumi.runtime.rpc import _special_sig_key as SIG_KEY
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

from components.config import StackConfig, build, project_defaults, read_stack_file, shown
from components.config import stack_path as default_stack_path
from components.k8s_baseline import KUBECONFIG_KEY, PLACEHOLDER_KUBECONFIG
from hdh import shortcuts

log = logging.getLogger(__name__)
PLAN_FORMAT = "hdh-plan/v1"


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str
    provider: str  # "<provider urn>::<id>", as in a stack export
    custom: bool
    inputs: dict[str, Any]
    id: str = ""  # the id the plan gave a custom resource (references to it resolve by id)
    dependencies: list[str] = field(default_factory=list)  # URNs it waits for (inputs + dependsOn)


@dataclass
class Plan:
    stack: str
    profile: str
    region: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def by_type(self) -> Counter[str]:
        return Counter(r.type for r in self.resources)

    def by_tier(self) -> Counter[str]:
        tiers = _tiers(self.resources)
        return Counter(tiers[r.urn] for r in self.resources if r.custom)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "stack": self.stack,
            "project": "hdh",
            "profile": self.profile,
            "region": self.region,
            "summary": {
                "resources": len(self.resources),
                "custom": sum(r.custom for r in self.resources),
                "byType": dict(sorted(self.by_type().items())),
                "byTier": dict(sorted(self.by_tier().items())),
                "seconds": round(self.seconds, 3),
            },
            "resources": [asdict(r) for r in self.resources],
            "outputs": self.outputs,
        }


def _tiers(resources: list[PlannedResource]) -> dict[str, str]:
    """A resource's tier: its own tier tag/metadata, else its parent's, else 'platform'."""
    out: dict[str, str] = {}
    for r in resources:  # registration order: a parent always comes before its children
        tier = _own_tier(r.inputs)
        out[r.urn] = tier or out.get(r.parent, "platform")
    return out


def _own_tier(inputs: Mapping[str, Any]) -> str:
    meta = inputs.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("tier"), str):
        return meta["tier"]
    for tag in inputs.get("tags") or []:
        if isinstance(tag, str) and tag.startswith("tier="):
            return tag[5:]
    return ""


def _redact(value: Any) -> Any:
    """Secrets as a stack export shows them (a ciphertext object), never their plaintext."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "ciphertext": "[secret: not recorded by plan]"}
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


class PlanMocks(Mocks):
    """Thin mocks: outputs are the inputs plus a generated id; lookups answered from the profile."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        return self.resource_id(args.typ, args.name), dict(args.inputs)

    def resource_id(self, typ: str, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hdh:{self.cfg.stack}:{typ}:{name}"))

    def call(self, args: MockCallArgs) -> dict[Any, Any]:  # type: ignore[override]
        tok, a = args.token, args.args
        if tok == "openstack:images/getImage:getImage":
            name = a.get("name")
            return {"id": self._id("image", name), "name": name}
        if tok == "openstack:networking/getNetwork:getNetwork":
            name = a.get("name")
            return {"id": self._id("network", name), "name": name, "external": True}
        raise NotImplementedError(f"the plan has no answer for the lookup {tok}")

    def _id(self, kind: str, name: Any) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hdh:{self.cfg.profile.name}:{kind}:{name}"))

    def computed(self, typ: str, rid: str) -> dict[str, Any] | None:
        """Outputs a provider computes (not inputs echoed) that the program reads: stand-ins."""
        make = COMPUTED.get(typ)
        return make(rid) if make else None


# Per type, the outputs a provider computes that the program reads, as stand-ins. Every other
# output of a resource is its input echoed, or None (hdh/shortcuts.py relies on it).
COMPUTED: dict[str, Callable[[str], dict[str, Any]]] = {
    "openstack:containerinfra/cluster:Cluster": lambda rid: {
        "kubeconfig": {"raw_config": PLACEHOLDER_KUBECONFIG},
        "apiAddress": "",
    },
    "openstack:keymanager/orderV1:OrderV1": lambda rid: {
        "secretRef": f"https://keymanager.plan.invalid/v1/secrets/{rid}"
    },
    "pulumi-python:dynamic/keymanager:GeneratedKey": lambda rid: {  # components/keys.py
        "secret_ref": f"https://keymanager.plan.invalid/v1/secrets/{rid}",
        "order_ref": f"https://keymanager.plan.invalid/v1/orders/{rid}",
    },
}
# The same names as the SDK sets them on a resource object (Python names).
COMPUTED_OUTPUTS = frozenset(
    re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for make in COMPUTED.values() for name in make("")
)


class RecordingMonitor(MockMonitor):
    """A mock monitor that records each registration as the engine would receive it.

    Outputs are the inputs as sent (no decode/encode round trip: that halves the cost of a
    large plan), custom resources get a deterministic id, and URNs follow the engine's rule
    (parent's qualified type chain, the root stack's type left out).
    """

    def __init__(self, mocks: PlanMocks, on_resource: Callable[[int], None] | None = None):
        super().__init__(mocks)
        self.recorded: list[PlannedResource] = []
        self._raw: list[Any] = []
        self._mocks = mocks
        self._on_resource = on_resource

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != "pulumi:pulumi:Stack":
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{self._mocks.cfg.stack}::hdh::{qualified}::{name}"

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        rid = self._mocks.resource_id(request.type, request.name) if request.custom else ""
        provider = request.provider
        if request.custom and not provider and not request.type.startswith("pulumi:providers:"):
            # As the engine does: the package's default provider (the stacks disable it for
            # openstack and kubernetes, so only dynamic resources get here).
            package = request.type.split(":", 1)[0]
            provider = self.make_urn("", f"pulumi:providers:{package}", "default") + "::default"
        self.recorded.append(
            PlannedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                provider=provider,
                custom=bool(request.custom),
                inputs={},
                id=rid,
                dependencies=sorted(request.dependencies),  # the SDK's order is a set's
            )
        )
        self._raw.append(request.object)
        if self._on_resource:
            self._on_resource(len(self.recorded))
        obj = request.object
        extra = self._mocks.computed(request.type, rid) if request.custom else None
        if extra:
            obj = struct_pb2.Struct()
            obj.CopyFrom(request.object)
            obj.update(extra)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid, object=obj)

    def Invoke(self, request: Any) -> Any:
        # The base class re-encodes the answer through a nested event loop, which cannot run
        # inside the plan's inline RPCs; the mocks' answers are flat, so a Struct is enough.
        args = json_format.MessageToDict(request.args, preserving_proto_field_name=True)
        answer = self._mocks.call(MockCallArgs(request.tok, args, request.provider))
        out = struct_pb2.Struct()
        out.update(answer)
        return resource_pb2.ResourceInvokeResponse(**{"return": out})

    def finish(self) -> list[PlannedResource]:
        """Decode the recorded inputs (camelCase, secrets redacted), once, at the end."""
        for res, obj in zip(self.recorded, self._raw, strict=True):
            res.inputs = _redact(json_format.MessageToDict(obj, preserving_proto_field_name=True))
        self._raw.clear()
        return self.recorded


def load_raw(
    stack: str, overrides: Mapping[str, str] | None = None, path: Path | None = None
) -> tuple[dict[str, str], set[str]]:
    raw, secrets = read_stack_file(stack, path)
    return {**project_defaults(), **raw, **(overrides or {})}, secrets


def plan_stack(
    stack: str,
    overrides: Mapping[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
    path: Path | None = None,
) -> Plan:
    """Check the stack's config (raises ConfigErrors, nothing registered), then run the program.

    `path` reads the stack's config from another file than stacks/Pulumi.<stack>.yaml.
    """
    raw, secrets = load_raw(stack, overrides, path)
    if not raw.get(KUBECONFIG_KEY):
        # A kubeadm cluster's kubeconfig exists only after bootstrap: the plan stands in for it
        # so the Kubernetes baseline is always planned (docs/kubernetes.md).
        raw[KUBECONFIG_KEY] = PLACEHOLDER_KUBECONFIG
        secrets = {*secrets, KUBECONFIG_KEY}
    cfg = build(raw, stack, shown(path or default_stack_path(stack)), secrets)
    # A fresh context: the Pulumi runtime keeps its root resource and config in context vars;
    # a fresh event loop whose RPCs to the in-process monitor run inline (hdh/shortcuts.py).
    loop = asyncio.new_event_loop()
    previous = _current_loop()
    asyncio.set_event_loop(loop)
    shortcuts.inline_rpcs(loop)
    try:
        return contextvars.Context().run(_run, cfg, raw, secrets, progress)
    finally:
        asyncio.set_event_loop(previous)
        loop.close()


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return None


def _run(
    cfg: StackConfig,
    raw: dict[str, str],
    secrets: set[str],
    progress: Callable[[int], None] | None,
) -> Plan:
    from components.program import run  # the very program `pulumi up` runs

    start = time.perf_counter()
    shortcuts.install(COMPUTED_OUTPUTS)
    mocks = PlanMocks(cfg)
    monitor = RecordingMonitor(mocks, progress)
    pulumi.runtime.set_mocks(mocks, project="hdh", stack=cfg.stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(raw, sorted(secrets))
    run()
    _sync_await(wait_for_rpcs())
    plan = Plan(stack=cfg.stack, profile=cfg.profile.name, region=cfg.region)
    plan.resources = monitor.finish()
    root = pulumi.runtime.get_root_resource()
    outputs = getattr(root, "outputs", {}) or {}
    plan.outputs = {k: _output_value(v) for k, v in outputs.items()}
    plan.seconds = time.perf_counter() - start
    log.debug("planned %d resources in %.2f s", len(plan.resources), plan.seconds)
    return plan


def _output_value(value: Any) -> Any:
    """A stack output's value; a secret one (the kubeconfig) as a stack export shows it."""
    out = pulumi.Output.from_input(value)
    if _sync_await(out.is_secret()):
        return _redact({SIG_KEY: SECRET_SIG})
    return _sync_await(out.future())
