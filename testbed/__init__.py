"""The testbed: real Debian 12 hosts (nspawn containers, one QEMU VM) reached over SSH."""

from testbed.hosts import container_name, down, prefix, status, up, vm_name
from testbed.image import Image, ensure_image, image_hash, read_packages
from testbed.paths import cache_root, state_dir
from testbed.proc import TestbedError
from testbed.state import TestHost, inventory_path, ssh_config_path

__all__ = [
    "Image",
    "TestHost",
    "TestbedError",
    "cache_root",
    "container_name",
    "down",
    "ensure_image",
    "image_hash",
    "inventory_path",
    "prefix",
    "read_packages",
    "ssh_config_path",
    "state_dir",
    "status",
    "up",
    "vm_name",
]
