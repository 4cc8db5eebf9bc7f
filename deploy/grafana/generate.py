"""Write the Grafana dashboards as JSON, or check that the committed JSON is up to date.

    python deploy/grafana/generate.py           # (re)write deploy/grafana/dashboards/*.json
    python deploy/grafana/generate.py --check   # exit 1 if regenerating would change a file

The dashboards are code (grafana-foundation-sdk, pinned in the `grafana` extra); the JSON is
committed so Grafana's file provisioning can load it without Python.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboards import DASHBOARDS
from grafana_foundation_sdk.cog.encoder import JSONEncoder

OUT = Path(__file__).resolve().parent / "dashboards"


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name]().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    stale = []
    for name in DASHBOARDS:
        path = OUT / f"{name}.json"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python deploy/grafana/generate.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
