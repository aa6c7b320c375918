"""test_benchkit_tools.py - scripts/benchkit/tools.py, scripts/bench-crosscheck's verdict, from
raw output written here in the three tools' own formats (wrk's text, autocannon's and
uvfib-bench's JSON, uvfib-fibtime's JSON line) with made-up figures: the closed runs judged
against the kernel timed around each while the machine's speed drifts, a tool that counts less
found out, and older raw output without timings compared by req/s."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import tap  # noqa: E402

TOOLS = os.path.join(ROOT, "scripts", "benchkit", "tools.py")
NAMES = ("uvfib-bench", "wrk", "autocannon")


class Tools(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, name, text):
        with open(os.path.join(self.dir.name, name), "w") as f:
            f.write(text)

    def run_(self, tool, scenario, r, rps, p50=4.0, non2xx=0):
        name = "%s-%s-%d" % (scenario, tool, r)
        if tool == "wrk":
            self.write(name + ".txt", (
                "Running 3s test @ http://127.0.0.1:1/x\n  Latency Distribution\n"
                "     50%%    %.2fms\n     75%%    5.00ms\n     90%%    6.00ms\n"
                "     99%%    9.00ms\n  %d requests in 3.00s, 1.00MB read\n%s"
                "Requests/sec:   %.2f\nTransfer/sec:      1.00MB\n") % (
                    p50, rps * 3, "  Non-2xx or 3xx responses: %d\n" % non2xx if non2xx else "",
                    rps))
        elif tool == "autocannon":
            self.write(name + ".json", json.dumps({
                "duration": 3.0, "requests": {"total": rps * 3}, "errors": 0, "non2xx": non2xx,
                "latency": {"p50": round(p50), "p99": 9}}))
        else:
            w = {"throughput_rps": rps, "latency_ms": {"p50": p50, "p99": 9.0},
                 "errors": {"total": non2xx}}
            self.write(name + ".json", json.dumps({
                "load" if scenario != "open" else "probe": w, "warnings": []}))

    def kernel(self, n, calls_per_s):
        self.write("closed-kernel-%d.json" % n, json.dumps(
            {"variant": "uvfib", "n": 30, "threads": 2, "calls_per_s": calls_per_s}) + "\n")

    def scenarios(self, closed_fracs, limits=(2000, 1000, 2000, 1000, 2000, 1000, 2000, 1000,
                                             2000, 1000), timed=True):
        """Three rounds, each starting with the next tool, as scripts/bench-crosscheck runs
        them. Closed run K of the nine runs at closed_fracs[tool][round] of the mean of timings
        K-1 and K (timed), or of limits[K] as its req/s alone (not timed); light and open
        alike for every tool."""
        order = ["closed-kernel-0"]
        if timed:
            self.kernel(0, limits[0])
        k = 0
        for r in (1, 2, 3):
            turn = [NAMES[(r - 1 + i) % 3] for i in range(3)]
            for tool in turn:
                k += 1
                limit = (limits[k - 1] + limits[k]) / 2 if timed else limits[k]
                self.run_(tool, "closed", r, closed_fracs[tool][r - 1] * limit)
                order += ["closed-%s-%d" % (tool, r), "closed-kernel-%d" % k]
                if timed:
                    self.kernel(k, limits[k])
            for tool in turn:
                self.run_(tool, "light", r, 50000, p50=0.5)
            for tool in ("uvfib-bench", "autocannon"):
                self.run_(tool, "open", r, 200, p50=0.3)
        if timed:
            self.write("closed-order.txt", "\n".join(order) + "\n")

    def verdict(self):
        p = subprocess.run([sys.executable, TOOLS, self.dir.name, "3"], capture_output=True,
                           text=True, timeout=60)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        return p.returncode, p.stdout

    def test_drift_between_runs_falls_on_no_tool(self):
        # Every tool at 0.9 of the limit around each run, the machine's speed halving and
        # doubling from one timing to the next: req/s differ by up to 2x, the fractions not.
        same = {t: (0.9, 0.9, 0.9) for t in NAMES}
        self.scenarios(same, limits=(2000, 2000, 1000, 1000, 1000, 2000, 2000, 2000, 1000, 1000))
        rc, out = self.verdict()
        self.assertEqual(rc, 0, out)
        self.assertIn("wrk vs uvfib-bench, throughput: agrees +0.0% of the limit (bound 15%)", out)
        self.assertIn("autocannon vs uvfib-bench, throughput: agrees +0.0% of the limit", out)
        self.assertRegex(out, r"\n  uvfib-bench +\d+ +90\.0% ")
        self.assertIn("crosscheck: every judged figure agrees within its bound", out)

    def test_a_tool_that_counts_less_is_found_out(self):
        fracs = {"uvfib-bench": (0.9, 0.9, 0.9), "wrk": (0.9, 0.9, 0.9),
                 "autocannon": (0.7, 0.72, 0.7)}
        self.scenarios(fracs)
        rc, out = self.verdict()
        self.assertEqual(rc, 1, out)
        self.assertIn("autocannon vs uvfib-bench, throughput: DISAGREES -22.2% of the limit", out)
        self.assertIn("wrk vs uvfib-bench, throughput: agrees", out)
        self.assertIn("crosscheck: 1 bound(s) failed: closed: autocannon throughput", out)

    def test_output_without_timings_compares_req_per_s(self):
        # An older directory: no closed-order.txt, no timings; req/s 1,800 each but for one
        # of wrk's rounds, which the median ignores.
        fracs = {t: (1.0, 1.0, 1.0) for t in NAMES}
        fracs["wrk"] = (1.0, 0.5, 1.0)
        self.scenarios(fracs, limits=(1800,) * 10, timed=False)
        rc, out = self.verdict()
        self.assertEqual(rc, 0, out)
        self.assertIn("wrk vs uvfib-bench, throughput: agrees +0.0% req/s (bound 15%)", out)
        self.assertNotIn("\"of limit\"", out)

    def test_errors_fail_the_check(self):
        self.scenarios({t: (0.9, 0.9, 0.9) for t in NAMES})
        self.run_("wrk", "closed", 2, 900, non2xx=3)
        self.run_("wrk", "closed", 3, 900, non2xx=3)
        rc, out = self.verdict()
        self.assertEqual(rc, 1, out)
        self.assertIn("closed: errors", out)

    def test_bad_usage_exits_2(self):
        p = subprocess.run([sys.executable, TOOLS, self.dir.name], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage", p.stderr)


def main():
    return tap.main(sys.modules[__name__], sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
