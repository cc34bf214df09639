"""The CrossGuard entry point: `pulumi preview --policy-pack policies` runs this file."""

import sys
from pathlib import Path

# The engine starts the pack with the pack directory as cwd; the rules import from the project.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_NAME, POLICIES, keep_secret_envelopes

keep_secret_envelopes()
# Constructing the pack starts the analyzer's gRPC server and blocks until the engine is done.
PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
