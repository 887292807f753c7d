#!/usr/bin/env python3
"""End to end against a real VictoriaMetrics: what telemetron sends is
stored, labelled and counted as the contract says, and the Grafana
dashboard's queries find it.

Usage: scripts/e2e_victoriametrics.py [--telemetron BIN] [--victoria-metrics BIN]
                                      [--suite SUITE] [--cache DIR] [--keep]

1. Obtains VictoriaMetrics from Debian's archive: `apt-get download
   victoria-metrics` from SUITE (default sid, whose 1.14x stores delta
   sums; trixie's 1.112 drops them, see docs/fleet.md) with a private apt
   configuration in a temp dir (the machine's sources are not touched),
   then `dpkg-deb -x`. The binary is kept in the cache dir (default
   target/e2e) for later runs.
2. Starts it on a free loopback port with a temp storage dir,
   `-opentelemetry.usePrometheusNaming` (the names a Collector's
   Prometheus exporters, Prometheus and Mimir give: pack_user_prompt_total,
   session_type) and `-dedup.minScrapeInterval=1ms` (one sample per series
   and timestamp: what makes a re-sent delta batch count once).
3. For each temporality, five real scans of a copy of fixtures/demo-home,
   through a loopback relay that forwards every body to VictoriaMetrics:
   the demo home; fixtures/demo-later appended; nothing new; one more
   prompt whose acknowledgements the relay loses (VictoriaMetrics stores
   every attempt, the scan retries, then exits 3); and a run that re-sends
   that batch, byte for byte, before its own.
4. Asserts through the query API, per temporality (told apart by
   `--deployment-id e2e-<temporality>`):
   - the stored series are exactly fixtures/demo-home.expected +
     demo-later.expected + the extra prompt + the heartbeat, with exactly
     the contract's labels, and no canary anywhere;
   - cumulative: every series has a sample at every batch from its first
     on, never decreasing, the last equal to the expected total;
   - delta: the samples of every series add up to the expected total (the
     re-sent batch is stored once), and `sum_over_time` agrees.
5. Runs every panel query of contrib/grafana/telemetron.json (variables
   substituted, scoped to the cumulative deployment) and asserts each
   returns data; the stat panels' totals must match the growth after the
   first batch (see check_dashboard).
6. Stops VictoriaMetrics and removes every temp file (--keep keeps them).
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

# Resource and scope attributes as VictoriaMetrics labels them with
# -opentelemetry.usePrometheusNaming (it promotes all of them).
RESOURCE_LABELS = {"service_name", "service_version", "service_instance_id", "deployment_id",
                   "scope_name", "scope_version"}

APT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def obtain_victoria_metrics(cache, suite):
    """The path of a victoria-metrics binary from Debian SUITE, downloaded
    once into `cache`."""
    os.makedirs(cache, exist_ok=True)
    have = sorted(f for f in os.listdir(cache)
                  if f.startswith(f"victoria-metrics-{suite}-") and not f.endswith(".part"))
    if have:
        return os.path.join(cache, have[-1])
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        fail("apt-get and dpkg-deb are needed to fetch VictoriaMetrics; "
             "or pass --victoria-metrics BIN")
    with tempfile.TemporaryDirectory(prefix="telemetron-apt-") as apt:
        for d in ("lists/partial", "cache/archives/partial", "etc"):
            os.makedirs(os.path.join(apt, d))
        sources = os.path.join(apt, "etc", "sources.list")
        with open(sources, "w") as f:
            f.write(f"deb [signed-by={APT_KEYRING}] http://deb.debian.org/debian {suite} main\n")
        opts = ["-q", "-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", f"Dir::State::Lists={apt}/lists", "-o", f"Dir::Cache={apt}/cache",
                "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"]
        print(f"fetching victoria-metrics from Debian {suite} …", flush=True)
        for cmd in (["apt-get", *opts, "update"], ["apt-get", *opts, "download", "victoria-metrics"]):
            r = subprocess.run(cmd, cwd=apt, capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"{' '.join(cmd[:1] + cmd[-2:])} failed (is deb.debian.org reachable?):\n{r.stderr}")
        (deb,) = [f for f in os.listdir(apt) if f.endswith(".deb")]
        version = subprocess.run(["dpkg-deb", "-f", os.path.join(apt, deb), "Version"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["dpkg-deb", "-x", os.path.join(apt, deb), os.path.join(apt, "root")], check=True)
        dest = os.path.join(cache, f"victoria-metrics-{suite}-{version}")
        # Copied beside it, then renamed: an interrupted copy is never taken
        # for the binary.
        shutil.copy2(os.path.join(apt, "root", "usr", "bin", "victoria-metrics"), dest + ".part")
        os.replace(dest + ".part", dest)
    return dest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VictoriaMetrics:
    """A single-node VictoriaMetrics on loopback, storing under `tmp`."""

    def __init__(self, binary, tmp):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.otlp = self.base + "/opentelemetry/v1/metrics"
        self.log_path = os.path.join(tmp, "victoria-metrics.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, f"-httpListenAddr=127.0.0.1:{port}",
             f"-storageDataPath={os.path.join(tmp, 'vm-data')}", "-retentionPeriod=100y",
             "-opentelemetry.usePrometheusNaming", "-dedup.minScrapeInterval=1ms",
             "-search.latencyOffset=0s", "-search.disableCache"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.read().strip() == b"OK":
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail(f"VictoriaMetrics did not start; its log:\n{self.tail()}")
            time.sleep(0.1)

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
            fail(f"GET {url}: HTTP {e.code}: {e.read().decode(errors='replace')}")
        return text if raw else json.loads(text)

    def flush(self, selector, samples):
        """Makes everything ingested so far visible to queries: asks for a
        flush, then waits (up to 30 s) until the series of `selector` has
        `samples` samples, since freshly flushed rows can take a moment to
        show."""
        deadline = time.monotonic() + 30
        while True:
            self.get("/internal/force_flush", raw=True)
            series = self.export(selector)
            if len(series) == 1 and len(series[0][1]) >= samples or time.monotonic() > deadline:
                return
            time.sleep(0.2)

    def export(self, selector):
        """Every raw sample of the matching series: [(labels, [(ts, value)])]."""
        text = self.get("/api/v1/export", raw=True, **{"match[]": selector})
        out = []
        for line in text.splitlines():
            d = json.loads(line)
            out.append((d["metric"], sorted(zip(d["timestamps"], d["values"]))))
        return out

    def query(self, expr, at):
        d = self.get("/api/v1/query", query=expr, time=f"{at:.3f}")
        if d.get("status") != "success":
            fail(f"query {expr!r} failed: {d}")
        return d["data"]["result"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def prom_name(metric):
    """The Prometheus name of a contract metric (all are monotonic sums
    whose units are annotations in braces, which the translation drops)."""
    return metric.replace(".", "_") + "_total"


def prom_series(series):
    """A contract series as (metric name, frozenset of label pairs)."""
    metric, attrs = series
    return prom_name(metric), frozenset((k.replace(".", "_"), v) for k, v in attrs)


HEARTBEAT = ("pack.emitter.heartbeat", frozenset({("pack", "telemetron")}))


def scenario(binary, vm, tmp, temporality):
    """Five scans (see the module doc); returns (the expected totals in
    Prometheus form after the first batch, and after the last; the number
    of batches; the install id)."""
    base = os.path.join(tmp, temporality)
    home = harness.copy_home(os.path.join(base, "home"))
    state = os.path.join(base, "state")
    relay = harness.Receiver(upstream=vm.otlp)
    args = ["--endpoint", relay.url, "--temporality", temporality,
            "--deployment-id", f"e2e-{temporality}", "--retry-max-time", "2s"]
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
    # (retries), and the next run re-sent that batch before its own: every
    # copy reached VictoriaMetrics, byte for byte the same.
    if lost < 2 or len(bodies) != 3 + lost + 2:
        fail(f"{temporality}: {len(bodies)} requests, {lost} of them unacknowledged: expected "
             f"at least 2 attempts for the lost batch, one re-send and one new batch")
    if any(b != bodies[3] for b in bodies[3:4 + lost]):
        fail(f"{temporality}: a re-sent copy of the batch differs from the first attempt")
    want = harness.add(harness.add(harness.expected("demo-home"), harness.expected("demo-later")),
                       harness.ONE_PI_PROMPT)
    want[HEARTBEAT] = 5
    with open(os.path.join(state, "install-id")) as f:
        install_id = f.read().strip()
    first = dict(harness.expected("demo-home"))
    first[HEARTBEAT] = 1

    def prom(table):
        return {prom_series(k): v for k, v in table.items()}
    return (prom(first), prom(want)), 5, install_id


def stored(vm, temporality):
    """The stored series of one deployment: {(name, metric labels):
    (resource labels, [(ts, value)])}."""
    out = {}
    for labels, samples in vm.export('{deployment_id="e2e-%s"}' % temporality):
        labels = dict(labels)
        name = labels.pop("__name__")
        resource = {k: labels.pop(k) for k in list(labels) if k in RESOURCE_LABELS}
        out[(name, frozenset(labels.items()))] = (resource, samples)
    return out


def check_stored(vm, temporality, wants, batches, install_id):
    """Asserts what one scenario stored; returns its batches' timestamps (ms)."""
    want = wants[1]
    got = stored(vm, temporality)
    missing = sorted(set(want) - set(got), key=str)
    extra = sorted(set(got) - set(want), key=str)
    if missing or extra:
        fail(f"{temporality}: stored series differ from the expected ones\n"
             f"  missing ({len(missing)}): {[harness.show(s) for s in missing[:5]]}\n"
             f"  unexpected ({len(extra)}): {[harness.show(s) for s in extra[:5]]}")
    version = vm.get("/api/v1/label/service_version/values")["data"]
    for series, (resource, samples) in got.items():
        expect_resource = {"service_name": "telemetron", "service_instance_id": install_id,
                           "deployment_id": f"e2e-{temporality}", "scope_name": "telemetron"}
        for k, v in expect_resource.items():
            if resource.get(k) != v:
                fail(f"{temporality}: {harness.show(series)} has {k}={resource.get(k)!r}, expected {v!r}")
        if resource.get("service_version") not in version or resource.get(
                "scope_version") != resource.get("service_version"):
            fail(f"{temporality}: {harness.show(series)} has resource {resource}")
    heartbeat_ts = [ts for ts, _ in got[prom_series(HEARTBEAT)][1]]
    if len(heartbeat_ts) != batches:
        fail(f"{temporality}: {len(heartbeat_ts)} heartbeat samples for {batches} batches "
             f"(a re-sent batch stored twice?)")
    for series, (_, samples) in got.items():
        values = [v for _, v in samples]
        if temporality == "cumulative":
            ts = [t for t, _ in samples]
            if ts != [t for t in heartbeat_ts if t >= ts[0]]:
                fail(f"cumulative: {harness.show(series)} is not continuous: samples at {ts}, "
                     f"batches at {heartbeat_ts}")
            if any(b < a for a, b in zip(values, values[1:])):
                fail(f"cumulative: {harness.show(series)} decreases: {values}")
            if values[-1] != want[series]:
                fail(f"cumulative: {harness.show(series)} ends at {values[-1]}, expected {want[series]}")
        elif sum(values) != want[series]:
            fail(f"delta: the samples of {harness.show(series)} add up to {sum(values)} ({values}), "
                 f"expected {want[series]}")
    # The same through the query API, as a dashboard would ask.
    fn = "last_over_time" if temporality == "cumulative" else "sum_over_time"
    at = heartbeat_ts[-1] / 1000 + 1
    expr = f'{fn}({{deployment_id="e2e-{temporality}"}}[1h]) keep_metric_names'
    answered = {}
    for r in vm.query(expr, at):
        labels = {k: v for k, v in r["metric"].items() if k not in RESOURCE_LABELS}
        name = labels.pop("__name__")
        answered[(name, frozenset(labels.items()))] = int(r["value"][1])
    if answered != want:
        wrong = sorted((harness.show(k), answered.get(k), want.get(k))
                       for k in set(answered) | set(want) if answered.get(k) != want.get(k))
        fail(f"{temporality}: {expr} disagrees with the expected totals (series, got, want): {wrong[:5]}")
    print(f"ok: {temporality}: {len(want)} series stored with the contract's labels; "
          f"{'continuous running totals' if temporality == 'cumulative' else 'samples add up'} "
          f"after {batches} batches and a lost acknowledgement")
    return heartbeat_ts


