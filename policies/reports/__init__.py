"""Report renderers: each turns one Result (the list of findings) into one format."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policies.run import Result

FORMATS = ("text", "json", "sarif", "junit", "markdown")


def renderer(fmt: str) -> Callable[[Result], str]:
    render: Callable[[Result], str] = importlib.import_module(f"policies.reports.{fmt}").render
    return render
