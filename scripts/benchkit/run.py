"""run.py - every scenario of docs/benchmarks.md, side by side in one run, against 127.0.0.1
only, each bounded in time. It writes raw JSON into OUT/raw (one file per run: the commands,
what the tool printed, the CPU the server and the machine used) and OUT/raw/meta.json; it
judges nothing (that is report.py's business).

    python3 scripts/benchkit/run.py --out DIR [--quick] [--only SCENARIO,...]

Scenarios, in the order they run: kernel, handoff, light, heavy, admission, latency, overhead,
reuseport, crosscheck, memory, tools. Binaries come from build-release (scripts/bench builds them)."""
import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procs import (CLK_TCK, PARENT, CpuMeter, Hogs, Server, background_cores,  # noqa: E402
                   free_port, process_ticks, processes_where, stop_all, with_hogs)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build-release")
UVFIB = os.path.join(BUILD, "src", "uvfib")
BENCH = os.path.join(BUILD, "src", "bench", "uvfib-bench")
FIBTIME = os.path.join(BUILD, "src", "bench", "micro", "uvfib-fibtime")
HANDOFF = os.path.join(BUILD, "src", "bench", "micro", "uvfib-handoff")
FLOORSERVER = os.path.join(BUILD, "src", "bench", "micro", "uvfib-floorserver")
NODE_DIR = os.path.join(ROOT, "scripts", "node")
CORES = os.cpu_count()

SCENARIOS = ["kernel", "handoff", "light", "heavy", "admission", "latency", "contention",
             "overhead", "reuseport", "crosscheck", "memory", "tools"]


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class Run:
    """Durations and where raw files go."""

    def __init__(self, out, quick):
        self.quick = quick
        out = os.path.abspath(out)
        self.raw = os.path.join(out, "raw")
        self.scratch = os.path.join(out, "scratch")
        os.makedirs(self.raw, exist_ok=True)
        os.makedirs(self.scratch, exist_ok=True)
        self.dur = 2.0 if quick else 10.0        # measured seconds of one uvfib-bench run
        self.warm = 0.5 if quick else 2.0        # warm-up seconds before it
        self.rounds = 1 if quick else 3          # alternations of the compared systems
        self.ktime = 1.0 if quick else 4.0       # seconds of the kernel timer per call
        # heavy: slices of load per round, each between two timings of the limit
        self.heavy_slices = 2 if quick else 4
        self.heavy_dur = 1.0 if quick else 3.0   # measured seconds of one slice
        self.heavy_warm = 0.3                    # its warm-up (the server is warm already)
        self.heavy_ktime = 0.25 if quick else 0.5  # seconds per build of the limit's timer
        # crosscheck: blocks of four heavy_dur slices. One slice's fraction of the limit moves
        # by about 10% either way here: with 4 slices a tool, one of three full runs saw the two
        # medians 14.8% apart. 8 a tool narrow that noise by about a third, for 40 s more.
        self.cross_blocks = 1 if quick else 4
        assert self.heavy_dur == int(self.heavy_dur)  # wrk -d takes whole seconds

    def save(self, name, obj):
        with open(os.path.join(self.raw, name + ".json"), "w") as f:
            json.dump(obj, f, indent=1)

    def err_path(self, name):
        return os.path.join(self.scratch, name + ".err")


# ------------------------------------------------------------------ the servers

def uvfib(run, name, *flags):
    """uvfib as a user starts it, plus flags; its stderr (the access log by default) to a file."""
    return Server([UVFIB, "--port", "0"] + list(flags), run.err_path(name))


def node(run, name, script):
    env = dict(os.environ, HOST="127.0.0.1", PORT="0", THREADS=str(CORES))
    return Server(["node", os.path.join(NODE_DIR, script)], run.err_path(name), env=env)


def nginx(run, name, log_on):
    """nginx with one worker, answering /fibonacci/10's JSON from a `return 200` location; its
    access log as nginx ships it (the combined format to a file) or off."""
    d = os.path.join(run.scratch, "nginx-" + name)
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    port = free_port()
    conf = """worker_processes 1;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/logs/error.log warn;
events { worker_connections 4096; }
http {
    %(log)s
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 5s;
    client_body_temp_path %(d)s/client_body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            default_type application/json;
            return 200 '{"success":true,"result":55}';
        }
    }
}
""" % {"d": d, "port": port,
       "log": "access_log %s/logs/access.log;" % d if log_on else "access_log off;"}
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    with open(os.path.join(run.raw, "nginx-%s.conf" % ("log" if log_on else "off")), "w") as f:
        f.write(conf)
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    return Server([nginx_bin, "-c", os.path.join(d, "nginx.conf"), "-p", d, "-e",
                   os.path.join(d, "logs", "error.log")], run.err_path(name), port=port)


