#!/usr/bin/env python3
"""kmm against glibc, jemalloc, mimalloc and tcmalloc, side by side in one run.

    bench.py --build DIR [--quick] [--allocators=a,b,...] [--workloads=x,y,...]
             [--reps N] [--output DIR] [--no-docs] [--kmm-env VAR=VALUE]

scripts/bench.sh builds DIR (cmake -DKMM_BUILD_BENCH=ON) and runs this. Three kinds of
workload, all on the same inputs for every allocator:

  micro      the C workloads of workloads.h under google-benchmark (kmm_bench_suite), in
             one process per workload and allocator, the allocator opened with dlopen;
             --quick runs them all, for less time and the larger ones smaller;
  programs   whole programs with the allocator in LD_PRELOAD (programs.py); --quick runs
             five of them on smaller inputs;
  callgrind  instructions per malloc + free: kmm_bench_fast_path under valgrind's
             callgrind with N and 2 N operations, (Ir(2 N) - Ir(N)) / N; --quick counts
             64-byte pairs only.

Repetitions rotate the allocators' order, so that noise on the machine falls on all of
them; each figure is the median over the repetitions. The table gives kmm's figure
divided by each other allocator's: below 1, kmm is faster or uses less memory.

--workloads takes workload names (pairs/64, sort), groups (pairs, batch), or the kinds
micro, programs and callgrind. The table goes to stdout and, with the raw figures, to
the output directory (default DIR/bench-results); docs/bench.md and docs/bench.png are
rewritten unless --no-docs is given.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# programs and report sit beside this file, in the source tree: no __pycache__ there.
sys.dont_write_bytecode = True
import programs  # noqa: E402
import report  # noqa: E402

ALLOCATORS = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "kmm"]

# What LD_PRELOAD names for each allocator. glibc is preloaded too: a program linked
# against another allocator (Debian's redis-server links jemalloc) then still gets
# glibc's malloc, which comes first in the lookup order.
PRELOAD = {
    "glibc": "libc.so.6",
    "jemalloc": "libjemalloc.so.2",
    "mimalloc": "libmimalloc.so.2",
    "tcmalloc": "libtcmalloc_minimal.so.4",
}

# jemalloc's initial-exec TLS does not fit the 512 bytes ld.so keeps for dlopen.
STATIC_TLS = "glibc.rtld.optional_static_tls=16384"

CALLGRIND_CASES = [("pairs", 16), ("pairs", 64), ("pairs", 256), ("shuffle", 64),
                   ("remote", 64)]
QUICK_CALLGRIND_CASES = [("pairs", 64)]


# The form of each option, for the one-line messages of Parser.error.
FORMS = {
    "--build": "--build=DIR",
    "--quick": "--quick",
    "--allocators": "--allocators=a,b,...",
    "--workloads": "--workloads=x,y,...",
    "--reps": "--reps=N",
    "--output": "--output=DIR",
    "--no-docs": "--no-docs",
    "--kmm-env": "--kmm-env=VAR=VALUE",
}


class Parser(argparse.ArgumentParser):
    """A mistake in the options is one line: what was wrong, and the accepted forms."""

    def error(self, message):
        option = re.match(r"argument (--[\w-]+)", message)
        if option and option.group(1) in FORMS:
            message = message.replace("argument ", "", 1)
            accepted = FORMS[option.group(1)]
        else:
            message = message.replace("unrecognized arguments:", "unknown option")
            # scripts/bench.sh gives --build itself.
            forms = [f for o, f in FORMS.items() if o != "--build" or self.prog == "bench.py"]
            accepted = ", ".join(forms) + " (--help describes them)"
        self.exit(2, f"{self.prog}: {message}; accepted: {accepted}\n")


def allocator_list(text):
    names = [a for a in text.split(",") if a]
    unknown = [a for a in names if a not in ALLOCATORS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown allocator {', '.join(unknown)} (known: "
                                         f"{', '.join(ALLOCATORS)})")
    if "kmm" not in names or len(names) < 2:
        raise argparse.ArgumentTypeError(f"'{text}' lacks kmm or another allocator to "
                                         "compare it with")
    return names


def repetitions(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)


def assignment(text):
    if not re.fullmatch(r"[A-Za-z_]\w*=.*", text, re.DOTALL):
        raise argparse.ArgumentTypeError(f"'{text}' is not VAR=VALUE (say, KMM_THP=off)")
    return tuple(text.split("=", 1))


def parse_args():
    # scripts/bench.sh passes --command: messages then name the script, not this file.
    via_script = any(a.split("=")[0] == "--command" for a in sys.argv[1:])
    parser = Parser(prog="bench.sh" if via_script else "bench.py", allow_abbrev=False,
                    description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, type=Path, metavar="DIR",
                        help=argparse.SUPPRESS if via_script else
                        "build directory holding libkmm.so and bench/suite/")
    parser.add_argument("--quick", action="store_true", help="a subset, smaller, once")
    parser.add_argument("--allocators", type=allocator_list, default=ALLOCATORS,
                        metavar="a,b,...",
                        help=f"kmm and at least one of {', '.join(ALLOCATORS[:-1])} "
                        "(default: all)")
    parser.add_argument("--workloads", default="", metavar="x,y,...",
                        help="names, groups or kinds (micro, programs, callgrind)")
    parser.add_argument("--reps", type=repetitions, metavar="N",
                        help="repetitions (default 3, quick 1)")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="raw results and the table (default: the build's bench-results)")
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite docs/bench.md and docs/bench.png")
    parser.add_argument("--kmm-env", type=assignment, action="append", default=[],
                        metavar="VAR=VALUE",
                        help="environment for kmm's runs only, e.g. KMM_THP=off")
    parser.add_argument("--command", help=argparse.SUPPRESS)
    parser.add_argument("--check-options", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    args.prog = parser.prog
    args.build = args.build.resolve()
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.reps = args.reps or (1 if args.quick else 3)
    args.output = (args.output or args.build / "bench-results").resolve()
    args.kmm_env = dict(args.kmm_env)
    return args


def rotated(allocators, rep):
    shift = rep % len(allocators)
    return allocators[shift:] + allocators[:shift]


def base_environment():
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.pop("PYTHONMALLOC", None)
    return env


def kmm_library(build):
    return str(build / "libkmm.so")


class Runner:
    def __init__(self, args):
        self.args = args
        self.suite = args.build / "bench/suite/kmm_bench_suite"
        self.fast_path = args.build / "bench/suite/kmm_bench_fast_path"
        self.measure = args.build / "bench/suite/kmm_bench_measure"
        programs.MEASURE = self.measure
        self.measurements = []
        self.verification = {}

    def environment(self, allocator, dlopen):
        """The environment of a run on allocator; dlopen: the allocator is opened by the
        suite's programs, not preloaded."""
        env = base_environment()
        if allocator == "kmm":
            env.update(self.args.kmm_env)
        if dlopen:
            env["GLIBC_TUNABLES"] = STATIC_TLS
        return env

    def preload(self, allocator):
        return PRELOAD.get(allocator) or kmm_library(self.args.build)

    def suite_command(self, allocator, *extra):
        command = [str(self.suite), f"--allocator={allocator}",
                   f"--kmm-library={kmm_library(self.args.build)}"]
        if self.args.quick:
            command.append("--quick")
        return command + list(extra)

    def micro_names(self):
        listing = subprocess.run(
            self.suite_command("glibc", "--benchmark_list_tests=true"),
            env=self.environment("glibc", True), capture_output=True, text=True, check=True)
        return [row_name(line) for line in listing.stdout.split()]

    def verify(self, allocator):
        done = subprocess.run(self.suite_command(allocator, "--verify"),
                              env=self.environment(allocator, True), capture_output=True,
                              text=True)
        self.verification[allocator] = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise SystemExit(f"allocator {allocator} failed verification:\n"
                             + self.verification[allocator])

    def record(self, kind, workload, allocator, rep, seconds=None, rss_kib=None, extra=None,
               error=None):
        m = {"kind": kind, "workload": workload, "allocator": allocator, "rep": rep,
             "seconds": seconds, "rss_kib": rss_kib, "extra": extra or {}, "error": error}
        self.measurements.append(m)
        if error:
            print(f"  {workload:16} {allocator:9} FAILED: {error}", file=sys.stderr)
        elif seconds is not None:
            print(f"  {workload:16} {allocator:9} {report.format_seconds(seconds):>10} "
                  f"{rss_kib / 1024:8.1f} MiB", file=sys.stderr)
        return m

    def run_micro(self, name, allocator, rep, scratch):
        min_time = "0.05" if self.args.quick else "0.3"
        command = self.suite_command(allocator, f"--benchmark_filter=^{name}/",
                                     "--benchmark_format=json",
                                     f"--benchmark_min_time={min_time}")
        result = Path(scratch) / "micro.txt"
        result.unlink(missing_ok=True)
        done = subprocess.run(programs.measured_command(command, result, None),
                              env=self.environment(allocator, True), capture_output=True,
                              text=True)
        try:
            _, rss_kib = programs.read_measurement(result, name)
            entries = [b for b in json.loads(done.stdout)["benchmarks"]
                       if row_name(b["name"]) == name]
            if len(entries) != 1:
                raise programs.RunFailed(f"{len(entries)} results for {name}")
        except (programs.RunFailed, ValueError, KeyError) as failure:
            error = " / ".join([str(failure)] + done.stderr.strip().splitlines()[-3:])
            return self.record("micro", name, allocator, rep, error=error)
        entry = entries[0]
        if entry.get("error_occurred"):
            return self.record("micro", name, allocator, rep, error=entry["error_message"])
        seconds = entry["real_time"] * report.TIME_UNITS[entry["time_unit"]]
        extra = {"label": entry.get("label", "")}
        if "peak_rss_mib" in entry:
            # The fragmentation run measures its own memory, less the harness's.
            for counter in ("live_mib", "peak_rss_mib", "final_rss_mib"):
                extra[counter] = entry[counter]
            rss_kib = entry["peak_rss_mib"] * 1024
        return self.record("micro", name, allocator, rep, seconds, rss_kib, extra)

    def run_program(self, program, allocator, rep, work):
        try:
            program.remove_results(work)
            seconds, rss_kib = program.run(self.environment(allocator, False), work,
                                           self.preload(allocator))
            extra = {"digest": program.result_digest(work)}
            return self.record("programs", program.name, allocator, rep, seconds, rss_kib,
                               extra)
        except (programs.RunFailed, OSError) as failure:
            return self.record("programs", program.name, allocator, rep, error=str(failure))

    def callgrind_total(self, allocator, mode, size, count):
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                   str(self.fast_path), f"--allocator={allocator}",
                   f"--kmm-library={kmm_library(self.args.build)}", mode, str(size),
                   str(count)]
        done = subprocess.run(command, env=self.environment(allocator, True),
                              capture_output=True, text=True)
        collected = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or not collected:
            raise programs.RunFailed(f"callgrind {allocator} {mode} {size} {count}: exit "
                                     f"{done.returncode}: {done.stderr.strip()[-300:]}")
        return int(collected.group(1))

    def run_callgrind(self, mode, size, allocator):
        """Instructions per operation, this program's loop included."""
        count = 20_000 if self.args.quick else 100_000
        name = f"{mode}/{size}"
        try:
            once = self.callgrind_total(allocator, mode, size, count)
            twice = self.callgrind_total(allocator, mode, size, 2 * count)
        except programs.RunFailed as failure:
            return self.record("callgrind", name, allocator, 0, error=str(failure))
        m = self.record("callgrind", name, allocator, 0, extra={
            "instructions": (twice - once) / count, "count": count})
        print(f"  callgrind {name:10} {allocator:9} "
              f"{m['extra']['instructions']:7.1f} instructions", file=sys.stderr)
        return m


