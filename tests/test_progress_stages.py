"""Progress stages: every method's last report of each declared stage has done == total."""

from __future__ import annotations

import inspect

import pytest

from cmh_core.experiment import run_experiment
from cmh_core.methods import METHODS, get_method
from cmh_core.methods._progress import Progress, _Progress, _takes_progress, _takes_terms

# small settings so each method trains in a second or two; the stage structure is what is tested
_SMALL = {"n_iter": 3, "n_iter_hash": 2, "n_epochs": 2, "n_anchors": 64, "pca_sample": 200}


def _small(name: str) -> dict:
    names = inspect.signature(METHODS[name].__init__).parameters
    return {k: v for k, v in _SMALL.items() if k in names}


def _fit_with_progress(ds, name: str, n_bits: int = 16):
    tr = ds.split.train
    events: list[Progress] = []
    calls: list[tuple] = []

    def cb(it, obj, elapsed, progress=None):
        events.append(progress)
        if progress.kind == "iteration":
            calls.append((it, obj))

    model = get_method(name, n_bits=n_bits, random_state=0, **_small(name))
    model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr], callback=cb)
    return model, events, calls


_HEAVY = {"DCMH", "SDEH", "JSPSH"}  # > 5 s each on a loaded machine: slow tier


def _tiered(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in _HEAVY else n for n in sorted(names)]


@pytest.mark.parametrize("name", _tiered(METHODS))
def test_every_stage_ends_with_done_equal_total(synthetic_ds, name):
    model, events, calls = _fit_with_progress(synthetic_ds, name)
    stages = model._stages()
    counted = [p for p in events if p.kind in ("iteration", "step")]
    assert counted, f"{name} reported no iteration"
    assert all(p.n_stages == len(stages) for p in events)
    seen = [p.stage for p in counted]
    assert seen == sorted(seen), f"{name} went back a stage: {seen}"
    assert sorted(set(seen)) == list(range(1, len(stages) + 1)), f"{name} skipped a stage: {set(seen)}"
    for i, (stage_name, total, *_) in enumerate(stages, start=1):
        in_stage = [p for p in counted if p.stage == i]
        assert [p.done for p in in_stage] == list(range(1, total + 1)), (name, stage_name)
        assert in_stage[-1].done == in_stage[-1].total == total
        assert in_stage[-1].stage_name == stage_name


@pytest.mark.parametrize("name", _tiered(["AMSH", "JSPSH", "DCH"]))
def test_a_progress_callback_sees_the_iterations_a_plain_callback_sees(synthetic_ds, name):
    """Backward compatibility: the (iteration, objective) calls are the same with or without progress."""
    _, _, with_progress = _fit_with_progress(synthetic_ds, name)
    tr = synthetic_ds.split.train
    plain = []
    get_method(name, n_bits=16, random_state=0, **_small(name)).fit(
        synthetic_ds.image_features[tr],
        synthetic_ds.text_features[tr],
        synthetic_ds.labels[tr],
        callback=lambda it, obj, el: plain.append((it, obj)),
    )
    assert [c[0] for c in with_progress] == [c[0] for c in plain]
    assert with_progress == pytest.approx(plain)


def test_two_stage_methods_declare_their_stages():
    amsh = get_method("AMSH", n_iter=15, n_iter_hash=7)
    assert [s[:2] for s in amsh._stages()] == [("codes", 15), ("hash functions", 7)]
    jspsh = get_method("JSPSH", n_iter=5)
    names = [s[0] for s in jspsh._stages()]
    assert names == ["codes", "hash functions"]
    # the default: one stage counting n_iter or n_epochs
    assert get_method("DCH", n_iter=4)._stages() == [("training", 4, "iteration")]
    assert get_method("DCMH", n_epochs=3)._stages() == [("training", 3, "epoch")]
    assert get_method("SCM", variant="orth")._stages() == [("training", 1, "iteration")]
    assert get_method("SCM", n_bits=24)._stages() == [("training", 24, "bit")]  # seq: a step per bit


def test_amsh_text_counts_each_stage_from_one(synthetic_ds):
    _, events, _ = _fit_with_progress(synthetic_ds, "AMSH")
    texts = [p.text for p in events if p.kind == "iteration"]
    assert texts[0] == "Stage 1 of 2 · codes · iteration 1 of 3"
    assert texts[-1] == "Stage 2 of 2 · hash functions · iteration 2 of 2"
    assert all(p.done <= p.total for p in events)


@pytest.mark.parametrize("name", ["HPsEH", "CSMH"])
def test_kernel_methods_report_their_setup_phase(synthetic_ds, name):
    _, events, _ = _fit_with_progress(synthetic_ds, name)
    first_iteration = next(i for i, p in enumerate(events) if p.kind == "iteration")
    phases = [p for p in events[:first_iteration] if p.kind == "phase"]
    assert phases and "kernel features" in phases[0].text.lower()


def test_run_experiment_reports_progress_and_keeps_history_clean(synthetic_ds):
    seen: list[Progress] = []
    run = run_experiment(synthetic_ds, "AMSH", n_bits=16, params=_small("AMSH"), progress=seen.append)
    iterations = [p for p in seen if p.kind == "iteration"]
    assert len(iterations) == len(run.history) == 5  # 3 code iterations + 2 hash iterations
    assert [h[0] for h in run.history] == [1, 2, 3, 4, 5]  # the method's own numbering, as before
    assert any(p.kind == "phase" and "evaluat" in p.text.lower() for p in seen)
    assert [p.kind for p in seen].index("phase") >= 0


def test_callback_signatures():
    def three(it, obj, el): ...

    def with_progress(it, obj, el, progress=None): ...

    def four_and_progress(it, obj, el, terms, progress=None): ...

    assert not _takes_terms(with_progress) and _takes_progress(with_progress)
    assert _takes_terms(four_and_progress) and _takes_progress(four_and_progress)
    assert not _takes_progress(three) and not _takes_progress(lambda *a: None)


def test_progress_refuses_undeclared_stage_and_bad_declarations():
    p = _Progress(lambda it, obj, el, progress=None: None, [("a", 2), ("b", 3, "step")])
    with pytest.raises(ValueError, match="stage 3 is not declared"):
        p.stage(3)
    with pytest.raises(ValueError, match="at least 1"):
        _Progress(None, [("a", 0)])


def test_plain_callbacks_never_see_stage_or_phase_reports():
    got = []
    p = _Progress(lambda it, obj, el: got.append(it), [("a", 1), ("b", 1)])
    p.phase("Computing kernel features", 0, 2)
    p.stage(1)
    p(1, 0.5)
    p.stage(2)
    p.tick()
    assert got == [1]
