"""tools.py - scripts/bench-crosscheck's verdict: whether uvfib-bench's figures agree with wrk's
and autocannon's, from the raw output that script left in OUT, R rounds of each tool.

    python3 scripts/benchkit/tools.py OUT ROUNDS

Prints one table per scenario and a verdict per judged bound; exits 0 when every judged bound
held, 1 when one did not or a run had errors.

Each figure is the median of a tool's rounds. The closed scenario is server-bound: its
throughput is what the machine's two cores give the pool, which drifts by tens of percent
within seconds here, so each closed run is judged against the kernel alone timed just before
and just after it (closed-order.txt lists the runs and the timings, closed-kernel-N, in the
order they ran), and the tools' throughputs are compared as their median fractions of it.
Their req/s stand beside them."""
import json
import os
import re
import statistics
import sys

from run import parse_wrk

# The step of each tool's latency figures, in ms: autocannon records whole milliseconds
# (uvfib-bench and wrk record micro- or nanoseconds).
RESOLUTION_MS = {"autocannon": 1.0}


class Raw:
    """The runs of one scripts/bench-crosscheck invocation, in directory OUT."""

    def __init__(self, out, rounds):
        self.out, self.rounds = out, rounds
        self.failed = []
        self.lines = []

    def path(self, name):
        return os.path.join(self.out, name)

    def wrk(self, name):
        """Requests/sec and the latency distribution (ms) from wrk --latency's text."""
        text = open(self.path(name + ".txt")).read()
        if not re.search(r"^Requests/sec:", text, re.M):
            raise ValueError("%s: wrk printed no Requests/sec line" % name)
        w = parse_wrk(text)
        return {"rps": w["rps"], "p50": w["latency_ms"]["p50"], "p99": w["latency_ms"]["p99"],
                "errors": w["non2xx"]}

    def autocannon(self, name):
        r = json.load(open(self.path(name + ".json")))
        return {"rps": r["requests"]["total"] / r["duration"], "p50": r["latency"]["p50"],
                "p99": r["latency"]["p99"], "errors": r["errors"] + r["non2xx"]}

    def uvfib_bench(self, name, workload):
        r = json.load(open(self.path(name + ".json")))
        w = r[workload]
        return {"rps": w["throughput_rps"], "p50": w["latency_ms"]["p50"],
                "p99": w["latency_ms"]["p99"], "errors": w["errors"]["total"],
                "warnings": r["warnings"]}

    def kernel(self, name):
        """calls/s of the kernel alone on every core, from uvfib-fibtime's JSON line."""
        return json.loads(open(self.path(name + ".json")).read().splitlines()[0])["calls_per_s"]

    def limits(self):
        """{closed run's name: the mean calls/s of the timings just before and after it}."""
        path = self.path("closed-order.txt")
        if not os.path.exists(path):
            return {}
        order = open(path).read().split()
        out = {}
        for i, name in enumerate(order):
            if "-kernel-" in name or i == 0 or i + 1 >= len(order):
                continue
            before, after = order[i - 1], order[i + 1]
            if "-kernel-" in before and "-kernel-" in after:
                out[name] = (self.kernel(before) + self.kernel(after)) / 2
        return out

    def median(self, tool, scenario, limits=None):
        """The median of each figure over a tool's rounds, and with limits, of its fraction of
        the limit around each run ("frac", None if one run had no timing around it)."""
        reader = {"wrk": self.wrk, "autocannon": self.autocannon}.get(tool)
        runs = []
        for r in range(1, self.rounds + 1):
            name = "%s-%s-%d" % (scenario, tool, r)
            run = reader(name) if reader else self.uvfib_bench(
                name, "probe" if scenario == "open" else "load")
            if limits is not None:
                run["frac"] = run["rps"] / limits[name] if name in limits else None
            runs.append(run)
        m = {k: statistics.median(run[k] for run in runs) for k in ("rps", "p50", "p99", "errors")}
        fracs = [run.get("frac") for run in runs]
        m["frac"] = statistics.median(fracs) if fracs and None not in fracs else None
        m["warnings"] = sorted({w for run in runs for w in run.get("warnings", [])})
        return m

    def table(self, title, rows, judged, rps_tol=None, p50_tol=None, p50_abs=None):
        w = self.lines.append
        w("")
        w(title)
        w("  %-12s %12s %10s %10s %10s %7s" % ("tool", "req/s", "of limit", "p50 ms", "p99 ms",
                                              "errors"))
        ref = rows[0][1]
        for tool, r in rows:
            w("  %-12s %12.0f %10s %10.3f %10.3f %7d" % (
                tool, r["rps"], "%.1f%%" % (r["frac"] * 100) if r["frac"] else "-",
                r["p50"], r["p99"], r["errors"]))
        for tool, r in rows[1:]:
            checks = []
            if rps_tol is not None:
                # Against the limit around each run where both have one, else req/s.
                a, b, unit = ((r["frac"], ref["frac"], "of the limit") if r["frac"] and ref["frac"]
                              else (r["rps"], ref["rps"], "req/s"))
                checks.append(("throughput", abs(a - b) / b <= rps_tol,
                               "%+.1f%% %s (bound %.0f%%)" % ((a / b - 1) * 100, unit,
                                                             rps_tol * 100)))
            if p50_tol is not None or p50_abs is not None:
                d = abs(r["p50"] - ref["p50"])
                # A tool that records whole milliseconds cannot be held closer than its step.
                bound = max(p50_tol * ref["p50"] if p50_tol else 0.0, p50_abs or 0.0) + \
                    RESOLUTION_MS.get(tool, 0.0)
                checks.append(("p50", d <= bound, "%+.3f ms (bound %.3f ms)" % (
                    r["p50"] - ref["p50"], bound)))
            for what, ok, text in checks:
                verdict = ("agrees" if ok else "DISAGREES") if judged else "differs by"
                w("  %s vs uvfib-bench, %s: %s %s" % (tool, what, verdict, text))
                if judged and not ok:
                    self.failed.append("%s: %s %s" % (title.split(":")[0], tool, what))
            if r["errors"] or ref["errors"]:
                self.failed.append("%s: errors" % title.split(":")[0])
        for warning in ref.get("warnings", []):
            w("  uvfib-bench warning: " + warning)

    def compare(self):
        """Every table and the verdict, as lines of text; self.failed names the bounds that
        failed."""
        w = self.lines.append
        w("medians of %d rounds, the tools taking turns (each round starts with the next tool)"
          % self.rounds)
        limits = self.limits()
        tools = ("uvfib-bench", "wrk", "autocannon")
        self.table("closed: GET /fibonacci/30, 4 connections, closed loop (server-bound: judged)",
                   [(t, self.median(t, "closed", limits)) for t in tools],
                   True, rps_tol=0.15, p50_tol=0.25, p50_abs=0.5)
        if limits:
            w("  \"of limit\": each run's req/s against the kernel alone on every core, timed "
              "just\n  before and just after it (the machine's speed drifts between runs); "
              "throughput\n  is judged on it.")
        self.table("light: GET /healthz, 50 connections, closed loop (generator-bound: reported "
                   "only)", [(t, self.median(t, "light")) for t in tools], False, rps_tol=0.15)
        w("  Each tool, the server and the kernel share two cores; a generator that needs less "
          "CPU\n  per request leaves more to the server. Throughput here ranks the generators.")
        self.table("open: GET /healthz at 200 requests/s over 4 connections (p50 judged)",
                   [(t, self.median(t, "open")) for t in ("uvfib-bench", "autocannon")],
                   True, rps_tol=0.10, p50_abs=1.0)
        w("  autocannon -R sends each connection's share of a second in a burst when the second"
          "\n  starts and records whole milliseconds; uvfib-bench spaces sends evenly and times "
          "each\n  from its intended send, in nanoseconds. Their tails measure different things.")
        w("")
        if self.failed:
            w("crosscheck: %d bound(s) failed: %s" % (len(self.failed), "; ".join(self.failed)))
        else:
            w("crosscheck: every judged figure agrees within its bound")
        return self.lines


def main(argv):
    if len(argv) != 3 or not argv[2].isdigit():
        sys.stderr.write("usage: tools.py OUT ROUNDS\n")
        return 2
    raw = Raw(argv[1], int(argv[2]))
    print("\n".join(raw.compare()))
    return 1 if raw.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
