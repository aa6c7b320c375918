"""report.py - turns the raw JSON of one scripts/bench run (run.py) into docs/benchmarks.md and
its two SVG plots. It reads files only: no server, no clock, so a report can be rewritten from
an old run's raw directory.

    python3 scripts/benchkit/report.py RAW_DIR OUT.md [PLOT_DIR]"""
import glob
import json
import math
import os
import statistics
import sys

RAW = None


def load(name):
    path = os.path.join(RAW, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None


def runs(prefix):
    """Every raw run whose name starts with prefix and ends in -ROUND, in round order."""
    out = []
    for path in glob.glob(os.path.join(RAW, prefix + "-*.json")):
        tail = os.path.basename(path)[len(prefix) + 1:-5]
        if tail.isdigit():
            out.append((int(tail), json.load(open(path))))
    return [r for _, r in sorted(out)]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ms(v):
    if v is None:
        return "-"
    if v < 1:
        return "%.0f µs" % (v * 1000)
    return "%.2f ms" % v if v < 100 else "%.0f ms" % v


def rate(v):
    return "-" if v is None else "{:,.0f}".format(v) if v >= 100 else "%.1f" % v


def verdict(ok, miss):
    return "**met**" if ok else "**missed**: " + miss


# ------------------------------------------------------------------ figures

def probe(r):
    return r["bench"]["probe"]["latency_ms"]


def p50_gap(a, b):
    """How much later run b's probe answered than run a's, at p50, in ms."""
    return probe(b)["p50"] - probe(a)["p50"]


def load_rps(r):
    return r["bench"]["load"]["throughput_rps"]


def server_lag_p99(r):
    """uvfib's own loop delay over the run, from its cumulative histogram: the bucket where 99%
    of the ticks during the run lie (an upper bound, to the bucket's edge)."""
    b0, b1 = r.get("server_lag_before"), r.get("server_lag_after")
    if not b0 or not b1:
        return None
    d = {}
    for k, v in b1.items():
        le = k.split('le="')[1].split('"')[0]
        d[le] = v - b0.get(k, 0)
    total = d.get("+Inf", 0)
    if total <= 0:
        return None
    for le in sorted((x for x in d if x != "+Inf"), key=float):
        if d[le] >= 0.99 * total:
            return float(le) * 1000
    return math.inf


def fastest_build(kernel_runs):
    """The build with the most calls/s on average over several uvfib-fibtime runs: the one
    build the limit is taken from (the fastest of four in each short run alone would pick
    whichever was luckiest in it)."""
    totals = {}
    for k in kernel_runs:
        for v in k["variants"]:
            totals.setdefault(v["variant"], []).append(v["calls_per_s"])
    return max(totals, key=lambda name: statistics.mean(totals[name]))


def kernel_gaps_of(kernel_runs):
    """(build, gaps): uvfib's kernel against the fastest reference build, one ratio per uvfib-fibtime run
    (each times the builds interleaved, side by side): that build's calls/s over uvfib's, less
    one; their median is the figure, as one run alone moves by 10% on a shared machine. The
    build is the one fastest on average over all the runs, as for the limit: taking in each run
    whichever reference was faster in it would measure uvfib against the luckier of two noisy
    timings, a gap of several percent between builds that run the same instructions."""
    refs = [k for k in kernel_runs if any(v["variant"].startswith("ref") for v in k["variants"])]
    if not refs:
        return None, []
    best = fastest_build([{"variants": [v for v in k["variants"] if v["variant"].startswith("ref")]}
                          for k in refs])
    return best, [build_of(k, best)["calls_per_s"] / build_of(k, "uvfib")["calls_per_s"] - 1
                  for k in refs]


def build_of(k, name):
    """One build's line in one uvfib-fibtime run."""
    return next(v for v in k["variants"] if v["variant"] == name)


def rps(r):
    """A closed-loop run's throughput, whichever generator made it."""
    return r["rps"] if "wrk_cmd" in r else load_rps(r)


def judged(slices, kernels, build):
    """Each slice of load against the limit timed around it, of one build: [(slice, limit
    calls/s, its throughput's fraction of the limit, the kernel's CPU ns per call)]. A slice
    names its two timings ("limits"); heavy runs older than that took kernels[K-1] before slice
    K and kernels[K] after it."""
    rows = []
    for i, r in enumerate(slices):
        if "limits" in r:
            around = [load(n) for n in r["limits"]]
        else:
            around = [kernels[i], kernels[i + 1] if i + 1 < len(kernels) else kernels[i]]
        limit = statistics.mean([build_of(k, build)["calls_per_s"] for k in around])
        cpu_ns = statistics.mean([build_of(k, build)["cpu_ns_per_call"] for k in around])
        rows.append((r, limit, rps(r) / limit, cpu_ns))
    return rows


def crosscheck(kind):
    """uvfib-bench against wrk on workload KIND: None without both, else their median req/s and
    uvfib-bench's difference, -0.05 for 5% less. Slices judged against the limit around them
    ("limits") compare their median fractions of it, and only those slices count ("unjudged"
    says how many did not); older whole runs compare req/s."""
    bs, ws = runs("crosscheck-%s-bench" % kind), runs("crosscheck-%s-wrk" % kind)
    if not bs or not ws:
        return None
    jb, jw = [r for r in bs if "limits" in r], [r for r in ws if "limits" in r]
    if not (jb and jw):
        b, w = med([rps(r) for r in bs]), med([rps(r) for r in ws])
        return {"judged": False, "bench": b, "wrk": w, "slices": len(bs) + len(ws),
                "diff": b / w - 1}
    kernels = runs("crosscheck-kernel")
    build = fastest_build(kernels)
    fb = med([x[2] for x in judged(jb, kernels, build)])
    fw = med([x[2] for x in judged(jw, kernels, build)])
    return {"judged": True, "bench": med([rps(r) for r in jb]), "wrk": med([rps(r) for r in jw]),
            "slices": len(jb) + len(jw), "unjudged": len(bs) + len(ws) - len(jb) - len(jw),
            "bench_frac": fb, "wrk_frac": fw, "diff": fb / fw - 1}


def ran_at(r):
    """Where a judged slice ran among its scenario's timings of the limit: the number of the
    first it names (heavy-kernel-N), 0 for older runs without "limits"."""
    return int(r["limits"][0].rsplit("-", 1)[1]) if "limits" in r else 0


def heavy_split(r, cpu_ns):
    """Where a heavy run's CPU went: (loop µs per request, the other threads' cores, their
    speed against the kernel alone (None without cpu_ns), load-generator cores, the machine's
    context switches per request (None for older runs)). None for a run without the loop's
    share."""
    cpu, rps = r["cpu"], load_rps(r)
    if cpu.get("main_thread_cores") is None or not rps:
        return None
    others = cpu["server_cores"] - cpu["main_thread_cores"]
    switches = cpu.get("machine_switches_per_s")
    return (cpu["main_thread_cores"] / rps * 1e6, others,
            rps * cpu_ns / 1e9 / others if cpu_ns and others > 0 else None,
            r["bench"].get("generator", {}).get("cpu_cores"),
            switches / rps if switches is not None else None)


# ------------------------------------------------------------------ plots

def svg_bars(path, title, groups, series, unit, log=False):
    """Grouped horizontal bars: groups = [(label, [value per series])], series = [(name, colour)]."""
    w, left, bar, gap = 900, 230, 14, 10
    h = 60 + len(groups) * (len(series) * bar + gap) + 40
    vals = [v for _, vs in groups for v in vs if v]
    if not vals:
        return
    hi = max(vals) * 1.1
    lo = min(vals) / 2 if log else 0

    def x(v):
        if log:
            return left + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (w - left - 100)
        return left + v / hi * (w - left - 100)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12"><rect width="100%%" height="100%%" fill="white"/>' % (w, h),
           '<text x="10" y="20" font-size="14" font-weight="bold">%s</text>' % title]
    y = 40
    for i, (name, colour) in enumerate(series):
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>'
                   % (left + i * 170, y - 10, colour, left + i * 170 + 16, y, name))
    y += 15
    for label, vs in groups:
        label = label.replace("`", "")
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + len(series) * bar / 2 + 4, label))
        for (name, colour), v in zip(series, vs):
            if v:
                out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                           '<text x="%.1f" y="%d">%s</text>'
                           % (left, y, x(v) - left, bar - 2, colour, x(v) + 4, y + bar - 4,
                              ("%.3g %s" % (v, unit))))
            y += bar
        y += gap
    out.append('</svg>')
    with open(path, "w") as f:
        f.write("\n".join(out))


