"""Packet loss on the hosts of a topology, through the eBPF loss injector (ebpf/tmc-loss).

Loss is injected on the *ingress* of every host's eth0 (the probed place where TC_ACT_SHOT
drops as configured; ARP is kept by the injector), so every packet crossing the bridge meets
exactly one drop decision at the given rate.

    tmc-loss attach --dev IFACE --rate FRACTION [--seed N] [--ports P1,P2]
    tmc-loss detach --dev IFACE
    tmc-loss stats  --dev IFACE      -> "seen=N dropped=M"

In loopback mode there is no kernel injector: only TMC arms get loss, from the engine's
user-space fault injector (environment variable below), and kernel-TCP cells with loss > 0 are
reported as unavailable rather than measured without loss.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .topology import Host, Topology

# Engine user-space fault injector, configured through the environment of a TMC process.
USERSPACE_LOSS_ENV = "TMC_FAULT_DROP"


class LossError(RuntimeError):
    pass


def find_tmc_loss(build: Path) -> Path | None:
    candidates = [os.environ.get("TMC_LOSS_BIN"), build / "ebpf" / "tmc-loss", shutil.which("tmc-loss")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    return None


class LossInjector:
    def __init__(self, binary: Path, topology: Topology):
        self.binary = binary
        self.topology = topology
        self.attached: list[Host] = []
        topology.on_teardown.append(self.detach_all)

    def _cmd(self, host: Host, *args: str, timeout: float = 15) -> subprocess.CompletedProcess:
        """Runs tmc-loss in the namespace holding the host's loss point (its netns, or the
        switch's in offloads mode nic)."""
        argv = ["ip", "netns", "exec", host.loss_netns, str(self.binary), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def attach(self, rate: float, seed: int, ports: list[int] | None = None) -> None:
        """Attaches loss `rate` (fraction) on every host; rate 0 detaches."""
        self.detach_all()
        if rate <= 0:
            return
        for host in self.topology.hosts:
            args = ["attach", "--dev", host.loss_device, "--rate", f"{rate:g}", "--seed", str(seed + host.index)]
            if ports:
                args += ["--ports", ",".join(str(p) for p in ports)]
            proc = self._cmd(host, *args)
            if proc.returncode != 0:
                msg = (proc.stderr or proc.stdout).strip()
                raise LossError(f"tmc-loss attach on {host.name} failed (exit {proc.returncode}): {msg}")
            self.attached.append(host)

    def stats(self) -> dict[str, int]:
        """Sum of seen/dropped over the hosts with loss attached."""
        total = {"seen": 0, "dropped": 0}
        for host in self.attached:
            proc = self._cmd(host, "stats", "--dev", host.loss_device)
            for key, value in re.findall(r"(seen|dropped)=(\d+)", proc.stdout):
                total[key] += int(value)
        return total

    def detach_all(self) -> None:
        errors = []
        for host in list(self.attached):
            proc = self._cmd(host, "detach", "--dev", host.loss_device)
            if proc.returncode != 0 and host.loss_netns in _netns_names():
                errors.append(f"{host.name}: {(proc.stderr or proc.stdout).strip()}")
            self.attached.remove(host)
        if errors:
            raise LossError("tmc-loss detach failed: " + "; ".join(errors))


def _netns_names() -> list[str]:
    proc = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def tc_filters(host: Host) -> str:
    """Ingress filters on the host's device (for tests: must be empty after teardown)."""
    proc = subprocess.run(["ip", "netns", "exec", host.loss_netns, "tc", "filter", "show", "dev", host.loss_device, "ingress"],
                          capture_output=True, text=True)
    return proc.stdout.strip()
