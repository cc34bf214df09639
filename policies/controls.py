"""Controls the rules map to (framework requirements), for metadata and the compliance matrix.

Titles paraphrase requirements we checked (docs/policies.md, "Sources"); no paragraph number is
cited that we have not read, so controls carry names, not section numbers.
"""

from __future__ import annotations

from typing import NamedTuple


class Control(NamedTuple):
    framework: str
    version: str
    title: str


CONTROLS: dict[str, Control] = {
    "snc-location": Control("SecNumCloud", "3.2", "Data and its administration located in the EU"),
    "snc-encryption-at-rest": Control("SecNumCloud", "3.2", "Customer data encrypted at rest"),
    "snc-encryption-in-transit": Control("SecNumCloud", "3.2", "Flows protected in transit"),
    "snc-exposure": Control("SecNumCloud", "3.2", "Only the administration entry point exposed"),
    "snc-secrets": Control("SecNumCloud", "3.2", "Secrets never stored in clear"),
    "hds-hosting-eea": Control("HDS", "2", "Health data hosted in the European Economic Area"),
    "hds-protection": Control("HDS", "2", "Health data protected (encryption, isolation)"),
    "anssi-containers": Control("ANSSI", "", "Containers run unprivileged, isolated from the host"),
    "hdh-hygiene": Control("hdh", "", "Platform conventions: approved images, classification tags"),
}