# ------------------------------------------------------------------ the report

def main():
    global RAW
    RAW, out_md = sys.argv[1], sys.argv[2]
    plot_dir = sys.argv[3] if len(sys.argv) > 3 else os.path.dirname(out_md)
    meta = load("meta")
    lines = []
    w = lines.append
    goals = []   # (goal, target, measured, verdict)

    # ---------------------------------------------------------- kernel and heavy
    heavy = runs("heavy-uvfib")
    kernels = runs("heavy-kernel")
    limit_build = fastest_build(kernels) if kernels else None
    heavy_rows = judged(heavy, kernels, limit_build) if heavy else []
    floor_heavy = runs("heavy-floor")
    floor_rows = judged(floor_heavy, kernels, limit_build) if heavy_rows and floor_heavy else []
    nohold_heavy = runs("heavy-nohold")
    nohold_rows = judged(nohold_heavy, kernels, limit_build) if heavy_rows and nohold_heavy else []
    if heavy_rows:
        pct = med([x[2] for x in heavy_rows])
        floor_pct = med([x[2] for x in floor_rows]) if floor_rows else None
        goals.append(("heavy throughput, default flags", "≥ 95% of the physical limit (goal 97%)",
                      "%.1f%% (median of %d slices, each between two timings of the limit)%s" % (
                          pct * 100, len(heavy_rows),
                          "; the floor, uvfib-floorserver computing the same kernel with nothing "
                          "else, %.1f%% in the same turns (%d slices): uvfib at %.1f%% of it" % (
                              floor_pct * 100, len(floor_rows), pct / floor_pct * 100)
                          if floor_rows else ""),
                      verdict(pct >= 0.95, "%.1f points short" % (95 - pct * 100))))
    k1, kn = load("kernel-1"), load("kernel-%d" % meta["cores"])
    kernel_ref, kernel_gaps = kernel_gaps_of([k for k in [k1, kn] if k] + kernels)
    if kernel_gaps:
        gap = med(kernel_gaps)
        goals.append(("kernel", "as fast as the best build of the same recursion",
                      "uvfib %+.1f%% time per call against `%s`, the reference build fastest over "
                      "all runs (median of %d side-by-side runs, %+.1f%% to %+.1f%%)" % (
                          gap * 100, kernel_ref, len(kernel_gaps), min(kernel_gaps) * 100,
                          max(kernel_gaps) * 100),
                      verdict(gap <= 0.03, "%.1f%% slower" % (gap * 100))))

    # ---------------------------------------------------------- admission
    adm = [load("admission-c%d" % c) for c in (100, 500, 1000)]
    adm = [a for a in adm if a]
    if adm:
        bad = sum(a["non2xx"] + sum(a["socket_errors"].values()) for a in adm)
        goals.append(("admission at default flags", "`wrk -c100/-c500/-c1000 /fibonacci/30`: only 200s",
                      ", ".join("c%s: %s req, %d non-2xx" % (a["wrk_cmd"][2][2:], "{:,}".format(a["requests"]), a["non2xx"]) for a in adm),
                      verdict(bad == 0, "%d non-2xx or socket errors" % bad)))

    # ---------------------------------------------------------- latency
    lat = {}
    for path in glob.glob(os.path.join(RAW, "latency-*-[0-9]*.json")):
        base = os.path.basename(path)[8:-5]
        cname, _, rnd = base.rpartition("-")
        lat.setdefault(cname, []).append(json.load(open(path)))
    def lat_med(cname, key):
        return med([probe(r).get(key) for r in lat.get(cname, [])])
    def lat_pairs(sat, idle):
        """Per-round ratios of saturated p99 to idle p99 (same round, back to back)."""
        out = []
        for a in lat.get(sat, []):
            rnd = a["name"].rsplit("-", 1)[1]
            for b in lat.get(idle, []):
                if b["name"].rsplit("-", 1)[1] == rnd and probe(a)["p99"] and probe(b)["p99"]:
                    out.append(probe(a)["p99"] / probe(b)["p99"])
        return out
    # The documented configuration: SCHED_IDLE compute threads (older runs: a core left to the
    # loop, --threads N-1).
    doc = next((c for c in ("uvfib-idleclass", "uvfib-threads-1") if c in lat), None)
    if doc and "uvfib-idle" in lat:
        ratio = med(lat_pairs(doc, "uvfib-idle"))
        what = ("`--compute-priority idle`: computations on the time the loop leaves"
                if doc == "uvfib-idleclass" else
                "`--threads %d`: a core for the loop" % max(1, meta["cores"] - 1))
        goals.append(("loop first, documented configuration (%s)" % what,
                      "probe p99 under saturation ≤ 2× idle p99",
                      "%s vs idle %s: %.2f× (median of per-round ratios)" % (
                          ms(lat_med(doc, "p99")), ms(lat_med("uvfib-idle", "p99")), ratio),
                      verdict(ratio <= 2, "%.2f×" % ratio)))
    if "uvfib-default" in lat and "fastify" in lat:
        better = med(lat_pairs("fastify", "uvfib-default"))
        goals.append(("loop first, default flags", "probe p99 ≥ 2× better than Fastify+piscina",
                      "%s vs %s: %.2f× better (median of per-round ratios)" % (
                          ms(lat_med("uvfib-default", "p99")), ms(lat_med("fastify", "p99")), better),
                      verdict(better >= 2, "%.2f×" % better)))
        dflt = med(lat_pairs("uvfib-default", "uvfib-idle"))
        goals.append(("default flags, saturated against idle", "(reported)",
                      "%.2f× idle p99" % dflt, "-"))
    if "uvfib-inline" in lat and "uvfib-default" in lat:
        inl, off = lat_med("uvfib-inline", "p99"), lat_med("uvfib-default", "p99")
        x = inl / off
        # How many F(30) a probe behind the loop's computing waited, at the kernel's own speed:
        # about 4 (the load's connections) when the loop keeps up, many more when it does not;
        # and what the probe measures of a bare server on this machine.
        k1, bare = load("kernel-1"), lat_med("floor-idle", "p99")
        notes = ([] if not k1 else ["inline's p99: %.1f times the kernel's F(30) alone" %
                                    (inl * 1e6 / build_of(k1, "uvfib")["ns_per_call"])]) + \
                ([] if not bare else ["a bare server's idle p99 here: %s" % ms(bare)])
        calls = " (%s)" % "; ".join(notes) if notes else ""
        goals.append(("offload against the blocking loop", "probe p99 ≥ 10× better than `--mode inline`",
                      "%s vs %s: %.1f× better%s" % (ms(off), ms(inl), x, calls),
                      verdict(x >= 10, "%.1f×" % x)))

    # ---------------------------------------------------------- overhead and floor
    ho = load("handoff")
    chain = pool = None
    if ho:
        m = {x["name"]: x for x in ho["measures"]}
        pool = m.get("pool")
        # The same three threads (client, loop, worker) in one process, hop minus direct.
        # Older runs: the two-thread floor.
        if "chain-hop" in m and "chain-direct" in m:
            chain = {"p50_ns": m["chain-hop"]["p50_ns"] - m["chain-direct"]["p50_ns"],
                     "what": "in-process chain floor"}
        elif "floor" in m:
            chain = dict(m["floor"], what="floor")
    ovh_in, ovh_off = runs("overhead-inline"), runs("overhead-offload")
    ovh_norm = runs("overhead-offload-normal")
    fl_direct, fl_hop = runs("overhead-floor-direct"), runs("overhead-floor-hop")
    ovh = [p50_gap(a, b) for a, b in zip(ovh_in, ovh_off)]
    ovh_n = [p50_gap(a, b) for a, b in zip(ovh_in, ovh_norm)]
    fl = [p50_gap(a, b) for a, b in zip(fl_direct, fl_hop)]
    # The floor: the least server's hop, measured with the same client and probe as uvfib's
    # overhead; without those runs (older raw data), the in-process chain.
    floor = ({"p50_ns": med(fl) * 1e6, "what": "request-shaped floor"} if fl else chain)
    if ovh and floor and floor["p50_ns"] > 0:
        for label, vals in (("default flags", ovh), ("`--compute-priority normal`", ovh_n)):
            if not vals:
                continue
            o = med(vals) * 1e6  # ns
            ratio = o / floor["p50_ns"]
            goals.append(("offload overhead at p50, " + label, "≤ 1.2× this machine's wake-up floor",
                          "+%.0f µs against a %s of %.0f µs: %.2f×" % (
                              o / 1e3, floor["what"], floor["p50_ns"] / 1e3, ratio),
                          verdict(ratio <= 1.2, "%.2f×" % ratio)))

    # ---------------------------------------------------------- light
    light = {n: runs("light-" + n) for n in ("uvfib-default", "nginx-log", "uvfib-logoff", "nginx-logoff")}
    if all(light.values()):
        def lmed(n):
            return med([load_rps(r) for r in light[n]])
        a, b = lmed("uvfib-default") / lmed("nginx-log"), lmed("uvfib-logoff") / lmed("nginx-logoff")
        goals.append(("light, default flags", "≥ nginx with its default access log",
                      "%s vs %s req/s: %.2f×" % (rate(lmed("uvfib-default")), rate(lmed("nginx-log")), a),
                      verdict(a >= 1.0, "%.2f×" % a)))
        goals.append(("light, logs off on both", "≥ 1.0× nginx",
                      "%s vs %s req/s: %.2f×" % (rate(lmed("uvfib-logoff")), rate(lmed("nginx-logoff")), b),
                      verdict(b >= 1.0, "%.2f×" % b)))

    # ---------------------------------------------------------- cross-check
    cc = {kind: crosscheck(kind) for kind in ("heavy", "light")}
    cc = {kind: c for kind, c in cc.items() if c}
    if "heavy" in cc:
        c = cc["heavy"]
        d = c["diff"]
        goals.append(("uvfib-bench against wrk", "throughput within 10% on the same server",
                      ("/fibonacci/30: %.1f%% vs %.1f%% of the limit around each of %d slices "
                       "(%s vs %s req/s): %+.1f%%" % (
                           c["bench_frac"] * 100, c["wrk_frac"] * 100, c["slices"],
                           rate(c["bench"]), rate(c["wrk"]), d * 100)) if c["judged"] else
                      "/fibonacci/30: %s vs %s req/s (%+.1f%%)" % (rate(c["bench"]), rate(c["wrk"]), d * 100),
                      verdict(abs(d) <= 0.10, "%+.1f%%" % (d * 100))))

    mem = load("memory")
    if mem:
        rss = mem["with_connections"]["VmRSS"] * 1024
        goals.append(("memory", "%s idle connections in ≤ 20 MB RSS" % "{:,}".format(mem["connections"]),
                      "%.1f MB" % (rss / 1e6), verdict(rss <= 20e6, "%.1f MB" % (rss / 1e6))))

    # ================================================================ write
    w("# uvfib benchmarks")
    w("")
    w("Written by `scripts/bench%s` on %s, uvfib at commit %s%s. Every figure is a ratio or a set "
      "of percentiles from runs made in this one invocation, the compared systems taking turns "
      "(%d round%s); the raw JSON of every run is in `%s`." % (
          " --quick" if meta["quick"] else "", meta["date_utc"], meta["commit"],
          " (with uncommitted changes)" if meta["dirty"] else "", meta["rounds"],
          "" if meta["rounds"] == 1 else "s", os.path.relpath(RAW)))
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    w("| CPUs | %d (%s) |" % (meta["cores"], meta["cpu_model"]))
    w("| memory, kernel | %s GiB, Linux %s |" % (meta["mem_gib"], meta["kernel"]))
    w("| load average at the start | %s |" % " ".join(meta["loadavg"]))
    bg = {os.path.basename(p)[11:-5]: json.load(open(p))["busy_cores"]
          for p in glob.glob(os.path.join(RAW, "background-*.json"))}
    w("| other processes' CPU, 1 s before each scenario (cores) | %s |" % ", ".join(
        "%s %.2f" % (k, v) for k, v in sorted(bg.items())))
    w("| uvfib | `%s`, meson `release` |" % meta["uvfib"])
    w("| others | Node.js %s (Fastify 5, Express 4, piscina 4), %s, %s, %s |" % (
        meta["node"], meta["nginx"], meta["wrk"], meta["cc"]))
    w("| load generator | `uvfib-bench` (this repository): closed-loop load and an open-loop probe timed from each request's intended send (no coordinated omission); `wrk` where a user would type it |")
    w("")
    w("**The load generator shares the machine's %d cores with the server.** Absolute figures are "
      "low and partly measure the generator; the ratios compare systems under the same handicap. "
      "\"server CPU\" is the server's own CPU (all its threads) in cores; \"machine\" the share of "
      "all cores busy." % meta["cores"])
    w("")
    w("## Goals")
    w("")
    w("| what | target | measured | |")
    w("| --- | --- | --- | --- |")
    for g in goals:
        w("| %s | %s | %s | %s |" % g)
    w("")

    # ---------------------------------------------------------- kernel section
    if k1:
        w("## Kernel: the same recursion, built four ways")
        w("")
        w("`uvfib-fibtime 30` (src/bench/micro): `uvfib` is the server's kernel as it runs in the "
          "pool (a cancel flag polled once per call above n = 30), `uvfib-nocheck` the same library "
          "build without a flag, `ref-O2`/`ref-O3` the bare recursion compiled alone. The variants "
          "take turns in 0.25 s slices; growth is F(30)'s time over F(28)'s, φ² = 2.618 for the "
          "naive call tree.")
        w("")
        w("| build | 1 thread: CPU per call | growth | %d threads: calls/s |" % meta["cores"])
        w("| --- | --- | --- | --- |")
        vn = {v["variant"]: v for v in kn["variants"]} if kn else {}
        for v in k1["variants"]:
            w("| %s | %.3f ms | %.2f | %s |" % (v["variant"], v["cpu_ns_per_call"] / 1e6, v["growth"],
                                              rate(vn.get(v["variant"], {}).get("calls_per_s"))))
        w("")
        if kernel_gaps:
            w("Against `%s`, the reference build with the most calls/s on average over every "
              "`uvfib-fibtime` run of this invocation (this table's two, and the %d of the heavy "
              "scenario, each interleaved), uvfib's kernel took %s more time per call in each run "
              "(median %+.1f%%). The reference is one build for all runs: taking in each run the "
              "faster of the two would set uvfib against the luckier of two noisy timings, and "
              "builds that run the same instructions would differ by several percent." % (
                  kernel_ref, len(kernel_gaps) - 2,
                  ", ".join("%+.1f%%" % (g * 100) for g in kernel_gaps),
                  med(kernel_gaps) * 100))
            w("")
        w("The kernel is compiled at `-O2` with `-fno-ipa-pure-const`, as an external function "
          "(src/meson.build, src/app/fib.c): a `static` one ran 20-30% slower (GCC 12 inlines it into "
          "itself, spilling at every level), and without `-fno-ipa-pure-const` GCC may prove it "
          "`const` and merge repeated calls, another algorithm (under `-fsanitize=thread` F(30) "
          "took 0.1 ms instead of 1.5). GCC 12 emits the same instructions for it at `-O2` and "
          "`-O3`; what made one build 10-20% faster than another, in either direction from one "
          "link to the next, was where the function landed (on a 64-byte boundary, or 16 bytes "
          "past one), so the kernel and the references are all built with "
          "`-falign-functions=64`.")
        w("")
        w("The cancel flag is polled above n = 30, and below it the subtrees run as the bare "
          "recursion. The cut-off decides where the call tree is split, and GCC's compiled "
          "recursion runs a different number of instructions per call at each n, so a cut-off "
          "at 28 ran F(30) as F(28)+F(27)+F(28), 2.1% more instructions than F(30) whole; at "
          "30, F(30) runs exactly the reference's instruction count (measured once with "
          "callgrind, not by this run: src/app/fib.c gives the figures).")
        w("")

    if heavy_rows:
        w("## Heavy requests against the physical limit")
        w("")
        w("`GET /fibonacci/30` on 8 keep-alive connections, closed loop, uvfib at default flags. "
          "The limit is the kernel alone on %d threads, timed by `uvfib-fibtime 30 %s %d`, of "
          "the build fastest on average over this scenario's timings (`%s`). The load runs in "
          "%s s slices (%d per server start, after a warm-up), each between two timings of the "
          "limit and judged against their mean, so that a drift of the machine's speed falls "
          "on both alike." % (
              meta["cores"], meta.get("heavy_ktime", meta["ktime"]), meta["cores"], limit_build,
              meta.get("heavy_dur", meta["dur"]), meta.get("heavy_slices", 1)))
        w("")
        w("Where the CPU went: the event loop (the server's first thread) per request; the "
          "server's other threads (the pool's, and the access log's writer, which writes in "
          "batches) and how fast they ran the kernel against the kernel alone (requests × the "
          "limit's CPU time per call ÷ their CPU time); the load generator's cores; the context "
          "switches of the whole machine (`/proc/stat`'s ctxt, every process's) per request; "
          "and how busy the whole machine was.")
        if floor_rows:
            w("")
            w("In turns with each uvfib slice (%s), the same load on the floor: `uvfib-floorserver compute` (src/bench/micro), "
              "a libuv server that hands each request to one of %d worker threads through a "
              "shared FIFO and a condition variable, computes F(n) with the `ref-O2` build, and "
              "wakes the loop back through an eventfd, as uvfib's pool does, with no HTTP "
              "parser, metrics, log or limits. What it misses of the limit is what the design "
              "costs on this machine (the client and the loop's wake-ups on the computing "
              "cores); what uvfib misses of the floor is uvfib's own." % (
                  "each server first in one slice of three" if nohold_rows else
                  "uvfib first in odd slices, the floor first in even ones", meta["cores"]))
        w("")
        w("| slice | server | req/s | limit (calls/s) | of the limit | p50 | p99 | server CPU | loop per request | other threads | their speed | generator | switches per request | machine |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        splits, fsplits, nsplits = [], [], []   # heavy_split() of each server's slices
        rows = [(i, "uvfib", x) for i, x in enumerate(heavy_rows, 1)]
        rows += [(i, "floor", x) for i, x in enumerate(floor_rows, 1)]
        rows += [(i, "uvfib, `--coalesce-ms 0`", x) for i, x in enumerate(nohold_rows, 1)]
        for i, who, (r, limit, frac, cpu_ns) in sorted(rows, key=lambda t: (t[0], ran_at(t[2][0]))):
            l = r["bench"]["load"]["latency_ms"]
            sp = heavy_split(r, cpu_ns)
            {"uvfib": splits, "floor": fsplits}.get(who, nsplits).append(sp)
            w("| %d | %s | %s | %s | **%.1f%%** | %s | %s | %.2f | %s | %s | %s | %s | %s | %.0f%% |" % (
                i, who, rate(load_rps(r)), rate(limit), frac * 100, ms(l["p50"]), ms(l["p99"]),
                r["cpu"]["server_cores"],
                "%.0f µs" % sp[0] if sp else "-", "%.2f" % sp[1] if sp else "-",
                "%.1f%%" % (sp[2] * 100) if sp and sp[2] else "-",
                "%.2f" % sp[3] if sp and sp[3] is not None else "-",
                "%.2f" % sp[4] if sp and sp[4] is not None else "-",
                r["cpu"]["machine_busy"] * 100))
        limits = [build_of(k, limit_build)["calls_per_s"] for k in kernels]
        busy = [r["cpu"]["machine_busy"] for r, _, _, _ in heavy_rows + floor_rows + nohold_rows]
        w("")
        w("The limit, timed %d times in this run, moved between %s and %s calls/s (%.0f%%). The "
          "machine was %.0f-%.0f%% busy during the slices." % (
              len(limits), rate(min(limits)), rate(max(limits)),
              (max(limits) / min(limits) - 1) * 100, min(busy) * 100, max(busy) * 100))
        splits = [x for x in splits if x]
        if splits:
            loop_us, others = med([x[0] for x in splits]), med([x[1] for x in splits])
            speed, gen = med([x[2] for x in splits]), med([x[3] for x in splits])
            speeds = [x[2] for x in splits if x[2]]
            w("")
            w("Medians over the slices: the loop spent %.0f µs of CPU per request, the load "
              "generator %s, and the other threads %.2f of the %d cores%s." % (
                  loop_us, "%.2f cores" % gen if gen is not None else "(not measured)",
                  others, meta["cores"],
                  ", running the kernel at %.1f%% of its speed alone (%.1f-%.1f%% per slice)" % (
                      speed * 100, min(speeds) * 100, max(speeds) * 100) if speeds else ""))
        spare = [heavy_split(t, None)
                 for t in runs("heavy-spare-core") or runs("heavy-threads1")]  # older runs
        spare = [x for x in spare if x]
        if splits and spare:
            spare_loop, spare_gen = med([x[0] for x in spare]), med([x[3] for x in spare])
            w("")
            w("The same load on `--threads %d`, a core left to the loop and the client (%d "
              "run%s): the loop spent %.0f µs per request, the generator %s. Each request wakes "
              "the loop twice (its arrival, its finished job) and the client once; when every "
              "core computes, each of those wake-ups preempts a computing thread, and the "
              "difference between the two sets of figures is what that costs here." % (
                  meta["cores"] - 1, len(spare), "" if len(spare) == 1 else "s", spare_loop,
                  "%.2f cores" % spare_gen if spare_gen is not None else "(not measured)"))
        if floor_rows:
            fsplits = [x for x in fsplits if x]
            fr = [x[2] for x in floor_rows]
            w("")
            w("The floor: %.1f%% of the limit (median of %d slices, %.1f-%.1f%%), against uvfib's "
              "%.1f%%%s." % (
                  med(fr) * 100, len(fr), min(fr) * 100, max(fr) * 100,
                  med([x[2] for x in heavy_rows]) * 100,
                  "; its loop spent %.0f µs of CPU per request, the load generator %s" % (
                      med([x[0] for x in fsplits]),
                      "%.2f cores" % med([x[3] for x in fsplits])
                      if all(x[3] is not None for x in fsplits) else "(not measured)")
                  if fsplits else ""))
        nsplits = [x for x in nsplits if x]
        if nohold_rows and splits and nsplits:
            nr = [x[2] for x in nohold_rows]
            # each uvfib slice against the --coalesce-ms 0 slice of the same turn
            pairs = [u[2] / n[2] for u, n in zip(heavy_rows, nohold_rows)]
            w("")
            w("uvfib with `--coalesce-ms 0`, every finished job waking the loop at once, in the "
              "same turns: %.1f%% of the limit (median of %d slices, %.1f-%.1f%%); its loop spent "
              "%.0f µs of CPU per request against %.0f µs at the default, and its other threads "
              "had %.2f of the %d cores against %.2f (medians). Turn by turn, the default "
              "reached %.1f%% of what `--coalesce-ms 0` did in the same turn (median of %d, "
              "%.1f-%.1f%%; higher in %d of them)." % (
                  med(nr) * 100, len(nr), min(nr) * 100, max(nr) * 100,
                  med([x[0] for x in nsplits]), med([x[0] for x in splits]),
                  med([x[1] for x in nsplits]), meta["cores"], med([x[1] for x in splits]),
                  med(pairs) * 100, len(pairs), min(pairs) * 100, max(pairs) * 100,
                  sum(1 for x in pairs if x > 1)))
            sw = {who: [x[4] for x in xs if x[4] is not None]
                  for who, xs in (("uvfib", splits), ("nohold", nsplits), ("floor", fsplits))}
            if sw["uvfib"] and sw["nohold"]:
                w("")
                w("Context switches of the whole machine per request (medians): %.2f at the "
                  "default, %.2f with `--coalesce-ms 0`%s. Holding is there to cut these: each "
                  "is a computing thread preempted or a sleeper woken." % (
                      med(sw["uvfib"]), med(sw["nohold"]),
                      ", %.2f for the floor" % med(sw["floor"]) if sw["floor"] else ""))
        hf = load("heavy-fastify")
        if hf:
            w("")
            w("Fastify+piscina (%d threads) under the same load: %s req/s, server CPU %.2f." % (
                meta["cores"], rate(load_rps(hf)), hf["cpu"]["server_cores"]))
        w("")

    if adm:
        w("## Admission: what `wrk -cN` meets at default flags")
        w("")
        w("`wrk -t1 -cN -d5s --latency /fibonacci/30` against `uvfib` with no flags: a job is refused "
          "(503, `Retry-After`) only when the wait it can expect passes 5 s, or when 10,000 wait.")
        w("")
        w("| connections | requests | non-2xx | socket errors | p50 | p99 | server: completed, refused |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for a in adm:
            s = a.get("server", {})
            w("| %s | %s | %d | %s | %s | %s | %s, %d |" % (
                a["wrk_cmd"][2][2:], "{:,}".format(a["requests"]), a["non2xx"],
                sum(a["socket_errors"].values()), ms(a["latency_ms"].get("p50")),
                ms(a["latency_ms"].get("p99")), "{:,.0f}".format(s.get("uvfib_pool_jobs_completed_total", 0)),
                s.get("uvfib_pool_jobs_rejected_total", 0) + s.get('uvfib_shed_requests_total{reason="queue_wait"}', 0)))
        w("")

    if lat:
        w("## Loop latency under CPU saturation")
        w("")
        w("A probe sends `GET /healthz` at 500 requests/s over 4 connections (open loop, latency from "
          "each request's intended send); \"saturated\" adds `/fibonacci/30` in a closed loop on 4 "
          "connections. `/healthz` is answered on the loop (uvfib) or the main thread (Node.js), so "
          "its latency is the loop's responsiveness. Medians over the rounds; \"loop p99\" is uvfib's "
          "own timer-measured loop delay over the run (its `/metrics` histogram, to the bucket edge)."
          "%s" % (" The floor is `uvfib-floorserver direct` (src/bench/micro), a libuv server that "
                  "answers fixed bytes on its loop and does nothing else: what the probe measures "
                  "of this machine and of itself." if "floor-idle" in lat else ""))
        w("")
        w("| system | load | probe p50 | p90 | p99 | max | fib/30 req/s | loop p99 |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for cname, _, sat in LATENCY_ORDER:
            rs = lat.get(cname)
            if not rs:
                continue
            fib = med([load_rps(r) for r in rs]) if sat else None
            lag = med([server_lag_p99(r) for r in rs])
            w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                LATENCY_LABELS.get(cname, cname), "saturated" if sat else "idle",
                ms(lat_med(cname, "p50")), ms(lat_med(cname, "p90")), ms(lat_med(cname, "p99")),
                ms(lat_med(cname, "max")), rate(fib), ms(lag)))
        w("")
        svg_bars(os.path.join(plot_dir, "bench-latency.svg"), "probe latency (/healthz), median of rounds",
                 [(LATENCY_LABELS.get(c, c) + (" (sat.)" if s else " (idle)"),
                   [lat_med(c, "p50"), lat_med(c, "p99")]) for c, _, s in LATENCY_ORDER if c in lat],
                 [("p50", "#4a90d9"), ("p99", "#d0604a")], "ms", log=True)
        w("![probe latency per system, log scale](bench-latency.svg)")
        w("")

    # contention-PLACE-CONFIG-ROUND; a run cut short (no uvfib_cores) is left out.
    cont = {}
    for path in glob.glob(os.path.join(RAW, "contention-*-[0-9]*.json")):
        place, cname = os.path.basename(path).split("-")[1:3]
        r = json.load(open(path))
        if "uvfib_cores" in r:
            cont.setdefault((place, cname), []).append(r)
    if cont:
        n_rounds = max(len(v) for v in cont.values())
        w("## Compute priority when other processes want the cores")
        w("")
        w("`/fibonacci/30` on 8 connections (closed loop) while %d busy loops, one per core, run at "
          "the priority of whoever started them, uvfib at default flags (compute threads at nice "
          "10) and with `--compute-priority idle` (`SCHED_IDLE`), taking turns (%d round%s, medians). "
          "*Same group*: the busy loops run in uvfib's session, which the kernel's autogroup makes "
          "one scheduling group, as a cgroup with the cpu controller (a container's, a systemd "
          "unit's) groups the processes in it. *Apart*: each in a session of its own, as a "
          "neighbouring service. The kernel shares the cores between groups first, then among "
          "the threads of a group by their priorities." % (
              meta["cores"], n_rounds, "" if n_rounds == 1 else "s"))
        w("")

        def grouped(r):
            """Whether the busy loops shared uvfib's autogroup (same) or had their own (apart)."""
            ag = r.get("autogroups") or {}
            hogs = ag.get("hogs") or []
            if not r.get("autogroup_enabled") or not ag.get("uvfib") or not hogs:
                return False
            same = [h == ag["uvfib"] for h in hogs]
            return all(same) if r["hogs_where"] == "same" else not any(same)
        if not all(grouped(r) for rs in cont.values() for r in rs):
            w("**On this machine the sessions were not the scheduling groups described** (the "
              "kernel's autogroup off, or the busy loops not where intended): *same* and *apart* "
              "may measure the same thing.")
            w("")
        w("| busy loops | uvfib | fib/30 req/s | uvfib's cores | busy loops' cores | errors |")
        w("| --- | --- | --- | --- | --- | --- |")
        for place in ("same", "apart"):
            for cname, label in (("default", "default flags (nice 10)"),
                                 ("idleclass", "`--compute-priority idle`")):
                rs = cont.get((place, cname))
                if not rs:
                    continue
                # Same group: the session's CPU (server_cores) less uvfib's own, both over
                # bench()'s window.
                hogs = med([r["hog_cores"] if r.get("hog_cores") is not None else
                            r["cpu"]["server_cores"] - r["uvfib_cores"] for r in rs])
                w("| %s | %s | %s | %.2f | %.2f | %s |" % (
                    "same group" if place == "same" else "apart", label,
                    rate(med([load_rps(r) for r in rs])), med([r["uvfib_cores"] for r in rs]),
                    hogs, "{:,}".format(int(med([r["bench"]["load"]["errors"]["total"]
                                                for r in rs])))))
        w("")
        for place, where in (("same", "In uvfib's own group"), ("apart", "Apart")):
            pair = [cont.get((place, c)) for c in ("default", "idleclass")]
            if not all(pair):
                continue
            nice, idle = (med([load_rps(r) for r in rs]) for rs in pair)
            cores = [med([r["uvfib_cores"] for r in rs]) for rs in pair]
            # In its own group, half or less of nice 10's: starved, said as a fraction.
            starved = place == "same" and 0 < idle <= nice / 2
            share = ("1/%.0f" % (nice / idle) if starved else
                     "%.0f%%" % (idle / nice * 100) if nice > 0 else "-")
            w("%s, `SCHED_IDLE` answered %s `/fibonacci/30` a second against %s at nice 10 (%s), "
              "uvfib on %.2f cores against %.2f." % (where, rate(idle), rate(nice), share,
                                                     cores[1], cores[0]))
            if starved:
                w("An idle-class thread computes only on what every other thread of its group "
                  "leaves. That is why the default stays at nice 10, and `--compute-priority "
                  "idle` is the configuration for a machine where nothing else keeps the cores "
                  "busy.")
            w("")

    if ovh and floor:
        w("## Offload overhead and this machine's wake-up floor")
        w("")
        w("`GET /fibonacci/1` probed at 200 requests/s over 4 connections by `uvfib-bench`, no "
          "other load, each server started afresh: uvfib with `--mode inline` (computed on the "
          "loop), `--mode offload` at default flags (compute threads at nice 10) and "
          "`--mode offload --compute-priority normal`; and `uvfib-floorserver` (src/bench/micro), "
          "the least a libuv server can do: it answers the same bytes on its loop (*direct*) or "
          "hands the request to one worker thread (condition variable signalled after unlocking, "
          "worker at the loop's priority) that wakes the loop back through an eventfd (*hop*), "
          "as uvfib's pool does, with nothing else in the path.")
        w("")
        w("| round | inline p50 | offload p50 | overhead | normal priority p50 | overhead "
          "| floor direct p50 | floor hop p50 | floor |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")

        def delta(a, b):
            return "%+.0f µs" % (p50_gap(a, b) * 1000) if a and b else "-"

        def at(xs, i):
            return xs[i - 1] if i <= len(xs) else None
        for i, (a, b) in enumerate(zip(ovh_in, ovh_off), 1):
            n, fd, fh = at(ovh_norm, i), at(fl_direct, i), at(fl_hop, i)
            w("| %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                i, ms(probe(a)["p50"]), ms(probe(b)["p50"]), delta(a, b),
                ms(probe(n)["p50"]) if n else "-", delta(a, n),
                ms(probe(fd)["p50"]) if fd else "-", ms(probe(fh)["p50"]) if fh else "-",
                delta(fd, fh)))
        w("")
        if floor["p50_ns"] > 0:
            w("The **%s** is the median over rounds of hop minus direct: %.1f µs. Median overhead "
              "in this run: %.2f× the floor at default flags%s." % (
                  floor["what"], floor["p50_ns"] / 1e3, med(ovh) * 1e6 / floor["p50_ns"],
                  ", %.2f× with the compute threads at the loop's priority" % (
                      med(ovh_n) * 1e6 / floor["p50_ns"]) if ovh_n else ""))
            w("")
        w("What the hop costs here is waking a thread on the other vCPU. The probe's client and "
          "the server's loop share one vCPU (a socket wake-up places the woken loop beside its "
          "waker), so the worker is woken on the other one, idle and halted since the last "
          "request; on this Firecracker guest (`cpuidle haltpoll` with `guest_halt_poll_ns=0`) "
          "that takes tens of microseconds, and perf sched showed the worker starting about "
          "50 µs after the signal whenever it went there, and 3 µs when it was placed on the "
          "loop's vCPU. Waking the parked thread through a pipe (a synchronous wake-up, which "
          "places the wakee beside the waker only when no vCPU is idle) did not change that. A "
          "thread at nice 10 was woken later still, so at default flags a compute thread is at "
          "nice 10 only while it computes more than a hand-off's worth (for the loop's sake "
          "under saturation: the latency table above) and waits for work, and runs cheap work "
          "such as `/fibonacci/1`, at its own priority, where the process may raise it back "
          "(here root; the systemd unit grants `LimitNICE=+0`).")
        w("")
        w("`uvfib-handoff` (src/bench/micro) times the same wake-ups without HTTP. The first four: "
          "each round trip starts with both threads asleep (1 ms apart), as at a modest request "
          "rate. The chain pair has a request's shape inside one process: a client thread sends "
          "a byte over loopback TCP to a libuv loop thread every 5 ms and waits for one back; "
          "*direct* answers on the loop, *hop* goes through a worker as above; the two alternate "
          "round by round.")
        w("")
        w("| round trip | p50 | p90 | p99 |")
        w("| --- | --- | --- | --- |")
        for x in (ho or {}).get("measures", []):
            w("| %s | %.1f µs | %.1f µs | %.1f µs |" % (HANDOFF_LABELS.get(x["name"], x["name"]),
                                                      x["p50_ns"] / 1e3, x["p90_ns"] / 1e3, x["p99_ns"] / 1e3))
        w("")
        if chain and floor is not chain:
            w("In this process the chain's hop costs %.1f µs over direct at p50, against %.1f µs "
              "measured with uvfib-bench. Its client is a thread of the same process that "
              "sleeps between rounds; why the scheduler's placement then makes the hop cheaper "
              "is not established. It is not the shape in which users meet the hop, so the goal "
              "is judged against the floor measured with uvfib-bench." % (chain["p50_ns"] / 1e3, floor["p50_ns"] / 1e3))
            w("")

    reuseport_section(w, meta)

    if all(light.values()):
        w("## Light requests: uvfib against nginx")
        w("")
        w("`GET /fibonacci/10` on 50 keep-alive connections, closed loop. uvfib computes F(10) on the "
          "loop (auto mode); nginx (1 worker) answers the same JSON from a `return 200` location "
          "(`raw/nginx-log.conf`). \"default\" is each as shipped: uvfib's JSON access log on stderr "
          "(to a file here), nginx's combined-format `access_log` to a file.")
        w("")
        w("| server | round | req/s | p50 | p99 | server CPU | CPU per request |")
        w("| --- | --- | --- | --- | --- | --- | --- |")
        for n, label in (("uvfib-default", "uvfib, default flags"), ("nginx-log", "nginx, access log"),
                         ("uvfib-logoff", "uvfib `--access-log off`"), ("nginx-logoff", "nginx `access_log off`")):
            for i, r in enumerate(light[n], 1):
                l = r["bench"]["load"]["latency_ms"]
                w("| %s | %d | %s | %s | %s | %.2f | %.1f µs |" % (
                    label, i, rate(load_rps(r)), ms(l["p50"]), ms(l["p99"]), r["cpu"]["server_cores"],
                    r["cpu"]["server_cores"] / load_rps(r) * 1e6))
        w("")
        svg_bars(os.path.join(plot_dir, "bench-throughput.svg"), "throughput, median of rounds (req/s)",
                 [("light: uvfib / nginx, logs on", [med([load_rps(r) for r in light["uvfib-default"]]),
                                                     med([load_rps(r) for r in light["nginx-log"]])]),
                  ("light: uvfib / nginx, logs off", [med([load_rps(r) for r in light["uvfib-logoff"]]),
                                                      med([load_rps(r) for r in light["nginx-logoff"]])]),
                  ("heavy: uvfib / physical limit", [med([load_rps(x[0]) for x in heavy_rows]),
                                                     med([x[1] for x in heavy_rows])] if heavy_rows else [None, None])],
                 [("uvfib", "#4a90d9"), ("reference", "#999999")], "req/s")
        w("![throughput](bench-throughput.svg)")
        w("")

    if cc:
        w("## uvfib-bench against wrk")
        w("")
        w("The same uvfib server (`--access-log off`), the two generators taking turns, closed loop.")
        c = cc.get("heavy")
        if c and c["judged"]:
            w("Server-bound, they take %d slices of %s s in the order uvfib-bench, wrk, wrk, "
              "uvfib-bench, ..., each between two timings of the limit; the difference compares "
              "each generator's median fraction of the limit around its slices (in brackets), "
              "so that the machine's drift between slices falls on neither.%s" % (
                  c["slices"], meta.get("heavy_dur", meta["dur"]),
                  " %d slice%s saved without its timings %s left out." % (
                      c["unjudged"], "" if c["unjudged"] == 1 else "s",
                      "is" if c["unjudged"] == 1 else "are") if c["unjudged"] else ""))
        if "light" in cc:
            w("Generator-bound, whole runs of %s s take turns." % meta["dur"])
        w("")
        w("| workload | uvfib-bench req/s | wrk req/s | difference |")
        w("| --- | --- | --- | --- |")
        for kind, c in cc.items():
            def cell(name):
                return rate(c[name]) + (" (%.1f%%)" % (c[name + "_frac"] * 100) if c["judged"] else "")
            w("| %s | %s | %s | %+.1f%%%s |" % (
                "`/fibonacci/30`, 4 connections (server-bound)" if kind == "heavy"
                else "`/fibonacci/10`, 50 connections (generator-bound)",
                cell("bench"), cell("wrk"), c["diff"] * 100, " of the limit" if c["judged"] else ""))
        w("")
    tools = load("tools")
    if tools:
        w("`scripts/bench-crosscheck` (uvfib-bench, wrk and autocannon on one server; its own "
          "bounds, see docs/bench-tool.md) exited %d:" % tools["returncode"])
        w("")
        w("```")
        w(tools["stdout"].strip())
        w("```")
        w("")
    if mem:
        b, c = mem["before"], mem["with_connections"]
        w("## Memory: idle keep-alive connections")
        w("")
        w("%s connections, each answered one `/healthz` and left open (`--keepalive-timeout 0`): "
          "VmRSS %.1f MiB → %.1f MiB, %.0f bytes per connection (%d of them answered)." % (
              "{:,}".format(mem["connections"]), b["VmRSS"] / 1024, c["VmRSS"] / 1024,
              (c["VmRSS"] - b["VmRSS"]) * 1024 / mem["connections"], mem["answered"]))
        w("")
    w("## Commands")
    w("")
    w("Everything above: `scripts/bench` (`--quick` for a short run, `--only light,heavy` for some "
      "scenarios). Each run's server and client command lines are in its raw JSON "
      "(`server_cmd`, `bench_cmd`, `wrk_cmd`, `cmd`).")
    with open(out_md, "w") as f:
        f.write("\n".join(lines) + "\n")


