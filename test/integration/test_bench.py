#!/usr/bin/env python3
"""test_bench.py - integration test of uvfib-bench, the load generator, against a tiny HTTP
server started in this process on 127.0.0.1, port 0. Not a test of the uvfib server.

The server keeps connections alive and answers by path:
  /delay    200 after DELAY_S      /fail     500 at once
  /slow     200 after SLOW_S       /missing  404 at once
  /hang     never (holds the connection until it closes)
  /eof      200 with neither Content-Length nor chunking: the body ends when it closes
  /close    closes without answering       /garbage  answers bytes that are not HTTP
  /metrics  Prometheus text whose uvfib_pool_waiting_jobs is the number of this scrape
            (1, 2, ...), beside fixed loop-lag gauges (METRICS_LAG_P99_S), so a test can tell
            which scrape landed in which second

Covers flags and exit codes (0, 2, 99), the counting, the .hgrm file and the JSON parsed
back, every threshold operator and unit, the per-second timeline against the fixed delay,
scraping /metrics, the honesty checks, --compare and the HTML/SVG report (rendered in
headless Chromium when it is installed).

Usage: test_bench.py [path/to/uvfib-bench]   (else $UVFIB_BENCH). Prints TAP, for meson's
protocol: 'tap'. Python 3 standard library only; every run of the binary is bounded by a
subprocess timeout. $UVFIB_WRAP, if set, is a command prefix the binary runs under
(valgrind, as scripts/test --valgrind sets it), never the interpreter.
"""

import json
import os
import shlex
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

import tap

DELAY_S = 0.050            # the server's fixed answer delay on /delay
DELAY_MS = DELAY_S * 1000
SLOW_S = 0.080             # ... on /slow
SLACK_MS = 20.0            # allowed on top of DELAY_MS for a p50 on a busy 2-core machine
METRICS_LAG_P99_S = 0.0125 # uvfib_eventloop_lag_p99_seconds as /metrics exports it

BENCH = None               # path of the binary, set in main()


class TestServer:
    """A keep-alive HTTP/1.1 server, one thread per connection (socketserver), so a handler
    that sleeps or hangs holds up nobody else."""

    def __init__(self):
        self.connections = 0            # accepted connections
        self.requests = {}              # path -> requests received
        self.close_on_accept = False    # close each connection at once, as an overloaded
                                        # server (Node's maxConnections) does
        self.freeze_at = None           # /freeze: answered until this time.monotonic(), then
                                        # never
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    owner._serve(self.request)
                except OSError:
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            # The default backlog of 5 drops SYNs when a dozen connections arrive at once,
            # and the kernel's 1 s SYN retransmit would then show up in the latencies.
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _serve(self, sock):
        with self._lock:
            self.connections += 1
        if self.close_on_accept:
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            path = parts[1].decode() if len(parts) == 3 else ""
            with self._lock:
                self.requests[path] = self.requests.get(path, 0) + 1
            if path == "/hang" or (path == "/freeze" and time.monotonic() >= self.freeze_at):
                while sock.recv(65536):         # until the client gives up
                    pass
                return
            if path == "/close":
                return
            if path == "/garbage":
                sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                continue
            if path == "/early":   # 103 Early Hints, then the answer after DELAY_S
                sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
                time.sleep(DELAY_S)
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                continue
            if path == "/eof":
                sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe body")
                return
            if path == "/freeze":
                status, body = "200 OK", b'{"success":true}'
            elif path == "/fail":
                status, body = "500 Internal Server Error", b'{"success":false}'
            elif path in ("/delay", "/slow"):
                time.sleep(DELAY_S if path == "/delay" else SLOW_S)
                status, body = "200 OK", b'{"success":true}'
            elif path == "/metrics":
                status, body = "200 OK", self._metrics_text()
            else:
                status, body = "404 Not Found", b'{"success":false}'
            sock.sendall(("HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n" % (status, len(body))).encode() + body)

    def _metrics_text(self):
        with self._lock:
            n = self.requests["/metrics"]
        return ("# HELP uvfib_pool_waiting_jobs Scrapes so far.\n"
                "# TYPE uvfib_pool_waiting_jobs gauge\n"
                "uvfib_pool_waiting_jobs %d\n"
                "uvfib_eventloop_lag_p99_seconds{instance=\"t\"} %g\n"
                "uvfib_eventloop_lag_max_seconds 0.5\n"
                "nodejs_eventloop_lag_p99_seconds 0.001\n"
                "some_other_metric 7\n" % (n, METRICS_LAG_P99_S)).encode()


def run_bench(args, timeout):
    """Runs uvfib-bench, under $UVFIB_WRAP if set (e.g. "valgrind --error-exitcode=99
    --leak-check=full"); returns (exit status, stdout, stderr, seconds taken)."""
    wrapper = shlex.split(os.environ.get("UVFIB_WRAP", ""))
    t0 = time.monotonic()
    p = subprocess.run(wrapper + [BENCH] + args, capture_output=True, text=True,
                       timeout=timeout * (5 if wrapper else 1))
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


