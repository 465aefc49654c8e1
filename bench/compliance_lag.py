"""The lag from a change to its notice on a compliance stream: the time from
the platform's acknowledged write (`DELETE /internal/posts/:id` answered) to
the line on the stream of an app that had received the post. Everything a
notice goes through is in it: the change log, `serve`'s notices thread
(which looks every 100 ms), the ledger lookup of who received the post, the
ledger entry recording the notice, and the stream's fan-out.

Run by bench/compliance_lag.sh; loopback only, bounded by COUNT."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from support import Server, bearer, create_demo, free_port  # noqa: E402

COUNT = int(os.environ.get("COUNT", "300"))
RATE = float(os.environ.get("RATE", "20"))  # deletions per second
APP = "demo-display"


def main(workdir: Path) -> None:
    data = workdir / "lag"
    credentials = create_demo(data, free_port(), 3000, 30000)
    server = Server(data, name="lag").start()
    token = next(a["token"] for a in credentials["apps"] if a["name"] == APP)
    internal = {"Authorization": f"Bearer {credentials['internal_token']}"}
    try:
        # Posts the app received: the timelines of the first authors that have some.
        posts: list[int] = []
        accounts = [json.loads(l) for l in (data / "generated" / "accounts.jsonl").read_text().splitlines()]
        for account in accounts:
            r = requests.get(
                f"{server.base_url}/2/users/{account['id']}/tweets",
                headers=bearer(token),
                params={"max_results": 100},
                timeout=30,
            )
            posts += [int(t["id"]) for t in r.json().get("data", [])]
            if len(posts) >= COUNT:
                break
        posts = posts[:COUNT]
        arrived: dict[int, float] = {}
        done = threading.Event()

        def listen(partition: int) -> None:
            with requests.get(
                f"{server.base_url}/2/tweets/compliance/stream",
                params={"partition": partition},
                headers=bearer(token),
                stream=True,
                timeout=120,
            ) as r:
                for raw in r.iter_lines():
                    if done.is_set():
                        return
                    if not raw.strip():
                        continue
                    line = json.loads(raw)
                    if "delete" in line.get("data", {}):
                        arrived[int(line["data"]["delete"]["tweet"]["id"])] = time.monotonic()

        listeners = [threading.Thread(target=listen, args=(p,), daemon=True) for p in range(1, 5)]
        for t in listeners:
            t.start()
        time.sleep(1)
        acked: dict[int, float] = {}
        for post in posts:
            started = time.monotonic()
            r = requests.delete(f"{server.base_url}/internal/posts/{post}", headers=internal, timeout=30)
            assert r.status_code == 200, r.text
            acked[post] = time.monotonic()
            time.sleep(max(0.0, 1 / RATE - (acked[post] - started)))
        deadline = time.monotonic() + 30
        while len(arrived) < len(posts) and time.monotonic() < deadline:
            time.sleep(0.05)
        done.set()
        lags = sorted((arrived[p] - acked[p]) * 1000 for p in posts if p in arrived)
        missing = len(posts) - len(lags)

        def pct(q: float) -> float:
            return lags[min(len(lags) - 1, int(q * len(lags)))]

        print(json.dumps({
            "changes": len(posts),
            "rate_per_second": RATE,
            "delivered": len(lags),
            "missing": missing,
            "lag_ms_p50": round(pct(0.50), 1),
            "lag_ms_p99": round(pct(0.99), 1),
            "lag_ms_max": round(lags[-1], 1),
            "notices_thread_interval_ms": 100,
        }))
    finally:
        server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
