"""The glossary: the words of the pages explained once, shown in every page's sidebar.

One source (`GLOSSARY`) for the sidebar panel and for the help texts of the relevance switch
(`relevance_control`) on Search, Failures and Compare. The definitions are those of
``docs/evaluation.md``; ``docs/app.md`` lists where the glossary shows.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["GLOSSARY", "RELEVANCE_LABELS", "glossary_sidebar", "relevance_control", "relevance_words"]

RELEVANCE_LABELS = {"any": "shares any label", "leaf": "shares its most specific label"}

GLOSSARY: dict[str, str] = {
    "I→T / T→I": "The two directions of cross-modal search. I→T: an image is the query and captions "
    "are ranked. T→I: a caption is the query and images are ranked.",
    "Hamming distance": "The number of bits in which two binary codes differ (0 = the same code). "
    "Results are ranked by it, nearest first; items at the same distance are tied.",
    "relevant": "Whether a result counts as a right answer for a query, read off the labels. "
    "Shares any label (the default): the result has at least one of the query's labels, so a broad "
    "label such as 'symbols' makes a smiley relevant for a coin. Shares its most specific label: "
    "the result has the query's most specific label, the one of its labels that the fewest items "
    "of the dataset carry (the deepest folder, the emoji's subgroup).",
    "AP": "Average precision of one query: the precision at the rank of each relevant result, "
    "averaged over its relevant results. 1 means every relevant result comes before every other.",
    "mAP": "Mean average precision: the AP averaged over all queries of the query set, per direction. "
    "0 to 1, higher is better.",
    "chance": "What a random ranking would score: its precision is the fraction of the database that "
    "is relevant, and its AP about the same. A method must beat chance to have learned anything.",
}


def relevance_words(rule: str) -> str:
    """``"shares any label"`` / ``"shares its most specific label"`` for a relevance rule."""
    return RELEVANCE_LABELS[rule]


def glossary_sidebar() -> None:
    """A closed "Glossary" panel in the sidebar (call inside ``with st.sidebar``)."""
    with st.expander("Glossary", icon=":material/menu_book:", key="glossary_panel"):
        for term, text in GLOSSARY.items():
            st.markdown(f"**{term}**: {text}")


def relevance_control(key: str) -> str:
    """The "Relevant means" switch: ``"any"`` (default) or ``"leaf"``; the page's metrics follow it."""
    pick = st.radio(  # a radio, not pills: one rule is always chosen, a second click changes nothing
        "Relevant means",
        list(RELEVANCE_LABELS),
        format_func=RELEVANCE_LABELS.get,
        key=key,
        horizontal=True,
        help=GLOSSARY["relevant"],
    )
    return pick or "any"
