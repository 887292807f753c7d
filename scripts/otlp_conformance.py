#!/usr/bin/env python3
"""Strict OTLP conformance check of telemetron's request bodies.

Usage: otlp_conformance.py FILE.json [FILE.pb ...]

For each OTLP/JSON file: parse it as an ExportMetricsServiceRequest with the
official `opentelemetry-proto` package (unknown fields rejected), re-serialise
it canonically (integers for enums, camelCase keys, 64-bit integers as
strings) and require the result to equal the input. For each protobuf file:
decode it with the same package and require the JSON rendering of that
message (FILE.pb.json beside it, if present) to describe the same message.

Needs: pip install opentelemetry-proto
"""
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)


def check_json(path):
    text = open(path, encoding="utf-8").read()
    docs = []
    dec = json.JSONDecoder()
    i = 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        docs.append(obj)
    for n, doc in enumerate(docs):
        msg = json_format.Parse(json.dumps(doc), ExportMetricsServiceRequest())
        back = json_format.MessageToDict(msg, use_integers_for_enums=True)
        if back != doc:
            sys.exit(f"{path} (document {n}): not canonical OTLP/JSON:\n"
                     f"sent:      {json.dumps(doc, sort_keys=True)[:2000]}\n"
                     f"canonical: {json.dumps(back, sort_keys=True)[:2000]}")
    print(f"{path}: {len(docs)} canonical ExportMetricsServiceRequest(s)")


def check_pb(path):
    msg = ExportMetricsServiceRequest()
    msg.ParseFromString(open(path, "rb").read())
    points = sum(len(m.sum.data_points) for rm in msg.resource_metrics
                 for sm in rm.scope_metrics for m in sm.metrics)
    try:
        rendered = json.load(open(path + ".json", encoding="utf-8"))
    except FileNotFoundError:
        rendered = None
    if rendered is not None:
        want = json_format.Parse(json.dumps(rendered), ExportMetricsServiceRequest())
        if want != msg:
            sys.exit(f"{path}: protobuf body and its JSON rendering differ")
    print(f"{path}: protobuf decodes, {points} points")


for p in sys.argv[1:]:
    (check_pb if p.endswith(".pb") else check_json)(p)
