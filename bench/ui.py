"""UI benchmark (`python -m bench ui --json`), offscreen:

- `ui.cold_start_s`: process start to the login screen drawn (an enrolled device);
  baseline: a bare Kivy App with one Label, same measurement, same run.
- `ui.rss_mb`: resident memory at the route walk screen showing a 5,000-account route;
  baseline: the bare Kivy app.
- `ui.rss_after_scroll_mb`: the same after scrolling the walk list from top to bottom a
  screenful a frame (every row drawn once), once the list has come to rest and given the
  freed heap back (`while_scrolling_mb`: just before); baseline: the naive list below,
  scrolled alike.
- `ui.route_open_ms`: `app.go("walk", route_id=…)` until the 5,000 rows are in the
  RecycleView and a frame is drawn, the median of OPEN_RUNS fresh app processes whose
  frames are paced as the app runs them (Kivy's 60 fps: the UI thread sleeps between
  frames); baseline: the naive way, one Label per account in a GridLayout, built and drawn.
  Also given (`uncapped_ms`, `uncapped_open`): the same open in the child that then
  measures frames, which draws uncapped (`maxfps` 0): its UI thread never sleeps, so the
  worker thread's store queries wait for the GIL behind it.

Breakdowns (bench/_ui_probe.py), as extra fields of those rows, each beside the naive
list's: `open` — where the route-open time goes (store queries, building the row dicts,
handing them to the RecycleView, its layout, the row widgets, their text textures — each
function's own time, less the others' it calls —, the first frame, and the rest: the event
loop, the hop from the worker thread, waiting for the GIL); `memory` — resident memory split into anonymous and file pages,
the Python heap (tracemalloc, from a second run of the same child with tracing on, whose
own RSS is not used), the live textures and those of text (count, bytes), Kivy's Cache
entries, glibc malloc's in-use and free-but-kept bytes, and `rest_mb`: RSS less the Python
heap and the textures — the GL driver's and the libraries' own memory.
- `ui.frame_p99_ms`: p99 frame time while scrolling the walk list and the sync worker
  uploads 10,000 ops to a real gateway, the frames paced as the app runs them (Kivy's 60
  fps), pooled over FRAME_RUNS fresh app processes, each with a fresh gateway and device
  (~150 frames a run; `runs`: each run's p99); baseline: the same p99 with no sync running.
  The same measured in one child drawing uncapped is given beside (`uncapped_p99_ms`).
  The gateway runs at the lowest priority: it stands for the central system on its own
  machine, and on these two cores took CPU from the handheld's processes.
  Breakdown (`paced_frame_sync`, `paced_frame_idle` of the median run; `frame_sync`,
  `frame_idle` of the uncapped child): ms a frame spent drawing (GL), updating the
  list's views, refilling rows, making text textures, and the rest; the drawing's p99; the
  text textures made, of them re-filled, new, and re-filled while a recent frame drew them
  (`texture_hot_refills`: each makes the GL driver wait for that frame).
  The app runs the sync worker in its own process; the same measurement with the worker
  on a thread of the UI process is reported beside it (`sync_in_thread_p99_ms`, uncapped).
  `ui.rss_after_scroll_mb` also gives each paced run's RSS at its end, once the list has
  rested (`after_frames_mb`).

The parent sets up a real gateway (`--bench-route-accounts 5000`), an enrolled device
store with the route and 10,000 captured readings (5,000 + 5,000 corrections), then
measures in fresh child processes (`python -m bench.ui --child …`).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTE = "R900"
OPEN_RUNS = 3
FRAME_RUNS = 3
ACCOUNTS = 5000


# --- parent ----------------------------------------------------------------------------

def _setup(tmp: Path) -> dict:
    from sync.client import SyncClient
    from sync.gateway.testing import GatewayProcess, assign_route
    from terminal import readings
    from terminal.store import Store
    gw = GatewayProcess(tmp / "gw.db", args=["--bench-route-accounts", str(ACCOUNTS)])
    gw.start(timeout=120)
    _background(gw.proc.pid)
    data = tmp / "device"
    store = Store(data / "chaoshou.db")
    client = SyncClient(store, gw.base_url)
    client.enrol(gw.base_url, "DEMO-ENROL", "bench")
    client.refresh_reference()
    assign_route(gw.base_url, ROUTE, store.get_meta("device_id"), "1001", reason="bench")
    client.download_route(ROUTE)
    client.close()
    nos = [r[0] for r in store.conn.execute(
        "SELECT account_no FROM accounts WHERE route_id=? ORDER BY seq", (ROUTE,))]
    with store.transaction():          # 10,000 captured ops in one commit (setup only)
        for no in nos:
            op = readings.capture_reading(store, account_no=no, operator_id="1001",
                                          status="skipped", skip_code="S01")
            readings.correct_reading(store, op.op_id, "1001", skip_code="S02", note="bench")
    ops = store.conn.execute("SELECT COUNT(*) FROM outbox WHERE state='pending'").fetchone()[0]
    store.close()
    return {"gateway": gw, "data": data, "ops": ops}


def _background(pid: int) -> None:
    """Run the gateway at the lowest priority: it stands for the central system on its own
    machine, so it takes only the CPU that the handheld's processes leave (every thread;
    threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), 19)


