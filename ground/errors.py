"""One error root for the toolkit; the CLI turns these into one line each and exit code 2."""

from __future__ import annotations

from collections.abc import Iterable


class HdhError(Exception):
    """Base class of every error the toolkit reports to a user (never a bug)."""

    exit_code = 2

    def lines(self) -> list[str]:
        return [str(self)]


class ConfigError(HdhError):
    """A bad value in a stack file or profile: `file: key: message`."""

    def __init__(self, path: str, key: str, msg: str) -> None:
        self.path, self.key, self.msg = path, key, msg
        super().__init__(f"{path}: {key}: {msg}" if key else f"{path}: {msg}")


class ConfigErrors(HdhError):
    """Every configuration error found in one pass, reported together."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    def lines(self) -> list[str]:
        return [str(e) for e in self.errors]


class InputError(HdhError):
    """An unreadable or unrecognised input file (state export, preview JSON, inventory)."""
