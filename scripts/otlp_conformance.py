#!/usr/bin/env python3
"""Strict OTLP conformance of every body telemetron produces, checked with
the official `opentelemetry-proto` package from PyPI.

Usage: scripts/otlp_conformance.py [--telemetron BIN] [FILE ...]

Without files, runs telemetron (default target/release/telemetron, built
if missing) through every kind of run against a loopback receiver and
checks each body it sends or prints:

- OTLP/JSON bodies (`--encoding json`, plain and gzip; delta and
  cumulative; first runs, incremental runs, heartbeat-only runs, declared
  resource attributes, a batch re-sent after a failed export) and every
  dry-run rendering: each must parse as an ExportMetricsServiceRequest
  with unknown fields rejected, and re-serialise canonically (camelCase
  keys, 64-bit integers as strings, enums as numbers, default values left
  out) to exactly the same JSON.
- protobuf bodies: each must decode, and re-encode to the same bytes.
- the dry run of a waiting protobuf batch must describe exactly the
  message that the next real run then sends (privacy rule 4).

With FILE arguments, checks those files instead (`.pb` for protobuf,
anything else OTLP/JSON, several JSON documents per file allowed).

Needs: pip install -r scripts/requirements.txt (in a virtual environment;
.ci/run makes one in target/ci-venv).
"""
import argparse
import hashlib
import json
import os
import re
import sys
import tempfile

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

import harness
from harness import fail


def json_documents(text):
    """The JSON documents in `text`, one after another."""
    dec = json.JSONDecoder()
    i, docs = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return docs
        doc, i = dec.raw_decode(text, i)
        docs.append(doc)


def check_json(text, what):
    """Asserts every OTLP/JSON document in `text` is canonical; returns
    their messages."""
    docs = json_documents(text)
    if not docs:
        fail(f"{what}: no JSON document")
    msgs = []
    for n, doc in enumerate(docs):
        where = f"{what} (document {n + 1} of {len(docs)})"
        try:
            msg = json_format.Parse(json.dumps(doc), ExportMetricsServiceRequest())
        except json_format.ParseError as e:
            fail(f"{where}: not an ExportMetricsServiceRequest: {e}")
        back = json_format.MessageToDict(msg, use_integers_for_enums=True)
        if back != doc:
            fail(f"{where}: not canonical OTLP/JSON:\n"
                 f"sent:      {json.dumps(doc, sort_keys=True)[:2000]}\n"
                 f"canonical: {json.dumps(back, sort_keys=True)[:2000]}")
        if not msg.resource_metrics:
            fail(f"{where}: no resourceMetrics")
        msgs.append(msg)
    return msgs


def check_pb(body, what):
    """Asserts a protobuf body decodes and re-encodes to the same bytes;
    returns its message."""
    msg = ExportMetricsServiceRequest()
    try:
        msg.ParseFromString(body)
    except Exception as e:  # DecodeError, whatever the protobuf backend
        fail(f"{what}: protobuf body does not decode: {e}")
    if msg.SerializeToString() != body:
        fail(f"{what}: protobuf body does not re-encode to the same bytes")
    if not msg.resource_metrics:
        fail(f"{what}: no resourceMetrics")
    return msg


class Runs:
    """Counts what was checked, by kind."""

    def __init__(self, binary, tmp):
        self.binary, self.tmp = binary, tmp
        self.checked = {"JSON bodies": 0, "protobuf bodies": 0, "dry-run renderings": 0}

    def body(self, path_headers_body, what):
        _, headers, body = path_headers_body
        if headers.get("Content-Type") == "application/json":
            self.checked["JSON bodies"] += 1
            (msg,) = check_json(body.decode("utf-8"), what)
            return msg
        if headers.get("Content-Type") == "application/x-protobuf":
            self.checked["protobuf bodies"] += 1
            return check_pb(body, what)
        fail(f"{what}: Content-Type {headers.get('Content-Type')!r}")

    def dry(self, home, state, *args):
        r = harness.run_scan(self.binary, home, state, "--dry-run", *args)
        msgs = check_json(r.stdout.decode("utf-8"), f"dry run {' '.join(args)}")
        self.checked["dry-run renderings"] += len(msgs)
        return msgs, r.stderr.decode()

    def series(self, name, args, receiver_args=()):
        """Dry run, then three real runs (demo home; demo-later appended;
        nothing new) with `args`; checks every body and rendering."""
        home = harness.copy_home(os.path.join(self.tmp, name, "home"))
        state = os.path.join(self.tmp, name, "state")
        self.dry(home, state, *args)
        rx = harness.Receiver(*receiver_args)
        try:
            for step in ("first run", "demo-later appended", "nothing new"):
                if step == "demo-later appended":
                    harness.append_later(home)
                harness.run_scan(self.binary, home, state, "--endpoint", rx.url, *args)
                self.body(rx.requests[-1], f"{name}: {step}")
                self.dry(home, state, *args)
        finally:
            rx.close()

    def resend(self, encoding):
        """A failed export leaves a batch waiting: its dry-run rendering
        must be the message the next run re-sends."""
        name = f"re-send-{encoding}"
        home = harness.copy_home(os.path.join(self.tmp, name, "home"))
        state = os.path.join(self.tmp, name, "state")
        args = ["--encoding", encoding, "--retry-max-time", "0"]
        rx = harness.Receiver()
        try:
            rx.losing_acks = True
            harness.run_scan(self.binary, home, state, "--endpoint", rx.url, *args, check=3)
            rx.losing_acks = False
            failed = self.body(rx.requests[-1], f"{name}: failed attempt")
            (shown, _), stderr = self.dry(home, state, *args)
            harness.run_scan(self.binary, home, state, "--endpoint", rx.url, *args)
            resent = self.body(rx.requests[-2], f"{name}: re-sent batch")
            self.body(rx.requests[-1], f"{name}: the run's own batch")
        finally:
            rx.close()
        if not (failed == resent == shown):
            fail(f"{name}: the failed attempt, its dry-run rendering and the re-send differ")
        if encoding == "protobuf":
            sha = hashlib.sha256(rx.requests[-2][2]).hexdigest()
            if sha not in stderr:
                fail(f"{name}: the dry run does not name the waiting body's SHA-256 {sha}:\n{stderr}")


