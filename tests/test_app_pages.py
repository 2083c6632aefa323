"""AppTest flows: train → search, bad queries shown as errors, unpaired switch, per-session runs."""

import re

import pytest
from apptest_helpers import by_key, open_page, press_train
from streamlit.testing.v1 import AppTest

from cmh_core.datasets import load_dataset
from cmh_core.evaluation import per_query_ap
from cmh_core.experiment import run_experiment
from cmh_core.methods import DCH

pytestmark = pytest.mark.app

TIMEOUT = 180  # the test machine is shared and loaded (UMAP compiles once per process)


def _open(page: str, at: AppTest | None = None, **query) -> AppTest:
    return open_page(page, at, TIMEOUT, **query)


_by_key = by_key


@pytest.fixture(scope="module")
def trained() -> AppTest:
    """One session that trained DCH at 32 bits on the Train page."""
    at = _open("pages/2_Train.py")
    assert not at.metric or all(m.label != "mAP I→T" for m in at.metric)  # nothing trained yet
    assert _by_key(at.selectbox, "train_method").value == "DCH"
    _by_key(at.button_group, "bits").set_value(32)
    return press_train(at)


def test_train_shows_map_against_chance(trained):
    labels = {m.label: m.value for m in trained.metric}
    assert float(labels["mAP I→T"]) >= 0.4  # DCH on tuxpaint, 32 bits: far above chance (~0.1)
    assert labels["Code length"] == "32 bits"
    assert any(c.value.startswith("NDCG@50, graded by shared labels: I→T 0.") for c in trained.caption)
    assert not trained.error
    runs = trained.session_state["cmh_runs"]
    assert [k.label() for k in runs.runs] == ["DCH · 32 bits · seed 0"]


def test_search_after_training_ranks_by_distance_and_shows_the_query_ap(trained):
    at = _open("pages/3_Search.py", trained)
    assert not any("No run in this session" in i.value for i in at.info)  # used the trained run
    dists = [int(m.group(1)) for md in at.markdown if (m := re.search(r"`d = (\d+)`", md.value))]
    assert len(dists) >= 10
    assert dists[0] == min(dists) and dists == sorted(dists)
    shown = float(next(m.value for m in at.metric if m.label == "AP of this query"))
    ds = load_dataset("tuxpaint")
    model = run_experiment(ds, "DCH", n_bits=32, seed=0).model  # same seed: the same codes
    ap = per_query_ap(model, ds, "i2t")[0]  # the default query is the first image query
    assert shown == pytest.approx(ap, abs=5e-5)


def test_search_all_unknown_words_is_an_error_not_an_exception(trained):
    at = _open("pages/3_Search.py", trained)
    _by_key(at.button_group, "query_source").set_value("Type a text").run()
    _by_key(at.text_input, "typed_text").input("zzqxv blorfing").run()
    assert not at.exception
    assert any("zzqxv" in e.value for e in at.error)
    _by_key(at.text_input, "typed_text").input("red apple zzqxv").run()
    assert not at.exception and not at.error
    assert any("zzqxv" in w.value for w in at.warning)  # unknown word named
    assert [m for md in at.markdown if (m := re.search(r"`d = (\d+)`", md.value))]


def test_search_corrupt_upload_is_an_error_not_an_exception(trained):
    at = _open("pages/3_Search.py", trained)
    _by_key(at.button_group, "query_source").set_value("Upload an image").run()
    _by_key(at.file_uploader, "upload").set_value(
        ("broken.png", b"\x89PNG not really an image", "image/png")
    ).run()
    assert not at.exception
    assert any("not a readable image" in e.value for e in at.error)


class _UnpairedDCH(DCH):
    name = "Unpaired-DCH"
    supports_unpaired = True


def test_unpaired_switch_only_for_methods_that_support_it(monkeypatch):
    import cmh_core.methods

    monkeypatch.setitem(cmh_core.methods.METHODS, "Unpaired-DCH", _UnpairedDCH)
    at = _open("pages/2_Train.py")
    assert not [t for t in at.toggle if t.key == "unpaired_switch"]  # DCH: paired only
    _by_key(at.selectbox, "train_method").set_value("Unpaired-DCH").run()
    assert not at.exception
    assert [t for t in at.toggle if t.key == "unpaired_switch"]


def test_url_choice_retrains_and_sessions_do_not_share_runs(trained):
    other = _open("pages/3_Search.py", method="SCM", bits="16", seed="0")
    assert any("SCM · 16 bits · seed 0" in i.value for i in other.info)
    assert [k.method for k in other.session_state["cmh_runs"].runs] == ["SCM"]
    assert [k.method for k in trained.session_state["cmh_runs"].runs] == ["DCH"]
    assert other.query_params["query"].startswith("image:") and other.query_params["method"] == "SCM"


