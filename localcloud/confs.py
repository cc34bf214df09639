"""Minimal configuration files of every service, written under the state directory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from localcloud.compute import DOMAIN_PREFIX, libvirtd_conf, nova_compute_conf, virtlogd_conf
from localcloud.paths import AUTH_URL, REGION, Layout

KEYSTONE = "http://127.0.0.1:5000"
SHARE = "127.0.0.1:/hdh-local-cloud/cinder"  # the NFS share string Cinder is configured with
PHYS_EXT = "hdhlc-ext0"  # root-namespace end of the veth pair behind physnet1 (no address)
PEER_EXT = "hdhlc-ext1"  # the end inside the namespace, holding the public gateway address
DHCP_CONFS = "/run/hdh-local-cloud/dhcp"  # dnsmasq's files, readable by `nobody` (see below)


# No cache middleware: there is no memcached; symlink is what object versioning builds on.
PROXY_PIPELINE = " ".join(
    (
        *("catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "bulk", "authtoken"),
        *("keystoneauth", "copy", "container-quotas", "account-quotas", "slo", "dlo"),
        *("versioned_writes", "symlink", "proxy-logging", "proxy-server"),
    )
)


def share_mount_point(layout: Layout) -> Path:
    """Where Cinder's NFS driver expects the share: `<base>/<md5 of the share string>`."""
    return layout.data / "cinder-mnt" / hashlib.md5(SHARE.encode()).hexdigest()


def compute_hosts(count: int) -> list[str]:
    return [f"hdh-lc-compute{i}" for i in range(1, count + 1)]


def _db(pw: dict[str, str], name: str) -> str:
    return f"mysql+pymysql://hdh:{pw['db']}@127.0.0.1:3306/{name}?charset=utf8"


def _rabbit(pw: dict[str, str]) -> str:
    return f"rabbit://hdh:{pw['rabbit']}@127.0.0.1:5672/"


def _auth(pw: dict[str, str], user: str, section: str) -> str:
    return f"""[{section}]
auth_url = {KEYSTONE}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = {user}
password = {pw[user]}
region_name = {REGION}
"""


# The catalog type each service checks application credentials' access rules against
# (keystonemiddleware refuses every restricted credential when it is unset, as on a cloud
# configured without it). Cinder answers as volumev3, the type the profiles' rules name.
SERVICE_TYPES = {
    "glance": "image",
    "placement": "placement",
    "nova": "compute",
    "neutron": "network",
    "barbican": "key-manager",
    "cinder": "volumev3",
    "swift": "object-store",
}


def _authtoken(pw: dict[str, str], user: str) -> str:
    # Service tokens: Cinder refuses Nova's detach without them (ConflictNovaUsingAttachment).
    return (
        _auth(pw, user, "keystone_authtoken")
        + f"www_authenticate_uri = {KEYSTONE}\n"
        + "service_token_roles = service\nservice_token_roles_required = true\n"
        + f"service_type = {SERVICE_TYPES[user]}\n"
    )


def _service_user(pw: dict[str, str], user: str) -> str:
    return _auth(pw, user, "service_user") + "send_service_user_token = true\n"


def _common(pw: dict[str, str], svc: str, layout: Layout) -> str:
    return f"""[DEFAULT]
transport_url = {_rabbit(pw)}
state_path = {layout.data / svc}
debug = false
# Two shared cores: a busy fake compute answered reserve_block_device_name after the default 60 s.
rpc_response_timeout = 180
"""


def _shared(layout: Layout, svc: str) -> str:
    return f"""
[oslo_concurrency]
lock_path = {layout.data / svc / "lock"}

[oslo_messaging_notifications]
driver = noop

[key_manager]
backend = barbican

[barbican]
auth_endpoint = {AUTH_URL}
barbican_endpoint_type = public
barbican_region_name = {REGION}
"""


