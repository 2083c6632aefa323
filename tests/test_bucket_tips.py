"""The Code Map's hover panel data (`ui.bucket_tips`): at most 8 pictures and captions, then "+N"."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from ui.bucket_tips import bucket_tips, tips_data


def test_tips_list_at_most_8_members_then_the_rest_as_a_count(tux):
    members = [list(range(20)), [5], [3, 4]]
    data = tips_data(
        "tuxpaint", ["b:0", "b:1", "b:2"], ["20 image codes", "1 text code", "x"], members, tux.texts
    )
    big, one = data["buckets"]["b:0"], data["buckets"]["b:1"]
    assert [i for i, _ in big["items"]] == [str(i) for i in range(8)] and big["more"] == 12
    assert (
        one["items"] == [["5", tux.texts[5][:48] + ("…" if len(tux.texts[5]) > 48 else "")]]
        and one["more"] == 0
    )
    assert sorted(data["thumbs"], key=int) == [str(i) for i in range(8)]  # each item once
    uri = data["thumbs"]["0"]
    assert uri.startswith("data:image/jpeg;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size == (48, 48)


def test_dataset_text_cannot_close_the_script_that_carries_it(monkeypatch):
    shown = {}
    monkeypatch.setattr("ui.bucket_tips.st.iframe", lambda html, height: shown.update(html=html))
    evil = {
        "buckets": {"b:0": {"head": "</script><script>alert(1)</script>", "items": [], "more": 0}},
        "thumbs": {},
    }
    bucket_tips(evil)
    blob = shown["html"].split('id="cmh-tips-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(blob) == evil  # the data ends where it should, intact
