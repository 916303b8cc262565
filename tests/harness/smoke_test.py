#!/usr/bin/env python3
"""Smoke run of one workload under both arms (kernel TCP, and TMC through the shim) with
harness/ab: the results folder has a well-formed CSV (a row per run, numbers in every metric of
a completed run), JSON (every run and a summary), summary.md and a PNG.

The TCP arm must complete. With the shim built, the TMC arm must complete or fail with its
error recorded (printed as a note; TMC_SMOKE_STRICT=1 makes it fatal); without the shim it must
be reported as unavailable (and this test says so). Loss 0 and 1% when the eBPF loss
injector is built, else only 0. Needs root (netns): exit 77 = skipped otherwise.

usage: smoke_test.py WORKLOAD BUILD_DIR
"""

import csv
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "harness"))
from tmcab.loss import find_tmc_loss  # noqa: E402
from tmcab.workloads import WORKLOADS  # noqa: E402

# The TMC arm of each workload: the policy files its binaries run with.
TMC_POLICY = {
    "kv": "harness/experiments/policies/kv-unreliable.yaml",
    "iperf3": "policies/iperf3.yaml",
    "sockperf": "policies/sockperf.yaml",
    "redis": "{redis-server: policies/redis-server.yaml, redis-benchmark: policies/redis-benchmark.yaml}",
}
PARAMS = {"kv": "{type: kv, keys: 100}", "iperf3": "{type: iperf3}", "sockperf": "{type: sockperf}",
          "redis": "{type: redis, requests: 3000, clients: 4}"}


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> int:
    workload, build = sys.argv[1], Path(sys.argv[2]).resolve()
    if os.geteuid() != 0:
        print("SKIP: the netns topology needs root")
        return 77
    losses = ["0", "1%"] if find_tmc_loss(build) else ["0"]
    # Whether the shim runs a binary correctly is the shim's to test (tests/shim): here a failed
    # TMC run must carry its error (recorded in runs.csv / summary.md) and is printed as a note.
    # TMC_SMOKE_STRICT=1 makes a failed TMC run fail this test too (for CI once the shim is done).
    strict = os.environ.get("TMC_SMOKE_STRICT") == "1"
    tmc_failures: list[str] = []
    shim = Path(os.environ.get("TMC_SHIM") or build / "shim" / "libtmc_shim.so")
    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / f"smoke-{workload}.yaml"
        # iperf3 also exercises offloads nic (loss on the switch ports) and a per-socket TCP
        # congestion control (iperf3 -C; a refused one fails the TCP run).
        extra = "offloads: nic\n" if workload == "iperf3" else ""
        tcp_args = "\n    args: {congestion: cubic}" if workload == "iperf3" else ""
        exp.write_text(f"""
name: smoke-{workload}
workload: {PARAMS[workload]}
loss: [{", ".join(losses)}]
repetitions: 1
duration: 2
{extra}arms:
  - name: TCP{tcp_args}
  - name: TMC
    policy: {TMC_POLICY[workload]}
""")
        out = Path(tmp) / "out"
        proc = subprocess.run([sys.executable, str(REPO / "harness" / "ab"), str(exp), "--build", str(build),
                               "--out", str(out)], capture_output=True, text=True, timeout=100)
        log = proc.stdout + proc.stderr
        if proc.returncode not in (0, 1):
            fail(f"ab exited {proc.returncode}:\n{log}")

        rows = list(csv.DictReader(open(out / "runs.csv")))
        if len(rows) != 2 * len(losses):
            fail(f"runs.csv has {len(rows)} rows, expected {2 * len(losses)}")
        metrics = [m.key for m in WORKLOADS[workload].metrics]
        for row in rows:
            for key in ["arm", "loss", "repetition", "status"] + metrics:
                if key not in row:
                    fail(f"runs.csv lacks column {key}")
            expected = "ok" if row["arm"] == "TCP" or shim.exists() else "unavailable"
            if (row["arm"] == "TMC" and expected == "ok" and row["status"] == "failed" and not strict
                    and row["error"]):
                tmc_failures.append(f"{row['loss']}: {row['error'][:200]}")
                continue
            if row["status"] != expected:
                fail(f"{row['arm']} @ {row['loss']}: status {row['status']} ({row['error']}), expected {expected}\n{log}")
            if row["status"] == "ok":
                for key in metrics:
                    value = float(row[key])
                    if math.isnan(value) or value < 0:
                        fail(f"{row['arm']}: metric {key} = {row[key]}")
                primary = float(row[metrics[0]])
                if primary <= 0:
                    fail(f"{row['arm']} @ {row['loss']}: {metrics[0]} is {primary}")
            if row["loss"] != "0.0" and row["status"] == "ok" and not int(row["packets_dropped"] or 0):
                fail(f"{row['arm']} @ {row['loss']}: the injector dropped nothing")

        doc = json.loads((out / "results.json").read_text())
        if len(doc["runs"]) != len(rows) or doc["experiment"]["workload"] != workload:
            fail("results.json does not list every run")
        if not any(s["arm"] == "TCP" and s["metric"] == metrics[0] for s in doc["summary"]):
            fail("results.json has no summary for the TCP arm")
        pngs = list(out.glob("*.png"))
        if not pngs:
            fail("no PNG written")
        for png in pngs:
            data = png.read_bytes()
            if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 2000:
                fail(f"{png.name} is not a PNG plot")
        summary = (out / "summary.md").read_text()
        if "| loss | TCP | TMC |" not in summary:
            fail("summary.md has no table")
    for failure in tmc_failures:
        print(f"note: TMC arm of {workload} failed (shim support, not the harness) at loss {failure}")
    if not shim.exists():
        print(f"note: TMC arm unavailable (shim not built at {shim}); only the TCP arm was measured")
    print(f"ok: {workload} smoke run, loss {', '.join(losses)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
