"""Results of an experiment: every repetition (CSV + JSON), a markdown summary with medians and
min–max, ratios against the baseline arm, and PNG bar plots drawn by gnuplot.

Folder layout (one per `ab` invocation):
    runs.csv       one row per (arm, loss, repetition): status, error, measured loss, metrics
    results.json   experiment, machine, every run, and the per-cell summaries
    summary.md     the tables (what a reader looks at first)
    <metric>.png   clustered bars: one group per loss rate, one bar per arm, whiskers = min–max
    logs/          output of every process of every run
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .experiment import Experiment
from .workloads import Metric


@dataclass
class Cell:
    median: float
    low: float
    high: float
    n: int


def machine_description() -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    distro = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    tcp_cc = ""
    try:  # what kernel TCP arms use unless a workload sets its own (e.g. iperf3 -C)
        tcp_cc = Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
    except OSError:
        pass
    return {"kernel": platform.release(), "cpu": cpu, "cores": str(os.cpu_count()), "memory": mem, "os": distro,
            "tcp_congestion_control": tcp_cc}


def loss_label(rate: float) -> str:
    return f"{rate * 100:g}%"


def summarize(exp: Experiment, runs: list[dict[str, Any]], metrics: list[Metric]) -> dict[tuple[str, float, str], Cell]:
    cells: dict[tuple[str, float, str], Cell] = {}
    for arm in exp.arms:
        for loss in exp.loss:
            ok = [r for r in runs if r["arm"] == arm.name and r["loss"] == loss and r["status"] == "ok"]
            for m in metrics:
                values = [r["metrics"][m.key] for r in ok if not math.isnan(r["metrics"].get(m.key, math.nan))]
                if values:
                    cells[(arm.name, loss, m.key)] = Cell(statistics.median(values), min(values), max(values), len(values))
    return cells


def format_value(value: float) -> str:
    if math.isnan(value):
        return "–"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def baseline_arm(exp: Experiment) -> str:
    """The first arm without a policy (kernel TCP), else the first arm."""
    for arm in exp.arms:
        if not arm.is_tmc:
            return arm.name
    return exp.arms[0].name


def markdown(exp: Experiment, runs: list[dict[str, Any]], metrics: list[Metric], cells, workload_description: str,
             plots: list[str]) -> str:
    base = baseline_arm(exp)
    primary = metrics[0]
    machine = machine_description()
    lines = [f"# {exp.name}: {workload_description}", ""]
    if exp.description:
        lines += [exp.description.strip(), ""]
    lines += [f"{len(exp.arms)} arms × {len(exp.loss)} loss rates × {exp.repetitions} repetitions of "
              f"{exp.duration:g} s; {exp.hosts} hosts. Cells: median (min–max) over the repetitions that completed.",
              f"Machine: {machine['cpu']} ({machine['cores']} cores, {machine['memory']}), {machine['os']}, "
              f"Linux {machine['kernel']}; kernel TCP congestion control by default: "
              f"{machine.get('tcp_congestion_control') or 'unknown'}; offloads: {exp.offloads}.", ""]
    arm_names = [a.name for a in exp.arms]

    def table(metric: Metric) -> list[str]:
        unit = f" ({metric.unit})" if metric.unit else ""
        out = [f"### {metric.label}{unit}, {'higher' if metric.higher_is_better else 'lower'} is better", "",
               "| loss | " + " | ".join(arm_names) + " |", "|---|" + "---|" * len(arm_names)]
        for loss in exp.loss:
            row = []
            for arm in arm_names:
                c = cells.get((arm, loss, metric.key))
                if c is None:
                    row.append(_status_note(runs, arm, loss))
                elif c.n == 1 or c.low == c.high:
                    row.append(format_value(c.median))
                else:
                    row.append(f"{format_value(c.median)} ({format_value(c.low)}–{format_value(c.high)})")
            out.append(f"| {loss_label(loss)} | " + " | ".join(row) + " |")
        return out + [""]

    lines += table(primary)
    lines += headline(exp, cells, primary, base)
    others = [a for a in arm_names if a != base]
    if others:
        lines += [f"### {primary.label}: ratio to {base} (median / median)", "",
                  "| loss | " + " | ".join(others) + " |", "|---|" + "---|" * len(others)]
        for loss in exp.loss:
            b = cells.get((base, loss, primary.key))
            row = []
            for arm in others:
                c = cells.get((arm, loss, primary.key))
                row.append(f"{c.median / b.median:.2f}×" if b and c and b.median > 0 else "–")
            lines.append(f"| {loss_label(loss)} | " + " | ".join(row) + " |")
        lines.append("")
    if 0.0 in exp.loss and len(exp.loss) > 1:
        lines += [f"### {primary.label}: share of the arm's own 0%-loss median", "",
                  "| loss | " + " | ".join(arm_names) + " |", "|---|" + "---|" * len(arm_names)]
        for loss in exp.loss:
            if loss == 0:
                continue
            row = []
            for arm in arm_names:
                z = cells.get((arm, 0.0, primary.key))
                c = cells.get((arm, loss, primary.key))
                row.append(f"{c.median / z.median:.2f}" if z and c and z.median > 0 else "–")
            lines.append(f"| {loss_label(loss)} | " + " | ".join(row) + " |")
        lines.append("")
    for metric in metrics[1:]:
        lines += table(metric)
    measured = _measured_loss_lines(exp, runs)
    if measured:
        lines += measured
    problems = [r for r in runs if r["status"] != "ok"]
    if problems:
        lines += ["### Runs without a result", ""]
        seen = set()
        for r in problems:
            key = (r["arm"], r["status"], r["error"])
            if key in seen:
                continue
            seen.add(key)
            lines.append(f"- {r['arm']} @ {loss_label(r['loss'])}: {r['status']}: {r['error']}")
        lines.append("")
    lines += ["Arms:", ""]
    for arm in exp.arms:
        how = ("TMC shim, policy " + ", ".join(f"`{_short(p)}`" + ("" if k == "*" else f" ({k})")
                                               for k, p in arm.policies.items())
               if arm.is_tmc else "unmodified (kernel sockets, no shim)")
        args = ", ".join(f"{k}={v}" for k, v in arm.args.items())
        lines.append(f"- **{arm.name}**: {how}" + (f"; flags: {args}" if args else "") +
                     (f". {arm.description}" if arm.description else ""))
    lines.append("")
    if plots:
        lines += ["Plots: " + ", ".join(f"[{p}]({p})" for p in plots), ""]
    return "\n".join(lines)


def headline(exp: Experiment, cells, metric: Metric, base: str) -> list[str]:
    """One plain sentence per arm at the highest loss rate: value, ratio to the baseline, and
    the share of the arm's own 0%-loss value it keeps."""
    worst = max(exp.loss)
    if worst == 0:
        return []
    out = [f"In short, at {loss_label(worst)} loss:", ""]
    b = cells.get((base, worst, metric.key))
    for arm in exp.arms:
        c = cells.get((arm.name, worst, metric.key))
        if c is None:
            out.append(f"- {arm.name}: not measured (see \"Runs without a result\")")
            continue
        parts = [f"{format_value(c.median)} {metric.unit}".strip()]
        if arm.name != base and b and b.median > 0:
            parts.append(f"{c.median / b.median:.2f}× {base}")
        zero = cells.get((arm.name, 0.0, metric.key))
        if zero and zero.median > 0:
            parts.append(f"keeps {100 * c.median / zero.median:.0f}% of its 0%-loss {metric.label}")
        out.append(f"- {arm.name}: " + ", ".join(parts))
    return out + [""]