# ------------------------------------------------------------------ the clients

def bench_cmd(srv, dur, warm, args):
    """uvfib-bench --json against srv for dur seconds after warm, with args."""
    return [BENCH, "--host", "127.0.0.1", "--port", str(srv.port), "--duration", str(dur),
            "--warmup", str(warm), "--json"] + list(args)


def bench(run, name, srv, args, report=False, server_metrics=False, dur=None, warm=None):
    """uvfib-bench --json against srv; saves raw/NAME.json with the CPU used. Returns it."""
    dur = run.dur if dur is None else dur
    warm = run.warm if warm is None else warm
    cmd = bench_cmd(srv, dur, warm, args)
    if report:
        cmd += ["--report", os.path.join(run.raw, name + ".html")]
    if server_metrics:
        cmd += ["--server-metrics", "http://127.0.0.1:%d/metrics" % srv.port]
    meter = CpuMeter(srv).start()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=dur + warm + 90)
    cpu = meter.stop()
    if p.returncode not in (0, 99):
        raise RuntimeError("uvfib-bench failed in %s: %s" % (name, p.stderr[-2000:]))
    out = {"name": name, "server_cmd": srv.cmd, "bench_cmd": cmd, "cpu": cpu,
           "bench": json.loads(p.stdout), "warnings": p.stderr.strip().splitlines()}
    run.save(name, out)
    log("  %s done" % name)
    return out


WRK_LAT_RE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)


def parse_wrk(text):
    """What wrk --latency printed: requests, req/s, non-2xx answers, the latency percentiles
    (ms) and socket errors; 0 for a count it did not print. Shared with tools.py."""
    def num(rx, default=0.0):
        m = re.search(rx, text, re.M)
        return float(m.group(1)) if m else default
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
    lat = {("p" + m.group(1)): float(m.group(2)) * unit[m.group(3)]
           for m in WRK_LAT_RE.finditer(text)}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     text)
    return {"requests": int(num(r"^\s*(\d+) requests in")), "rps": num(r"^Requests/sec:\s+([\d.]+)"),
            "non2xx": int(num(r"Non-2xx or 3xx responses: (\d+)")), "latency_ms": lat,
            "socket_errors": dict(zip(("connect", "read", "write", "timeout"),
                                      map(int, sock.groups()))) if sock else {}}


def wrk(run, name, srv, conns, path, secs):
    """wrk -t1 -cC -dS --latency against srv, as a user types it (its default 2 s timeout)."""
    cmd = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % max(1, round(secs)), "--latency",
           "http://127.0.0.1:%d%s" % (srv.port, path)]
    meter = CpuMeter(srv).start()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 60)
    cpu = meter.stop()
    out = {"name": name, "server_cmd": srv.cmd, "wrk_cmd": cmd, "cpu": cpu, "stdout": p.stdout}
    out.update(parse_wrk(p.stdout))
    run.save(name, out)
    log("  %s done" % name)
    return out


