"""Names shared across the library and the app: the two modalities."""

from __future__ import annotations

__all__ = ["MODALITIES"]

MODALITIES = ("image", "text")
