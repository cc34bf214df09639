"""R8 R9 R10 R11 R12 R13 R14: kernel parameters, live and persisted; R7 R8 boot parameters."""

from __future__ import annotations

from typing import Any

import pytest

from hardening import data, kernel

SYSCTL_FILE = kernel.SYSCTL_FILE


def keys(rnum: str) -> list[str]:
    return sorted(s.key for s in data.baseline("kernel", "high").values() if s.control == rnum)


@pytest.fixture(scope="module")
def live(host: Any) -> dict[str, str]:
    """Every kernel parameter the host shows, read once (the VM is slow: one command, not 70)."""
    out = host.run("sysctl -a 2>/dev/null")
    return {
        k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in out.stdout.splitlines())
    }


@pytest.fixture(scope="module")
def persisted(host: Any) -> str:
    f = host.file(SYSCTL_FILE)
    return str(f.content_string) if f.exists else ""


def check_sysctl(kind: str, expect: Any, live: dict[str, str], persisted: str, key: str) -> None:
    want = expect("kernel", key)
    if kind == "container" and not key.startswith("net."):
        pytest.skip("container: kernel-global parameter, the host's kernel decides (see VM)")
    if kind == "container" and key not in live:
        pytest.skip(f"container: {key} does not exist in this network namespace")
    assert key in live, f"{key} unknown to this kernel"
    got = live[key]
    assert got.split() == str(want).split(), f"{key} is {got}, want {want}"
    assert f"{key} = {want}" in persisted.splitlines(), f"{key} = {want} not in {SYSCTL_FILE}"


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R8"))
def test_r8_memory_sysctl(
    kind: str, expect: Any, live: dict[str, str], persisted: str, key: str
) -> None:
    check_sysctl(kind, expect, live, persisted, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R9"))
def test_r9_kernel_options(
    kind: str, expect: Any, live: dict[str, str], persisted: str, key: str
) -> None:
    check_sysctl(kind, expect, live, persisted, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R10"))
def test_r10_modules_disabled(
    kind: str, expect: Any, live: dict[str, str], persisted: str, key: str
) -> None:
    check_sysctl(kind, expect, live, persisted, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R11"))
def test_r11_yama_ptrace(
    kind: str, expect: Any, live: dict[str, str], persisted: str, key: str
) -> None:
    check_sysctl(kind, expect, live, persisted, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R12"))
def test_r12_ipv4(kind: str, expect: Any, live: dict[str, str], persisted: str, key: str) -> None:
    check_sysctl(kind, expect, live, persisted, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R13"))
def test_r13_ipv6(kind: str, expect: Any, live: dict[str, str], persisted: str, key: str) -> None:
    check_sysctl(kind, expect, live, persisted, key)


@pytest.mark.kernel
@pytest.mark.parametrize("key", keys("R14"))
def test_r14_filesystem(
    kind: str, expect: Any, live: dict[str, str], persisted: str, key: str
) -> None:
    check_sysctl(kind, expect, live, persisted, key)


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
