#!/usr/bin/env python3
"""The harness's KV store in UDP mode, unchanged, under the shim with the group mapping of the
Figure 2 policies (harness/experiments/policies/kv-multicast.yaml, kv-reliable.yaml): kv_client
sends each request once to the virtual address 10.77.1.1:7000; the mapping delivers it to the
three replicas (IP multicast, or unicast fan-out with 2-of-3 reliability) and the replies come
back from the replicas' real addresses, which is how kv_client counts its quorum.

In a netns topology this test creates (harness/tmcab/topology.py; removed on every exit path):
- every operation completes and every GET reads back the client's last PUT (kv_client's own
  check: exit 3 and `violations` on a stale read), for both policies;
- the replies are the same as over kernel UDP (kv_client's digest of every result, same seed);
- the multicast policy sends about one packet per request from the client (IP multicast), the
  fan-out policy at least three;
- control: without the shim, the virtual address reaches nobody and nothing completes.

Needs root and network namespaces (exit 77 = skipped otherwise).
usage: kv_group_test.py BUILD_DIR
"""

import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("TMC_BUILD", REPO / "build")).resolve()
sys.path.insert(0, str(REPO / "harness"))

from tmcab.topology import Topology, TopologyError  # noqa: E402

SERVER = BUILD / "harness" / "kv_server"
CLIENT = BUILD / "harness" / "kv_client"
SHIM = BUILD / "shim" / "libtmc_shim.so"
POLICIES = REPO / "harness" / "experiments" / "policies"
OPS = 400


def tx_packets(topology, host):
    out = subprocess.run(["ip", "-n", host.netns, "-s", "-j", "link", "show", "eth0"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)[0]["stats64"]["tx"]["packets"]


class KvGroup(unittest.TestCase):
    def run_arm(self, policy, ops=OPS, duration=30, group=True):
        env = {"LD_PRELOAD": str(SHIM), "TMC_POLICY": str(policy)} if policy else None
        with Topology(4, workdir=Path(self.workdir)) as topo:
            replicas = topo.hosts[1:]
            for i, host in enumerate(replicas):
                proc = topo.start(host, [str(SERVER), "--mode", "udp", "--listen", f"{host.address}:7000",
                                         "--id", str(i + 1), "--max-seconds", "60"], f"server{i}", env)
                self.wait_ready(proc)
            before = tx_packets(topo, topo.hosts[0])
            status, output = topo.run(topo.hosts[0], [str(CLIENT), "--mode", "udp", "--replicas",
                                                      ",".join(f"{h.address}:7000" for h in replicas),
                                                      *(["--group", "10.77.1.1:7000"] if group else []),
                                                      "--ops", str(ops),
                                                      "--keys", "50", "--duration", str(duration), "--seed", "5"],
                                      "client", timeout=duration + 30, env=env)
            sent = tx_packets(topo, topo.hosts[0]) - before
        summary = None
        for line in output.splitlines():
            if line.startswith("{"):
                summary = json.loads(line)
        print(f"\n  {policy.name if policy else 'no shim'}: exit {status}, {sent} client packets, {summary}", file=sys.stderr)
        return status, summary, output, sent

    def wait_ready(self, proc, timeout=10):
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready " in proc.log.read_text(errors="replace"):
                return
            if not proc.alive():
                break
            time.sleep(0.05)
        self.fail(f"{proc.name} not ready: {proc.log.read_text(errors='replace')}")

    def setUp(self):
        import tempfile
        self._tmp = tempfile.TemporaryDirectory(prefix="tmc-kv-group-")
        self.workdir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def check_complete(self, name, status, summary, output):
        self.assertEqual(status, 0, f"{name}: kv_client failed:\n{output}")
        self.assertIsNotNone(summary, output)
        self.assertEqual(summary["ops"], OPS, f"{name}: {summary}")
        self.assertEqual(summary["violations"], 0, f"{name}: {summary}")
        self.assertGreater(summary["gets"], OPS // 4, summary)
        self.assertGreater(summary["puts"], OPS // 4, summary)

    def kernel_digest(self):
        """The digest of every reply of the same run over kernel UDP (requests sent to each replica)."""
        if not hasattr(KvGroup, "_kernel_digest"):
            status, summary, output, _ = self.run_arm(None, group=False)
            self.check_complete("kernel UDP", status, summary, output)
            KvGroup._kernel_digest = summary["digest"]
        return KvGroup._kernel_digest

    def test_multicast_mapping_completes_with_one_packet_per_request(self):
        status, summary, output, sent = self.run_arm(POLICIES / "kv-multicast.yaml")
        self.check_complete("kv-multicast", status, summary, output)
        self.assertEqual(summary["digest"], self.kernel_digest(), "same replies as over kernel UDP")
        requests = OPS + summary.get("retries", 0)
        self.assertLess(sent, 2 * requests, f"IP multicast: {sent} packets for {requests} requests")

    def test_reliable_fan_out_completes_and_fans_out(self):
        status, summary, output, sent = self.run_arm(POLICIES / "kv-reliable.yaml")
        self.check_complete("kv-reliable", status, summary, output)
        self.assertEqual(summary["digest"], self.kernel_digest(), "same replies as over kernel UDP")
        self.assertGreaterEqual(sent, 3 * OPS, f"unicast fan-out: {sent} packets for {OPS} requests")

    def test_without_the_shim_the_virtual_address_reaches_nobody(self):
        status, summary, output, _ = self.run_arm(None, ops=5, duration=1)
        self.assertIsNotNone(summary, output)
        self.assertEqual(summary["ops"], 0, summary)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: needs root for network namespaces")
        sys.exit(77)
    for path in (SERVER, CLIENT, SHIM):
        if not path.exists():
            print(f"SKIP: {path} not built")
            sys.exit(77)
    try:
        subprocess.run(["ip", "netns", "list"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        print("SKIP: no network namespaces here")
        sys.exit(77)
    unittest.main()
