"""AppTest flows of the bit playground and of your own items on Search and Code Map."""

import re

import numpy as np
import pytest
from apptest_helpers import by_key, open_page
from streamlit.testing.v1 import AppTest

from cmh_core.datasets import load_dataset
from cmh_core.datasets.featurize import featurize_text
from cmh_core.evaluation import retrieval_codes
from cmh_core.experiment import run_experiment
from cmh_core.hamming import hamming_distance
from cmh_core.playground import flip_bits, flipped_distances, hamming_ball
from ui.results import rank_query

pytestmark = pytest.mark.app

TIMEOUT = 90  # the test machine is shared and loaded; the first upload loads EfficientNet
N_BITS = 32
D_MARK = re.compile(r"`d = (\d+)`")


@pytest.fixture(scope="module")
def ds():
    return load_dataset("tuxpaint")


@pytest.fixture(scope="module")
def model(ds):
    """The app's default run retrained here (same method, bits and seed: the same codes)."""
    return run_experiment(ds, "DCH", n_bits=N_BITS, seed=0).model


@pytest.fixture(scope="module")
def codes(ds, model):
    return retrieval_codes(model, ds, "learned")


def _search() -> AppTest:
    return open_page("pages/3_Search.py", timeout=TIMEOUT)  # no run yet: trains the default DCH 32


_by_key = by_key


def _shown_distances(at) -> list[int]:
    """The distances on the result cards, in the order the gallery shows them."""
    return [int(m.group(1)) for md in at.markdown if (m := D_MARK.search(md.value))]


def _shown_captions(at) -> list[str]:
    return [t.value for t in at.text if t.value.startswith("“")]  # captions are plain text


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _flips(at):
    return next(b for b in at.button_group if (b.key or "").startswith("flips_"))


def test_flipping_one_bit_reranks_shows_the_ball_and_reset_restores(ds, codes):
    at = _search()
    q, db_codes = codes["image_query"][0], codes["text_database"]  # default query: first image query
    d0 = hamming_distance(q[None], db_codes)[0]
    before = (_shown_distances(at), _shown_captions(at))
    assert before[0] == sorted(d0.tolist())[:30]
    ap0 = float(_metric(at, "AP of this query"))
    ball0 = hamming_ball(q, db_codes, 2)
    for r in (0, 1, 2):  # the ball's counts, as the library counts them
        assert int(_metric(at, f"Database texts within radius {r}")) == len(ball0[r])

    j = 5
    _flips(at).set_value([j]).run()
    assert not at.exception, at.exception
    d1 = flipped_distances(q, db_codes, [j], N_BITS)
    assert np.all(np.abs(d1 - d0.astype(int)) == 1)
    after = (_shown_distances(at), _shown_captions(at))
    assert after != before  # the ranking shown changed
    assert after[0] == sorted(d1.tolist())[:30]  # ... to the flipped code's ranking
    ball1 = hamming_ball(flip_bits(q, [j], N_BITS), db_codes, 2)
    for r in (0, 1, 2):
        assert int(_metric(at, f"Database texts within radius {r}")) == len(ball1[r])
    ap1 = float(_metric(at, "AP of this query"))
    yq, ydb = ds.labels[int(ds.split.query[0])], ds.labels[np.asarray(ds.split.database)]
    assert ap1 == pytest.approx(rank_query(flip_bits(q, [j], N_BITS), db_codes, yq, ydb)["ap"], abs=5e-5)
    delta = next(m.delta for m in at.metric if m.label == "AP of this query")
    assert delta.endswith("vs. the unflipped code")  # the change against the unflipped code is shown
    assert float(delta.split()[0]) == pytest.approx(ap1 - ap0, abs=2e-4)
    assert any("flipped query code" in c.value for c in at.caption)

    at.button[[b.label for b in at.button].index("Reset: flip nothing")].click().run()
    assert not at.exception, at.exception
    assert _flips(at).value == []
    assert (_shown_distances(at), _shown_captions(at)) == before  # reset restores the ranking
    assert float(_metric(at, "AP of this query")) == ap0


def test_typed_query_has_a_playground_but_no_ap(ds, model, codes):
    at = _search()
    _by_key(at.button_group, "query_source").set_value("Type a text").run()
    _by_key(at.text_input, "typed_text").input("a red apple").run()
    assert not at.exception and not at.error
    assert not [m for m in at.metric if m.label == "AP of this query"]
    assert any("no AP" in c.value for c in at.caption)
    q = model.encode(featurize_text(ds, "a red apple")[None], "text")[0]
    for flips in ([], [0, 1]):
        _flips(at).set_value(flips).run()
        assert not at.exception
        want = flipped_distances(q, codes["image_database"], flips, N_BITS)
        assert _shown_distances(at) == sorted(want.tolist())[:30]


