"""uvfibtest.py - what the Python tests of the uvfib executable share: the
Server helper (starts the executable on 127.0.0.1 port 0 and reads its
listening line), a raw-socket client that cuts responses by Content-Length,
the ClientTest base (servers stopped with SIGTERM in tearDown, which must give
exit status 0), exact Fibonacci results, and a parser for GET /metrics.

Environment:
  UVFIB_BIN   the executable (default build/src/uvfib)
  UVFIB_WRAP  a command prefix, e.g. "valgrind --error-exitcode=99 ..."; every
              deadline (D) is then multiplied by 10
Python 3 standard library only, plus the curl command for ClientTest.curl."""
import http.client
import json
import os
import re
import select
import shutil
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

BIN = os.environ.get("UVFIB_BIN", "build/src/uvfib")
WRAP = shlex.split(os.environ.get("UVFIB_WRAP", ""))
# scripts/test's --sanitize value ("none" or unset for a plain build).
TSAN = "thread" in os.environ.get("UVFIB_SANITIZE", "")
SANITIZED = os.environ.get("UVFIB_SANITIZE", "none") not in ("", "none")
# Deadlines and the bounds that say "the loop did not wait": valgrind runs the server about
# 10x slower, ASan and TSan about 3x.
SCALE = 10.0 if WRAP else 3.0 if SANITIZED else 1.0

LISTEN_RE = re.compile(rb"^uvfib listening on http://(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)\n$")


def D(seconds):
    """A deadline, stretched when the server runs under a wrapper or a sanitizer."""
    return seconds * SCALE


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def clean_env(**extra):
    """The environment for the server: no inherited $PORT, plus extra."""
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    env.update(extra)
    return env


# ---------------------------------------------------------------- server


class Server:
    """One uvfib process: its listening address, its stderr (collected by a
    thread, so it can be waited on, unless unread_stderr: then it is a pipe
    nobody reads, as a supervisor that captures it and never looks), and its
    stdout after the listening line."""

    def __init__(self, args=(), env=None, wrap=None, unread_stderr=False):
        self.cmd = (WRAP if wrap is None else wrap) + [BIN] + list(args)
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env if env is not None else clean_env(),
        )
        self.expect_nonzero = False
        self.signalled = False
        self._lines = []
        self._cond = threading.Condition()
        self._pump = threading.Thread(target=self._read_stderr, daemon=True)
        if not unread_stderr:
            self._pump.start()
        self.host = self.port = None
        self.line = self._read_listening_line(D(5))

    def _read_stderr(self):
        for line in iter(self.proc.stderr.readline, b""):
            with self._cond:
                self._lines.append(line.decode("utf-8", "replace"))
                self._cond.notify_all()

    def stderr_text(self):
        with self._cond:
            return "".join(self._lines)

    def _read_listening_line(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "no listening line within %.1fs; stdout %r; stderr:\n%s"
                    % (timeout, buf, self.stderr_text())
                )
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(D(5))
                    raise AssertionError(
                        "server exited (status %s) before listening; stderr:\n%s"
                        % (self.proc.returncode, self.stderr_text())
                    )
                buf += chunk
        m = LISTEN_RE.match(buf)
        if m is None:
            raise AssertionError("unexpected listening line %r" % buf)
        self.host = m.group(1).decode().strip("[]")
        self.port = int(m.group(2))
        return buf.decode()

    def rest_of_stdout(self):
        """What the server wrote to stdout after its listening line, once it
        has exited."""
        return os.read(self.proc.stdout.fileno(), 65536)

    def wait_stderr(self, pattern, timeout):
        """Waits until a stderr line matches the regular expression; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "no stderr line matching %r within %.1fs; stderr:\n%s"
                        % (pattern, timeout, "".join(self._lines))
                    )
                self._cond.wait(left)

    def signal(self, signo):
        self.signalled = True
        self.proc.send_signal(signo)

    def wait(self, timeout):
        """Waits for the exit; fails (after killing) if it takes too long."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                "server did not exit within %.1fs; stderr:\n%s" % (timeout, self.stderr_text())
            )

    def finish(self):
        if self._pump.is_alive():
            self._pump.join(D(5))
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


