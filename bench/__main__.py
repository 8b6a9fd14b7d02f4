"""Run the kewp benchmarks: `python -m bench [--quick] [--only NAME,...] [--deploy]`.

Each benchmark prints a table and writes bench/results/<run>/<name>.json; `plots` then
draws the PNGs from the run's JSON. Everything runs against 127.0.0.1 only, bounded in
request count and time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import backup_load, catalog_refresh, coldstart, curation, memory, plots, suggestions
from .common import Run, load_average, machine, timed
from .server import seed_database

BENCHMARKS = {
    "memory": memory.run,
    "coldstart": coldstart.run,
    "suggestions": suggestions.run,
    "curation": curation.run,
    "backup": backup_load.run,
    "catalog_refresh": catalog_refresh.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and requests (under 5 minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--deploy", action="store_true", help="also time a fresh converge and a re-run on the "
                        "local VPS (slow; see bench/README.md)")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new one under /var/tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    run = Run(args.quick)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kewp-bench-", dir="/var/tmp"))
    started = time.monotonic()
    print(f"kewp bench ({'quick' if args.quick else 'full'}): {machine()}; load average {load_average()}")
    print(f"scratch {work}; results {run.directory}")
    try:
        template = seed_database(work / "template")
        for name in names:
            result = timed(name, args.quick, lambda name=name: BENCHMARKS[name](template.parent, work, args.quick))
            run.write(name, result)
        if args.deploy:
            from . import deploy
            run.write("deploy", timed("deploy", args.quick, deploy.run))
        plots.draw(run.directory)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nall done in {time.monotonic() - started:.0f} s; load average {load_average()}; results in "
          f"{run.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
