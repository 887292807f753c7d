"""What the scripts under scripts/ share: the fixture homes and their
expected counts, running telemetron with nothing of the machine's, and a
loopback OTLP/HTTP receiver that records bodies, can forward them, and can
lose an acknowledgement on purpose.

Standard library only, so a script that needs nothing else can import it
before any virtual environment exists.
"""
import collections
import gzip
import http.server
import os
import shutil
import subprocess
import sys
import threading
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")


def fail(msg):
    """Ends the script with a message on stderr and exit code 1."""
    sys.exit(f"FAIL: {msg}")


def telemetron_binary(given=None):
    """`given`, else target/release/telemetron, built if missing."""
    if given:
        if not os.path.exists(given):
            fail(f"{given} not found: build it, or leave out --telemetron")
        return given
    path = os.path.join(ROOT, "target", "release", "telemetron")
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    return path


def expected(name):
    """Parses fixtures/NAME.expected: `metric{k=v,...} value` lines, `#`
    comments. Returns {(metric, frozenset of (k, v)): value}."""
    out = {}
    with open(os.path.join(FIXTURES, name + ".expected"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            series, value = line.rsplit(" ", 1)
            metric, attrs = series.rstrip("}").split("{", 1)
            pairs = frozenset(tuple(kv.split("=", 1)) for kv in attrs.split(","))
            out[(metric, pairs)] = int(value)
    return out


def add(a, b):
    """The sum of two count tables."""
    out = collections.Counter(a)
    for k, v in b.items():
        out[k] += v
    return dict(out)


def copy_home(dest):
    """A writable copy of fixtures/demo-home at `dest`."""
    shutil.copytree(os.path.join(FIXTURES, "demo-home"), dest, symlinks=True)
    return dest


def append_later(home):
    """Appends every file of fixtures/demo-later to the same path in `home`."""
    later = os.path.join(FIXTURES, "demo-later")
    for d, _, files in os.walk(later):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), later)
            dest = os.path.join(home, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "ab") as out, open(os.path.join(d, f), "rb") as src:
                out.write(src.read())


def append_pi_prompt(home, n):
    """Appends one user prompt (with a canary) to the demo home's pi
    transcript: one more `pack.user.prompt` and one more parsed line."""
    sessions = os.path.join(home, ".pi", "agent", "sessions")
    (d,) = os.listdir(sessions)
    (f,) = os.listdir(os.path.join(sessions, d))
    line = ('{"type":"message","id":"e2e%04x","parentId":null,'
            '"timestamp":"2026-11-01T10:00:%02d.000Z","message":{"role":"user",'
            '"content":[{"type":"text","text":"CANARY-e2e-%d"}]}}\n' % (n, n % 60, n))
    with open(os.path.join(sessions, d, f), "a", encoding="utf-8") as out:
        out.write(line)


ONE_PI_PROMPT = {
    ("pack.user.prompt", frozenset({("pack", "pi"), ("session.type", "main")})): 1,
    ("pack.emitter.lines", frozenset({("pack", "pi"), ("result", "parsed")})): 1,
}


def clean_env(home):
    """This process's environment with HOME set to `home` and nothing that
    would point telemetron or an agent tool elsewhere (agent variables,
    TELEMETRON_*, DO_NOT_TRACK)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TELEMETRON_") and k not in (
               "CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME", "GEMINI_DATA_DIR",
               "OPENCLAW_STATE_DIR", "PI_CODING_AGENT_DIR", "DO_NOT_TRACK")}
    env["HOME"] = home
    return env


def run_scan(binary, home, state, *args, check=0):
    """Runs `telemetron scan --home HOME --state-dir STATE ARGS` with an
    empty config of its own and no agent variables from this machine.
    Asserts the exit code when `check` is not None; returns the process."""
    env = clean_env(home)
    os.makedirs(state, exist_ok=True)
    env["TELEMETRON_CONFIG"] = state.rstrip("/") + ".yaml"
    with open(env["TELEMETRON_CONFIG"], "w") as f:
        f.write("{}\n")
    cmd = [binary, "scan", "--home", home, "--state-dir", state, *args]
    r = subprocess.run(cmd, env=env, capture_output=True)
    if check is not None and r.returncode != check:
        fail(f"{' '.join(cmd)} exited {r.returncode}, expected {check}:\n"
             f"{r.stderr.decode(errors='replace')}")
    return r


class Receiver:
    """A loopback OTLP/HTTP receiver on its own thread.

    Records every request (path, headers, body with any gzip undone). By
    default it answers 200 `{}`; with `upstream` set it forwards each body
    to that URL and answers with the upstream's status. While `losing_acks`
    is true every request is still forwarded but answered 503, as if the
    acknowledgement were lost on the way back."""

    def __init__(self, upstream=None):
        self.requests = []
        self.upstream = upstream
        self.losing_acks = False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(n)
                body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                outer.requests.append((self.path, dict(self.headers), body))
                # An empty ExportMetricsServiceResponse in the request's encoding.
                json_body = self.headers.get("Content-Type") == "application/json"
                status, answer = 200, b"{}" if json_body else b""
                if outer.upstream:
                    req = urllib.request.Request(outer.upstream, data=raw, method="POST")
                    for h in ("Content-Type", "Content-Encoding"):
                        if self.headers.get(h):
                            req.add_header(h, self.headers[h])
                    try:
                        with urllib.request.urlopen(req, timeout=30) as r:
                            status, answer = r.status, r.read()
                    except urllib.error.HTTPError as e:
                        status, answer = e.code, e.read()
                if outer.losing_acks:
                    status, answer = 503, b"acknowledgement lost on purpose"
                self.send_response(status)
                self.send_header("Content-Type", self.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *a):
                pass

        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._srv.server_address[1]}/v1/metrics"

    def close(self):
        self._srv.shutdown()
        self._srv.server_close()


def flatten_json(doc):
    """An OTLP/JSON ExportMetricsServiceRequest as {(metric, attrs): value},
    values summed over points (costs, doubles in USD, as pico-dollars)."""
    out = collections.Counter()
    for rm in doc["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                for p in m["sum"]["dataPoints"]:
                    attrs = frozenset((kv["key"], kv["value"]["stringValue"]) for kv in p["attributes"])
                    v = int(p["asInt"]) if "asInt" in p else round(p["asDouble"] * 1e12)
                    out[(m["name"], attrs)] += v
    return dict(out)


def show(series):
    """`metric{k=v,...}` for messages."""
    metric, attrs = series
    return metric + "{" + ",".join(f"{k}={v}" for k, v in sorted(attrs)) + "}"
