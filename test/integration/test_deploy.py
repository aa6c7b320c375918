#!/usr/bin/env python3
"""test_deploy.py - the files of deploy/ checked on one machine, without a
cluster, a container engine or systemd as PID 1: the HAProxy and nginx
configurations through the programs' own checks and as real proxies in front
of three uvfib processes; the systemd units through systemd-analyze verify and
security (the exposure score docs/deploy.md states), and uvfib's own system
calls against the units' SystemCallFilter; the Containerfile, the Kubernetes
manifests and the Prometheus scrape config for consistency with the units and
the build. Then the drain end to end: HAProxy in front of three instances, a
constant-rate load, SIGTERM and rolling restarts, no failed request.

Environment: UVFIB_BIN (default build/src/uvfib), UVFIB_BENCH (default
build/src/bench/uvfib-bench).
Output: TAP on stdout; diagnostics (exposure score, drain timings) as TAP
comments; the logs of a failed test on stderr. Servers only on 127.0.0.1."""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

# The Kubernetes checks use Debian's python3-yaml and python3-kubernetes
# (scripts/setup). Another python3 first on PATH may lack them: then run
# under Debian's, which has what scripts/setup installed.
try:
    import yaml
    import kubernetes.client
except ImportError:
    if (os.path.exists("/usr/bin/python3")
            and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3")):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    yaml = None

import tap
# The raw keep-alive client (responses cut by Content-Length), a one-shot GET,
# waiting on a condition with a deadline.
from test_observability import Client, get as http_get, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(ROOT, "deploy")
BIN = os.path.abspath(os.environ.get("UVFIB_BIN", os.path.join(ROOT, "build/src/uvfib")))
BENCH = os.path.abspath(os.environ.get("UVFIB_BENCH",
                                       os.path.join(ROOT, "build/src/bench/uvfib-bench")))
SERVICE = os.path.join(DEPLOY, "systemd", "uvfib@.service")
SOCKET_UNIT = os.path.join(DEPLOY, "systemd", "uvfib@.socket")
HAPROXY_CFG = os.path.join(DEPLOY, "haproxy.cfg")
NGINX_CONF = os.path.join(DEPLOY, "nginx.conf")

# The exposure `systemd-analyze security --offline=true` gives uvfib@.service,
# as docs/deploy.md states it. A change that raises it fails here; one that
# lowers it should lower this and the docs.
EXPOSURE_MAX = 0.6
LISTEN_RE = re.compile(r"^uvfib listening on http://([0-9.]+):(\d+)$")


# ---------------------------------------------------------------- reading the files


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def unit_entries(path):
    """A systemd unit file as [(section, key, value)], in order, with
    backslash continuations joined and comments dropped."""
    entries, section, pending = [], None, ""
    for raw in read(path).splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_value(entries, key, section=None):
    """The last value of `key` (systemd: a later assignment wins)."""
    values = [v for s, k, v in entries if k == key and (section is None or s == section)]
    return values[-1] if values else None


def seconds(text):
    """A time span as systemd, HAProxy or Kubernetes write it (`30s`, `1min`,
    `500ms`, `2m`, a bare number = seconds), in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?", text.strip())
    assert m, "not a time span: %r" % text
    scale = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, None: 1}
    return float(m.group(1)) * scale[m.group(2)]


def haproxy_time(text):
    """HAProxy's times are milliseconds unless suffixed."""
    return float(text) / 1000 if text.isdigit() else seconds(text)


def flag_values(argv):
    """{--flag: value or None} of an argument vector (--flag VALUE or --flag=VALUE)."""
    out, i = {}, 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a.split("=", 1)
                out[k] = v
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                out[a] = argv[i + 1]
                i += 1
            else:
                out[a] = None
        i += 1
    return out


def service_argv():
    return shlex.split(unit_value(unit_entries(SERVICE), "ExecStart", "Service"))


def drain_ms():
    """(--drain-delay, --drain-timeout) of uvfib@.service, in milliseconds."""
    flags = flag_values(service_argv())
    return int(flags["--drain-delay"]), int(flags["--drain-timeout"])


def config_lines(path):
    """Lines of an HAProxy or nginx config, comments stripped, blanks dropped."""
    out = []
    for raw in read(path).splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def haproxy_server_settings():
    """(inter, fall, rise) in seconds and counts, from the default-server line."""
    line = next(l for l in config_lines(HAPROXY_CFG) if l.startswith("default-server"))
    words = line.split()
    get = lambda k: words[words.index(k) + 1]
    return haproxy_time(get("inter")), int(get("fall")), int(get("rise"))


def haproxy_directive(name):
    """The arguments of the last `name ...` line of deploy/haproxy.cfg."""
    lines = [l for l in config_lines(HAPROXY_CFG) if l.split()[:len(name.split())] == name.split()]
    assert lines, "haproxy.cfg has no '%s'" % name
    return lines[-1].split()[len(name.split()):]


def uvfib_help():
    return subprocess.run([BIN, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=10).stdout


# ---------------------------------------------------------------- processes and sockets


def free_port():
    """A port nothing listens on right now (a server that takes port 0 itself
    is better; this is for programs that cannot report the port they got)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_to_eof(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def scrape(port):
    """uvfib's /metrics as {name: summed value over all label sets}."""
    status, _, body = http_get(port, "/metrics")
    assert status == 200, status
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})? (\S+)$", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


