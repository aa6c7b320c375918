#!/usr/bin/env python3
"""test_bench.py - integration test of uvfib-bench, the load generator, against a tiny HTTP
server started in this process on 127.0.0.1, port 0. Not a test of the uvfib server.

The server keeps connections alive and answers by path:
  /delay    200 after DELAY_S      /fail     500 at once
  /missing  404 at once            /hang     never (holds the connection until it closes)
  /eof      200 with neither Content-Length nor chunking: the body ends when it closes
  /close    closes without answering       /garbage  answers bytes that are not HTTP

Usage: test_bench.py [path/to/uvfib-bench]   (else $UVFIB_BENCH). Prints TAP, for meson's
protocol: 'tap'. Python 3 standard library only; every run of the binary is bounded by a
subprocess timeout. $UVFIB_WRAP, if set, is a command prefix the binary runs under
(valgrind, as scripts/test --valgrind sets it), never the interpreter.
"""

import json
import os
import shlex
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unittest

import tap

DELAY_S = 0.050            # the server's fixed answer delay on /delay
DELAY_MS = DELAY_S * 1000
SLACK_MS = 20.0            # allowed on top of DELAY_MS for a p50 on a busy 2-core machine

BENCH = None               # path of the binary, set in main()


class TestServer:
    """A keep-alive HTTP/1.1 server, one thread per connection (socketserver), so a handler
    that sleeps or hangs holds up nobody else."""

    def __init__(self):
        self.connections = 0            # accepted connections
        self.requests = {}              # path -> requests received
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
            if path == "/hang":
                while sock.recv(65536):         # until the client gives up
                    pass
                return
            if path == "/close":
                return
            if path == "/garbage":
                sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                continue
            if path == "/eof":
                sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe body")
                return
            if path == "/fail":
                status, body = "500 Internal Server Error", b'{"success":false}'
            elif path == "/delay":
                time.sleep(DELAY_S)
                status, body = "200 OK", b'{"success":true}'
            else:
                status, body = "404 Not Found", b'{"success":false}'
            sock.sendall(("HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n" % (status, len(body))).encode() + body)


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

    def bench_json(self, *args, duration=2.0, warmup=0.0):
        argv = ["--port", str(self.server.port), "--duration", str(duration),
                "--warmup", str(warmup), "--json"] + list(args)
        rc, out, err, _ = run_bench(argv, timeout=duration + warmup + 20)
        self.assertEqual(rc, 0, "exit status; stderr: " + err)
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
        for word in ("--probe-rate", "--allow-remote", '"latency_ms"', '"service_ms"', "p99_9"):
            self.assertIn(word, out)

    def test_bad_flags_exit_2(self):
        cases = [
            [],                                                   # --duration is required
            ["--duration", "1"],                                  # no workload
            ["--duration", "1", "--probe-rate", "5", "--bogus"],
            ["--duration", "0", "--probe-rate", "5"],
            ["--duration", "3601", "--probe-rate", "5"],
            ["--duration", "1", "--probe-rate", "5", "--port", "70000"],
            ["--duration", "1", "--probe-rate", "-5"],
            ["--duration", "1", "--load-connections", "2", "--load-url", "no-slash"],
            ["--duration", "1", "--probe-rate", "5", "stray"],
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
        self.assertGreaterEqual(lat["max"], lat["p99_9"])
        self.assertGreaterEqual(lat["p50"] + 0.001, probe["service_ms"]["p50"])
        self.assertAlmostEqual(probe["throughput_rps"], rate, delta=rate * 0.1)
        self.assertEqual(probe["errors"]["total"], 0, probe["errors"])
        self.assertEqual(lat["count"], probe["requests"])
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
        self.assertGreater(lat["p99"], service["p99"] + 300, (lat, service))
        self.assertGreater(lat["p50"], service["p50"] + 100, (lat, service))
        self.assertLess(probe["throughput_rps"], 40 * 0.7)
        self.assertGreater(probe["unfinished"], 10)

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


def main():
    global BENCH
    BENCH = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("UVFIB_BENCH")
    if not BENCH or not os.access(BENCH, os.X_OK):
        print("1..0 # SKIP no uvfib-bench binary: pass its path or set UVFIB_BENCH")
        return 0
    return tap.main(sys.modules[__name__], sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