def panel_queries(dashboard):
    """(panel title, expr) for every query of every panel, rows included."""
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


def check_dashboard(vm, batch_ts, wants):
    """Runs every panel query over the hour before the last batch and
    asserts it returns data.

    Then checks the totals the stat panels show
    (`sum(increase(METRIC[$__range]))`) over a range that starts just after
    the first batch, against the growth since then (demo-later.expected,
    the extra prompt, four heartbeats). increase() counts growth between
    samples: a series born inside the range may have its first sample left
    out (Prometheus always leaves it out; VictoriaMetrics only when it
    guesses the counter predates the range), so the total must lie between
    the growth without those first samples and the growth with them. With
    MetricsQL's increase_pure(), which docs/fleet.md recommends on
    VictoriaMetrics, it must be exact."""
    with open(DASHBOARD, encoding="utf-8") as f:
        dashboard = json.load(f)
    queries = panel_queries(dashboard)
    if not queries:
        fail(f"{DASHBOARD}: no panel queries")
    at = batch_ts[-1] / 1000 + 1
    growth, first_samples = {}, {}
    before, after = wants
    for (name, labels), v in after.items():
        growth[name] = growth.get(name, 0) + v - before.get((name, labels), 0)
    # What the series born after the first batch showed in their first
    # sample, from what VictoriaMetrics stored.
    for labels, samples in vm.export('{deployment_id="e2e-cumulative"}'):
        if samples[0][0] > batch_ts[0]:
            first_samples[labels["__name__"]] = first_samples.get(labels["__name__"], 0) + samples[0][1]
    after_first = f"{batch_ts[-1] + 1000 - batch_ts[0] - 1}ms"
    exact = 0
    for title, expr, kind in queries:
        if not vm.query(substitute(expr, "e2e-cumulative", "1h"), at):
            fail(f"dashboard panel {title!r}: no data for {expr!r}")
        total = re.fullmatch(r"sum\(increase\((pack_[a-z_]+_total)\{[^}]*\}\[\$__range\]\)\)", expr)
        if kind != "stat" or not total:
            continue
        name = total.group(1)
        want = growth[name]
        low = want - first_samples.get(name, 0)
        for e in (expr, expr.replace("increase(", "increase_pure(")):
            result = vm.query(substitute(e, "e2e-cumulative", after_first), at)
            got = round(float(result[0]["value"][1])) if len(result) == 1 else None
            ok = got == want if "pure" in e else got is not None and low <= got <= want
            if not ok:
                fail(f"dashboard panel {title!r}: {e!r} over the range after the first batch "
                     f"gives {got}, expected {want if 'pure' in e else f'{low}..{want}'}")
        exact += 1
    print(f"ok: all {len(queries)} dashboard queries return data; the {exact} stat totals "
          f"match the growth (exactly with increase_pure)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--telemetron", help="binary to test (default: target/release/telemetron, built if missing)")
    ap.add_argument("--victoria-metrics", help="victoria-metrics binary (default: fetched from Debian)")
    ap.add_argument("--suite", default="sid", help="Debian suite to fetch it from (default: sid)")
    ap.add_argument("--cache", default=os.path.join(harness.ROOT, "target", "e2e"),
                    help="where the fetched binary is kept (default: target/e2e)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (printed) for inspection")
    a = ap.parse_args()
    binary = harness.telemetron_binary(a.telemetron)
    vm_binary = a.victoria_metrics or obtain_victoria_metrics(a.cache, a.suite)
    tmp = tempfile.mkdtemp(prefix="telemetron-e2e-")
    vm = None
    # A CI timeout's SIGTERM still stops VictoriaMetrics and cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL: terminated"))
    try:
        vm = VictoriaMetrics(vm_binary, tmp)
        print(f"{vm_binary} listening on {vm.base}")
        results = {t: scenario(binary, vm, tmp, t) for t in ("delta", "cumulative")}
        for t, (_, batches, _) in results.items():
            vm.flush('pack_emitter_heartbeat_total{deployment_id="e2e-%s"}' % t, batches)
        if "CANARY" in vm.get("/api/v1/export", raw=True, **{"match[]": '{__name__=~".+"}'}):
            fail("a canary from the fixture transcripts reached VictoriaMetrics")
        batch_ts = {t: check_stored(vm, t, *results[t]) for t in results}
        check_dashboard(vm, batch_ts["cumulative"], results["cumulative"][0])
    except SystemExit:
        if vm:
            print(f"VictoriaMetrics log (tail):\n{vm.tail()}", file=sys.stderr)
        raise
    finally:
        if vm:
            vm.stop()
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
