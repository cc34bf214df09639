"""R8 R9 R10 R11 R12 R13 R14: kernel parameters, live and persisted; R7 R8 boot parameters."""

from __future__ import annotations

from typing import Any

import pytest

from hardening import data

SYSCTL_FILE = "/etc/sysctl.d/60-hdh-anssi.conf"


def keys(rnum: str) -> list[str]:
    return sorted(s.key for s in data.baseline("sysctl", "high").values() if s.control == rnum)


def check_sysctl(host: Any, kind: str, expect: Any, key: str) -> None:
    want = expect("sysctl", key)
    if kind == "container" and not key.startswith("net."):
        pytest.skip("container: kernel-global parameter, the host's kernel decides (see VM)")
    out = host.run(f"sysctl -n {key}")
    if kind == "container" and out.rc != 0:
        pytest.skip(f"container: {key} does not exist in this network namespace")
    assert out.rc == 0, out.stderr
    assert out.stdout.split() == str(want).split(), f"{key} is {out.stdout.strip()}, want {want}"
    persisted = host.file(SYSCTL_FILE)
    assert persisted.exists and f"{key} = {want}" in persisted.content_string, (
        f"{key} = {want} not persisted in {SYSCTL_FILE}"
    )


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R8"))
def test_r8_memory_sysctl(host: Any, kind: str, expect: Any, key: str) -> None:
    check_sysctl(host, kind, expect, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R9"))
def test_r9_kernel_options(host: Any, kind: str, expect: Any, key: str) -> None:
    check_sysctl(host, kind, expect, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R10"))
def test_r10_modules_disabled(host: Any, kind: str, expect: Any, key: str) -> None:
    check_sysctl(host, kind, expect, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R11"))
def test_r11_yama_ptrace(host: Any, kind: str, expect: Any, key: str) -> None:
    check_sysctl(host, kind, expect, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R12"))
def test_r12_ipv4(host: Any, kind: str, expect: Any, key: str) -> None:
    check_sysctl(host, kind, expect, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R13"))
def test_r13_ipv6(host: Any, kind: str, expect: Any, key: str) -> None:
    check_sysctl(host, kind, expect, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R14"))
def test_r14_filesystem(host: Any, kind: str, expect: Any, key: str) -> None:
    check_sysctl(host, kind, expect, key)


def check_boot(host: Any, kind: str, level: str, param: str) -> None:
    setting = data.baseline("boot", "high")[param]
    if setting.key not in data.baseline("boot", level):
        pytest.skip(f"{setting.control} boot parameter not required at level {level}")
    if kind == "container":
        pytest.skip("container: no kernel command line of its own")
    if not host.file("/usr/sbin/update-grub").exists:
        pytest.skip("no GRUB: the kernel command line is set by the hypervisor, not the guest")
    assert f"{param}={setting.value}" in host.file("/proc/cmdline").content_string.split()


def boot_keys(rnum: str) -> list[str]:
    return sorted(s.key for s in data.baseline("boot", "high").values() if s.control == rnum)


@pytest.mark.kernel
@pytest.mark.parametrize("param", boot_keys("R7"))
def test_r7_iommu(host: Any, kind: str, level: str, param: str) -> None:
    check_boot(host, kind, level, param)


@pytest.mark.kernel
@pytest.mark.parametrize("param", boot_keys("R8"))
def test_r8_boot_parameters(host: Any, kind: str, level: str, param: str) -> None:
    check_boot(host, kind, level, param)


@pytest.mark.kernel
@pytest.mark.parametrize("module", sorted(data.baseline("modules", "high")))
def test_r10_module_blacklisted(host: Any, kernel_host: None, expect: Any, module: str) -> None:
    if not expect("modules", module):
        pytest.skip(f"{module} allowed for this role")
    out = host.run(f"modprobe -n -v {module}")
    assert "install /bin/false" in out.stdout, f"modprobe would load {module}: {out.stdout}"
    loaded = host.run("cut -d' ' -f1 /proc/modules").stdout.split()
    assert module.replace("-", "_") not in loaded, f"{module} is loaded"
