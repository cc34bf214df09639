"""`hdh k8s manifests`: what a stack's Kubernetes baseline applies, as YAML files, schema-checked.

    hdh k8s manifests --stack ovh-sbg --out build/k8s [--validate]

The manifests are the recorded inputs of the plan's `kubernetes:*` resources (the very objects
the provider would send to the API server), so they are what `pulumi up` applies, not a copy.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from hdh.plan import Plan

log = logging.getLogger(__name__)

KUBE_PREFIX = "kubernetes:"


def _plain(value: Any) -> Any:
    """Protobuf numbers are doubles: give whole numbers back their integer type."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def manifests(plan: Plan) -> list[dict[str, Any]]:
    """Every Kubernetes object of the plan, in registration order (providers excluded)."""
    return [_plain(r.inputs) for r in plan.resources if r.custom and r.type.startswith(KUBE_PREFIX)]


def write(docs: Iterable[dict[str, Any]], out: Path) -> list[Path]:
    """One file per object: <out>/<namespace or _cluster>/<kind>-<name>.yaml."""
    paths = []
    for doc in docs:
        meta = doc.get("metadata", {})
        folder = out / (meta.get("namespace") or "_cluster")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{doc['kind'].lower()}-{meta['name']}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths


def validate(docs: Iterable[dict[str, Any]], version: str) -> list[str]:
    """Errors of each object against the Kubernetes JSON schemas of `version` (strict: no
    unknown field), from the kubernetes-validate package (a dev dependency)."""
    import kubernetes_validate  # the schemas ship with it; only the checks need it

    errors = []
    minor = ".".join(version.split(".")[:2])
    for doc in docs:
        where = f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, minor, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {'.'.join(str(p) for p in exc.path)}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{where}: {exc.message}")
    return errors


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "k8s",
        help="Kubernetes manifests of a stack's baseline",
        description="The Kubernetes objects a stack's plan registers, as YAML files.",
    )
    ksub = p.add_subparsers(dest="k8s_command", required=True, metavar="SUBCOMMAND")
    m = ksub.add_parser(
        "manifests",
        help="write the baseline's manifests (one file per object)",
        description="Write <out>/<namespace or _cluster>/<kind>-<name>.yaml for every Kubernetes "
        "object of the stack's credential-free plan. Exit 1 if --validate finds an invalid one.",
    )
    m.add_argument("--stack", required=True, help="stack name")
    m.add_argument("--out", type=Path, required=True, help="output directory")
    m.add_argument("--validate", action="store_true", help="check against the JSON schemas")
    m.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hdh.output import check_dir
    from hdh.plan import plan_stack

    check_dir(args.out, "--out")
    plan = plan_stack(args.stack)
    docs = manifests(plan)
    paths = write(docs, args.out)
    log.info("k8s: %d manifests under %s", len(paths), args.out)
    if args.validate:
        from components.config import load_stack

        errors = validate(docs, load_stack(args.stack).settings.kubernetes.version)
        for e in errors:
            log.error("%s", e)
        log.info("k8s: %d valid, %d invalid", len(docs) - len(errors), len(errors))
        return 1 if errors else 0
    return 0
