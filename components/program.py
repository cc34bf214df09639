"""The Pulumi program: a region-pinned provider, then the platform (run by __main__.py and plan)."""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack
from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

from components.config import StackConfig, build, shown, stack_path
from components.platform import Platform, PlatformArgs
from ground.errors import HdhError


def config_from_runtime() -> StackConfig:
    """The stack's config as the engine (or the plan) handed it to the program, checked."""
    raw: dict[str, str] = {**get_config_env(), **CONFIG.get()}
    stack = pulumi.get_stack()
    secrets = {k for k in raw if is_config_secret(k)}
    return build(raw, stack, shown(stack_path(stack)), secrets)


def provider_for(cfg: StackConfig) -> openstack.Provider:
    """The explicit, region-pinned provider; credentials come from OS_* or clouds.yaml.

    `insecure=False` is explicit so that OS_INSECURE in the environment cannot turn TLS
    verification off behind the policy pack's back.
    """
    return openstack.Provider(
        f"openstack-{cfg.region.lower()}",
        region=cfg.region,
        auth_url=cfg.auth_url,
        insecure=False,
    )


def lookups(
    cfg: StackConfig, provider: openstack.Provider
) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
    """Image and external network ids: pinned in config, or looked up by the profile's names.

    A lookup is an API call even in preview: stacks previewed without an account pin both ids.
    """
    inv = pulumi.InvokeOutputOptions(provider=provider)
    image_id: pulumi.Input[str] = cfg.settings.image_id or (
        openstack.images.get_image_output(name=cfg.image, most_recent=True, opts=inv).id
    )
    ext_id: pulumi.Input[str] = cfg.settings.external_network_id or (
        openstack.networking.get_network_output(
            name=cfg.profile.external_network, external=True, opts=inv
        ).id
    )
    return image_id, ext_id


def run() -> None:
    try:
        cfg = config_from_runtime()
    except HdhError as exc:
        # RunError: the language host prints the message alone, without a traceback.
        raise pulumi.RunError("\n".join(exc.lines())) from None
    provider = provider_for(cfg)
    image_id, ext_id = lookups(cfg, provider)
    platform = Platform(
        "hdh",
        PlatformArgs(cfg=cfg, image_id=image_id, external_network_id=ext_id),
        opts=pulumi.ResourceOptions(providers={"openstack": provider}),
    )
    pulumi.export("profile", cfg.profile.name)
    pulumi.export("region", cfg.region)
    pulumi.export("bastionAddress", platform.bastion_address)
    pulumi.export("networkIds", platform.network_ids)
    pulumi.export(
        "bubbles",
        {
            n: {
                "networkId": b.network_id,
                "workspaces": b.workspace_addresses,
                "container": b.container_name,
            }
            for n, b in platform.bubbles.items()
        },
    )
    pulumi.export("inventory", platform.inventory)
    if platform.backup_secret is not None:
        # Secret: the backup job's credential secret, for `hdh harden` on the services host
        # (`pulumi stack output --json --show-secrets | hdh harden --inventory -`).
        pulumi.export("backupCredentialSecret", platform.backup_secret)
    if platform.kubeconfig is not None:
        # Secret: `pulumi stack output kubeconfig --show-secrets`.
        pulumi.export("kubeconfig", platform.kubeconfig)