def _image_file(ds, i: int) -> bytes:
    return (ds.root / "images" / ds.metadata["images"][i]).read_bytes()


def test_uploaded_copy_is_found_at_the_originals_distance_and_removed(ds, codes):
    db = np.asarray(ds.split.database)
    tq = codes["text_query"][0]  # the first caption query
    d = hamming_distance(tq[None], codes["image_database"])[0].astype(int)
    j = int(np.argsort(d, kind="stable")[0])  # the database image this caption finds first
    i = int(db[j])
    at = _search()
    _by_key(at.file_uploader, "custom_upload").set_value((f"copy-{i}.webp", _image_file(ds, i), "image/webp"))
    at.run()
    _by_key(at.button, "custom_add_image").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (item,) = at.session_state["cmh_custom"][next(iter(at.session_state["cmh_custom"]))]
    np.testing.assert_array_equal(item["code"], codes["image_database"][j])  # exactly the original's code
    assert any(e.label.startswith("Add your own item (1 of 20") for e in at.expander)

    _by_key(at.button_group, "query_modality").set_value("text").run()  # caption query -> images
    assert not at.exception, at.exception
    line = next(md.value for md in at.markdown if md.value.startswith(":violet-badge[yours] in this ranking"))
    rank = int((d <= d[j]).sum()) + 1  # after every database image at the same or a smaller distance
    assert f"distance {d[j]}, rank {rank} of {len(db) + 1}" in line
    yours = [
        int(D_MARK.search(md.value).group(1))
        for md in at.markdown
        if "`d = " in md.value and "yours" in md.value
    ]
    assert yours == ([d[j]] if rank <= 30 else [])
    assert _shown_distances(at)[0] == d[j]  # the original, first, at the same distance

    at.switch_page("pages/4_Code_Map.py").run()  # the copy is on the map too, as a star
    assert not at.exception, at.exception
    assert any(c.value.startswith("Stars: your 1 item") for c in at.caption)

    at.switch_page("pages/3_Search.py").run()
    _by_key(at.button, "custom_rm_0").click().run()
    assert not at.exception, at.exception
    assert not [md for md in at.markdown if "yours" in md.value]  # gone from the results
    assert all(not v for v in at.session_state["cmh_custom"].values())


def test_corrupt_upload_empty_or_unknown_caption_are_errors_with_the_fix():
    at = _search()
    _by_key(at.file_uploader, "custom_upload").set_value(("broken.png", b"\x89PNG not an image", "image/png"))
    at.run()
    _by_key(at.button, "custom_add_image").click().run()
    assert not at.exception
    assert any("not a readable image" in e.value and "upload a PNG" in e.value for e in at.error)
    _by_key(at.button, "custom_add_text").click().run()  # nothing typed
    assert any("caption is empty" in e.value for e in at.error)
    _by_key(at.text_input, "custom_text").input("zzqxv blorfing").run()
    _by_key(at.button, "custom_add_text").click().run()
    assert not at.exception
    assert any("zzqxv" in e.value and "try words" in e.value for e in at.error)
    store = at.session_state["cmh_custom"] if "cmh_custom" in at.session_state else {}
    assert not any(store.values())  # nothing was added

    _by_key(at.text_input, "custom_text").input("a red apple zzqxv").run()
    _by_key(at.button, "custom_add_text").click().run()
    assert not at.exception and not at.error
    assert any("zzqxv" in w.value for w in at.warning)  # the unknown word is named, the rest is used
    _by_key(at.button_group, "query_modality").set_value("image").run()  # image query -> captions
    assert any(
        md.value.startswith(":violet-badge[yours] in this ranking") and "a red apple" in md.value
        for md in at.markdown
    )


def test_code_map_selection_names_your_items(ds):
    at = _search()
    _by_key(at.text_input, "custom_text").input("a koala").run()
    _by_key(at.button, "custom_add_text").click().run()
    assert not at.error
    at.switch_page("pages/4_Code_Map.py").run()
    _by_key(at.button_group, "map_show").set_value("items").run()  # your stars are drawn among items
    i = int(ds.split.database[0])
    points = [{"id": "yours:0"}, {"id": f"image:{i}"}]
    at.session_state["code_map_chart"] = {
        "selection": {"points": points, "point_indices": [0, 1], "box": [], "lasso": []}
    }
    at.run()
    assert not at.exception, at.exception
    assert any("selected: “a koala”" in md.value for md in at.markdown)
    assert any(s.value.startswith("Selection: 1 codes (1 images, 0 captions)") for s in at.subheader)
