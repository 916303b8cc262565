"""Hosts for an experiment: network namespaces on a private bridge, or loopback.

Netns topology (created by Topology.create, always removed by Topology.teardown):

    netns <prefix>-sw : bridge "br0" (multicast snooping off, so groups flood like a hub)
                        with one port h<i> per host
    netns <prefix>-h<i>: "eth0" = 10.77.0.<i+1>/24, lo up, route 224.0.0.0/4 via eth0

Where the loss injector sits and what it sees is the `offloads` mode (experiment key `offloads`):

    keep  (default) every veth as the kernel made it: TSO/GSO super-packets (up to 64 KiB) cross
          the veths whole, the injector is on each host's eth0 ingress and drops them whole
          (one loss event costs TCP or a UDP GSO sender up to ~44 wire packets at once).
    off   TSO, GSO and GRO off everywhere: every packet is wire-sized through the whole stack of
          both ends (realistic loss, but every packet pays a full stack traversal; no NIC does that).
    nic   what a datacenter NIC does: the sender's stack builds super-packets (GSO on) that are
          segmented at its eth0 (TSO and UDP segmentation off, i.e. software "NIC" segmentation),
          the injector drops wire-sized packets on the ingress of the switch port they arrive on,
          and the receiver's eth0 coalesces them again (GRO on: veth NAPI), as NIC GRO/LRO would.

The bridge lives in its own namespace,The bridge lives in its own namespace, so nothing is added to the root namespace and no
traffic can leave. Names include the harness pid, so parallel runs (ctest -j) never collide,
and `cleanup_stale()` removes the leftovers of a harness that was SIGKILLed.

Every process is started in its own session through `ip netns exec NS env K=V... argv`, so the
environment (e.g. LD_PRELOAD of the TMC shim) applies to the application only, never to `ip`,
and teardown kills each one by pid (process group), then anything still inside the namespaces.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.77.0"
MULTICAST_ROUTE = "224.0.0.0/4"
NETNS_PREFIX = "tmcab"


class TopologyError(RuntimeError):
    pass


def _run(argv: list[str], check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise TopologyError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


OFFLOAD_MODES = ("keep", "off", "nic")


def _ethtool(netns: str, device: str, settings: dict[str, str]) -> None:
    """Sets offload features with ethtool -K and checks that they took (tests/deps.sh installs
    ethtool). tx-udp-segmentation is separate from gso: with it on, a UDP_SEGMENT super-packet
    crosses a veth whole even with gso off."""
    argv = ["ip", "netns", "exec", netns, "ethtool", "-K", device]
    for name, value in settings.items():
        argv += [name, value]
    _run(argv)
    features = _run(["ip", "netns", "exec", netns, "ethtool", "-k", device]).stdout
    long_names = {"tso": "tcp-segmentation-offload", "gso": "generic-segmentation-offload",
                  "gro": "generic-receive-offload"}
    for name, value in settings.items():
        line = f"{long_names.get(name, name)}: {value}"
        if line not in features:
            raise TopologyError(f"{netns}/{device}: ethtool -K {name} {value} did not take")


def list_netns() -> list[str]:
    proc = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


@dataclass
class Host:
    index: int
    name: str          # h0, h1, ...
    netns: str | None  # None in loopback mode
    address: str       # IPv4 address applications bind / connect to
    device: str | None  # the host's interface inside its netns
    loss_netns: str | None = None   # where the loss injector drops what this host receives (or
    loss_device: str | None = None  # sends, in mode nic): by default its own eth0 ingress

    def __post_init__(self) -> None:
        if self.loss_netns is None:
            self.loss_netns, self.loss_device = self.netns, self.device


@dataclass
class Process:
    host: Host
    argv: list[str]
    popen: subprocess.Popen
    log: Path
    name: str

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Topology:
    host_count: int
    loopback: bool = False
    workdir: Path = Path("/tmp")
    offloads: str = "keep"  # keep | off | nic (module docstring)
    hosts: list[Host] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # namespaces we created, in order
    on_teardown: list = field(default_factory=list)   # callables run first at teardown (loss detach)

    def __post_init__(self) -> None:
        self.prefix = f"{NETNS_PREFIX}-{os.getpid()}-{int(time.time() * 1000) % 100000}"
        self.switch = f"{self.prefix}-sw"

    # ---- creation -------------------------------------------------------------------------
    def create(self) -> None:
        if self.loopback:
            self.hosts = [Host(i, f"h{i}", None, "127.0.0.1", None) for i in range(self.host_count)]
            return
        if os.geteuid() != 0:
            raise TopologyError("network namespaces need root (rerun as root, or use --loopback)")
        if self.offloads not in OFFLOAD_MODES:
            raise TopologyError(f"offloads must be one of {', '.join(OFFLOAD_MODES)}, got {self.offloads!r}")
        if not 1 <= self.host_count <= 200:
            raise TopologyError(f"hosts must be in [1, 200], got {self.host_count}")
        try:
            self._add_netns(self.switch)
            sw = ["ip", "-n", self.switch]
            _run(sw + ["link", "set", "lo", "up"])
            _run(sw + ["link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
            _run(sw + ["link", "set", "br0", "up"])
            for i in range(self.host_count):
                ns = f"{self.prefix}-h{i}"
                self._add_netns(ns)
                port = f"h{i}"
                _run(sw + ["link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns])
                _run(sw + ["link", "set", port, "master", "br0"])
                _run(sw + ["link", "set", port, "up"])
                h = ["ip", "-n", ns]
                address = f"{SUBNET}.{i + 1}"
                _run(h + ["link", "set", "lo", "up"])
                _run(h + ["addr", "add", f"{address}/24", "dev", "eth0"])
                _run(h + ["link", "set", "eth0", "up"])
                _run(h + ["route", "add", MULTICAST_ROUTE, "dev", "eth0"])
                loss_at = (ns, "eth0")
                if self.offloads == "off":
                    wire_sized = {"tso": "off", "gso": "off", "gro": "off", "tx-udp-segmentation": "off"}
                    _ethtool(self.switch, port, wire_sized)
                    _ethtool(ns, "eth0", wire_sized)
                elif self.offloads == "nic":
                    # eth0 sends: the stack's super-packets are segmented here; eth0 receives:
                    # GRO coalesces what the switch port forwards. The port's ingress (GRO off)
                    # sees each wire packet the host sent: that is where loss is injected.
                    _ethtool(ns, "eth0", {"tso": "off", "tx-udp-segmentation": "off", "gso": "on", "gro": "on"})
                    _ethtool(self.switch, port, {"gro": "off"})
                    loss_at = (self.switch, port)
                self.hosts.append(Host(i, f"h{i}", ns, address, "eth0", *loss_at))
            self._wait_links_up()
        except BaseException:
            self.teardown()
            raise

    def _add_netns(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self.created.append(name)

    def _wait_links_up(self, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        for host in self.hosts:
            while True:
                out = _run(["ip", "-n", host.netns, "-o", "link", "show", "eth0"]).stdout
                if "LOWER_UP" in out and "state UP" in out:
                    break
                if time.monotonic() > deadline:
                    raise TopologyError(f"{host.netns}: eth0 did not come up: {out.strip()}")
                time.sleep(0.05)

    # ---- processes --------------------------------------------------------------------------
    def command(self, host: Host, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        """The argv that runs `argv` on `host` with `env` added (only to the application)."""
        prefix = ["ip", "netns", "exec", host.netns] if host.netns else []
        env_part = ["env"] + [f"{k}={v}" for k, v in (env or {}).items()] if env else []
        return prefix + env_part + argv

    def start(self, host: Host, argv: list[str], name: str, env: dict[str, str] | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        out = open(log, "w")
        try:
            popen = subprocess.Popen(self.command(host, argv, env), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            out.close()
        proc = Process(host, argv, popen, log, name)
        self.processes.append(proc)
        return proc

    def run(self, host: Host, argv: list[str], name: str, timeout: float,
            env: dict[str, str] | None = None) -> tuple[int | None, str]:
        """Runs to completion (killed after `timeout` s). Returns (exit status or None on timeout, output)."""
        proc = self.start(host, argv, name, env)
        try:
            status: int | None = proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            status = None
        return status, proc.log.read_text(errors="replace")

    def stop(self, proc: Process, grace: float = 3) -> None:
        if proc.alive():
            _signal_group(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=5)
        else:
            _signal_group(proc.popen.pid, signal.SIGKILL)  # children left in its group, if any
        if proc in self.processes:
            self.processes.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.processes):
            try:
                self.stop(proc)
            except Exception:
                pass

    # ---- teardown ----------------------------------------------------------------------------
    def teardown(self) -> list[str]:
        """Removes everything this topology created; returns a list of problems (empty = clean)."""
        problems: list[str] = []
        for hook in reversed(self.on_teardown):
            try:
                hook()
            except Exception as e:  # keep tearing down
                problems.append(f"teardown hook: {e}")
        self.on_teardown.clear()
        self.stop_all()
        for ns in reversed(self.created):
            left = _kill_netns_pids(ns)
            if left:
                problems.append(f"processes {left} still running in netns {ns}")
            if _run(["ip", "netns", "del", ns], check=False).returncode != 0 and ns in list_netns():
                problems.append(f"could not delete netns {ns}")
        self.created.clear()
        self.hosts.clear()
        return problems

    def __enter__(self) -> "Topology":
        self.create()
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_netns_pids(ns: str, timeout: float = 5.0) -> list[int]:
    """SIGKILLs every process in `ns` and waits until they are gone (SIGKILL is asynchronous:
    on a loaded machine a killed process can take a while to exit). Returns the pids still
    there after `timeout` s (empty = clean)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [int(p) for p in _run(["ip", "netns", "pids", ns], check=False).stdout.split() if p.isdigit()]
        if not pids or time.monotonic() >= deadline:
            return pids
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def cleanup_stale() -> list[str]:
    """Deletes tmcab-<pid>-* namespaces whose harness process no longer exists."""
    removed = []
    pattern = re.compile(rf"^{NETNS_PREFIX}-(\d+)-")
    for ns in list_netns():
        m = pattern.match(ns)
        if not m:
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and Path(f"/proc/{pid}").exists():
            continue
        _kill_netns_pids(ns)
        _run(["ip", "netns", "del", ns], check=False)
        removed.append(ns)
    return removed
