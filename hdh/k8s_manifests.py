"""Kubernetes manifests of a plan: what the baseline would apply, as YAML files, schema-checked.

    uv run python -m hdh.k8s_manifests --stack ovh-sbg --out build/k8s [--validate]

The manifests are the recorded inputs of the plan's `kubernetes:*` resources (the very objects
the provider would send to the API server), so they are what `pulumi up` applies, not a copy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from hdh.plan import Plan, plan_stack

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--stack", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--validate", action="store_true", help="check against the JSON schemas")
    args = ap.parse_args(argv)
    plan = plan_stack(args.stack)
    docs = manifests(plan)
    paths = write(docs, args.out)
    print(f"k8s: {len(paths)} manifests under {args.out}", file=sys.stderr)
    if args.validate:
        from components.config import load_stack

        errors = validate(docs, load_stack(args.stack).settings.kubernetes.version)
        for e in errors:
            print(e, file=sys.stderr)
        print(f"k8s: {len(docs) - len(errors)} valid, {len(errors)} invalid", file=sys.stderr)
        return 1 if errors else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
