"""Tables, docs/bench.md and docs/bench.png from a run of bench.py."""

import math
import os
import platform
import statistics
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

# docs/bench.md keeps everything above this line as written by hand.
MARKER = "<!-- Everything below is written by scripts/bench.sh; edit above this line. -->"

PACKAGES = {
    "glibc": "libc6",
    "jemalloc": "libjemalloc2",
    "mimalloc": "libmimalloc2.0",
    "tcmalloc": "libtcmalloc-minimal4",
}
PROGRAM_PACKAGES = ["python3.11", "coreutils", "gcc-12", "g++-12", "sqlite3", "redis-server",
                    "perl", "xz-utils", "valgrind", "libbenchmark1debian"]

# A one-minute load average from this up at the start: other work shares the machine.
SHARED_LOAD = 0.5

COLOURS = {"glibc": "#4c72b0", "jemalloc": "#dd8452", "mimalloc": "#55a868",
           "tcmalloc": "#c44e52"}


def format_seconds(seconds):
    if seconds >= 1000:
        return f"{seconds:.0f} s"  # not 1.72e+03 s
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def spread(run):
    """The median, over workloads and allocators, of (slowest - fastest) / median time
    across the repetitions; None with one repetition."""
    runs = {}
    for m in run["measurements"]:
        if m["kind"] != "callgrind" and not m["error"]:
            runs.setdefault((m["workload"], m["allocator"]), []).append(m["seconds"])
    spreads = [(max(t) - min(t)) / statistics.median(t) for t in runs.values() if len(t) > 1]
    return statistics.median(spreads) if spreads else None


def others(run):
    return [a for a in run["allocators"] if a != "kmm"]


def medians(run):
    """{(kind, workload): {allocator: {"seconds", "rss_kib", "extra"} or {"error"}}}, in the
    order the workloads ran."""
    runs = {}
    for m in run["measurements"]:
        if m["kind"] == "callgrind":
            continue
        runs.setdefault((m["kind"], m["workload"]), {}).setdefault(m["allocator"], []).append(m)
    table = {}
    for key, by_allocator in runs.items():
        table[key] = {}
        for allocator, ms in by_allocator.items():
            errors = [m["error"] for m in ms if m["error"]]
            if errors:
                table[key][allocator] = {"error": errors[0]}
                continue
            extra = dict(ms[0]["extra"])
            for counter in ("live_mib", "peak_rss_mib", "final_rss_mib"):
                if counter in extra:
                    extra[counter] = statistics.median(m["extra"][counter] for m in ms)
            table[key][allocator] = {
                "seconds": statistics.median(m["seconds"] for m in ms),
                "rss_kib": statistics.median(m["rss_kib"] for m in ms),
                "extra": extra,
            }
    return table


def ratio(figures, other, field):
    kmm, theirs = figures.get("kmm", {}), figures.get(other, {})
    if field not in kmm or field not in theirs or theirs[field] <= 0:
        return None
    return kmm[field] / theirs[field]


def geometric_mean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def ratio_rows(run):
    """[(label, [time ratios], [memory ratios])], geometric means last."""
    rows, by_kind = [], {}
    for (kind, workload), figures in medians(run).items():
        times = [ratio(figures, o, "seconds") for o in others(run)]
        memories = [ratio(figures, o, "rss_kib") for o in others(run)]
        rows.append((workload, times, memories))
        by_kind.setdefault(kind, []).append((times, memories))
    groups = [(f"geometric mean, {kind}", members) for kind, members in by_kind.items()]
    if len(groups) > 1:
        groups.append(("geometric mean, all", [r for _, m in groups for r in m]))
    for label, members in groups:
        rows.append((label,
                     [geometric_mean(t[i] for t, _ in members) for i in range(len(others(run)))],
                     [geometric_mean(m[i] for _, m in members) for i in range(len(others(run)))]))
    return rows


def cell(value):
    return f"{value:.2f}" if value else "failed"