def metrics(srv):
    """GET /metrics as {name{labels}: value}."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.port, timeout=10).read()
    out = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def lag_buckets(m):
    return {k: v for k, v in m.items() if k.startswith("uvfib_eventloop_lag_seconds_bucket")}


# ------------------------------------------------------------------ scenarios

def sc_kernel(run):
    """The kernel alone: every build of the same recursion, on one thread and on every core."""
    for threads in (1, CORES):
        p = subprocess.run([FIBTIME, "30", str(run.ktime * 2), str(threads)],
                           capture_output=True, text=True, timeout=run.ktime * 8 + 60, check=True)
        run.save("kernel-%d" % threads, {"cmd": [FIBTIME, "30", str(run.ktime * 2), str(threads)],
                                         "variants": [json.loads(l) for l in p.stdout.splitlines()]})
    log("  kernel done")


def sc_handoff(run):
    rounds = "300" if run.quick else "3000"
    p = subprocess.run([HANDOFF, rounds], capture_output=True, text=True, timeout=300, check=True)
    run.save("handoff", {"cmd": [HANDOFF, rounds],
                         "measures": [json.loads(l) for l in p.stdout.splitlines()]})
    log("  handoff done")


def sc_light(run):
    """GET /fibonacci/10 on 50 connections: uvfib and nginx, with and without access logs."""
    args = ["--load-url", "/fibonacci/10", "--load-connections", "50"]
    for r in range(1, run.rounds + 1):
        log("light, round %d/%d" % (r, run.rounds))
        for name, start in (("uvfib-default", lambda n: uvfib(run, n)),
                            ("nginx-log", lambda n: nginx(run, n, True)),
                            ("uvfib-logoff", lambda n: uvfib(run, n, "--access-log", "off")),
                            ("nginx-logoff", lambda n: nginx(run, n, False))):
            full = "light-%s-%d" % (name, r)
            srv = start(full)
            try:
                bench(run, full, srv, args)
            finally:
                srv.stop()


def kernel_limit(run, name, seconds=None):
    """The kernel alone on every core, every build, interleaved: the physical limit now."""
    cmd = [FIBTIME, "30", str(run.ktime if seconds is None else seconds), str(CORES)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=run.ktime * 8 + 60, check=True)
    run.save(name, {"cmd": cmd, "variants": [json.loads(l) for l in p.stdout.splitlines()]})


class Limits:
    """Timings of the physical limit between slices of load, PREFIX-kernel-0, -1, ...: time()
    before a round's first slice, then judge() after each slice. The machine's speed can drift
    by tens of percent within seconds here, so a slice is judged against the limit timed just
    before and just after it, which the drift moves alike."""

    def __init__(self, run, prefix):
        self.run, self.prefix, self.n = run, prefix, -1

    def time(self):
        self.n += 1
        kernel_limit(self.run, "%s-kernel-%d" % (self.prefix, self.n), self.run.heavy_ktime)

    def judge(self, name, out):
        """Times the limit after slice NAME (its raw output out) and saves the slice with the
        names of the two timings around it, "limits"."""
        before = "%s-kernel-%d" % (self.prefix, self.n)
        self.time()
        out["limits"] = [before, "%s-kernel-%d" % (self.prefix, self.n)]
        self.run.save(name, out)


def warm_up(run, srv, args):
    """uvfib-bench for run.warm seconds, not recorded: a fresh server's first load."""
    subprocess.run(bench_cmd(srv, run.warm, 0, args), capture_output=True, timeout=run.warm + 90)


def floorserver(run, name, mode):
    """uvfib-floorserver MODE (src/bench/micro): the least a server can do, a floor."""
    return Server([FLOORSERVER, mode], run.err_path(name))


def sc_heavy(run):
    """GET /fibonacci/30 on 8 connections (wrk -c8's count) at default flags, against the
    physical limit timed just before and just after each slice of load. The machine's speed
    can drift by tens of percent within seconds, so the load comes in short slices, each
    between two short timings of the limit: slice K is heavy-uvfib-K, and its "limits" name
    the two heavy-kernel-N runs around it. Beside each, in turns (each of the three first in
    one slice of three), slice K of the floor, heavy-floor-K: uvfib-floorserver compute, the
    same kernel through the same kind of hand-off and nothing else, which says how much of the
    distance to the limit is the design's on this machine and how much is uvfib's; and slice K
    of uvfib --coalesce-ms 0, heavy-nohold-K, every finished job waking the loop at once. A
    fresh set of servers for each round of slices, warmed up before the round's first timing.
    Then,
    while there is a core to spare, the same load on --threads CORES-1 (heavy-spare-core-R):
    what the loop and the client cost per request when their wake-ups do not preempt a
    computing thread."""
    args = ["--load-url", "/fibonacci/30", "--load-connections", "8"]
    limits = Limits(run, "heavy")
    k = 0
    for r in range(1, run.rounds + 1):
        log("heavy, round %d/%d" % (r, run.rounds))
        srv = uvfib(run, "heavy-uvfib-round-%d" % r)
        floor = floorserver(run, "heavy-floor-round-%d" % r, "compute")
        nohold = uvfib(run, "heavy-nohold-round-%d" % r, "--coalesce-ms", "0")
        try:
            warm_up(run, srv, args)
            warm_up(run, floor, args)
            warm_up(run, nohold, args)
            limits.time()
            for i in range(run.heavy_slices):
                k += 1
                turns = [("uvfib", srv), ("floor", floor), ("nohold", nohold)]
                for who, s in turns[i % 3:] + turns[:i % 3]:
                    name = "heavy-%s-%d" % (who, k)
                    limits.judge(name, bench(run, name, s, args, dur=run.heavy_dur,
                                             warm=run.heavy_warm))
        finally:
            srv.stop()
            floor.stop()
            nohold.stop()
        if CORES > 1:
            name = "heavy-spare-core-%d" % r
            srv = uvfib(run, name, "--threads", str(CORES - 1))
            try:
                bench(run, name, srv, args, dur=run.heavy_dur)
            finally:
                srv.stop()
    srv = node(run, "heavy-fastify", "fastify-piscina.js")
    try:
        bench(run, "heavy-fastify", srv, args)
    finally:
        srv.stop()