def _child(args: list[str], env_extra: dict | None = None, timeout: float = 120) -> tuple[float, list[dict]]:
    """Run a child; returns (seconds from spawn to its DRAWN line, its JSON lines)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("DISPLAY", None)
    env.update(env_extra or {})
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench.ui", "--child", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    drawn, rows = None, []
    for line in proc.stdout:
        if line.startswith("DRAWN") and drawn is None:
            drawn = time.perf_counter() - start
        elif line.startswith("{"):
            rows.append(json.loads(line))
    proc.wait(timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {args} exited with {proc.returncode}")
    return drawn or 0.0, rows


def run() -> list[dict]:
    from bench.common import percentile, row
    with tempfile.TemporaryDirectory(prefix="chaoshou-bench-ui-") as tmpname:
        tmp = Path(tmpname)
        setup = _setup(tmp)
        try:
            cold = [_child(["cold", str(setup["data"]), str(tmp / "kivy")])[0] for _ in range(3)]
            bare_runs = [_child(["bare", str(tmp / "kivy")]) for _ in range(3)]
            bare = [t for t, _ in bare_runs]
            bare_rss = statistics.median(r[0]["rss_mb"] for _, r in bare_runs)
            shutil.copytree(setup["data"], tmp / "device-thread")   # same 10,000 pending ops
            _, walk = _child(["walk", str(setup["data"]), str(tmp / "kivy"), "process"],
                             {"KCFG_GRAPHICS_MAXFPS": "0"}, timeout=300)
            _, walk_thread = _child(["walk", str(tmp / "device-thread"), str(tmp / "kivy"), "thread"],
                                    {"KCFG_GRAPHICS_MAXFPS": "0"}, timeout=300)
            opens = []   # the route opened as the app runs: frames paced at Kivy's 60 fps
            for i in range(OPEN_RUNS):
                shutil.copytree(setup["data"], tmp / f"device-open-{i}")
                opens += _child(["walk", str(tmp / f"device-open-{i}"), str(tmp / "kivy"),
                                 "process", "open"], timeout=300)[1]
            _, naive = _child(["naive", str(setup["data"]), str(tmp / "kivy")], timeout=300)
            paced = []   # frames while syncing as the app runs them: a fresh gateway and device each
            for i in range(FRAME_RUNS):
                (tmp / f"frames-{i}").mkdir()
                run_setup = _setup(tmp / f"frames-{i}")
                try:
                    paced += _child(["walk", str(run_setup["data"]), str(tmp / "kivy"), "process"],
                                    timeout=300)[1]
                finally:
                    run_setup["gateway"].stop()
            shutil.copytree(setup["data"], tmp / "device-trace")
            _, walk_traced = _child(["walk", str(tmp / "device-trace"), str(tmp / "kivy"), "process",
                                     "trace"], timeout=300)
            _, naive_traced = _child(["naive", str(setup["data"]), str(tmp / "kivy"), "trace"],
                                     timeout=300)
        finally:
            setup["gateway"].stop()
    w = {k: v for r in walk for k, v in r.items()}
    n, wt, nt = naive[0], walk_traced[0], naive_traced[0]
    paced_open = sorted(opens, key=lambda r: r["route_open_ms"])[len(opens) // 2]   # the median
    busy = [t for r in paced for t in r["sync_frames"]]     # the runs' frames pooled
    idle = [t for r in paced for t in r["idle_frames"]]
    median_run = sorted(paced, key=lambda r: r["frame_p99_sync_ms"])[len(paced) // 2]
    mem_open, mem_scroll = _memory(w, wt, "open_"), _memory(w, wt, "scroll_")
    naive_open, naive_scroll = _memory(n, nt, "open_"), _memory(n, nt, "scroll_")
    return [
        row("ui.cold_start_s", round(statistics.median(cold), 3), "s",
            baseline=round(statistics.median(bare), 3), target_le=3.0, runs=len(cold)),
        row("ui.rss_mb", round(w["rss_mb"], 1), "MB", baseline=round(bare_rss, 1), target_le=200,
            accounts=ACCOUNTS, memory=mem_open, naive_memory=naive_open),
        row("ui.rss_after_scroll_mb", mem_scroll["rss_mb"], "MB", baseline=naive_scroll["rss_mb"],
            target_le=200, accounts=ACCOUNTS, frames=w["scroll_frames"],
            while_scrolling_mb=mem_scroll.pop("while_scrolling_mb"),
            after_frames_mb=[round(r["rss_end_mb"], 1) for r in paced], memory=mem_scroll,
            naive_memory=naive_scroll),
        row("ui.route_open_ms", round(paced_open["route_open_ms"], 1), "ms",
            baseline=round(n["naive_open_ms"], 1), target_le=300, accounts=ACCOUNTS,
            runs=[round(r["route_open_ms"], 1) for r in opens], open=paced_open["open"],
            uncapped_ms=round(w["route_open_ms"], 1), uncapped_open=w["open"],
            naive_open=n["open"]),
        row("ui.frame_p99_ms", round(percentile(busy, 99), 2), "ms",
            baseline=round(percentile(idle, 99), 2), target_le=33, target_ratio_ge=0.5,
            frames=len(busy), idle_frames=len(idle), ops=setup["ops"],
            runs=[round(r["frame_p99_sync_ms"], 2) for r in paced],
            idle_runs=[round(r["frame_p99_idle_ms"], 2) for r in paced],
            ops_uploaded=[r["ops_uploaded"] for r in paced],
            sync_s=[round(r["sync_s"], 2) for r in paced],
            paced_frame_sync=median_run["frame_sync"], paced_frame_idle=median_run["frame_idle"],
            uncapped_p99_ms=round(w["frame_p99_sync_ms"], 2),
            uncapped_idle_p99_ms=round(w["frame_p99_idle_ms"], 2),
            uncapped_frames=w["frames_sync"], uncapped_ops_uploaded=w["ops_uploaded"],
            uncapped_sync_s=round(w["sync_s"], 2),
            sync_in_thread_p99_ms=round(walk_thread[0]["frame_p99_sync_ms"], 2),
            sync_in_thread_idle_p99_ms=round(walk_thread[0]["frame_p99_idle_ms"], 2),
            frame_sync=w["frame_sync"], frame_idle=w["frame_idle"]),
    ]


def _memory(plain: dict, traced: dict, prefix: str) -> dict:
    """One memory breakdown: the untraced child's figures, the traced child's Python heap,
    and what neither explains."""
    out = {k[len(prefix):]: v for k, v in plain.items() if k.startswith(prefix)}
    out["py_heap_mb"] = traced.get(prefix + "py_heap_mb")
    if out["py_heap_mb"] is not None:
        out["rest_mb"] = round(out["rss_mb"] - out["py_heap_mb"] - out["textures_mb"], 1)
    return out


# --- children --------------------------------------------------------------------------

def _prepare(kivy_home: str) -> None:
    sys.path.insert(0, str(ROOT))
    from terminal.ui import headless
    headless.prepare(kivy_home, headless=True)


def _rss_mb() -> float:
    import psutil
    return psutil.Process().memory_info().rss / 2**20


def child_bare(kivy_home: str) -> None:
    _prepare(kivy_home)
    from kivy.app import App
    from kivy.base import EventLoop
    from kivy.uix.label import Label

    class Bare(App):
        def build(self):
            return Label(text="Hello")
    app = Bare()
    app._run_prepare()
    EventLoop.idle()
    EventLoop.idle()
    print("DRAWN", flush=True)
    print(json.dumps({"rss_mb": _rss_mb()}), flush=True)


def _app(data: str, sync_mode: str = "process"):
    from kivy.base import EventLoop

    from terminal.ui.app import ChaoshouApp
    app = ChaoshouApp(data, start_worker=False, worker_options={"period": 3600, "debounce": 0.1},
                      sync_process=sync_mode == "process")
    app._run_prepare()
    return app, EventLoop


def child_cold(data: str, kivy_home: str) -> None:
    _prepare(kivy_home)
    app, loop = _app(data)
    while app.sm.current != "login":
        loop.idle()
    loop.idle()
    loop.idle()
    print("DRAWN", flush=True)
    app.shutdown()


def _rested_rss(loop, rv) -> float:
    """RSS (MB) once the walk list has come to rest after a scroll and given the freed
    heap back; the frames meanwhile paced as the app runs them (an uncapped loop of empty
    frames alone grows the heap)."""
    trims = rv.trims
    while rv.trims == trims:
        loop.idle()
        time.sleep(1 / 60)
    return _rss_mb()


def _walk(app, loop):
    """Open the route walk; (screen, ms, where the time went)."""
    from kivy.core.window import Window

    from bench._ui_probe import OpenTimer
    from terminal import route_walk
    from terminal.ui.screens import walk as wm
    app.services.set_operator({"operator_id": "1001", "name": "bench", "roles": ["reader"]})
    timer = OpenTimer()
    for name in ("route_info", "walk", "progress"):
        timer.wrap(route_walk, name, "query_ms")
    timer.wrap(wm, "_confirmed_outliers", "query_ms")
    timer.wrap(wm, "load_walk", "rows_ms")                # less the queries it makes
    timer.wrap(wm.WalkScreen, "_show", "data_set_ms")
    timer.wrap(wm.WalkList, "refresh_views", "layout_ms")   # less making the row widgets
    timer.wrap(wm.WalkRow, "__init__", "widgets_ms")
    timer.wrap(wm.WalkRow, "refresh_view_attrs", "widgets_ms")
    timer.wrap(wm.TextTextures, "_make", "textures_ms")
    timer.watch_frames(Window)
    start = time.perf_counter()
    app.go("walk", route_id=ROUTE)
    screen = app.sm.get_screen("walk")
    while screen.loading or len(screen.ids.rv.data) < ACCOUNTS:
        loop.idle()
    shown = time.perf_counter()
    loop.idle()   # the frame drawing the rows was drawn in the last idle, or is now
    open_ms = (time.perf_counter() - start) * 1000
    timer.stop()
    ms = timer.ms
    laid_out = timer.last_end.get("layout_ms", shown)
    first = next(((b - a) * 1000 for a, b in timer.frames if a >= laid_out), 0.0)
    parts = {k: ms[k] for k in ("query_ms", "rows_ms", "data_set_ms", "layout_ms", "widgets_ms",
                                "textures_ms")}
    parts["first_frame_ms"] = first
    parts["other_ms"] = open_ms - sum(parts.values())
    parts = {k: round(v, 1) for k, v in parts.items()}
    parts.update(textures_made=timer.calls["textures_ms"], row_widget_calls=timer.calls["widgets_ms"])
    return screen, open_ms, parts


def _frames(app, loop, rv, n: int, until=None) -> list[float]:
    """Scroll by 40 px a frame (a brisk thumb fling), bouncing at the ends; frame times in ms."""
    times, direction = [], -1
    last = time.perf_counter()
    for i in range(n):
        scrollable = max(1.0, rv.children[0].height - rv.height)
        y = rv.scroll_y + direction * 40.0 / scrollable
        if y <= 0 or y >= 1:
            direction = -direction
            y = min(1.0, max(0.0, y))
        rv.scroll_y = y
        loop.idle()
        now = time.perf_counter()
        times.append((now - last) * 1000)
        last = now
        if until is not None and until():
            break
    return times


def _frame_timer():
    """Times, while scrolling, GL drawing (on_draw to on_flip), the list's view updates,
    the rows' refills and their new text textures."""
    from kivy.core.window import Window

    from bench._ui_probe import OpenTimer
    from terminal.ui.screens import walk as wm
    timer = OpenTimer()
    timer.wrap(wm.WalkList, "refresh_views", "views_ms")
    timer.wrap(wm.WalkRow, "refresh_view_attrs", "rows_ms")
    timer.wrap(wm.TextTextures, "_make", "textures_ms")
    timer.watch_frames(Window)
    timer.texture_counts = _texture_counts()
    return timer


