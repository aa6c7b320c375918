"""procs.py - the processes a benchmark runs and what they cost: servers started in their own
session and always stopped, the CPU a server's process group and the whole machine used, and
free ports. Standard library only; Linux /proc."""
import os
import re
import signal
import socket
import subprocess
import time

LISTEN_RE = re.compile(r"listening on http://\S*:(\d+)\s*$")
CLK_TCK = os.sysconf("SC_CLK_TCK")

_running = []  # every Server not yet stopped, for stop_all()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15.0, proc=None):
    """Until something accepts on 127.0.0.1:port (nginx prints nothing when it is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
    raise RuntimeError("nothing listening on 127.0.0.1:%d" % port)


def stat_fields(text):
    """The fields of a /proc/.../stat line after the command name (field 3 onwards)."""
    return text[text.rindex(")") + 2:].split()


def stat_ticks(f):
    """User + system CPU ticks from stat_fields(): fields 14 and 15."""
    return int(f[11]) + int(f[12])


PARENT, SESSION = 4, 6  # fields of /proc/PID/stat: the parent's pid, the session id


def processes_where(field, value):
    """{pid: stat_fields()} of every process whose stat field (numbered as in proc(5)) is
    value, e.g. processes_where(SESSION, sid)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            f = stat_fields(open("/proc/%s/stat" % d).read())
        except OSError:
            continue
        if int(f[field - 3]) == value:   # stat_fields() starts at field 3
            out[int(d)] = f
    return out


class Server:
    """A server process in its own session (so stop() ends its whole group). With port=None
    it must print a "listening on http://HOST:PORT" line on stdout; else it is waited for on
    that port. stderr goes to err_path (a file: a pipe nobody reads would fill)."""

    def __init__(self, cmd, err_path, env=None, port=None, cwd=None):
        self.cmd = list(cmd)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(err_path, "wb"), env=env, cwd=cwd,
                                     start_new_session=True)
        _running.append(self)
        try:
            if port is None:
                self.port = self._read_port()
            else:
                wait_port(port, proc=self.proc)
                self.port = port
        except Exception:
            self.stop()
            raise
        self.pid = self.proc.pid

    def _read_port(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        os.set_blocking(fd, False)
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = None
            if chunk:
                buf += chunk
                for line in buf.decode("utf-8", "replace").splitlines():
                    m = LISTEN_RE.search(line)
                    if m:
                        return int(m.group(1))
            elif chunk == b"" or self.proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        raise RuntimeError("%s did not print its listening line" % self.cmd[0])

    def cpu_ticks(self):
        """CPU ticks (user + system) of every process in the server's session."""
        return sum(stat_ticks(f) for f in processes_where(SESSION, self.pid).values())

    def main_thread_ticks(self):
        """CPU ticks of the server's first thread (uvfib's event loop; Node.js's main thread;
        nginx's master), None once it is gone."""
        try:
            s = open("/proc/%d/task/%d/stat" % (self.pid, self.pid)).read()
        except OSError:
            return None
        return stat_ticks(stat_fields(s))

    def stop(self, timeout=10.0):
        """SIGTERM to the whole process group, even when the server itself has ended (what it
        started may not have), then SIGKILL to the group if the server is not gone in time."""
        if self in _running:
            _running.remove(self)
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # what is left of the group
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc.stdout.close()


def stop_all():
    for s in list(_running):
        s.stop()


# A busy loop that ends by itself after argv[1] seconds even if nobody stops it.
_HOG = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
# Starts argv[1] hogs for argv[2] seconds, then becomes the command that follows: the hogs are
# its children, in its session.
_WITH_HOGS = ("import os, subprocess, sys\n"
              "for _ in range(int(sys.argv[1])):\n"
              "    subprocess.Popen([sys.executable, '-c', %r, sys.argv[2]])\n"
              "os.execv(sys.argv[3], sys.argv[3:])\n" % _HOG)


def with_hogs(cmd, n, seconds):
    """cmd, started beside n processes that keep a core busy each for at most seconds, in its
    session: one scheduling group with it (the kernel's autogroup, or a container's cgroup),
    as processes sharing its container or terminal would be. Server.stop() ends them with it."""
    return ["python3", "-c", _WITH_HOGS, str(n), str(seconds)] + list(cmd)


class Hogs:
    """n processes that keep a core busy each, at the launcher's priority, for at most
    seconds, each in a session of its own: a scheduling group apart from the server's, as a
    neighbouring service would be. A context manager; cpu_cores() is what they got, from start
    to now."""

    def __init__(self, n, seconds):
        self.n, self.seconds = n, seconds

    def __enter__(self):
        self.t0 = time.monotonic()
        self.procs = [subprocess.Popen(["python3", "-c", _HOG, str(self.seconds)],
                                       start_new_session=True) for _ in range(self.n)]
        return self

    def cpu_cores(self):
        ticks = sum(process_ticks(p.pid) or 0 for p in self.procs)
        return round(ticks / CLK_TCK / (time.monotonic() - self.t0), 3)

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def process_ticks(pid):
    """CPU ticks (user + system) of one process, all its threads; None once it is gone."""
    try:
        return stat_ticks(stat_fields(open("/proc/%d/stat" % pid).read()))
    except OSError:
        return None


def machine_ticks():
    """(busy, total) ticks of every CPU together, from /proc/stat."""
    c = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(c) - c[3] - c[4], sum(c)


def machine_switches():
    """Context switches on every CPU since boot (/proc/stat's ctxt, what `perf stat -a -e
    context-switches` counts)."""
    with open("/proc/stat") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("ctxt "))


class CpuMeter:
    """The CPU a server (optional) and the machine used between start() and stop()."""

    def __init__(self, server=None):
        self.server = server

    def _main_thread_ticks(self):
        """The server's first thread's ticks; None for no server, or one of several processes
        (run.py's Shared), which has no single first thread."""
        ticks = getattr(self.server, "main_thread_ticks", None)
        return ticks() if ticks is not None else None

    def start(self):
        self.t0 = time.monotonic()
        self.m0 = machine_ticks()
        self.x0 = machine_switches()
        self.s0 = self.server.cpu_ticks() if self.server else 0
        self.l0 = self._main_thread_ticks()
        return self

    def stop(self):
        wall = time.monotonic() - self.t0
        m1 = machine_ticks()
        x1 = machine_switches()
        s1 = self.server.cpu_ticks() if self.server else 0
        l1 = self._main_thread_ticks()
        total = m1[1] - self.m0[1]
        return {
            "wall_s": round(wall, 3),
            "server_cores": round((s1 - self.s0) / CLK_TCK / wall, 3) if self.server else None,
            # the first thread's share: for uvfib, its event loop
            "main_thread_cores": (round((l1 - self.l0) / CLK_TCK / wall, 3)
                                  if l1 is not None and self.l0 is not None else None),
            "machine_busy": round((m1[0] - self.m0[0]) / total, 3) if total else None,
            "machine_switches_per_s": round((x1 - self.x0) / wall, 1),
        }


def background_cores(seconds=1.0):
    """The cores the rest of the machine keeps busy while none of ours runs."""
    b = machine_ticks()
    time.sleep(seconds)
    a = machine_ticks()
    return round((a[0] - b[0]) / (a[1] - b[1]) * os.cpu_count(), 2) if a[1] > b[1] else None
