"""`make bench`: every benchmark, each in its own process and database."""

import subprocess
import sys

SUITES = ["bench.catalog", "bench.orders", "bench.raw_vs_orm", "bench.settlement", "bench.reviews", "bench.fraud"]


def main() -> int:
    failed = []
    for suite in SUITES:
        print(f"== {suite}", flush=True)
        if subprocess.run([sys.executable, "-m", suite]).returncode != 0:  # noqa: S603
            failed.append(suite)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
