"""One experiment = dataset + method + parameters + seed → trained model, codes, report, timings.

`Run` is what the CLI's benchmark table, the app's run list and the comparison page are built
from; `Run.to_dict()` is plain JSON (the trained model itself is saved separately with
``model.save(path)``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cmh_core.datasets import CrossModalDataset, load_dataset

if TYPE_CHECKING:
    from cmh_core.methods._progress import Progress

__all__ = ["Run", "run_experiment"]


@dataclass
class Run:
    """Record of one training + evaluation run; every field but ``model`` is JSON-serialisable.

    Attributes
    ----------
    dataset, method : str
        Dataset name and registered method name.
    n_bits, seed : int
    params : dict
        Hyper-parameters as the method reports them (``get_params()``), paper defaults included.
    protocol : str
        ``"learned"`` or ``"encoded"`` (see `cmh_core.evaluation.evaluate`).
    report : dict
        The evaluation report (``{"i2t": {...}, "t2i": {...}, ...}``).
    fit_seconds, eval_seconds : float
        Wall-clock seconds for ``fit`` and for encoding + evaluation.
    history : list of [iteration, objective, elapsed_s]
        What the method's callback reported during ``fit`` (loss curve).
    unpaired : float
        Fraction of training texts shuffled away from their images (`cmh_core.datasets.unpair`).
    loss_terms : list of dict
        Per callback call, the parts of the objective the method reported (``{"L_sim": ...}``
        for deep methods; ``{}`` for methods that report only the total).
    model : CrossModalHasher or None
        The fitted model; not serialised.
    """

    dataset: str
    method: str
    n_bits: int
    seed: int
    params: dict[str, Any]
    protocol: str
    report: dict[str, Any]
    fit_seconds: float
    eval_seconds: float
    history: list[list[float]] = field(default_factory=list)
    unpaired: float = 0.0
    loss_terms: list[dict[str, float]] = field(default_factory=list)
    model: Any = field(default=None, repr=False, compare=False)

    @property
    def map_i2t(self) -> float:
        """mAP of image queries against the text database."""
        return float(self.report["i2t"]["mAP"])

    @property
    def map_t2i(self) -> float:
        """mAP of text queries against the image database."""
        return float(self.report["t2i"]["mAP"])

    @property
    def map_i2t_expected(self) -> float:
        """Tie-expected mAP of image queries (equal distances in random order)."""
        return float(self.report["i2t"]["mAP_expected"])

    @property
    def map_t2i_expected(self) -> float:
        """Tie-expected mAP of text queries (equal distances in random order)."""
        return float(self.report["t2i"]["mAP_expected"])

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (the model is left out)."""
        d = asdict(self)
        d.pop("model")
        d["params"] = {k: _jsonable(v) for k, v in d["params"].items()}
        return d

    def to_json(self, **kw) -> str:
        """``json.dumps(self.to_dict())``; extra keywords go to `json.dumps`."""
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        """Rebuild a record written by `to_dict` (without its model)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "model"}
        return cls(**known)


def _jsonable(v: Any) -> Any:
    """Parameters are numbers, strings, None or small tuples; anything else becomes its repr."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return repr(v)


