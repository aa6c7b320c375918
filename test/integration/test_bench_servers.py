#!/usr/bin/env python3
"""test_bench_servers.py - uvfib-bench's --server-metrics against real servers: the uvfib
executable (its uvfib_eventloop_* and uvfib_pool_* gauges) and a small Node.js server with
prom-client (test/integration/node/server.js: nodejs_eventloop_lag_*_seconds and an
app-defined nodejs_eventloop_utilization). Each run puts the client's latency and the
server's loop lag in the same per-second rows; the tests check that the server's own gauges
move with the load the client applies, and the client's latency with them.

Usage: test_bench_servers.py [path/to/uvfib-bench] (else $UVFIB_BENCH); the server binary is
$UVFIB_BIN. Node.js and npm are needed (scripts/setup installs them); prom-client is installed
by this test's set-up with `npm ci` from test/integration/node/package-lock.json when it is
missing. Prints TAP. $UVFIB_WRAP, if set, wraps uvfib-bench only.
"""

import json
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
import unittest

import tap
from uvfibtest import NODE_DIR, ensure_node_modules

DELAY_MS = 50                      # node/server.js /delay
BLOCK_MS = 30                      # node/server.js /block: how long it holds the loop

BENCH = None                       # path of uvfib-bench, set in main()
UVFIB = None                       # path of uvfib


class Server:
    """A server process in its own session, started from argv, that prints
    "listening on http://127.0.0.1:PORT" when ready; stop() ends it."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, start_new_session=True, text=True)
        self.port = None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while self.port is None and time.monotonic() < deadline:
            if not sel.select(timeout=deadline - time.monotonic()):
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on http://127.0.0.1:" in line:
                self.port = int(line.rsplit(":", 1)[1])
        sel.close()
        if self.port is None:
            self.stop()
            raise RuntimeError("%s did not start: %s" % (argv[0], self.proc.stderr.read()))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


def bench(port, *args, duration=3):
    """Runs uvfib-bench --json with --server-metrics on port's /metrics; returns the report."""
    wrapper = shlex.split(os.environ.get("UVFIB_WRAP", ""))
    argv = wrapper + [BENCH, "--port", str(port), "--duration", str(duration), "--json",
                      "--server-metrics", "http://127.0.0.1:%d/metrics" % port] + list(args)
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=(duration + 30) * (5 if wrapper else 1))
    assert p.returncode == 0, "uvfib-bench exit %d: %s" % (p.returncode, p.stderr)
    return json.loads(p.stdout)


def series(report, name):
    """The metric's value in each row (None where a row lacks it)."""
    return [row["server"]["metrics"].get(name) for row in report["timeline"]]


class NodeServerTest(unittest.TestCase):
    """prom-client's loop-lag gauges beside the probe's latency."""

    @classmethod
    def setUpClass(cls):
        ensure_node_modules()

    def setUp(self):
        env = dict(os.environ, PORT="0", DELAY_MS=str(DELAY_MS), BLOCK_MS=str(BLOCK_MS))
        self.server = Server(["node", os.path.join(NODE_DIR, "server.js")], env=env)

    def tearDown(self):
        self.server.stop()

    def test_loop_lag_rises_beside_the_probe_latency(self):
        probe = ["--probe-url", "/delay", "--probe-rate", "40", "--probe-connections", "4"]
        idle = bench(self.server.port, *probe)
        loaded = bench(self.server.port, *probe, "--load-url", "/block",
                       "--load-connections", "1")
        for r in (idle, loaded):
            self.assertEqual([row["server"]["scrape"] for row in r["timeline"]], ["ok"] * 3)
            for name in ("nodejs_eventloop_lag_seconds", "nodejs_eventloop_lag_p50_seconds",
                         "nodejs_eventloop_lag_p99_seconds", "nodejs_eventloop_lag_max_seconds",
                         "nodejs_eventloop_lag_mean_seconds", "nodejs_eventloop_utilization"):
                self.assertNotIn(None, series(r, name), name)
            self.assertNotIn(None, [row["probe"]["latency_ms"]["p50"] for row in r["timeline"]])
            self.assertEqual(r["probe"]["errors"]["total"], 0)
        # The load holds the loop BLOCK_MS at a time, back to back: the server sees its loop
        # busy and late in every second, and the probe's answers wait behind it.
        lag_max = series(loaded, "nodejs_eventloop_lag_max_seconds")
        self.assertGreaterEqual(min(lag_max), BLOCK_MS / 2 / 1000, lag_max)
        # prom-client's windows run from one scrape to the next, so the loaded run's first
        # scrape also covers the idle gap between the two runs: its later seconds are loaded
        # throughout.
        elu_loaded = series(loaded, "nodejs_eventloop_utilization")[1:]
        elu_idle = series(idle, "nodejs_eventloop_utilization")[1:]
        self.assertGreater(min(elu_loaded), 0.5, elu_loaded)
        self.assertGreater(min(elu_loaded), max(elu_idle), (elu_loaded, elu_idle))
        mean_loaded = series(loaded, "nodejs_eventloop_lag_mean_seconds")
        mean_idle = series(idle, "nodejs_eventloop_lag_mean_seconds")
        self.assertGreater(sum(mean_loaded), sum(mean_idle), (mean_loaded, mean_idle))
        for row in loaded["timeline"]:
            lat = row["probe"]["latency_ms"]
            self.assertGreaterEqual(lat["p50"], DELAY_MS, row)
            self.assertGreater(lat["max"], DELAY_MS + BLOCK_MS / 3, row)
        self.assertGreater(loaded["probe"]["latency_ms"]["mean"],
                           idle["probe"]["latency_ms"]["mean"])
        self.assertGreater(loaded["load"]["requests"], 0)


