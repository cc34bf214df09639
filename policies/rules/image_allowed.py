"""Instances boot only images of the profile's allow-list (Debian 12, hardened by hdh)."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule, as_list

RULE = Rule(
    id="image-allowed",
    title="Instances boot images from the allow-list",
    severity="medium",
    enforcement="advisory",
    frameworks=("hdh-hygiene",),
    remediation="Use an image of the profile's images.allowed (hdh:image / hdh:imageId).",
    resource_types=("openstack:compute/instance:Instance",),
    config=("allowedImages", "allowedImageIds"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    name = res.get("imageName")
    if name is not None and name not in cfg["allowedImages"]:
        yield f"image {name!r} is not in allowedImages"
    if not cfg["allowedImageIds"]:
        return  # ids differ per cloud: checked only when the security team lists them
    ids = [res.get("imageId")] + [
        res.get("blockDevices", i, "uuid")
        for i, _ in enumerate(as_list(res.get("blockDevices")))
        if res.get("blockDevices", i, "sourceType") == "image"
    ]
    for image_id in filter(None, ids):
        if image_id not in cfg["allowedImageIds"]:
            yield f"image id {image_id} is not in allowedImageIds"