def _texture_counts() -> dict:
    from terminal.ui.screens import walk as wm
    t = wm.TEXTURES
    return {"texture_refills": t.refills, "textures_fresh": t.fresh,
            "texture_hot_refills": t.hot_refills}


def _frame_parts(timer, times: list) -> dict:
    """Where the frames' time went since the last call (ms a frame on average), and the
    p99 of the GL drawing alone; `other` is the event loop, Clock callbacks (status
    updates), other threads holding the GIL, and waiting for the display."""
    from bench.common import percentile
    n = max(1, len(times))
    draws = [(b - a) * 1000 for a, b in timer.frames]
    out = {k: round(timer.ms[k] / n, 2) for k in ("views_ms", "rows_ms", "textures_ms")}
    out["draw_ms"] = round(sum(draws) / n, 2)
    out["other_ms"] = round(sum(times) / n - sum(out.values()), 2)
    out["draw_p99_ms"] = round(percentile(draws, 99), 2) if draws else 0.0
    out["textures_made"] = timer.calls["textures_ms"]
    now = _texture_counts()     # of those: re-filled, new, and re-filled while recently drawn
    out.update({k: v - timer.texture_counts[k] for k, v in now.items()})
    timer.texture_counts = now
    timer.ms.clear()
    timer.calls.clear()
    timer.frames.clear()
    return out


