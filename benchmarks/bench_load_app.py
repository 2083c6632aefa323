"""Load benchmark of the app: N concurrent Chromium sessions against one Streamlit server.

Each session (a Playwright browser context: its own cookies and Streamlit session) opens the
home page, goes to Search (which trains or reuses the default run), clicks a query of the query
set, waits for its results, then opens Code Map and waits for the map. The sessions run at once
(asyncio), for each N in ``--sessions`` (default 8 and 12), each N against a fresh server.

Measured per N: sessions completed, errors (with the first messages), wall time, server CPU
seconds (user + system, its child processes included), peak RSS while the sessions run and RSS
after every context has closed (psutil when installed, else /proc). The target (issue 18):
12 sessions, 0 errors, peak <= 2 GB.

Bounded and local: the server listens on 127.0.0.1 only, Chromium runs with networking
features off, every wait has a timeout and the whole level stops after ``--limit-s``.

    python benchmarks/bench_load_app.py --sessions 8 12 --json test-output/bench_load_app.json

Prerequisites: Debian's ``/usr/bin/chromium`` and Playwright (as tests/test_browser.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
APP = "[data-testid='stApp']"
IDLE = f"{APP}[data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"
T_WAIT = 600_000  # ms: 12 sessions on a shared 2-core machine queue for a long time


# ------------------------------------------------------------------------------------ measurement
def _proc_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc, or psutil)."""
    try:
        import psutil

        p = psutil.Process(pid)
        return [pid] + [c.pid for c in p.children(recursive=True)]
    except ImportError:
        kids: dict[int, list[int]] = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                kids.setdefault(ppid, []).append(int(d.name))
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += kids.get(p, [])
        return out


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its children (bytes)."""
    total = 0
    for p in _proc_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its (live and reaped) children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _proc_tree(pid):
        try:
            f = (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1]).split()
        except OSError:
            continue
        # fields after the name: state=0 ... utime=11 stime=12 cutime=13 cstime=14
        total += sum(int(x) for x in f[11:15]) / tick
    return total


class Sampler(threading.Thread):
    """Samples a process tree's RSS every ``every`` seconds; ``peak`` is the largest seen."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self._halt = pid, every, 0, threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._halt.wait(self.every)

    def stop(self) -> int:
        self._halt.set()
        self.join(timeout=5)
        return self.peak


# ----------------------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(log: Path, timeout: float = 180.0) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on 127.0.0.1 (loopback only) and a free port; waits for /healthz."""
    import urllib.request

    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s; see {log}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------- session
async def _idle(page) -> None:
    await page.wait_for_selector(f"{APP}[data-test-connection-state='CONNECTED']", timeout=T_WAIT)
    try:
        await page.wait_for_selector(f"{APP}[data-test-script-state='running']", timeout=1500)
    except Exception:  # noqa: BLE001 - a fast rerun may already be over
        pass
    await page.wait_for_selector(IDLE, timeout=T_WAIT)


async def _goto(page, label: str) -> None:
    link = page.locator("[data-testid='stSidebar'] [data-testid='stPageLink'] a", has_text=label).first
    await link.click()
    await page.wait_for_selector(f"h1:has-text('{label}')", timeout=T_WAIT)
    await _idle(page)


async def _no_exception(page, where: str) -> None:
    n = await page.locator(EXCEPTION).count()
    if n:
        text = await page.locator(EXCEPTION).first.inner_text()
        raise RuntimeError(f"{where}: exception on the page: {text[:300]}")


