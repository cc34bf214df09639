"""Entry point of the Pulumi project (Pulumi.yaml at the repository root)."""

from hdh.program import run

run()
