"""`hdh pulumi`: anything that would reach Pulumi Cloud is refused before the engine starts."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from hdh import cli
from hdh.commands.pulumi import judge
from hdh.engine import EngineError


@pytest.mark.parametrize(
    "argv",
    [
        ["login"],
        ["login", "https://api.pulumi.com"],
        ["login", "https://app.pulumi.com/acme"],
        ["login", "--cloud-url", "https://api.pulumi.com"],
        ["login", "--cloud-url=https://api.pulumi.com"],
        ["login", "-c", "https://api.pulumi.com"],
        ["--cwd", "x", "login"],
        ["-v", "3", "login", "s3://state"],
        ["logout", "--cloud-url", "https://api.pulumi.com"],
        ["stack", "ls", "--cloud-url", "https://api.pulumi.com"],
        ["org", "get-default"],
        ["env", "open", "acme/prod"],
        ["policy", "publish", "policies"],
        ["deployment", "run", "update"],
        ["console"],
        ["preview", "--tracing", "https://collector.example"],
        ["up", "--otel-traces=grpc://collector.example:4317"],
        ["login", "--oidc-token", "eyJ", "--oidc-org", "acme"],
        ["login", "--insecure", "s3://state?endpoint=s3.gra.io.cloud.ovh.net"],
    ],
)
def test_refused(argv: list[str]) -> None:
    with pytest.raises(EngineError):
        judge(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["preview", "--stack", "ovh-gra", "--policy-pack", "policies"],
        ["login", "--local"],
        ["login", "file:///srv/pulumi.com-state"],
        ["login", "s3://state?endpoint=s3.sbg.io.cloud.ovh.net"],
        ["stack", "select", "login"],  # "login" as a stack name, not the command
        ["up", "-c", "key=value"],  # -c is --config outside login
        ["preview", "--tracing", "file:/tmp/trace.json"],
        ["policy", "new", "python"],
        ["login", "--default-org", "acme", "file:///srv/state"],
    ],
)
def test_accepted(argv: list[str]) -> None:
    judge(argv)


def test_cli_refuses_pulumi_cloud_without_running_the_engine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the engine must not run")

    monkeypatch.setattr(subprocess, "run", never)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "x")
    assert cli.main(["pulumi", "--", "login", "https://api.pulumi.com"]) == 2
    err = capsys.readouterr().err
    assert "Pulumi Cloud (or a Pulumi service) is refused" in err and "Traceback" not in err
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-abc")
    assert cli.main(["pulumi", "--", "preview"]) == 2
    assert "PULUMI_ACCESS_TOKEN" in capsys.readouterr().err