async def session(browser, url: str, i: int) -> dict:
    """One user: home → Search → click a query → results → Code Map → the map. Returns timings."""
    t0 = time.perf_counter()
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(T_WAIT)
    steps: dict[str, float] = {}
    try:
        await page.goto(url, timeout=T_WAIT)
        await page.wait_for_selector("h1", timeout=T_WAIT)
        await _idle(page)
        steps["home_s"] = time.perf_counter() - t0
        await _goto(page, "Search")
        await _no_exception(page, "Search")
        steps["search_s"] = time.perf_counter() - t0
        picks = page.locator("[class*='st-key-pick_'] button")
        n = 1 + i % 5  # not the default first query: a real change, different per session
        if not await picks.nth(n).is_visible():
            await page.locator("[data-testid='stExpander'] summary", has_text="Choose a query").click()
        await picks.nth(n).click()
        await _idle(page)
        await page.wait_for_selector("text=AP of this query", timeout=T_WAIT)
        await _no_exception(page, "Search (query)")
        steps["query_s"] = time.perf_counter() - t0
        await _goto(page, "Code Map")
        await page.locator("[data-testid='stMain'] .stPlotlyChart").first.wait_for(timeout=T_WAIT)
        await _no_exception(page, "Code Map")
        steps["code_map_s"] = time.perf_counter() - t0
        return {"session": i, "ok": True, **steps}
    except Exception as e:  # noqa: BLE001 - counted and reported, never hidden
        return {
            "session": i,
            "ok": False,
            "error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}",
            **steps,
        }
    finally:
        try:
            await context.close()
        except Exception:  # noqa: BLE001 - the browser is already gone (a cancelled, late session)
            pass


async def _level(url: str, n: int, limit_s: float) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            tasks = [asyncio.create_task(session(browser, url, i)) for i in range(n)]
            done, pending = await asyncio.wait(tasks, timeout=limit_s)
            for t in pending:
                t.cancel()
            out = [t.result() for t in done]
            out += [{"session": -1, "ok": False, "error": f"not finished within {limit_s:.0f} s"}] * len(
                pending
            )
            return out
        finally:
            await browser.close()


def run_level(n: int, limit_s: float) -> dict:
    """Fresh server, n concurrent sessions, the measurements."""
    proc, url = start_server(ROOT / "test-output" / f"bench_load_app_{n}.log")
    try:
        time.sleep(2.0)
        rss_idle, cpu0 = rss_bytes(proc.pid), cpu_seconds(proc.pid)
        sampler = Sampler(proc.pid)
        sampler.start()
        t0 = time.perf_counter()
        results = asyncio.run(_level(url, n, limit_s))
        wall = time.perf_counter() - t0
        peak = sampler.stop()
        time.sleep(5.0)  # sessions are dropped when their websocket closes
        after = rss_bytes(proc.pid)
        cpu = cpu_seconds(proc.pid) - cpu0
        alive = proc.poll() is None
    finally:
        stop_server(proc)
    ok = [r for r in results if r["ok"]]
    return {
        "sessions": n,
        "completed": len(ok),
        "errors": len(results) - len(ok),
        "error_messages": sorted({r["error"] for r in results if not r["ok"]})[:5],
        "wall_s": round(wall, 1),
        "slowest_session_s": round(max((r.get("code_map_s", 0.0) for r in ok), default=0.0), 1),
        "server_cpu_s": round(cpu, 1),
        "rss_idle_mb": round(rss_idle / 2**20),
        "rss_peak_mb": round(peak / 2**20),
        "rss_after_close_mb": round(after / 2**20),
        "server_alive": alive,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[8, 12], help="concurrent sessions per level")
    p.add_argument("--limit-s", type=float, default=1500.0, help="stop a level after this many seconds")
    p.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    if any(n < 1 or n > 32 for n in args.sessions):
        print("error: --sessions takes 1 to 32 (the benchmark is bounded)", file=sys.stderr)
        return 2
    report = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count(), "levels": []}
    for n in args.sessions:
        level = run_level(n, args.limit_s)
        report["levels"].append(level)
        print(json.dumps(level), flush=True)
    report["load_average_after"] = os.getloadavg()
    print(json.dumps({k: v for k, v in report.items() if k != "levels"}))
    if args.json:
        from cmh_core._io import atomic_write_text

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