class Proc:
    """A child process whose stdout and stderr are collected by threads."""

    def __init__(self, argv, env=None, name=None):
        self.name = name or os.path.basename(argv[0])
        self.argv = argv
        self.out, self.err = [], []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, start_new_session=True)
        self.pumps = [threading.Thread(target=self._pump, args=(s, l), daemon=True)
                      for s, l in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.pumps:
            t.start()

    def _pump(self, stream, lines):
        for line in iter(stream.readline, b""):
            with self.cond:
                lines.append(line.decode("utf-8", "replace"))
                self.cond.notify_all()

    def wait_line(self, regex, timeout, stream="out"):
        """The first match of `regex` in a line of stdout (or stderr)."""
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for l in lines:
                    m = re.search(regex, l)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError("%s: no line matching %r; stderr:\n%s"
                                         % (self.name, regex, "".join(self.err[-40:])))
                self.cond.wait(min(left, 0.1))

    def send(self, signo):
        if self.proc.poll() is None:
            self.proc.send_signal(signo)

    def wait(self, timeout):
        """The exit status, or None if still running after `timeout` seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def child_pid(self):
        """The first child of this process (the program strace runs), or None."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                pids = f.read().split()
        except OSError:
            return None
        return int(pids[0]) if pids else None

    def stop(self, signo=signal.SIGTERM, timeout=10):
        """Signals the process, waits up to `timeout` s (then SIGKILL), kills
        what is left of its process group (nginx's workers, a traced program),
        collects its output. @return its exit status."""
        self.send(signo)
        rc = self.wait(timeout)
        if rc is None:
            self.proc.kill()
            rc = self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for t in self.pumps:
            t.join(5)
        # Closing a pipe a pump still reads would block on its lock.
        if not any(t.is_alive() for t in self.pumps):
            self.proc.stdout.close()
            self.proc.stderr.close()
        return rc

    def log(self):
        with self.cond:
            return "".join(self.out[-40:] + self.err[-80:])


class Instance(Proc):
    """One uvfib process on 127.0.0.1; port 0 picks a free one."""

    def __init__(self, port=0, extra=(), env=None):
        base = {k: v for k, v in os.environ.items() if k != "PORT"}
        base.update(env or {})
        super().__init__([BIN, "--host", "127.0.0.1", "--port", str(port), "--threads", "1",
                          "--access-log", "off"] + list(extra), env=base, name="uvfib")
        self.port = int(self.wait_line(LISTEN_RE, 10).group(2))


class HAProxy(Proc):
    """deploy/haproxy.cfg as it is, on a free port, in front of `ports`; its
    admin socket in `tmp` tells each server's check state."""

    def __init__(self, tmp, ports):
        self.port = free_port()
        self.stats = os.path.join(tmp, "haproxy.sock")
        env = dict(os.environ, UVFIB_LB_ADDR="127.0.0.1", UVFIB_LB_PORT=str(self.port),
                   UVFIB_LB_STATS=self.stats, UVFIB_LB_LOG="stderr")
        for i, p in enumerate(ports, 1):
            env["UVFIB_PORT%d" % i] = str(p)
        if os.geteuid() != 0:
            env["UVFIB_LB_UNPRIVILEGED"] = "1"
        super().__init__(["haproxy", "-db", "-f", HAPROXY_CFG], env=env, name="haproxy")
        wait_for(lambda: self.proc.poll() is not None or self._accepts(), 10, "HAProxy to listen")
        assert self.proc.poll() is None, "haproxy exited:\n" + self.log()

    def _accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return os.path.exists(self.stats)
        except OSError:
            return False

    def server_status(self):
        """{server name: status} from `show stat` (UP, DOWN, "UP 1/2", ...)."""
        return self.server_stat("status")

    def server_stat(self, field):
        """{server name: a field of `show stat`} of the uvfib backend's servers."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.stats)
            s.sendall(b"show stat\n")
            data = read_to_eof(s)
        rows = data.decode().splitlines()
        cols = rows[0].lstrip("# ").split(",")
        out = {}
        for row in rows[1:]:
            f = dict(zip(cols, row.split(",")))
            if f.get("pxname") == "be_uvfib" and f.get("svname", "").startswith("uvfib"):
                out[f["svname"]] = f[field]
        return out

    def wait_status(self, server, status, timeout):
        return wait_for(lambda: self.server_status().get(server) == status, timeout,
                        "HAProxy to see %s %s" % (server, status))


class StatusWatcher(threading.Thread):
    """Polls HAProxy's view of the servers every 50 ms and keeps each change
    with its time, so a test can say when a draining server left."""

    def __init__(self, lb):
        super().__init__(daemon=True)
        self.lb = lb
        self.changes = []          # (monotonic time, server, status)
        self.done = threading.Event()

    def run(self):
        last = {}
        while not self.done.is_set():
            try:
                now = self.lb.server_status()
            except OSError:
                now = {}
            t = time.monotonic()
            for name, status in now.items():
                if last.get(name) != status:
                    self.changes.append((t, name, status))
            last = now
            self.done.wait(0.05)

    def first(self, server, status, after):
        for t, name, st in self.changes:
            if name == server and st == status and t >= after:
                return t
        return None


# ---------------------------------------------------------------- the tests


class Harness(unittest.TestCase):
    """Processes a test starts are killed when it ends; their output goes to
    stderr if it failed (tap.py prints `server_logs`)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="uvfib-deploy-")
        self.procs = []
        self.server_logs = []

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop(signal.SIGKILL, 5)
            self.server_logs.append("%s\n%s" % (" ".join(p.argv), p.log()))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def keep(self, proc):
        self.procs.append(proc)
        return proc

    def run_tool(self, argv, **kwargs):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60, **kwargs)
        return r.returncode, r.stdout


