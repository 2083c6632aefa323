"""Pure Plotly figure builders for the app and the HTML reports (no streamlit here).

Every builder takes plain numbers (lists, arrays, the dicts of `cmh_core.evaluation.evaluate`)
and returns a `plotly.graph_objects.Figure`; the caller decides where to show it. Colours come
from one palette so a direction, a modality or a label keeps its colour on every page:

* `DIRECTION_COLOURS`: ``"I→T"`` / ``"T→I"`` (also keyed ``"i2t"`` / ``"t2i"``);
* `MODALITY_COLOURS`: ``"image"`` / ``"text"``;
* `RELEVANCE_COLOURS`: ``"relevant"`` / ``"not relevant"`` / ``"query"``;
* `group_colours(names)`: a stable colour per label or method, in first-seen order;
* `CHANCE_COLOUR` for every chance line.
"""

from __future__ import annotations

from cmh_core.evaluation import chance_from_pr_curve
from cmh_core.plotting._style import (
    CHANCE_COLOUR,
    DIRECTION_COLOURS,
    MODALITY_COLOURS,
    MODALITY_SYMBOLS,
    PALETTE,
    RELEVANCE_COLOURS,
    group_colours,
)
from cmh_core.plotting.bits import bit_balance_figure, bit_correlation_figure, bit_strip_figure
from cmh_core.plotting.codemap import (
    OWN_ITEM_COLOUR,
    OWN_ITEM_SYMBOLS,
    add_own_items,
    bucket_hover,
    bucket_map_figure,
    code_map_figure,
)
from cmh_core.plotting.compare import comparison_pr_figure, map_vs_bits_figure
from cmh_core.plotting.curves import (
    loss_terms_figure,
    map_bar_figure,
    objective_figure,
    pr_curve_figure,
    precision_at_k_figure,
)
from cmh_core.plotting.labels import label_ap_figure

__all__ = [
    "PALETTE",
    "DIRECTION_COLOURS",
    "MODALITY_COLOURS",
    "RELEVANCE_COLOURS",
    "CHANCE_COLOUR",
    "MODALITY_SYMBOLS",
    "OWN_ITEM_COLOUR",
    "OWN_ITEM_SYMBOLS",
    "group_colours",
    "chance_from_pr_curve",
    "objective_figure",
    "map_bar_figure",
    "pr_curve_figure",
    "precision_at_k_figure",
    "bit_balance_figure",
    "bit_correlation_figure",
    "code_map_figure",
    "bucket_map_figure",
    "bucket_hover",
    "bit_strip_figure",
    "add_own_items",
    "loss_terms_figure",
    "label_ap_figure",
    "map_vs_bits_figure",
    "comparison_pr_figure",
]
