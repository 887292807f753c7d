#!/usr/bin/env python3
"""Refreshes the price table built into telemetron.

The table is a trimmed copy of LiteLLM's public price list, as the `litellm`
package on PyPI ships it (`litellm/model_prices_and_context_window_backup.json`,
MIT licensed): the same list ccusage prices tokens from. This script
downloads a pinned version of the wheel with pip, keeps the models priced per
token for input and output, and of those only the fields telemetron prices
with, and records where the copy came from:

    src/pricing/litellm.json        the trimmed table (LiteLLM's own format)
    src/pricing/litellm.meta.json   package, version, file, sha256, date

Usage:  python3 scripts/pricing/refresh.py [--version 1.110.2] [--wheel FILE]

Only the package registry is needed (pip download). Review the diff of the
table like code: it changes what every report and `pack.cost.usage` says.
"""

import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "src", "pricing")
MEMBER = "litellm/model_prices_and_context_window_backup.json"

# The fields telemetron prices with (USD per token), besides the tiers.
KEEP = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "cache_creation_input_token_cost_above_1hr",
    "output_cost_per_reasoning_token",
]
# Prices above a context threshold: `<field>_above_<N>k_tokens`.
TIERED = re.compile(
    r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost"
    r"|cache_creation_input_token_cost)_above_(\d+)k_tokens$"
)


def trim(prices):
    out = {}
    for name, spec in prices.items():
        if not isinstance(spec, dict) or name == "sample_spec":
            continue
        if not all(isinstance(spec.get(k), (int, float)) for k in KEEP[:2]):
            continue
        kept = {k: spec[k] for k in KEEP if isinstance(spec.get(k), (int, float))}
        for k, v in spec.items():
            if TIERED.match(k) and isinstance(v, (int, float)):
                kept[k] = v
        out[name] = kept
    return dict(sorted(out.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", default="1.110.2", help="litellm version on PyPI")
    ap.add_argument("--wheel", help="a litellm wheel already downloaded")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if not wheel:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--only-binary=:all:", "-d", tmp, f"litellm=={args.version}"],
                check=True,
            )
            wheel = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl"))
        with zipfile.ZipFile(wheel) as z:
            raw = z.read(MEMBER)
    prices = trim(json.loads(raw))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "litellm.json"), "w") as f:
        # One model per line, so that a refresh diffs model by model.
        f.write("{\n")
        lines = [json.dumps(k) + ":" + json.dumps(v, separators=(",", ":")) for k, v in prices.items()]
        f.write(",\n".join(lines))
        f.write("\n}\n")
    meta = {
        "package": "litellm",
        "version": args.version,
        "file": MEMBER,
        "license": "MIT",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "models": len(prices),
        "refreshed": datetime.date.today().isoformat(),
    }
    with open(os.path.join(OUT, "litellm.meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"{len(prices)} models priced, from litellm {args.version} ({meta['sha256'][:12]})")


if __name__ == "__main__":
    main()