def _short(path: Path | None) -> str:
    if path is None:
        return ""
    parts = path.parts
    return str(Path(*parts[parts.index("policies"):])) if "policies" in parts else str(path)


def _status_note(runs, arm, loss) -> str:
    statuses = {r["status"] for r in runs if r["arm"] == arm and r["loss"] == loss}
    if "unavailable" in statuses:
        return "n/a"
    if statuses:
        return "failed"
    return "–"


def _measured_loss_lines(exp: Experiment, runs) -> list[str]:
    rates = {}
    for loss in exp.loss:
        seen = sum(r.get("packets_seen", 0) for r in runs if r["loss"] == loss)
        dropped = sum(r.get("packets_dropped", 0) for r in runs if r["loss"] == loss)
        if seen:
            rates[loss] = (dropped, seen)
    if not rates:
        return []
    where = {"keep": "all hosts' ingress; TSO/GSO super-packets are dropped whole",
             "off": "all hosts' ingress; wire-sized packets: TSO/GSO/GRO off on every veth",
             "nic": "the switch ports' ingress; wire-sized packets: senders segment, receivers GRO"}[exp.offloads]
    out = [f"Loss measured by the injector (all arms, {where}): " +
           ", ".join(f"{loss_label(k)} → {100 * d / s:.3f}% of {s} packets" for k, (d, s) in rates.items()), ""]
    return out


