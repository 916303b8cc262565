#!/usr/bin/env python3
"""Correctness of the harness's replicated KV store (harness/apps), on loopback (no root needed).

- Quorum: every GET after a PUT acknowledged by 2 of 3 replicas returns that PUT's value, also
  when one replica lost its state (restarted empty) and another is away (SIGSTOP): kv_client
  checks every GET against its own last PUT and exits 3 on a violation; a negative control with
  --quorum 1 shows the check catches stale reads.
- TCP mode and UDP mode give the same results (digest of every reply) on the same small
  deterministic run.
- With only 2 of 3 replicas running, operations complete (quorum 2); with 1 they cannot.

usage: kv_correctness_test.py BUILD_DIR
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest
from pathlib import Path

BUILD = Path(sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("TMC_BUILD", "build")).resolve()
SERVER = BUILD / "harness" / "kv_server"
CLIENT = BUILD / "harness" / "kv_client"


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        # A port free for both TCP and UDP.
        while True:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks += [s, u]
            ports.append(port)
            break
    for s in socks:
        s.close()
    return ports


class Replicas:
    """Starts replicas (killed by pid on exit, also on test failure)."""

    def __init__(self, mode, count=3, running=None):
        self.mode = mode
        self.ports = free_ports(count)
        self.procs = {}
        for i in range(count):
            if running is None or i in running:
                self.start(i)

    def start(self, i):
        p = subprocess.Popen([str(SERVER), "--mode", self.mode, "--listen", f"127.0.0.1:{self.ports[i]}",
                              "--id", str(i + 1), "--max-seconds", "60"], stdout=subprocess.PIPE, text=True)
        self.procs[i] = p
        line = p.stdout.readline()
        assert line.startswith("ready "), line

    def restart(self, i):
        """Kills replica i and starts it again with an empty store."""
        p = self.procs.pop(i)
        p.kill()
        p.wait(timeout=10)
        p.stdout.close()
        self.start(i)

    def endpoints(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def signal(self, index, sig):
        self.procs[index].send_signal(sig)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs.values():
            p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait(timeout=10)
            p.stdout.close()


def client(replicas, *args, timeout=30):
    proc = subprocess.run([str(CLIENT), "--mode", replicas.mode, "--replicas", replicas.endpoints(),
                           "--connect-timeout", "1", *args], capture_output=True, text=True, timeout=timeout)
    summary = None
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            summary = json.loads(line)
    return proc.returncode, summary, proc.stderr


class KvCorrectness(unittest.TestCase):
    def test_tcp_and_udp_give_the_same_results(self):
        digests = {}
        for mode in ("tcp", "udp"):
            with Replicas(mode) as r:
                rc, s, err = client(r, "--ops", "2000", "--keys", "50", "--seed", "7", "--duration", "20")
            self.assertEqual(rc, 0, err)
            self.assertEqual(s["ops"], 2000)
            self.assertEqual(s["violations"], 0)
            self.assertGreater(s["gets"], 800)
            self.assertGreater(s["puts"], 800)
            digests[mode] = s["digest"]
        self.assertEqual(digests["tcp"], digests["udp"])

    def test_a_different_seed_gives_a_different_digest(self):
        with Replicas("udp") as r:
            _, a, _ = client(r, "--ops", "500", "--keys", "50", "--seed", "7", "--duration", "20")
            _, b, _ = client(r, "--ops", "500", "--keys", "50", "--seed", "8", "--duration", "20")
        self.assertNotEqual(a["digest"], b["digest"])

    def test_two_of_three_replicas_suffice(self):
        for mode in ("tcp", "udp"):
            with Replicas(mode, running={0, 1}) as r:
                rc, s, err = client(r, "--ops", "500", "--keys", "20", "--timeout-ms", "50", "--duration", "20")
            self.assertEqual(rc, 0, f"{mode}: {err}")
            self.assertEqual(s["ops"], 500, mode)
            self.assertEqual(s["violations"], 0, mode)

    def test_one_of_three_replicas_cannot_complete_an_operation(self):
        with Replicas("udp", running={0}) as r:
            rc, s, err = client(r, "--ops", "10", "--timeout-ms", "50", "--duration", "1")
        self.assertEqual(s["ops"], 0, err)
        self.assertGreater(s["retries"], 5)

    def _replica_loses_its_state(self, quorum):
        """UDP: replica 1 restarts empty (it lost every PUT so far, acknowledged by all), then
        replica 2 pauses: a GET can now only complete on replies from 1 and 3, which differ for
        every key written before the restart. Replica 1 gets each request first, so its stale
        reply is usually the first to arrive."""
        with Replicas("udp") as r:
            proc = subprocess.Popen([str(CLIENT), "--mode", "udp", "--replicas", r.endpoints(), "--keys", "2000",
                                     "--quorum", str(quorum), "--timeout-ms", "20", "--duration", "2", "--seed", "3"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(0.5)
                r.restart(0)
                r.signal(1, signal.SIGSTOP)
                time.sleep(0.6)
                r.signal(1, signal.SIGCONT)
                out, err = proc.communicate(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return proc.returncode, json.loads(out.strip().splitlines()[-1]), err

    def test_get_after_put_acknowledged_by_two_of_three_returns_it(self):
        rc, summary, err = self._replica_loses_its_state(quorum=2)
        self.assertEqual(rc, 0, err)
        self.assertEqual(summary["violations"], 0)
        self.assertGreater(summary["ops"], 100)
        self.assertGreater(summary["retries"], 0)  # GETs waited for replica 2

    def test_the_check_catches_a_client_that_trusts_one_reply(self):
        # Negative control: completing on 1 reply returns the restarted replica's stale answers.
        rc, summary, err = self._replica_loses_its_state(quorum=1)
        self.assertEqual(rc, 3, err)
        self.assertGreater(summary["violations"], 0)

    def test_tcp_replicas_pausing_lose_nothing(self):
        with Replicas("tcp") as r:
            proc = subprocess.Popen([str(CLIENT), "--mode", "tcp", "--replicas", r.endpoints(), "--keys", "30",
                                     "--timeout-ms", "20", "--duration", "2", "--seed", "3"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(0.4)
                r.signal(2, signal.SIGSTOP)
                time.sleep(0.5)
                r.signal(2, signal.SIGCONT)
                r.signal(0, signal.SIGSTOP)
                time.sleep(0.5)
                r.signal(0, signal.SIGCONT)
                out, err = proc.communicate(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        summary = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(summary["violations"], 0)
        self.assertGreater(summary["ops"], 100)


if __name__ == "__main__":
    if not SERVER.exists() or not CLIENT.exists():
        print(f"kv_server/kv_client not built in {BUILD}/harness", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