class DeployFilesTest(Harness):
    # ---- HAProxy

    def test_haproxy_config_passes_haproxy_check(self):
        for env in ({}, {"UVFIB_LB_UNPRIVILEGED": "1"}):
            with self.subTest(env=env):
                rc, out = self.run_tool(["haproxy", "-c", "-f", HAPROXY_CFG],
                                        env=dict(os.environ, **env))
                self.assertEqual(rc, 0, out)
                self.assertIn("Configuration file is valid", out)
                self.assertNotRegex(out, r"\[(WARNING|ALERT)\]", out)
        # The ports really come from the environment: a bad one is refused.
        rc, out = self.run_tool(["haproxy", "-c", "-f", HAPROXY_CFG],
                                env=dict(os.environ, UVFIB_PORT2="not-a-port"))
        self.assertNotEqual(rc, 0, out)

    def test_haproxy_takes_a_draining_instance_out_before_the_drain_delay_ends(self):
        lines = config_lines(HAPROXY_CFG)
        self.assertIn("option httpchk GET /readyz", lines)
        self.assertIn("http-check expect status 200", lines)
        servers = [l for l in lines if l.startswith("server ")]
        self.assertEqual(len(servers), 3)
        for s in servers:
            self.assertRegex(s, r'"127\.0\.0\.1:\$\{UVFIB_PORT\d-\d+\}" check$')
        retry_on = set(haproxy_directive("retry-on"))
        self.assertLessEqual({"conn-failure", "empty-response", "response-timeout"}, retry_on)
        self.assertGreaterEqual(int(haproxy_directive("retries")[0]), 1)
        self.assertEqual(haproxy_directive("option redispatch"), ["1"])
        inter, fall, rise = haproxy_server_settings()
        check_timeout = haproxy_time(haproxy_directive("timeout check")[0])
        delay_ms, timeout_ms = drain_ms()
        worst = inter * fall + check_timeout
        print("# HAProxy: DOWN within inter x fall = %.1f s (+ timeout check %.1f s) "
              "< --drain-delay %.1f s; UP after rise x inter = %.1f s"
              % (inter * fall, check_timeout, delay_ms / 1000, rise * inter))
        self.assertLess(worst, delay_ms / 1000)
        # A request cut by a drain's deadline must fail as empty-response
        # (retried), not wait out the server timeout.
        self.assertGreater(haproxy_time(haproxy_directive("timeout server")[0]), timeout_ms / 1000)

    def start_instances(self, n=3, extra=()):
        return [self.keep(Instance(extra=extra)) for _ in range(n)]

    def test_haproxy_retries_past_a_killed_instance(self):
        """With the server as it is today: an instance killed outright (no
        drain) costs no request, through retry-on conn-failure/empty-response
        and redispatch, before the checks mark it DOWN; restarted on its port,
        it is UP again after `rise` checks."""
        inst = self.start_instances()
        lb = self.keep(HAProxy(self.tmp, [i.port for i in inst]))
        for name in ("uvfib1", "uvfib2", "uvfib3"):
            lb.wait_status(name, "UP", 10)
        client = Client(lb.port)
        try:
            for i in range(9):
                self.assertEqual(client.get("/fibonacci/%d" % i)[0], 200)
            inst[1].stop(signal.SIGKILL)
            t_kill = time.monotonic()
            bad = []
            for i in range(60):
                status, _, body = client.get("/fibonacci/10")
                if status != 200 or body != b'{"success":true,"result":55}':
                    bad.append((status, body))
            self.assertEqual(bad, [])
            lb.wait_status("uvfib2", "DOWN", 10)
            print("# killed instance DOWN after %.2f s; 60 requests meanwhile, none failed"
                  % (time.monotonic() - t_kill))
            restarted = self.keep(Instance(port=inst[1].port))
            t_start = time.monotonic()
            lb.wait_status("uvfib2", "UP", 10)
            print("# restarted instance UP after %.2f s" % (time.monotonic() - t_start))
            before = scrape(restarted.port).get("uvfib_http_requests_total", 0)
            for i in range(30):
                self.assertEqual(client.get("/fibonacci/10")[0], 200)
            self.assertGreater(scrape(restarted.port).get("uvfib_http_requests_total", 0),
                               before + 1, "the restarted instance takes requests again")
        finally:
            client.close()

    # ---- nginx

    def nginx_prefix(self):
        prefix = os.path.join(self.tmp, "nginx")
        for d in ("logs", "tmp"):
            os.makedirs(os.path.join(prefix, d), exist_ok=True)
        return prefix

    def test_nginx_config_passes_nginx_t(self):
        rc, out = self.run_tool(["nginx", "-t", "-p", self.nginx_prefix(), "-c", NGINX_CONF,
                                 "-e", "stderr"])
        self.assertEqual(rc, 0, out)
        self.assertIn("test is successful", out)
        self.assertNotRegex(out, r"\[(warn|emerg|alert|crit)\]", out)

    def test_nginx_keeps_upstream_connections_and_retries_idempotent_requests(self):
        lines = config_lines(NGINX_CONF)
        servers = [l for l in lines if re.match(r"server \d", l)]
        self.assertEqual(len(servers), 3)
        for s in servers:
            self.assertRegex(s, r"max_fails=\d+ fail_timeout=\d+s;$")
        self.assertTrue(any(re.fullmatch(r"keepalive \d+;", l) for l in lines))
        self.assertIn("proxy_http_version 1.1;", lines)
        self.assertIn('proxy_set_header Connection "";', lines)
        nu = next(l for l in lines if l.startswith("proxy_next_upstream "))
        self.assertLessEqual({"error", "timeout", "http_503"}, set(nu.rstrip(";").split()[1:]))
        self.assertNotIn("non_idempotent", nu)
        # nginx must close an idle upstream connection before uvfib does.
        m = re.search(r"--keepalive-timeout MS.*\((\d+)\)", uvfib_help())
        uvfib_idle = int(m.group(1)) / 1000
        nginx_idle = seconds(next(l for l in lines if l.startswith("keepalive_timeout "))
                             .split()[1].rstrip(";"))
        self.assertLess(nginx_idle, uvfib_idle)

    def test_nginx_proxies_to_three_instances_over_keepalive(self):
        inst = self.start_instances()
        port = free_port()
        conf = read(NGINX_CONF).replace("listen 127.0.0.1:3000;", "listen 127.0.0.1:%d;" % port)
        for default, i in zip((3001, 3002, 3003), inst):
            conf = conf.replace("server 127.0.0.1:%d " % default, "server 127.0.0.1:%d " % i.port)
        path = os.path.join(self.tmp, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        nginx = self.keep(Proc(["nginx", "-p", self.nginx_prefix(), "-c", path, "-e", "stderr",
                                "-g", "daemon off;"], name="nginx"))

        def accepts():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return nginx.proc.poll() is not None

        wait_for(accepts, 10, "nginx to listen")
        self.assertIsNone(nginx.proc.poll(), nginx.log())
        client = Client(port)
        try:
            for _ in range(30):
                status, _, body = client.get("/fibonacci/10")
                self.assertEqual((status, body), (200, b'{"success":true,"result":55}'))
        finally:
            client.close()
        counts = [scrape(i.port) for i in inst]
        served = [c.get("uvfib_http_requests_total", 0) for c in counts]
        # Each instance's connections, less the one /metrics came on.
        conns = [c.get("uvfib_http_connections_total", 0) - 1 for c in counts]
        print("# nginx -> instances: requests %s over connections %s" % (served, conns))
        self.assertEqual(sum(served), 30)
        self.assertTrue(all(s > 0 for s in served), served)
        self.assertLess(sum(conns), 15, "upstream keep-alive: connections are reused")
        self.assertEqual(nginx.stop(signal.SIGQUIT), 0)

    # ---- systemd

    def unit_root(self, exec_path="/usr/local/bin/uvfib"):
        """A scratch root holding what `systemd-analyze --root` looks at: the
        units, the binary where ExecStart names it, and the distribution's
        units (sysinit.target, sockets.target, ...) the defaults depend on."""
        root = os.path.join(self.tmp, "root")
        if not os.path.isdir(root):
            shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr/lib/systemd/system"),
                            symlinks=True)
            units = os.path.join(root, "etc/systemd/system")
            os.makedirs(units)
            for f in (SERVICE, SOCKET_UNIT):
                shutil.copy(f, units)
            dest = os.path.join(root, exec_path.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(BIN, dest)
        return root

    def test_systemd_units_pass_systemd_analyze_verify(self):
        root = self.unit_root()
        rc, out = self.run_tool(["systemd-analyze", "verify", "--root=" + root,
                                 "uvfib@3001.socket", "uvfib@3001.service"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.strip(), "", "verify printed warnings")
        # The check has teeth: without the binary where ExecStart says, it fails.
        os.rename(os.path.join(root, "usr/local/bin/uvfib"), os.path.join(root, "usr/local/bin/x"))
        rc, out = self.run_tool(["systemd-analyze", "verify", "--root=" + root,
                                 "uvfib@3001.service"])
        self.assertNotEqual(rc, 0, out)
        self.assertIn("/usr/local/bin/uvfib", out)

    def test_systemd_service_exposure_is_at_most_the_documented_score(self):
        root = self.unit_root()
        rc, out = self.run_tool(["systemd-analyze", "security", "--offline=true",
                                 "--root=" + root, "--threshold=%d" % round(EXPOSURE_MAX * 10),
                                 "uvfib@3001.service"])
        m = re.search(r"Overall exposure level for uvfib@3001\.service: (\d+\.\d+) (\w+)", out)
        self.assertIsNotNone(m, out)
        print("# systemd-analyze security --offline=true uvfib@3001.service: %s %s"
              % (m.group(1), m.group(2)))
        self.assertEqual(rc, 0, out)
        self.assertLessEqual(float(m.group(1)), EXPOSURE_MAX)
        doc = read(os.path.join(ROOT, "docs", "deploy.md"))
        self.assertIn("exposure %.1f" % EXPOSURE_MAX, doc, "docs/deploy.md states the score")

    def test_systemd_units_drain_notify_and_hardening(self):
        svc, sock = unit_entries(SERVICE), unit_entries(SOCKET_UNIT)
        get = lambda k: unit_value(svc, k, "Service")
        argv = service_argv()
        self.assertEqual(argv[0], "/usr/local/bin/uvfib")
        flags = flag_values(argv)
        self.assertEqual(flags.get("--port"), "%i")
        self.assertEqual(unit_value(sock, "ListenStream", "Socket"), "127.0.0.1:%i")
        self.assertEqual(unit_value(svc, "Requires", "Unit"), "uvfib@%i.socket")
        delay_ms, timeout_ms = drain_ms()
        stop_s = seconds(get("TimeoutStopSec"))
        print("# TimeoutStopSec %.0f s >= drain-delay %.1f s + drain-timeout %.1f s + margin"
              % (stop_s, delay_ms / 1000, timeout_ms / 1000))
        self.assertGreaterEqual(stop_s, (delay_ms + timeout_ms) / 1000 + 1)
        expected = {
            "Type": "notify", "KillSignal": "SIGTERM", "Restart": "on-failure",
            "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
            "PrivateTmp": "yes", "PrivateDevices": "yes", "NoNewPrivileges": "yes",
            "CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
            "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
            "RestrictNamespaces": "yes", "RestrictRealtime": "yes",
            "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
            "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "ProtectClock": "yes",
            "ProtectHostname": "yes", "ProtectProc": "invisible", "UMask": "0077",
        }
        for key, value in expected.items():
            self.assertEqual(get(key), value, key)
        self.assertIsNotNone(get("LimitNOFILE"))

    def allowed_syscalls(self):
        """The system calls uvfib@.service's SystemCallFilter lines allow,
        merged as systemd does: the first line (an allow list) sets the mode,
        each later `~` line removes, each later plain line adds back."""
        rc, out = self.run_tool(["systemd-analyze", "syscall-filter"])
        self.assertEqual(rc, 0, out)
        groups, current = {}, None
        for line in out.splitlines():
            if line.startswith("@"):
                current = groups.setdefault(line.strip(), [])
            elif current is not None and line.strip() and not line.strip().startswith("#"):
                current.append(line.strip())

        def expand(names):
            out = set()
            for n in names:
                out |= expand(groups[n]) if n.startswith("@") else {n}
            return out

        lines = [v for s, k, v in unit_entries(SERVICE) if k == "SystemCallFilter"]
        self.assertFalse(lines[0].startswith("~"), "an allow list")
        allowed = expand(lines[0].split())
        for line in lines[1:]:
            if line.startswith("~"):
                allowed -= expand(line[1:].split())
            else:
                allowed |= expand(line.split())
        # Allowed whatever the filter says (systemd.exec(5)).
        return allowed | {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn",
                          "sigreturn"} | expand(["@default"])

    def test_uvfib_system_calls_pass_the_service_filter(self):
        """uvfib under strace, serving each kind of request and draining, makes
        no system call the unit's filter refuses (refused calls get EPERM with
        SystemCallErrorNumber=EPERM: a compute thread that could not lower its
        priority would compete with the loop unnoticed)."""
        if not shutil.which("strace"):
            self.fail("strace not installed (scripts/setup installs it)")
        rc, out = self.run_tool(["strace", "-f", "-o", "/dev/null", "true"])
        if rc != 0:
            self.skipTest("ptrace is not permitted in this sandbox: " + out.strip()[:200])
        allowed = self.allowed_syscalls()
        trace = os.path.join(self.tmp, "trace")
        # batch: sched_setscheduler, then setpriority for the nice increment.
        extra = ["--compute-priority", "batch", "--compute-nice", "5"]
        env = {k: v for k, v in os.environ.items() if k != "PORT"}
        p = self.keep(Proc(["strace", "-f", "-qq", "-o", trace, BIN, "--host", "127.0.0.1",
                            "--port", "0", "--threads", "2", "--mode", "offload"] + extra,
                           env=env, name="strace uvfib"))
        port = int(p.wait_line(LISTEN_RE, 20).group(2))
        for path in ("/healthz", "/readyz", "/fibonacci/25", "/fibonacci/abc", "/metrics", "/x"):
            http_get(port, path)
        client = Client(port)
        for n in (20, 21, 22, 23):
            self.assertEqual(client.get("/fibonacci/%d" % n)[0], 200)
        client.close()
        # SIGTERM to uvfib, not to strace (which would detach and leave it);
        # strace exits with its tracee's status.
        os.kill(p.child_pid(), signal.SIGTERM)
        self.assertEqual(p.wait(20), 0, p.log())
        calls = set()
        for line in read(trace).splitlines():
            m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)", line)
            if m:
                calls.add(m.group(1))
        self.assertIn("accept4", calls, "the trace covers serving")
        print("# uvfib made %d distinct system calls; priority calls: %s"
              % (len(calls), sorted(calls & {"setpriority", "sched_setscheduler",
                                             "sched_setattr", "nice"})))
        self.assertEqual(sorted(calls - allowed), [], "calls the unit's SystemCallFilter refuses")

    # ---- container, Kubernetes, Prometheus

    def test_containerfile_builds_what_the_units_run(self):
        text = read(os.path.join(DEPLOY, "Containerfile"))
        joined = re.sub(r"\\\n", " ", text)
        instr = [l.strip() for l in joined.splitlines() if l.strip() and not l.strip().startswith("#")]
        stages = [l for l in instr if l.startswith("FROM ")]
        self.assertEqual(len(stages), 2, stages)
        build_at = instr.index(stages[1])
        apt = [re.search(r"apt-get install -y --no-install-recommends ([^&]+)", l)
               for l in instr if "apt-get install" in l]
        build_pkgs, run_pkgs = (set(m.group(1).split()) for m in apt)
        setup = read(os.path.join(ROOT, "scripts", "setup"))
        # scripts/setup's build=(...) is what scripts/serve installs (--serve): the packages
        # the server builds with, which the image's build stage needs, no more and no less.
        setup_build = set(re.search(r"^build=\(([^)]*)\)", setup, re.M).group(1).split())
        self.assertEqual(build_pkgs, setup_build,
                         "the build stage installs what scripts/setup --serve does")
        for l in instr[:build_at]:
            if l.startswith("COPY "):
                for src in l.split()[1:-1]:
                    self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)
        # Every shared library uvfib links comes from a runtime package (or libc6).
        rc, out = self.run_tool(["ldd", BIN])
        self.assertEqual(rc, 0, out)
        needed = set()
        for path in re.findall(r"=> (/\S+)", out):
            rc, owner = self.run_tool(["dpkg", "-S", os.path.realpath(path)])
            if rc != 0:
                rc, owner = self.run_tool(["dpkg", "-S", path])
            self.assertEqual(rc, 0, owner)
            needed.add(owner.split(":")[0])
        self.assertLessEqual(needed - {"libc6"}, run_pkgs, "runtime packages for ldd's libraries")
        entry = json.loads(next(l for l in instr if l.startswith("ENTRYPOINT "))[len("ENTRYPOINT "):])
        cmd = json.loads(next(l for l in instr if l.startswith("CMD "))[len("CMD "):])
        self.assertEqual(entry, [service_argv()[0]])
        self.assertIn("COPY --from=build /out%s %s" % (entry[0], entry[0]), instr)
        self.assertIn("--prefix=" + os.path.dirname(os.path.dirname(entry[0])), joined)
        self.assertIn("STOPSIGNAL SIGTERM", instr)
        user = next(l for l in instr if l.startswith("USER ")).split()[1]
        self.assertNotIn(user.split(":")[0], ("0", "root"))
        flags = flag_values(cmd)
        self.assertIn("EXPOSE %s" % flags["--port"], instr)
        self.assertEqual((int(flags["--drain-delay"]), int(flags["--drain-timeout"])), drain_ms())

    def test_containerfile_build_stage_runs_here(self):
        """The build stage's COPY lines and its meson RUN line, run on this
        machine in a scratch /src: what it copies is enough to build, and the
        binary lands where the runtime stage copies it from. cmocka is hidden
        (pkg-config sees only libuv and cJSON, cmake is a stub that fails), as
        in the image, which does not install it. About 15 s of compiling."""
        text = re.sub(r"\\\n", " ", read(os.path.join(DEPLOY, "Containerfile")))
        instr = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
        build_stage = instr[:[i for i, l in enumerate(instr) if l.startswith("FROM ")][1]]
        src = os.path.join(self.tmp, "src")
        out = os.path.join(self.tmp, "out")
        workdir = next(l.split()[1] for l in build_stage if l.startswith("WORKDIR "))
        self.assertEqual(workdir, "/src")
        for l in build_stage:
            if l.startswith("COPY "):
                *sources, dest = l.split()[1:]
                dest = os.path.join(src, dest)
                for f in sources:
                    path = os.path.join(ROOT, f)
                    if os.path.isdir(path):        # a directory's contents, as COPY does
                        shutil.copytree(path, dest, dirs_exist_ok=True)
                    else:
                        os.makedirs(dest, exist_ok=True)
                        shutil.copy(path, dest)
        run = next(l for l in build_stage if l.startswith("RUN meson setup"))[len("RUN "):]
        self.assertIn("--destdir /out ", run)
        run = run.replace("--destdir /out ", "--destdir %s " % shlex.quote(out))
        fake = os.path.join(self.tmp, "bin")
        pc = os.path.join(self.tmp, "pkgconfig")
        os.makedirs(fake)
        os.makedirs(pc)
        with open(os.path.join(fake, "cmake"), "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(os.path.join(fake, "cmake"), 0o755)
        for lib in ("libuv", "libcjson"):
            rc, where = self.run_tool(["pkg-config", "--variable=pcfiledir", lib])
            self.assertEqual(rc, 0, where)
            os.symlink(os.path.join(where.strip(), lib + ".pc"), os.path.join(pc, lib + ".pc"))
        env = dict(os.environ, PATH=fake + os.pathsep + os.environ["PATH"], PKG_CONFIG_LIBDIR=pc)
        r = subprocess.run(["sh", "-c", run], cwd=src, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:])
        self.assertIn("cmocka not found", r.stdout)
        copy_from = next(l for l in instr if l.startswith("COPY --from=build ")).split()[2]
        built = os.path.join(out, copy_from[len("/out/"):])
        rc, help_text = self.run_tool([built, "--help"])
        self.assertEqual(rc, 0, help_text)

    def k8s_docs(self):
        if yaml is None:
            self.fail("python3-yaml and python3-kubernetes not importable (scripts/setup)")
        docs = {}
        for name in sorted(os.listdir(os.path.join(DEPLOY, "k8s"))):
            if name.endswith(".yaml"):
                for doc in yaml.safe_load_all(read(os.path.join(DEPLOY, "k8s", name))):
                    docs[doc["kind"]] = doc
        return docs

    def test_kubernetes_manifests_are_valid_objects(self):
        """Each manifest goes through the Kubernetes Python client's models
        (API 1.22's schema): a required field missing raises, and a field the
        model does not know (a typo, a wrong nesting) is dropped, which the
        round trip shows."""
        client = kubernetes.client.ApiClient()

        def dropped(a, b, path=""):
            if isinstance(a, dict):
                out = []
                for k, v in a.items():
                    if not isinstance(b, dict) or k not in b:
                        out.append(path + "/" + k)
                    else:
                        out += dropped(v, b[k], path + "/" + k)
                return out
            if isinstance(a, list):
                return [x for i, (u, v) in enumerate(zip(a, b)) for x in dropped(u, v, "%s/%d" % (path, i))]
            return [] if a == b else ["%s: %r became %r" % (path, a, b)]

        docs = self.k8s_docs()
        self.assertEqual(set(docs), {"Deployment", "Service"})
        for kind, doc in docs.items():
            with self.subTest(kind=kind):
                obj = client._ApiClient__deserialize(doc, "V1" + kind)
                self.assertEqual(dropped(doc, client.sanitize_for_serialization(obj)), [])

    def test_kubernetes_deployment_matches_the_drain_and_the_probes(self):
        docs = self.k8s_docs()
        dep, svc = docs["Deployment"], docs["Service"]
        pod = dep["spec"]["template"]
        spec = pod["spec"]
        (c,) = spec["containers"]
        flags = flag_values(c["args"])
        port = int(flags["--port"])
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"http": port})
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            self.assertEqual(c[probe]["httpGet"]["path"], path)
            self.assertIn(c[probe]["httpGet"]["port"], ("http", port))
        self.assertEqual((int(flags["--drain-delay"]), int(flags["--drain-timeout"])), drain_ms())
        cmd = c["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(cmd[0], "sleep")
        pre_stop = float(cmd[1])
        delay_ms, timeout_ms = drain_ms()
        grace = spec["terminationGracePeriodSeconds"]
        print("# terminationGracePeriodSeconds %d >= preStop %.0f s + drain-delay %.1f s "
              "+ drain-timeout %.1f s + margin" % (grace, pre_stop, delay_ms / 1000, timeout_ms / 1000))
        self.assertGreaterEqual(grace, pre_stop + (delay_ms + timeout_ms) / 1000 + 1)
        self.assertEqual(float(flags["--threads"]), float(c["resources"]["limits"]["cpu"]))
        ann = pod["metadata"]["annotations"]
        self.assertEqual(ann["prometheus.io/scrape"], "true")
        self.assertEqual(int(ann["prometheus.io/port"]), port)
        self.assertEqual(ann["prometheus.io/path"], "/metrics")
        self.assertEqual(dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)
        labels = pod["metadata"]["labels"]
        self.assertLessEqual(svc["spec"]["selector"].items(), labels.items())
        self.assertEqual(dep["spec"]["selector"]["matchLabels"], svc["spec"]["selector"])
        self.assertIn(svc["spec"]["ports"][0]["targetPort"], ("http", port))

    def test_prometheus_config_scrapes_each_instance(self):
        path = os.path.join(DEPLOY, "prometheus.yml")
        rc, out = self.run_tool([os.environ.get("PROMTOOL", "promtool"), "check", "config", path])
        self.assertEqual(rc, 0, out)
        targets = re.findall(r'"(127\.0\.0\.1:\d+)"', read(path))
        lb = [l for l in config_lines(HAPROXY_CFG) if l.startswith("server ")]
        lb_ports = [re.search(r"-(\d+)\}", l).group(1) for l in lb]
        self.assertEqual(targets, ["127.0.0.1:" + p for p in lb_ports])
        upstream = re.findall(r"server (127\.0\.0\.1:\d+) ", read(NGINX_CONF))
        self.assertEqual(targets, upstream)

    def test_deploy_flags_are_known_to_uvfib(self):
        used = set(flag_values(service_argv()))
        text = read(os.path.join(DEPLOY, "Containerfile"))
        used |= set(re.findall(r'"(--[a-z-]+)"', text))
        used |= set(re.findall(r"- (--[a-z-]+)", read(os.path.join(DEPLOY, "k8s", "deployment.yaml"))))
        known = set(re.findall(r"(--[a-z][a-z-]*)", uvfib_help()))
        self.assertEqual(used - known, set(), "flags uvfib does not have")


class DrainEndToEndTest(Harness):
    """Issue 9's drain, seen by a client through HAProxy. Bounded: about 30 s."""

    # Shorter than uvfib@.service's 5 s to keep the test short, still longer
    # than HAProxy's inter x fall (2 s) plus a check's round trip.
    DELAY_MS = 3000
    TIMEOUT_MS = 5000

    def drain_flags(self):
        return ["--drain-delay", str(self.DELAY_MS), "--drain-timeout", str(self.TIMEOUT_MS)]

    def test_drain_and_rolling_restart_behind_haproxy_lose_no_request(self):
        inter, fall, _ = haproxy_server_settings()
        check_timeout = haproxy_time(haproxy_directive("timeout check")[0])
        self.assertLess(inter * fall, self.DELAY_MS / 1000, "the test's delay outlasts the checks")
        flags = self.drain_flags()
        inst = [self.keep(Instance(extra=flags)) for _ in range(3)]
        ports = [i.port for i in inst]
        lb = self.keep(HAProxy(self.tmp, ports))
        names = ["uvfib1", "uvfib2", "uvfib3"]
        for name in names:
            lb.wait_status(name, "UP", 10)
        watcher = StatusWatcher(lb)
        watcher.start()
        self.addCleanup(watcher.done.set)
        bench = self.keep(Proc([BENCH, "--port", str(lb.port), "--probe-url", "/fibonacci/27",
                                "--probe-rate", "100", "--probe-connections", "4",
                                "--duration", "50", "--timeout", "10000", "--json"],
                               name="uvfib-bench"))
        # The drains begin once the probe's requests are flowing to every instance.
        def flowing():
            answered = lb.server_stat("hrsp_2xx")
            return sorted(answered) == names and all(int(n or 0) >= 10 for n in answered.values())
        wait_for(flowing, 20, "the probe's first answers from every instance")
        drains = []

        def drain(k):
            """SIGTERM instance k, wait for its exit, start it again on its port
            and wait until HAProxy has it UP."""
            t0 = time.monotonic()
            inst[k].send(signal.SIGTERM)
            rc = inst[k].wait((self.DELAY_MS + self.TIMEOUT_MS) / 1000 + 5)
            t_exit = time.monotonic()
            self.assertEqual(rc, 0, "instance %d exits 0 within its drain" % (k + 1))
            # Draining, it was DOWN before it exited; a uvfib without the
            # drain delay exits at once and is DOWN only after the checks.
            lb.wait_status(names[k], "DOWN", inter * fall + check_timeout + 2)
            inst[k] = self.keep(Instance(port=ports[k], extra=flags))
            lb.wait_status(names[k], "UP", 10)
            down = watcher.first(names[k], "DOWN", t0)
            drains.append({"instance": names[k], "exit": rc, "drain_s": round(t_exit - t0, 3),
                           "down_after_s": None if down is None else round(down - t0, 3),
                           "up_after_restart_s": round(time.monotonic() - t_exit, 3)})

        drain(0)                    # one instance drains; the others carry the load
        for k in range(3):          # then a rolling restart of all three
            drain(k)
        time.sleep(1)
        self.assertEqual(bench.stop(signal.SIGINT, 15), 0, "uvfib-bench ends on SIGINT")
        report = json.loads("".join(bench.out))
        probe = report["probe"]
        for d in drains:
            print("# %(instance)s: SIGTERM -> exit %(exit)s after %(drain_s)s s; HAProxy DOWN "
                  "%(down_after_s)s s after SIGTERM; UP %(up_after_restart_s)s s after the "
                  "exit (restart + rise)" % d)
        print("# through HAProxy: %d requests, errors %s" % (probe["requests"],
                                                            json.dumps(probe["errors"])))
        self.assertGreater(probe["requests"], 1000)
        self.assertEqual(probe["errors"]["total"], 0, probe["errors"])
        for key in ("connect", "read", "parse", "timeout", "status_4xx", "status_5xx"):
            self.assertEqual(probe["errors"][key], 0, key)
        for d in drains:
            # Out of the balancer before the listener closed.
            self.assertIsNotNone(d["down_after_s"], d)
            self.assertLess(d["down_after_s"], self.DELAY_MS / 1000, d)
            self.assertGreaterEqual(d["drain_s"], self.DELAY_MS / 1000, d)

    def test_socket_activation_and_notify(self):
        """uvfib@.service's contract: the socket systemd passes as fd 3 is
        served, READY=1 is sent once serving, STOPPING=1 when SIGTERM starts
        the drain, and the drain ends with exit 0. systemd-socket-activate
        passes the socket as systemd does (LISTEN_FDS, LISTEN_PID)."""
        notify_path = os.path.join(self.tmp, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify.bind(notify_path)
        notify.settimeout(0.2)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "PORT"}
        p = self.keep(Proc(["systemd-socket-activate", "-l", "127.0.0.1:%d" % port,
                            "-E", "NOTIFY_SOCKET=" + notify_path, BIN, "--host", "127.0.0.1",
                            "--port", str(port), "--threads", "1", "--access-log", "off",
                            "--drain-delay", "500", "--drain-timeout", "2000"],
                           env=env, name="systemd-socket-activate uvfib"))
        messages = []

        def heard(word):
            try:
                messages.extend(notify.recv(4096).decode().split("\n"))
            except socket.timeout:
                pass
            return any(m == word for m in messages)

        # systemd-socket-activate starts the program on the first connection, once it
        # listens itself (it says so on stderr).
        p.wait_line(r"^Listening on ", 10, stream="err")
        self.assertEqual(http_get(port, "/healthz")[0], 200)
        wait_for(lambda: heard("READY=1"), 5, "READY=1")
        p.send(signal.SIGTERM)
        wait_for(lambda: heard("STOPPING=1"), 5, "STOPPING=1")
        self.assertEqual(p.wait(10), 0, p.log())
        print("# notify messages: %s" % [m for m in messages if m])


if __name__ == "__main__":
    sys.exit(tap.main(sys.modules[__name__], sys.argv[1:]))
