"""Replicas behind HAProxy: `scripts/replicas-test [--students 24] [--seconds 10] [--browser]`.

Starts three replicas of the server (one worker each, one shared cache folder) on loopback ports
and HAProxy (Debian's package, run as this script's own process) with deploy/haproxy/haproxy.cfg,
then, all through HAProxy:

1. the shared cache: a filter atlas computed by one replica is read from the cache by another;
2. throughput with 1, 2 and 3 replicas in service (the others put in maintenance through
   HAProxy's runtime API): students on the live channel (bench/students.py) plus HTTP clients
   posting drawings to /predict;
3. a replica killed (SIGKILL) mid-run: every HTTP request must still succeed (HAProxy retries it
   on another replica), and every live client whose channel dropped must reconnect by itself
   (the page's delays: 250 ms, doubling) within a second and get answers again;
4. with --browser: the page, opened through HAProxy in Chromium, loses its replica and shows
   "live" again, and a drawing is answered.

Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.__main__ import p, sample_digits
from bench.server import PROJECT_ROOT, Server, free_port
from bench.students import digit_frames, run_class

CONFIG = PROJECT_ROOT / "deploy" / "haproxy" / "haproxy.cfg"
MODELS = ("mnist-convnet", "mnist-lenet")


class HAProxy:
    """HAProxy on a loopback port in front of the replicas, with its runtime API socket."""

    def __init__(self, replicas: list[Server], folder: Path) -> None:
        self.port = free_port()
        self.socket_path = str(folder / "haproxy.sock")
        env = {
            **os.environ,
            "CONVNET_VIS_LB_PORT": str(self.port),
            "CONVNET_VIS_LB_SOCKET": self.socket_path,
            **{f"CONVNET_VIS_REPLICA{i + 1}": f"127.0.0.1:{r.port}" for i, r in enumerate(replicas)},
        }
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        subprocess.run([haproxy, "-c", "-q", "-f", str(CONFIG)], env=env, check=True)
        self.log = open(folder / "haproxy.log", "w")
        self.process = subprocess.Popen([haproxy, "-db", "-f", str(CONFIG)], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self, line: str) -> str:
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket_path) and time.monotonic() < deadline:
            time.sleep(0.1)  # HAProxy is starting
        with socket.socket(socket.AF_UNIX) as runtime:
            runtime.connect(self.socket_path)
            runtime.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := runtime.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict]:
        """Per replica (r1..r3): HAProxy's status and current sessions, from `show stat`."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r for r in rows if r["pxname"] == "replicas" and r["svname"].startswith("r")}

    def in_service(self, count: int) -> None:
        for index in range(1, 4):
            self.command(f"set server replicas/r{index} state {'ready' if index <= count else 'maint'}")

    def wait_up(self, names: list[str], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.servers()[n]["status"] == "UP" for n in names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"replicas not UP in HAProxy: {self.servers()}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


async def http_clients(base: str, count: int, stop_at: float, start_measure: float) -> dict:
    """`count` loops posting drawings to /predict until `stop_at`; every failure is recorded."""
    bodies = [json.dumps({"pixels": d.round(3).tolist()}) for d in sample_digits(8)]
    result = {"ok": 0, "failed": [], "latencies": [], "measured": 0}

    async def loop(index: int) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            n = index
            while time.perf_counter() < stop_at:
                n += 1
                started = time.perf_counter()
                try:
                    response = await client.post(
                        f"{base}/api/models/{MODELS[n % 2]}/predict", content=bodies[n % len(bodies)],
                        headers={"content-type": "application/json"},
                    )
                    if response.status_code != 200 or "prediction" not in response.json():
                        result["failed"].append(f"{response.status_code}: {response.text[:120]}")
                    else:
                        result["ok"] += 1
                except httpx.HTTPError as exc:
                    result["failed"].append(f"{type(exc).__name__}: {exc}")
                if started >= start_measure:
                    result["measured"] += 1
                    result["latencies"].append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(loop(i) for i in range(count)))
    return result


async def mixed_load(base: str, students: int, seconds: float, http: int, frames, during=None):
    """Students and HTTP clients together; `during(start)` runs alongside (the kill)."""
    start = time.perf_counter()
    extra = [during(start)] if during else []
    live, posts, *_ = await asyncio.gather(
        run_class(base, students, seconds, frames, seed=7), http_clients(base, http, start + 2 + seconds, start + 2), *extra
    )
    return live, posts


def report(name: str, live, posts, seconds: float) -> tuple[float, float]:
    answers = sum(s.answers for s in live.students)
    lat = live.latencies or [float("nan")]
    rate, predicts = answers / seconds, posts["measured"] / seconds
    print(
        f"  {name}: live {answers / seconds:6.1f} answers/s (p50 {p(lat, 50):5.1f} p95 {p(lat, 95):6.1f} ms, "
        f"min rate/student {min(s.rate for s in live.students):4.1f}/s), HTTP predict {predicts:5.1f}/s "
        f"(p95 {p(posts['latencies'] or [float('nan')], 95):6.1f} ms), HTTP failures {len(posts['failed'])}, "
        f"live errors {sum(s.errors for s in live.students)}, CPU client {live.client_cpu * 100:.0f}%, load {live.load:.1f}",
        flush=True,
    )
    return rate, predicts


