"""Entry point of the Pulumi project (Pulumi.yaml at the repository root)."""

from components.program import run

run()
