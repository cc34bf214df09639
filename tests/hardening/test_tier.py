"""The services tier's data, its wiring from stack outputs, and what it renders (no host)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.errors import ConfigErrors
from hardening import collector, data, egress, firewall, flows, monitoring, tier
from hardening.inventory import build, load_outputs

SERVICES = {
    "stack": "ovh-gra",
    "proxyPort": 3128,
    "cachePort": 3142,
    "logPort": 6514,
    "metricsPort": 9100,
    "clientNetworks": ["10.20.0.0/24", "10.20.16.0/20", "10.64.0.0/14"],
    "egressAllow": [".cloud.ovh.net", "192.0.2.0/28"],
}
OUTPUTS = {
    "inventory": {
        "stack": "ovh-gra",
        "bastion": {"address": "203.0.113.10"},
        "hosts": [
            {"name": "hdh-bastion", "address": "10.20.0.5", "role": "bastion", "tier": "admin"},
            {
                "name": "hdh-services0",
                "address": "10.20.8.5",
                "role": "services",
                "tier": "services",
            },
            {
                "name": "hdh-services1",
                "address": "10.20.8.6",
                "role": "services",
                "tier": "services",
            },
            {"name": "hdh-data0", "address": "10.20.16.5", "role": "data", "tier": "data"},
            {"name": "bubble-a-ws0", "address": "10.64.0.5", "role": "workspace", "tier": "bubble"},
        ],
        "services": SERVICES,
    }
}


def write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(doc))
    return path


def hosts(tmp_path: Path, doc: Any = OUTPUTS, **extra: Any) -> dict[str, dict[str, Any]]:
    return dict(build(load_outputs(write(tmp_path, doc)), tmp_path / "w", host_data=extra))


class Data(dict):  # pyinfra's host.data answers .get like a dict
    pass


def test_the_data_passes_its_schema() -> None:
    tier.validate()
    tier.validate_all()


def test_bad_data_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = copy.deepcopy(tier.settings())
    bad["egress"]["allow_domains"].append('evil.org"\nhttp_access allow all')
    bad["logs"]["retention_days"] = 0
    bad["monitoring"]["alerts"].append(dict(bad["monitoring"]["alerts"][0]))  # duplicate name
    bad["flows"][0]["port"] = "ssh"
    real = data.load
    monkeypatch.setattr(data, "load", lambda n: bad if n == tier.DATA else real(n))
    with pytest.raises(ConfigErrors) as err:
        tier.validate()
    text = "\n".join(err.value.lines())
    assert "services_tier.yaml: egress.allow_domains[2]: not a domain name" in text
    assert "logs.retention_days: an integer" in text
    assert "monitoring.alerts[8].name: a unique CamelCase name" in text
    assert "flows[0].port: a port number or one of" in text


def test_services_hosts_go_first_and_the_others_are_wired_to_the_first(tmp_path: Path) -> None:
    h = hosts(tmp_path)
    assert h["hdh-services0"]["hdh_role"] == "services" and h["hdh-services0"]["hdh_wave"] == 1
    # The jump host's firewall alone first, then it is a client like the others.
    assert h["hdh-bastion"]["hdh_first"] == ["firewall"] and h["hdh-bastion"]["hdh_wave"] == 2
    data0 = h["hdh-data0"]
    assert data0["hdh_wave"] == 2
    assert data0["proxy_host"] == "10.20.8.5"
    assert data0["ntp_servers"] == ["10.20.8.5", "10.20.8.6"]  # time from both
    assert data0["log_remote"] == "10.20.8.5:6514" and data0["log_remote_pki"] is True
    assert data0["log_remote_name"] == "hdh-services0"
    assert "log_remote" not in h["hdh-services0"]  # the collector does not forward to itself


def test_the_bastion_firewall_goes_first_even_without_a_services_tier(tmp_path: Path) -> None:
    doc = copy.deepcopy(OUTPUTS)
    del doc["inventory"]["services"]
    h = hosts(tmp_path, doc)
    assert h["hdh-bastion"]["hdh_first"] == ["firewall"]
    assert all("hdh_first" not in d for n, d in h.items() if n != "hdh-bastion")


def test_waves_run_the_first_areas_alone_then_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    from hardening import run

    calls: list[list[tuple[str, Any]]] = []

    def fake_wave(specs: Any, areas: Any, check: bool, parallel: int, start: float) -> Any:
        calls.append([(n, d.get("hdh_areas")) for n, d in specs])
        return [run.HostResult(n, "r", "container", 1, [f"{n} {len(calls)}"]) for n, _ in specs]

    monkeypatch.setattr(run, "_harden_wave", fake_wave)
    specs: list[tuple[str, dict[str, Any]]] = [
        ("bastion", {"hdh_first": ["firewall"], "hdh_wave": 2}),
        ("svc", {"hdh_wave": 1}),
        ("data", {"hdh_wave": 2}),
    ]
    out = run.harden_hosts(specs)
    assert calls == [
        [("bastion", ["firewall"])],
        [("svc", None)],
        [("bastion", None), ("data", None)],
    ]
    bastion = out[0]
    assert bastion.name == "bastion" and bastion.operations == 2
    assert bastion.changed == ["bastion 1", "bastion 3"]
    # --areas without the firewall: no first wave.
    calls.clear()
    run.harden_hosts(specs, areas=["ssh"])
    assert calls == [[("svc", None)], [("bastion", None), ("data", None)]]


def test_a_collector_of_your_own_wins(tmp_path: Path) -> None:
    h = hosts(tmp_path, log_remote="logs.example:6514", log_remote_ca="/ca.pem")
    assert h["hdh-data0"]["log_remote"] == "logs.example:6514"
    assert "log_remote_pki" not in h["hdh-data0"]
    assert h["hdh-data0"]["proxy_host"] == "10.20.8.5"  # the rest still wired


def test_without_a_services_section_nothing_is_wired(tmp_path: Path) -> None:
    doc = copy.deepcopy(OUTPUTS)
    del doc["inventory"]["services"]
    assert "services_hosts" not in hosts(tmp_path, doc)["hdh-data0"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["hosts"][3].update(name='x"y'), "hosts[3].name: not a host name"),
        (lambda d: d["hosts"][3].update(address="data.example"), "hosts[3].address: an IPv4"),
        (lambda d: d["services"].update(logPort=70000), "services.logPort: a TCP port"),
        (lambda d: d["services"].update(clientNetworks=["10.0.0.0/33"]), "clientNetworks[0]"),
        (lambda d: d["services"].update(clientNetworks=[]), "services.clientNetworks: a non-empty"),
        (lambda d: d["services"].update(egressAllow=["a b"]), "egressAllow[0]: 'a b': no domain"),
        (lambda d: d["services"].update(egressAllow="x.org"), "services.egressAllow: a list"),
        (lambda d: d.update(services=[1]), "services: must be a mapping"),
        (lambda d: d["hosts"].pop(1) and d["hosts"].pop(1), "no host with role services"),
    ],
)
def test_hostile_services_section(tmp_path: Path, edit: Any, message: str) -> None:
    doc = copy.deepcopy(OUTPUTS)
    edit(doc["inventory"])
    with pytest.raises(ConfigErrors) as err:
        load_outputs(write(tmp_path, doc))
    text = "\n".join(err.value.lines())
    assert message in text and text.startswith(str(tmp_path)), text


def test_the_firewall_opens_each_flow_to_its_sources_only(tmp_path: Path) -> None:
    h = hosts(tmp_path)
    s = data.settings("firewall", "services", "enhanced")
    svc = firewall.ruleset(s, 22, extra=flows.rules(Data(h["hdh-services0"]), True))
    nets = "10.20.0.0/24, 10.20.16.0/20, 10.64.0.0/14"
    for proto, port in (("tcp", 3128), ("tcp", 3142), ("udp", 123), ("tcp", 6514)):
        assert f"ip saddr {{ {nets} }} {proto} dport {port} accept" in svc
    assert "ip saddr { 10.20.8.5, 10.20.8.6 } tcp dport 9100 accept" in svc
    ws = firewall.ruleset(s, 22, extra=flows.rules(Data(h["bubble-a-ws0"]), False))
    assert "3128" not in ws and "ip saddr { 10.20.8.5, 10.20.8.6 } tcp dport 9100 accept" in ws
    assert "tcp dport { 22 } accept" in ws  # the role's own ports unchanged
    assert flows.rules(Data({}), False) == []  # no services tier: nothing added


def test_squid_lets_the_allow_list_through_and_refuses_the_rest(tmp_path: Path) -> None:
    conf = egress.squid_config(Data(hosts(tmp_path)["hdh-services0"]))
    lines = conf.splitlines()
    assert "acl hdh_clients src 10.20.0.0/24 10.20.16.0/20 10.64.0.0/14" in lines
    assert "acl hdh_allowed_networks dst 192.0.2.0/28" in lines
    assert (
        "acl hdh_allowed_domains dstdomain -n deb.debian.org security.debian.org .cloud.ovh.net"
        in lines
    )
    assert lines.index("http_access deny all") > lines.index(
        "http_access allow hdh_clients hdh_allowed_domains"
    )
    assert lines[-1] != "http_access allow all" and "http_access allow all" not in lines
    assert "http_port 10.20.8.5:3128" in lines


def test_apt_and_sessions_use_the_services_tier(tmp_path: Path) -> None:
    h = Data(hosts(tmp_path)["hdh-data0"])
    assert 'Acquire::http::Proxy "http://10.20.8.5:3142/";' in egress.apt_proxy(h)
    assert 'Acquire::https::Proxy "http://10.20.8.5:3128/";' in egress.apt_proxy(h)
    assert "https_proxy=http://10.20.8.5:3128/" in egress.environment(h).splitlines()


def test_the_collector_takes_inventory_hosts_over_mutual_tls(tmp_path: Path) -> None:
    h = Data(hosts(tmp_path)["hdh-services0"])
    conf = collector.collector_config(h, "0600")
    assert 'streamDriver.authMode="x509/name"' in conf and 'streamDriver.mode="1"' in conf
    assert 'permittedPeer=["hdh-bastion", "hdh-services0", "hdh-services1", "hdh-data0"' in conf
    table = json.loads(collector.hosts_table(h))
    assert {"index": "10.20.16.5", "value": "hdh-data0"} in table["table"]
    assert table["nomatch"] == "unknown-sender"
    rotate = collector.logrotate("0600")
    assert "\tdaily\n\trotate 180\n\tmaxage 180\n" in rotate
    script = collector.freshness_script(h)
    assert "for h in hdh-bastion hdh-data0 bubble-a-ws0; do" in script  # not the services hosts
    # The second services host stands by: no host forwards to it, it exports no freshness.
    standby = Data(hosts(tmp_path)["hdh-services1"])
    assert collector.clients(standby) == []


def test_prometheus_scrapes_every_host_and_carries_the_rules(tmp_path: Path) -> None:
    h = Data(hosts(tmp_path)["hdh-services0"])
    conf = yaml.safe_load(monitoring.prometheus_config(h))
    static = conf["scrape_configs"][0]["static_configs"]
    assert [s["targets"][0] for s in static] == [
        "10.20.0.5:9100", "10.20.8.5:9100", "10.20.8.6:9100", "10.20.16.5:9100", "10.64.0.5:9100"
    ]  # fmt: skip
    assert static[3]["labels"] == {"host": "hdh-data0", "role": "data-host", "tier": "data"}
    rules = yaml.safe_load(monitoring.alert_rules())["groups"][0]["rules"]
    names = [r["alert"] for r in rules]
    for wanted in ("HostDown", "DiskAlmostFull", "MemoryLow", "AuditdStopped",
                   "LogForwardingStopped", "LogsNotReceived", "HardeningDrift"):  # fmt: skip
        assert wanted in names
    am = yaml.safe_load(monitoring.alertmanager_config())
    assert am["route"]["receiver"] == am["receivers"][0]["name"] == "hdh-ops"
    args = monitoring.exporter_args(Data(hosts(tmp_path)["hdh-data0"]))
    assert "--web.listen-address=10.20.16.5:9100" in args and "\\" not in args


def test_outputs_with_secrets_come_on_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi stack output --json --show-secrets | hdh harden --inventory -`: the backup
    credential's secret reaches the first services host, and never touches the disk."""
    import io

    doc: dict[str, Any] = copy.deepcopy(OUTPUTS)
    doc["inventory"]["backups"] = {"kind": "snapshot", "volumes": [{"name": "data", "id": "v"}]}
    doc["backupCredentialSecret"] = "s3cr3t"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(doc).encode())))
    loaded = load_outputs(Path("-"))
    assert loaded["backups"]["credentialSecret"] == "s3cr3t"
    wiring = tier.wiring(loaded)
    assert wiring["hdh-services0"]["services_backups"]["credentialSecret"] == "s3cr3t"
    assert "services_backups" not in wiring["hdh-services1"]
    assert "services_backups" not in wiring["hdh-data0"]
    doc["backupCredentialSecret"] = "[secret]"  # outputs taken without --show-secrets
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(doc).encode())))
    assert "credentialSecret" not in load_outputs(Path("-"))["backups"]


def test_overlapping_client_networks_are_merged_for_nft(tmp_path: Path) -> None:
    doc: dict[str, Any] = copy.deepcopy(OUTPUTS)
    doc["inventory"]["services"]["clientNetworks"] = [
        "10.64.0.0/14",
        "10.64.1.0/24",
        "10.65.0.0/16",
    ]
    rules = flows.rules(Data(hosts(tmp_path, doc)["hdh-services0"]), True)
    assert rules[0].startswith("ip saddr { 10.64.0.0/14 } tcp dport 3128")
