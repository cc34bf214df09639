"""A resource whose real state is a file: what `hdh drift` must see when it changes by hand.

Run only by tests/engine/test_drift_engine.py, in a temporary copy, with the real engine.
"""

from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)


class FileProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        Path(props["path"]).write_text(props["content"])
        return CreateResult(id_=props["path"], outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        path = Path(id_)
        if not path.exists():
            return ReadResult(None, {})  # deleted behind our back
        return ReadResult(id_, {**props, "content": path.read_text()})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=olds.get("content") != news.get("content"))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        Path(id_).write_text(news["content"])
        return UpdateResult(outs=news)

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        Path(id_).unlink(missing_ok=True)


class File(Resource):
    def __init__(self, name: str, path: str, content: str) -> None:
        super().__init__(FileProvider(), name, {"path": path, "content": content})


File("watched", pulumi.Config().require("path"), "approved content\n")
