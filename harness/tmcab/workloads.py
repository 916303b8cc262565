"""Workloads: unmodified applications, each a server side and a client side on netns hosts.

A workload's run() starts its servers, runs its client for the experiment's duration (bounded:
killed at duration + a grace period), parses the client's own output into metrics, and stops
every process it started (by pid) before returning, also when it fails.

    kv       harness/apps kv_server on hosts 1..replicas, kv_client on host 0 (Figure 2)
    iperf3   iperf3 -s on host 1, iperf3 -c on host 0 (-J): throughput
    sockperf sockperf sr on host 1, sockperf pp --full-rtt on host 0: RTT percentiles
    redis    redis-server on host 1, redis-benchmark --csv on host 0: requests/s, p99
"""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .topology import Host, Process, Topology


class WorkloadError(RuntimeError):
    pass


class WorkloadUnavailable(WorkloadError):
    """The run cannot happen in this setting (e.g. multicast on loopback): not a failure."""


@dataclass
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool


@dataclass
class RunContext:
    topology: Topology
    params: dict[str, Any]
    duration: float
    env: dict[str, str]      # added to every process of the arm
    build: Path
    tag: str                 # unique per run, names log files
    seed: int
    arm: Any = None          # experiment.Arm: its policies decide which binaries get the shim
    shim: Path | None = None

    def env_for(self, binary: str) -> dict[str, str]:
        """Environment of one process: the arm's, plus the TMC shim if the arm has a policy for it."""
        env = dict(self.env)
        policy = self.arm.policy_for(binary) if self.arm is not None else None
        if policy is not None:
            env = {"LD_PRELOAD": str(self.shim), "TMC_POLICY": str(policy), **env}
        return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port(ctx: RunContext, base: int, offset: int = 0) -> int:
    # Namespaced hosts have their own port space: fixed ports. Loopback shares the machine's.
    return base + offset if ctx.topology.hosts[0].netns else _free_port()


def _listening(ctx: RunContext, host: Host, port: int, udp: bool) -> bool:
    # Under the TMC shim a TCP server's port may be served by the engine's UDP socket instead of
    # a kernel listener, so either kind of socket on the port counts.
    argv = ctx.topology.command(host, ["ss", "-Hlntu", f"sport = :{port}"])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    return bool(proc.stdout.strip())


