"""`ab`: runs an experiment file and writes its results folder.

    harness/ab EXPERIMENT.yaml [--out DIR] [--build DIR] [--duration S] [--repetitions N]
               [--loss 0,1%] [--arms NAME,NAME] [--loopback] [--require-all]
    harness/ab --check EXPERIMENT.yaml     validate only
    harness/ab --cleanup                   remove namespaces left by a killed harness

Order of runs: for each loss rate, for each repetition, every arm in turn (arms interleaved, so
slow drift of the machine affects all arms alike). The topology is created once and torn down
on every exit path (normal end, failure, Ctrl-C, SIGTERM); loss is attached per loss rate.

Exit status: 0 every run produced a result; 1 some run failed (or, with --require-all, an arm
was unavailable); 2 bad experiment file or flags; 77 the machine cannot run it (no root, no
netns, no BPF) — the message says what is missing and offers --loopback.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import experiment as experiment_mod
from . import results
from .loss import USERSPACE_LOSS_ENV, LossError, LossInjector, find_tmc_loss
from .topology import Topology, TopologyError, cleanup_stale
from .workloads import WORKLOADS, RunContext, WorkloadError, WorkloadUnavailable

REPO = Path(__file__).resolve().parents[2]
EXIT_UNAVAILABLE = 77


class Interrupted(Exception):
    pass


def _on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def default_build() -> Path:
    env = os.environ.get("TMC_BUILD")
    return Path(env).resolve() if env else REPO / "build"


def shim_path(build: Path) -> Path:
    return Path(os.environ.get("TMC_SHIM") or build / "shim" / "libtmc_shim.so")


class Progress:
    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()

    def show(self, text: str, final: bool = False) -> None:
        elapsed = time.monotonic() - self.start
        eta = ""
        if self.done:
            eta = f" eta {_mmss(elapsed / self.done * (self.total - self.done))}"
        line = f"[{self.done:>3}/{self.total}] {_mmss(elapsed)}{eta}  {text}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _mmss(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ab", description="A/B experiments: unmodified apps over kernel TCP vs TMC")
    p.add_argument("experiment", nargs="?", help="experiment YAML file")
    p.add_argument("--out", help="results folder (default BUILD/harness/results/NAME-TIMESTAMP)")
    p.add_argument("--build", help="build directory (default $TMC_BUILD or REPO/build)")
    p.add_argument("--duration", type=float, help="override seconds per run")
    p.add_argument("--repetitions", type=int, help="override repetitions")
    p.add_argument("--loss", help="override loss rates, comma separated (0.01 or 1%%)")
    p.add_argument("--offloads", choices=experiment_mod.OFFLOAD_MODES,
                   help="override the experiment's offloads mode (keep | off | nic: what the loss injector sees)")
    p.add_argument("--arms", help="run only these arms (comma separated names)")
    p.add_argument("--loopback", action="store_true",
                   help="no netns/BPF: all hosts on 127.0.0.1; loss only for TMC arms (engine fault injector)")
    p.add_argument("--require-all", action="store_true", help="fail if an arm is unavailable (no shim/policy)")
    p.add_argument("--check", action="store_true", help="validate the experiment file and exit")
    p.add_argument("--cleanup", action="store_true", help="remove namespaces left behind by a killed harness")
    p.add_argument("--quiet", action="store_true", help="no tables on stdout, only the results path")
    p.add_argument("--report", metavar="DIR", help="redraw summary.md and plots of a results folder (no runs)")
    args = p.parse_args(argv)
    if not args.experiment and not args.cleanup and not args.report:
        p.error("an experiment file is required")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.report:
        return report_only(Path(args.report), args.quiet)
    if args.cleanup:
        removed = cleanup_stale() if os.geteuid() == 0 else []
        print(f"removed {len(removed)} stale namespaces" + (": " + ", ".join(removed) if removed else ""))
        return 0
    try:
        exp = experiment_mod.load(Path(args.experiment), REPO)
        if args.duration is not None:
            if args.duration <= 0:
                raise experiment_mod.ExperimentError("--duration must be positive")
            exp.duration = args.duration
        if args.repetitions is not None:
            if args.repetitions < 1:
                raise experiment_mod.ExperimentError("--repetitions must be >= 1")
            exp.repetitions = args.repetitions
        if args.offloads:
            exp.offloads = args.offloads
        if args.loss:
            try:
                exp.loss = [experiment_mod.parse_loss(v.strip()) for v in args.loss.split(",")]
            except ValueError as e:
                raise experiment_mod.ExperimentError(f"--loss: {e}") from None
        if args.arms:
            wanted = [a.strip() for a in args.arms.split(",")]
            unknown = [w for w in wanted if w not in {a.name for a in exp.arms}]
            if unknown:
                raise experiment_mod.ExperimentError(
                    f"--arms: unknown arm(s) {', '.join(unknown)} (known: {', '.join(a.name for a in exp.arms)})")
            exp.arms = [a for a in exp.arms if a.name in wanted]
    except experiment_mod.ExperimentError as e:
        print(f"ab: {e}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{exp.path}: ok ({exp.workload}, {len(exp.arms)} arms, {len(exp.loss)} loss rates, "
              f"{exp.repetitions} repetitions, {exp.duration:g} s per run: about "
              f"{_mmss(exp.run_count() * (exp.duration + 3))} in all)")
        return 0

    build = Path(args.build).resolve() if args.build else default_build()
    workload = WORKLOADS[exp.workload]
    loopback = args.loopback

    # What this machine can do, said before anything is created.
    if not loopback and os.geteuid() != 0:
        print("ab: network namespaces and the eBPF loss injector need root, and this is not root.\n"
              "    Rerun as root, or run loopback-only with --loopback (all hosts on 127.0.0.1; kernel-TCP\n"
              "    arms only at 0% loss; TMC arms get loss from the engine's user-space fault injector).",
              file=sys.stderr)
        return EXIT_UNAVAILABLE
    tmc_loss = find_tmc_loss(build)
    needs_kernel_loss = not loopback and any(l > 0 for l in exp.loss)
    if needs_kernel_loss and tmc_loss is None:
        print(f"ab: loss rates above 0 need the eBPF loss injector, not found at {build}/ebpf/tmc-loss "
              f"(build it: cmake --build {build} --target tmc-loss, or set TMC_LOSS_BIN).", file=sys.stderr)
        return EXIT_UNAVAILABLE

    unavailable: dict[str, str] = {}
    shim = shim_path(build)
    for arm in exp.arms:
        if arm.is_tmc and not shim.exists():
            unavailable[arm.name] = f"TMC shim not built ({shim})"
        elif arm.is_tmc and any(not p.exists() for p in arm.policies.values()):
            missing = ", ".join(str(p) for p in arm.policies.values() if not p.exists())
            unavailable[arm.name] = f"policy file missing ({missing})"
    for name, why in unavailable.items():
        print(f"ab: arm '{name}' unavailable: {why}", file=sys.stderr)
    if unavailable and args.require_all:
        return 1

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out).resolve() if args.out else build / "harness" / "results" / f"{exp.name}-{stamp}"
    (out / "logs").mkdir(parents=True, exist_ok=True)

    runs: list[dict] = []
    status = 0
    topo = Topology(exp.hosts, loopback=loopback, workdir=out / "logs", offloads=exp.offloads)
    atexit.register(topo.teardown)
    old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    progress = Progress(exp.run_count())
    interrupted = None
    try:
        if not loopback:
            removed = cleanup_stale()
            if removed:
                print(f"ab: removed stale namespaces of a killed harness: {', '.join(removed)}", file=sys.stderr)
        try:
            topo.create()
        except TopologyError as e:
            print(f"ab: cannot build the netns topology: {e}\n    Use --loopback for loopback-only runs.",
                  file=sys.stderr)
            return EXIT_UNAVAILABLE
        for host in topo.hosts:
            if host.netns:  # no TCP metrics cache carried from one run into the next
                os.system(f"ip netns exec {host.netns} sysctl -qw net.ipv4.tcp_no_metrics_save=1 >/dev/null 2>&1")
        injector = LossInjector(tmc_loss, topo) if (tmc_loss and not loopback) else None
        run_index = 0
        for loss in exp.loss:
            if injector:
                try:
                    injector.attach(loss, exp.seed)
                except LossError as e:
                    print(f"\nab: {e}\n    The eBPF loss injector needs BPF (root, CAP_BPF, tc clsact). "
                          f"Use --loopback for loopback-only runs.", file=sys.stderr)
                    return EXIT_UNAVAILABLE
            for rep in range(1, exp.repetitions + 1):
                for arm in exp.arms:
                    run_index += 1
                    label = f"{arm.name} @ {results.loss_label(loss)} rep {rep}/{exp.repetitions}"
                    progress.show(label + " ...")
                    record = {"arm": arm.name, "policy": arm.policy, "loss": loss,
                              "repetition": rep, "status": "ok", "error": "", "metrics": {}, "seconds": 0.0}
                    if arm.name in unavailable:
                        record.update(status="unavailable", error=unavailable[arm.name])
                    elif loopback and loss > 0 and not arm.is_tmc:
                        record.update(status="unavailable",
                                      error="no kernel loss injection in loopback mode (needs root + BPF)")
                    else:
                        env = dict(arm.env)
                        if arm.is_tmc and loopback and loss > 0:
                            env[USERSPACE_LOSS_ENV] = f"{loss:g}"
                        before = injector.stats() if injector and loss > 0 else None
                        ctx = RunContext(topology=topo, params=exp.arm_params(arm), duration=exp.duration, env=env,
                                         arm=arm, shim=shim,
                                         build=build, tag=f"{run_index:03d}-{_slug(arm.name)}-{loss:g}-r{rep}",
                                         seed=exp.seed + rep)
                        started = time.monotonic()
                        try:
                            record["metrics"] = workload.run(ctx)
                        except WorkloadUnavailable as e:
                            record.update(status="unavailable", error=str(e))
                        except WorkloadError as e:
                            record.update(status="failed", error=str(e))
                            status = 1
                        finally:
                            topo.stop_all()
                        record["seconds"] = time.monotonic() - started
                        if before is not None:
                            after = injector.stats()
                            record["packets_seen"] = after["seen"] - before["seen"]
                            record["packets_dropped"] = after["dropped"] - before["dropped"]
                    runs.append(record)
                    progress.done += 1
                    progress.show(label + " " + _brief(record, workload.metrics[0]))
        progress.show("done", final=True)
    except (KeyboardInterrupt, Interrupted) as e:
        interrupted = str(e) or "SIGINT"
        print(f"\nab: interrupted ({interrupted}); tearing down and writing partial results", file=sys.stderr)
        status = 130
    finally:
        problems = topo.teardown()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        for p in problems:
            print(f"ab: teardown: {p}", file=sys.stderr)
            status = status or 1

    written = write_results(out, exp, runs, workload, quiet=args.quiet)
    return status or written


def write_results(out: Path, exp, runs: list[dict], workload, quiet: bool = False) -> int:
    """Writes runs.csv, results.json, plots and summary.md; prints the summary. Nonzero if a plot failed."""
    status = 0
    metrics = workload.metrics
    cells = results.summarize(exp, runs, metrics)
    results.write_csv(out / "runs.csv", runs, metrics)
    plots = []
    try:
        for metric in metrics[:1] if exp.workload != "sockperf" else metrics[:3]:
            title = (f"{exp.name}: {metric.label} by injected packet loss (median, whiskers min–max, "
                     f"{exp.repetitions} reps × {exp.duration:g} s)")
            png = results.plot(out, exp, cells, metric, title)
            if png:
                plots.append(png)
    except RuntimeError as e:
        print(f"ab: {e}", file=sys.stderr)
        status = status or 1
    results.write_json(out / "results.json", exp, runs, cells, metrics)
    summary = results.markdown(exp, runs, metrics, cells, workload.description, plots)
    (out / "summary.md").write_text(summary)
    if not quiet:
        print(_console_summary(summary))
    print(f"results: {out}/ (summary.md, runs.csv, results.json" + "".join(f", {p}" for p in plots) + ")")
    if plots:
        print(f"plot: {out / plots[0]}")
    return status


def report_only(folder: Path, quiet: bool = False) -> int:
    """Rebuilds the outputs of a results folder from its results.json."""
    try:
        doc = json.loads((folder / "results.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        print(f"ab: {folder}/results.json: {e}", file=sys.stderr)
        return 2
    e = doc["experiment"]
    arms = [experiment_mod.Arm(a["name"], {"*": Path(a["policy"])} if a.get("policy") else {}, a.get("args") or {},
                               a.get("env") or {}, a.get("description", "")) for a in e["arms"]]
    exp = experiment_mod.Experiment(path=Path(e["file"]), name=e["name"], description=e.get("description", ""),
                                    workload=e["workload"], params=e["params"], hosts=e["hosts"], loss=e["loss"],
                                    repetitions=e["repetitions"], duration=e["duration"], seed=e["seed"], arms=arms,
                                    offloads=e.get("offloads", "keep"))
    runs = [{**r, "metrics": {k: (math.nan if v is None else v) for k, v in r["metrics"].items()}} for r in doc["runs"]]
    return write_results(folder, exp, runs, WORKLOADS[exp.workload], quiet=quiet)


def _brief(record: dict, metric) -> str:
    if record["status"] != "ok":
        return f"{record['status']}: {record['error'][:80]}"
    value = record["metrics"].get(metric.key, math.nan)
    return f"{metric.label} {results.format_value(value)} {metric.unit}"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")[:40]


def _console_summary(markdown: str) -> str:
    # The tables up to the secondary metrics: primary metric, ratios, retention.
    lines = markdown.splitlines()
    out, tables = [], 0
    for line in lines:
        if line.startswith("### "):
            tables += 1
            if tables > 3:
                break
        out.append(line)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.exit(main())