def markdown_table(header, rows, text_columns=1):
    """A Markdown table padded to line up in a terminal too: the first text_columns
    columns left-aligned, the figures after them right-aligned."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    rule = ["-" * (w + 2) if i < text_columns else "-" * (w + 1) + ":"
            for i, w in enumerate(widths)]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) if i < text_columns else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    return "\n".join([line(header), "|" + "|".join(rule) + "|"] + [line(r) for r in rows])


def ratio_table(run):
    header = (["workload"] + [f"time kmm/{o}" for o in others(run)]
              + [f"memory kmm/{o}" for o in others(run)])
    rows = []
    for label, times, memories in ratio_rows(run):
        if label.startswith("geometric mean"):
            label = f"**{label}**"
        rows.append([label] + [cell(v) for v in times + memories])
    return markdown_table(header, rows)


def absolute_table(run):
    allocators = run["allocators"]
    header = (["workload", "one figure is"] + [f"time {a}" for a in allocators]
              + [f"MiB {a}" for a in allocators])
    rows = []
    for (kind, workload), figures in medians(run).items():
        what = "one run" if kind == "programs" else "one iteration"
        for f in figures.values():
            if f.get("extra", {}).get("label"):
                what = f["extra"]["label"]
        cells = [workload, what]
        for field in ("seconds", "rss_kib"):
            for a in allocators:
                f = figures.get(a, {})
                if "error" in f:
                    cells.append("failed")
                elif field == "seconds":
                    cells.append(format_seconds(f["seconds"]))
                else:
                    cells.append(f"{f['rss_kib'] / 1024:.1f}")
        rows.append(cells)
    return markdown_table(header, rows, text_columns=2)


def fragmentation_table(run):
    figures = medians(run).get(("micro", "frag/mixed"))
    if not figures:
        return None
    rows = []
    for counter, label in (("live_mib", "live at the peak"),
                           ("peak_rss_mib", "peak resident (VmHWM)"),
                           ("final_rss_mib", "resident at the end (VmRSS)")):
        cells = []
        for a in run["allocators"]:
            extra = figures.get(a, {}).get("extra", {})
            cells.append(f"{extra[counter]:.1f}" if counter in extra else "failed")
        rows.append([label] + cells)
    return markdown_table(["MiB"] + run["allocators"], rows)


def callgrind_table(run):
    counts = {}
    for m in run["measurements"]:
        if m["kind"] == "callgrind":
            counts.setdefault(m["workload"], {})[m["allocator"]] = (
                None if m["error"] else m["extra"]["instructions"])
    if not counts:
        return None
    allocators = run["allocators"]
    header = (["operation, block size", "loop alone"] + allocators
              + [f"kmm − {o}" for o in others(run)])
    rows = []
    for case, by_allocator in counts.items():
        loop = by_allocator.get("none")
        net = {a: by_allocator[a] - loop if by_allocator.get(a) is not None and loop else None
               for a in allocators}
        cells = [case, f"{loop:.1f}" if loop else "failed"]
        cells += [f"{net[a]:.1f}" if net[a] is not None else "failed" for a in allocators]
        for o in others(run):
            ok = net["kmm"] is not None and net[o] is not None
            cells.append(f"{net['kmm'] - net[o]:+.1f}" if ok else "-")
        rows.append(cells)
    return markdown_table(header, rows)


def read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = next((int(line.split()[1]) for line in read("/proc/meminfo").splitlines()
                    if line.startswith("MemTotal:")), 0)
    os_name = next((line.split("=", 1)[1].strip('"') for line in
                    read("/etc/os-release").splitlines() if line.startswith("PRETTY_NAME=")),
                   platform.system())
    thp = "/sys/kernel/mm/transparent_hugepage/"
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "virtualization": virtualization(),
        "os": f"{os_name} ({read('/etc/debian_version').strip() or '?'})",
        "thp": f"enabled {bracketed(read(thp + 'enabled'))}, "
               f"defrag {bracketed(read(thp + 'defrag'))}",
    }


def virtualization():
    flags = read("/proc/cpuinfo")
    if " hypervisor" not in flags:
        return "none"
    try:
        return subprocess.run(["systemd-detect-virt", "--vm"], capture_output=True,
                              text=True).stdout.strip() or "a hypervisor"
    except OSError:
        return "a hypervisor"


def bracketed(setting):
    """The selected value of a sysfs setting such as 'always [madvise] never'."""
    start, end = setting.find("["), setting.find("]")
    return setting[start + 1:end] if start >= 0 else setting.strip() or "?"


def package_version(package):
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                              capture_output=True, text=True)
    except OSError:
        return "?"
    return done.stdout.strip() if done.returncode == 0 else "not installed"


def versions():
    return {"allocators": {a: (p, package_version(p)) for a, p in PACKAGES.items()},
            "programs": {p: package_version(p) for p in PROGRAM_PACKAGES}}


def commit():
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO)] + list(args), capture_output=True,
                              text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--", "src", "include", "CMakeLists.txt"):
        head += " with uncommitted changes to kmm's sources"
    return head


DEFAULT_PREFACE = """# Allocator benchmarks: kmm against glibc, jemalloc, mimalloc and tcmalloc

