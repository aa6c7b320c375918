#!/usr/bin/env python3
"""test_production.py - the executable's production features from outside, each with real
processes on 127.0.0.1: --reuseport (two instances on one port both get connections),
socket activation through systemd-socket-activate (the passed socket is served, nothing else
is bound), sd_notify over a Unix datagram socket (READY=1, then STOPPING=1; never blocking),
and the drain with --drain-delay (/readyz 503 at once, every other route served on old and new
connections for the delay, then new connections refused, what is in flight answered with
Connection: close, exit 0).

Environment: UVFIB_BIN (default build/src/uvfib); UVFIB_WRAP (e.g. valgrind) wraps the
server, deadlines (D) stretch. Output: TAP on stdout, diagnostics and the servers' stderr of
failed tests on stderr. Deadlines and events decide, never sleeps. Python 3 standard library
plus systemd-socket-activate (Debian package systemd)."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import tap
from test_clients import n_for
from test_observability import wait_for
from uvfibtest import BIN, WRAP, ClientTest, D, RawClient, clean_env, fib, parse_metrics, request

ACTIVATE = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"


def ms(seconds):
    """Milliseconds for a flag, from a deadline in seconds."""
    return str(int(seconds * 1000))


def free_port():
    """A port nothing listens on now, for programs that cannot take port 0 and say which
    they got (systemd-socket-activate)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Datagrams:
    """A Unix datagram socket a test binds and $NOTIFY_SOCKET names: what systemd listens on."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.messages = []

    def wait(self, pred, timeout, what):
        """Receives datagrams until one satisfies pred; returns it."""
        deadline = time.monotonic() + timeout
        for m in self.messages:
            if pred(m):
                return m
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no notification %s; got %r" % (what, self.messages))
            self.sock.settimeout(left)
            try:
                m = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.messages.append(m)
            if pred(m):
                return m

    def close(self):
        self.sock.close()


class ProductionTest(ClientTest):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="uvfib-prod-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def metrics(self, port):
        """GET /metrics on a new connection to 127.0.0.1:port, parsed."""
        c = RawClient("127.0.0.1", port, D(10))
        self.sockets.append(c.sock)
        c.send(request("GET", "/metrics", headers=["Connection: close"]))
        r = c.read_response()
        c.close()
        self.assertEqual(r.status, 200)
        return parse_metrics(r.body.decode())

    def get(self, client, path, want_status=200, want_connection="keep-alive"):
        client.send(request("GET", path))
        r = client.read_response()
        self.assertEqual(r.status, want_status, "%s: %r" % (path, r.body))
        self.assertEqual(r.headers.get("connection"), want_connection, path)
        return r


# ---------------------------------------------------------------- --reuseport


class ReusePort(ProductionTest):
    def test_two_instances_on_one_port_both_get_connections(self):
        """Two processes with --reuseport share one port; the kernel spreads new connections
        (by a hash of the address pair). A /metrics scrape through the shared port lands on
        one of them, told apart by --threads (uvfib_pool_threads), and shows that instance's
        accepted connections: both must count some."""
        a = self.start("--port", "0", "--reuseport", "--threads", "1", "--access-log", "off")
        b = self.start("--port", str(a.port), "--reuseport", "--threads", "2",
                       "--access-log", "off")
        self.assertEqual(b.port, a.port)
        accepted = {1: 0, 2: 0}
        for _ in range(200):
            m = self.metrics(a.port)
            threads = int(m[("uvfib_pool_threads", ())])
            accepted[threads] = max(accepted[threads], m[("uvfib_http_connections_total", ())])
            if all(accepted.values()):
                break
        print("# connections accepted per instance (by its own count): %r" % accepted)
        self.assertTrue(all(v > 0 for v in accepted.values()), accepted)

    def test_without_reuseport_the_port_is_in_use(self):
        a = self.start("--port", "0", "--reuseport", "--threads", "1", "--access-log", "off")
        p = subprocess.run(WRAP + [BIN, "--port", str(a.port), "--threads", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
                           timeout=D(10))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"address already in use", p.stderr)


# ---------------------------------------------------------------- socket activation


class SocketActivation(ProductionTest):
    def activated(self, port, *args, env=None, setenv=()):
        """uvfib under systemd-socket-activate on 127.0.0.1:port, as systemd starts it:
        the socket is fd 3, LISTEN_FDS=1, LISTEN_PID its pid. systemd-socket-activate execs
        uvfib on the first connection, so a client connects (retrying until the activator
        listens) and sends /healthz while the listening line is awaited.
        systemd-socket-activate passes on only TERM, PATH and HOME of its environment, and
        each of `setenv` (VAR=VALUE).
        @return (server, the first client's response)."""
        if not os.access(ACTIVATE, os.X_OK):
            self.skipTest("systemd-socket-activate not installed (Debian package systemd)")
        first = {}

        def first_client():
            def connect():
                try:
                    return socket.create_connection(("127.0.0.1", port), timeout=D(10))
                except OSError:
                    return None
            try:
                sock = wait_for(connect, D(10), "systemd-socket-activate to listen")
                self.sockets.append(sock)
                sock.sendall(request("GET", "/healthz", headers=["Connection: close"]))
                first["data"] = b""
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    first["data"] += chunk
            except (AssertionError, OSError) as e:
                first["error"] = e

        t = threading.Thread(target=first_client, daemon=True)
        t.start()
        wrap = [ACTIVATE, "-l", "127.0.0.1:%d" % port]
        for v in setenv:
            wrap += ["-E", v]
        wrap += WRAP
        server = self.start(*args, env=env, wrap=wrap)
        t.join(D(10))
        self.assertNotIn("error", first, first.get("error"))
        return server, first.get("data", b"")

    def test_passed_socket_is_served_and_nothing_else_is_bound(self):
        port = free_port()
        # --host and --port name an address uvfib could not bind (TEST-NET-1 is not ours):
        # it starts only because it binds nothing itself.
        server, first = self.activated(port, "--host", "192.0.2.1", "--port", "1",
                                       "--threads", "1", "--access-log", "off",
                                       "--drain-delay", "0")
        self.assertEqual(server.line, "uvfib listening on http://127.0.0.1:%d\n" % port)
        self.assertTrue(first.startswith(b"HTTP/1.1 200 "), first)
        self.assertTrue(first.endswith(b'{"status":"ok"}'), first)
        c = self.raw(server)
        r = self.get(c, "/fibonacci/30")
        self.assertEqual(r.json(), {"success": True, "result": fib(30)})
        c.close()
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())
        # The process held the only copy of the socket: it is gone.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=D(2)).close()

    def test_a_bad_port_env_is_no_error_with_a_passed_socket(self):
        # $PORT names what uvfib would bind; with a socket passed it binds nothing.
        server, first = self.activated(free_port(), "--threads", "1", "--access-log", "off",
                                       "--drain-delay", "0", setenv=["PORT=http"])
        self.assertTrue(first.startswith(b"HTTP/1.1 200 "), first)
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())

    def test_listen_pid_of_another_process_is_ignored(self):
        server = self.start("--port", "0", "--threads", "1",
                            env=clean_env(LISTEN_FDS="1", LISTEN_PID="1"))
        c = self.raw(server)
        self.get(c, "/healthz")
        c.close()

    def test_malformed_listen_fds_exits_1(self):
        # sh execs uvfib, so $$ is uvfib's pid: the variables are meant for it.
        script = 'LISTEN_PID=$$ LISTEN_FDS=one exec "$@"'
        p = subprocess.run(["sh", "-c", script, "sh"] + WRAP + [BIN, "--port", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
                           timeout=D(10))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"bad $LISTEN_FDS", p.stderr)
        self.assertEqual(p.stdout, b"")

    def test_two_passed_sockets_exit_1(self):
        if not os.access(ACTIVATE, os.X_OK):
            self.skipTest("systemd-socket-activate not installed (Debian package systemd)")
        ports = [free_port(), free_port()]
        argv = [ACTIVATE]
        for p in ports:
            argv += ["-l", "127.0.0.1:%d" % p]
        proc = subprocess.Popen(argv + WRAP + [BIN], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())

        def connect():
            try:
                return socket.create_connection(("127.0.0.1", ports[0]), timeout=D(10))
            except OSError:
                return None
        sock = wait_for(connect, D(10), "systemd-socket-activate to listen")
        self.sockets.append(sock)
        out, err = proc.communicate(timeout=D(10))
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn(b"systemd passed 2 sockets", err)
        self.assertEqual(out, b"")


