"""Trainings from the pages, through the server's background jobs (`cmh_core.jobs.TrainingJobs`).

A training runs in a worker thread owned by the server, not in the page's script: leaving the
page does not stop it, and coming back reattaches to its progress (a fragment polls the job every
second). This session remembers the jobs it asked for (`ui.state.JOBS`); when one is done, its
run becomes the current run (`ui.state.apply`, event "trained") on whichever page the session is.
Stop cancels a job; the queue position shows while it waits for the worker.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import streamlit as st

from ui.registry import registry
from ui.state import ASK, JOBS, RunKey, apply, notice

if TYPE_CHECKING:  # cmh_core.jobs imports every method (scikit-learn): not on a page's first draw
    from cmh_core.experiment import Run
    from cmh_core.jobs import Job, Progress

__all__ = [
    "submit",
    "collect",
    "pending",
    "wait_here",
    "wait_briefly",
    "training_panel",
    "sidebar_trainings",
    "linked_run_question",
]

POLL_S = 1.0  # how often a page looks at its running jobs
QUICK_S = 3.0  # a training expected to take at most this long is waited for in the press's own run


def _token() -> str:
    from ui.sessions import token

    return token(st.session_state)


def submit(key: RunKey) -> Job:
    """Ask the server to train ``key`` for this session (a cached run comes back "done" at once)."""
    from ui.warmup import limit_blas_threads

    try:
        limit_blas_threads()  # before the first fit of the process (ui/warmup.py says why); once
    except ValueError as e:  # a bad CMH_BLAS_THREADS: train with OpenBLAS's own threads, say why
        notice(str(e))
    job = registry().jobs.submit(key, owner=_token())
    st.session_state[JOBS] = [*[j for j in st.session_state.get(JOBS, []) if j != job.id], job.id]
    return job


def _take(job: Job) -> None:
    """A finished job of this session: its run becomes current, or the page says why not."""
    if job.state == "done" and job.run is not None:
        registry().put(job.key, job.run, on_disk=False)  # the job cached it on disk already
        apply("trained", job.key)
    elif job.state == "failed":
        notice(f"{job.key.label()} could not be trained: {job.error}")
    elif job.state == "cancelled":
        notice(f"The training of {job.key.label()} was stopped; nothing was kept.")


def collect() -> list[Job]:
    """Take this session's finished jobs (in the order asked); return those still queued or running."""
    active, kept = [], []
    for job_id in st.session_state.get(JOBS, []):
        job = registry().jobs.get(job_id)
        if job is None:
            continue
        if job.active:
            active.append(job)
            kept.append(job_id)
        else:
            _take(job)
    st.session_state[JOBS] = kept
    return active


def pending() -> bool:
    """Whether this session has a training queued or running."""
    return bool(st.session_state.get(JOBS))


def _fraction(p: Progress | None) -> float:
    if p is None or p.n_stages < 1:
        return 0.0
    within = p.done / p.total if p.total else 0.0
    return min(max((p.stage - 1 + within) / p.n_stages, 0.0), 1.0)


def _status(job: Job) -> str:
    if job.state == "queued":
        return f"{job.key.label()}: waiting, number {registry().jobs.queue_position(job.id)} in the queue"
    p = job.progress
    text = p.text if p is not None else "starting"
    return f"{job.key.label()} · {text} · {job.elapsed_s:.0f} s"


def wait_here(key: RunKey, text: str) -> Run:
    """Train ``key`` (or find it) and wait for it on the page under a progress bar; it becomes current.

    Raises
    ------
    ValueError
        The job's error (a refused setting), or "stopped" when it was cancelled.
    """
    job = submit(key)
    bar = st.progress(0.0, text=text)
    while job.active:
        bar.progress(_fraction(job.progress), text=f"{text} {_status(job)}")
        time.sleep(0.25)
    bar.empty()
    collect()
    if job.state != "done" or job.run is None:
        raise ValueError(job.error or f"the training of {key.label()} was stopped")
    return job.run


