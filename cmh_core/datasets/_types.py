"""Container types shared by every dataset loader.

`CrossModalDataset` is the one shape in which data flows from a loader to a method, the
evaluation and the app: features and labels as dense arrays, captions as strings, thumbnails
on demand, and a fixed `Split` of index arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CrossModalDataset", "Split"]


@dataclass(frozen=True)
class Split:
    """Fixed query / database / train index arrays (train is a subset of database).

    Attributes
    ----------
    query, database, train : ndarray of int64, shape (n_q,), (n_db,), (n_tr,)
        Row indices into the dataset's arrays; query and database are disjoint.
    """

    query: np.ndarray
    database: np.ndarray
    train: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Return the number of items in each part, e.g. ``{"query": 152, ...}``."""
        return {"query": len(self.query), "database": len(self.database), "train": len(self.train)}


@dataclass
class CrossModalDataset:
    """Paired images and texts with multi-hot labels and a fixed split.

    Attributes
    ----------
    name : str
        Short name (``"tuxpaint"``, ``"synthetic"``, or a file stem).
    image_features : ndarray of float32, shape (n, d_img)
    text_features : ndarray of float32, shape (n, d_txt)
    labels : ndarray of uint8, shape (n, c)
        Multi-hot labels; every row has at least one 1.
    label_names : list of str, length c
    texts : list of str, length n
        Captions or tags (placeholders such as ``"item 17"`` when a file carries none).
    split : Split
    metadata : dict
        Free-form extras (source, licence, styles, translations, featuriser settings).
    root : Path or None
        Folder of a bundled dataset (vocabulary, images, card), None for in-memory data.
    """

    name: str
    image_features: np.ndarray
    text_features: np.ndarray
    labels: np.ndarray
    label_names: list[str]
    texts: list[str]
    split: Split
    metadata: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None
    _thumbnail_loader: Callable[[int], Any] | None = field(default=None, repr=False)

    @property
    def n_items(self) -> int:
        """Number of items n."""
        return int(self.image_features.shape[0])

    def thumbnail(self, i: int):
        """Return item ``i``'s picture as a ``PIL.Image.Image`` (RGB).

        Raises
        ------
        IndexError
            If ``i`` is outside ``0..n-1``.
        """
        i = int(i)
        if not 0 <= i < self.n_items:
            raise IndexError(
                f"item index {i} out of range; the dataset has {self.n_items} items (0..{self.n_items - 1})"
            )
        if self._thumbnail_loader is None:
            from cmh_core.datasets._glyphs import glyph_thumbnail

            return glyph_thumbnail(self.labels[i])
        return self._thumbnail_loader(i)
