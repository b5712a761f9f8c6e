#!/usr/bin/python3
"""The statistics dumps, end to end.

  test_stats.py dump   BUILD   a known workload: every format parses, the numbers agree
                               with each other and with what the workload did
  test_stats.py signal BUILD   dumps on a signal from a busy threaded program, and
                               snapshots every interval
  test_stats.py tool   BUILD   kmm run, kmm top and kmm plot on a real program

BUILD is the build directory (libkmm.so, kmm, tests/stats_workload, tests/stats_signal).
The text formats are read with the kmm command's own reader, and checked against the
kernel's layouts here, line by line.
"""

import importlib.machinery
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile

FAILURES = []


def check(cond, what, expected=None, got=None):
    if not cond:
        detail = f": expected {expected}, got {got}" if expected is not None else ""
        FAILURES.append(f"{what}{detail}")
        print(f"FAIL: {what}{detail}", file=sys.stderr)


def load_kmm_tool(build):
    loader = importlib.machinery.SourceFileLoader("kmm_tool", os.path.join(build, "kmm"))
    spec = importlib.util.spec_from_loader("kmm_tool", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


# The kernel's line layouts (mm/vmstat.c, mm/slab_common.c, fs/proc/meminfo.c).
BUDDYINFO_LINE = re.compile(r"^Node \d+, zone +Normal( +\d+){11} $")
SLABINFO_LINE = re.compile(
    r"^\S+ +\d+ +\d+ +\d+ +\d+ +\d+ : tunables +0 +0 +0 : slabdata +\d+ +\d+ +0$")
MEMINFO_LINE = re.compile(r"^[A-Za-z]\w*: +\d+ kB$")
VMSTAT_LINE = re.compile(r"^[a-z_0-9]+ \d+$")
SLABINFO_HEADER = ("slabinfo - version: 2.1\n# name            <active_objs> <num_objs> "
                   "<objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> "
                   "<sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n")


def sections_of(text):
    """{name: [lines]} of the first snapshot in @text."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^==> (\w+) <==$", line)
        if m:
            if m.group(1) in out:
                break  # the next snapshot
            current = m.group(1)
            out[current] = []
        elif line.startswith("==> kmm pid") and out:
            break
        elif current:
            out[current].append(line)
    return out


def check_layouts(text):
    sec = sections_of(text)
    for name in ("buddyinfo", "slabinfo", "meminfo", "vmstat", "zoneinfo", "json"):
        check(name in sec, f"section {name} present")
    for line in sec.get("buddyinfo", []):
        check(BUDDYINFO_LINE.match(line), f"buddyinfo line in the kernel's layout: {line!r}")
    check(text.find(SLABINFO_HEADER) >= 0, "slabinfo header as the kernel's")
    for line in sec.get("slabinfo", [])[2:]:
        check(SLABINFO_LINE.match(line), f"slabinfo line in the kernel's layout: {line!r}")
    for line in sec.get("meminfo", []):
        check(MEMINFO_LINE.match(line) and len(line.split(" kB")[0]) == 24,
              f"meminfo line: name in 16 columns, value in 8: {line!r}")
    for line in sec.get("vmstat", []):
        check(VMSTAT_LINE.match(line), f"vmstat line is 'name value': {line!r}")
    zone = sec.get("zoneinfo", [])
    check(zone and re.match(r"^Node 0, zone +Normal$", zone[0]), "zoneinfo starts with the zone")
    for key in ("  pages free ", "        spanned ", "  pagesets", "    cpu: 0",
                "              count: ", "  start_pfn: "):
        check(any(l.startswith(key) for l in zone), f"zoneinfo has a line starting {key!r}")
    return sec


def check_consistency(snap, text_sec, label):
    """The numbers of one snapshot agree with each other."""
    zones = snap["zones"]
    vm, mem = snap["vmstat"], snap["meminfo"]
    free = 0
    for z in zones:
        from_blocks = sum(n << o for o, n in enumerate(z["free_blocks"]))
        check(from_blocks == z["free_pages"],
              f"{label}: node {z['node']}: free blocks x block size = free pages",
              z["free_pages"], from_blocks)
        in_use = sum((a - f) << o for o, (a, f) in enumerate(zip(z["pgalloc"], z["pgfree"])))
        expect = z["spanned"] - z["free_pages"] - z["pcp_pages"]
        check(in_use == expect,
              f"{label}: node {z['node']}: pages allocated - freed (by order) = pages "
              "neither free nor on per-CPU lists", expect, in_use)
        free += z["free_pages"]
    check(vm["nr_free_pages"] == free, f"{label}: vmstat nr_free_pages = zones' free pages",
          free, vm["nr_free_pages"])
    check(mem["MemFree"] == free * 4, f"{label}: meminfo MemFree = free pages x 4 kB",
          free * 4, mem["MemFree"])
    zoneinfo_free = [int(l.split()[2]) for l in text_sec["zoneinfo"] if l.startswith("  pages free")]
    check(zoneinfo_free == [z["free_pages"] for z in zones],
          f"{label}: zoneinfo pages free = buddyinfo's sum", [z["free_pages"] for z in zones],
          zoneinfo_free)

    slab_kb, live = 0, 0
    totals = {k: 0 for k in ("alloc_fastpath", "alloc_slowpath", "free_fastpath",
                             "free_slowpath", "alloc_slab", "free_slab")}
    for c in snap["slabinfo"]:
        check(c["active_objs"] <= c["num_objs"],
              f"{label}: {c['name']}: active objects <= total objects", c["num_objs"],
              c["active_objs"])
        check(c["num_objs"] == c["num_slabs"] * c["objperslab"],
              f"{label}: {c['name']}: objects = slabs x objects per slab",
              c["num_slabs"] * c["objperslab"], c["num_objs"])
        check(c["alloc_slab"] - c["free_slab"] == c["num_slabs"],
              f"{label}: {c['name']}: slabs made - slabs freed = slabs",
              c["num_slabs"], c["alloc_slab"] - c["free_slab"])
        # The counters themselves, before slabinfo's clamp: never more live objects than
        # the slabs hold, never more frees than allocations.
        allocs = c["alloc_fastpath"] + c["alloc_slowpath"]
        frees = c["free_fastpath"] + c["free_slowpath"]
        check(0 <= allocs - frees <= c["num_objs"],
              f"{label}: {c['name']}: 0 <= allocations - frees <= objects in slabs",
              f"0..{c['num_objs']}", allocs - frees)
        for k in totals:
            totals[k] += c[k]
        slab_kb += c["num_slabs"] * c["pagesperslab"] * 4
        live += c["active_objs"]
    for k, v in totals.items():
        check(vm["slab_" + k] == v, f"{label}: vmstat slab_{k} = the caches' sum", v,
              vm["slab_" + k])
    check(mem["Slab"] == slab_kb, f"{label}: meminfo Slab = slabs x pages x 4 kB", slab_kb,
          mem["Slab"])
    check(vm["nr_slab_unreclaimable"] * 4 == slab_kb, f"{label}: vmstat slab pages = Slab",
          slab_kb, vm["nr_slab_unreclaimable"] * 4)
    pgalloc = sum(sum(n << o for o, n in enumerate(z["pgalloc"])) for z in zones)
    check(vm["pgalloc_normal"] == pgalloc, f"{label}: pgalloc_normal = pages by order",
          pgalloc, vm["pgalloc_normal"])
    check(vm["pcp_alloc_hit"] <= sum(vm[f"pgalloc_order_{o}"] for o in range(4)),
          f"{label}: per-CPU list hits <= allocations of orders 0-3")

    # The text forms show what the JSON shows.
    text_slabs = {l.split()[0]: int(l.split()[1]) for l in text_sec["slabinfo"][2:]}
    json_slabs = {c["name"]: c["active_objs"] for c in snap["slabinfo"]}
    check(text_slabs == json_slabs, f"{label}: slabinfo text = JSON active objects")
    text_vm = {l.split()[0]: int(l.split()[1]) for l in text_sec["vmstat"]}
    check(text_vm == vm, f"{label}: vmstat text = JSON")


def snapshot_files(directory, prefix):
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(prefix))


def test_dump(build, tool):
    with tempfile.TemporaryDirectory() as tmp:
        call_file = os.path.join(tmp, "call.out")
        env = dict(os.environ, KMM_STATS="all", KMM_STATS_FILE=os.path.join(tmp, "exit.%p"),
                   KMM_DECAY_MS="0")
        run = subprocess.run([os.path.join(build, "tests", "stats_workload"), call_file],
                             env=env, capture_output=True, text=True, timeout=120)
        check(run.returncode == 0, "stats_workload exits 0", 0, f"{run.returncode}: {run.stderr}")
        expected = dict(line.split() for line in run.stdout.splitlines())
        files = snapshot_files(tmp, "exit.")
        check(len(files) == 2, "one exit dump per process (parent and fork child)", 2, len(files))
        if FAILURES:
            return
        dumps = {}
        for path in files:
            snaps = tool.read_snapshots(path)
            check(len(snaps) == 1 and snaps[0]["reason"] == "exit", f"{path}: one exit snapshot")
            dumps[snaps[0]["pid"]] = (snaps[0], open(path).read())
        parent_pid = int(expected["pid"])
        child_pid = next(pid for pid in dumps if pid != parent_pid)
        for pid, (snap, text) in dumps.items():
            label = "parent" if pid == parent_pid else "child"
            sec = check_layouts(text)
            check_consistency(snap, sec, label)
            check(snap["slab_complete"], f"{label}: every thread's counts were read")
        parent, child = dumps[parent_pid][0], dumps[child_pid][0]

        def cache(snap, name="stats_test"):
            return next((c for c in snap["slabinfo"] if c["name"] == name), None)

        check(cache(parent) and cache(parent)["active_objs"] == int(expected["live"]),
              "parent: stats_test live objects", expected["live"],
              cache(parent) and cache(parent)["active_objs"])
        test = cache(parent)
        check(test["alloc_fastpath"] + test["alloc_slowpath"] == int(expected["allocs"]),
              "parent: stats_test allocations", expected["allocs"],
              test["alloc_fastpath"] + test["alloc_slowpath"])
        check(test["free_fastpath"] + test["free_slowpath"] == int(expected["frees"]),
              "parent: stats_test frees", expected["frees"],
              test["free_fastpath"] + test["free_slowpath"])
        check(cache(parent)["free_slowpath"] >= 4 * 3000 // 2,
              "parent: remote frees counted (frees into slabs of exited threads)",
              ">= 6000", cache(parent)["free_slowpath"])
        check(cache(child) and cache(child)["active_objs"] == int(expected["child_live"]),
              "child: stats_test live objects", expected["child_live"],
              cache(child) and cache(child)["active_objs"])
        check(parent["meminfo"]["VmallocUsed"] == 16 * 1024, "VmallocUsed: one 16 MiB area",
              16 * 1024, parent["meminfo"]["VmallocUsed"])
        check(parent["vmstat"]["vmalloc_alloc"] >= 2 and parent["vmstat"]["vmalloc_free"] >= 1,
              "vmalloc areas counted", ">= 2 and >= 1",
              (parent["vmstat"]["vmalloc_alloc"], parent["vmstat"]["vmalloc_free"]))
        check(parent["vmstat"]["pgalloc_order_5"] >= 1, "the order-5 block counted", ">= 1",
              parent["vmstat"]["pgalloc_order_5"])
        check(parent["rss_kb"] > 16 * 1024, "rss includes the 16 MiB written", "> 16384",
              parent["rss_kb"])

        # kmm_stats_dump(fd, "slabinfo,meminfo,json"): just those sections, a "call".
        call = open(call_file).read()
        sec = sections_of(call)
        check(set(sec) == {"slabinfo", "meminfo", "json"}, "kmm_stats_dump writes what it is asked",
              {"slabinfo", "meminfo", "json"}, set(sec))
        snaps = tool.read_snapshots(call_file)
        check(len(snaps) == 1 and snaps[0]["reason"] == "call", "the call's snapshot")
        check(cache(snaps[0])["active_objs"] == int(expected["call_live"]),
              "kmm_stats_dump: live objects at the call", expected["call_live"],
              cache(snaps[0])["active_objs"])


def test_signal(build, tool):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "sig.stats")
        env = dict(os.environ, LD_PRELOAD=os.path.join(build, "libkmm.so"),
                   KMM_STATS_SIGNAL="USR2", KMM_STATS="buddyinfo,slabinfo,json",
                   KMM_STATS_FILE=out)
        run = subprocess.run([os.path.join(build, "tests", "stats_signal"), "2",
                              str(int(signal.SIGUSR2))],
                             env=env, capture_output=True, text=True, timeout=120)
        check(run.returncode == 0, "the signalled program finishes", 0,
              f"{run.returncode}: {run.stderr}")
        sent = int(run.stdout.split()[1]) if run.stdout.startswith("signals") else 0
        snaps = tool.read_snapshots(out) if os.path.exists(out) else []
        by_signal = [s for s in snaps if s["reason"] == "signal"]
        # A signal that lands while another dump runs is skipped by design.
        check(len(by_signal) >= sent // 2, "dumps arrive on the signal", f">= {sent // 2}",
              len(by_signal))
        check(any(s["reason"] == "exit" for s in snaps), "and the exit dump after them")
        for s in by_signal:
            check("zones" in s and "slabinfo" in s, "each signal dump is whole")

        # Snapshots every 20 ms from the snapshot thread, while the program runs.
        out = os.path.join(tmp, "interval.stats")
        env = dict(os.environ, LD_PRELOAD=os.path.join(build, "libkmm.so"),
                   KMM_STATS_INTERVAL="20", KMM_STATS="json", KMM_STATS_FILE=out)
        run = subprocess.run([os.path.join(build, "tests", "stats_signal"), "1", "0"],
                             env=env, capture_output=True, text=True, timeout=120)
        check(run.returncode == 0, "the program with snapshots finishes", 0,
              f"{run.returncode}: {run.stderr}")
        lines = open(out).read().splitlines()
        check(all(l.startswith("{") for l in lines), "KMM_STATS=json alone is JSON Lines")
        snaps = tool.read_snapshots(out)
        intervals = [s for s in snaps if s["reason"] == "interval"]
        check(len(intervals) >= 10, "snapshots every 20 ms over a second", ">= 10",
              len(intervals))
        times = [s["uptime_ms"] for s in intervals]
        check(times == sorted(times), "snapshots in time order")


def test_tool(build, tool):
    kmm = os.path.join(build, "kmm")
    workload = ("import json\n"
                "d = {i: str(i) * 8 for i in range(300000)}\n"
                "s = json.dumps(list(d.items()))\n"
                "print(len(json.loads(s)))\n")
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run([kmm, "run", "--interval=20", "--", "/usr/bin/python3", "-c",
                              workload], cwd=tmp, capture_output=True, text=True, timeout=300)
        check(run.returncode == 0 and run.stdout.strip() == "300000",
              "kmm run: the program runs and its output is intact", "300000",
              f"{run.returncode}: {run.stdout.strip()} {run.stderr.strip()}")
        m = re.search(r"^kmm: statistics \(all\) in (\S+)$", run.stderr, re.M)
        check(m, "kmm run says where the statistics went", "kmm: statistics (all) in FILE",
              run.stderr)
        if not m:
            return
        path = m.group(1)
        check(os.path.dirname(path) == tmp and os.path.exists(path),
              "the file is in the current directory", tmp, path)
        snaps = tool.snapshots_of(path)
        check(snaps and snaps[-1]["reason"] == "exit", "its last snapshot is the exit dump")
        check(sum(s["reason"] == "interval" for s in snaps) >= 2, "and snapshots before it")

        top = subprocess.run([kmm, "top", "--once", path], capture_output=True, text=True,
                             timeout=60)
        check(top.returncode == 0 and "Active / Total Objects (% used)" in top.stdout
              and "kmalloc-" in top.stdout, "kmm top shows the caches", "a slabtop view",
              top.stdout[:300] + top.stderr)

        png = os.path.join(tmp, "chart.png")
        plot = subprocess.run([kmm, "plot", path, "-o", png], capture_output=True, text=True,
                              timeout=120)
        check(plot.returncode == 0 and os.path.exists(png), "kmm plot writes a PNG", 0,
              f"{plot.returncode}: {plot.stderr}")
        if os.path.exists(png):
            data = open(png, "rb").read()
            check(data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000,
                  "a real PNG chart", "> 20000 bytes of PNG", len(data))

        # Bad arguments: one line each, naming what was wrong, exit status 2.
        for args, needle in ((["run", "--interval=abc", "--", "true"], "--interval=abc"),
                             (["run", "--stats=pagetypeinfo", "--", "true"], "--stats=pagetypeinfo"),
                             (["run", "--limit=lots", "--", "true"], "--limit=lots"),
                             (["plot"], "FILE"), (["frobnicate"], "frobnicate")):
            bad = subprocess.run([kmm] + args, capture_output=True, text=True, timeout=60)
            lines = bad.stderr.strip().splitlines()
            check(bad.returncode == 2 and len(lines) == 1 and needle in lines[0],
                  f"kmm {' '.join(args)}: one line naming {needle}", "status 2, one line",
                  f"{bad.returncode}: {bad.stderr!r}")
        for sub in ("run", "top", "plot"):
            helped = subprocess.run([kmm, sub, "--help"], capture_output=True, text=True,
                                    timeout=60)
            check(helped.returncode == 0 and "usage: kmm " + sub in helped.stdout,
                  f"kmm {sub} --help")

        # --limit caps what kmm hands out: 256 MiB of bytearray does not fit in 64 MiB.
        limited = subprocess.run([kmm, "run", "--limit=64M", "--stats=meminfo", "--",
                                  "/usr/bin/python3", "-c", "b = bytearray(256 << 20)"],
                                 cwd=tmp, capture_output=True, text=True, timeout=120)
        check(limited.returncode != 0 and "MemoryError" in limited.stderr,
              "kmm run --limit=64M: a 256 MiB allocation fails", "MemoryError",
              f"{limited.returncode}: {limited.stderr[-300:]}")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("dump", "signal", "tool"):
        sys.exit("usage: test_stats.py dump|signal|tool BUILD_DIR")
    build = os.path.abspath(sys.argv[2])
    tool = load_kmm_tool(build)
    {"dump": test_dump, "signal": test_signal, "tool": test_tool}[sys.argv[1]](build, tool)
    if FAILURES:
        print(f"stats {sys.argv[1]}: {len(FAILURES)} checks failed", file=sys.stderr)
        sys.exit(1)
    print(f"stats {sys.argv[1]}: all checks passed")


if __name__ == "__main__":
    main()