def check_shared_cache(lb: HAProxy, replicas: list[Server], cache: Path) -> bool:
    """One replica computes a filter atlas into the shared folder; another answers it from there."""
    path = "/api/models/mnist-lenet/layers/conv2/filters/0?steps=32"
    with httpx.Client(timeout=120) as client:
        first = client.get(replicas[0].url + path)
        started = time.perf_counter()
        second = client.get(replicas[1].url + path)
        took = (time.perf_counter() - started) * 1000
        through_lb = client.get(lb.url + path)
    files = sum(1 for f in cache.rglob("*") if f.is_file())
    same = first.status_code == second.status_code == through_lb.status_code == 200 and first.content == second.content == through_lb.content
    print(f"shared cache: r1 computed a filter atlas, r2 answered the same bytes in {took:.0f} ms from {cache} "
          f"({files} cache file(s)); through HAProxy the same: {'yes' if same else 'NO'}", flush=True)
    return same


def browser_check(lb: HAProxy, replicas: list[Server]) -> bool:
    """The page through HAProxy: its replica killed, it shows 'live' again and answers a drawing."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CONVNET_VIS_CHROMIUM") or shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        page = browser.new_page()
        page.goto(lb.url + "/")
        page.wait_for_selector("[data-testid=layer]", timeout=60_000)
        page.wait_for_function("() => document.querySelector('#live-status').textContent === 'live'", timeout=60_000)
        sessions = {name: int(row["scur"] or 0) for name, row in lb.servers().items()}
        victim = max((n for n in sessions if lb.servers()[n]["status"] == "UP"), key=sessions.get)
        replicas[int(victim[1:]) - 1].process.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        page.wait_for_function("() => document.querySelector('#live-status').textContent !== 'live'", timeout=10_000)
        page.wait_for_function("() => document.querySelector('#live-status').textContent === 'live'", timeout=10_000)
        back = time.perf_counter() - killed
        before = page.evaluate("window.convnetVis.answers")
        box = page.locator("[data-testid=draw-canvas]").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
        page.mouse.down()
        for step in range(1, 20):
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * (0.2 + 0.03 * step))
        page.mouse.up()
        page.wait_for_function(f"() => window.convnetVis.answers > {before}", timeout=10_000)
        browser.close()
    print(f"browser: the page's replica ({victim}) killed; the page showed 'live' again after {back:.2f} s and answered a drawing", flush=True)
    return back < 1.5


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/replicas-test", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=24)
    parser.add_argument("--http-clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--browser", action="store_true", help="also check the page in Chromium through HAProxy")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="convnet-vis-replicas-"))
    cache = folder / "cache"
    cache.mkdir()
    replicas = [Server(cache=str(cache)) for _ in range(3)]
    lb, ok = None, True
    try:
        for replica in replicas:
            replica.wait_healthy()
        lb = HAProxy(replicas, folder)
        lb.wait_up(["r1", "r2", "r3"])
        print(f"3 replicas on ports {[r.port for r in replicas]}, HAProxy on {lb.port}; load average {os.getloadavg()[0]:.1f}", flush=True)
        ok &= check_shared_cache(lb, replicas, cache)
        frames = digit_frames()

        print(f"throughput: {args.students} students + {args.http_clients} HTTP clients, {args.seconds:.0f} s each:", flush=True)
        rates = {}
        for count in (1, 2, 3):
            lb.in_service(count)
            time.sleep(1)
            live, posts = asyncio.run(mixed_load(lb.url, args.students, args.seconds, args.http_clients, frames))
            rates[count] = report(f"{count} replica(s)", live, posts, args.seconds)
            ok &= not posts["failed"]
        print("  scaling (live answers/s, predicts/s) vs 1 replica: "
              + ", ".join(f"{c}: {rates[c][0] / rates[1][0]:.2f}x, {rates[c][1] / rates[1][1]:.2f}x" for c in (2, 3)), flush=True)

        print(f"kill: r2 gets SIGKILL 4 s into a {args.seconds + 2:.0f} s run:", flush=True)
        killed_at = {}

        async def kill(start: float) -> None:
            await asyncio.sleep(4)
            replicas[1].process.send_signal(signal.SIGKILL)
            killed_at["t"] = time.perf_counter()

        live, posts = asyncio.run(mixed_load(lb.url, args.students, args.seconds, args.http_clients, frames, kill))
        report("with r2 killed", live, posts, args.seconds)
        dropped = [s for s in live.students if s.reconnects]
        gaps = [g for s in dropped for g in s.reconnects]
        after = [s for s in dropped if any(t > killed_at["t"] + 1.5 for t in s.answered_at)]
        print(f"  HTTP requests: {posts['ok']} succeeded, {len(posts['failed'])} failed {posts['failed'][:3]}")
        print(f"  live clients: {len(dropped)} of {len(live.students)} lost their channel; reconnected within "
              f"max {max(gaps, default=0):.2f} s (median {p(gaps or [0], 50):.2f} s); {len(after)} of them answered again after",
              flush=True)
        print(f"  HAProxy sees: { {n: r['status'] for n, r in lb.servers().items()} }")
        lb.log.flush()
        logged = [line for line in (folder / "haproxy.log").read_text().splitlines() if "/api/" in line]
        print(f"  HAProxy logged {len(logged)} request(s) that went wrong on their first replica, e.g.:")
        for line in logged[:3]:
            print("    " + line[:200])
        ok &= not posts["failed"] and bool(dropped) and max(gaps) < 1.0 and len(after) == len(dropped)
        if args.browser:
            lb.in_service(3)
            ok &= browser_check(lb, replicas)
    finally:
        if lb is not None:
            lb.stop()
        for replica in replicas:
            replica.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print("replicas-test:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
