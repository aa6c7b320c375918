"""test_benchkit_report.py - scripts/benchkit/report.py's judgements from raw runs written here:
which timings of the limit a slice of load is judged against, which build the limit comes from,
and how the uvfib-bench/wrk cross-check compares generators that ran while the machine's speed
drifted. The raw files have run.py's shape, with made-up figures that make each rule visible;
the last test writes a whole report from them."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(ROOT, "scripts", "benchkit"))
import tap  # noqa: E402
import report  # noqa: E402

REPORT = os.path.join(ROOT, "scripts", "benchkit", "report.py")


def kernel(**calls_per_s):
    """A uvfib-fibtime run: calls/s per build (ref_O2 → ref-O2); CPU time per call from it."""
    return {"cmd": ["uvfib-fibtime"], "variants": [
        {"variant": name.replace("_", "-"), "calls_per_s": c, "cpu_ns_per_call": 2e9 / c}
        for name, c in calls_per_s.items()]}


def bench_run(rps, limits=None, main=0.1, server=1.9, gen=0.05):
    out = {"bench_cmd": ["uvfib-bench"], "server_cmd": ["uvfib"],
           "cpu": {"wall_s": 3.0, "server_cores": server, "main_thread_cores": main,
                   "machine_busy": 1.0},
           "bench": {"load": {"throughput_rps": rps, "latency_ms": {"p50": 4.0, "p99": 9.0}},
                     "generator": {"cpu_cores": gen}}}
    if limits:
        out["limits"] = limits
    return out


def wrk_run(rps, limits=None):
    out = {"wrk_cmd": ["wrk"], "server_cmd": ["uvfib"], "rps": rps, "requests": int(rps * 3),
           "non2xx": 0, "latency_ms": {"p50": 4.0, "p99": 9.0}, "socket_errors": {},
           "cpu": {"wall_s": 3.0, "server_cores": 1.9, "main_thread_cores": 0.1,
                   "machine_busy": 1.0}}
    if limits:
        out["limits"] = limits
    return out


class Raw(unittest.TestCase):
    """A raw directory of one made-up run, which report.py reads."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        report.RAW = self.dir.name

    def save(self, name, obj):
        with open(os.path.join(self.dir.name, name + ".json"), "w") as f:
            json.dump(obj, f)


class TestLimit(Raw):
    def test_fastest_build_is_the_fastest_on_average_not_the_luckiest(self):
        # ref-O3 wins one timing by luck; ref-O2 is faster over both.
        ks = [kernel(uvfib=900, ref_O2=1000, ref_O3=1200), kernel(uvfib=900, ref_O2=1000, ref_O3=700)]
        self.assertEqual(report.fastest_build(ks), "ref-O2")

    def test_a_slice_is_judged_against_the_timings_it_names(self):
        for n, c in enumerate((1000, 2000, 4000, 3000)):
            self.save("heavy-kernel-%d" % n, kernel(uvfib=c, ref_O2=c))
        # Slice 2 starts a new round: its limits skip heavy-kernel-1 (the round's last).
        self.save("heavy-uvfib-1", bench_run(1200, ["heavy-kernel-0", "heavy-kernel-1"]))
        self.save("heavy-uvfib-2", bench_run(3150, ["heavy-kernel-2", "heavy-kernel-3"]))
        kernels = report.runs("heavy-kernel")
        rows = report.judged(report.runs("heavy-uvfib"), kernels, "ref-O2")
        self.assertEqual([round(r[1]) for r in rows], [1500, 3500])
        self.assertAlmostEqual(rows[0][2], 0.8)
        self.assertAlmostEqual(rows[1][2], 0.9)
        # The kernel's CPU per call is the mean of the same two timings.
        self.assertAlmostEqual(rows[1][3], (2e9 / 4000 + 2e9 / 3000) / 2)

    def test_older_heavy_runs_are_paired_by_position(self):
        for n, c in enumerate((1000, 3000, 2000)):
            self.save("heavy-kernel-%d" % n, kernel(uvfib=c, ref_O2=c))
        self.save("heavy-uvfib-1", bench_run(1800))
        self.save("heavy-uvfib-2", bench_run(2500))
        rows = report.judged(report.runs("heavy-uvfib"), report.runs("heavy-kernel"), "ref-O2")
        self.assertEqual([round(r[1]) for r in rows], [2000, 2500])
        self.assertEqual([round(r[2], 3) for r in rows], [0.9, 1.0])

    def test_runs_come_in_round_order_not_name_order(self):
        for k in (10, 2, 1):
            self.save("heavy-uvfib-%d" % k, bench_run(k))
        self.save("heavy-uvfib-round-1", {"not": "a slice"})
        self.assertEqual([report.load_rps(r) for r in report.runs("heavy-uvfib")], [1, 2, 10])