def _wait_ready(ctx: RunContext, proc: Process, port: int, udp: bool, pattern: str | None = None,
                timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise WorkloadError(f"{proc.name} exited with {proc.popen.returncode}: {_tail(proc.log)}")
        if _listening(ctx, proc.host, port, udp):
            return
        if pattern and re.search(pattern, proc.log.read_text(errors="replace")):
            return
        time.sleep(0.05)
    raise WorkloadError(f"{proc.name} not ready on port {port} after {timeout:.0f} s: {_tail(proc.log)}")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _need(binary: str) -> str:
    found = shutil.which(binary)
    if not found:
        raise WorkloadError(f"{binary} not installed (tests/deps.sh installs it)")
    return found


def _client(ctx: RunContext, host: Host, argv: list[str], name: str, grace: float | None = None) -> str:
    """Runs a workload's client to completion; killed (a failed run) at duration + grace."""
    if grace is None:
        grace = max(10.0, ctx.duration)
    status, output = ctx.topology.run(host, argv, f"{ctx.tag}-{name}", timeout=ctx.duration + grace,
                                      env=ctx.env_for(argv[0]))
    if status is None:
        raise WorkloadError(f"{name} did not finish within {ctx.duration + grace:.0f} s")
    if status != 0:
        raise WorkloadError(f"{name} exited with {status}: {' | '.join(output.strip().splitlines()[-5:])}")
    return output


# ---- kv -------------------------------------------------------------------------------------
KV_METRICS = [Metric("txn_per_s", "throughput", "txn/s", True), Metric("p50_us", "latency p50", "us", False),
              Metric("p99_us", "latency p99", "us", False), Metric("p999_us", "latency p99.9", "us", False),
              Metric("retries", "client retries", "", False), Metric("violations", "GET violations", "", False)]


def run_kv(ctx: RunContext) -> dict[str, float]:
    p = ctx.params
    topo = ctx.topology
    replicas = int(p["replicas"])
    mode = str(p["mode"])
    group = p.get("group")
    # group "239.x.y.z": kernel IP multicast (replicas join it); "IP:PORT" of another kind: a
    # virtual group address only the client sends to (a TMC policy maps it to the replicas).
    group_ip, _, group_port = str(group or "").partition(":")
    if group and not topo.hosts[0].netns:
        raise WorkloadUnavailable("the kv multicast arm needs the netns topology (not --loopback)")
    server_bin = ctx.build / "harness" / "kv_server"
    client_bin = ctx.build / "harness" / "kv_client"
    for b in (server_bin, client_bin):
        if not b.exists():
            raise WorkloadError(f"{b} missing: cmake --build {ctx.build} --target kv_server kv_client")
    servers = []
    endpoints = []
    try:
        for i in range(1, replicas + 1):
            host = topo.hosts[i]
            port = _port(ctx, int(p["port"]))
            argv = [str(server_bin), "--mode", mode, "--listen", f"{host.address}:{port}", "--id", str(i),
                    "--max-seconds", str(int(ctx.duration + 120))]
            if group and _is_multicast(group_ip):
                argv += ["--group", group_ip]
            proc = topo.start(host, argv, f"{ctx.tag}-kv_server{i}", env=ctx.env_for(argv[0]))
            servers.append((proc, port))
            endpoints.append(f"{host.address}:{port}")
        for proc, port in servers:
            _wait_ready(ctx, proc, port, udp=mode == "udp", pattern=r"^ready ")
        argv = [str(client_bin), "--mode", mode, "--replicas", ",".join(endpoints), "--duration", f"{ctx.duration:g}",
                "--keys", str(p["keys"]), "--value-size", str(p["value_size"]), "--timeout-ms", str(p["timeout_ms"]),
                "--get-ratio", str(p["get_ratio"]), "--seed", str(ctx.seed)]
        if group:
            argv += ["--group", f"{group_ip}:{group_port or servers[0][1]}"]
        if p.get("quorum"):
            argv += ["--quorum", str(p["quorum"])]
        output = _client(ctx, topo.hosts[0], argv, "kv_client")
        summary = _last_json(output)
        if summary.get("violations", 0):
            raise WorkloadError(f"kv_client saw {summary['violations']} GET results that were not the last PUT")
        return {m.key: float(summary[m.key]) for m in KV_METRICS} | {"ops": float(summary["ops"])}
    finally:
        for proc, _ in servers:
            topo.stop(proc)


def _is_multicast(ip: str) -> bool:
    try:
        return 224 <= int(ip.split(".")[0]) <= 239
    except ValueError:
        return False


def _last_json(output: str) -> dict[str, Any]:
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    raise WorkloadError(f"no JSON summary in output: {output.strip()[-300:]}")


# ---- iperf3 ---------------------------------------------------------------------------------
# cpu_us_per_kib: CPU time of both iperf3 processes (iperf3's own -J cpu_utilization_percent:
# user + system of the whole process, shim threads included, per wall second) per KiB received.
# Kernel work the stack does in a process's context (softirq on veth) counts there; ksoftirqd's
# does not, for either arm.
IPERF3_METRICS = [Metric("gbit_per_s", "throughput", "Gbit/s", True), Metric("retransmits", "TCP retransmits", "", False),
                  Metric("cpu_us_per_kib", "CPU per KiB, both ends", "us", False)]


def run_iperf3(ctx: RunContext) -> dict[str, float]:
    iperf3 = _need("iperf3")
    p = ctx.params
    topo = ctx.topology
    server_host, client_host = topo.hosts[1], topo.hosts[0]
    port = _port(ctx, int(p["port"]))
    server = topo.start(server_host, [iperf3, "-s", "-1", "-B", server_host.address, "-p", str(port)],
                        f"{ctx.tag}-iperf3_server", env=ctx.env_for(iperf3))
    try:
        _wait_ready(ctx, server, port, udp=False, pattern="Server listening")
        argv = [iperf3, "-c", server_host.address, "-p", str(port), "-t", f"{max(1, round(ctx.duration))}", "-J",
                "-P", str(p["parallel"])]
        if p.get("udp"):
            argv += ["-u", "-b", str(p.get("bitrate") or "1G")]
        elif p.get("bitrate"):
            argv += ["-b", str(p["bitrate"])]
        if p.get("congestion"):  # iperf3 -C: TCP_CONGESTION on the client's socket (the sender)
            argv += ["-C", str(p["congestion"])]
        output = _client(ctx, client_host, argv, "iperf3")
        try:
            report = json.loads(output[output.index("{"):])
        except (ValueError, json.JSONDecodeError):
            raise WorkloadError(f"iperf3 output is not JSON: {output[-300:]}") from None
        if "error" in report:
            raise WorkloadError(f"iperf3: {report['error']}")
        end = report["end"]
        if p.get("udp"):
            bps = end["sum"]["bits_per_second"] * (1 - end["sum"].get("lost_percent", 0) / 100)
            retrans = 0
        else:
            bps = end["sum_received"]["bits_per_second"]
            retrans = end["sum_sent"].get("retransmits", 0)
        cpu = end.get("cpu_utilization_percent", {})
        cores = (cpu.get("host_total", 0) + cpu.get("remote_total", 0)) / 100
        kib_per_s = bps / 8 / 1024
        return {"gbit_per_s": bps / 1e9, "retransmits": float(retrans),
                "cpu_us_per_kib": cores * 1e6 / kib_per_s if kib_per_s else 0.0}
    finally:
        topo.stop(server)


# ---- sockperf -------------------------------------------------------------------------------
SOCKPERF_METRICS = [Metric("p99_us", "RTT p99", "us", False), Metric("p50_us", "RTT p50", "us", False),
                    Metric("p999_us", "RTT p99.9", "us", False), Metric("msg_per_s", "round trips", "/s", True)]


def run_sockperf(ctx: RunContext) -> dict[str, float]:
    sockperf = _need("sockperf")
    p = ctx.params
    topo = ctx.topology
    server_host, client_host = topo.hosts[1], topo.hosts[0]
    port = _port(ctx, int(p["port"]))
    tcp = str(p["protocol"]) == "tcp"
    proto = ["--tcp"] if tcp else []
    server = topo.start(server_host, [sockperf, "sr", "-i", server_host.address, "-p", str(port), *proto],
                        f"{ctx.tag}-sockperf_server", env=ctx.env_for(sockperf))
    try:
        _wait_ready(ctx, server, port, udp=not tcp, pattern=r"using \S+ to block on socket")
        argv = [sockperf, "pp", "-i", server_host.address, "-p", str(port), *proto, "-t",
                f"{max(1, round(ctx.duration))}", "-m", str(p["msg_size"]), "--full-rtt"]
        output = _client(ctx, client_host, argv, "sockperf")
        return parse_sockperf(output)
    finally:
        topo.stop(server)


def parse_sockperf(output: str) -> dict[str, float]:
    def pct(name: str) -> float:
        m = re.search(rf"--->\s+percentile\s+{re.escape(name)}\s*=\s*([0-9.]+)", output)
        if not m:
            raise WorkloadError(f"sockperf output has no percentile {name}: {output[-300:]}")
        return float(m.group(1))

    m = re.search(r"\[Valid Duration\] RunTime=([0-9.]+) sec; SentMessages=\d+; ReceivedMessages=(\d+)", output)
    trips = float(m.group(2)) / max(float(m.group(1)), 1e-9) if m else math.nan
    return {"p50_us": pct("50.000"), "p99_us": pct("99.000"), "p999_us": pct("99.900"), "msg_per_s": trips}


# ---- redis ----------------------------------------------------------------------------------
REDIS_METRICS = [Metric("rps", "requests/s (mean of tests)", "req/s", True),
                 Metric("p99_ms", "latency p99 (worst test)", "ms", False)]


def run_redis(ctx: RunContext) -> dict[str, float]:
    server_bin = _need("redis-server")
    bench = _need("redis-benchmark")
    p = ctx.params
    topo = ctx.topology
    server_host, client_host = topo.hosts[1], topo.hosts[0]
    port = _port(ctx, int(p["port"]))
    server = topo.start(server_host, [server_bin, "--port", str(port), "--bind", server_host.address, "--save", "",
                                      "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"],
                        f"{ctx.tag}-redis_server", env=ctx.env_for(server_bin))
    try:
        _wait_ready(ctx, server, port, udp=False, pattern="Ready to accept connections")
        argv = [bench, "-h", server_host.address, "-p", str(port), "-t", str(p["tests"]), "-n", str(p["requests"]),
                "-c", str(p["clients"]), "-d", str(p["data_size"]), "--csv"]
        output = _client(ctx, client_host, argv, "redis-benchmark", grace=max(15, 3 * ctx.duration))
        return parse_redis_csv(output)
    finally:
        topo.stop(server)


def parse_redis_csv(output: str) -> dict[str, float]:
    rows = []
    for line in output.splitlines():
        cells = [c.strip().strip('"') for c in line.split(",")]
        if len(cells) >= 7 and cells[0] != "test":
            try:
                rows.append((cells[0], float(cells[1]), float(cells[6])))
            except ValueError:
                continue
    if not rows:
        raise WorkloadError(f"redis-benchmark printed no results: {output[-300:]}")
    result = {"rps": sum(r[1] for r in rows) / len(rows), "p99_ms": max(r[2] for r in rows)}
    for name, rps, _ in rows:
        result[f"{name.split()[0].lower()}_rps"] = rps
    return result


@dataclass
class Workload:
    name: str
    run: Callable[[RunContext], dict[str, float]]
    metrics: list[Metric]
    description: str


WORKLOADS = {
    "kv": Workload("kv", run_kv, KV_METRICS, "replicated KV store (IR-style, 2 of 3 replies), closed loop"),
    "iperf3": Workload("iperf3", run_iperf3, IPERF3_METRICS, "iperf3 bulk throughput"),
    "sockperf": Workload("sockperf", run_sockperf, SOCKPERF_METRICS, "sockperf ping-pong round-trip latency"),
    "redis": Workload("redis", run_redis, REDIS_METRICS, "redis-benchmark against redis-server"),
}
