#!/usr/bin/env python3
"""End to end against real metrics backends: what telemetron sends is
stored, labelled and counted as the contract says in VictoriaMetrics and in
Prometheus, and the Grafana dashboard's queries find it in both.

Usage: scripts/e2e_backends.py [--telemetron BIN] [--victoria-metrics BIN]
                               [--vmagent BIN] [--prometheus BIN] [--no-prometheus]
                               [--suite SUITE] [--cache DIR] [--keep]

1. Obtains the backends from Debian's archive: `apt-get download` of the
   `victoria-metrics` package (victoria-metrics and vmagent) and of
   `prometheus`, from SUITE (default sid: VictoriaMetrics 1.14x stores
   delta sums, trixie's 1.112 drops them, see docs/fleet.md), with a
   private apt configuration in a temp dir (the machine's sources are not
   touched), then `dpkg-deb -x`. The binaries are kept in the cache dir
   (default target/e2e) for later runs.
2. Starts, on free loopback ports with temp storage:
   - VictoriaMetrics with `-opentelemetry.usePrometheusNaming` (the names
     the Collector's Prometheus exporters, Prometheus and Mimir give:
     pack_user_prompt_total, session_type) and
     `-dedup.minScrapeInterval=1ms` (one sample per series and timestamp:
     what makes a re-sent delta batch count once);
   - Prometheus with its remote-write receiver, fed by vmagent, which
     takes OTLP and remote-writes it (Debian's Prometheus has no OTLP
     receiver; this is the path of docs/fleet.md's Collector, with vmagent
     in the Collector's place).
3. Runs five real scans of a copy of fixtures/demo-home per scenario,
   through a loopback relay that forwards every body: the demo home;
   fixtures/demo-later appended; nothing new; one more prompt whose
   acknowledgements the relay loses (the backend stores every attempt, the
   scan retries, then exits 3); and a run that re-sends that batch, byte
   for byte, before its own. Scenarios, told apart by `--deployment-id`:
   delta and cumulative into VictoriaMetrics, cumulative into Prometheus.
4. Asserts through each backend's query API:
   - the stored series are exactly fixtures/demo-home.expected +
     demo-later.expected + the extra prompt + the heartbeat, with exactly
     the contract's labels, and no canary anywhere;
   - cumulative: every series has a sample at every batch from its first
     on, never decreasing, the last equal to the expected total, which
     `last_over_time` also gives;
   - delta: the samples of every series add up to the expected total (the
     re-sent batch is stored once), and `sum_over_time` agrees.
5. Runs every panel query of contrib/grafana/telemetron.json (variables
   substituted, scoped to a cumulative deployment) on both backends and
   asserts each returns data; on VictoriaMetrics the stat panels' totals
   must also match the growth after the first batch (see check_dashboard).
6. Stops every server and removes every temp file (--keep keeps them).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import harness
from harness import fail

DASHBOARD = os.path.join(harness.ROOT, "contrib", "grafana", "telemetron.json")

# Resource and scope attributes as VictoriaMetrics and vmagent label them
# with -opentelemetry.usePrometheusNaming (they promote all of them).
RESOURCE_LABELS = {"service_name", "service_version", "service_instance_id", "deployment_id",
                   "scope_name", "scope_version"}

APT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

# The binaries this script runs, and the Debian package of each.
PACKAGES = {"victoria-metrics": "victoria-metrics", "vmagent": "victoria-metrics",
            "prometheus": "prometheus"}


def obtain(cache, suite, names):
    """{name: path} for the binaries `names` from Debian SUITE, each
    downloaded once into `cache` (one apt update for all that are missing)."""
    os.makedirs(cache, exist_ok=True)
    out, missing = {}, []
    for name in names:
        have = sorted(f for f in os.listdir(cache)
                      if f.startswith(f"{name}-{suite}-") and not f.endswith(".part"))
        if have:
            out[name] = os.path.join(cache, have[-1])
        else:
            missing.append(name)
    if not missing:
        return out
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        fail(f"apt-get and dpkg-deb are needed to fetch {', '.join(missing)}; or pass "
             + " ".join(f"--{n} BIN" for n in missing))
    packages = sorted({PACKAGES[n] for n in missing})
    with tempfile.TemporaryDirectory(prefix="telemetron-apt-") as apt:
        for d in ("lists/partial", "cache/archives/partial", "etc"):
            os.makedirs(os.path.join(apt, d))
        sources = os.path.join(apt, "etc", "sources.list")
        with open(sources, "w") as f:
            f.write(f"deb [signed-by={APT_KEYRING}] http://deb.debian.org/debian {suite} main\n")
        opts = ["-q", "-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", f"Dir::State::Lists={apt}/lists", "-o", f"Dir::Cache={apt}/cache",
                "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"]
        print(f"fetching {', '.join(packages)} from Debian {suite} …", flush=True)
        for cmd in (["apt-get", *opts, "update"], ["apt-get", *opts, "download", *packages]):
            r = subprocess.run(cmd, cwd=apt, capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"apt-get {cmd[len(opts) + 1]} failed (is deb.debian.org reachable?):\n{r.stderr}")
        for package in packages:
            (deb,) = [f for f in os.listdir(apt) if f.startswith(package + "_") and f.endswith(".deb")]
            deb = os.path.join(apt, deb)
            version = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True,
                                     text=True, check=True).stdout.strip()
            root = os.path.join(apt, "root-" + package)
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
            for name in missing:
                if PACKAGES[name] != package:
                    continue
                dest = os.path.join(cache, f"{name}-{suite}-{version}")
                # Copied beside it, then renamed: an interrupted copy is
                # never taken for the binary.
                shutil.copy2(os.path.join(root, "usr", "bin", name), dest + ".part")
                os.replace(dest + ".part", dest)
                out[name] = dest
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A backend process on a free loopback port, logging under `tmp`."""

    name = "server"
    ready_path = "/health"

    def __init__(self, binary, tmp, args):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(tmp, f"{self.name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, *args(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.base + self.ready_path, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail(f"{self.name} did not start; its log:\n{self.tail()}")
            time.sleep(0.1)
        print(f"{self.name}: {binary} on {self.base}")

    def tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-4000:].decode(errors="replace")

    def get(self, path, raw=False, **params):
        """GETs an API path; its JSON answer, or its text when `raw`."""
        url = self.base + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            fail(f"{self.name}: GET {url}: HTTP {e.code}: {e.read().decode(errors='replace')}")
        return text if raw else json.loads(text)

    def query(self, expr, at):
        """An instant query's result list."""
        d = self.get("/api/v1/query", query=expr, time=f"{at:.3f}")
        if d.get("status") != "success":
            fail(f"{self.name}: query {expr!r} failed: {d}")
        return d["data"]["result"]

    def wait_for(self, selector, samples):
        """Waits (up to 30 s) until the one series of `selector` has
        `samples` samples: what was ingested can take a moment to show."""
        deadline = time.monotonic() + 30
        while True:
            self.flush()
            series = self.samples(selector)
            if len(series) == 1 and len(series[0][1]) >= samples or time.monotonic() > deadline:
                return
            time.sleep(0.2)

    def flush(self):
        pass

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class VictoriaMetrics(Server):
    name = "victoria-metrics"

    def __init__(self, binary, tmp):
        super().__init__(binary, tmp, lambda port: [
            f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={os.path.join(tmp, 'vm-data')}",
            "-retentionPeriod=100y", "-opentelemetry.usePrometheusNaming",
            "-dedup.minScrapeInterval=1ms", "-search.latencyOffset=0s", "-search.disableCache"])
        self.otlp = self.base + "/opentelemetry/v1/metrics"

    def flush(self):
        self.get("/internal/force_flush", raw=True)

    def samples(self, selector):
        """Every raw sample of the matching series: [(labels, [(ts ms, value)])]."""
        out = []
        for line in self.get("/api/v1/export", raw=True, **{"match[]": selector}).splitlines():
            d = json.loads(line)
            out.append((d["metric"], sorted(zip(d["timestamps"], d["values"]))))
        return out


