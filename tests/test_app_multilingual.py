"""Search in any language on a run trained with multilingual e5 text features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apptest_helpers import by_key, open_page

pytestmark = pytest.mark.app

TIMEOUT = 240
ROOT = Path(__file__).resolve().parents[1]


def test_search_takes_a_german_caption_on_an_e5_run():
    at = open_page("pages/3_Search.py", None, TIMEOUT, dataset="tuxpaint:e5")
    by_key(at.button_group, "query_source").set_value("Type a text").run()
    assert any("multilingual e5" in c.value for c in at.caption)  # says which text features
    # ... and the bundle's validated query expansion (tuxpaint: k = 5, assets/.../e5.json)
    assert any("mean of its 5 nearest training captions" in c.value for c in at.caption)
    by_key(at.text_input, "typed_text").input("Ein Frosch").run()  # "a frog": not an English word
    assert not at.exception and not at.error, [e.value for e in at.error]
    (near,) = [c.value for c in at.caption if c.value.startswith("Expanded toward")]
    assert near.count("“") == 5 and "frog" in near.lower()  # the 5 training captions it was pulled to
    assert any("no AP" in c.value for c in at.caption)  # results were ranked for the typed query


def test_a_tfidf_run_still_names_unknown_words():
    at = open_page("pages/3_Search.py", None, TIMEOUT, dataset="tuxpaint")
    by_key(at.button_group, "query_source").set_value("Type a text").run()
    assert any("pick the dataset tuxpaint:e5" in c.value for c in at.caption)
    by_key(at.text_input, "typed_text").input("Schildkröte").run()
    assert any("Schildkröte" in e.value for e in at.error)


def test_train_page_offers_the_text_features():
    at = open_page("pages/2_Train.py", None, TIMEOUT, dataset="tuxpaint")
    control = by_key(at.radio, "text_features")
    assert control.value == "tfidf" and control.options == [
        "TF-IDF (English words)",
        "multilingual e5 (any language)",
    ]
    # the validation comparison stored in the bundle's e5.json (scripts/validate_e5_queries.py)
    v = json.loads((ROOT / "assets/datasets/tuxpaint/e5.json").read_text())["text_features_validation"]
    (note,) = [c.value for c in at.caption if c.value.startswith("Measured on a validation split")]
    assert f"TF-IDF mAP I→T {v['tfidf']['i2t']:.3f} / T→I {v['tfidf']['t2i']:.3f}" in note
    assert f"e5 {v['e5']['i2t']:.3f} / {v['e5']['t2i']:.3f}" in note
    higher = v["e5"]["i2t"] + v["e5"]["t2i"] > v["tfidf"]["i2t"] + v["tfidf"]["t2i"]
    assert ("e5 scores higher here" in note) == higher
    control.set_value("e5").run()
    assert not at.exception
    assert at.session_state["cmh_dataset"] == "tuxpaint:e5"
    assert by_key(at.sidebar.selectbox, "dataset_pick").value == "tuxpaint:e5"  # the picker follows
    by_key(at.radio, "text_features").set_value("tfidf").run()
    assert at.session_state["cmh_dataset"] == "tuxpaint"
    at = open_page("pages/2_Train.py", None, TIMEOUT, dataset="synthetic")  # no e5 features: no control
    assert not [r for r in at.radio if r.key == "text_features"]


def test_failures_show_a_languages_worst_queries():
    from cmh_core.datasets import load_dataset
    from cmh_core.evaluation import translated_query_counts

    at = open_page("pages/5_Failures.py", None, TIMEOUT, dataset="tuxpaint:e5")
    assert not [s for s in at.selectbox if s.key == "failures_language"]  # I→T: captions are the database
    by_key(at.button_group, "failures_direction").set_value("t2i").run()
    by_key(at.selectbox, "failures_language").set_value("fr").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    n = translated_query_counts(load_dataset("tuxpaint:e5"))["fr"]
    assert any(s.value == f"{n} queries in fr, worst first" for s in at.subheader)
    frame = next(d for d in at.dataframe if "caption (fr)" in d.value.columns).value
    assert len(frame) == n and frame["AP (fr)"].is_monotonic_increasing  # worst first
    assert frame["caption (fr)"].ne(frame["caption (en)"]).mean() > 0.5  # the French captions
    (line,) = [c.value for c in at.caption if "with the translated captions" in c.value]
    assert f"{frame['AP (fr)'].mean():.3f}" in line


def test_home_shows_a_caption_in_another_language_finding_its_picture():
    at = open_page("app.py", None, TIMEOUT, dataset="tuxpaint:e5")
    assert not [m for m in at.markdown if "finds its picture" in m.value]  # no fit nobody asked for
    by_key(at.button, "home_language_show").click().run()
    (line,) = [m.value for m in at.markdown if "finds its picture at rank" in m.value]
    assert "(de)" in line
    by_key(at.selectbox, "home_language").set_value("ja").run()
    assert not at.exception
    (line,) = [m.value for m in at.markdown if "finds its picture at rank" in m.value]
    rank = int(line.split("rank **")[1].split("**")[0])
    assert "(ja)" in line and 1 <= rank <= 158
    at = open_page("app.py", None, TIMEOUT, dataset="tuxpaint")  # TF-IDF: says where to find it
    assert not [m for m in at.markdown if "finds its picture" in m.value]
    assert any("tuxpaint:e5" in c.value for c in at.caption)