def child_walk(data: str, kivy_home: str, sync_mode: str = "process", mode: str = "") -> None:
    """Open the route, scroll it end to end, then scroll while syncing. `mode` "trace":
    with tracemalloc on, and stop before syncing; "open": stop before syncing."""
    trace = mode == "trace"
    if trace:
        tracemalloc.start()
    from bench._ui_probe import memory, scroll_through
    from bench.common import percentile
    _prepare(kivy_home)
    app, loop = _app(data, sync_mode)
    while app.sm.current != "login":
        loop.idle()
    until = time.perf_counter() + 1.5       # the operator keys number and PIN meanwhile
    while time.perf_counter() < until:
        loop.idle()
    screen, open_ms, parts = _walk(app, loop)
    rv = screen.ids.rv
    rss = _rss_mb()
    opened = memory("open_")
    scroll_frames = scroll_through(loop, rv)
    scrolling = _rss_mb()
    _rested_rss(loop, rv)
    scrolled = memory("scroll_")
    scrolled["scroll_while_scrolling_mb"] = round(scrolling, 1)
    if mode:
        print(json.dumps({"route_open_ms": open_ms, "open": parts, **opened, **scrolled}),
              flush=True)
        app.shutdown()
        return
    timer = _frame_timer()
    idle = _frames(app, loop, rv, 400)[20:]
    idle_parts = _frame_parts(timer, idle)
    services = app.services
    pending_before = services.store.conn.execute(
        "SELECT COUNT(*) FROM outbox WHERE state='pending'").fetchone()[0]
    services.start_worker()
    services.sync_now()
    t0 = time.perf_counter()
    busy = _frames(app, loop, rv, 20000, until=lambda: services.sync_state == "idle"
                   and services.pending == 0 and time.perf_counter() - t0 > 1)
    sync_s = time.perf_counter() - t0
    sync_parts = _frame_parts(timer, busy)
    timer.stop()
    left = services.store.conn.execute(
        "SELECT COUNT(*) FROM outbox WHERE state IN ('pending','inflight')").fetchone()[0]
    print(json.dumps({"route_open_ms": open_ms, "rss_mb": rss, "open": parts,
                      "scroll_frames": scroll_frames, **opened, **scrolled,
                      "frame_p99_idle_ms": percentile(idle, 99),
                      "frame_p99_sync_ms": percentile(busy[5:], 99), "frames_sync": len(busy),
                      "idle_frames": [round(t, 2) for t in idle],
                      "sync_frames": [round(t, 2) for t in busy[5:]],
                      "frame_idle": idle_parts, "frame_sync": sync_parts,
                      "ops_uploaded": pending_before - left, "sync_s": sync_s,
                      "rss_end_mb": _rested_rss(loop, rv)}), flush=True)
    app.shutdown()


