"""After a SIGKILL at any moment, the ledger verifies and the server restarts.

A server under load from a few client threads is killed at a random moment,
several times over (so that some kills land while a checkpoint is being
signed or written); after each kill `tollgate ledger verify` must pass, and
the next start must succeed and continue the ledger.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

from ledger_support import cli, env, free_port, get, tollgate_bin

CYCLES = 6
CLIENTS = 3


def start(data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(tollgate_bin()), "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}", "serve"],
        cwd=data_dir,
        env=env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir.parent / f"serve-{port}.stderr", "wb"),
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (data_dir.parent / f"serve-{port}.stderr").read_text()
        try:
            if get(f"http://127.0.0.1:{port}/healthz")[0] == 200:
                return proc
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.05)


def test_the_ledger_verifies_after_every_kill(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    cli(data_dir, "demo", "--accounts", "300", "--posts", "3000", "--no-serve")
    credentials = json.loads((data_dir / "demo-credentials.json").read_text())
    token = next(a["token"] for a in credentials["apps"] if a["name"] == "demo-display")
    with open(data_dir / "generated" / "posts.jsonl", encoding="utf-8") as f:
        post_ids = [json.loads(line)["id"] for line in f][:500]
    rng = random.Random(20260)
    entries = 0
    for cycle in range(CYCLES):
        port = free_port()
        proc = start(data_dir, port)
        stop = threading.Event()

        def load(seed: int) -> None:
            r = random.Random(seed)
            while not stop.is_set():
                try:
                    get(f"http://127.0.0.1:{port}/2/tweets/{r.choice(post_ids)}", token)
                except OSError:
                    return

        threads = [threading.Thread(target=load, args=(cycle * 10 + i,), daemon=True) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        # Around the one-second checkpoint interval, so kills fall before,
        # during and after checkpoints.
        time.sleep(rng.uniform(0.2, 2.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=30)

        result = cli(data_dir, "ledger", "verify", "--json", check=False)
        report = json.loads(result.stdout)
        assert result.returncode == 0 and report["ok"], f"cycle {cycle}: {result.stdout}{result.stderr}"
        assert report["entries"] >= entries, "nothing recorded was lost"
        entries = report["entries"]
    assert entries > 0

    # A clean start and stop signs the end.
    proc = start(data_dir, free_port())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    report = json.loads(cli(data_dir, "ledger", "verify", "--json").stdout)
    assert report["ok"] and report["checkpoints"]["latest"]["size"] == report["entries"] == entries