class BenchTest(unittest.TestCase):
    def setUp(self):
        self.server = TestServer()
        self.server.start()

    def tearDown(self):
        self.server.stop()

    def bench_json(self, *args, duration=2.0, warmup=0.0, status=0):
        argv = ["--port", str(self.server.port), "--duration", str(duration),
                "--warmup", str(warmup), "--json"] + list(args)
        rc, out, err, _ = run_bench(argv, timeout=duration + warmup + 20)
        self.assertEqual(rc, status, "exit status; stderr: " + err)
        self.last_stderr = err
        report = json.loads(out)
        self.assertEqual(report["tool"], "uvfib-bench")
        self.assertEqual(report["format"], 1)
        self.assertFalse(report["interrupted"], "someone sent uvfib-bench SIGINT or SIGTERM")
        self.assertAlmostEqual(report["window_s"], duration, delta=0.01)
        return report

    # -- flags --------------------------------------------------------------------------

    def test_help_exits_0_and_documents_json(self):
        rc, out, _, _ = run_bench(["--help"], timeout=10)
        self.assertEqual(rc, 0)
        for word in ("--probe-rate", "--allow-remote", '"latency_ms"', '"service_ms"', "p99_9",
                     "--hgrm", "--threshold", "--server-metrics", "--report", "--compare",
                     "--timeline", "99 the run completed and a --threshold failed",
                     "docs/bench-tool.md"):
            self.assertIn(word, out)

    def test_bad_flags_exit_2(self):
        cases = [
            [],                                                   # --duration is required
            ["--duration", "1"],                                  # no workload
            ["--duration", "1", "--probe-rate", "5", "--bogus"],
            ["--duration", "0", "--probe-rate", "5"],
            ["--duration", "1e-9", "--probe-rate", "5"],              # below the timers' ms
            ["--duration", "0x1p-1", "--probe-rate", "5"],            # decimal only
            ["--duration", "3601", "--probe-rate", "5"],
            ["--duration", "1", "--probe-rate", "5", "--port", "70000"],
            ["--duration", "1", "--probe-rate", "-5"],
            ["--duration", "1", "--load-connections", "2", "--load-url", "no-slash"],
            ["--duration", "1", "--probe-rate", "5", "stray"],
            ["--duration", "1", "--probe-rate", "5", "--report", "out.pdf"],
            ["--duration", "1", "--probe-rate", "5", "--server-metrics", "https://127.0.0.1/m"],
            ["--duration", "1", "--probe-rate", "5", "--server-metrics", "http://:80/m"],
            ["--duration", "1", "--probe-rate", "5", "--server-metrics", "http://h:0/m"],
            ["--duration", "1", "--probe-rate", "5", "--server-metrics", "http://[::1/m"],
            ["--duration", "1", "--probe-rate", "5", "--server-metrics", "http://h/a b"],
            ["--duration", "1", "--probe-rate", "5", "--threshold", "load.p99<5ms"],
            ["--duration", "1", "--load-connections", "1", "--threshold", "p99<5ms"],
            ["--compare", "a.json"],
            ["--compare", "a.json", "b.json", "c.json"],
            ["--compare", "a.json", "b.json", "--duration", "1"],
        ]
        for argv in cases:
            rc, out, err, _ = run_bench(argv, timeout=10)
            self.assertEqual(rc, 2, "argv %r: stderr %r" % (argv, err))
            self.assertEqual(out, "")
        self.assertEqual(self.server.connections, 0)

    def test_refuses_non_loopback_host(self):
        # 10.0.0.1 is never contacted: the run (5 s) does not even start.
        rc, out, err, took = run_bench(
            ["--host", "10.0.0.1", "--port", "80", "--duration", "5", "--timeout", "5000",
             "--probe-rate", "10", "--load-connections", "1", "--json"], timeout=10)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("--allow-remote", err)
        self.assertLess(took, 4.0)   # --duration 5 was never run

    # -- measurements -------------------------------------------------------------------

    def test_probe_latency_and_rate_beside_load(self):
        rate = 100
        r = self.bench_json("--probe-url", "/delay", "--probe-rate", str(rate),
                            "--probe-connections", "10",
                            "--load-url", "/delay", "--load-connections", "2",
                            duration=2.0, warmup=0.5)
        probe, load = r["probe"], r["load"]
        # The probe: corrected p50 is the server's delay plus little; it kept its rate.
        lat = probe["latency_ms"]
        self.assertGreaterEqual(lat["p50"], DELAY_MS, lat)
        self.assertLessEqual(lat["p50"], DELAY_MS + SLACK_MS, lat)
        self.assertGreaterEqual(lat["p99"], lat["p50"])
        self.assertGreaterEqual(lat["max"], lat["p99"])
        # 200 responses: p99.9 would only repeat the maximum, so it is withheld.
        self.assertIsNone(lat["p99_9"])
        self.assertTrue(any("p99.9" in w and "withheld" in w for w in r["warnings"]))
        self.assertGreaterEqual(lat["p50"] + 0.001, probe["service_ms"]["p50"])
        self.assertAlmostEqual(probe["throughput_rps"], rate, delta=rate * 0.1)
        self.assertEqual(probe["errors"]["total"], 0, probe["errors"])
        # Every response, and the requests in flight at the end with their wait by then (not
        # one sent early for a time past the end).
        self.assertGreaterEqual(lat["count"], probe["requests"])
        self.assertLessEqual(lat["count"], probe["requests"] + probe["unfinished"])
        # The closed loop: 2 connections at one answer per DELAY_S each.
        self.assertGreater(load["requests"], 0)
        self.assertLessEqual(load["throughput_rps"], 2 / DELAY_S * 1.05)
        self.assertGreaterEqual(load["latency_ms"]["p50"], DELAY_MS)
        self.assertLessEqual(load["latency_ms"]["p50"], DELAY_MS + SLACK_MS)
        self.assertEqual(load["errors"]["total"], 0, load["errors"])
        self.assertEqual(load["connects"], 2)
        self.assertEqual(probe["connects"], 10)

    def test_probe_corrects_coordinated_omission(self):
        # One connection, a request due every 25 ms, each answered after 50 ms: the server
        # keeps up with half the rate, so the backlog, and the corrected latency, grow.
        r = self.bench_json("--probe-url", "/delay", "--probe-rate", "40",
                            "--probe-connections", "1", duration=2.0)
        probe = r["probe"]
        service, lat = probe["service_ms"], probe["latency_ms"]
        self.assertGreaterEqual(service["p50"], DELAY_MS)
        self.assertLessEqual(service["p50"], DELAY_MS + SLACK_MS)
        self.assertGreater(lat["p90"], service["p90"] + 300, (lat, service))
        self.assertGreater(lat["p50"], service["p50"] + 100, (lat, service))
        self.assertLess(probe["throughput_rps"], 40 * 0.7)
        self.assertGreater(probe["unfinished"], 10)
        # About 40 responses: p99 has too few samples behind it and is withheld.
        self.assertLess(lat["count"], 100)
        self.assertIsNone(lat["p99"])
        # The probe fell behind its schedule through the server, not through the generator.
        self.assertGreater(probe["late"], 10)
        self.assertLess(probe["late_generator"], probe["late"])
        self.assertLess(probe["sent"], 0.9 * probe["intended"])
        self.assertTrue(any(w.startswith("probe: ") and "intended requests were sent" in w
                            for w in r["warnings"]), r["warnings"])

    def test_error_statuses_counted_by_class(self):
        r = self.bench_json("--probe-url", "/fail", "--probe-rate", "50",
                            "--probe-connections", "2",
                            "--load-url", "/missing", "--load-connections", "1", duration=1.0)
        probe, load = r["probe"], r["load"]
        self.assertGreater(probe["requests"], 30)
        self.assertEqual(probe["errors"]["status_5xx"], probe["requests"])
        self.assertEqual(probe["errors"]["status_4xx"], 0)
        self.assertEqual(probe["errors"]["total"], probe["requests"])
        self.assertGreater(load["requests"], 0)
        self.assertEqual(load["errors"]["status_4xx"], load["requests"])
        self.assertEqual(load["errors"]["total"], load["requests"])
        self.assertEqual(load["connects"], 1)   # error statuses keep the connection

    def test_never_answering_path_times_out(self):
        r = self.bench_json("--load-url", "/hang", "--load-connections", "2",
                            "--probe-url", "/hang", "--probe-rate", "10",
                            "--probe-connections", "1", "--timeout", "200", duration=1.5)
        load, probe = r["load"], r["probe"]
        self.assertEqual(load["requests"], 0)
        # 2 connections, one 200 ms timeout after another, over 1.5 s.
        self.assertGreaterEqual(load["errors"]["timeout"], 8, load["errors"])
        self.assertEqual(load["errors"]["total"], load["errors"]["timeout"])
        self.assertIsNone(load["latency_ms"]["p50"])
        self.assertEqual(load["latency_ms"]["count"], 0)
        self.assertGreaterEqual(probe["errors"]["timeout"], 4, probe["errors"])
        # Every timeout replaced its connection.
        self.assertGreaterEqual(self.server.connections, 8)

    def test_requests_unanswered_at_the_end_count_with_their_wait(self):
        # A server that stops answering for the last second of the window: its requests
        # neither finish nor time out inside it. Each counts in the probe's latency with the
        # wait it had at the end, so the stall shows and a latency threshold fails.
        self.server.freeze_at = time.monotonic() + 1.0
        r = self.bench_json("--probe-url", "/freeze", "--probe-rate", "50",
                            "--probe-connections", "1", "--timeout", "10000",
                            "--threshold", "max<100ms", status=99)
        probe = r["probe"]
        self.assertEqual(probe["errors"]["total"], 0, probe["errors"])
        self.assertGreater(probe["unfinished"], 20)
        # Every unfinished one is in, but one sent early for a time past the end.
        self.assertIn(probe["latency_ms"]["count"] - probe["requests"],
                      (probe["unfinished"], probe["unfinished"] - 1))
        self.assertGreater(probe["latency_ms"]["max"], 500)
        # Half the window unsent: the probe fell behind, and the report says that.
        self.assertTrue(any("intended requests were sent" in w for w in r["warnings"]),
                        r["warnings"])

    def test_a_request_due_at_the_end_is_not_unfinished(self):
        # The window is [start, end): at 100/s over 1 s, 100 sends are due, not 101.
        r = self.bench_json("--probe-url", "/hang", "--probe-rate", "100",
                            "--probe-connections", "1", "--timeout", "10000", duration=1.0)
        probe = r["probe"]
        self.assertEqual(probe["intended"], 100)
        self.assertEqual(probe["unfinished"], 100)
        self.assertEqual(probe["requests"], 0)
        self.assertEqual(probe["latency_ms"]["count"], 100)

    def test_the_warmup_requests_unanswered_at_the_end_are_not_measured(self):
        # The first request (due in the warmup) hangs, and so does the probe: of what is
        # unanswered at the end, only the 100 requests due inside the window are latencies.
        r = self.bench_json("--probe-url", "/hang", "--probe-rate", "100",
                            "--probe-connections", "1", "--timeout", "10000", duration=1.0,
                            warmup=0.5)
        probe = r["probe"]
        self.assertEqual(probe["intended"], 100)
        self.assertEqual(probe["unfinished"], 101)   # and the warmup's, still in flight
        self.assertEqual(probe["latency_ms"]["count"], 100)
        self.assertLessEqual(probe["latency_ms"]["max"], 1000.0)

    def test_a_server_that_closes_at_once_gets_a_connect_per_send(self):
        # Reconnecting the moment the server closed made thousands of connects a second at
        # --probe-rate 1; the probe now connects again shortly before its next send.
        self.server.close_on_accept = True
        r = self.bench_json("--probe-url", "/", "--probe-rate", "10", "--probe-connections",
                            "1", duration=1.0)
        self.assertLessEqual(self.server.connections, 30, r["probe"])
        self.assertGreaterEqual(self.server.connections, 5)

    def test_an_interim_response_is_not_the_answer(self):
        r = self.bench_json("--load-url", "/early", "--load-connections", "1", duration=0.5)
        load = r["load"]
        self.assertGreater(load["requests"], 0)
        self.assertEqual(load["errors"]["total"], 0, load["errors"])
        self.assertEqual(load["connects"], 1)
        self.assertGreaterEqual(load["latency_ms"]["min"], DELAY_MS)   # timed to the 200

    def test_close_delimited_responses_reconnect_without_errors(self):
        r = self.bench_json("--load-url", "/eof", "--load-connections", "1", duration=0.5)
        load = r["load"]
        self.assertGreater(load["requests"], 5)
        self.assertEqual(load["errors"]["total"], 0, load["errors"])
        self.assertGreaterEqual(load["connects"], load["requests"])

    def test_resets_and_garbage_are_read_and_parse_errors(self):
        r = self.bench_json("--load-url", "/garbage", "--load-connections", "1",
                            "--probe-url", "/close", "--probe-rate", "20",
                            "--probe-connections", "2", duration=0.5)
        load, probe = r["load"], r["probe"]
        self.assertEqual(load["requests"], 0)
        self.assertGreater(load["errors"]["parse"], 0)
        self.assertEqual(load["errors"]["total"], load["errors"]["parse"], load["errors"])
        self.assertEqual(probe["requests"], 0)
        self.assertGreaterEqual(probe["errors"]["read"], 5, probe["errors"])
        self.assertEqual(probe["errors"]["total"], probe["errors"]["read"], probe["errors"])

    def test_connection_refused_is_a_connect_error(self):
        # A port nobody listens on: take one from the OS and close it again.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        rc, out, err, _ = run_bench(["--port", str(port), "--duration", "0.5", "--json",
                                     "--load-connections", "1"], timeout=20)
        self.assertEqual(rc, 0, err)
        load = json.loads(out)["load"]
        self.assertGreater(load["errors"]["connect"], 0)
        self.assertLessEqual(load["errors"]["connect"], 10)   # 100 ms backoff, not a spin
        self.assertEqual(load["requests"], 0)

    def test_text_report_and_localhost(self):
        rc, out, err, _ = run_bench(["--host", "localhost", "--port", str(self.server.port),
                                     "--duration", "0.5", "--probe-url", "/delay",
                                     "--probe-rate", "20"], timeout=20)
        self.assertEqual(rc, 0, err)
        for word in ("probe", "p99.9", "corrected", "uncorrected", "errors"):
            self.assertIn(word, out)
        self.assertGreater(self.server.requests.get("/delay", 0), 0)


    # -- output formats -------------------------------------------------------------------

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="uvfib-bench-test-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_hgrm_file_parses_back_and_agrees_with_json(self):
        path = os.path.join(self.tmpdir(), "probe.hgrm")
        r = self.bench_json("--probe-url", "/delay", "--probe-rate", "100",
                            "--probe-connections", "10", "--hgrm", path, duration=2.0)
        lat = r["probe"]["latency_ms"]
        rows, footer = parse_hgrm(open(path).read())
        self.assertGreater(len(rows), 10)
        values = [v for v, _, _ in rows]
        fractions = [p for _, p, _ in rows]
        totals = [t for _, _, t in rows]
        self.assertEqual(values, sorted(values))
        self.assertEqual(fractions, sorted(fractions))
        self.assertEqual(len(set(fractions)), len(fractions))
        self.assertEqual(totals, sorted(totals))
        self.assertEqual(fractions[0], 0.0)
        self.assertEqual(fractions[-1], 1.0)
        self.assertEqual(totals[-1], lat["count"])
        self.assertEqual(footer["Total count"], lat["count"])
        self.assertAlmostEqual(footer["Max"], lat["max"], delta=0.0011)
        self.assertAlmostEqual(values[-1], lat["max"], delta=0.0011)
        self.assertAlmostEqual(footer["Mean"], lat["mean"], delta=0.0011)
        self.assertAlmostEqual(footer["StdDeviation"], lat["stddev"], delta=0.0011)
        self.assertEqual((footer["Buckets"], footer["SubBuckets"]), (35, 256))
        # The median row: the fixed delay, in milliseconds like wrk2's .hgrm.
        median = next(v for v, p, _ in rows if p >= 0.5)
        self.assertGreaterEqual(median, DELAY_MS)
        self.assertLessEqual(median, DELAY_MS + SLACK_MS)

    def test_json_carries_autocannon_fields(self):
        r = self.bench_json("--probe-url", "/delay", "--probe-rate", "50",
                            "--probe-connections", "5",
                            "--load-url", "/delay", "--load-connections", "1", duration=3.0)
        probe = r["probe"]
        self.assertAlmostEqual(r["duration"], r["window_s"])
        # Top level: autocannon's blocks, for the probe (it is on).
        lat, req, thr = r["latency"], r["requests"], r["throughput"]
        for block in (lat, req, thr):
            for key in ("average", "mean", "stddev", "min", "max", "p50", "p90", "p97_5",
                        "p99", "p99_9", "p2_5"):
                self.assertIn(key, block)
            self.assertEqual(block["average"], block["mean"])
        self.assertEqual(lat["totalCount"], probe["latency_ms"]["count"])
        self.assertAlmostEqual(lat["mean"], probe["latency_ms"]["mean"], delta=0.0011)
        self.assertAlmostEqual(lat["p50"], probe["latency_ms"]["p50"], delta=0.0011)
        self.assertEqual(req["total"], probe["requests"])
        self.assertEqual(req["sent"], probe["sent"])
        self.assertEqual(thr["total"], probe["bytes"])
        # requests and throughput are per-second samples, from the whole timeline rows.
        per_s = [row["probe"]["responses"] for row in r["timeline"] if row["span_s"] >= 1]
        self.assertEqual(len(per_s), 3)
        self.assertAlmostEqual(req["mean"], sum(per_s) / len(per_s), delta=0.01)
        self.assertEqual(req["min"], min(per_s))
        self.assertEqual(req["max"], max(per_s))
        self.assertIsNone(req["p99"])                 # 3 samples: withheld
        bytes_s = [row["probe"]["bytes"] for row in r["timeline"]]
        self.assertAlmostEqual(thr["mean"], sum(bytes_s) / 3, delta=1)
        self.assertGreater(thr["mean"], 50 * 60)      # 50 responses a second, ~100 bytes each
        # The same blocks for each workload.
        self.assertEqual(probe["autocannon"]["latency"], lat)
        self.assertEqual(r["load"]["autocannon"]["requests"]["total"], r["load"]["requests"])

    # -- thresholds -----------------------------------------------------------------------

    HOLDING = ["p50>=40ms", "p50<1s", "p50<=200000us", "p50<=200000\u00b5s",
               "p50<200000\u03bcs", "p50>0.04s", "p(90)<1000", "p90 < 1000 ms", "max!=0",
               "mean>=40", "stddev<1s", "min>0", "errors==0", "error_rate<1%",
               "error_rate<=0", "rps>=40", "requests>50", "probe.requests!=0",
               "load.errors>0", "load.error_rate==100%", "load.error_rate>0.5", "load.rps>1",
               "load.p50<1s"]

    def threshold_run(self, extra, status, text=False):
        argv = ["--port", str(self.server.port), "--duration", "2",
                "--probe-url", "/delay", "--probe-rate", "50", "--probe-connections", "5",
                "--load-url", "/missing", "--load-connections", "1"]
        argv += [] if text else ["--json"]
        for expr in self.HOLDING + extra:
            argv += ["--threshold", expr]
        rc, out, err, _ = run_bench(argv, timeout=30)
        self.assertEqual(rc, status, "stderr: " + err)
        return out, err

    def test_thresholds_that_hold_exit_0(self):
        out, err = self.threshold_run([], 0)
        verdicts = json.loads(out)["thresholds"]
        self.assertEqual([v["expr"] for v in verdicts], self.HOLDING)
        for v in verdicts:
            self.assertTrue(v["held"], v)
            self.assertIsNone(v["reason"])
        by_expr = {v["expr"]: v for v in verdicts}
        self.assertEqual(by_expr["load.error_rate==100%"]["value"], 100)
        self.assertEqual(by_expr["load.error_rate==100%"]["unit"], "%")
        self.assertEqual(by_expr["load.errors>0"]["workload"], "load")
        self.assertGreaterEqual(by_expr["p50>=40ms"]["value"], DELAY_MS)
        self.assertEqual(by_expr["p50>=40ms"]["unit"], "ms")
        self.assertIn("thresholds:", err)      # the verdicts also go to stderr with --json

    def test_a_failed_threshold_exits_99(self):
        failing = ["p50<1ms", "errors>0", "load.rps<1", "p99.9<10s"]
        out, _ = self.threshold_run(failing, 99)
        verdicts = {v["expr"]: v for v in json.loads(out)["thresholds"]}
        for expr in self.HOLDING:
            self.assertTrue(verdicts[expr]["held"], verdicts[expr])
        for expr in failing:
            self.assertFalse(verdicts[expr]["held"], verdicts[expr])
        # 100 responses cannot carry a p99.9: it fails for want of samples, not on its value.
        self.assertIsNone(verdicts["p99.9<10s"]["value"])
        self.assertIn("too few samples", verdicts["p99.9<10s"]["reason"])
        self.assertIsNotNone(verdicts["p50<1ms"]["value"])
        # The table report says which held.
        out, _ = self.threshold_run(["p50<1ms"], 99, text=True)
        self.assertRegex(out, r"FAIL\s+p50<1ms")
        self.assertRegex(out, r"ok\s+errors==0")

    def test_malformed_threshold_exits_2_before_any_request(self):
        for expr in ["p99<5xs", "p99", "errors<5ms", "p99=5", "p101<1", "rps>1%", "<5",
                     "load.p99<", "p99<-1"]:
            rc, out, err, _ = run_bench(["--port", str(self.server.port), "--duration", "1",
                                         "--probe-rate", "5", "--threshold", expr], timeout=10)
            self.assertEqual(rc, 2, expr)
            self.assertIn("malformed threshold", err)
            self.assertEqual(out, "")
        self.assertEqual(self.server.connections, 0)

    # -- timeline, server metrics, honesty ------------------------------------------------

    def test_timeline_against_the_fixed_delay(self):
        r = self.bench_json("--probe-url", "/delay", "--probe-rate", "40",
                            "--probe-connections", "4", "--load-url", "/delay",
                            "--load-connections", "2", duration=3.0)
        rows = r["timeline"]
        self.assertEqual([row["t_s"] for row in rows], [0, 1, 2])
        for row in rows:
            p, load = row["probe"], row["load"]
            self.assertEqual(row["span_s"], 1)
            self.assertLessEqual(abs(p["intended"] - 40), 1, row)
            self.assertLessEqual(abs(p["sent"] - 40), 2, row)
            self.assertLessEqual(p["late_generator"], p["late"], row)
            self.assertLessEqual(p["late"], p["sent"], row)
            self.assertGreaterEqual(p["responses"], 35, row)
            self.assertEqual(p["errors"], 0)
            # Each second's median is the fixed delay.
            self.assertGreaterEqual(p["latency_ms"]["p50"], DELAY_MS, row)
            self.assertLessEqual(p["latency_ms"]["p50"], DELAY_MS + 2 * SLACK_MS, row)
            self.assertGreaterEqual(p["latency_ms"]["max"], p["latency_ms"]["p50"])
            self.assertIsNone(p["latency_ms"]["p99"])   # 40 a second: too few for p99
            # Two closed-loop connections at one answer per 50 ms each: up to 40 a second.
            self.assertGreater(load["throughput_rps"], 20, row)
            self.assertLessEqual(load["throughput_rps"], 2 / DELAY_S + 1, row)
            self.assertGreaterEqual(load["latency_ms"]["p50"], DELAY_MS)
            self.assertIsNone(row["server"])
            self.assertGreaterEqual(row["generator"]["cpu_cores"], 0)
            self.assertLess(row["generator"]["cpu_cores"], 1.5)
        # The rows add up to the totals.
        probe = r["probe"]
        self.assertEqual(sum(row["probe"]["responses"] for row in rows), probe["requests"])
        self.assertEqual(sum(row["probe"]["sent"] for row in rows), probe["sent"])
        self.assertEqual(sum(row["probe"]["intended"] for row in rows), probe["intended"])
        self.assertEqual(sum(row["probe"]["bytes"] for row in rows), probe["bytes"])
        self.assertEqual(sum(row["load"]["responses"] for row in rows), r["load"]["requests"])
        self.assertIsNone(r["server_metrics"])

    def test_timeline_table_in_text(self):
        rc, out, err, _ = run_bench(["--port", str(self.server.port), "--duration", "2",
                                     "--probe-url", "/delay", "--probe-rate", "20",
                                     "--timeline"], timeout=20)
        self.assertEqual(rc, 0, err)
        lines = out[out.index("timeline ("):].splitlines()
        self.assertIn("p50", lines[1])
        self.assertRegex(lines[2], r"^\s+0\s+20\s+")
        self.assertRegex(lines[3], r"^\s+1\s+20\s+")

    def test_server_metrics_scraped_each_second(self):
        url = "http://127.0.0.1:%d/metrics" % self.server.port
        r = self.bench_json("--probe-url", "/delay", "--probe-rate", "20",
                            "--server-metrics", url, duration=3.0)
        rows = r["timeline"]
        self.assertEqual(len(rows), 3)
        scraped = [row["server"]["metrics"]["uvfib_pool_waiting_jobs"] for row in rows]
        # One scrape per second, in order: the server numbered them 1, 2, 3.
        self.assertEqual(scraped, [1, 2, 3])
        self.assertEqual(self.server.requests["/metrics"], 3)
        for row in rows:
            s = row["server"]
            self.assertEqual(s["scrape"], "ok")
            self.assertEqual(s["http_status"], 200)
            self.assertGreater(s["scrape_ms"], 0)
            m = s["metrics"]
            self.assertEqual(m["uvfib_eventloop_lag_p99_seconds"], METRICS_LAG_P99_S)
            self.assertEqual(m["uvfib_eventloop_lag_max_seconds"], 0.5)
            self.assertEqual(m["nodejs_eventloop_lag_p99_seconds"], 0.001)
            self.assertNotIn("some_other_metric", m)
            self.assertNotIn("uvfib_pool_busy_threads", m)   # not exported: absent, not 0
        sm = r["server_metrics"]
        self.assertEqual((sm["url"], sm["scrapes"], sm["ok"]), (url, 3, 3))
        self.assertIsNone(sm["first_error"])
        self.assertFalse([w for w in r["warnings"] if w.startswith("server metrics")])

    def test_failed_scrapes_are_reported_and_never_hold_up_the_probe(self):
        url = "http://localhost:%d/hang" % self.server.port
        r = self.bench_json("--probe-url", "/delay", "--probe-rate", "40",
                            "--probe-connections", "4", "--server-metrics", url,
                            "--timeout", "600", duration=3.0)
        states = [row["server"]["scrape"] for row in r["timeline"]]
        self.assertEqual(states.count("ok"), 0)
        self.assertIn("timeout", states)
        sm = r["server_metrics"]
        self.assertEqual(sm["ok"], 0)
        self.assertIn("within --timeout", sm["first_error"])
        self.assertTrue(any(w.startswith("server metrics: 3 of 3 seconds have no scrape")
                            for w in r["warnings"]), r["warnings"])
        lat = r["probe"]["latency_ms"]
        self.assertLessEqual(lat["p50"], DELAY_MS + SLACK_MS)
        self.assertEqual(r["probe"]["errors"]["total"], 0)

        r = self.bench_json("--probe-url", "/delay", "--probe-rate", "10",
                            "--server-metrics", "http://127.0.0.1:%d/missing" % self.server.port,
                            duration=1.0)
        s = r["timeline"][0]["server"]
        self.assertEqual((s["scrape"], s["http_status"], s["metrics"]), ("status", 404, {}))

    def test_refuses_non_loopback_server_metrics(self):
        rc, out, err, took = run_bench(["--port", str(self.server.port), "--duration", "5",
                                        "--probe-rate", "10", "--server-metrics",
                                        "http://10.0.0.1:9090/metrics"], timeout=10)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("--allow-remote", err)
        self.assertLess(took, 4.0)
        self.assertEqual(self.server.connections, 0)

    def test_generator_stall_is_reported(self):
        # Stop uvfib-bench itself for half a second mid-run: its probe timers fire late with
        # their connections idle, which is the generator's fault and must be said.
        argv = ["--port", str(self.server.port), "--duration", "3", "--json",
                "--probe-url", "/delay", "--probe-rate", "100", "--probe-connections", "10"]
        wrapper = shlex.split(os.environ.get("UVFIB_WRAP", ""))
        p = subprocess.Popen(wrapper + [BENCH] + argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_for(lambda: self.server.requests.get("/delay", 0) >= 50, 20),
                            "the probe never got going")
            p.send_signal(signal.SIGSTOP)
            time.sleep(0.5)            # the length of the stall, not a wait for an event
            p.send_signal(signal.SIGCONT)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 0, err)
        r = json.loads(out)
        probe = r["probe"]
        self.assertGreater(probe["late_generator"], 0.01 * probe["sent"])
        self.assertGreater(r["generator"]["timer_lag_ms"]["max"], 300)
        self.assertTrue(any(w.startswith("generator: ") and "did not keep the probe's rate" in w
                            for w in r["warnings"]), r["warnings"])
        self.assertIn("uvfib-bench: warning: generator:", err)
        self.assertGreater(max(row["probe"]["late_generator"] for row in r["timeline"]), 0)

    # -- compare --------------------------------------------------------------------------

    def test_compare_tells_a_real_difference_from_noise(self):
        d = self.tmpdir()
        paths = {}
        for name, url in (("a", "/delay"), ("b", "/slow")):
            rc, out, err, _ = run_bench(["--port", str(self.server.port), "--duration", "4",
                                         "--probe-url", url, "--probe-rate", "40",
                                         "--probe-connections", "4", "--json"], timeout=30)
            self.assertEqual(rc, 0, err)
            paths[name] = os.path.join(d, name + ".json")
            with open(paths[name], "w") as f:
                f.write(out)
        rc, out, err, _ = run_bench(["--compare", paths["a"], paths["b"], "--json"], timeout=10)
        self.assertEqual(rc, 0, err)
        figs = {f["figure"]: f for f in json.loads(out)["figures"]}
        p50 = figs["probe latency p50 (ms)"]
        self.assertTrue(p50["beyond_noise"], p50)
        self.assertLess(p50["p_value"], 0.05)
        self.assertEqual((p50["seconds_a"], p50["seconds_b"]), (4, 4))
        want = (SLOW_S - DELAY_S) / DELAY_S * 100
        self.assertAlmostEqual(p50["change_pct"], want, delta=30)
        self.assertIsNone(figs["load throughput (req/s)"]["a"])   # no load in either run
        # A run against itself: no difference at all.
        rc, out, _, _ = run_bench(["--compare", paths["a"], paths["a"], "--json"], timeout=10)
        self.assertEqual(rc, 0)
        for f in json.loads(out)["figures"]:
            if f["a"] is not None:
                self.assertEqual(f["change_pct"], 0, f)
                self.assertFalse(f["beyond_noise"], f)
        rc, out, _, _ = run_bench(["--compare", paths["a"], paths["b"]], timeout=10)
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"probe latency p50 \(ms\)\s+5\d\.\d+\s+8\d\.\d+\s+\+\d+\.\d%"
                              r"\s+\d\.\d+\s+yes")
        # Not reports: exit 2; missing: exit 1.
        junk = os.path.join(d, "junk.json")
        with open(junk, "w") as f:
            f.write('{"tool": "autocannon"}')
        self.assertEqual(run_bench(["--compare", paths["a"], junk], timeout=10)[0], 2)
        self.assertEqual(run_bench(["--compare", paths["a"], junk + ".none"], timeout=10)[0], 1)

    # -- the report -----------------------------------------------------------------------

    def report_run(self, d):
        html, svg = os.path.join(d, "run.html"), os.path.join(d, "run.svg")
        self.bench_json("--probe-url", "/delay", "--probe-rate", "40", "--probe-connections",
                        "4", "--load-url", "/delay", "--load-connections", "1",
                        "--server-metrics", "http://127.0.0.1:%d/metrics" % self.server.port,
                        "--threshold", "p50<1s", "--report", html, duration=2.0)
        self.bench_json("--probe-url", "/delay", "--probe-rate", "40", "--report", svg,
                        duration=1.0)
        return html, svg

    def test_report_is_self_contained(self):
        html_path, svg_path = self.report_run(self.tmpdir())
        html = open(html_path, encoding="utf-8").read()
        self.assertTrue(html.startswith("<!DOCTYPE html>"))
        for needle in ("<svg", "Client latency and server loop lag", "Latency by percentile",
                       "uvfib_eventloop_lag_p99_seconds", "Thresholds", "p50&lt;1s",
                       COLOR_P99):
            self.assertIn(needle, html)
        # Nothing to fetch: no script, no stylesheet or image link, no URL but the SVG
        # namespace and the scraped one the page names.
        self.assertNotIn("<script", html.lower())
        self.assertNotIn("<link", html.lower())
        self.assertNotIn("src=", html.lower())
        self.assertEqual(html.count("http://"), html.count("http://www.w3.org/2000/svg") +
                         html.count("http://127.0.0.1:%d/metrics" % self.server.port))
        # The SVG document is well-formed XML with the charts' lines in it.
        root = ET.parse(svg_path).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        lines = root.findall(".//{http://www.w3.org/2000/svg}polyline")
        self.assertGreater(len(lines), 3)
        self.assertIn(COLOR_P99, {l.get("stroke") for l in lines})

    def test_report_renders_in_headless_chromium(self):
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            self.skipTest("chromium is not installed (scripts/setup installs it)")
        d = self.tmpdir()
        html_path, _ = self.report_run(d)
        shot = os.path.join(d, "shot.png")
        p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            "--user-data-dir=" + os.path.join(d, "profile"),
                            "--screenshot=" + shot, "--window-size=1200,1100",
                            "file://" + html_path],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        width, height, pixels = read_png(shot)
        self.assertEqual((width, height), (1200, 1100))
        colours = set(pixels)
        self.assertGreater(len(colours), 10)   # not a blank page
        # The legend swatch of the probe's p99 is drawn in exactly this colour.
        self.assertIn(hex_rgb(COLOR_P99), colours)
        self.assertIn(hex_rgb(COLOR_LAG_P99), colours)


