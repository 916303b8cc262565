#!/usr/bin/env python3
"""The harness's netns topology is created and fully removed — no netns, veth, tc filter or
process left — on a normal end, when a workload fails, and on Ctrl-C / SIGTERM.

Needs root and network namespaces (exit 77 = skipped otherwise). Uses the eBPF loss injector
when it is built (tc filters are then part of what must disappear).

usage: topology_test.py BUILD_DIR
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("TMC_BUILD", REPO / "build")).resolve()
sys.path.insert(0, str(REPO / "harness"))

from tmcab.loss import LossInjector, find_tmc_loss, tc_filters  # noqa: E402
from tmcab.topology import Topology, list_netns  # noqa: E402

AB = REPO / "harness" / "ab"


def pids_with(text: str) -> list[int]:
    """Processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """pid and every process below it (from /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def running_with(pids: list[int], text: str) -> list[int]:
    """Those of `pids` that still run a command line containing `text` (pid reuse aside)."""
    alive = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            alive.append(pid)
    return alive


def namespaces_of(pid: int) -> list[str]:
    return [ns for ns in list_netns() if ns.startswith(f"tmcab-{pid}-")]


class TopologyLifecycle(unittest.TestCase):
    def test_create_connect_and_remove_everything(self):
        with tempfile.TemporaryDirectory() as tmp:
            topo = Topology(3, workdir=Path(tmp))
            try:
                topo.create()
                names = list(topo.created)
                self.assertEqual(len(names), 4)  # switch + 3 hosts
                for ns in names:
                    self.assertIn(ns, list_netns())
                # h0 reaches h2 over the bridge (a TCP connect to a listening socket).
                listener = topo.start(topo.hosts[2], ["python3", "-c",
                                      "import socket,time;s=socket.socket();s.bind(('10.77.0.3',9999));s.listen();"
                                      "c,_=s.accept();c.send(b'hi');time.sleep(1)"], "listener")
                time.sleep(0.5)
                status, out = topo.run(topo.hosts[0], ["python3", "-c",
                                       "import socket;s=socket.create_connection(('10.77.0.3',9999),timeout=5);"
                                       "print(s.recv(2).decode())"], "connector", timeout=10)
                self.assertEqual(status, 0, out)
                self.assertIn("hi", out)
                # A process that ignores SIGTERM, and the veth ends, and loss filters.
                stubborn = topo.start(topo.hosts[1], ["sh", "-c", "trap '' TERM; sleep 300"], "stubborn")
                tmc_loss = find_tmc_loss(BUILD)
                if tmc_loss:
                    injector = LossInjector(tmc_loss, topo)
                    injector.attach(0.01, seed=1)
                    self.assertIn("bpf", tc_filters(topo.hosts[1]))
                # The shell's sleep child too (the test's own processes only, by pid).
                deadline = time.monotonic() + 5
                stubborn_pids = descendants(stubborn.popen.pid)
                while len(running_with(stubborn_pids, "sleep 300")) < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                    stubborn_pids = descendants(stubborn.popen.pid)
                self.assertGreaterEqual(len(running_with(stubborn_pids, "sleep 300")), 2, stubborn_pids)
                pids = [listener.popen.pid] + stubborn_pids
            finally:
                problems = topo.teardown()
            self.assertEqual(problems, [])
            for ns in names:
                self.assertNotIn(ns, list_netns())
            for pid in pids:
                self.assertFalse(Path(f"/proc/{pid}").exists() and
                                 "sleep" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"))
            self.assertEqual(running_with(pids, "sleep 300"), [])
            links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
            self.assertNotIn(topo.prefix, links)

    def _packets_seen_for(self, mode: str, sender: str) -> int:
        """Packets the loss injector sees while h0 sends 256 KiB to h1 with `sender` (python)."""
        tmc_loss = find_tmc_loss(BUILD)
        with tempfile.TemporaryDirectory() as tmp:
            topo = Topology(2, workdir=Path(tmp), offloads=mode)
            try:
                topo.create()
                injector = LossInjector(tmc_loss, topo)
                injector.attach(0.0001, seed=3)  # counts every packet, drops ~none
                if mode == "nic":  # the switch port a host sends into, not the host's eth0
                    self.assertEqual((topo.hosts[0].loss_netns, topo.hosts[0].loss_device), (topo.switch, "h0"))
                    self.assertIn("bpf", tc_filters(topo.hosts[0]))
                    eth0 = subprocess.run(["ip", "netns", "exec", topo.hosts[0].netns, "tc", "filter", "show",
                                           "dev", "eth0", "ingress"], capture_output=True, text=True).stdout
                    self.assertEqual(eth0.strip(), "")
                receiver = topo.start(topo.hosts[1], ["python3", "-c",
                                      "import socket,sys;t=socket.socket();t.bind(('10.77.0.2',9998));t.listen();"
                                      "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind(('10.77.0.2',9997));"
                                      "c,_=t.accept();n=0\nwhile True:\n d=c.recv(65536)\n n+=len(d)\n if not d: break\n"
                                      "print(n)"], "receiver")
                time.sleep(0.5)
                status, out = topo.run(topo.hosts[0], ["python3", "-c", sender], "sender", timeout=20)
                self.assertEqual(status, 0, out)
                receiver.popen.wait(timeout=10)
                return injector.stats()["seen"]
            finally:
                self.assertEqual(topo.teardown(), [])

    def test_offload_modes_decide_what_the_injector_sees(self):
        if not find_tmc_loss(BUILD):
            self.skipTest("tmc-loss not built")
        tcp = ("import socket;s=socket.create_connection(('10.77.0.2',9998),timeout=5);"
               "s.sendall(b'x'*262144);s.close()")
        # 256 KiB as UDP GSO super-packets of 44 x 1400-byte segments (UDP_SEGMENT = 103).
        udp_gso = ("import socket;u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.setsockopt(17,103,1400);"
                   "[u.sendto(b'y'*61600,('10.77.0.2',9997)) for _ in range(5)];"
                   "s=socket.create_connection(('10.77.0.2',9998),timeout=5);s.close()")
        wire_tcp = 262144 // 1448
        wire_udp = 5 * 44
        for mode in ("off", "nic"):
            with self.subTest(mode=mode):
                # Wire-sized packets: at least one per MSS (TCP, acks aside) / per GSO segment.
                self.assertGreaterEqual(self._packets_seen_for(mode, tcp), wire_tcp)
                self.assertGreaterEqual(self._packets_seen_for(mode, udp_gso), wire_udp)
        # keep: the super-packets cross whole (the reason for the other modes).
        self.assertLess(self._packets_seen_for("keep", udp_gso), wire_udp)
        self.assertLess(self._packets_seen_for("keep", tcp), wire_tcp)

    def _experiment(self, tmp: Path, port: int, keys: int, duration: float, loss: str) -> Path:
        path = tmp / "exp.yaml"
        path.write_text(f"""