def wait_briefly(job: Job, text: str, limit_s: float | None = None) -> bool:
    """Wait under a progress bar, at most ``limit_s`` seconds (`QUICK_S`), for a job the user just asked for.

    A quick training (DCH takes about a second) then ends in the run that started it, without
    waiting up to `POLL_S` for the fragment to notice it. A job still running after ``limit_s``
    goes on in the background under `training_panel`.

    Returns
    -------
    bool
        True when the job finished (done, failed or stopped) within ``limit_s``.
    """
    bar = st.progress(0.0, text=text)
    end = time.monotonic() + float(QUICK_S if limit_s is None else limit_s)
    shown = None
    while job.active and time.monotonic() < end:
        now = (_fraction(job.progress), f"{text} {_status(job)}")
        if now != shown:  # send the bar only when it changes (the loop looks 20 times a second)
            bar.progress(now[0], text=now[1])
            shown = now
        time.sleep(0.05)
    bar.empty()
    return not job.active


def _stop(job_id: str) -> None:
    registry().jobs.cancel(job_id)


def _job_row(job: Job, with_curve: bool) -> None:
    left, right = st.columns([5, 1], vertical_alignment="bottom")
    left.progress(_fraction(job.progress), text=_status(job))
    stopping = job.cancel_requested
    right.button(
        "Stopping…" if stopping else "Stop",
        key=f"stop_{job.id}",
        on_click=_stop,
        args=(job.id,),
        disabled=stopping,
        help="Cancel this training (nothing is kept); a queued one is dropped.",
    )
    if with_curve and len(job.history) > 1:
        from cmh_core import plotting

        st.plotly_chart(plotting.objective_figure([list(h) for h in job.history]), key=f"live_{job.id}")


def _poll() -> list[Job]:
    """`collect` in a polling fragment: when a job has finished since the last poll, rerun the page."""
    before = len(st.session_state.get(JOBS, []))
    active = collect()
    if len(active) < before:  # one finished (or failed or stopped): redraw everything around it
        st.rerun(scope="app")
    return active


def training_panel() -> None:
    """The Train page's view of this session's trainings: bar, stage text, queue, Stop, live curve.

    Polls every `POLL_S` while a job is queued or running (no polling otherwise); when one
    finishes, the whole page reruns around the new current run.
    """
    if pending():
        _panel()


@st.fragment(run_every=POLL_S)
def _panel() -> None:
    for job in _poll():
        _job_row(job, with_curve=True)


def sidebar_trainings() -> None:
    """Other pages: this session's trainings in the sidebar; a finished one becomes current (rerun)."""
    if pending():
        _sidebar_panel()


@st.fragment(run_every=POLL_S)
def _sidebar_panel() -> None:
    active = _poll()
    if active:
        with st.sidebar:
            st.caption("Training in the background (the run becomes current when done):")
            for job in active:
                _job_row(job, with_curve=False)


def _answer(yes: bool) -> None:
    ask = st.session_state.get(ASK)
    if ask is None:
        return
    if yes:
        st.session_state[ASK] = {**ask, "auto": True}
    else:
        del st.session_state[ASK]


def linked_run_question() -> None:
    """A link named a run this server has not trained: train it (quick) or ask first (slow)."""
    ask = st.session_state.get(ASK)
    if not ask:
        return
    from ui.runs import expected_seconds

    key: RunKey = ask["key"]
    if ask["auto"]:
        del st.session_state[ASK]
        try:
            run = wait_here(key, f"The link asks for {key.label()}, not trained here yet:")
        except ValueError as e:
            st.error(f"The link's run {key.label()} could not be trained: {e}")
            return
        st.info(f"The link's run {key.label()} was trained ({run.fit_seconds:.1f} s); it is the current run.")
        return
    with st.container(border=True):
        st.markdown(
            f"This link asks for **{key.label()}**{'' if key.params == '{}' else f' {key.params}'}, "
            "which this server has not trained yet. Training it takes about "
            f"**{expected_seconds(key):.0f} s** on this machine."
        )
        left, right = st.columns(2)
        left.button("Train it", type="primary", key="ask_yes", on_click=_answer, args=(True,))
        right.button("Not now", key="ask_no", on_click=_answer, args=(False,))
