#!/usr/bin/env python3
"""test_clients.py - the uvfib executable seen by real clients: Python's
http.client, raw sockets (pipelining, HTTP/1.0, hostile input) and curl.

Each test starts its own server on 127.0.0.1 port 0, reads the port back from
the listening line (with a deadline), talks to it, and ends with the server
stopped: by the test itself, or by tearDown with SIGTERM, which must then give
a clean drain and exit status 0.

Environment:
  UVFIB_BIN   the executable (default build/src/uvfib)
  UVFIB_WRAP  a command prefix, e.g. "valgrind --error-exitcode=99 ..."; every
              deadline is then multiplied by 10
Arguments: -k PATTERN (repeatable) runs only the matching test methods.

Output: TAP on stdout (1..N, ok / not ok per test method); unittest's usual
diagnostics and the server's stderr of failed tests on stderr. Exit 1 if any
test failed. Python 3 standard library only, plus the curl command.
The Server helper, the raw client and the ClientTest base are shared with
test_real_clients.py through uvfibtest.py.

Computations that must run "for a while" are sized at run time: the first test
that needs one times the server on growing n and extrapolates with F(n+1)/F(n)
= phi, so the suite behaves the same natively and under valgrind.
"""
import datetime
import email.utils
import fcntl
import http.client
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import unittest

import tap
from uvfibtest import (BIN, SCALE, WRAP, ClientTest, RawClient, D, clean_env,
                       parse_header_block, request)

PHI = (1 + 5 ** 0.5) / 2
DEFAULT_MAX_N = 45

# ---------------------------------------------------------------- calibration

_calibration = None  # (n, seconds) of the first n that took >= 0.1 s


def calibrate(host, port):
    global _calibration
    if _calibration is None:
        conn = http.client.HTTPConnection(host, port, timeout=D(60))
        try:
            # The first offloaded request starts libuv's thread pool: slow
            # under valgrind, and not part of the computation.
            conn.request("GET", "/fibonacci/25")
            conn.getresponse().read()
            for n in range(24, 94):
                start = time.monotonic()
                conn.request("GET", "/fibonacci/%d" % n)
                resp = conn.getresponse()
                resp.read()
                took = time.monotonic() - start
                if resp.status != 200:
                    raise AssertionError("calibration: /fibonacci/%d gave %d" % (n, resp.status))
                if took >= 0.1:
                    _calibration = (n, took)
                    break
        finally:
            conn.close()
        print("# calibration: F(%d) took %.3fs" % _calibration, file=sys.stderr)
    return _calibration


def n_for(server, seconds):
    """The n whose computation takes about `seconds` on this machine, now.
    The server must accept it (start it with --max-n 93)."""
    n0, t0 = calibrate(server.host, server.port)
    return min(93, n0 + max(0, round(math.log(seconds / t0) / math.log(PHI))))


# Request targets and the status each must get from a default server.
BAD_NUMBERS = ["abc", "-5", "5abc", "1e3", "", "1" * 25, "12.5", "%2B5"]
NOT_FOUND = ["/", "/nope", "/fibonacci", "/fibonacci/10/extra", "/healthz/x"]
NOT_ALLOWED = [("POST", "/fibonacci/10"), ("PUT", "/fibonacci/10"),
               ("DELETE", "/fibonacci/10"), ("POST", "/healthz")]
TOO_LARGE = ["/fibonacci/46", "/fibonacci/93", "/fibonacci/18446744073709551615"]


# ---------------------------------------------------------------- results


class Results(ClientTest):
    def _results_over_one_connection(self, server, numbers):
        conn = self.http(server)
        sock = None
        for n in numbers:
            resp, body = self.get(conn, "/fibonacci/%d" % n)
            self.assert_result(resp.status, body, n)
            self.assertEqual(resp.getheader("Connection"), "keep-alive")
            self.assertFalse(resp.will_close)
            if sock is None:
                sock = conn.sock
            self.assertIsNotNone(conn.sock)
            self.assertIs(conn.sock, sock, "http.client reconnected: the server closed")
        # and the server has not half-closed it behind our back
        ready, _, _ = select.select([sock], [], [], 0)
        self.assertEqual(ready, [], "the kept-alive socket is readable (EOF?)")

    def test_results_0_to_40_exact_over_one_keepalive_connection(self):
        server = self.start("--port", "0")
        self._results_over_one_connection(server, range(0, 41))

    def test_results_exact_in_offload_mode(self):
        server = self.start("--port", "0", "--mode", "offload")
        self._results_over_one_connection(server, [0, 1, 2, 10, 21, 30])

    def test_results_exact_in_inline_mode(self):
        server = self.start("--port", "0", "--mode", "inline")
        self._results_over_one_connection(server, [0, 1, 2, 10, 21, 30])

    def test_percent_encoded_number_and_query_string(self):
        server = self.start("--port", "0")
        conn = self.http(server)
        for path in ["/fibonacci/%31%30", "/fibonacci/10?x=1&n=20", "/fibonacci/%310?y"]:
            resp, body = self.get(conn, path)
            self.assert_result(resp.status, body, 10, path)
            status, body = self.curl(server, path)
            self.assert_result(status, body, 10, "curl " + path)