name: teardown
workload: {{type: kv, port: {port}, keys: {keys}}}
loss: [{loss}]
repetitions: 1
duration: {duration}
arms:
  - name: TCP
    args: {{mode: tcp}}
""")
        return path

    def _assert_clean(self, ab_pid: int, port: int):
        self.assertEqual(namespaces_of(ab_pid), [])
        self.assertEqual(pids_with(f":{port}"), [], "processes of the experiment still running")

    def test_workload_failure_leaves_nothing(self):
        # keys: 0 makes kv_client reject its flags after the replicas started: the run fails.
        port = 7400 + os.getpid() % 500
        loss = "1%" if find_tmc_loss(BUILD) else "0"
        with tempfile.TemporaryDirectory() as tmp:
            exp = self._experiment(Path(tmp), port, keys=0, duration=2, loss=loss)
            proc = subprocess.Popen([sys.executable, str(AB), str(exp), "--build", str(BUILD), "--out",
                                     str(Path(tmp) / "out"), "--quiet"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            out, _ = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 1, out)
            self.assertIn("failed", (Path(tmp) / "out" / "runs.csv").read_text())
            self._assert_clean(proc.pid, port)

    def test_interrupt_mid_run_leaves_nothing(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            port = 7400 + (os.getpid() + 1 + sig) % 500
            with tempfile.TemporaryDirectory() as tmp:
                exp = self._experiment(Path(tmp), port, keys=100, duration=30, loss="0")
                proc = subprocess.Popen([sys.executable, str(AB), str(exp), "--build", str(BUILD), "--out",
                                         str(Path(tmp) / "out"), "--quiet"], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                try:
                    deadline = time.monotonic() + 20
                    while time.monotonic() < deadline and not pids_with(f"10.77.0.2:{port},"):
                        time.sleep(0.1)
                    self.assertTrue(namespaces_of(proc.pid), "topology was not created")
                    self.assertTrue(pids_with(f":{port}"), "kv processes did not start")
                    proc.send_signal(sig)
                    out, _ = proc.communicate(timeout=30)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                self.assertEqual(proc.returncode, 130, out)
                self.assertIn("interrupted", out)
                self._assert_clean(proc.pid, port)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: the netns topology needs root")
        sys.exit(77)
    probe = f"tmcab-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        print("SKIP: network namespaces are not available here")
        sys.exit(77)
    subprocess.run(["ip", "netns", "del", probe])
    if not (BUILD / "harness" / "kv_server").exists():
        print(f"kv_server not built in {BUILD}/harness", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