def sc_admission(run):
    """wrk -c100/-c500/-c1000 /fibonacci/30 at default flags, as a benchmark user's first try."""
    for conns in ((100,) if run.quick else (100, 500, 1000)):
        name = "admission-c%d" % conns
        srv = uvfib(run, name)
        try:
            wrk(run, name, srv, conns, "/fibonacci/30", 2 if run.quick else 5)
            m = metrics(srv)
            out = json.load(open(os.path.join(run.raw, name + ".json")))
            out["server"] = {k: m.get(k, 0) for k in (
                "uvfib_pool_jobs_completed_total", "uvfib_pool_jobs_rejected_total",
                'uvfib_shed_requests_total{reason="queue_wait"}',
                'uvfib_shed_requests_total{reason="loop_delay"}')}
            run.save(name, out)
        finally:
            srv.stop()


LATENCY_CONFIGS = [
    # name, how to start, whether /fibonacci/30 saturates the pool meanwhile
    # floor-idle: the least a libuv server can do (fixed bytes, on its loop): the machine's own
    # probe latency, below which no server's figures here can go
    ("floor-idle", lambda run, n: Server([FLOORSERVER, "direct"], run.err_path(n)), False),
    ("uvfib-idle", lambda run, n: uvfib(run, n), False),
    ("uvfib-default", lambda run, n: uvfib(run, n), True),
    ("uvfib-threads-1", lambda run, n: uvfib(run, n, "--threads", str(max(1, CORES - 1))), True),
    ("uvfib-normal", lambda run, n: uvfib(run, n, "--compute-priority", "normal"), True),
    ("uvfib-batch", lambda run, n: uvfib(run, n, "--compute-priority", "batch"), True),
    ("uvfib-nice19", lambda run, n: uvfib(run, n, "--compute-nice", "19"), True),
    ("uvfib-idleclass", lambda run, n: uvfib(run, n, "--compute-priority", "idle"), True),
    ("uvfib-inline", lambda run, n: uvfib(run, n, "--mode", "inline"), True),
    ("fastify-idle", lambda run, n: node(run, n, "fastify-piscina.js"), False),
    ("fastify", lambda run, n: node(run, n, "fastify-piscina.js"), True),
    ("express-piscina", lambda run, n: node(run, n, "piscina.js"), True),
    ("worker-per-request", lambda run, n: node(run, n, "worker-per-request.js"), True),
]
QUICK_LATENCY = ("floor-idle", "uvfib-idle", "uvfib-default", "uvfib-idleclass", "fastify")


def sc_latency(run):
    """/healthz at 500 requests/s (open loop) alone, and while /fibonacci/30 saturates the pool
    on 4 connections (closed loop); uvfib's own loop delay from its /metrics around each run."""
    probe = ["--probe-url", "/healthz", "--probe-rate", "500", "--probe-connections", "4"]
    load = ["--load-url", "/fibonacci/30", "--load-connections", "4"]
    for r in range(1, run.rounds + 1):
        log("latency, round %d/%d" % (r, run.rounds))
        for cname, start, saturated in LATENCY_CONFIGS:
            if run.quick and cname not in QUICK_LATENCY:
                continue
            name = "latency-%s-%d" % (cname, r)
            srv = start(run, name)
            try:
                is_uvfib = srv.cmd[0] == UVFIB
                before = lag_buckets(metrics(srv)) if is_uvfib else None
                out = bench(run, name, srv, probe + (load if saturated else []),
                            report=(r == 1 and cname in ("uvfib-default", "fastify")),
                            server_metrics=is_uvfib)
                if is_uvfib:
                    out["server_lag_before"] = before
                    out["server_lag_after"] = lag_buckets(metrics(srv))
                    run.save(name, out)
            finally:
                srv.stop()


