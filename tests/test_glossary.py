"""The glossary (issue 23): one source, shown in the sidebar of every page."""

import pytest
from apptest_helpers import open_page

from ui.frame import PAGES
from ui.glossary import GLOSSARY, RELEVANCE_LABELS

TIMEOUT = 120  # Search, Code Map and Failures train the default run first; the machine is shared


def test_glossary_names_the_words_the_pages_use():
    for term in ("mAP", "I→T / T→I", "Hamming distance", "chance", "relevant"):
        assert len(GLOSSARY[term]) > 40, term  # a sentence, not a stub
    for words in RELEVANCE_LABELS.values():  # both relevance rules are explained
        assert words.lower() in GLOSSARY["relevant"].lower()


@pytest.mark.app
@pytest.mark.slow  # opens all seven pages (three of them need the default training)
def test_every_page_shows_the_glossary_in_its_sidebar():
    at = None
    for path, label, *_ in PAGES:
        at = open_page(path, at, TIMEOUT)
        (panel,) = [e for e in at.sidebar.get("expander") if e.label == "Glossary"]
        text = " ".join(m.value for m in panel.markdown)
        assert all(f"**{term}**: {GLOSSARY[term]}" in text for term in GLOSSARY), label