# ---------------------------------------------------------------- raw client


class Response:
    def __init__(self, version, status, headers, body):
        self.version, self.status, self.headers, self.body = version, status, headers, body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class RawClient:
    """A socket and a receive buffer: responses are cut by Content-Length."""

    def __init__(self, host, port, timeout=None, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout if timeout is not None else D(10))
        self.sock.connect((host, port))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection; unparsed %r" % self.buf)
        self.buf += chunk

    def read_response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        block, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = block.decode("latin-1").split("\r\n")
        version, status, _reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            assert name.lower() not in headers, "duplicate header %s" % name
            headers[name.lower()] = value.strip()
        length = 0 if head else int(headers["content-length"])
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(version, int(status), headers, body)

    def readable_now(self):
        ready, _, _ = select.select([self.sock], [], [], 0)
        return bool(ready) or bool(self.buf)

    def recv_until_eof(self):
        """Everything up to the server's FIN (fails on a reset or a timeout)."""
        data = self.buf
        self.buf = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk

    def close(self):
        self.sock.close()


def request(method, path, version="HTTP/1.1", host="test", headers=()):
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None:
        lines.append("Host: " + host)
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ---------------------------------------------------------------- base


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.servers = []
        self.sockets = []

    def start(self, *args, env=None, wrap=None, unread_stderr=False):
        server = Server(args, env=env, wrap=wrap, unread_stderr=unread_stderr)
        self.servers.append(server)
        return server

    def tearDown(self):
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        problems = []
        for server in self.servers:
            running = server.proc.poll() is None
            if running:
                # A server the test already signalled is on its way out: a
                # second signal would make it exit at once, nonzero.
                if not server.signalled:
                    server.signal(signal.SIGTERM)
                try:
                    if TSAN:
                        self._tsan_resend_unseen_sigterm(server)
                    server.wait(D(15))
                except AssertionError as e:
                    problems.append(str(e))
            rc = server.proc.returncode
            server.finish()
            if rc is not None and rc < 0:
                problems.append("server died of signal %d" % -rc)
            elif running and rc != 0:
                problems.append("SIGTERM in tearDown: exit status %d, want 0" % rc)
            elif not running and rc != 0 and not server.expect_nonzero:
                problems.append("server exited with status %d on its own" % rc)
        self.server_logs = [s.stderr_text() for s in self.servers]
        if problems:
            self.fail("; ".join(problems))

    @staticmethod
    def _tsan_resend_unseen_sigterm(server):
        """Under ThreadSanitizer only: a SIGTERM the server has not acknowledged (no "draining"
        line) in 15 s is sent once more. Twice in CI runs a TSan build left the first SIGTERM
        unseen at idle, every other thread blocking signals (so only the loop thread could
        take it) and its loop polling; never a plain, ASan or valgrind build. A server that saw
        the signal and then hangs is not excused: the caller's wait still fails it."""
        try:
            server.proc.wait(D(15))
        except subprocess.TimeoutExpired:
            if "draining" not in server.stderr_text():
                sys.stderr.write("uvfibtest: TSan: SIGTERM unseen in %.0f s; sent again\n" % D(15))
                server.proc.send_signal(signal.SIGTERM)

    # --- clients

    def http(self, server, timeout=None):
        conn = http.client.HTTPConnection(
            server.host, server.port, timeout=timeout if timeout is not None else D(10)
        )
        self.addCleanup(conn.close)
        return conn

    def raw(self, server, timeout=None):
        family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
        c = RawClient(server.host, server.port, timeout, family)
        self.sockets.append(c.sock)
        return c

    def url(self, server, path):
        host = "[%s]" % server.host if ":" in server.host else server.host
        return "http://%s:%d%s" % (host, server.port, path)

    def curl(self, server, path, *extra):
        """curl -s -o - -w '%{http_code}': (status, body bytes)."""
        out = subprocess.run(
            ["curl", "-s", "-g", "--noproxy", "*", "--max-time", str(D(10)),
             "-o", "-", "-w", "%{http_code}", *extra, self.url(server, path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=D(20),
        )
        self.assertEqual(out.returncode, 0, "curl failed: %r" % out.stderr)
        return int(out.stdout[-3:]), out.stdout[:-3]

    def curl_headers(self, server, path, *extra):
        """curl -s -D - -o /dev/null: (status, {lowercase name: value})."""
        out = subprocess.run(
            ["curl", "-s", "-g", "--noproxy", "*", "--max-time", str(D(10)),
             "-D", "-", "-o", os.devnull, *extra, self.url(server, path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=D(20),
        )
        self.assertEqual(out.returncode, 0, "curl failed: %r" % out.stderr)
        return parse_header_block(out.stdout)

    def get(self, conn, path, method="GET", headers=None):
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()

    def healthz_round_trip(self, server):
        """A /healthz on a new connection. Run after sending something on
        another connection, it is a barrier: the server has read that too
        (loopback delivers at send; level-triggered polling sees both)."""
        c = self.raw(server)
        c.send(request("GET", "/healthz", headers=["Connection: close"]))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        c.close()

    # --- checks

    def assert_json_error(self, status, body, want_status, what=""):
        self.assertEqual(status, want_status, "%s: body %r" % (what, body))
        doc = json.loads(body.decode("utf-8"))
        self.assertIs(doc.get("success"), False, "%s: %r" % (what, doc))
        self.assertIsInstance(doc.get("error"), str, "%s: %r" % (what, doc))
        self.assertTrue(doc["error"].strip(), "%s: empty error" % what)
        return doc

    def assert_result(self, status, body, n, what=""):
        self.assertEqual(status, 200, "%s n=%d: %r" % (what, n, body))
        self.assertEqual(json.loads(body.decode()), {"success": True, "result": fib(n)})
        # exact digits, not a float that happens to compare equal
        self.assertIn(b'"result":%d' % fib(n), body)

    def assert_closed_by_server(self, client):
        self.assertEqual(client.recv_until_eof(), b"", "bytes after the last response")

    def assert_refused(self, server):
        """A new connection fails, or is closed without a response."""
        try:
            c = self.raw(server, timeout=D(2))
        except (ConnectionRefusedError, ConnectionResetError):
            return
        try:
            c.send(request("GET", "/healthz"))
            self.assertEqual(c.recv_until_eof(), b"", "a new connection was answered")
        except (ConnectionResetError, BrokenPipeError):
            pass


def parse_header_block(data):
    block = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = block.split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.lower()] = value.strip()
    return status, headers


# ---------------------------------------------------------------- /metrics

METRIC_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def parse_metrics(text):
    """Prometheus text as {(name, ((label, value), ...)): float}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = METRIC_RE.match(line)
        assert m, line
        labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


# ---------------------------------------------------------------- Node.js packages

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def ensure_node_modules():
    """Installs node/node_modules with `npm ci` (bounded in time) unless every
    dependency of node/package.json is there at its pinned version. Raises with
    a reason when it cannot (node or npm missing: scripts/setup installs them)."""
    with open(os.path.join(NODE_DIR, "package.json")) as f:
        pinned = json.load(f)["dependencies"]

    def installed(name):
        try:
            with open(os.path.join(NODE_DIR, "node_modules", name, "package.json")) as f:
                return json.load(f).get("version")
        except OSError:
            return None

    if all(installed(name) == version for name, version in pinned.items()):
        return
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError("%s is not installed: run scripts/setup (nodejs, npm)" % tool)
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("npm ci in %s failed: %s" % (NODE_DIR, p.stderr[-2000:]))