class Prometheus(Server):
    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(self, binary, tmp):
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("# No scrape jobs: samples arrive by remote write.\n{}\n")
        super().__init__(binary, tmp, lambda port: [
            f"--config.file={config}", f"--storage.tsdb.path={os.path.join(tmp, 'prom-data')}",
            f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver"])
        self.remote_write = self.base + "/api/v1/write"

    def samples(self, selector):
        """Every raw sample of the matching series over the last day (a
        range selector at an instant): [(labels, [(ts ms, value)])]."""
        out = []
        for r in self.query(f"{selector}[1d]", time.time() + 60):
            # Counters are integers; costs (pack.cost.usage) are doubles.
            num = float if r["metric"].get("__name__") == COST else int
            out.append((r["metric"], [(round(float(t) * 1000), num(v)) for t, v in r["values"]]))
        return out


class VmAgent(Server):
    """vmagent taking OTLP and remote-writing it to `remote_write`."""

    name = "vmagent"

    def __init__(self, binary, tmp, remote_write):
        super().__init__(binary, tmp, lambda port: [
            f"-httpListenAddr=127.0.0.1:{port}", f"-remoteWrite.url={remote_write}",
            "-remoteWrite.forcePromProto=true", f"-remoteWrite.tmpDataPath={os.path.join(tmp, 'vmagent')}",
            "-remoteWrite.flushInterval=100ms", "-opentelemetry.usePrometheusNaming"])
        self.otlp = self.base + "/opentelemetry/v1/metrics"


def prom_name(metric):
    """The Prometheus name of a contract metric (all are monotonic sums
    whose units are annotations in braces, which the translation drops)."""
    return metric.replace(".", "_") + "_total"


def prom_series(series):
    """A contract series as (metric name, frozenset of label pairs)."""
    metric, attrs = series
    return prom_name(metric), frozenset((k.replace(".", "_"), v) for k, v in attrs)


HEARTBEAT = ("pack.emitter.heartbeat", frozenset({("pack", "telemetron")}))

# pack.cost.usage (unit USD, a double): its Prometheus name keeps the unit.
COST = "pack_cost_usage_USD_total"


def dry_run_costs(binary, home):
    """The cost series a first run over `home` sends (cumulative, from a
    fresh state): {prom series: USD}. Exactly-once counting makes them the
    totals the five batches reach."""
    with tempfile.TemporaryDirectory() as state:
        r = harness.run_scan(binary, home, state, "--dry-run", "--encoding", "json",
                             "--temporality", "cumulative")
    out = {}
    for rm in json.loads(r.stdout)["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                if m["name"] != "pack.cost.usage":
                    continue
                for p in m["sum"]["dataPoints"]:
                    labels = frozenset((a["key"].replace(".", "_"), a["value"]["stringValue"])
                                       for a in p["attributes"])
                    out[(COST, labels)] = p["asDouble"]
    if not out:
        fail("the dry run sends no pack.cost.usage")
    return out


def close(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) + 1e-12


class Scenario:
    """Five scans into one backend in one temporality (see the module doc)."""

    def __init__(self, backend, otlp, temporality):
        self.backend, self.otlp, self.temporality = backend, otlp, temporality
        self.deployment = f"e2e-{backend.name}-{temporality}"
        self.batches = 5
        first = dict(harness.expected("demo-home"))
        first[HEARTBEAT] = 1
        last = harness.add(harness.add(harness.expected("demo-home"), harness.expected("demo-later")),
                           harness.ONE_PI_PROMPT)
        last[HEARTBEAT] = self.batches
        # The expected totals after the first batch, and after the last.
        self.first = {prom_series(k): v for k, v in first.items()}
        self.want = {prom_series(k): v for k, v in last.items()}

    def run(self, binary, tmp):
        base = os.path.join(tmp, self.deployment)
        home = harness.copy_home(os.path.join(base, "home"))
        state = os.path.join(base, "state")
        relay = harness.Receiver(upstream=self.otlp)
        args = ["--endpoint", relay.url, "--temporality", self.temporality,
                "--deployment-id", self.deployment, "--retry-max-time", "2s"]
        try:
            harness.run_scan(binary, home, state, *args)
            harness.append_later(home)
            harness.run_scan(binary, home, state, *args)
            harness.run_scan(binary, home, state, *args)
            harness.append_pi_prompt(home, 1)
            relay.losing_acks = True
            harness.run_scan(binary, home, state, *args, check=3)
            relay.losing_acks = False
            lost = len(relay.requests) - 3
            harness.run_scan(binary, home, state, *args)
        finally:
            relay.close()
        bodies = [body for _, _, body in relay.requests]
        # The scan whose acknowledgements were lost tried at least twice
        # (retries), and the next run re-sent that batch before its own:
        # every copy reached the backend, byte for byte the same.
        if lost < 2 or len(bodies) != 3 + lost + 2:
            fail(f"{self.deployment}: {len(bodies)} requests, {lost} of them unacknowledged: "
                 f"expected at least 2 attempts for the lost batch, one re-send and one new batch")
        if any(b != bodies[3] for b in bodies[3:4 + lost]):
            fail(f"{self.deployment}: a re-sent copy of the batch differs from the first attempt")
        with open(os.path.join(state, "install-id")) as f:
            self.install_id = f.read().strip()
        self.cost_want = dry_run_costs(binary, home)

    def stored(self):
        """{(name, metric labels): (resource labels, [(ts, value)])}."""
        out = {}
        for labels, samples in self.backend.samples('{deployment_id="%s"}' % self.deployment):
            labels = dict(labels)
            name = labels.pop("__name__")
            resource = {k: labels.pop(k) for k in list(labels) if k in RESOURCE_LABELS}
            out[(name, frozenset(labels.items()))] = (resource, samples)
        return out

    def check(self):
        """Asserts what was stored, and keeps it (`self.got`) and the
        batches' timestamps in ms (`self.batch_ts`) for check_dashboard."""
        self.backend.wait_for(f'{prom_name(HEARTBEAT[0])}{{deployment_id="{self.deployment}"}}',
                              self.batches)
        got, want, where = self.stored(), self.want, self.deployment
        # Costs are doubles: checked apart, to a relative 1e-9.
        costs = {k: v for k, v in got.items() if k[0] == COST}
        got = {k: v for k, v in got.items() if k[0] != COST}
        if set(costs) != set(self.cost_want):
            fail(f"{where}: stored cost series differ: {sorted(map(harness.show, set(costs) ^ set(self.cost_want)))[:5]}")
        for series, (_, samples) in costs.items():
            values = [float(v) for _, v in samples]
            total = values[-1] if self.temporality == "cumulative" else sum(values)
            if not close(total, self.cost_want[series]):
                fail(f"{where}: {harness.show(series)} reaches {total} USD, expected {self.cost_want[series]}")
        self.got = got
        missing = sorted(set(want) - set(got), key=str)
        extra = sorted(set(got) - set(want), key=str)
        if missing or extra:
            fail(f"{where}: stored series differ from the expected ones\n"
                 f"  missing ({len(missing)}): {[harness.show(s) for s in missing[:5]]}\n"
                 f"  unexpected ({len(extra)}): {[harness.show(s) for s in extra[:5]]}")
        expect_resource = {"service_name": "telemetron", "service_instance_id": self.install_id,
                           "deployment_id": self.deployment, "scope_name": "telemetron"}
        for series, (resource, _) in got.items():
            for k, v in expect_resource.items():
                if resource.get(k) != v:
                    fail(f"{where}: {harness.show(series)} has {k}={resource.get(k)!r}, expected {v!r}")
            if not re.fullmatch(r"\d+\.\d+\.\d+", resource.get("service_version", "")) or resource.get(
                    "scope_version") != resource.get("service_version"):
                fail(f"{where}: {harness.show(series)} has resource {resource}")
        heartbeat_ts = self.batch_ts = [ts for ts, _ in got[prom_series(HEARTBEAT)][1]]
        if len(heartbeat_ts) != self.batches:
            fail(f"{where}: {len(heartbeat_ts)} heartbeat samples for {self.batches} batches "
                 f"(a re-sent batch stored twice?)")
        for series, (_, samples) in got.items():
            values = [v for _, v in samples]
            if self.temporality == "cumulative":
                ts = [t for t, _ in samples]
                if ts != [t for t in heartbeat_ts if t >= ts[0]]:
                    fail(f"{where}: {harness.show(series)} is not continuous: samples at {ts}, "
                         f"batches at {heartbeat_ts}")
                if any(b < a for a, b in zip(values, values[1:])):
                    fail(f"{where}: {harness.show(series)} decreases: {values}")
                if values[-1] != want[series]:
                    fail(f"{where}: {harness.show(series)} ends at {values[-1]}, expected {want[series]}")
            elif sum(values) != want[series]:
                fail(f"{where}: the samples of {harness.show(series)} add up to {sum(values)} "
                     f"({values}), expected {want[series]}")
        # The same through the query language, one metric at a time (a
        # rollup drops the metric name).
        fn = "last_over_time" if self.temporality == "cumulative" else "sum_over_time"
        at = heartbeat_ts[-1] / 1000 + 1
        answered = {}
        for name in sorted({n for n, _ in want}):
            for r in self.backend.query(f'{fn}({name}{{deployment_id="{self.deployment}"}}[1h])', at):
                # (MetricsQL keeps the name on some rollups.)
                labels = {k: v for k, v in r["metric"].items()
                          if k not in RESOURCE_LABELS and k != "__name__"}
                answered[(name, frozenset(labels.items()))] = int(r["value"][1])
        if answered != want:
            wrong = sorted((harness.show(k), answered.get(k), want.get(k))
                           for k in set(answered) | set(want) if answered.get(k) != want.get(k))
            fail(f"{where}: {fn} disagrees with the expected totals (series, got, want): {wrong[:5]}")
        print(f"ok: {where}: {len(want)} series stored with the contract's labels; "
              f"{'continuous running totals' if self.temporality == 'cumulative' else 'samples add up'}"
              f" after {self.batches} batches and a lost acknowledgement")


def panel_queries(dashboard):
    """(panel title, expr, panel type) for every query of every panel,
    rows included."""
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                out.append((p["title"], t["expr"], p["type"]))
    walk(dashboard["panels"])
    return out


def substitute(expr, deployment, range_):
    """Grafana's variables as the dashboard uses them."""
    for var, value in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", range_),
                       ("$pack", ".*"), ("$deployment_id", deployment)):
        expr = expr.replace(var, value)
    if "$" in expr:
        fail(f"unknown variable left in {expr!r}")
    return expr


def check_dashboard(scenario, exact):
    """Runs every panel query over the hour before the last batch and
    asserts it returns data.

    With `exact`, also checks the totals the stat panels show
    (`sum(increase(METRIC[$__range]))`) over a range that starts just after
    the first batch, against the growth since then (demo-later.expected,
    the extra prompt, four heartbeats). increase() counts growth between
    samples: a series born inside the range may have its first sample left
    out (Prometheus always leaves it out and extrapolates the rest, so
    exact totals are not expected there; VictoriaMetrics leaves it out
    when it guesses the counter predates the range), so the total must lie
    between the growth without those first samples and the growth with
    them. With MetricsQL's increase_pure(), which docs/fleet.md recommends
    on VictoriaMetrics, it must be exact."""
    backend, deployment, batch_ts = scenario.backend, scenario.deployment, scenario.batch_ts
    with open(DASHBOARD, encoding="utf-8") as f:
        queries = panel_queries(json.load(f))
    if not queries:
        fail(f"{DASHBOARD}: no panel queries")
    at = batch_ts[-1] / 1000 + 1
    growth, first_samples = {}, {}
    for (name, labels), v in scenario.want.items():
        growth[name] = growth.get(name, 0) + v - scenario.first.get((name, labels), 0)
    # What the series born after the first batch showed in their first sample.
    for (name, _), (_, samples) in scenario.got.items():
        if samples[0][0] > batch_ts[0]:
            first_samples[name] = first_samples.get(name, 0) + samples[0][1]
    after_first = f"{batch_ts[-1] + 1000 - batch_ts[0] - 1}ms"
    totals = 0
    for title, expr, kind in queries:
        if not backend.query(substitute(expr, deployment, "1h"), at):
            fail(f"{backend.name}: dashboard panel {title!r}: no data for {expr!r}")
        total = re.fullmatch(r"sum\(increase\((pack_[a-z_]+_total)\{[^}]*\}\[\$__range\]\)\)", expr)
        if not exact or kind != "stat" or not total:
            continue
        name = total.group(1)
        want = growth[name]
        low = want - first_samples.get(name, 0)
        for e in (expr, expr.replace("increase(", "increase_pure(")):
            result = backend.query(substitute(e, deployment, after_first), at)
            got = round(float(result[0]["value"][1])) if len(result) == 1 else None
            ok = got == want if "pure" in e else got is not None and low <= got <= want
            if not ok:
                fail(f"{backend.name}: dashboard panel {title!r}: {e!r} over the range after the "
                     f"first batch gives {got}, expected {want if 'pure' in e else f'{low}..{want}'}")
        totals += 1
    print(f"ok: {backend.name}: all {len(queries)} dashboard queries return data"
          + (f"; the {totals} stat totals match the growth (exactly with increase_pure)" if exact else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--telemetron", help="binary to test (default: target/release/telemetron, built if missing)")
    for name in PACKAGES:
        ap.add_argument(f"--{name}", help=f"{name} binary (default: fetched from Debian)")
    ap.add_argument("--no-prometheus", action="store_true", help="VictoriaMetrics only")
    ap.add_argument("--suite", default="sid", help="Debian suite to fetch from (default: sid)")
    ap.add_argument("--cache", default=os.path.join(harness.ROOT, "target", "e2e"),
                    help="where fetched binaries are kept (default: target/e2e)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (printed) for inspection")
    a = ap.parse_args()
    binary = harness.telemetron_binary(a.telemetron)
    names = ["victoria-metrics"] + ([] if a.no_prometheus else ["vmagent", "prometheus"])
    given = {n: getattr(a, n.replace("-", "_")) for n in names}
    bins = dict(obtain(a.cache, a.suite, [n for n in names if not given[n]]), **{
        n: p for n, p in given.items() if p})
    tmp = tempfile.mkdtemp(prefix="telemetron-e2e-")
    servers = []
    # A CI timeout's SIGTERM still stops the servers and cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL: terminated"))
    try:
        vm = VictoriaMetrics(bins["victoria-metrics"], tmp)
        servers.append(vm)
        scenarios = [Scenario(vm, vm.otlp, "delta"), Scenario(vm, vm.otlp, "cumulative")]
        if not a.no_prometheus:
            prom = Prometheus(bins["prometheus"], tmp)
            servers.append(prom)
            agent = VmAgent(bins["vmagent"], tmp, prom.remote_write)
            servers.append(agent)
            scenarios.append(Scenario(prom, agent.otlp, "cumulative"))
        for s in scenarios:
            s.run(binary, tmp)
        for s in scenarios:
            s.check()
        for backend in {s.backend for s in scenarios}:
            if "CANARY" in json.dumps(backend.samples('{__name__=~".+"}')):
                fail(f"{backend.name}: a canary from the fixture transcripts was stored")
        for s in scenarios:
            if s.temporality == "cumulative":
                check_dashboard(s, exact=isinstance(s.backend, VictoriaMetrics))
    except SystemExit:
        for s in servers:
            print(f"{s.name} log (tail):\n{s.tail()}", file=sys.stderr)
        raise
    finally:
        for s in servers:
            s.stop()
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
