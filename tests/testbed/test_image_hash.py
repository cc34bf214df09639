"""The image cache key: the package list and the build recipe, nothing else."""

from pathlib import Path

from testbed import image
from testbed.image import image_hash, read_packages, recipe
from testbed.state import TestHost, render_inventory, render_ssh_config


def test_hash_ignores_order_and_duplicates() -> None:
    assert image_hash(["sudo", "python3"]) == image_hash(["python3", "sudo", "sudo"])


def test_hash_changes_with_packages_and_recipe(monkeypatch) -> None:
    base = image_hash(["sudo", "python3"])
    assert image_hash(["sudo", "python3", "aide"]) != base
    monkeypatch.setattr(image, "CUSTOMIZE_HOOK", image.CUSTOMIZE_HOOK + "\ntrue\n")
    assert image_hash(["sudo", "python3"]) != base


def test_hash_is_stable_and_short() -> None:
    h = image_hash(["sudo"])
    assert h == image_hash(["sudo"]) and len(h) == 16 and int(h, 16) >= 0


def test_package_file_parsing(tmp_path: Path) -> None:
    f = tmp_path / "packages.txt"
    f.write_text("# comment\nsudo\n\n  python3  # inline\nsudo\n")
    assert read_packages(f) == ["python3", "sudo"]


def test_default_list_has_what_the_hosts_need() -> None:
    pkgs = set(read_packages())
    assert {"openssh-server", "sudo", "python3", "systemd-sysv", "linux-image-amd64"} <= pkgs
    assert "openscap-scanner" in pkgs  # oscap-ssh runs oscap on the target
    assert recipe(sorted(pkgs))["packages"] == sorted(pkgs)


def test_inventory_and_ssh_config_render(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    hosts = [
        TestHost("hdh-tb-c1", "container", "127.0.0.1", 40001, "deploy", key),
        TestHost("hdh-tb-vm", "vm", "127.0.0.1", 40002, "deploy", key),
    ]
    ns: dict = {}
    exec(render_inventory(hosts, tmp_path / "known_hosts"), ns)
    assert ns["containers"] == [
        (
            "hdh-tb-c1",
            {
                "ssh_hostname": "127.0.0.1",
                "ssh_port": 40001,
                "ssh_user": "deploy",
                "ssh_key": str(key),
                "ssh_strict_host_key_checking": "no",
                "ssh_known_hosts_file": str(tmp_path / "known_hosts"),
                "kind": "container",
            },
        )
    ]
    assert [name for name, _ in ns["vms"]] == ["hdh-tb-vm"]
    cfg = render_ssh_config(hosts)
    assert "Host hdh-tb-vm\n  HostName 127.0.0.1\n  Port 40002\n  User deploy\n" in cfg