def child_naive(data: str, kivy_home: str, trace: str = "") -> None:
    """Baseline for opening a route: one Label per account in a GridLayout, then a frame;
    then scrolled end to end."""
    if trace:
        tracemalloc.start()
    _prepare(kivy_home)
    from kivy.base import EventLoop
    from kivy.core.window import Window
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.label import Label
    from kivy.uix.scrollview import ScrollView

    from bench._ui_probe import memory, scroll_through
    from terminal import route_walk
    from terminal.store import Store
    from terminal.ui import fonts
    fonts.register()
    EventLoop.ensure_window()
    store = Store(Path(data) / "chaoshou.db", check=False)
    start = time.perf_counter()
    rows = route_walk.walk(store, ROUTE)
    queried = time.perf_counter()
    grid = GridLayout(cols=1, size_hint_y=None, row_default_height=60, row_force_default=True)
    grid.bind(minimum_height=grid.setter("height"))
    for r in rows:
        grid.add_widget(Label(text=f"{r['account_no']} {r['name']} {r['address']}"))
    view = ScrollView()
    view.add_widget(grid)
    Window.add_widget(view)
    built = time.perf_counter()
    EventLoop.idle()
    EventLoop.idle()
    end = time.perf_counter()
    opened = memory("open_")
    scroll_through(EventLoop, view)
    print(json.dumps({"naive_open_ms": (end - start) * 1000, "rows": len(rows),
                      "open": {"query_ms": round((queried - start) * 1000, 1),
                               "widgets_ms": round((built - queried) * 1000, 1),
                               "first_frame_ms": round((end - built) * 1000, 1)},
                      **opened, **memory("scroll_")}), flush=True)


def _main(argv: list[str]) -> int:
    if argv[:1] != ["--child"]:
        print("run it as: python -m bench ui [--json]", file=sys.stderr)
        return 2
    kind, *rest = argv[1:]
    {"bare": child_bare, "cold": child_cold, "walk": child_walk, "naive": child_naive}[kind](*rest)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
