#!/usr/bin/env python3
"""Experiment files: the shipped ones load; malformed ones fail with file:line:col and run
nothing (`ab --check` exits 2). No root needed."""

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "harness"))
from tmcab import experiment  # noqa: E402


def load_text(text: str):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        return experiment.load(Path(f.name), REPO), f.name
    finally:
        Path(f.name).unlink()


GOOD = """
workload: {type: kv, keys: 10}
loss: [0, 0.25%, 0.01]
arms:
  - name: TCP
  - name: TMC
    policy: harness/experiments/policies/kv-reliable.yaml
    args: {mode: udp}
"""


class ExperimentFiles(unittest.TestCase):
    def test_shipped_experiments_load(self):
        files = sorted((REPO / "harness" / "experiments").glob("*.yaml"))
        self.assertIn("figure2.yaml", [f.name for f in files])
        for path in files:
            exp = experiment.load(path, REPO)
            self.assertTrue(exp.arms, path)
            for arm in exp.arms:
                for policy in arm.policies.values():
                    self.assertTrue(policy.exists(), f"{path}: {arm.name}: {policy} missing")

    def test_figure2_has_the_four_arms_and_loss_rates(self):
        exp = experiment.load(REPO / "harness" / "experiments" / "figure2.yaml", REPO)
        self.assertEqual(exp.loss, [0, 0.0025, 0.005, 0.01])
        self.assertEqual(exp.arms[0].policies, {})  # kernel TCP first: the baseline
        self.assertEqual(exp.arms[0].args.get("mode"), "tcp")
        self.assertGreaterEqual(len([a for a in exp.arms if a.is_tmc]), 3)
        self.assertEqual(exp.hosts, 4)
        # Full length fits in ~20 minutes.
        self.assertLessEqual(exp.run_count() * (exp.duration + 3), 22 * 60)

    def test_good_file(self):
        exp, _ = load_text(GOOD)
        self.assertEqual(exp.loss, [0.0, 0.0025, 0.01])
        self.assertEqual(exp.hosts, 4)
        self.assertEqual(exp.arm_params(exp.arms[1])["mode"], "udp")
        self.assertEqual(exp.arm_params(exp.arms[0])["mode"], "tcp")
        self.assertEqual(exp.arms[1].policy_for("/x/kv_client").name, "kv-reliable.yaml")

    def check_error(self, text: str, line: int, col: int, words: str):
        with self.assertRaises(experiment.ExperimentError) as ctx:
            load_text(text)
        message = str(ctx.exception)
        self.assertRegex(message, rf"\.yaml:{line}:{col}: ")
        self.assertIn(words, message)

    def test_errors_name_the_place(self):
        self.check_error(GOOD.replace("loss:", "los:"), 3, 1, "unknown key 'los'")
        self.check_error(GOOD.replace("0.25%", "70%"), 3, 11, "outside [0, 50%)")
        self.check_error(GOOD.replace("keys: 10", "kees: 10"), 2, 22, "unknown kv parameter 'kees'")
        self.check_error(GOOD.replace("type: kv", "type: memcache"), 2, 18, "unknown workload 'memcache'")
        self.check_error(GOOD.replace("mode: udp", "mood: udp"), 8, 12, "unknown kv parameter 'mood'")
        self.check_error(GOOD.replace("name: TMC", "name: TCP"), 6, 11, "duplicate arm name")
        self.check_error(GOOD + "repetitions: 0\n", 9, 14, "positive integer")
        self.check_error(GOOD + "hosts: 2\n", 9, 8, "needs at least 4 hosts")
        self.check_error("workload: [\n", 2, 1, "expected the node content")

    def test_offloads_mode(self):
        self.assertEqual(load_text(GOOD)[0].offloads, "keep")
        self.assertEqual(load_text(GOOD + "offloads: nic\n")[0].offloads, "nic")
        self.assertEqual(load_text(GOOD + "offloads: off\n")[0].offloads, "off")  # YAML 1.1: a boolean
        self.check_error(GOOD + "offloads: tso\n", 9, 11, "'offloads' must be one of keep, off, nic")

    def test_check_flag_exits_2_on_a_bad_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(GOOD.replace("arms:", "armz:"))
            f.flush()
            proc = subprocess.run([sys.executable, str(REPO / "harness" / "ab"), "--check", f.name],
                                  capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(f"{f.name}:", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