def render(layout: Layout, pw: dict[str, str], computes: int, mode: str) -> dict[str, str]:
    """Every config file, as {relative path under etc/: text}."""
    d = layout.data
    files: dict[str, str] = {}
    files["keystone/keystone.conf"] = f"""[DEFAULT]
debug = false
[database]
connection = {_db(pw, "keystone")}
[token]
provider = fernet
[fernet_tokens]
key_repository = {d / "keystone" / "fernet-keys"}
[fernet_receipts]
key_repository = {d / "keystone" / "fernet-keys"}
[credential]
key_repository = {d / "keystone" / "credential-keys"}
[cache]
# In-process cache: without it every token validation rebuilt roles and catalog from the
# database (~1 s each here), and under a destroy's burst validations queued for 30-40 s, long
# enough for Cinder's key deletions to time out (volumes left in error_deleting).
enabled = true
backend = dogpile.cache.memory
[identity]
# A throwaway cloud: cheap bcrypt keeps registration and every service token fast.
password_hash_rounds = 4
"""
    files["glance/glance-api.conf"] = f"""[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
[database]
connection = {_db(pw, "glance")}
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = {d / "glance" / "images"}
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = {d / "glance" / "lock"}
{_authtoken(pw, "glance")}"""
    files["placement/placement.conf"] = f"""[DEFAULT]
debug = false
[api]
auth_strategy = keystone
[placement_database]
connection = {_db(pw, "placement")}
{_authtoken(pw, "placement")}"""
    files["nova/nova.conf"] = f"""{_common(pw, "nova", layout)}my_ip = 127.0.0.1
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_workers = 1
use_neutron = true
# libvirt domains named by instance UUID with the local cloud's prefix (localcloud/compute.py),
# not by database id: ids restart with a wiped cloud, and a definition an earlier cloud left
# behind took the name of a new instance, which then failed to spawn ("already exists").
instance_name_template = {DOMAIN_PREFIX}%(uuid)s
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[api]
auth_strategy = keystone
[api_database]
connection = {_db(pw, "nova_api")}
[database]
connection = {_db(pw, "nova")}
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 30
[vnc]
enabled = false
[os_vif_linux_bridge]
use_ipv6 = false
{_authtoken(pw, "nova")}
{_service_user(pw, "nova")}
{_auth(pw, "placement", "placement")}
{_auth(pw, "neutron", "neutron")}
{_auth(pw, "cinder", "cinder")}os_region_name = {REGION}
{_shared(layout, "nova")}"""
    nova_conf = layout.etc / "nova" / "nova.conf"
    for i, host in enumerate(compute_hosts(computes), start=1):
        own = layout.etc / "nova" / f"compute{i}.conf"
        files[f"nova/compute{i}.conf"] = nova_compute_conf(layout, host, mode, [nova_conf, own])
    files["neutron/neutron.conf"] = f"""{_common(pw, "neutron", layout)}core_plugin = ml2
service_plugins = router
auth_strategy = keystone
bind_host = 127.0.0.1
bind_port = 9696
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 1
allow_overlapping_ips = true
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
dhcp_agents_per_network = 1
host = {compute_hosts(1)[0]}
api_paste_config = /etc/neutron/api-paste.ini
[database]
connection = {_db(pw, "neutron")}
[experimental]
linuxbridge = true
[agent]
root_helper = sudo neutron-rootwrap /etc/neutron/rootwrap.conf
{_authtoken(pw, "neutron")}
{_auth(pw, "nova", "nova")}{_shared(layout, "neutron")}"""
    files["neutron/ml2_conf.ini"] = """[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = linuxbridge,l2population
extension_drivers = port_security
[ml2_type_flat]
flat_networks = physnet1
[ml2_type_vxlan]
vni_ranges = 1:4000
"""
    # vxlan on 127.0.0.1 with l2population and no multicast group: nothing leaves the host.
    files["neutron/linuxbridge_agent.ini"] = f"""[linux_bridge]
physical_interface_mappings = physnet1:{PHYS_EXT}
[vxlan]
enable_vxlan = true
local_ip = 127.0.0.1
l2_population = true
vxlan_group =
[securitygroup]
enable_security_group = true
firewall_driver = iptables
[agent]
polling_interval = 2
"""
    files["neutron/l3_agent.ini"] = "[DEFAULT]\ninterface_driver = linuxbridge\n"
    # dnsmasq drops to `nobody` and re-reads its hosts file as such: its files must be outside
    # the state directory (0700, under root's home), or it answers no guest (DHCP never done).
    files["neutron/dhcp_agent.ini"] = f"""[DEFAULT]
interface_driver = linuxbridge
dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
dhcp_confs = {DHCP_CONFS}
enable_isolated_metadata = false
dnsmasq_dns_servers = 127.0.0.1
"""
    for i, host in enumerate(compute_hosts(computes), start=1):
        files[f"neutron/host{i}.conf"] = f"[DEFAULT]\nhost = {host}\n"
    files[
        "barbican/barbican.conf"
    ] = f"""{_common(pw, "barbican", layout)}host_href = http://127.0.0.1:9311
db_auto_create = true
# Barbican reads its own [DEFAULT] option, not oslo.db's [database]: without it Barbican falls
# back to SQLite, which answers "database is locked" to concurrent orders (Cinder + Pulumi).
sql_connection = {_db(pw, "barbican")}
[secretstore]
enabled_secretstore_plugins = store_crypto
[crypto]
enabled_crypto_plugins = simple_crypto
[simple_crypto_plugin]
kek = {pw["simple_crypto_kek"]}
[queue]
enable = false
[oslo_policy]
# Zed's new defaults let a project member delete its own orders (the legacy rule wants admin),
# which `pulumi destroy` of an OrderV1 needs.
enforce_new_defaults = true
{_authtoken(pw, "barbican")}{_shared(layout, "barbican")}"""
    files["cinder/cinder.conf"] = f"""{_common(pw, "cinder", layout)}auth_strategy = keystone
my_ip = 127.0.0.1
osapi_volume_listen = 127.0.0.1
osapi_volume_workers = 1
enabled_backends = nfs
api_paste_config = /etc/cinder/api-paste.ini
rootwrap_config = {layout.etc / "cinder" / "rootwrap.conf"}
volumes_dir = {d / "cinder" / "volumes"}
# Backups as files in a directory (the POSIX driver): encrypted volumes are copied as they are,
# ciphertext, and their key is cloned in Barbican for the backup.
backup_driver = cinder.backup.drivers.posix.PosixBackupDriver
backup_posix_path = {d / "cinder-backup"}
# Ciphertext does not compress: don't spend two cores trying.
backup_compression_algorithm = none
[database]
connection = {_db(pw, "cinder")}
[nfs]
volume_driver = cinder.volume.drivers.nfs.NfsDriver
volume_backend_name = nfs
nfs_shares_config = {layout.etc / "cinder" / "nfs_shares"}
nfs_mount_point_base = {d / "cinder-mnt"}
nfs_sparsed_volumes = true
nfs_snapshot_support = true
nas_secure_file_operations = false
nas_secure_file_permissions = false
max_over_subscription_ratio = 50
{_authtoken(pw, "cinder")}
{_service_user(pw, "cinder")}
{_auth(pw, "nova", "nova")}{_shared(layout, "cinder")}"""
    files["cinder/nfs_shares"] = SHARE + "\n"
    # Our bin/ first: its qemu-img is the stand-in of localcloud/wrappers.py.
    files["cinder/rootwrap.conf"] = f"""[DEFAULT]
filters_path = /etc/cinder/rootwrap.d
exec_dirs = {layout.root / "bin"},/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/bin,/usr/local/sbin
use_syslog = False
"""
    files.update(_swift(layout, pw))
    if mode == "real":
        files["libvirt/libvirtd.conf"] = libvirtd_conf(layout)
        files["libvirt/virtlogd.conf"] = virtlogd_conf(layout)
    return files


