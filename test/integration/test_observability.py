#!/usr/bin/env python3
"""test_observability.py - the uvfib executable's measurements from outside:
GET /metrics checked by promtool and against a known sequence of requests, the
loop delay of a heavy request in --mode inline against --mode offload, load
shedding (--max-loop-delay, --max-queue-wait) tripping and recovering, /readyz
while draining, and the access log staying prompt while the pool is saturated.

Each test starts its own server on 127.0.0.1 port 0 and reads the port from its
listening line. Deadlines, never sleeps, decide; computations that must take "a
while" are sized at run time from one timed request (F(n+1)/F(n) = phi).

Environment: UVFIB_BIN (default build/src/uvfib), PROMTOOL (default promtool).
Output: TAP on stdout; diagnostics and the server's stderr of failed tests on
stderr. Python 3 standard library only, plus promtool."""
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import tap
from uvfibtest import parse_metrics

BIN = os.environ.get("UVFIB_BIN", "build/src/uvfib")
PROMTOOL = os.environ.get("PROMTOOL", "promtool")
PHI = (1 + 5 ** 0.5) / 2
LISTEN_RE = re.compile(rb"^uvfib listening on http://([0-9.]+):(\d+)\n")


class Server:
    """One uvfib process; its stderr is collected by a thread."""

    def __init__(self, *args):
        env = {k: v for k, v in os.environ.items() if k != "PORT"}
        self.proc = subprocess.Popen([BIN, "-p", "0"] + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines = []
        self.cond = threading.Condition()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()
        buf = b""
        deadline = time.monotonic() + 5
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            chunk = os.read(self.proc.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                self.stop()
                raise AssertionError("no listening line; stderr:\n" + self.stderr())
            buf += chunk
        self.port = int(LISTEN_RE.match(buf).group(2))

    def _pump(self):
        for line in iter(self.proc.stderr.readline, b""):
            with self.cond:
                self.lines.append(line.decode("utf-8", "replace"))
                self.cond.notify_all()

    def stderr(self):
        with self.cond:
            return "".join(self.lines)

    def wait_stderr(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def stop(self, signo=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signo)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.pump.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


class Client:
    """A raw socket; responses are cut by Content-Length. Counts bytes both ways."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.sent = self.received = 0

    def send(self, path):
        data = ("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode()
        self.sock.sendall(data)
        self.sent += len(data)

    def read(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed by the server")
            self.buf += chunk
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed mid-body")
            rest += chunk
        body, self.buf = rest[:length], rest[length:]
        self.received += len(head) + 4 + length
        return status, headers, body

    def get(self, path):
        self.send(path)
        return self.read()

    def close(self):
        self.sock.close()


def get(port, path):
    c = Client(port)
    try:
        return c.get(path)
    finally:
        c.close()


def scrape(port):
    """GET /metrics as {(name, labels-tuple): value}, plus the raw text."""
    status, headers, body = get(port, "/metrics")
    assert status == 200, status
    text = body.decode()
    return parse_metrics(text), text, headers


def metric(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


_calibration = None


def n_for(seconds):
    """An n whose F(n) takes about `seconds` in this build on this machine."""
    global _calibration
    if _calibration is None:
        srv = Server("--mode", "inline", "--access-log", "off")
        try:
            n, took = 25, 0.0
            while took < 0.05 and n < 45:
                n += 3
                t0 = time.monotonic()
                assert get(srv.port, "/fibonacci/%d" % n)[0] == 200
                took = time.monotonic() - t0
            _calibration = (n, took)
        finally:
            srv.stop()
        print("# calibration: F(%d) took %.3fs" % _calibration, file=sys.stderr)
    n, took = _calibration
    return max(1, min(45, n + round(math.log(seconds / took) / math.log(PHI))))


class ObservabilityTest(unittest.TestCase):
    def setUp(self):
        self.servers = []
        self.tmp = tempfile.mkdtemp(prefix="uvfib-obs-")

    def start(self, *args):
        srv = Server(*args)
        self.servers.append(srv)
        return srv

    def tearDown(self):
        self.server_logs = []
        for srv in self.servers:
            rc = srv.stop()
            self.server_logs.append(srv.stderr())
            self.assertEqual(rc, 0, "server exit status")
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------- /metrics

    def test_metrics_pass_promtool(self):
        if shutil.which(PROMTOOL) is None:
            self.fail("promtool not found: scripts/setup installs the Debian package prometheus")
        srv = self.start("--threads", "2", "--access-log", "off")
        for path in ("/fibonacci/10", "/fibonacci/25", "/fibonacci/x", "/nope", "/healthz",
                     "/readyz"):
            get(srv.port, path)
        samples, text, headers = scrape(srv.port)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                               capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(check.stdout + check.stderr, b"", "promtool lint findings")
        # The executable configures UV_METRICS_IDLE_TIME, so ELU is there.
        self.assertEqual(metric(samples, "uvfib_eventloop_utilization_available"), 1)
        elu = metric(samples, "uvfib_eventloop_utilization")
        self.assertTrue(0 <= elu <= 1, elu)
        for name in ("uvfib_eventloop_lag_p99_seconds", "uvfib_eventloop_lag_seconds_count",
                     "uvfib_eventloop_iteration_busy_seconds_count", "uvfib_pool_busy_threads"):
            self.assertIn((name, ()), samples)

    def test_counters_add_up_after_a_known_sequence(self):
        srv = self.start("--threads", "2", "--access-log", "off", "--inline-max-n", "20")
        c = Client(srv.port)
        want = {200: 0, 400: 0, 404: 0, 422: 0}
        sequence = (["/fibonacci/10"] * 3 + ["/fibonacci/25"] * 2 +
                    ["/fibonacci/abc", "/fibonacci/99", "/nope", "/healthz"])
        for path in sequence:
            status, _, _ = c.get(path)
            want[status] += 1
        self.assertEqual(want, {200: 6, 400: 1, 404: 1, 422: 1})
        sent, received = c.sent, c.received
        c.send("/metrics")
        status, _, body = c.read()
        c.close()
        self.assertEqual(status, 200)
        samples = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        fib = 'route="/fibonacci/:number"'
        self.assertEqual(samples['uvfib_http_requests_total{%s,code="200"}' % fib], 5)
        self.assertEqual(samples['uvfib_http_requests_total{%s,code="400"}' % fib], 1)
        self.assertEqual(samples['uvfib_http_requests_total{%s,code="422"}' % fib], 1)
        self.assertEqual(samples['uvfib_http_requests_total{route="unmatched",code="404"}'], 1)
        self.assertEqual(samples['uvfib_http_requests_total{route="/healthz",code="200"}'], 1)
        self.assertEqual(samples["uvfib_http_request_duration_seconds_count"], 9)
        self.assertEqual(samples["uvfib_http_requests_parsed_total"], 10)  # and /metrics
        self.assertEqual(samples["uvfib_pool_jobs_inline_total"], 3)      # n <= 20: cheap
        self.assertEqual(samples["uvfib_pool_jobs_completed_total"], 2)
        self.assertEqual(samples["uvfib_pool_jobs_submitted_total"], 2)
        self.assertEqual(samples["uvfib_pool_compute_seconds_count"], 2)
        self.assertEqual(samples["uvfib_pool_queue_wait_seconds_count"], 2)
        self.assertEqual(samples["uvfib_http_connections_open"], 1)
        self.assertEqual(samples["uvfib_http_connections_total"], 1)
        self.assertEqual(samples["uvfib_http_received_bytes_total"], c.sent)  # /metrics too
        self.assertEqual(samples["uvfib_http_sent_bytes_total"], received)
        self.assertLess(sent, c.sent)

    # ------------------------------------------------------------- loop delay

    def heavy_lag(self, mode, n):
        """Runs one heavy request in `mode`; returns the scrape right after it."""
        srv = self.start("--mode", mode, "--threads", "2", "--loop-resolution", "5",
                         "--access-log", "off")
        wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_eventloop_lag_seconds_count") >= 5,
                 5, "the monitor to tick")
        before = scrape(srv.port)[0]
        self.assertEqual(get(srv.port, "/fibonacci/%d" % n)[0], 200)
        # Let a few ticks see the loop after the request.
        count = metric(before, "uvfib_eventloop_lag_seconds_count")
        wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_eventloop_lag_seconds_count")
                 >= count + 3, 5, "more ticks")
        return scrape(srv.port)[0]

    def test_inline_heavy_request_shows_in_loop_delay_offload_does_not(self):
        n = n_for(0.3)
        res = {}
        for mode in ("inline", "offload"):
            s = self.heavy_lag(mode, n)
            late = (metric(s, "uvfib_eventloop_lag_seconds_count") -
                    metric(s, "uvfib_eventloop_lag_seconds_bucket", le="0.1"))
            long_iter = (metric(s, "uvfib_eventloop_iteration_busy_seconds_count") -
                         metric(s, "uvfib_eventloop_iteration_busy_seconds_bucket", le="0.1"))
            res[mode] = dict(late=late, long_iter=long_iter,
                             recent=metric(s, "uvfib_eventloop_lag_recent_seconds"),
                             elu=metric(s, "uvfib_eventloop_utilization"))
        print("# F(%d): max loop delay inline %.1f ms, offload %.1f ms; ticks > 100 ms: "
              "inline %d, offload %d; iterations busy > 100 ms: inline %d, offload %d"
              % (n, res["inline"]["recent"] * 1e3, res["offload"]["recent"] * 1e3,
                 res["inline"]["late"], res["offload"]["late"], res["inline"]["long_iter"],
                 res["offload"]["long_iter"]), file=sys.stderr)
        self.assertGreaterEqual(res["inline"]["late"], 1)
        self.assertGreaterEqual(res["inline"]["long_iter"], 1)
        self.assertEqual(res["offload"]["late"], 0)
        self.assertEqual(res["offload"]["long_iter"], 0)
        # Other load on the machine delays ticks too, so compare loosely.
        self.assertGreater(res["inline"]["recent"], 2 * res["offload"]["recent"])

    def test_a_stall_shows_at_the_next_scrape_however_late_it_comes(self):
        # As prom-client's: the lag gauges cover the time since the previous scrape. This
        # scrape comes after the shedding windows that saw the stall have passed (/readyz is
        # ready again), where gauges of the last completed window would read about 0.
        n = n_for(0.25)
        srv = self.start("--mode", "inline", "--max-loop-delay", "50", "--monitor-window",
                         "100", "--access-log", "off")
        scrape(srv.port)  # the window starts here
        t0 = time.monotonic()
        self.assertEqual(get(srv.port, "/fibonacci/%d" % n)[0], 200)  # holds the loop
        stall = time.monotonic() - t0
        wait_for(lambda: get(srv.port, "/readyz")[0] == 200, 5, "the shedding windows to pass")
        s = scrape(srv.port)[0]
        window = metric(s, "uvfib_eventloop_lag_window_seconds")
        lag_max = metric(s, "uvfib_eventloop_lag_max_seconds")
        elu = metric(s, "uvfib_eventloop_utilization")
        print("# F(%d) held the loop %.0f ms; the next scrape, %.0f ms after the previous: "
              "lag max %.0f ms, utilization %.2f" % (n, stall * 1e3, window * 1e3,
                                                     lag_max * 1e3, elu), file=sys.stderr)
        self.assertGreaterEqual(window, stall)
        self.assertGreaterEqual(lag_max, 0.5 * stall)
        self.assertGreaterEqual(elu, 0.5 * stall / window)
        # That scrape ended the window: the next one starts from a quiet loop.
        again = scrape(srv.port)[0]
        again_max = metric(again, "uvfib_eventloop_lag_max_seconds")   # NaN: no tick yet
        self.assertTrue(math.isnan(again_max) or again_max < 0.5 * stall, again_max)
        self.assertLess(metric(again, "uvfib_eventloop_lag_window_seconds"), window)

    def test_a_stall_that_spans_a_scrape_shows_in_one_window(self):
        # A scrape pipelined behind an inline computation is read while the monitor's tick is
        # still overdue: its max shows the stall. The tick fires after it; the scrapes after
        # must not show the same stall again.
        n = n_for(0.25)
        srv = self.start("--mode", "inline", "--access-log", "off")
        scrape(srv.port)
        c = Client(srv.port)
        c.send("/fibonacci/%d" % n)
        c.send("/metrics")
        t0 = time.monotonic()
        self.assertEqual(c.read()[0], 200)
        stall = time.monotonic() - t0
        status, _, body = c.read()
        c.close()
        self.assertEqual(status, 200)
        first = parse_metrics(body.decode())
        self.assertGreaterEqual(metric(first, "uvfib_eventloop_lag_max_seconds"), 0.5 * stall)
        maxima = []

        def tick_recorded():
            s = scrape(srv.port)[0]
            maxima.append(metric(s, "uvfib_eventloop_lag_max_seconds"))
            return (metric(s, "uvfib_eventloop_lag_seconds_count") -
                    metric(s, "uvfib_eventloop_lag_seconds_bucket", le="0.1")) >= 1

        wait_for(tick_recorded, 5, "the late tick to be recorded")
        shown = [m for m in maxima if not math.isnan(m)] or [0.0]   # NaN: no tick in it
        print("# F(%d) held the loop %.0f ms; the scrape behind it: lag max %.0f ms; the %d "
              "after: at most %.1f ms" % (n, stall * 1e3, metric(first,
              "uvfib_eventloop_lag_max_seconds") * 1e3, len(maxima), max(shown) * 1e3),
              file=sys.stderr)
        self.assertLess(max(shown), 0.5 * stall)

    def test_head_metrics_takes_nothing_from_the_next_scrape(self):
        n = n_for(0.1)
        srv = self.start("--mode", "inline", "--access-log", "off")
        scrape(srv.port)
        self.assertEqual(get(srv.port, "/fibonacci/%d" % n)[0], 200)   # holds the loop
        c = Client(srv.port)
        c.sock.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.sock.recv(4096)
        c.close()
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        status, _, body = get(srv.port, "/metrics")
        self.assertGreater(length, 1000)   # the GET's length, give or take its numbers
        s = parse_metrics(body.decode())
        self.assertGreaterEqual(metric(s, "uvfib_eventloop_lag_max_seconds"), 0.05)

    # ------------------------------------------------------------- shedding

    def test_loop_delay_shedding_trips_and_recovers(self):
        n = n_for(0.3)
        srv = self.start("--mode", "inline", "--max-loop-delay", "100", "--monitor-window",
                         "300", "--access-log", "off")
        self.assertEqual(get(srv.port, "/fibonacci/5")[0], 200)
        self.assertEqual(get(srv.port, "/fibonacci/%d" % n)[0], 200)   # blocks the loop
        status, headers, body = get(srv.port, "/fibonacci/5")
        self.assertEqual(status, 503)
        self.assertEqual(headers["retry-after"], "1")
        err = json.loads(body)
        self.assertFalse(err["success"])
        self.assertIn("event-loop delay", err["error"])
        status, _, body = get(srv.port, "/readyz")
        self.assertEqual(status, 503)
        self.assertIn("overloaded", json.loads(body)["error"])
        self.assertEqual(get(srv.port, "/healthz")[0], 200)   # liveness is unaffected
        # Two quiet windows later the figures have recovered by themselves.
        wait_for(lambda: get(srv.port, "/readyz")[0] == 200, 5, "/readyz to recover")
        self.assertEqual(get(srv.port, "/fibonacci/5")[0], 200)
        s = scrape(srv.port)[0]
        self.assertEqual(metric(s, "uvfib_shed_requests_total", reason="loop_delay"), 1)
        self.assertEqual(metric(s, "uvfib_overloaded"), 0)

    def test_queue_wait_shedding_trips_and_recovers(self):
        n = n_for(0.2)
        srv = self.start("--mode", "offload", "--threads", "1", "--max-queue-wait", "300",
                         "--access-log", "off")
        self.assertEqual(get(srv.port, "/fibonacci/%d" % n)[0], 200)   # learns the cost
        clients = []
        # Queue computations until the expected wait (waiting / threads * recent
        # compute time) passes the limit; each one below it must be accepted.
        while True:
            s = scrape(srv.port)[0]
            if metric(s, "uvfib_pool_expected_wait_seconds") > 0.3:
                break
            self.assertLess(len(clients), 8)
            c = Client(srv.port)
            c.send("/fibonacci/%d" % n)
            clients.append(c)
            wait_for(lambda: sum(metric(scrape(srv.port)[0], name) for name in
                                 ("uvfib_pool_busy_threads", "uvfib_pool_waiting_jobs",
                                  "uvfib_pool_jobs_completed_total")) >= len(clients) + 1,
                     5, "the job to be queued")
        self.assertGreaterEqual(metric(s, "uvfib_pool_waiting_jobs"), 1)
        status, headers, body = get(srv.port, "/fibonacci/%d" % n)
        self.assertEqual(status, 503, body)
        self.assertIn("expected queue wait", json.loads(body)["error"])
        self.assertIn("retry-after", headers)
        self.assertEqual(get(srv.port, "/readyz")[0], 503)
        for c in clients:
            self.assertEqual(c.read()[0], 200)   # the accepted ones still complete
            c.close()
        self.assertEqual(get(srv.port, "/readyz")[0], 200)
        self.assertEqual(get(srv.port, "/fibonacci/%d" % n)[0], 200)
        s = scrape(srv.port)[0]
        self.assertEqual(metric(s, "uvfib_shed_requests_total", reason="queue_wait"), 1)
        # Every client after the first waited behind a running computation,
        # queued well before it ended (at least half of one each: the first
        # waiter arrives a few polls after the running job began), and it shows.
        # A machine slowed down past 0.3 s a computation trips on the first
        # client alone, caught in the queue before the thread took it: no waiter.
        waiters = len(clients) - 1
        mean_compute = (metric(s, "uvfib_pool_compute_seconds_sum") /
                        metric(s, "uvfib_pool_compute_seconds_count"))
        if waiters == 0:
            self.assertGreater(mean_compute, 0.3 / 2)  # the learnt cost, not a count, tripped
        self.assertGreater(metric(s, "uvfib_pool_queue_wait_seconds_sum"),
                           0.5 * mean_compute * waiters)

    def test_jobs_longer_than_the_average_are_refused_by_the_wait_they_get(self):
        # The average learnt from short jobs says a long one waits microseconds; the head of
        # the queue, waiting behind a long run, says otherwise, and admission believes it.
        srv = self.start("--mode", "offload", "--threads", "1", "--max-queue-wait", "300",
                         "--access-log", "off")
        self.assertEqual(get(srv.port, "/fibonacci/25")[0], 200)   # learns a cost of ~1 ms
        long_n = n_for(30.0)
        clients = []
        for waiting in (0, 1):
            c = Client(srv.port)
            c.send("/fibonacci/%d" % long_n)
            clients.append(c)
            wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_pool_waiting_jobs") == waiting,
                     5, "%d waiting" % waiting)
        wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_pool_expected_wait_seconds") > 0.3,
                 5, "the head's wait to pass the limit")
        self.refused(srv, "/fibonacci/%d" % long_n, "over the 300 ms limit", clients)

    def test_a_wait_past_the_compute_timeout_is_refused_before_it_times_out(self):
        # A job that would wait longer than --compute-timeout could only end in a 504 after
        # holding its place: it gets the retryable 503 at once, though the default
        # --max-queue-wait (5 s) would admit it.
        srv = self.start("--mode", "offload", "--threads", "1", "--compute-timeout", "1000",
                         "--access-log", "off")
        n = n_for(0.2)
        self.assertEqual(get(srv.port, "/fibonacci/%d" % n)[0], 200)   # learns the cost
        clients = [Client(srv.port)]
        clients[0].send("/fibonacci/%d" % n_for(30.0))   # holds the thread until its deadline
        wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_pool_busy_threads") == 1, 5,
                 "the computation to start")
        while metric(scrape(srv.port)[0], "uvfib_pool_expected_wait_seconds") <= 1.0:
            self.assertLess(len(clients), 20)
            c = Client(srv.port)
            c.send("/fibonacci/%d" % n)
            clients.append(c)
            wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_pool_waiting_jobs")
                     == len(clients) - 1, 5, "the job to wait")
        self.refused(srv, "/fibonacci/%d" % n, "ms compute timeout", clients)

    def refused(self, srv, path, reason, clients):
        """path is refused for its wait, saying reason; then clients leave."""
        status, headers, body = get(srv.port, path)
        self.assertEqual(status, 503, body)
        self.assertIn(reason, json.loads(body)["error"])
        self.assertIn("retry-after", headers)
        for c in clients:
            c.close()

    def test_a_run_its_client_cut_short_is_not_a_compute_time(self):
        # Each client that gives up mid-run once pulled the recent compute time (and so the
        # expected wait admission judges by) toward the few ms its job ran.
        srv = self.start("--mode", "offload", "--threads", "1", "--access-log", "off")
        self.assertEqual(get(srv.port, "/fibonacci/%d" % n_for(0.05))[0], 200)
        s = scrape(srv.port)[0]
        self.assertEqual(metric(s, "uvfib_pool_compute_seconds_count"), 1)
        done_sum = metric(s, "uvfib_pool_compute_seconds_sum")
        for i in range(3):
            c = Client(srv.port)
            c.send("/fibonacci/%d" % n_for(30.0))
            wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_pool_busy_threads") == 1, 5,
                     "the computation to start")
            c.close()
            wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_pool_jobs_cancelled_total")
                     == i + 1, 5, "the computation to be cancelled")
        s = scrape(srv.port)[0]
        self.assertEqual(metric(s, "uvfib_pool_compute_seconds_count"), 1)
        self.assertEqual(metric(s, "uvfib_pool_compute_seconds_sum"), done_sum)
        self.assertEqual(metric(s, "uvfib_pool_queue_wait_seconds_count"), 4)   # all waited

    def test_default_admission_takes_a_burst_of_hundreds_of_clients(self):
        """wrk -c500 at default admission flags: every client is queued and answered 200, none
        refused by a small count (the 64-job cap this replaced refused 99%)."""
        # 500 jobs of 0.5 ms on 2 threads: about 0.13 s of queue, far below the 5 s bound even
        # when a sanitizer build runs each several times slower. --mode offload: auto mode's
        # cut-off follows the hand-off it measures at start (under TSan it once kept n = 23 on
        # the loop), and these jobs must go through the pool's queue.
        n = n_for(0.0005)
        srv = self.start("--access-log", "off", "--mode", "offload")
        clients = [Client(srv.port) for _ in range(500)]
        for c in clients:
            c.send("/fibonacci/%d" % n)
        statuses = [c.read()[0] for c in clients]
        for c in clients:
            c.close()
        self.assertEqual(statuses.count(200), 500, sorted(set(statuses)))
        s = scrape(srv.port)[0]
        self.assertEqual(metric(s, "uvfib_pool_jobs_rejected_total"), 0)
        self.assertEqual(metric(s, "uvfib_shed_requests_total", reason="queue_wait"), 0)
        self.assertEqual(metric(s, "uvfib_pool_jobs_completed_total"), 500)

    # ------------------------------------------------------------- drain

    def test_readyz_answers_503_while_draining(self):
        srv = self.start("--access-log", "off")
        self.assertEqual(get(srv.port, "/readyz")[0], 200)
        # A request half sent keeps its connection open through the drain
        # (idle ones are closed, and the listener is gone).
        c = Client(srv.port)
        partial = b"GET /readyz HTTP/1.1\r\nHost: t\r\n"
        c.sock.sendall(partial)
        # Wait until the server has read it: every byte sent so far, this
        # scrape's own request included, is counted before it is parsed.
        sent = [len(b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n") + len(partial)]

        def all_read():
            sent[0] += len(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            return metric(scrape(srv.port)[0], "uvfib_http_received_bytes_total") >= sent[0]

        wait_for(all_read, 5, "the partial request to be read")
        srv.proc.send_signal(signal.SIGTERM)
        self.assertTrue(srv.wait_stderr(lambda ls: any("draining" in l for l in ls), 5))
        c.sock.sendall(b"\r\n")
        status, headers, body = c.read()
        self.assertEqual(status, 503)
        self.assertIn("shutting down", json.loads(body)["error"])
        self.assertEqual(headers["connection"], "close")
        c.close()
        self.assertEqual(srv.proc.wait(10), 0)

    # ------------------------------------------------------------- access log

    def test_access_log_is_prompt_while_the_pool_is_saturated(self):
        path = os.path.join(self.tmp, "access.log")
        n = n_for(3.0)
        srv = self.start("--mode", "offload", "--threads", "2", "--access-log", path)
        heavy = []
        for _ in range(4):   # two running, two waiting: every compute thread is taken
            c = Client(srv.port)
            c.send("/fibonacci/%d" % n)
            heavy.append(c)
        wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_pool_waiting_jobs") == 2, 5,
                 "the pool to saturate")
        t0 = time.monotonic()
        c = Client(srv.port)
        for i in range(20):
            self.assertEqual(c.get("/healthz?i=%d" % i)[0], 200)
        c.close()

        def logged():
            with open(path) as f:
                lines = [json.loads(line) for line in f]
            return [l for l in lines if l["route"] == "/healthz"]

        lines = wait_for(lambda: len(logged()) == 20 and logged(), 2, "20 healthz lines")
        took = time.monotonic() - t0
        s = scrape(srv.port)[0]
        self.assertEqual(metric(s, "uvfib_pool_busy_threads"), 2)   # still saturated
        print("# 20 requests answered and logged in %.0f ms with the pool saturated"
              % (took * 1e3), file=sys.stderr)
        self.assertLess(took, 1.0)
        self.assertEqual([l["path"] for l in lines], ["/healthz?i=%d" % i for i in range(20)])
        for l in lines:
            self.assertEqual((l["method"], l["status"]), ("GET", 200))
            self.assertGreater(l["bytes"], 0)
            self.assertEqual(set(l), {"time", "method", "path", "route", "status", "bytes",
                                      "duration_ms", "queue_ms", "compute_ms"})
        for c in heavy:
            c.close()   # cancels them; they are logged as 499
        wait_for(lambda: metric(scrape(srv.port)[0], "uvfib_pool_busy_threads") == 0, 5,
                 "the computations to stop")
        self.assertEqual(metric(scrape(srv.port)[0], "uvfib_accesslog_dropped_lines_total"), 0)
        wait_for(lambda: sum(1 for line in open(path) if '"status":499' in line) == 4, 2,
                 "four 499 lines")

    def test_a_target_that_doubles_when_escaped_is_logged_cut(self):
        # Quotes double in JSON: 1,100 of them once pushed the line past its buffer, and the
        # request (routed on its path, answered 200) left no line at all.
        path = os.path.join(self.tmp, "access.log")
        srv = self.start("--access-log", path)
        target = "/fibonacci/5?xy=" + '"' * 1100
        c = Client(srv.port)
        c.sock.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % target).encode())
        self.assertEqual(c.read()[0], 200)
        c.close()

        def logged():
            with open(path) as f:
                return [json.loads(line) for line in f if '"route":"/fibonacci/:number"' in line]

        line = wait_for(lambda: logged(), 2, "the line of the quoted target")[0]
        self.assertEqual(line["status"], 200)
        self.assertEqual(line["path"], target[:len(line["path"])])
        self.assertEqual(len(json.dumps(line["path"])) - 2, 1024)   # cut at 1 KiB of JSON
        self.assertEqual(metric(scrape(srv.port)[0], "uvfib_accesslog_dropped_lines_total"), 0)

    def test_access_log_defaults_to_stderr_and_can_be_off(self):
        srv = self.start("--inline-max-n", "20")
        self.assertEqual(get(srv.port, "/fibonacci/30")[0], 200)
        self.assertTrue(srv.wait_stderr(
            lambda ls: any('"path":"/fibonacci/30"' in l and '"status":200' in l for l in ls), 2))
        line = next(l for l in srv.lines if '"path":"/fibonacci/30"' in l)
        entry = json.loads(line)
        self.assertGreater(entry["compute_ms"], 0)   # n > 20 went to the pool
        quiet = self.start("--access-log", "off")
        self.assertEqual(get(quiet.port, "/healthz")[0], 200)
        s = scrape(quiet.port)[0]
        self.assertNotIn(("uvfib_accesslog_lines_total", ()), s)
        quiet.stop()
        self.assertNotIn('"path"', quiet.stderr())


# ---------------------------------------------------------------- TAP runner


if __name__ == "__main__":
    sys.exit(tap.main(sys.modules[__name__], sys.argv[1:]))
