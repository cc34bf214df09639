"""`hdh env` refuses careless and hostile input: one line naming the flag or file, exit 2, nothing
made (no stack, no environment directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdh import cli
from hdh.throwaway.workspace import render_stack_file


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HDH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HDH_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test-only")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    return tmp_path


def _fails(argv: list[str], words: str, capsys: pytest.CaptureFixture[str], sandbox: Path) -> None:
    assert cli.main(["env", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert "Traceback" not in err[0]
    assert not (sandbox / "state" / ".pulumi").exists(), "nothing on the backend"
    assert not list((sandbox / "cache").glob("envs/*")), "no environment directory left"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["cycle", "--from", "local", "--ttl", "0m"], "--ttl 0m: must be between"),
        (["cycle", "--from", "local", "--ttl", "30d"], "between 15m and 7d"),
        (["cycle", "--from", "local", "--ttl", "4h; rm -rf /"], "--ttl"),
        (["cycle", "--from", "nope"], "--from 'nope': not a committed stack"),
        (["cycle", "--from", "../stacks/local"], "not a committed stack"),
        (["up", "--from", "tw-local-abcd"], "not a committed stack"),
        (["cycle", "--from", "local", "--id", "A B"], "--id 'A B'"),
        (["cycle", "--from", "local", "--ssh-key", "/nonexistent/key"], "no such file"),
        (["cycle", "--from", "local", "--ssh-timeout", "0"], "--ssh-timeout 0"),
        (["cycle", "--from", "local", "--step-timeout", "1e9"], "--step-timeout"),
        (["down", "prod"], "'prod': not a throwaway stack name"),
        (["cycle", "--from", "local", "--bastion", "host"], "--bastion 'host': give HOST:PORT"),
        (["cycle", "--from", "local", "--bastion", "h:70000"], "--bastion"),
        (["cycle", "--from", "local", "--bastion=-oProxyCommand=x:22"], "--bastion"),
        (["verify", "tw-local-abcd", "--bastion", "a b:22"], "--bastion"),
        (["verify", "tw-local-ABCD"], "not a throwaway stack name"),
    ],
)
def test_bad_flags(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], sandbox: Path
) -> None:
    _fails(argv, words, capsys, sandbox)


def test_a_key_that_is_not_a_key(capsys: pytest.CaptureFixture[str], sandbox: Path) -> None:
    junk = sandbox / "junk"
    junk.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n")
    junk.chmod(0o600)
    _fails(
        ["cycle", "--from", "local", "--ssh-key", str(junk)],
        "not a readable private key",
        capsys,
        sandbox,
    )


def test_a_report_path_that_is_a_directory(
    capsys: pytest.CaptureFixture[str], sandbox: Path
) -> None:
    (sandbox / "out").mkdir()
    argv = ["cycle", "--from", "local", "--json", str(sandbox / "out")]
    _fails(argv, "exists and is a directory", capsys, sandbox)


def test_an_id_in_use_on_this_machine_is_refused_and_its_files_kept(
    capsys: pytest.CaptureFixture[str], sandbox: Path
) -> None:
    kept = sandbox / "cache" / "envs" / "tw-local-kept1"
    kept.mkdir(parents=True)
    (kept / "id_ed25519").write_text("the kept environment's key")
    assert cli.main(["env", "up", "--from", "local", "--id", "kept1"]) == 2
    assert "tw-local-kept1 exists on this machine" in capsys.readouterr().err
    assert (kept / "id_ed25519").read_text() == "the kept environment's key"


def test_a_bad_ssh_timeout_from_the_environment(
    capsys: pytest.CaptureFixture[str], sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HDH_SSH_TIMEOUT", "ten minutes")
    _fails(["cycle", "--from", "local"], "HDH_SSH_TIMEOUT='ten minutes'", capsys, sandbox)


def test_no_passphrase(
    capsys: pytest.CaptureFixture[str], sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    _fails(["cycle", "--from", "local"], "set PULUMI_CONFIG_PASSPHRASE", capsys, sandbox)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://api.pulumi.com", "Pulumi Cloud (or a Pulumi service) is refused"),
        ("gs://bucket", "use file://DIR"),
    ],
)
def test_no_pulumi_cloud_nor_foreign_backend(
    url: str,
    words: str,
    capsys: pytest.CaptureFixture[str],
    sandbox: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HDH_BACKEND_URL", url)
    _fails(["cycle", "--from", "local"], words, capsys, sandbox)


def test_secure_values_of_the_base_are_not_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "Pulumi.base.yaml"
    base.write_text("config:\n  openstack:region: GRA11\n  hdh:dbPassword:\n    secure: v1:abc\n")
    monkeypatch.setattr("hdh.throwaway.workspace.stack_path", lambda _name: base)
    (tmp_path / "p" / "stacks").mkdir(parents=True)
    from ground.errors import ConfigError

    with pytest.raises(ConfigError, match=r"hdh:dbPassword: a secure value cannot be copied"):
        render_stack_file("base", "tw-base-abcd", {}, tmp_path / "p")
    assert not list((tmp_path / "p" / "stacks").iterdir())