# ---------------------------------------------------------------- errors


class Errors(ClientTest):
    def test_error_statuses_via_http_client(self):
        server = self.start("--port", "0")
        conn = self.http(server)
        for number in BAD_NUMBERS:
            resp, body = self.get(conn, "/fibonacci/" + number)
            self.assert_json_error(resp.status, body, 400, "/fibonacci/" + number)
            self.assertEqual(resp.getheader("Content-Type"), "application/json")
        for path in NOT_FOUND:
            resp, body = self.get(conn, path)
            self.assert_json_error(resp.status, body, 404, path)
        for method, path in NOT_ALLOWED:
            resp, body = self.get(conn, path, method)
            self.assert_json_error(resp.status, body, 405, method + " " + path)
            self.assertEqual(resp.getheader("Allow"), "GET, HEAD")
        for path in TOO_LARGE:
            resp, body = self.get(conn, path)
            doc = self.assert_json_error(resp.status, body, 422, path)
            self.assertIn(str(DEFAULT_MAX_N), doc["error"])
        # HTTP/1.1 without Host: 400, and the connection is closed
        conn.putrequest("GET", "/fibonacci/10", skip_host=True)
        conn.endheaders()
        resp = conn.getresponse()
        self.assert_json_error(resp.status, resp.read(), 400, "no Host")
        self.assertEqual(resp.getheader("Connection"), "close")
        self.assertTrue(resp.will_close)

    def test_error_statuses_via_curl(self):
        server = self.start("--port", "0")
        for number in BAD_NUMBERS:
            status, body = self.curl(server, "/fibonacci/" + number)
            self.assert_json_error(status, body, 400, "curl /fibonacci/" + number)
        for path in NOT_FOUND:
            status, body = self.curl(server, path)
            self.assert_json_error(status, body, 404, "curl " + path)
        for method, path in NOT_ALLOWED:
            status, body = self.curl(server, path, "-X", method)
            self.assert_json_error(status, body, 405, "curl -X %s %s" % (method, path))
        for path in TOO_LARGE:
            status, body = self.curl(server, path)
            doc = self.assert_json_error(status, body, 422, "curl " + path)
            self.assertIn(str(DEFAULT_MAX_N), doc["error"])
        status, body = self.curl(server, "/fibonacci/10", "-H", "Host:")
        self.assert_json_error(status, body, 400, "curl without Host")
        status, body = self.curl(server, "/fibonacci/10", "-X", "GE T")
        self.assert_json_error(status, body, 400, "curl -X 'GE T'")

    def test_method_not_allowed_has_allow_header(self):
        server = self.start("--port", "0")
        conn = self.http(server)
        resp, body = self.get(conn, "/fibonacci/10", "POST")
        self.assert_json_error(resp.status, body, 405)
        self.assertEqual(resp.getheader("Allow"), "GET, HEAD")
        status, headers = self.curl_headers(server, "/fibonacci/10", "-X", "DELETE")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET, HEAD")

    def test_422_message_names_the_limit(self):
        server = self.start("--port", "0", "--max-n", "30")
        conn = self.http(server)
        resp, body = self.get(conn, "/fibonacci/30")
        self.assert_result(resp.status, body, 30)
        resp, body = self.get(conn, "/fibonacci/31")
        doc = self.assert_json_error(resp.status, body, 422)
        self.assertRegex(doc["error"], r"\b30\b")
        status, body = self.curl(server, "/fibonacci/31")
        doc = self.assert_json_error(status, body, 422, "curl")
        self.assertRegex(doc["error"], r"\b30\b")

    def test_http11_without_host_is_400_and_closes(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        c.send(request("GET", "/fibonacci/10", host=None))
        r = c.read_response()
        self.assert_json_error(r.status, r.body, 400)
        self.assertEqual(r.headers.get("connection"), "close")
        self.assert_closed_by_server(c)

    def test_malformed_request_line_is_400_json_and_closes(self):
        server = self.start("--port", "0")
        for garbage in [b"THIS IS NOT HTTP\r\n\r\n", b"GET /fibonacci/1 HTTP/1.1 junk\r\nHost: x\r\n\r\n"]:
            c = self.raw(server)
            c.send(garbage)
            r = c.read_response()
            self.assert_json_error(r.status, r.body, 400, repr(garbage))
            self.assertEqual(r.headers.get("content-type"), "application/json")
            self.assertEqual(r.headers.get("connection"), "close")
            self.assert_closed_by_server(c)
        # and the server still serves others
        conn = self.http(server)
        resp, body = self.get(conn, "/fibonacci/7")
        self.assert_result(resp.status, body, 7)


# ---------------------------------------------------------------- headers, HEAD


class Headers(ClientTest):
    def test_response_headers_type_length_date(self):
        server = self.start("--port", "0")
        conn = self.http(server)
        for path, want in [("/fibonacci/10", 200), ("/healthz", 200), ("/nope", 404),
                           ("/fibonacci/x", 400), ("/fibonacci/99", 422)]:
            resp, body = self.get(conn, path)
            self.assertEqual(resp.status, want, path)
            self.assertEqual(resp.getheader("Content-Type"), "application/json", path)
            self.assertEqual(resp.getheader("Content-Length"), str(len(body)), path)
            self.assertIn(resp.getheader("Connection"), ("keep-alive", "close"), path)
            date = resp.getheader("Date")
            self.assertIsNotNone(date, path)
            when = email.utils.parsedate_to_datetime(date)
            self.assertTrue(date.endswith(" GMT"), date)
            now = datetime.datetime.now(datetime.timezone.utc)
            self.assertLess(abs((now - when).total_seconds()), D(60), date)
        resp, body = self.get(conn, "/healthz")
        self.assertEqual(json.loads(body), {"status": "ok"})

    def test_head_via_http_client_matches_get_without_body(self):
        server = self.start("--port", "0")
        conn = self.http(server)
        for path in ["/fibonacci/20", "/nope", "/fibonacci/abc"]:
            get, get_body = self.get(conn, path)
            head, head_body = self.get(conn, path, "HEAD")
            self.assertEqual(head.status, get.status, path)
            self.assertEqual(head_body, b"", path)
            self.assertEqual(head.getheader("Content-Length"), str(len(get_body)), path)
            self.assertEqual(head.getheader("Content-Type"), "application/json", path)
            self.assertIsNotNone(head.getheader("Date"), path)
            self.assertEqual(head.getheader("Connection"), "keep-alive", path)
        # a stray body would have desynchronised this connection
        resp, body = self.get(conn, "/fibonacci/11")
        self.assert_result(resp.status, body, 11)

    def test_head_via_curl_matches_get(self):
        server = self.start("--port", "0")
        status, body = self.curl(server, "/fibonacci/25")
        self.assert_result(status, body, 25)
        out = subprocess.run(
            ["curl", "-s", "-I", "--noproxy", "*", "--max-time", str(D(10)),
             self.url(server, "/fibonacci/25")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=D(20),
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.endswith(b"\r\n\r\n"), out.stdout)
        head_status, headers = parse_header_block(out.stdout)
        self.assertEqual(head_status, 200)
        self.assertEqual(headers.get("content-length"), str(len(body)))
        self.assertEqual(headers.get("content-type"), "application/json")
        self.assertIn("date", headers)

    def test_head_sends_no_body_bytes_on_the_wire(self):
        server = self.start("--port", "0")
        # alone, closing: everything up to EOF is one header block
        c = self.raw(server)
        c.send(request("HEAD", "/fibonacci/20", headers=["Connection: close"]))
        data = c.recv_until_eof()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        self.assertEqual(data.count(b"\r\n\r\n"), 1, data)
        self.assertTrue(data.endswith(b"\r\n\r\n"), "bytes after the HEAD header block: %r" % data)
        self.assertIn(b"Content-Length: %d\r\n" % len(b'{"success":true,"result":6765}'), data)
        # pipelined: the next response starts right after the header block
        c = self.raw(server)
        c.send(request("HEAD", "/fibonacci/20") +
               request("GET", "/healthz", headers=["Connection: close"]))
        data = c.recv_until_eof()
        first, rest = data.split(b"\r\n\r\n", 1)
        self.assertTrue(first.startswith(b"HTTP/1.1 200 "), data)
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), "after HEAD: %r" % rest)
        self.assertTrue(rest.endswith(b'{"status":"ok"}'), rest)


