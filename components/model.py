"""Shared pydantic base and the error translation from pydantic to file:key messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from ground.errors import ConfigError


class Model(BaseModel):
    """camelCase in YAML and stack config, snake_case in Python; unknown keys are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def key_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    """('bubbles', 3, 'cidr') -> 'hdh:bubbles[3].cidr' (prefix 'hdh:')."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "constrained-")) or part in {"list", "dict"}:
            continue  # pydantic's internal validator names are not user keys
        else:
            out += f".{part}" if out else str(part)
    return f"{prefix}{out}" if out else prefix.rstrip(":")


# Keys whose value is never repeated in a message, whatever is wrong with it.
QUIET_KEYS = {"sshPublicKey", "ssh_public_key"}


def _message(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = msg.removeprefix("Value error, ")
    if "input" in err and kind not in {"value_error", "assertion_error"}:
        if QUIET_KEYS & {str(p) for p in err["loc"]} or not _harmless(err["input"]):
            return f"{msg} (the value is not shown)"
        shown = repr(err["input"])
        return f"{msg} (got {shown[:60]})"
    return msg


def _harmless(value: Any) -> bool:
    """Whether a value can be echoed: no key material, no credentials in a URL."""
    text = repr(value)
    return "PRIVATE" not in text.upper() and "://" not in text and "-----" not in text


def translate(exc: ValidationError, path: str, prefix: str = "") -> list[ConfigError]:
    """One ConfigError per pydantic error, keyed the way the user wrote the file."""
    return [ConfigError(path, key_path(e["loc"], prefix), _message(e)) for e in exc.errors()]
