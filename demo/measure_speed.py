"""Time every action of the demo app as a user gets it: start `app.py` on a free loopback port, call each action
through `gradio_client` (upload, compute, download) `--repeats` times after one warm-up, and print a table of the
median and the slowest. `python demo/measure_speed.py` (needs gradio and gradio_client: `pip install -e ".[demo]"`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_app(timeout: float = 180.0, env: dict | None = None):
    """Starts `python app.py` with its default host on a free port; yields its loopback URL; stops it on exit."""
    port = free_port()
    settings = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", **(env or {}))
    settings.pop("GRADIO_SERVER_NAME", None)  # the app's own default host: loopback
    process = subprocess.Popen([sys.executable, str(APP)], env=settings, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode}: {process.stderr.read()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"app.py did not listen on port {port} within {timeout:.0f} s") from None
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def actions(client) -> dict:
    """Each action of the four tabs, as a no-argument call through `client` (two example scenes)."""
    from gradio_client import handle_file

    scene_a, scene_b = handle_file(str(EXAMPLES / "scene_0.png")), handle_file(str(EXAMPLES / "scene_1.png"))
    library = {}

    def build_library():
        library["done"] = client.predict(16, [], 0, api_name="/build_library")

    return {
        "random scene": lambda: client.predict(-1, api_name="/random_scene"),
        "segment": lambda: client.predict(scene_a, api_name="/segment"),
        "reconstruct (mask ratio 0.5, 20 steps)": lambda: client.predict(scene_a, 0.5, 20, 0, api_name="/reconstruct"),
        "edit: swap (20 steps)": lambda: client.predict(scene_a, scene_b, 1, 2, "swap", 20, 0, api_name="/edit"),
        "edit: remove (20 steps)": lambda: client.predict(scene_a, scene_b, 1, 0, "remove", 20, 0, api_name="/edit"),
        "compose: build library (16 scenes)": build_library,
        "compose: sample 4 scenes (20 steps)": lambda: client.predict(4, 20, 0, api_name="/compose"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from gradio_client import Client

    with running_app() as url:
        client = Client(url, verbose=False)
        print(f"| action (64 px, CPU, through gradio_client) | median s | slowest s |  ({args.repeats} runs)")
        print("|---|---|---|")
        for name, call in actions(client).items():
            call()  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            print(f"| {name} | {statistics.median(times):.2f} | {max(times):.2f} |")


if __name__ == "__main__":
    main()