# ---------------------------------------------------------------- connections


class Connections(ClientTest):
    def test_http10_response_then_server_closes(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        c.send(request("GET", "/fibonacci/10", version="HTTP/1.0", host=None))
        r = c.read_response()
        self.assert_result(r.status, r.body, 10)
        self.assertEqual(r.headers.get("connection"), "close")
        self.assert_closed_by_server(c)

    def test_http10_keepalive_stays_open(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        ka = ["Connection: keep-alive"]
        c.send(request("GET", "/fibonacci/10", version="HTTP/1.0", host=None, headers=ka))
        r = c.read_response()
        self.assert_result(r.status, r.body, 10)
        self.assertEqual(r.headers.get("connection"), "keep-alive")
        self.assertFalse(c.readable_now(), "the server closed a keep-alive HTTP/1.0 connection")
        c.send(request("GET", "/fibonacci/12", version="HTTP/1.0", host=None, headers=ka))
        r = c.read_response()
        self.assert_result(r.status, r.body, 12)
        # without keep-alive the second one closes it
        c.send(request("GET", "/fibonacci/13", version="HTTP/1.0", host=None))
        r = c.read_response()
        self.assert_result(r.status, r.body, 13)
        self.assertEqual(r.headers.get("connection"), "close")
        self.assert_closed_by_server(c)

    def test_http11_connection_close_is_honoured(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        c.send(request("GET", "/fibonacci/10", headers=["Connection: close"]))
        r = c.read_response()
        self.assert_result(r.status, r.body, 10)
        self.assertEqual(r.headers.get("connection"), "close")
        self.assert_closed_by_server(c)

    def test_pipelined_requests_answered_in_order(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        c.send(request("GET", "/fibonacci/35") + request("GET", "/fibonacci/1"))
        first = c.read_response()
        second = c.read_response()
        self.assert_result(first.status, first.body, 35, "first")
        self.assert_result(second.status, second.body, 1, "second")
        self.assertEqual(first.headers.get("connection"), "keep-alive")
        self.assertFalse(c.readable_now(), "extra bytes after two responses")


# ---------------------------------------------------------------- concurrency


class Concurrency(ClientTest):
    def test_healthz_answered_while_two_heavy_computations_run(self):
        server = self.start("--port", "0", "--threads", "2", "--max-n", "93")
        n = max(42, n_for(server, 0.5)) if not WRAP else n_for(server, 2.0)
        done = {}
        sent = [threading.Event(), threading.Event()]
        errors = []

        def heavy(i):
            try:
                c = RawClient(server.host, server.port, D(60))
                self.sockets.append(c.sock)
                c.send(request("GET", "/fibonacci/%d" % n))
                sent[i].set()
                r = c.read_response()
                done[i] = (time.monotonic(), r)
            except Exception as e:  # reported by the main thread
                errors.append(e)
                sent[i].set()

        threads = [threading.Thread(target=heavy, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        for e in sent:
            self.assertTrue(e.wait(D(10)))
        conn = self.http(server)
        resp, body = self.get(conn, "/healthz")
        healthz_done = time.monotonic()
        self.assertEqual(resp.status, 200)
        for t in threads:
            t.join(D(60))
        self.assertEqual(errors, [])
        self.assertEqual(sorted(done), [0, 1])
        for i in (0, 1):
            self.assert_result(done[i][1].status, done[i][1].body, n, "heavy %d" % i)
            self.assertLess(healthz_done, done[i][0],
                            "/healthz waited for heavy computation %d (n=%d)" % (i, n))

    def test_client_disconnect_during_computation_leaves_server_up(self):
        server = self.start("--port", "0", "--max-n", "93")
        n = n_for(server, 1.0)
        c = self.raw(server)
        c.send(request("GET", "/fibonacci/%d" % n))
        c.close()
        start = time.monotonic()
        conn = self.http(server)
        resp, body = self.get(conn, "/healthz")
        self.assertEqual(resp.status, 200)
        self.assertLess(time.monotonic() - start, D(0.5), "/healthz was slow")
        self.assertIsNone(server.proc.poll(), "the server exited")
        resp, body = self.get(conn, "/fibonacci/20")
        self.assert_result(resp.status, body, 20)
        # and once the abandoned computation is over, still up
        c2 = self.raw(server)
        c2.send(request("GET", "/fibonacci/%d" % n))
        r = c2.read_response()
        self.assert_result(r.status, r.body, n)
        self.assertIsNone(server.proc.poll(), "the server exited")


# ---------------------------------------------------------------- signals


class Signals(ClientTest):
    def test_sigterm_drains_in_flight_request_and_exits_zero(self):
        # A long keep-alive timeout: only the drain may close `idle`.
        server = self.start("--port", "0", "--max-n", "93", "--keepalive-timeout", "600000")
        n = n_for(server, 0.8 if not WRAP else 3.0)
        busy = self.raw(server, D(30))
        busy.send(request("GET", "/fibonacci/%d" % n))
        idle = self.raw(server, D(3))  # its request is also the barrier for `busy`
        idle.send(request("GET", "/healthz"))
        self.assertEqual(idle.read_response().status, 200)
        self.assertFalse(busy.readable_now(), "F(%d) finished before the signal" % n)

        server.signal(signal.SIGTERM)
        server.wait_stderr(r"draining", D(5))
        self.assert_refused(server)
        self.assert_closed_by_server(idle)
        r = busy.read_response()
        self.assert_result(r.status, r.body, n, "in flight at SIGTERM")
        self.assertEqual(r.headers.get("connection"), "close")
        self.assert_closed_by_server(busy)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())
        self.assertEqual(server.rest_of_stdout(), b"", "stdout after the listening line")

    def test_request_completed_during_drain_gets_503_and_close(self):
        server = self.start("--port", "0")
        c = self.raw(server)
        c.send(b"GET /fibonacci/10 HTTP/1.1\r\nHost: test\r\n")  # head not finished
        self.healthz_round_trip(server)
        server.signal(signal.SIGTERM)
        server.wait_stderr(r"draining", D(5))
        c.send(b"\r\n")
        r = c.read_response()
        self.assert_json_error(r.status, r.body, 503)
        self.assertEqual(r.headers.get("connection"), "close")
        self.assert_closed_by_server(c)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())

    def test_sigint_on_idle_server_exits_zero(self):
        server = self.start("--port", "0")
        self.healthz_round_trip(server)
        server.signal(signal.SIGINT)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())

    def test_second_signal_exits_at_once_nonzero(self):
        server = self.start("--port", "0", "--max-n", "93")
        n = n_for(server, 30.0 * SCALE)
        busy = self.raw(server, D(30))
        busy.send(request("GET", "/fibonacci/%d" % n))
        self.healthz_round_trip(server)
        server.signal(signal.SIGTERM)
        server.wait_stderr(r"draining", D(5))
        self.assertIsNone(server.proc.poll(), "exited on the first signal while computing")
        server.expect_nonzero = True
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        rc = server.wait(D(3))
        self.assertLess(time.monotonic() - start, D(3))
        self.assertGreater(rc, 0, "exit status %d" % rc)
        if not WRAP:
            self.assertEqual(rc, 128 + signal.SIGTERM)


# ---------------------------------------------------------------- a stderr nobody reads


class BlockedStderr(ClientTest):
    """stderr is a pipe nobody reads, as under a supervisor that captures it and never
    looks. The access log goes there by default and fills it after a few hundred
    requests: serving goes on, the loop never blocks on it, and a SIGTERM still ends in
    an exit, by the drain's deadline at the latest."""

    PIPE_BYTES = 65536  # Linux's default pipe capacity

    def fill_stderr(self, server, requests=3000):
        """Sends requests /healthz (pipelined 16 at a time) until the pipe is full."""
        c = self.raw(server)
        for start in range(0, requests, 16):
            batch = min(16, requests - start)
            c.send(request("GET", "/healthz") * batch)
            for _ in range(batch):
                self.assertEqual(c.read_response().status, 200)
        fd = server.proc.stderr.fileno()

        def queued():
            return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        deadline = time.monotonic() + D(5)
        # The writer writes its batches every 50 ms. The pipe is full when it holds all but
        # its last page, or when it stops growing with far more offered than it holds: pages
        # a small write began cannot take a later write of up to PIPE_BUF bytes (seen under
        # valgrind: full at 59,483 bytes).
        last, since = -1, time.monotonic()
        while True:
            q, now = queued(), time.monotonic()
            if q >= self.PIPE_BYTES - 4096:
                break
            if q != last:
                last, since = q, now
            elif q >= self.PIPE_BYTES // 2 and now - since >= D(0.5):
                break
            self.assertLess(now, deadline, "stderr never filled: %d bytes" % q)
            time.sleep(0.01)
        return c

    def _exit_after_sigterm(self, server):
        t0 = time.monotonic()
        server.signal(signal.SIGTERM)
        rc = server.wait(D(10))
        return rc, time.monotonic() - t0

    def test_sigterm_exits_although_nobody_reads_the_log(self):
        server = self.start("--port", "0", unread_stderr=True)
        self.fill_stderr(server)
        rc, took = self._exit_after_sigterm(server)
        self.assertEqual(rc, 0)
        # The writer gives up on a descriptor that took nothing for a second.
        self.assertLess(took, D(5))
        print("# stderr a full pipe nobody reads, default flags: SIGTERM to exit %.2f s" % took)

    def test_drain_timeout_bounds_the_wait_for_the_log(self):
        server = self.start("--port", "0", "--drain-timeout", "300", unread_stderr=True)
        self.fill_stderr(server)
        rc, took = self._exit_after_sigterm(server)
        self.assertEqual(rc, 0)
        if not WRAP:
            self.assertLess(took, 0.9, "the 300 ms deadline came before the 1 s stall rule")
        print("# stderr a full pipe nobody reads, --drain-timeout 300: SIGTERM to exit %.2f s"
              % took)

    def test_in_flight_response_is_delivered_while_stderr_is_full(self):
        # The "draining" notice must not stop the loop inside the signal handler.
        server = self.start("--port", "0", "--max-n", "93", unread_stderr=True)
        self.fill_stderr(server)
        n = n_for(server, 0.3 if not WRAP else 2.0)
        busy = self.raw(server, D(30))
        busy.send(request("GET", "/fibonacci/%d" % n))
        self.healthz_round_trip(server)  # the server has read it
        self.assertFalse(busy.readable_now(), "F(%d) finished before the signal" % n)
        server.signal(signal.SIGTERM)
        r = busy.read_response()
        self.assert_result(r.status, r.body, n, "in flight at SIGTERM, stderr full")
        self.assertEqual(r.headers.get("connection"), "close")
        self.assertEqual(server.wait(D(10)), 0)


# ---------------------------------------------------------------- command line


def may_raise_priority():
    """Whether this process (and so a server it starts) may lower a thread's nice value
    again: tried on a thread of its own."""
    result = []

    def attempt():
        tid = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice + 1)
            os.setpriority(os.PRIO_PROCESS, tid, nice)
            result.append(True)
        except OSError:
            result.append(False)
    t = threading.Thread(target=attempt)
    t.start()
    t.join()
    return result[0]


UTIME, NICE, POLICY = 14, 19, 41  # fields of /proc/PID/task/TID/stat
SCHED_OTHER, SCHED_IDLE = 0, 5


class Process(ClientTest):
    def _thread_stat(self, server, field=NICE):
        """{thread id: a field of its stat (nice by default)} of the server process, from /proc."""
        values = {}
        for tid in os.listdir("/proc/%d/task" % server.proc.pid):
            with open("/proc/%d/task/%s/stat" % (server.proc.pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            values[int(tid)] = int(fields[field - 3])  # fields[0] is field 3, the state
        return values

    def _wait_stat(self, server, pred, what, field=NICE):
        """Polls a field of the threads' stat, nice by default (the kernel has no event for
        it), until pred holds."""
        end = time.monotonic() + D(20)
        while True:
            values = self._thread_stat(server, field)
            if pred(values):
                return values
            if time.monotonic() > end:
                self.fail("%s: thread stat field %d %s" % (what, field, values))
            time.sleep(0.002)

    @unittest.skipIf(WRAP, "the wrapper is the process under valgrind")
    def test_idle_class_compute_threads_leave_the_loop_answering(self):
        # --compute-priority idle, the documented loop-first configuration: a thread computing
        # F(45) is SCHED_IDLE, the loop stays SCHED_OTHER and answers /healthz meanwhile.
        server = self.start("--port", "0", "--compute-priority", "idle", "--threads", "1",
                            "--inline-max-n", "20")
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=D(10))
        sock.sendall(b"GET /fibonacci/45 HTTP/1.1\r\nHost: x\r\n\r\n")
        policies = self._wait_stat(server, lambda n: SCHED_IDLE in n.values(),
                                    "a thread in the idle class while computing", POLICY)
        self.assertEqual(policies[server.proc.pid], SCHED_OTHER, "the loop keeps its class")
        self.assertEqual(set(self._thread_stat(server).values()), {0},
                         "idle takes no nice increment")
        conn = self.http(server)
        resp, body = self.get(conn, "/healthz")
        self.assertEqual(resp.status, 200)
        self.assertIn(SCHED_IDLE, self._thread_stat(server, POLICY).values(),
                      "answered while the computation ran")
        conn.close()
        sock.close()  # the client leaves: F(45) is cancelled
        if may_raise_priority():
            self._wait_stat(server, lambda n: set(n.values()) == {SCHED_OTHER},
                             "every thread back in its own class once idle", POLICY)
        conn = self.http(server)
        resp, body = self.get(conn, "/fibonacci/25")
        self.assert_result(resp.status, body, 25)
        conn.close()

    @unittest.skipIf(WRAP, "the wrapper is the process under valgrind")
    def test_compute_threads_lower_their_priority_and_the_loop_keeps_its_own(self):
        for flag, want in (("7", 7), ("0", 0)):
            server = self.start("--port", "0", "--compute-nice", flag, "--threads", "1",
                                "--inline-max-n", "20")
            conn = self.http(server)
            resp, body = self.get(conn, "/fibonacci/25")  # above the inline cut-off: the pool
            self.assert_result(resp.status, body, 25)
            nices = self._thread_stat(server)
            self.assertEqual(nices[server.proc.pid], 0, "the loop thread keeps its priority")
            conn.close()
            # While it computes, a compute thread is at nice 7 and the loop at 0. F(45) takes
            # seconds; the client leaves once the lowered thread is seen, which cancels it.
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=D(10))
            sock.sendall(b"GET /fibonacci/45 HTTP/1.1\r\nHost: x\r\n\r\n")
            if want == 0:
                # Nice 0 leaves the threads alone: once a pool thread has computed for 100 ms
                # (10 ticks) of F(45), every thread is still at nice 0.
                self._wait_stat(server, lambda t: any(v >= 10 for tid, v in t.items()
                                                      if tid != server.proc.pid),
                                "a pool thread computing", UTIME)
                nices = self._thread_stat(server)
                self.assertEqual(set(nices.values()), {0}, "no thread lowered while computing")
                sock.close()
                continue
            nices = self._wait_stat(server, lambda n: want in n.values(),
                                     "a thread lowered while computing")
            self.assertEqual(nices[server.proc.pid], 0, "the loop thread keeps its priority")
            sock.close()
            # Idle again, the thread is back at its own priority where the process may raise
            # it (root, CAP_SYS_NICE or RLIMIT_NICE): a lowered thread wakes later.
            if may_raise_priority():
                self._wait_stat(server, lambda n: set(n.values()) == {0},
                                 "every thread back at nice 0 once idle")

    def test_auto_mode_measures_its_inline_cut_off_at_start(self):
        server = self.start("--port", "0")
        m = server.wait_stderr(r"inline up to n (\d+) \(hand-off ([\d.]+) us, F\((\d+)\) "
                               r"([\d.]+) us(?:, F\((\d+)\) ([\d.]+) us)?: inline up to n (\d+)\)",
                               D(10))
        n, handoff, k, cost_k = int(m.group(1)), float(m.group(2)), int(m.group(3)), float(m.group(4))
        self.assertEqual(int(m.group(7)), n)
        if n > 0:
            # The last n kept costs no more than the hand-off; the first refused costs more.
            # The figures are printed to 0.1 us, so a refused cost that rounds to the
            # hand-off's own figure is still a refusal.
            self.assertEqual(k, n)
            self.assertLessEqual(cost_k, handoff)
            if m.group(5) is not None:
                self.assertEqual(int(m.group(5)), n + 1)
                self.assertGreaterEqual(float(m.group(6)), handoff)
        # What it chose is what it does: F(n) on the loop, F(n + 1) in the pool.
        conn = self.http(server)
        for path in ("/fibonacci/%d" % n, "/fibonacci/%d" % (n + 1)):
            resp, body = self.get(conn, path)
            self.assertEqual(resp.status, 200)
        resp, body = self.get(conn, "/metrics")
        text = body.decode()
        self.assertRegex(text, r"(?m)^uvfib_pool_jobs_inline_total 1$")
        self.assertRegex(text, r"(?m)^uvfib_pool_jobs_completed_total 1$")
        conn.close()

    def test_inline_cut_off_flag_overrides_the_measurement(self):
        server = self.start("--port", "0", "--inline-max-n", "7")
        server.wait_stderr(r"inline up to n 7 \(--inline-max-n\)", D(10))
        self.assertNotIn("hand-off", server.stderr_text())

    @unittest.skipIf(WRAP, "the wrapper is the process under valgrind")
    def test_sigpipe_is_ignored(self):
        server = self.start("--port", "0")
        with open("/proc/%d/status" % server.proc.pid) as f:
            ignored = int(re.search(r"^SigIgn:\s*([0-9a-f]+)", f.read(), re.M).group(1), 16)
        self.assertTrue(ignored & (1 << (signal.SIGPIPE - 1)))


class Descriptors(ClientTest):
    @unittest.skipIf(WRAP, "valgrind needs descriptors of its own")
    @unittest.skipIf(shutil.which("prlimit") is None, "prlimit not installed")
    def test_out_of_descriptors_keeps_serving(self):
        # A hard limit of 32 descriptors: the server raises its soft limit to
        # it, runs out (EMFILE) while 60 clients connect, sheds the excess,
        # and serves again once they go.
        server = self.start("--port", "0", wrap=["prlimit", "--nofile=32:32", "--"])
        clients = []
        for _ in range(60):
            s = socket.create_connection((server.host, server.port), timeout=D(5))
            self.sockets.append(s)
            clients.append(s)
        # Every client is either served or closed by the server; none hangs.
        served = shed = 0
        for s in clients:
            try:
                s.sendall(request("GET", "/healthz"))
                data = s.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if data.startswith(b"HTTP/1.1 200"):
                served += 1
            else:
                shed += 1
        self.assertGreater(served, 0)
        self.assertGreater(shed, 0)
        for s in clients:
            s.close()
        deadline = time.monotonic() + D(5)
        while True:
            try:
                self.healthz_round_trip(server)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.assertIsNone(server.proc.poll())


class CommandLine(ClientTest):
    def run_cli(self, *args, env=None):
        return subprocess.run(WRAP + [BIN] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env if env is not None else clean_env(), timeout=D(10))

    def test_help_exits_0_with_usage(self):
        out = self.run_cli("--help")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith(b"Usage:"), out.stdout[:80])
        for flag in (b"--port", b"--mode", b"--threads", b"--max-n"):
            self.assertIn(flag, out.stdout)

    def test_version_exits_0(self):
        out = self.run_cli("--version")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, rb"^uvfib \d+\.\d+\.\d+")
        self.assertEqual(out.stdout.count(b"\n"), 1)

    def test_bad_flags_exit_2_with_one_line_on_stderr(self):
        cases = [["--port", "70000"], ["--mode", "fast"], ["--bogus"], ["--threads", "0"],
                 ["--port"], ["--max-n", "94"], ["stray"]]
        for args in cases:
            with self.subTest(args=args):
                out = self.run_cli(*args)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertEqual(out.stdout, b"")
                self.assertEqual(out.stderr.count(b"\n"), 1, out.stderr)
                self.assertTrue(out.stderr.endswith(b"\n"), out.stderr)
        out = self.run_cli(env=clean_env(PORT="http"))
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertEqual(out.stderr.count(b"\n"), 1, out.stderr)

    def test_port_env_used_without_port_flag(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = self.start(env=clean_env(PORT=str(port)))
        self.assertEqual(server.port, port)
        self.assertEqual(server.line, "uvfib listening on http://127.0.0.1:%d\n" % port)
        status, body = self.curl(server, "/fibonacci/9")
        self.assert_result(status, body, 9)

    def test_ipv6_loopback_listens_and_answers(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError as e:
            self.skipTest("cannot bind ::1: %s" % e)
        server = self.start("--host", "::1", "--port", "0")
        self.assertEqual(server.host, "::1")
        self.assertEqual(server.line, "uvfib listening on http://[::1]:%d\n" % server.port)
        conn = self.http(server)
        resp, body = self.get(conn, "/fibonacci/30")
        self.assert_result(resp.status, body, 30)
        status, body = self.curl(server, "/fibonacci/31")
        self.assert_result(status, body, 31)


# ---------------------------------------------------------------- TAP runner


if __name__ == "__main__":
    sys.exit(tap.main(sys.modules[__name__], sys.argv[1:]))
