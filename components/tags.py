"""The labels every taggable resource carries: stack, tier, bubble, classification (+ expiry)."""

from __future__ import annotations

from dataclasses import dataclass, replace

EXPIRES_KEY = "expires-at"


@dataclass(frozen=True, kw_only=True)
class Labels:
    stack: str
    classification: str
    tier: str = ""
    bubble: str = ""
    # Throwaway stacks only (hdh env): the reaper finds orphaned resources by this tag.
    expires_at: str = ""

    def with_(self, **changes: str) -> Labels:
        return replace(self, **changes)

    def as_metadata(self) -> dict[str, str]:
        """For Nova/Cinder/Swift metadata: key -> value."""
        meta = {"stack": self.stack, "classification": self.classification, "tier": self.tier}
        if self.bubble:
            meta["bubble"] = self.bubble
        if self.expires_at:
            meta[EXPIRES_KEY] = self.expires_at
        return meta

    def as_tags(self) -> list[str]:
        """For Neutron tags (plain strings): key=value."""
        return [f"{k}={v}" for k, v in self.as_metadata().items()]
