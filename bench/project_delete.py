#!/usr/bin/env python3
"""Time and disk reclaimed by deleting a project (docs/projects.md "Project deletion").

Starts the real server in a fresh directory, writes N assertions into project
`big` (batches of 1000) and 1000 into `small`, then DELETEs `big` and polls
until the server answers 404 (nothing left). Prints the data directory's size
(RocksDB + WAL, `du`-style: allocated bytes) before and after, the time the
deletion took and the time until the disk figure settled (compaction).

    bench/project_delete.py [--server build/api/stemedb] [--assertions 1000000]

A measurement, not a test: it asserts only that `small` is intact.
"""
import argparse
import http.client
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time


def disk_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="build/api/stemedb")
    ap.add_argument("--assertions", type=int, default=1_000_000)
    ap.add_argument("--port", type=int, default=18199)
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="stemedb_delete_bench_")
    key = "steme_live_" + secrets.token_hex(24)
    env = dict(os.environ, STEMEDB_ROOT_API_KEY=key, STEMEDB_DATA_DIR=root + "/data",
               STEMEDB_BIND_ADDR=f"127.0.0.1:{args.port}", STEMEDB_RATE_LIMIT="1000000/s,1000000",
               STEMEDB_LOG_LEVEL="warn")
    log = open(root + "/server.log", "w")
    server = subprocess.Popen([args.server], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        conn = None
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
                conn.request("GET", "/v1/ready")
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        headers = {"X-API-Key": key, "Content-Type": "application/json"}

        def call(method, target, body=None):
            conn.request(method, target, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()

        def fill(project, n):
            for base in range(0, n, 1000):
                items = [{"subject": f"s{i % 1000}", "predicate": "p", "value": i,
                          "agent_id": f"agent{i % 10}"} for i in range(base, min(n, base + 1000))]
                status, body = call("POST", f"/v1/assert/batch?project={project}",
                                    json.dumps({"assertions": items}))
                assert status == 201, (status, body)

        t0 = time.time()
        fill("big", args.assertions)
        fill("small", 1000)
        write_s = time.time() - t0
        time.sleep(2)
        before = disk_bytes(root + "/data")

        t0 = time.time()
        status, body = call("DELETE", "/v1/admin/projects/big")
        assert status == 202, (status, body)
        hidden_s = time.time() - t0
        while True:
            status, _ = call("DELETE", "/v1/admin/projects/big")
            if status == 404:
                break
            assert status == 202, status
            time.sleep(0.2)
        deleted_s = time.time() - t0
        # The compaction after the last step runs in the background: wait
        # until the figure stops moving.
        last, stable = disk_bytes(root + "/data"), 0
        while stable < 5:
            time.sleep(1)
            now = disk_bytes(root + "/data")
            stable = stable + 1 if now == last else 0
            last = now
        settled_s = time.time() - t0 - 5
        after = last

        status, body = call("GET", "/v1/query?project=small&subject=s1&history=true")
        assert status == 200 and len(json.loads(body)["assertions"]) == 1, (status, body)
        print(json.dumps({
            "assertions": args.assertions,
            "write_seconds": round(write_s, 1),
            "disk_before_bytes": before,
            "delete_reply_seconds": round(hidden_s, 3),
            "deleted_seconds": round(deleted_s, 1),
            "disk_settled_seconds": round(settled_s, 1),
            "disk_after_bytes": after,
            "reclaimed_bytes": before - after,
        }, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
