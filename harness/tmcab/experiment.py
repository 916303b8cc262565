"""Experiment files (YAML): what to run, under which arms, loss rates and repetitions.

    name: figure2                  # default: the file name
    description: free text
    workload:                      # type + its parameters (see WORKLOAD_PARAMS)
      type: kv
      keys: 1000
    hosts: 4                       # default: what the workload needs
    loss: [0, 0.25%, 0.005, 1%]    # fractions, or percentages with a % sign
    repetitions: 3
    duration: 15                   # seconds per run
    seed: 1
    offloads: keep                 # keep | off | nic: where loss is injected and what it sees
                                   # (wire-sized packets or super-packets), see topology.py
    arms:
      - name: TCP                  # an arm without policy runs the binaries as they are
        args: {mode: tcp}          # workload parameters this arm overrides (app flags)
      - name: TMC reliable
        policy: policies/kv-reliable.yaml   # relative to the repository (or the experiment file);
                                            # or per binary: {redis-server: A.yaml, redis-benchmark: B.yaml}
        args: {mode: udp}
        env: {TMC_LOG: info}       # extra environment of every process of this arm

A TMC arm is the same command with LD_PRELOAD=<build>/shim/libtmc_shim.so and
TMC_POLICY=<the binary's policy> (a binary a per-binary mapping does not name runs without it). Errors name file:line:col and nothing is run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .topology import OFFLOAD_MODES

WORKLOAD_PARAMS: dict[str, dict[str, Any]] = {
    "kv": {"replicas": 3, "keys": 1000, "value_size": 64, "timeout_ms": 500, "get_ratio": 0.5,
           "mode": "tcp", "group": None, "quorum": None, "port": 7000},
    "iperf3": {"port": 5201, "parallel": 1, "udp": False, "bitrate": None, "congestion": None},
    "sockperf": {"port": 11111, "protocol": "tcp", "msg_size": 64},
    "redis": {"port": 6379, "requests": 20000, "clients": 10, "tests": "set,get", "data_size": 64},
}
DEFAULT_HOSTS = {"iperf3": 2, "sockperf": 2, "redis": 2}  # kv: replicas + 1
TOP_LEVEL = {"name", "description", "workload", "hosts", "loss", "repetitions", "duration", "seed", "offloads", "arms"}
ARM_KEYS = {"name", "policy", "args", "env", "description"}


class ExperimentError(ValueError):
    pass


class _Map(dict):
    """A YAML mapping that remembers where it and each of its keys are."""
    mark: tuple[int, int] = (0, 0)
    key_marks: dict    # where each key is (for "unknown key")
    value_marks: dict  # where each value is (for "bad value")


class _List(list):
    mark: tuple[int, int] = (0, 0)
    item_marks: list


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    m = _Map()
    m.mark = (node.start_mark.line + 1, node.start_mark.column + 1)
    m.key_marks = {}
    m.value_marks = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in m:
            raise ExperimentError(f"{loader.name}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}: "
                                  f"duplicate key '{key}'")
        m[key] = loader.construct_object(value_node, deep=True)
        m.key_marks[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        m.value_marks[key] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
    return m


def _construct_list(loader: _Loader, node: yaml.SequenceNode) -> _List:
    items = _List(loader.construct_object(n, deep=True) for n in node.value)
    items.mark = (node.start_mark.line + 1, node.start_mark.column + 1)
    items.item_marks = [(n.start_mark.line + 1, n.start_mark.column + 1) for n in node.value]
    return items


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_list)


@dataclass
class Arm:
    name: str
    policies: dict[str, Path] = field(default_factory=dict)  # program name (or "*") -> policy file
    args: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def is_tmc(self) -> bool:
        return bool(self.policies)

    def policy_for(self, program: str) -> Path | None:
        """The policy of a binary (by file name); None = it runs without the shim."""
        return self.policies.get(Path(program).name) or self.policies.get("*")

    @property
    def policy(self) -> str | None:
        if not self.policies:
            return None
        if list(self.policies) == ["*"]:
            return str(self.policies["*"])
        return ", ".join(f"{k}: {v}" for k, v in self.policies.items())


@dataclass
class Experiment:
    path: Path
    name: str
    description: str
    workload: str
    params: dict[str, Any]
    hosts: int
    loss: list[float]
    repetitions: int
    duration: float
    seed: int
    arms: list[Arm]
    offloads: str = "keep"  # keep | off | nic (topology.py)

    def arm_params(self, arm: Arm) -> dict[str, Any]:
        merged = dict(self.params)
        merged.update(arm.args)
        return merged

    def run_count(self) -> int:
        return len(self.arms) * len(self.loss) * self.repetitions


def _where(path: Path, mark: tuple[int, int]) -> str:
    return f"{path}:{mark[0]}:{mark[1]}"


def parse_loss(value: Any) -> float:
    """0.01, "1%" and "0.25%" are fractions 0.01, 0.01 and 0.0025."""
    if isinstance(value, bool):
        raise ValueError("a loss rate is a number")
    if isinstance(value, str) and value.strip().endswith("%"):
        rate = float(value.strip()[:-1]) / 100
    elif isinstance(value, (int, float)):
        rate = float(value)
    elif isinstance(value, str):
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"a loss rate is a fraction or a percentage like 1%, not {value!r}") from None
    else:
        raise ValueError(f"a loss rate is a fraction or a percentage like 1%, not {value!r}")
    if not 0 <= rate < 0.5:
        raise ValueError(f"loss rate {value!r} is outside [0, 50%)")
    return rate


def load(path: Path, repo: Path) -> Experiment:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ExperimentError(f"{path}: {e.strerror}") from None
    loader = _Loader(text)
    loader.name = str(path)
    try:
        doc = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ExperimentError(f"{where}: {e.problem}") from None
    finally:
        loader.dispose()
    if not isinstance(doc, _Map):
        raise ExperimentError(f"{path}:1:1: an experiment is a mapping (name, workload, arms, ...)")

    def err(container: Any, key: Any, message: str, at_key: bool = False) -> ExperimentError:
        marks = (container.key_marks if at_key else container.value_marks) if isinstance(container, _Map) else {}
        mark = marks.get(key, container.mark)
        return ExperimentError(f"{_where(path, mark)}: {message}")

    for key in doc:
        if key not in TOP_LEVEL:
            raise err(doc, key, f"unknown key '{key}' (known: {', '.join(sorted(TOP_LEVEL))})", at_key=True)
    for key in ("workload", "arms", "loss"):
        if key not in doc:
            raise ExperimentError(f"{_where(path, doc.mark)}: missing '{key}'")

    workload = doc["workload"]
    if not isinstance(workload, _Map) or "type" not in workload:
        raise err(doc, "workload", "workload must be a mapping with a 'type'")
    wtype = workload["type"]
    if wtype not in WORKLOAD_PARAMS:
        raise err(workload, "type", f"unknown workload '{wtype}' (known: {', '.join(WORKLOAD_PARAMS)})")
    params = dict(WORKLOAD_PARAMS[wtype])
    for key, value in workload.items():
        if key == "type":
            continue
        if key not in params:
            raise err(workload, key, f"unknown {wtype} parameter '{key}' (known: {', '.join(params)})", at_key=True)
        params[key] = value

    def positive_number(key: str, default: Any, integer: bool) -> Any:
        value = doc.get(key, default)
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or value <= 0:
            raise err(doc, key, f"'{key}' must be a positive {'integer' if integer else 'number'}, got {value!r}")
        return value

    default_hosts = DEFAULT_HOSTS.get(wtype, int(params.get("replicas", 3)) + 1)
    hosts = positive_number("hosts", default_hosts, True)
    if hosts < default_hosts:
        raise err(doc, "hosts", f"workload {wtype} needs at least {default_hosts} hosts")
    repetitions = positive_number("repetitions", 3, True)
    duration = float(positive_number("duration", 10, False))
    seed = doc.get("seed", 1)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise err(doc, "seed", "'seed' must be an integer")
    offloads = doc.get("offloads", "keep")
    if isinstance(offloads, bool):  # YAML 1.1 reads a bare off / on as a boolean
        offloads = "keep" if offloads else "off"
    if offloads not in OFFLOAD_MODES:
        raise err(doc, "offloads", f"'offloads' must be one of {', '.join(OFFLOAD_MODES)}, got {offloads!r}")

    loss_list = doc["loss"]
    if not isinstance(loss_list, _List) or not loss_list:
        raise err(doc, "loss", "'loss' must be a non-empty list of rates")
    losses = []
    for i, value in enumerate(loss_list):
        try:
            losses.append(parse_loss(value))
        except ValueError as e:
            raise ExperimentError(f"{_where(path, loss_list.item_marks[i])}: {e}") from None

    arms_list = doc["arms"]
    if not isinstance(arms_list, _List) or not arms_list:
        raise err(doc, "arms", "'arms' must be a non-empty list")
    arms: list[Arm] = []
    for i, item in enumerate(arms_list):
        where = _where(path, arms_list.item_marks[i])
        if not isinstance(item, _Map) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ExperimentError(f"{where}: an arm is a mapping with a 'name'")
        for key in item:
            if key not in ARM_KEYS:
                raise err(item, key, f"unknown arm key '{key}' (known: {', '.join(sorted(ARM_KEYS))})", at_key=True)
        if any(a.name == item["name"] for a in arms):
            raise err(item, "name", f"duplicate arm name '{item['name']}'")
        args = item.get("args", {}) or {}
        if not isinstance(args, dict):
            raise err(item, "args", "'args' must be a mapping of workload parameters")
        for key in args:
            if key not in params:
                raise err(args, key, f"unknown {wtype} parameter '{key}' (known: {', '.join(params)})", at_key=True)
        env = item.get("env", {}) or {}
        if not isinstance(env, dict):
            raise err(item, "env", "'env' must be a mapping")
        policies: dict[str, Path] = {}
        raw = item.get("policy")
        if raw is not None:
            if isinstance(raw, str):
                entries = {"*": raw}
            elif isinstance(raw, dict) and raw and all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
                entries = dict(raw)
            else:
                raise err(item, "policy", "'policy' must be a path, or a mapping program: path")
            for program, text in entries.items():
                candidate = Path(text)
                if not candidate.is_absolute():
                    in_repo = repo / candidate
                    beside = path.parent / candidate
                    candidate = beside if beside.exists() and not in_repo.exists() else in_repo
                policies[program] = candidate.resolve()
        arms.append(Arm(item["name"], policies, dict(args), {str(k): str(v) for k, v in env.items()},
                        str(item.get("description", ""))))

    name = doc.get("name", path.stem)
    return Experiment(path=path, name=str(name), description=str(doc.get("description", "")), workload=wtype,
                      params=params, hosts=hosts, loss=losses, repetitions=repetitions, duration=duration,
                      seed=seed, arms=arms, offloads=offloads)