COLOR_P99 = "#e6550d"       # src/bench/htmlreport.c's probe p99 colour
COLOR_LAG_P99 = "#2ca02c"   # ... and the server's loop lag p99


def hex_rgb(color):
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def wait_for(cond, timeout_s):
    """Polls cond until it holds or timeout_s passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def parse_hgrm(text):
    """Reads an HdrHistogram percentile distribution: ([(value, fraction, total)], footer),
    the footer's #[Name = value, ...] fields by name."""
    rows, footer = [], {}
    lines = text.splitlines()
    header = lines[0].split()
    assert header == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"], header
    for line in lines[1:]:
        if not line.strip():
            continue
        if line.startswith("#["):
            for field in line[2:-1].split(","):
                name, _, value = field.partition("=")
                footer[name.strip()] = float(value) if "." in value else int(value)
            continue
        parts = line.split()
        assert len(parts) in (3, 4), line
        if len(parts) == 4:
            assert abs(float(parts[3]) - 1 / (1 - float(parts[1]))) < 0.01, line
        rows.append((float(parts[0]), float(parts[1]), int(parts[2])))
    return rows, footer


def read_png(path):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) into
    (width, height, [(r, g, b)...])."""
    import struct
    import zlib
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    pixels = []
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pred) & 255
        pixels.extend(tuple(line[x:x + 3]) for x in range(0, stride, bpp))
        prev = line
    return width, height, pixels


class FloorServerTest(unittest.TestCase):
    """uvfib-floorserver, scripts/bench's floors: uvfib's answer to /fibonacci/N, on the loop
    (direct), through one worker thread (hop), or computed by a worker per core (compute)."""

    @staticmethod
    def body(result):
        return b'{"success":true,"result":%d}' % result

    def path(self):
        path = os.environ.get("UVFIB_FLOORSERVER")
        if not path:
            self.skipTest("UVFIB_FLOORSERVER not set")
        return path

    def start(self, mode):
        p = subprocess.Popen([self.path(), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(p.kill)
        self.addCleanup(p.wait)
        line = p.stdout.readline().decode()
        self.assertRegex(line, r"^uvfib-floorserver listening on http://127\.0\.0\.1:\d+$")
        return p, int(line.rsplit(":", 1)[1])

    def read_answers(self, sock, bodies):
        """One whole answer from sock per body, in order, each checked: status line, length,
        body; and nothing more."""
        data = b""
        for body in bodies:
            while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + len(body):
                chunk = sock.recv(65536)
                self.assertTrue(chunk, "the server closed the connection")
                data += chunk
            end = data.index(b"\r\n\r\n") + 4 + len(body)
            answer, data = data[:end], data[end:]
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer)
            self.assertIn(b"\r\nContent-Length: %d\r\n" % len(body), answer)
            self.assertTrue(answer.endswith(b"\r\n\r\n" + body), answer)
        self.assertEqual(data, b"")

    def test_answers_on_the_loop_and_through_the_workers_then_exits_0(self):
        def req(n):
            return b"GET /fibonacci/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n
        for mode in ("direct", "hop", "compute"):
            with self.subTest(mode=mode):
                p, port = self.start(mode)
                # One whose client leaves with its request unanswered (with a worker, in hop
                # and compute).
                gone = socket.create_connection(("127.0.0.1", port), timeout=10)
                gone.sendall(req(27))
                gone.close()
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(req(1)[:10])
                # Split, then pipelined: the slow one first, whose answer must come first.
                sock.sendall(req(1)[10:] + req(27) + req(2))
                self.read_answers(sock, [self.body(1), self.body(196418), self.body(1)])
                sock.sendall(req(20))                 # the same connection, kept alive
                self.read_answers(sock, [self.body(6765)])
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # no n: F(1)
                self.read_answers(sock, [self.body(1)])
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(timeout=20), 0, p.stderr.read().decode())
                sock.close()

    def test_compute_answers_connections_at_once(self):
        """compute: every connection's request is computed, each answer its own F(n)."""
        p, port = self.start("compute")
        socks = []
        for n in range(20, 28):
            s = socket.create_connection(("127.0.0.1", port), timeout=20)
            self.addCleanup(s.close)
            s.sendall(b"GET /fibonacci/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
            socks.append((n, s))
        fib = [0, 1]
        while len(fib) < 28:
            fib.append(fib[-1] + fib[-2])
        for n, s in socks:
            self.read_answers(s, [self.body(fib[n])])
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=20), 0, p.stderr.read().decode())

    def test_bad_usage_exits_2(self):
        path = self.path()
        for argv in ([], ["sideways"], ["hop", "1", "2"], ["compute", "1", "2"]):
            p = subprocess.run([path] + argv, capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2, argv)
            self.assertIn(b"usage", p.stderr)


def main():
    global BENCH
    BENCH = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("UVFIB_BENCH")
    if not BENCH or not os.access(BENCH, os.X_OK):
        print("1..0 # SKIP no uvfib-bench binary: pass its path or set UVFIB_BENCH")
        return 0
    return tap.main(sys.modules[__name__], sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