def rejects(text, what):
    """True when check_json fails on `text`."""
    try:
        check_json(text, what)
    except SystemExit:
        return True
    return False


# Non-canonical or wrong variants of a good body that the check must refuse
# (so that it is known to be able to fail): (what, pattern, replacement).
MUTATIONS = [
    ("an integer as a number", r'"asInt": "(\d+)"', r'"asInt": \1'),
    ("a timestamp as a number", r'"timeUnixNano": "(\d+)"', r'"timeUnixNano": \1'),
    ("an enum by name", r'"aggregationTemporality": 1', '"aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA"'),
    ("a snake_case key", r'"isMonotonic"', '"is_monotonic"'),
    ("an unknown field", r'"isMonotonic"', '"isMonotone"'),
    ("a default value written out", r'"asInt": "(\d+)"', r'"asInt": "\1", "flags": 0'),
]


def check_the_check(text):
    for what, pattern, replacement in MUTATIONS:
        bad, n = re.subn(pattern, replacement, text, count=1)
        if n != 1:
            fail(f"mutation {what!r}: {pattern!r} not in the body")
        if not rejects(bad, what):
            fail(f"the check accepts a body with {what}")


def self_check(binary):
    with tempfile.TemporaryDirectory(prefix="telemetron-conformance-") as tmp:
        runs = Runs(binary, tmp)
        declared = ["--deployment-id", "lab-7", "--tier", "dev", "--environment", "staging"]
        for temporality in ("delta", "cumulative"):
            t = ["--temporality", temporality]
            runs.series(f"json-{temporality}", ["--encoding", "json", *t])
            runs.series(f"json-gzip-{temporality}", ["--encoding", "json", "--compression", "gzip", *t])
            runs.series(f"protobuf-{temporality}", ["--encoding", "protobuf", *t, *declared])
            runs.series(f"protobuf-gzip-{temporality}", ["--compression", "gzip", *t])
        runs.series("json-declared", ["--encoding", "json", *declared])
        runs.resend("json")
        runs.resend("protobuf")
        r = harness.run_scan(binary, harness.copy_home(os.path.join(tmp, "mut")),
                             os.path.join(tmp, "mut-state"), "--dry-run", "--encoding", "json")
        check_the_check(r.stdout.decode())
    print(f"ok: the check refuses {len(MUTATIONS)} kinds of non-canonical body")
    print("ok: " + ", ".join(f"{n} {k}" for k, n in runs.checked.items())
          + " are canonical ExportMetricsServiceRequests")


def check_files(paths):
    for p in paths:
        if p.endswith(".pb"):
            with open(p, "rb") as f:
                check_pb(f.read(), p)
            continue
        with open(p, encoding="utf-8") as f:
            msgs = check_json(f.read(), p)
        print(f"{p}: {len(msgs)} canonical ExportMetricsServiceRequest(s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--telemetron", help="binary to test (default: target/release/telemetron, built if missing)")
    ap.add_argument("files", nargs="*", help="check these bodies instead of running telemetron")
    a = ap.parse_args()
    if a.files:
        check_files(a.files)
    else:
        self_check(harness.telemetron_binary(a.telemetron))


if __name__ == "__main__":
    sys.exit(main())
