"""The sovereign engine wrapper: backends judged by their parsed URL, passphrases required."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdh.engine import EngineError, backend_problem, backend_url, environment, passphrase_problem

OVH_S3 = "s3.gra.io.cloud.ovh.net"


@pytest.mark.parametrize(
    "url",
    [
        "file:///srv/state",
        "file:///home/me/pulumi.com/state",  # a path that merely contains "pulumi.com"
        "file://~",
        f"s3://state?endpoint={OVH_S3}&s3ForcePathStyle=true",
        f"s3://state?endpoint=https://{OVH_S3}&region=gra",
        "s3://state?endpoint=127.0.0.1:9000&disableSSL=true",
    ],
)
def test_accepted_backends(url: str) -> None:
    assert backend_problem(url) is None
    assert backend_url({"PULUMI_BACKEND_URL": url}) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://api.pulumi.com", "Pulumi Cloud"),
        ("https://app.pulumi.com/acme", "Pulumi Cloud"),
        ("HTTPS://API.PULUMI.COM/", "Pulumi Cloud"),
        ("https://api.pulumi.acme.example", "Pulumi Cloud"),
        ("s3://state", "Amazon S3"),
        ("s3://state?region=eu-west-3", "Amazon S3"),
        ("s3://state?endpoint=s3.us-east-1.amazonaws.com", "not an EU region"),
        ("s3://state?endpoint=s3.bhs.io.cloud.ovh.net", "not an EU region"),
        (f"s3://state?endpoint={OVH_S3}&disableSSL=true", "not TLS"),
        (f"s3://state?endpoint=http://{OVH_S3}", "not TLS"),
        ("gs://state", "use file://"),
        ("azblob://state", "use file://"),
        ("postgres://u:p@db/state", "use file://"),
        ("state-dir", "use file://"),
    ],
)
def test_refused_backends(url: str, why: str) -> None:
    problem = backend_problem(url)
    assert problem is not None and why in problem
    with pytest.raises(EngineError):
        backend_url({"HDH_BACKEND_URL": url})


def test_an_endpoint_variable_cannot_redirect_an_accepted_url() -> None:
    url = f"s3://state?endpoint={OVH_S3}"
    assert backend_problem(url, {"AWS_ENDPOINT_URL_S3": "https://s3.amazonaws.com"})


def test_credentials_in_a_backend_url_are_not_echoed() -> None:
    with pytest.raises(EngineError) as err:
        backend_url({"PULUMI_BACKEND_URL": "postgres://admin:hunter2@db.example/state"})
    assert "hunter2" not in str(err.value)


def test_passphrases(tmp_path: Path) -> None:
    assert passphrase_problem({"PULUMI_CONFIG_PASSPHRASE": "correct horse"}) is None
    assert "empty" in (passphrase_problem({"PULUMI_CONFIG_PASSPHRASE": ""}) or "")
    assert "empty" in (passphrase_problem({"PULUMI_CONFIG_PASSPHRASE": " \n"}) or "")
    assert "set PULUMI_CONFIG_PASSPHRASE" in (passphrase_problem({}) or "")
    file = tmp_path / "pass"
    assert "cannot read" in (passphrase_problem({"PULUMI_CONFIG_PASSPHRASE_FILE": str(file)}) or "")
    file.write_text("\n")
    assert "is empty" in (passphrase_problem({"PULUMI_CONFIG_PASSPHRASE_FILE": str(file)}) or "")
    file.write_text("s3cret passphrase\n")
    assert passphrase_problem({"PULUMI_CONFIG_PASSPHRASE_FILE": str(file)}) is None


def test_environment_refuses_an_access_token_and_an_empty_passphrase(tmp_path: Path) -> None:
    base = {"PULUMI_CONFIG_PASSPHRASE": "x", "PULUMI_BACKEND_URL": f"file://{tmp_path}"}
    with pytest.raises(EngineError, match="PULUMI_ACCESS_TOKEN"):
        environment({**base, "PULUMI_ACCESS_TOKEN": "pul-0123"})
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(EngineError, match="is empty"):
        environment(
            {
                "PULUMI_CONFIG_PASSPHRASE_FILE": str(empty),
                "PULUMI_BACKEND_URL": f"file://{tmp_path}",
            }
        )