def run_experiment(
    dataset: str | CrossModalDataset,
    method: str,
    *,
    n_bits: int = 32,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    protocol: str = "learned",
    callback: Callable[[int, float, float], None] | None = None,
    unpaired: float = 0.0,
    progress: Callable[[Progress], None] | None = None,
) -> Run:
    """Train ``method`` on the dataset's training split and evaluate it.

    Parameters
    ----------
    dataset : str or CrossModalDataset
        A name or path for `load_dataset`, or a loaded dataset.
    method : str
        Any name in `cmh_core.methods.METHODS` (case-insensitive).
    n_bits : int
        Code length r.
    seed : int
        ``random_state`` of the method.
    params : dict, optional
        Other hyper-parameters; unset ones keep the paper defaults.
    protocol : {"learned", "encoded"}
        Database codes protocol of `cmh_core.evaluation.evaluate`.
    callback : callable, optional
        Forwarded to ``fit``: ``callback(iteration, objective, elapsed_s)`` (or with a fourth
        ``terms`` argument, see `CrossModalHasher.fit`); the run also records every call in
        ``history`` and ``loss_terms``.
    unpaired : float
        Fraction in [0, 1] of training texts shuffled away from their images
        (`cmh_core.datasets.unpair` with ``random_state=seed``); above 0 the method must
        support unpaired data (its ``fit`` refuses it otherwise).
    progress : callable, optional
        ``progress(p)`` with every `cmh_core.methods._progress.Progress`: the method's stages
        and iterations, and the set-up phases around them (``model.prepare``'s work, the
        evaluation). An exception raised by it (``cmh_core.jobs.Cancelled``) stops the run.

    Returns
    -------
    Run
    """
    from cmh_core.datasets import unpair as _unpair
    from cmh_core.evaluation import evaluate
    from cmh_core.methods import get_method
    from cmh_core.methods._progress import _Progress, _takes_progress, _takes_terms

    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    model = get_method(method, n_bits=n_bits, random_state=seed, **(params or {}))
    history: list[list[float]] = []

    loss_terms: list[dict[str, float]] = []
    with_terms = callback is not None and _takes_terms(callback)
    cb_progress = callback is not None and _takes_progress(callback)
    on_progress = progress

    def _record(it: int, obj: float, elapsed: float, terms: dict[str, float], progress=None) -> None:
        iteration = progress is None or progress.kind == "iteration"  # else a stage start or a phase
        if iteration:
            history.append([int(it), float(obj), float(elapsed)])
            loss_terms.append(dict(terms))
        if callback is not None and (iteration or cb_progress):
            args = (it, obj, elapsed, terms) if with_terms else (it, obj, elapsed)
            callback(*args, progress=progress) if cb_progress else callback(*args)
        if on_progress is not None and progress is not None:
            on_progress(progress)

    index = _unpair(ds, unpaired, random_state=seed) if unpaired else None  # validates the fraction
    # phases outside fit (prepare, evaluation) go through a reporter with the method's stages
    outer = _Progress(_record if on_progress is not None or cb_progress else None)
    if outer.active:
        model._validate_hyperparams()  # the stages are read from valid parameters
        outer = _Progress(_record, model._stages())
    model.prepare(ds, outer.phase if outer.active else None)
    t0 = time.perf_counter()
    if index is None:
        tr = ds.split.train
        model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr], callback=_record)
    else:
        ti, tt = index["image"], index["text"]
        Y = ds.labels
        model.fit(ds.image_features[ti], ds.text_features[tt], Y[ti], Y_txt=Y[tt], callback=_record)
    fit_s = time.perf_counter() - t0
    outer.phase(_evaluation_text(), stage=len(outer.stages))
    t0 = time.perf_counter()
    report = evaluate(model, ds, protocol=protocol, train_index=index)
    eval_s = time.perf_counter() - t0
    return Run(
        dataset=ds.name,
        method=model.name,
        n_bits=int(n_bits),
        seed=int(seed),
        params=model.get_params(),
        protocol=protocol,
        report=report,
        fit_seconds=fit_s,
        eval_seconds=eval_s,
        history=history,
        loss_terms=loss_terms,
        unpaired=float(unpaired),
        model=model,
    )


def _evaluation_text() -> str:
    """What the evaluation phase does (the first one in a process loads the numba kernels)."""
    from cmh_core.evaluation import _average_precision as ap

    if getattr(ap, "_FUSED", False) is None:  # not loaded yet in this process
        return "Evaluating retrieval (first time in this process: loading or compiling the numba kernels)"
    return "Evaluating retrieval (mAP over every query)"
