"""Names shared across the library and the app: the two modalities and the two directions."""

from __future__ import annotations

__all__ = ["MODALITIES", "DIRECTIONS", "DIRECTION_SHORT"]

MODALITIES = ("image", "text")

#: Retrieval directions: image queries against text items, and text queries against images.
DIRECTIONS = {"i2t": "image → text (I→T)", "t2i": "text → image (T→I)"}
DIRECTION_SHORT = {"i2t": "I→T", "t2i": "T→I"}