class Drifting(Raw):
    def drifting(self, bench_frac, wrk_frac):
        """Slices that run at the given fractions of the limit around them while the machine
        slows from 2,000 to 1,000 calls/s and back: wrk's slices fall in the slow part."""
        limits = (2000, 2000, 1000, 1000, 2000)
        for n, c in enumerate(limits):
            self.save("crosscheck-kernel-%d" % n, kernel(uvfib=c, ref_O2=c))
        order = (("bench", 1, bench_frac), ("wrk", 1, wrk_frac), ("wrk", 2, wrk_frac),
                 ("bench", 2, bench_frac))
        for n, (tool, k, frac) in enumerate(order):
            around = ["crosscheck-kernel-%d" % n, "crosscheck-kernel-%d" % (n + 1)]
            rps = frac * (limits[n] + limits[n + 1]) / 2
            self.save("crosscheck-heavy-%s-%d" % (tool, k),
                      (bench_run if tool == "bench" else wrk_run)(rps, around))


class TestCrosscheck(Drifting):
    def test_drift_between_slices_falls_on_neither_generator(self):
        # Slices at 1,800 and 1,350 req/s against wrk's 1,350 and 900: the machine's speed,
        # not the generators, made the difference.
        self.drifting(0.9, 0.9)
        c = report.crosscheck("heavy")
        self.assertTrue(c["judged"])
        self.assertEqual(c["slices"], 4)
        self.assertEqual((c["bench"], c["wrk"]), (1575, 1125))
        self.assertAlmostEqual(c["bench_frac"], 0.9)
        self.assertAlmostEqual(c["wrk_frac"], 0.9)
        self.assertAlmostEqual(c["diff"], 0)

    def test_a_generator_that_counts_less_is_seen(self):
        self.drifting(0.9, 0.72)
        c = report.crosscheck("heavy")
        self.assertAlmostEqual(c["diff"], 0.25)

    def test_whole_runs_without_limits_compare_req_per_s(self):
        self.save("crosscheck-heavy-bench-1", bench_run(1100))
        self.save("crosscheck-heavy-bench-2", bench_run(1000))
        self.save("crosscheck-heavy-bench-3", bench_run(1300))
        self.save("crosscheck-heavy-wrk-1", wrk_run(1000))
        c = report.crosscheck("heavy")
        self.assertFalse(c["judged"])
        self.assertAlmostEqual(c["diff"], 0.1)

    def test_one_generator_alone_is_no_cross_check(self):
        self.save("crosscheck-heavy-bench-1", bench_run(1100))
        self.assertIsNone(report.crosscheck("heavy"))
        self.assertIsNone(report.crosscheck("light"))


class TestReport(Drifting):
    def write(self):
        self.save("meta", {"date_utc": "2026-12-02 00:00 UTC", "commit": "abc1234", "dirty": False,
                           "quick": False, "scenarios": ["heavy", "crosscheck"], "cores": 2,
                           "cpu_model": "test", "mem_gib": 1.0, "kernel": "test",
                           "loadavg": ["0", "0", "0"], "uvfib": "uvfib", "node": None,
                           "nginx": "nginx", "wrk": "wrk", "cc": "cc", "dur": 10.0, "warm": 2.0,
                           "rounds": 3, "ktime": 4.0, "heavy_slices": 4, "heavy_dur": 3.0,
                           "heavy_ktime": 0.5})
        for n, c in enumerate((2000, 2000, 1000)):
            self.save("heavy-kernel-%d" % n, kernel(uvfib=c, ref_O2=c))
        self.save("heavy-uvfib-1", bench_run(1900, ["heavy-kernel-0", "heavy-kernel-1"]))
        self.save("heavy-uvfib-2", bench_run(1350, ["heavy-kernel-1", "heavy-kernel-2"]))
        out = os.path.join(self.dir.name, "out.md")
        p = subprocess.run([sys.executable, REPORT, self.dir.name, out, self.dir.name],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            return f.read()

    def goal(self, text, name):
        return next(line for line in text.splitlines() if line.startswith("| " + name + " |"))

    def test_goals_follow_the_judged_figures(self):
        self.drifting(0.9, 0.9)
        text = self.write()
        # Slices at 95% and 90% of the limits around them: the median, 92.5%, misses 95%.
        heavy = self.goal(text, "heavy throughput, default flags")
        self.assertIn("92.5% (median of 2 slices", heavy)
        self.assertIn("**missed**: 2.5 points short", heavy)
        cc = self.goal(text, "uvfib-bench against wrk")
        self.assertIn("1,575 vs 1,125 req/s, +0.0% as fractions of the limit", cc)
        self.assertIn("**met**", cc)
        self.assertIn("| `/fibonacci/30`, 4 connections (server-bound) | 1,575 | 1,125 | +0.0% of the limit |",
                      text)

    def test_a_miss_is_reported_as_one(self):
        self.drifting(0.9, 0.8)
        cc = self.goal(self.write(), "uvfib-bench against wrk")
        self.assertIn("+12.5%", cc)
        self.assertIn("**missed**: +12.5%", cc)


def main():
    return tap.main(sys.modules[__name__], sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
