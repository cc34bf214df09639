"""hdh-platform: platform-as-code for a sovereign OpenStack health-data hub."""

from pathlib import Path

#: The repository root: Pulumi.yaml, stacks/, components/, policies/, hardening/ live here.
ROOT = Path(__file__).resolve().parent.parent