CONTENTION_CONFIGS = (("default", ()), ("idleclass", ("--compute-priority", "idle")))


def autogroup(pid):
    """The kernel's autogroup of a process ("/autogroup-N nice 0"), None where there is none."""
    try:
        return open("/proc/%d/autogroup" % pid).read().strip()
    except OSError:
        return None


def sc_contention(run):
    """What the compute priority costs the computations when other processes want the cores:
    /fibonacci/30 on 8 connections (closed loop) while CORES busy loops run at the launcher's
    priority, at default flags (compute threads at nice 10) and with --compute-priority idle
    (SCHED_IDLE, the documented configuration for the loop first), taking turns. The busy loops
    run in uvfib's session, contention-same-*, or each in a session of its own,
    contention-apart-*. With the kernel's autogroup on (recorded), a session is a scheduling
    group: the kernel shares the cores between groups first, so only the same-session busy
    loops compete with uvfib's threads by priority."""
    args = ["--load-url", "/fibonacci/30", "--load-connections", "8"]
    dur, warm = (run.dur, run.warm) if run.quick else (4.0, 1.0)
    hog_secs = dur + warm + 30  # a bound: they are stopped with the run
    try:
        enabled = open("/proc/sys/kernel/sched_autogroup_enabled").read().strip() == "1"
    except OSError:
        enabled = False
    for r in range(1, run.rounds + 1):
        log("contention, round %d/%d" % (r, run.rounds))
        for place in ("same", "apart"):
            for cname, flags in CONTENTION_CONFIGS:
                name = "contention-%s-%s-%d" % (place, cname, r)
                cmd = [UVFIB, "--port", "0"] + list(flags)
                if place == "same":
                    cmd = with_hogs(cmd, CORES, hog_secs)
                srv = Server(cmd, run.err_path(name))
                try:
                    with Hogs(0 if place == "same" else CORES, hog_secs) as hogs:
                        hog_pids = ([h.pid for h in hogs.procs] if place == "apart"
                                    else list(processes_where(PARENT, srv.pid)))
                        u0 = process_ticks(srv.pid)
                        out = bench(run, name, srv, args, dur=dur, warm=warm)
                        u1 = process_ticks(srv.pid)
                        out["hog_cores"] = hogs.cpu_cores() if place == "apart" else None
                        out["autogroups"] = {"uvfib": autogroup(srv.pid),
                                             "hogs": [autogroup(p) for p in hog_pids]}
                    # uvfib alone, over bench()'s window: in the same session the session's CPU
                    # (server_cores) counts the busy loops too.
                    if u0 is None or u1 is None:
                        raise RuntimeError("uvfib ended during %s" % name)
                    out["uvfib_cores"] = round((u1 - u0) / CLK_TCK / out["cpu"]["wall_s"], 3)
                    out["hogs_where"] = place
                    out["autogroup_enabled"] = enabled
                    run.save(name, out)
                finally:
                    srv.stop()


def sc_overhead(run):
    """/fibonacci/1 at 200 requests/s, no other load: through the pool (at default flags, and with
    the compute threads at normal priority) against on the loop; and the floor in the same shape,
    uvfib-floorserver answering on its loop (direct) or through one worker thread (hop)."""
    probe = ["--probe-url", "/fibonacci/1", "--probe-rate", "200", "--probe-connections", "4"]
    # The p50 of one server moves by more than the hop costs, from one start to the next and
    # from one 2 s run to the next of the same start (121-187 µs, 225-425 µs, 126-273 µs over
    # five runs each of three starts of --mode offload): the machine's state, not the sample
    # size (400 requests). So many short rounds, finely interleaved, each a fresh start.
    rounds, dur, warm = (1, run.dur, run.warm) if run.quick else (16, 2.0, 0.5)

    def floor(mode):
        return lambda name: floorserver(run, name, mode)

    def offload(*flags):
        return lambda name: uvfib(run, name, *flags, "--access-log", "off")
    # offload-normal: the pool threads left at the loop's priority, which wake sooner
    servers = (("inline", offload("--mode", "inline")), ("offload", offload("--mode", "offload")),
               ("offload-normal", offload("--mode", "offload", "--compute-priority", "normal")),
               ("floor-direct", floor("direct")), ("floor-hop", floor("hop")))
    for r in range(1, rounds + 1):
        log("overhead, round %d/%d" % (r, rounds))
        for mode, start in servers:
            name = "overhead-%s-%d" % (mode, r)
            srv = start(name)
            try:
                bench(run, name, srv, probe, dur=dur, warm=warm)
            finally:
                srv.stop()