def _swift(layout: Layout, pw: dict[str, str]) -> dict[str, str]:
    sw = layout.etc / "swift"
    node = layout.data / "swift" / "node"
    common = f"""[DEFAULT]
bind_ip = 127.0.0.1
workers = 0
user = root
swift_dir = {sw}
devices = {node}
mount_check = false
log_facility = LOG_LOCAL0
"""
    out = {}
    for kind, port in (("account", 6202), ("container", 6201), ("object", 6200)):
        out[f"swift/{kind}-server.conf"] = f"""{common}bind_port = {port}
[pipeline:main]
pipeline = {kind}-server
[app:{kind}-server]
use = egg:swift#{kind}
[{kind}-replicator]
[{kind}-auditor]
"""
    out["swift/container-server.conf"] += "[container-sync]\n[container-updater]\n"
    swift_auth = _authtoken(pw, "swift").split("\n", 1)[1]
    out["swift/proxy-server.conf"] = f"""[DEFAULT]
bind_ip = 127.0.0.1
bind_port = 8080
workers = 0
user = root
swift_dir = {sw}
[pipeline:main]
pipeline = {PROXY_PIPELINE}
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:symlink]
use = egg:swift#symlink
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
allow_object_versioning = true
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_admin_role = ResellerAdmin
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
{swift_auth}"""
    return out
