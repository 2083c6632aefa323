"""Session-scoped fixtures shared by the test modules: datasets and fitted models are built once.

Fitted models are cached by ``(dataset, method, params)``; tests must not mutate what they get.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cmh_core.datasets import load_dataset, make_synthetic
from cmh_core.methods import CrossModalHasher, get_method


@pytest.fixture(scope="session")
def _feature_map_dir(tmp_path_factory) -> Path:
    """One feature-map folder for the whole session: maps are a pure function of the bundle's images
    (keyed by their hash), and building tuxpaint's takes the CNN tens of seconds on 2 cores."""
    return tmp_path_factory.mktemp("feature_maps")


@pytest.fixture(scope="module", autouse=True)
def _run_cache(tmp_path_factory, _feature_map_dir):
    """The app's run registry and the run cache write to a temporary folder, never ~/.cache.

    One folder per test module, so what a module finds already trained does not depend on the
    modules that ran before it. Only the feature-map cache inside it is shared by the session (a
    link): it holds no runs, and tests of that cache point ``CMH_CACHE_DIR`` at their own folder.
    """
    root = tmp_path_factory.mktemp("cmh_cache")
    (root / "feature_maps").symlink_to(_feature_map_dir, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CMH_CACHE_DIR", str(root))
        mp.setenv("CMH_BACKGROUND_UMAP", "0")  # no test pays for a real UMAP; test_umap_background stubs it
        mp.setenv("CMH_WARMUP", "0")  # nor for the app's warm-up thread (ui/warmup.py; test_warmup runs it)
        mp.setenv("CMH_BLAS_THREADS", "0")  # the app keeps OpenBLAS's threads here, as the library tests do
        yield


@pytest.fixture(scope="session")
def tux():
    """The bundled ``tuxpaint`` dataset, loaded once per test session."""
    return load_dataset("tuxpaint")


@pytest.fixture(scope="session")
def synthetic_ds():
    """Small synthetic paired data: 850 items, 48-d image, 32-d text, 8 labels.

    680 training rows: enough for JSPSH's sparse codes at 32 active bits (K = 640 < n).
    """
    return make_synthetic(n=850, d_img=48, d_txt=32, n_labels=8, random_state=0)


def _fit_cache(ds) -> Callable[..., CrossModalHasher]:
    cache: dict = {}
    tr = ds.split.train
    train = (ds.image_features[tr], ds.text_features[tr], ds.labels[tr])

    def fitted(name: str, **params) -> CrossModalHasher:
        key = (name, tuple(sorted(params.items())))
        if key not in cache:
            cache[key] = get_method(name, **params).fit(*train)
        return cache[key]

    return fitted


@pytest.fixture(scope="session")
def tux_fitted(tux):
    """``tux_fitted(name, **params)``: a model fitted on tuxpaint's training split, cached."""
    return _fit_cache(tux)


@pytest.fixture(scope="session")
def synthetic_fitted(synthetic_ds):
    """``synthetic_fitted(name, **params)``: a model fitted on `synthetic_ds`'s training split."""
    return _fit_cache(synthetic_ds)


CHROMIUM = Path("/usr/bin/chromium")


def pytest_collection_modifyitems(config, items):
    """Browser tests run last, together; they skip, saying why, where Debian's chromium is missing.

    Together: the session's one streamlit server and one Chromium (below) then live only while the
    browser tests run (a stable sort keeps each module's tests in their order). `.ci/run` installs
    chromium.
    """
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: Playwright needs Debian's chromium (apt-get install chromium)"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tux_report(tux, tux_fitted):
    """``tux_report(name, **params)``: `evaluate` of ``tux_fitted(name, **params)``, cached.

    Shared by the method test files so that a model scored in one is neither refitted nor re-scored
    in another (test_hpseh.py and test_csmh.py both use RandomCodes and CCA-ITQ as yardsticks).
    """
    from cmh_core.evaluation import evaluate

    cache: dict = {}

    def report(name: str, **params) -> dict:
        key = (name, tuple(sorted(params.items())))
        if key not in cache:
            cache[key] = evaluate(tux_fitted(name, **params), tux)
        return cache[key]

    return report


# ------------------------------------------------------------------------------ browser tests
@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for every browser test (a fresh context per test isolates them)."""
    from browser_helpers import launch_browser
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_browser(pw)
        yield b
        b.close()


@pytest.fixture(scope="session")
def start_streamlit(tmp_path_factory):
    """``start_streamlit(**env)``: a started `streamlit run app.py` with its own run registry.

    Each server gets a fresh ``CMH_CACHE_DIR`` unless ``env`` names one; ``env`` (a test hook such
    as ``CMH_TEST_SLOW_FIT_S``) reaches that server only. Servers still running at the end of the
    session are stopped; a module may stop its own earlier (``stop()`` is idempotent).
    """
    from browser_helpers import StreamlitServer

    started = []

    def start(**env: str):
        env.setdefault("CMH_CACHE_DIR", str(tmp_path_factory.mktemp("streamlit_cache")))
        srv = StreamlitServer(env=env)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def streamlit_server(start_streamlit):
    """The one `streamlit run app.py` the browser tests share (each test opens its own sessions)."""
    return start_streamlit()