def reuseport_section(w, meta):
    """One instance against two on one port (--reuseport), if the scenario ran."""
    rows = {(kind, n): runs("reuseport-%s-%s" % (kind, n))
            for kind in ("light", "heavy") for n in ("one", "two")}
    if not any(rows.values()):
        return
    half = max(1, meta["cores"] // 2)
    w("## One instance or two on one port (`--reuseport`)")
    w("")
    w("The same %d cores of compute threads either way: one uvfib `--threads %d`, or two "
      "`--reuseport --threads %d` on its port. Closed loop, `--access-log off`; the kernel "
      "splits connections between the two by a hash of the address pair (counted from /proc "
      "during each run), not by load." % (meta["cores"], meta["cores"], half))
    w("")
    w("| workload | instances | round | req/s | p50 | p99 | server CPU | connections per instance |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    labels = {"light": "`/fibonacci/10`, 50 connections", "heavy": "`/fibonacci/30`, 8 connections"}
    for kind in ("light", "heavy"):
        for n in ("one", "two"):
            for i, r in enumerate(rows[(kind, n)], 1):
                l = r["bench"]["load"]["latency_ms"]
                split = r.get("connections_per_instance")
                w("| %s | %s | %d | %s | %s | %s | %.2f | %s |" % (
                    labels[kind], n, i, rate(load_rps(r)), ms(l["p50"]), ms(l["p99"]),
                    r["cpu"]["server_cores"], " / ".join(map(str, split)) if split else "-"))
    w("")
    for kind in ("light", "heavy"):
        one, two = (med([load_rps(r) for r in rows[(kind, n)]]) for n in ("one", "two"))
        if one and two:
            w("- %s: two instances %+.1f%% against one (median req/s %s vs %s, %d cores, the load "
              "generator on the same cores)." % (labels[kind], (two / one - 1) * 100, rate(two),
                                                  rate(one), meta["cores"]))
    w("")


LATENCY_ORDER = [
    ("floor-idle", None, False), ("uvfib-idle", None, False), ("uvfib-default", None, True),
    ("uvfib-threads-1", None, True), ("uvfib-normal", None, True), ("uvfib-batch", None, True), ("uvfib-nice19", None, True),
    ("uvfib-idleclass", None, True), ("uvfib-inline", None, True), ("fastify-idle", None, False),
    ("fastify", None, True), ("express-piscina", None, True), ("worker-per-request", None, True),
]
LATENCY_LABELS = {
    "floor-idle": "uvfib-floorserver (the floor)",
    "uvfib-idle": "uvfib, default flags", "uvfib-default": "uvfib, default flags",
    "uvfib-threads-1": "uvfib `--threads N-1`", "uvfib-normal": "uvfib `--compute-priority normal`",
    "uvfib-batch": "uvfib `--compute-priority batch`", "uvfib-nice19": "uvfib `--compute-nice 19`",
    "uvfib-idleclass": "uvfib `--compute-priority idle`", "uvfib-inline": "uvfib `--mode inline`",
    "fastify-idle": "Fastify+piscina", "fastify": "Fastify+piscina",
    "express-piscina": "Express+piscina", "worker-per-request": "Express, a Worker per request",
}
HANDOFF_LABELS = {
    "condvar": "condition variable to a sleeping thread and back",
    "async": "`uv_async_send` to another loop and back",
    "floor": "**floor**: condition variable to a sleeping worker, `uv_async_send` back to the loop",
    "pool": "uvfib's pool: an empty job through the FIFO, a runner and the eventfd",
    "chain-direct": "chain, direct: client → loop → client (loopback TCP)",
    "chain-hop": "chain, hop: client → loop → worker → loop → client",
}

if __name__ == "__main__":
    main()