Written by `./scripts/bench.sh`.
"""


def write_docs(run, markdown_path, chart_path):
    existing = read(markdown_path).split(MARKER)[0].rstrip()
    preface = existing + "\n" if existing else DEFAULT_PREFACE
    chart_written = write_chart(run, chart_path)
    Path(markdown_path).write_text(preface + "\n" + MARKER + "\n\n"
                                   + generated_markdown(run, chart_written))


def generated_markdown(run, chart_written):
    m, v = run["machine"], run["versions"]
    kmm_env = " ".join(f"{k}={val}" for k, val in run["kmm_env"].items())
    out = ["## Results", ""]
    out.append(f"`{run['command']}`, {'quick subset, ' if run['quick'] else ''}"
               f"{run['reps']} repetition{'s' if run['reps'] > 1 else ''} (the median is "
               f"shown), started {run['started']}, {format_seconds(run['seconds'])} in all; "
               f"kmm at commit {run['commit']}"
               + (f", kmm's runs with `{kmm_env}`" if kmm_env else "") + ".")
    out += ["", "| machine | |", "|---|---|",
            f"| CPU | {m['cpu']}, {m['cpus']} CPUs (virtualization: {m['virtualization']}) |",
            f"| memory | {m['memory_gib']} GiB |",
            f"| kernel | {m['kernel']}; transparent huge pages {m['thp']} |",
            f"| OS | {m['os']} |",
            f"| load average | {fmt_load(run['load_before'])} at the start, "
            f"{fmt_load(run['load_after'])} at the end |", ""]
    if run["load_before"][0] >= SHARED_LOAD:
        out += [f"The machine was shared: other work kept a load average of "
                f"{run['load_before'][0]:.1f} on its {m['cpus']} CPUs before the run started. "
                "The times are the noisier for it; the memory figures and the instruction "
                "counts hardly move with load.", ""]
    out += ["| allocator | Debian package | version |", "|---|---|---|"]
    for allocator, (package, version) in v["allocators"].items():
        out.append(f"| {allocator} | `{package}` | {version} |")
    out.append(f"| kmm | this repository | {run['commit']} (`RelWithDebInfo`) |")
    out += ["", "Programs: " + ", ".join(f"`{p}` {ver}" for p, ver in v["programs"].items())
            + ".", ""]

    paragraph = ("kmm's figure divided by the other allocator's: below 1.00 kmm is faster or "
                 "uses less memory. Time is wall-clock; memory is the peak resident set of the "
                 "process (for `frag/mixed`, the peak the run itself adds).")
    noise = spread(run)
    if noise is not None:
        paragraph += (" Between repetitions, one workload's time on one allocator varied by "
                      f"{noise:.0%} (slowest less fastest, over the median; the median of that "
                      "over all workloads and allocators).")
    out += ["### Ratios", "", paragraph, ""]
    if chart_written:
        out += ["![kmm's time and memory over each other allocator's](bench.png)", ""]
    out += [ratio_table(run), ""]
    out += ["### Figures", "", "Medians; time per iteration or per run, peak resident set "
            "in MiB.", "", absolute_table(run), ""]
    fragmentation = fragmentation_table(run)
    if fragmentation:
        out += ["### Fragmentation", "", "`frag/mixed`, less the resident set at its start.",
                "", fragmentation, ""]
    instructions = callgrind_table(run)
    if instructions:
        out += ["### Instructions per malloc + free (callgrind)", "",
                "Net of the loop that calls them (the \"loop alone\" column, measured with a "
                "do-nothing allocator); the last columns are kmm's count less the other's.", "",
                instructions, ""]
    out += ["### The allocator each process measured", "", "```"]
    out += [run["verification"][a] for a in run["allocators"]]
    out += ["```", ""]
    if run["descriptions"]:
        out += ["### The programs", ""]
        out += [f"- `{name}`: {text}." for name, text in run["descriptions"].items()]
        out.append("")
    failures = [m for m in run["measurements"] if m["error"]]
    if failures:
        out += ["### Failed runs", ""]
        out += [f"- {m['workload']} on {m['allocator']}, repetition {m['rep'] + 1}: "
                f"{m['error']}" for m in failures]
        out.append("")
    return "\n".join(out)


def fmt_load(load):
    return " ".join(f"{x:.2f}" for x in load)


def log_ticks(low, high):
    """Powers of two between low and high, from 1 outwards, each at least an eighth of
    the axis from the last; 0.8 and 1.25 too on a narrow axis."""
    gap = (math.log10(high) - math.log10(low)) / 8
    ticks = [1.0]
    for power in (1, -1):
        last = 1.0
        for exponent in range(1, 11):
            t = 2.0 ** (power * exponent)
            if low <= t <= high and abs(math.log10(t / last)) >= gap:
                ticks.append(t)
                last = t
    if len(ticks) < 5:
        ticks += [t for t in (0.8, 1.25) if low <= t <= high]
    return sorted(ticks)


def tick_label(t):
    return f"1/{1 / t:g}" if t < 1 and (1 / t).is_integer() else f"{t:g}"


def write_chart(run, path):
    """Horizontal bars, one group per workload, one colour per other allocator; time on
    the left, memory on the right, on a log scale centred on 1. Returns False without
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import (FixedFormatter, FixedLocator, NullFormatter,
                                       NullLocator)
    except ImportError:
        print("matplotlib is not installed (apt-get install python3-matplotlib): "
              "no chart written")
        return False
    rows = ratio_rows(run)
    workloads = medians(run)
    kinds = [kind for kind, _ in workloads] + ["geometric mean"] * (len(rows) - len(workloads))
    names = others(run)
    bar = 0.8 / len(names)
    height = 1.6 + 0.2 * len(rows) * (1 + len(names) / 2)
    fig, axes = plt.subplots(1, 2, sharey=True, figsize=(12, height))
    # Fixed margins in inches: room for the labels on the left, title and legend above.
    fig.subplots_adjust(left=2.4 / 12, right=0.98, wspace=0.08, top=1 - 0.95 / height,
                        bottom=0.6 / height)
    panels = [("time", "kmm faster", "kmm slower"),
              ("peak resident memory", "kmm uses less", "kmm uses more")]
    for column, (ax, (title, below, above)) in enumerate(zip(axes, panels)):
        values = []
        for i, name in enumerate(names):
            ys = [r + (i - (len(names) - 1) / 2) * bar for r in range(len(rows))]
            xs = [row[1 + column][i] or math.nan for row in rows]
            values += [x for x in xs if not math.isnan(x)]
            # Bars start at 1, so that each points the way kmm differs.
            ax.barh(ys, [x - 1 for x in xs], left=1, height=bar, color=COLOURS[name],
                    label=f"kmm / {name}")
        span = max([abs(math.log10(x)) for x in values] + [math.log10(2)]) * 1.1
        ax.set_xscale("log")
        ax.set_xlim(10 ** -span, 10 ** span)
        ticks = log_ticks(10 ** -span, 10 ** span)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FixedFormatter([tick_label(t) for t in ticks]))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_axisbelow(True)
        ax.grid(axis="x", alpha=0.4)
        ax.axvline(1, color="black", linewidth=1.2)
        # Lines between the micro workloads, the programs and the means.
        for r in range(1, len(rows)):
            if kinds[r] != kinds[r - 1]:
                ax.axhline(r - 0.5, color="grey", linewidth=0.8)
        ax.set_title(title)
        ax.set_xlabel(f"←  {below}      kmm / other, log scale      {above}  →")
    labels = [r[0] for r in rows]
    axes[0].set_yticks(range(len(rows)))
    axes[0].set_yticklabels(labels)
    for tick, label in zip(axes[0].get_yticklabels(), labels):
        if label.startswith("geometric mean"):
            tick.set_fontweight("bold")
    axes[0].set_ylim(len(rows) - 0.5, -0.5)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center",
               bbox_to_anchor=(0.5, 1 - 0.3 / height), ncol=len(names), frameon=False)
    fig.suptitle(y=1 - 0.08 / height,
                 t=f"kmm against {', '.join(names)}: kmm's figure over the other's, medians "
                 f"(kmm {run['commit'].split()[0]}, {run['machine']['cpus']} CPUs"
                 + (", quick run" if run["quick"] else "") + ")")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