class Shared:
    """Several uvfib processes on one port (--reuseport), measured as one server: bench() reads
    its port, command and CPU."""

    def __init__(self, servers):
        self.servers = servers
        self.port = servers[0].port
        self.cmd = [s.cmd for s in servers]

    def cpu_ticks(self):
        return sum(s.cpu_ticks() for s in self.servers)

    def stop(self):
        for s in self.servers:
            s.stop()


def connections_by_pid(port, pids):
    """{pid: established connections it holds on 127.0.0.1:port}, from /proc (the kernel's
    reuseport split, which no scrape through the shared port can see)."""
    inodes = {}
    for pid in pids:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes[link[8:-1]] = pid
    out = {pid: 0 for pid in pids}
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == port and f[3] == "01" and f[9] in inodes:
            out[inodes[f[9]]] += 1
    return out


def sc_reuseport(run):
    """One instance against two sharing its port with --reuseport, the same cores in all
    (--threads CORES, or CORES/2 each): light /fibonacci/10 on 50 connections (loop-bound),
    heavy /fibonacci/30 on 8 (pool-bound). The kernel splits connections by a hash of the
    address pair, sampled from /proc during each two-instance run."""
    half = str(max(1, CORES // 2))
    for kind, url, conns in (("light", "/fibonacci/10", 50), ("heavy", "/fibonacci/30", 8)):
        args = ["--load-url", url, "--load-connections", str(conns)]
        for r in range(1, run.rounds + 1):
            log("reuseport %s, round %d/%d" % (kind, r, run.rounds))
            name = "reuseport-%s-one-%d" % (kind, r)
            srv = uvfib(run, name, "--threads", str(CORES), "--access-log", "off")
            try:
                bench(run, name, srv, args)
            finally:
                srv.stop()
            name = "reuseport-%s-two-%d" % (kind, r)
            first = uvfib(run, name + "a", "--reuseport", "--threads", half, "--access-log", "off")
            pair = Shared([first])
            try:
                pair.servers.append(Server([UVFIB, "--port", str(first.port), "--reuseport",
                                            "--threads", half, "--access-log", "off"],
                                           run.err_path(name + "b")))
                pids = [s.pid for s in pair.servers]
                split = {}
                sampler = threading.Timer(run.warm + 0.5, lambda: split.update(
                    connections_by_pid(pair.port, pids)))
                sampler.start()
                out = bench(run, name, pair, args)
                sampler.join()
                out["connections_per_instance"] = [split.get(p, 0) for p in pids]
                run.save(name, out)
            finally:
                pair.stop()


def sc_crosscheck(run):
    """uvfib-bench's closed-loop throughput against wrk's on the same server, taking turns.
    Server-bound (/fibonacci/30, 4 connections, the judged pair): short slices in blocks of
    four, uvfib-bench, wrk, wrk, uvfib-bench, so that a steady drift favours neither, each
    slice between two timings of the limit (crosscheck-kernel-N, named in its "limits"), as
    heavy's are: whole runs, one after the other, measured the machine's drift as much as the
    generators. Both start cold after a timing (no warm-up: wrk has none). Generator-bound
    (/fibonacci/10, 50 connections, reported only): whole runs, taking turns."""
    path, conns = "/fibonacci/30", 4
    args = ["--load-url", path, "--load-connections", str(conns)]
    srv = uvfib(run, "crosscheck-heavy", "--access-log", "off")
    try:
        warm_up(run, srv, args)
        limits = Limits(run, "crosscheck")
        limits.time()
        seen = {"bench": 0, "wrk": 0}
        for i in range(4 * run.cross_blocks):
            tool = ("bench", "wrk", "wrk", "bench")[i % 4]
            seen[tool] += 1
            name = "crosscheck-heavy-%s-%d" % (tool, seen[tool])
            if tool == "bench":
                out = bench(run, name, srv, args, dur=run.heavy_dur, warm=0)
            else:
                out = wrk(run, name, srv, conns, path, run.heavy_dur)
            limits.judge(name, out)
    finally:
        srv.stop()
    path, conns = "/fibonacci/10", 50
    srv = uvfib(run, "crosscheck-light", "--access-log", "off")
    try:
        for r in range(1, run.rounds + 1):
            bench(run, "crosscheck-light-bench-%d" % r, srv,
                  ["--load-url", path, "--load-connections", str(conns)])
            wrk(run, "crosscheck-light-wrk-%d" % r, srv, conns, path, run.dur)
    finally:
        srv.stop()


MEMORY_CLIENT = r'''
import json, os, resource, socket, sys, time
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
def status():
    out = {}
    for line in open('/proc/%d/status' % pid):
        k, _, v = line.partition(':')
        if k in ('VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'Threads'):
            out[k] = int(v.split()[0])
    out['fds'] = len(os.listdir('/proc/%d/fd' % pid))
    return out
before = status()
socks = [socket.create_connection(('127.0.0.1', port), timeout=10) for _ in range(n)]
for s in socks:
    s.sendall(b'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
answered = 0
for s in socks:
    data = b''
    while not data.endswith(b'{"status":"ok"}'):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    answered += data.startswith(b'HTTP/1.1 200')
with_conns = status()
for s in socks:
    s.close()
deadline = time.monotonic() + 10
while status()['fds'] > before['fds'] and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({'connections': n, 'answered': answered, 'before': before,
                  'with_connections': with_conns, 'after_close': status()}))
'''


def sc_memory(run):
    n = 1000 if run.quick else 10000
    srv = uvfib(run, "memory", "--access-log", "off", "--keepalive-timeout", "0")
    try:
        p = subprocess.run([sys.executable, "-c", MEMORY_CLIENT, str(srv.port), str(srv.pid),
                            str(n)], capture_output=True, text=True, timeout=180, check=True)
        out = json.loads(p.stdout)
        out["server_cmd"] = srv.cmd
        run.save("memory", out)
    finally:
        srv.stop()
    log("  memory done")


def sc_tools(run):
    """scripts/bench-crosscheck: uvfib-bench against wrk and autocannon (its own bounds)."""
    secs, rounds = ("1", "1") if run.quick else ("3", "3")
    cmd = [os.path.join(ROOT, "scripts", "bench-crosscheck"), "--seconds", secs,
           "--rounds", rounds]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    run.save("tools", {"cmd": cmd, "returncode": p.returncode, "stdout": p.stdout,
                       "stderr_tail": p.stderr[-4000:]})
    log("  tools done (exit %d)" % p.returncode)


def meta(run, scenarios):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return None
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), platform.processor())
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    run.save("meta", {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
        "dirty": bool(out(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])),
        "quick": run.quick, "scenarios": scenarios, "cores": CORES, "cpu_model": model,
        "mem_gib": round(mem / 1024 / 1024, 1), "kernel": platform.release(),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "uvfib": out([UVFIB, "--version"]), "node": out(["node", "--version"]),
        "nginx": (subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"],
                                 capture_output=True, text=True).stderr.strip()),
        "wrk": (out(["wrk", "-v"]) or "").splitlines()[0] if out(["wrk", "-v"]) else None,
        "cc": (out(["cc", "--version"]) or "").splitlines()[0],
        "dur": run.dur, "warm": run.warm, "rounds": run.rounds, "ktime": run.ktime,
        "heavy_slices": run.heavy_slices, "heavy_dur": run.heavy_dur, "heavy_ktime": run.heavy_ktime,
        "cross_blocks": run.cross_blocks,
    })


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(SCENARIOS))
    a = ap.parse_args()
    wanted = [s for s in a.only.split(",") if s]
    bad = [s for s in wanted if s not in SCENARIOS]
    if bad:
        ap.error("unknown scenario %s (have %s)" % (", ".join(bad), ", ".join(SCENARIOS)))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # wrk -c1000, 10k connections
    run = Run(a.out, a.quick)
    meta(run, wanted)
    try:
        for s in SCENARIOS:
            if s in wanted:
                busy = background_cores()
                log("%s: the rest of the machine keeps %.2f cores busy" % (s, busy))
                run.save("background-" + s, {"busy_cores": busy})
                globals()["sc_" + s](run)
    finally:
        stop_all()


if __name__ == "__main__":
    main()
