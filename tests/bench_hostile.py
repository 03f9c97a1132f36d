"""The hostile matrix: every README journey against tests/generic_model.py in every mode.

    .venv/bin/python -m tests.bench_hostile                     # the whole matrix
    .venv/bin/python -m tests.bench_hostile editor planted      # one pair (journey, mode)
    .venv/bin/python -m tests.bench_hostile -v overnight empty  # and every command's output

Prints one line per pair (pass, or its problems) and exits 1 when any pair has a problem.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.generic_model import MODES
from tests.hostile import JOURNEYS, run_journey


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    journeys = [a for a in args if a in JOURNEYS] or list(JOURNEYS)
    modes = [a for a in args if a in MODES] or list(MODES)
    failed = 0
    for journey in journeys:
        for mode in modes:
            started = time.monotonic()
            with tempfile.TemporaryDirectory() as tmp:
                world = run_journey(journey, mode, Path(tmp))
            took = time.monotonic() - started
            verdict = "pass" if not world.problems else "FAIL"
            failed += bool(world.problems)
            key = [f"{ran.line.split()[1]}={ran.code}" for ran in world.log
                   if ran.line.split()[1] in ("refresh", "rewrite", "review")
                   and ran.line.split()[2:3] != ["list"]]
            print(f"{journey:9} {mode:13} {verdict} {took:5.1f}s "
                  f"{world.server.request_count:3d} calls  {' '.join(key)}", flush=True)
            for problem in world.problems:
                print(f"    - {problem}", flush=True)
            for note in world.notes:
                print(f"    note: {note}", flush=True)
            if verbose:
                for ran in world.log:
                    print(f"    $ {ran.line} -> {ran.code}\n      "
                          + "\n      ".join(ran.err.strip().splitlines()[-6:]), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
