"""The suite's smoke test (ctest bench_smoke): bench.py --quick on two workloads, a
micro one and a program, with glibc and kmm. Checks that the run succeeds, that its
table parses (a header, then rows whose every cell after the first is a number), that
docs/ is left alone, and that a misspelt option is refused in one line. No figure is
compared with anything.

    smoke_test.py BUILD_DIR OUTPUT_DIR
"""

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE.parents[1] / "docs"
HEADER = ["workload", "time kmm/glibc", "memory kmm/glibc"]
ROWS = ["pairs/64", "sort", "**geometric mean, micro**", "**geometric mean, programs**",
        "**geometric mean, all**"]


def docs_state():
    return {p.name: p.stat().st_mtime_ns for p in DOCS.glob("bench*")}


def table_rows(output):
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| workload ")), None)
    assert start is not None, "no table in the output"
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def check_bad_option(build):
    """A misspelt option is refused in one line that names it."""
    done = subprocess.run([sys.executable, str(HERE / "bench.py"), "--build", build,
                           "--check-options", "--quik"], capture_output=True, text=True)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, f"--quik: exit {done.returncode}"
    assert len(lines) == 1 and "--quik" in lines[0] and "--quick" in lines[0], lines


def main():
    build, output = sys.argv[1], sys.argv[2]
    check_bad_option(build)
    before = docs_state()
    done = subprocess.run(
        [sys.executable, str(HERE / "bench.py"), "--build", build, "--quick",
         "--allocators=glibc,kmm", "--workloads=pairs/64,sort", "--no-docs",
         "--output", output], capture_output=True, text=True)
    print(done.stdout)
    print(done.stderr, file=sys.stderr)
    assert done.returncode == 0, f"bench.py exited with {done.returncode}"

    header, rule, *rows = table_rows(done.stdout)
    assert header == HEADER, f"header {header}"
    assert all(re.fullmatch(r"-+:?", c) for c in rule), f"rule {rule}"
    assert [r[0] for r in rows] == ROWS, f"rows {[r[0] for r in rows]}"
    for row in rows:
        assert len(row) == len(HEADER), f"{row}: {len(row)} cells"
        for value in row[1:]:
            assert re.fullmatch(r"\d+\.\d\d", value) and float(value) > 0, f"{row}: {value}"
    assert (Path(output) / "results.json").exists()
    assert docs_state() == before, "docs/ was written"
    print("bench_smoke: the table parses")


if __name__ == "__main__":
    main()
