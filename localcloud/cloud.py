"""Bring the local cloud up and down: packages, configuration, databases, daemons, registration."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from localcloud import compute, confs, daemons, netns, state_init, wrappers
from localcloud.image import KERNEL_CMDLINE, GuestImage, ensure_image, guest_packages, image_hash
from localcloud.packages import ensure_packages
from localcloud.paths import (
    AUTH_URL,
    IMAGE_NAME,
    PROJECT,
    PUBLIC_CIDR,
    REGION,
    SERVICE_USERS,
    USER,
    Layout,
    LocalCloudError,
    load_secrets,
    state_dir,
)
from localcloud.shell import Phase, run

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
# One fake compute host: a second linuxbridge agent on the same kernel races the first over the
# same vxlan devices and dies ("Network interface vxlan-1 not found"), so ports cannot bind on
# the second host. Anti-affinity groups therefore take one server here.
DEFAULT_COMPUTES = 1
INFRA = ("epmd", "mariadb", "rabbitmq", "keystone")
PLACEHOLDER_DIGEST = "placeholder-1"  # the fake driver's image: an empty 16 MiB LUKS container


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    path.chmod(mode)


def configure(layout: Layout, pw: dict[str, str], computes: int, mode: str) -> str:
    """Write every config file; return a hash of them (a change restarts the daemons)."""
    files = confs.render(layout, pw, computes, mode)
    files["rabbitmq/rabbitmq.conf"] = (
        "listeners.tcp.default = 127.0.0.1:5672\nloopback_users = none\n"
        f"default_user = hdh\ndefault_pass = {pw['rabbit']}\n"
    )
    files["rabbitmq/rabbitmq-env.conf"] = ""
    files["rabbitmq/enabled_plugins"] = "[].\n"
    files["barbican/home/.barbican/barbican.conf"] = files.pop("barbican/barbican.conf")
    digest = hashlib.sha256()
    for rel, text in sorted(files.items()):
        _write(layout.etc / rel, text)
        digest.update(rel.encode() + b"\0" + text.encode())
    for sub in (
        "glance/images",
        "glance/lock",
        "nova/lock",
        "neutron/lock",
        "cinder/lock",
        "barbican/lock",
        "cinder/volumes",
        "keystone",
        "rabbitmq",
        "swift/node/d1",
        "cinder-export",
        "cinder-backup",
        "nova/instances",
        "nova-mnt",
    ):
        (layout.data / sub).mkdir(parents=True, exist_ok=True)
    stand_ins = {
        "qemu-img": wrappers.QEMU_IMG,
        "mount": wrappers.mount(confs.SHARE, layout.data / "cinder-export"),
    }
    for name, text in stand_ins.items():
        _write(layout.root / "bin" / name, text, 0o755)
        digest.update(text.encode())
    # libvirtd's PATH has its own directory: it must not find the other stand-ins.
    _write(compute.emulator_dir(layout) / "qemu-system-x86_64", wrappers.QEMU_SYSTEM, 0o755)
    digest.update(wrappers.QEMU_SYSTEM.encode())
    if mode == "real":
        compute.prepare_host()
        digest.update(compute.QEMU_CONF_TEXT.encode())
    state_init.rings(layout)
    return digest.hexdigest()[:16]


def _spec(layout: Layout, pw: dict[str, str], computes: int, image: GuestImage | None) -> str:
    """What bootstrap.py registers; `image` is the real guest image (None: the placeholder)."""
    img: dict[str, object] = {"name": IMAGE_NAME, "digest": PLACEHOLDER_DIGEST}
    if image is not None:
        img = {
            "name": IMAGE_NAME,
            "digest": image.digest,
            "root": str(image.root),
            "kernel": str(image.kernel),
            "initrd": str(image.initrd),
            "cmdline": KERNEL_CMDLINE,
            "min_disk": -(-image.root.stat().st_size // 2**30),
        }
    return json.dumps(
        {
            "auth_url": AUTH_URL,
            "region": REGION,
            "passwords": pw,
            "project": PROJECT,
            "user": USER,
            "service_users": list(SERVICE_USERS),
            "image": img,
            "work_dir": str(layout.data),
            "public_cidr": PUBLIC_CIDR,
            "qemu_img": str(layout.root / "bin" / "qemu-img"),
            "compute_hosts": confs.compute_hosts(computes),
        }
    )


def _bootstrap(layout: Layout, spec: str, stage: str) -> None:
    run(["/usr/bin/python3", str(BOOTSTRAP), stage], f"register {stage}", input=spec, timeout=600)


def recorded_mode(layout: Layout | None = None) -> str:
    """The compute mode of the last `up` (the default before any)."""
    path = (layout or Layout(state_dir())).run / "compute-mode"
    mode = path.read_text().strip() if path.exists() else ""
    return mode if mode in compute.MODES else compute.DEFAULT_MODE


def up(
    computes: int = DEFAULT_COMPUTES, *, install: bool = True, mode: str | None = None
) -> dict[str, str]:
    """Bring the cloud up (idempotent); return the platform user's OS_* variables.

    `mode`: "real" (libvirt + QEMU guests) or "fake" (Nova's fake driver); None keeps the mode
    of the last `up`.
    """
    if os.geteuid() != 0:
        raise LocalCloudError("up", "must run as root (packages, namespaces, bind mount)")
    layout = Layout(state_dir())
    mode = mode or recorded_mode(layout)
    if mode not in compute.MODES:
        raise LocalCloudError("up", f"compute mode {mode!r}: use one of {', '.join(compute.MODES)}")
    names = [d.name for d in daemons.daemons(layout, computes, mode)]
    ready = layout.run / "ready"  # written last: a failed `up` is finished by the next one
    # What `ready` records: the image a finished `up` registered (a new recipe registers anew).
    want_image = image_hash(guest_packages()) if mode == "real" else PLACEHOLDER_DIGEST
    if install:
        with Phase("packages"):
            ensure_packages(real=mode == "real")
    layout.make()
    pw = load_secrets(layout)
    with Phase("configuration"):
        digest = configure(layout, pw, computes, mode)
    digest_file = layout.run / "config-digest"
    unchanged = digest_file.exists() and digest_file.read_text() == digest
    done = ready.exists() and ready.read_text().strip() == want_image
    if unchanged and done and set(daemons.running(layout)) == set(names):
        log.info("already up (%s compute): %d daemons running", mode, len(names))
        return env_vars(layout)
    ready.unlink(missing_ok=True)
    (layout.run / "compute-mode").write_text(mode + "\n")
    # The guest image builds (minutes, cold) while the cloud starts.
    pool = ThreadPoolExecutor(1)
    image = pool.submit(ensure_image) if mode == "real" else None
    try:
        _start(layout, pw, computes, mode, unchanged, digest)
        with Phase("base resources" + (" and guest image" if image else "")):
            guest = image.result() if image else None
            _bootstrap(layout, _spec(layout, pw, computes, guest), "resources")
    finally:
        pool.shutdown(wait=True)
    _write(layout.root / "clouds.yaml", clouds_yaml(env_vars(layout)))
    ready.write_text(want_image + "\n")
    return env_vars(layout)


def _start(
    layout: Layout, pw: dict[str, str], computes: int, mode: str, unchanged: bool, digest: str
) -> None:
    """Namespace and share, daemons in order, migrations, identity, compute hosts."""
    with Phase("network namespace and share"):
        netns.ensure(layout)
    running = daemons.running(layout)
    if running and not unchanged:
        log.info("configuration changed: restarting the %d running daemons", len(running))
        compute.destroy_domains(running)
        daemons.stop_all(layout, daemons.strays(layout))
        running = {}
    (layout.run / "config-digest").write_text(digest)
    specs = {d.name: d for d in daemons.daemons(layout, computes, mode)}
    with Phase("mariadb and rabbitmq"):
        new_cloud = state_init.mariadb_init(layout)
        for name in ("epmd", "mariadb", "rabbitmq"):
            if name not in running:
                daemons.start(layout, specs[name])
        for name in ("epmd", "mariadb", "rabbitmq"):
            daemons.wait_ready(layout, specs[name])
        state_init.databases(layout, pw)
    # Migrations depend on the installed versions, not on the configuration.
    state_init.migrate(layout, pw)
    spec = _spec(layout, pw, computes, None)
    with Phase("keystone and identity registration"):
        # Nova's conductor authenticates at start: the service users must exist first.
        if "keystone" not in running:
            daemons.start(layout, specs["keystone"])
        daemons.wait_ready(layout, specs["keystone"])
        _bootstrap(layout, spec, "identity")
    with Phase("services"):
        # libvirt's daemons first: nova-compute connects to libvirtd as it starts.
        rest = sorted(
            (d for d in specs.values() if d.name not in INFRA),
            key=lambda d: d.name not in compute.LIBVIRT_DAEMONS,
        )
        for d in rest:
            if d.name not in running:
                daemons.start(layout, d)
            if d.name in compute.LIBVIRT_DAEMONS:
                daemons.wait_ready(layout, d)
                if d.name == "libvirtd" and new_cloud:
                    compute.forget_domains()
        for d in rest:
            daemons.wait_ready(layout, d)
    with Phase("compute hosts"):
        _bootstrap(layout, spec, "wait-computes")
        run(
            [
                "nova-manage",
                "--config-file",
                str(layout.etc / "nova" / "nova.conf"),
                "cell_v2",
                "discover_hosts",
            ],
            "nova discover_hosts",
        )


def down() -> int:
    """Stop every daemon `up` started and remove the namespace and mount; returns how many."""
    layout = Layout(state_dir())
    if not layout.root.exists():
        return 0
    (layout.run / "ready").unlink(missing_ok=True)
    compute.destroy_domains(daemons.running(layout))
    strays = daemons.strays(layout)
    n = daemons.stop_all(layout, strays)
    for pid in daemons.strays(layout):  # a helper spawned while the agents were stopping
        daemons.stop_all(layout, [pid])
    netns.remove(layout)
    return n


def status() -> dict[str, int | None]:
    """{daemon: pid or None} for every recorded daemon."""
    layout = Layout(state_dir())
    live = daemons.running(layout)
    return {name: live.get(name) for name in daemons.load_pids(layout)}


def env_vars(layout: Layout | None = None) -> dict[str, str]:
    layout = layout or Layout(state_dir())
    if not layout.secrets_file.exists():
        raise LocalCloudError("env", "the local cloud was never brought up (hdh cloud up)")
    pw = json.loads(layout.secrets_file.read_text())
    return {
        "OS_AUTH_URL": AUTH_URL,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": REGION,
        "OS_PROJECT_NAME": PROJECT,
        "OS_USERNAME": USER,
        "OS_PASSWORD": pw[USER],
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_INTERFACE": "public",
    }


def admin_env() -> dict[str, str]:
    """The admin's OS_* variables (tests use them to check every project)."""
    env = env_vars()
    pw = json.loads(Layout(state_dir()).secrets_file.read_text())
    return {**env, "OS_PROJECT_NAME": "admin", "OS_USERNAME": "admin", "OS_PASSWORD": pw["admin"]}


def clouds_yaml(env: dict[str, str]) -> str:
    return (
        "clouds:\n  hdh-local:\n    auth:\n"
        f"      auth_url: {env['OS_AUTH_URL']}\n      username: {env['OS_USERNAME']}\n"
        f"      password: {env['OS_PASSWORD']}\n      project_name: {env['OS_PROJECT_NAME']}\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
        f"    region_name: {env['OS_REGION_NAME']}\n    identity_api_version: 3\n"
        "    interface: public\n"
    )