def row_name(benchmark_name):
    """pairs/8/real_time and frag/mixed/iterations:1/real_time: the first two parts."""
    return "/".join(benchmark_name.split("/")[:2])


def selected(name, group_kind, selection):
    return any(item in (name, name.split("/")[0], group_kind) for item in selection)


def check_same_outputs(measurements, allocators):
    """A program whose output under an allocator differs from the others' failed."""
    by_run = {}
    for m in measurements:
        if m["kind"] == "programs" and not m["error"] and m["extra"].get("digest"):
            by_run.setdefault((m["workload"], m["rep"]), []).append(m)
    for runs in by_run.values():
        reference = next((m for a in allocators for m in runs if m["allocator"] == a), None)
        for m in runs:
            if m["extra"]["digest"] != reference["extra"]["digest"]:
                m["error"] = f"output differs from {reference['allocator']}'s"
                print(f"  {m['workload']} {m['allocator']}: {m['error']}", file=sys.stderr)


def main():
    args = parse_args()
    if args.check_options:
        # scripts/bench.sh, before it builds: the options are well formed.
        return 0
    runner = Runner(args)
    started = time.time()
    load_before = os.getloadavg()
    commit = report.commit()
    for binary in (runner.suite, runner.fast_path, runner.measure, args.build / "libkmm.so"):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: build with -DKMM_BUILD_BENCH=ON first")
    selection = args.workloads

    def wanted(name, kind, in_quick):
        if selection:
            return selected(name, kind, selection)
        return in_quick or not args.quick

    micro_names = runner.micro_names()
    known = {"micro", "programs", "callgrind"} | {p.name for p in programs.PROGRAMS}
    known |= {part for n in micro_names for part in (n, n.split("/")[0])}
    unknown = [item for item in selection if item not in known]
    if unknown:
        raise SystemExit(f"{args.prog}: --workloads: unknown workload {', '.join(unknown)}; "
                         "accepted: --workloads=x,y,... of " + ", ".join(sorted(known)))
    micro = [n for n in micro_names if wanted(n, "micro", True)]
    chosen_programs = [p for p in programs.PROGRAMS if wanted(p.name, "programs", p.in_quick)]
    cases = QUICK_CALLGRIND_CASES if args.quick else CALLGRIND_CASES
    cases = [c for c in cases if wanted("callgrind", "callgrind", True)]
    if cases and not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")

    for allocator in args.allocators:
        runner.verify(allocator)
        print(runner.verification[allocator], file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="kmm-bench-") as scratch:
        for program in chosen_programs:
            work = Path(scratch) / re.sub(r"\W", "_", program.name)
            work.mkdir()
            program.prepare(work, args.quick)
        for rep in range(args.reps):
            print(f"repetition {rep + 1} of {args.reps}", file=sys.stderr)
            for name in micro:
                for allocator in rotated(args.allocators, rep):
                    runner.run_micro(name, allocator, rep, scratch)
            for program in chosen_programs:
                work = Path(scratch) / re.sub(r"\W", "_", program.name)
                for allocator in rotated(args.allocators, rep):
                    runner.run_program(program, allocator, rep, work)
    check_same_outputs(runner.measurements, args.allocators)
    for mode, size in cases:
        for allocator in ["none"] + args.allocators:
            runner.run_callgrind(mode, size, allocator)

    run = {
        "command": args.command or " ".join([sys.argv[0]] + sys.argv[1:]),
        "quick": args.quick,
        "reps": args.reps,
        "allocators": args.allocators,
        "kmm_env": args.kmm_env,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "seconds": time.time() - started,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "verification": runner.verification,
        "descriptions": {p.name: p.description for p in chosen_programs},
        "machine": report.machine(),
        "versions": report.versions(),
        "commit": commit,
        "measurements": runner.measurements,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(run, indent=1))
    table = report.ratio_table(run)
    (args.output / "table.md").write_text(table + "\n")
    print()
    print(table)
    for title, extra in (("Fragmentation (frag/mixed), MiB", report.fragmentation_table(run)),
                         ("Instructions per malloc + free, net of the loop (callgrind)",
                          report.callgrind_table(run))):
        if extra:
            print(f"\n{title}:\n\n{extra}")
    print(f"\n{report.format_seconds(run['seconds'])} in all; raw figures in "
          f"{args.output / 'results.json'}")
    if not args.no_docs:
        docs = programs.REPO / "docs"
        report.write_docs(run, docs / "bench.md", docs / "bench.png")
        print(f"wrote {docs / 'bench.md'} and {docs / 'bench.png'}")
    failures = [m for m in runner.measurements if m["error"]]
    if failures:
        print(f"{len(failures)} runs failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
