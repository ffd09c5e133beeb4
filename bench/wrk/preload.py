#!/usr/bin/env python3
"""Writes COUNT keys for wrk's read workloads (bench/wrk/requests.lua) and
prints them, one per line: "<id>\\t<subject>" for StemeDB (get reads the id,
query the subject), the raw key for etcd.

  bench/wrk/preload.py stemedb PORT COUNT > keys   (STEMEDB_KEY in the environment)
  bench/wrk/preload.py etcd PORT COUNT > keys
"""
import base64
import http.client
import json
import os
import sys

target, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
headers = {"Content-Type": "application/json"}
if target == "stemedb":
    headers["X-API-Key"] = os.environ["STEMEDB_KEY"]
pad = "x" * 76
for i in range(count):
    subject = f"subject-wrk-preload-{i}"
    value = f"v-preload-{i}-{pad}"
    if target == "stemedb":
        body = {"subject": subject, "predicate": "bench.value", "value": value,
                "agent_id": "loadgen"}
        conn.request("POST", "/v1/assert", json.dumps(body), headers)
    elif target == "etcd":
        body = {"key": base64.b64encode(subject.encode()).decode(),
                "value": base64.b64encode(value.encode()).decode()}
        conn.request("POST", "/v3/kv/put", json.dumps(body), headers)
    else:
        sys.exit(f"preload: unknown target {target}")
    reply = conn.getresponse()
    data = reply.read()
    if reply.status not in (200, 201):
        sys.exit(f"preload: {target} answered {reply.status}: {data[:200]!r}")
    print(f"{json.loads(data)['id']}\t{subject}" if target == "stemedb" else subject)