def write_csv(path: Path, runs: list[dict[str, Any]], metrics: list[Metric]) -> None:
    extra = sorted({k for r in runs for k in r["metrics"]} - {m.key for m in metrics})
    keys = [m.key for m in metrics] + extra
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arm", "policy", "loss", "repetition", "status", "error", "seconds", "packets_seen",
                    "packets_dropped"] + keys)
        for r in runs:
            w.writerow([r["arm"], r.get("policy") or "", r["loss"], r["repetition"], r["status"], r["error"],
                        f"{r.get('seconds', 0):.2f}", r.get("packets_seen", ""), r.get("packets_dropped", "")] +
                       [("" if math.isnan(r["metrics"].get(k, math.nan)) else r["metrics"][k]) for k in keys])


def write_json(path: Path, exp: Experiment, runs, cells, metrics: list[Metric]) -> None:
    doc = {
        "experiment": {"name": exp.name, "file": str(exp.path), "description": exp.description,
                       "workload": exp.workload, "params": exp.params,
                       "hosts": exp.hosts, "loss": exp.loss, "repetitions": exp.repetitions,
                       "duration": exp.duration, "seed": exp.seed, "offloads": exp.offloads,
                       "arms": [{"name": a.name, "policy": a.policy, "description": a.description, "args": a.args,
                                 "env": a.env} for a in exp.arms]},
        "machine": machine_description(),
        "baseline": baseline_arm(exp),
        "metrics": [{"key": m.key, "label": m.label, "unit": m.unit, "higher_is_better": m.higher_is_better}
                    for m in metrics],
        "runs": [{**r, "metrics": {k: (None if math.isnan(v) else v) for k, v in r["metrics"].items()}} for r in runs],
        "summary": [{"arm": a, "loss": l, "metric": k, "median": c.median, "min": c.low, "max": c.high, "n": c.n}
                    for (a, l, k), c in cells.items()],
    }
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")


def plot(out_dir: Path, exp: Experiment, cells, metric: Metric, title: str) -> str | None:
    """Writes <metric>.png (and its .dat/.gp); returns the PNG name, or None without gnuplot."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return None
    dat = out_dir / f"{metric.key}.dat"
    with open(dat, "w") as f:
        f.write("# loss " + " ".join(f'"{a.name} median" min max' for a in exp.arms) + "\n")
        for loss in exp.loss:
            row = [f'"{loss_label(loss)}"']
            for arm in exp.arms:
                c = cells.get((arm.name, loss, metric.key))
                row += [f"{c.median:.6g}", f"{c.low:.6g}", f"{c.high:.6g}"] if c else ["NaN", "NaN", "NaN"]
            f.write(" ".join(row) + "\n")
    png = f"{metric.key}.png"
    unit = f" ({metric.unit})" if metric.unit else ""
    series = []
    # Arms without any result get no (empty) slot in the groups; summary.md says why.
    measured = [i for i, arm in enumerate(exp.arms) if any((arm.name, l, metric.key) in cells for l in exp.loss)]
    if not measured:
        return None
    for i in measured:
        arm = exp.arms[i]
        col = 2 + 3 * i
        first = i == measured[0]
        source = f"'{dat.name}'" if first else "''"
        xtic = ":xtic(1)" if first else ""
        series.append(f"{source} using {col}:{col + 1}:{col + 2}{xtic} title \"{_gp_escape(arm.name)}\"")
    script = "\n".join([
        "set terminal pngcairo size 1000,600 font 'sans,11'",
        f"set output '{png}'",
        f"set title \"{_gp_escape(title)}\"",
        "set datafile missing 'NaN'",
        "set style data histogram",
        "set style histogram errorbars gap 2 lw 1",
        "set style fill solid 0.85 border -1",
        "set boxwidth 0.9",
        "set key below horizontal",
        "set grid ytics",
        "set yrange [0:*]",
        "unset xlabel",
        f"set ylabel \"{_gp_escape(metric.label + unit)}\"",
        "plot " + ", \\\n     ".join(series),
        "",
    ])
    (out_dir / f"{metric.key}.gp").write_text(script)
    proc = subprocess.run([gnuplot, f"{metric.key}.gp"], cwd=out_dir, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or not (out_dir / png).exists():
        raise RuntimeError(f"gnuplot failed for {png}: {proc.stderr.strip()}")
    return png


def _gp_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