# ---------------------------------------------------------------- sd_notify


class Notify(ProductionTest):
    def listener(self, abstract=False):
        if abstract:
            name = "uvfib-test-%d-%s" % (os.getpid(), self._testMethodName)
            d = Datagrams("\0" + name)
            value = "@" + name
        else:
            value = os.path.join(self.tmp, "notify")
            d = Datagrams(value)
        self.addCleanup(d.close)
        return d, value

    def check_ready_then_stopping(self, abstract):
        d, value = self.listener(abstract)
        server = self.start("--port", "0", "--threads", "1", "--access-log", "off",
                            env=clean_env(NOTIFY_SOCKET=value))
        ready = d.wait(lambda m: "READY=1" in m.split("\n"), D(5), "READY=1")
        self.assertIn("STATUS=serving http://127.0.0.1:%d" % server.port, ready)
        self.assertEqual(len(d.messages), 1, "READY=1 is the first message")
        server.signal(signal.SIGTERM)
        stopping = d.wait(lambda m: "STOPPING=1" in m.split("\n"), D(5), "STOPPING=1")
        d.wait(lambda m: m.startswith("STATUS=draining"), D(5), "STATUS=draining")
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())
        print("# notifications: %r" % d.messages)
        self.assertNotIn("cannot notify", server.stderr_text())
        return stopping

    def test_ready_then_stopping_to_a_socket_path(self):
        self.check_ready_then_stopping(abstract=False)

    def test_ready_then_stopping_to_an_abstract_socket(self):
        self.check_ready_then_stopping(abstract=True)

    def serves_and_says_once_that_it_cannot_notify(self, value):
        """A server whose notifications fail: it serves and drains as without them, and says
        so on stderr once."""
        server = self.start("--port", "0", "--threads", "1", "--access-log", "off",
                            env=clean_env(NOTIFY_SOCKET=value))
        c = self.raw(server)
        self.get(c, "/healthz")
        c.close()
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())
        self.assertEqual(server.stderr_text().count("cannot notify"), 1, server.stderr_text())

    def test_a_receiver_that_does_not_read_never_blocks_the_server(self):
        d, value = self.listener()
        # Fill its queue from here, so that every datagram uvfib sends would block.
        filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(filler.close)
        filler.setblocking(False)
        sent = 0
        try:
            while sent < 100000:
                filler.sendto(b"STATUS=filler", value)
                sent += 1
        except BlockingIOError:
            pass
        self.assertLess(sent, 100000)
        self.serves_and_says_once_that_it_cannot_notify(value)

    def test_a_notify_socket_nobody_listens_on_changes_nothing_else(self):
        self.serves_and_says_once_that_it_cannot_notify(os.path.join(self.tmp, "nobody"))