class UvfibServerTest(unittest.TestCase):
    """uvfib's own loop and pool gauges, with the computation offloaded and inline."""

    def start(self, *flags):
        self.server = Server([UVFIB, "--port", "0", "--threads", "2", "--access-log", "off"] +
                             list(flags))
        self.addCleanup(self.server.stop)
        return self.server.port

    RUN = ["--probe-url", "/healthz", "--probe-rate", "100", "--probe-connections", "4",
           "--load-url", "/fibonacci/30", "--load-connections", "3"]

    def test_pool_and_loop_gauges_follow_the_mode(self):
        offload = bench(self.start("--mode", "offload"), *self.RUN)
        inline = bench(self.start("--mode", "inline"), *self.RUN)
        for r in (offload, inline):
            self.assertEqual([row["server"]["scrape"] for row in r["timeline"]], ["ok"] * 3)
            for name in ("uvfib_eventloop_lag_p99_seconds", "uvfib_eventloop_lag_max_seconds",
                         "uvfib_eventloop_utilization", "uvfib_pool_busy_threads",
                         "uvfib_pool_waiting_jobs"):
                self.assertNotIn(None, series(r, name), name)
            self.assertEqual(r["load"]["errors"]["total"], 0)
            self.assertEqual(r["probe"]["errors"]["total"], 0)
            # The load ran throughout (how much it made is a benchmark's business: a TSan
            # build sharing the cores with another test program made 86 in three seconds).
            self.assertGreater(r["load"]["requests"], 10)
        # Offloaded: three connections keep both pool threads computing; inline: the pool
        # is idle and each computation holds the loop (about a millisecond for F(30)). A
        # scrape is a moment: under valgrind, which runs one thread at a time, the loop may
        # answer it while no runner is mid-job, so one busy scrape in three is what holds.
        busy = series(offload, "uvfib_pool_busy_threads")
        self.assertGreaterEqual(sum(1 for b in busy if b >= 1), 1, busy)
        self.assertEqual(series(inline, "uvfib_pool_busy_threads"), [0, 0, 0])
        lag_max = series(inline, "uvfib_eventloop_lag_max_seconds")
        self.assertGreaterEqual(sum(1 for v in lag_max if v >= 0.0005), 2, lag_max)
        # Inline, a probe request that arrives during a computation waits for it: the
        # slowest probe answer of a second is at least the server's smallest computation.
        for row in inline["timeline"]:
            self.assertGreaterEqual(row["probe"]["latency_ms"]["max"], 0.5, row)


def main():
    global BENCH, UVFIB
    BENCH = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("UVFIB_BENCH")
    UVFIB = os.environ.get("UVFIB_BIN")
    if not BENCH or not os.access(BENCH, os.X_OK) or not UVFIB or not os.access(UVFIB, os.X_OK):
        print("1..0 # SKIP need uvfib-bench (argument or $UVFIB_BENCH) and $UVFIB_BIN")
        return 0
    return tap.main(sys.modules[__name__], sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