def test_code_map_opens_with_a_trained_run(trained):
    at = _open("pages/4_Code_Map.py", trained)
    assert any("PCA of 1260 codes" in c.value for c in at.caption)
    assert any("Click a dot to see its items" in i.value for i in at.info)  # nothing selected yet
    _by_key(at.button_group, "map_show").set_value("items").run()  # every item, not one dot per code
    # a selection event as Streamlit delivers it (set through the chart key, read dict-style)
    i, j = (int(x) for x in load_dataset("tuxpaint").split.database[:2])
    points = [{"id": f"image:{i}"}, {"id": f"text:{i}"}, {"id": f"text:{j}"}]
    at.session_state["code_map_chart"] = {
        "selection": {"points": points, "point_indices": [0, 1, 2], "box": [], "lasso": []}
    }
    at.run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Selection: 3 codes (1 images, 2 captions)") for s in at.subheader)
    assert at.download_button


def test_code_map_shows_one_marker_per_distinct_code(trained):
    """DCH's collapsed codes: the default view draws each distinct code once, sized by its items,
    and clicking a marker lists the items that share that code."""
    from cmh_core.buckets import code_buckets
    from cmh_core.evaluation import retrieval_codes

    at = _open("pages/4_Code_Map.py", trained)
    _by_key(at.button_group, "map_show").set_value("codes").run()  # the default; another test left items
    assert not at.exception, at.exception
    ds = load_dataset("tuxpaint")
    key = trained.session_state["cmh_runs"].current
    tr, db = ds.split.train, ds.split.database
    model = DCH(n_bits=key.n_bits, random_state=key.seed).fit(
        ds.image_features[tr], ds.text_features[tr], ds.labels[tr]
    )
    codes = retrieval_codes(model, ds, "learned")  # what the map shows: the learned database codes
    n = {
        m: code_buckets(codes[f"{m}_database"], ds.labels[db], ds.label_names).n_buckets
        for m in ("image", "text")
    }
    caption = next(c.value for c in at.caption if "distinct codes for 1260 items" in c.value)
    assert caption.startswith(
        f"{n['image'] + n['text']} distinct codes for 1260 items ({n['image']} image codes"
    )
    at.session_state["code_map_buckets"] = {
        "selection": {"points": [{"id": "bucket:image:0"}], "point_indices": [0], "box": [], "lasso": []}
    }
    at.run()
    assert not at.exception, at.exception
    first = codes["image_database"]
    size = int((first == first[0]).all(axis=1).sum())  # items sharing the first database image's code
    assert any(
        s.value.startswith(f"Selection: {size} codes ({size} images, 0 captions)") for s in at.subheader
    )


def _fill_runs():
    import streamlit as st

    from ui.state import RunKey, apply, pop_notices, session_runs

    for seed in range(11):
        apply("trained", RunKey.make("tuxpaint", "DCH", 16, seed))
    apply("trained", RunKey.make("tuxpaint", "DCH", 16, 10))  # same key: moved, not added
    runs = session_runs()
    st.write(f"{len(runs.runs)} runs; first seed {runs.runs.keys[0].seed}; current seed {runs.current.seed}")
    st.write(" ".join(pop_notices()))


def test_session_run_list_is_bounded_with_a_notice():
    at = AppTest.from_function(_fill_runs, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert at.markdown[0].value == "10 runs; first seed 1; current seed 10"
    assert "the oldest (DCH · 16 bits · seed 0) left the list" in at.markdown[1].value


def test_form_bounds_follow_closed_parameter_constraints():
    from numbers import Integral, Real

    from cmh_core.methods._constraints import Interval
    from ui.widgets import _bounds

    class _Constrained(DCH):
        _parameter_constraints = {
            "n_iter": [Interval(Integral, 1, 50, closed="both")],
            "mu": [Interval(Real, 0, None, closed="neither")],  # open: left to the library's check
        }

    assert _bounds(_Constrained, "n_iter") == {"min_value": 1, "max_value": 50}
    assert _bounds(_Constrained, "mu") == {}
    assert _bounds(_Constrained, "lam") == {}


def test_search_real_upload_finds_captions(trained):
    import io

    ds = load_dataset("tuxpaint")
    buf = io.BytesIO()
    ds.thumbnail(int(ds.split.query[0])).save(buf, format="PNG")
    at = _open("pages/3_Search.py", trained)
    _by_key(at.button_group, "query_source").set_value("Upload an image").run()
    _by_key(at.file_uploader, "upload").set_value(("frog.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and not at.error
    dists = [int(m.group(1)) for md in at.markdown if (m := re.search(r"`d = (\d+)`", md.value))]
    assert len(dists) >= 10 and dists == sorted(dists)