# ---------------------------------------------------------------- closed standard descriptors


class ClosedStdFds(ProductionTest):
    def test_started_with_stdin_and_stderr_closed_it_serves_and_exits_0(self):
        # Some supervisors start daemons so. The first descriptor uvfib opened once took
        # number 2: libuv's epoll got the access log's lines, and libuv's close of it aborted.
        tool = WRAP[:1] + ["--log-fd=9"] + WRAP[1:] if WRAP else []   # valgrind keeps its own
        wrap = ["sh", "-c", 'exec "$@" 9>&2 <&- 2>&-', "sh"] + tool
        server = self.start("--port", "0", "--threads", "1", "--mode", "auto", wrap=wrap)
        c = self.raw(server)
        self.assertEqual(self.get(c, "/fibonacci/25").body, b'{"success":true,"result":%d}'
                         % fib(25))
        c.close()
        m = self.metrics(server.port)
        self.assertGreaterEqual(m[("uvfib_accesslog_lines_total", ())], 1)   # to /dev/null
        self.assertEqual(m[("uvfib_accesslog_dropped_lines_total", ())], 0)
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(D(10)), 0)


# ---------------------------------------------------------------- --drain-delay


class DrainDelay(ProductionTest):
    def test_readyz_fails_at_once_and_everything_else_is_served_for_the_delay(self):
        delay = D(2.0)
        # The drain timeout leaves the computation time to finish however slow the build.
        server = self.start("--port", "0", "--threads", "1", "--max-n", "93",
                            "--drain-delay", ms(delay), "--drain-timeout", ms(10 * delay),
                            "--keepalive-timeout", "600000", "--access-log", "off")
        # It must outlast the delay. The calibration behind n_for may have run while another
        # test program (meson runs two at once) shared the cores, which makes n too small by a
        # factor up to 2 (an ASan run here answered F(45) inside the delay at 1.5x): aim at 3x.
        n = n_for(server, 3 * delay)
        old = self.raw(server)
        self.get(old, "/healthz")

        server.signal(signal.SIGTERM)
        t0 = time.monotonic()
        server.wait_stderr(r"draining", D(5))
        probe = self.raw(server)
        r = self.get(probe, "/readyz", want_status=503)
        self.assertIn("draining", r.json()["error"])
        probe.close()
        # The connection open before SIGTERM, and a new one, are served as usual.
        self.get(old, "/healthz")
        self.assertEqual(self.get(old, "/fibonacci/20").json()["result"], fib(20))
        new = self.raw(server)
        self.get(new, "/healthz")
        self.assertEqual(self.get(new, "/fibonacci/25").json()["result"], fib(25))
        # A computation accepted during the delay and still running at its end.
        busy = self.raw(server, D(30))
        busy.send(request("GET", "/fibonacci/%d" % n))
        served_by = time.monotonic() - t0
        self.assertLess(served_by, delay, "the checks above outlasted the delay")

        server.wait_stderr(r"drain delay over", delay + D(5))
        self.assertGreaterEqual(time.monotonic() - t0, delay * 0.95)
        self.assertFalse(busy.readable_now(), "F(%d) was answered before the delay ended" % n)
        self.assert_refused(server)
        self.assert_closed_by_server(old)
        self.assert_closed_by_server(new)
        r = busy.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["result"], fib(n))
        self.assertEqual(r.headers.get("connection"), "close")
        self.assert_closed_by_server(busy)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())
        print("# SIGTERM -> exit: %.2f s (delay %.1f s, F(%d) in flight)"
              % (time.monotonic() - t0, delay, n))

    def test_sigint_drains_with_the_delay_too(self):
        server = self.start("--port", "0", "--threads", "1", "--drain-delay", ms(D(30)),
                            "--access-log", "off")
        server.signal(signal.SIGINT)
        server.wait_stderr(r"draining", D(5))
        c = self.raw(server)
        self.get(c, "/readyz", want_status=503)
        self.get(c, "/healthz")
        c.close()
        # A second signal exits at once, delay or not.
        server.expect_nonzero = True
        start = time.monotonic()
        server.signal(signal.SIGINT)
        rc = server.wait(D(3))
        self.assertLess(time.monotonic() - start, D(3))
        if not WRAP:
            self.assertEqual(rc, 128 + signal.SIGINT)

    def test_drain_timeout_counts_from_the_end_of_the_delay(self):
        delay, timeout = D(1.0), D(1.0)
        server = self.start("--port", "0", "--threads", "1", "--max-n", "93",
                            "--drain-delay", ms(delay), "--drain-timeout", ms(timeout))
        n = n_for(server, 3 * (delay + timeout))
        busy = self.raw(server, D(30))
        busy.send(request("GET", "/fibonacci/%d" % n))
        self.healthz_round_trip(server)  # the computation has started
        server.signal(signal.SIGTERM)
        t0 = time.monotonic()
        self.assertEqual(server.wait(delay + timeout + D(10)), 0, server.stderr_text())
        took = time.monotonic() - t0
        print("# SIGTERM -> exit %.2f s (delay %.1f s + timeout %.1f s)" % (took, delay, timeout))
        self.assertGreaterEqual(took, (delay + timeout) * 0.95)
        # Cut at the deadline: the client gets no answer, and no reset either.
        self.assertEqual(busy.recv_until_eof(), b"")
        # The server says so: a 444 in the log (not the 499 of a client that left), and a
        # count on stderr, though the exit is 0.
        err = server.stderr_text()
        cut = [l for l in err.splitlines() if '"path":"/fibonacci/%d"' % n in l]
        self.assertEqual(len(cut), 1, err)
        self.assertIn('"status":444', cut[0])
        self.assertIn("1 requests were cut off unanswered at the drain deadline", err)

    def cut_off_lines(self, server):
        """The access-log lines (stderr) of requests the drain's deadline cut off."""
        return [l for l in server.stderr_text().splitlines() if '"status":444' in l]

    def test_a_request_still_arriving_at_the_deadline_is_logged_cut_off(self):
        # The client that holds a drain to its deadline is one that sent part of a request;
        # it has no record yet, and once left no trace at all.
        server = self.start("--port", "0", "--drain-timeout", ms(D(0.5)))
        slow = self.raw(server, D(30))
        slow.send(b"GET /fibonacci/5 HTTP/1.1\r\nHo")
        self.healthz_round_trip(server)   # the part has been read
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())
        lines = self.cut_off_lines(server)
        self.assertEqual(len(lines), 1, server.stderr_text())
        self.assertIn('"path":"-"', lines[0])
        self.assertIn("1 requests were cut off unanswered", server.stderr_text())

    def test_responses_still_being_written_at_the_deadline_are_cut_off_not_left(self):
        # A client that reads slowly: its answered requests wait for the socket when the
        # deadline closes it. The server cut them off; the client did not leave.
        server = self.start("--port", "0", "--drain-timeout", ms(D(0.5)))
        s = socket.socket()
        self.sockets.append(s)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((server.host, server.port))
        s.setblocking(False)   # the server stops reading once its answers back up
        try:
            s.send(request("GET", "/metrics") * 512)   # up to 512 x 13 KB of answers, unread
        except BlockingIOError:
            pass
        m = self.metrics(server.port)
        wait_for(lambda: self.metrics(server.port)[("uvfib_http_requests_parsed_total", ())]
                 >= m[("uvfib_http_requests_parsed_total", ())] + 8, D(10),
                 "the pipeline to be parsed")
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(D(10)), 0, server.stderr_text())
        lines = self.cut_off_lines(server)
        self.assertGreaterEqual(len(lines), 1, server.stderr_text())
        self.assertNotIn('"status":499', server.stderr_text())
        self.assertIn("%d requests were cut off unanswered" % len(lines), server.stderr_text())


if __name__ == "__main__":
    sys.exit(tap.main(sys.modules[__name__], sys.argv[1:]))
