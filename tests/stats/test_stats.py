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


# The kernel's format strings (Linux 6.18: mm/vmstat.c, mm/slab_common.c,
# fs/proc/meminfo.c), to render the lines each dump must hold exactly.
SLABINFO_HEADER = ("slabinfo - version: 2.1\n# name            <active_objs> <num_objs> "
                   "<objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> "
                   "<sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n")


def kernel_buddyinfo_line(zone):
    return f"Node {zone['node']}, zone {'Normal':>8} " + "".join(
        f"{n:6d} " for n in zone["free_blocks"])


def kernel_slabinfo_line(c):
    return (f"{c['name']:<17} {c['active_objs']:6d} {c['num_objs']:6d} {c['objsize']:6d} "
            f"{c['objperslab']:4d} {c['pagesperslab']:4d} : tunables {0:4d} {0:4d} {0:4d}"
            f" : slabdata {c['active_slabs']:6d} {c['num_slabs']:6d} {0:6d}")


def kernel_meminfo_line(name, kb):
    return f"{name + ':':<16}{kb:8d} kB"


# zoneinfo, line by line: the zone's lines in the kernel's order and indentation.
ZONEINFO_LINES = [r"Node \d+, zone   Normal", r"  per-node stats",
                  r"      nr_slab_unreclaimable \d+", r"  pages free     \d+",
                  r"        boost    0", r"        min      0", r"        low      0",
                  r"        high     0", r"        promo    0", r"        spanned  \d+",
                  r"        present  \d+", r"        managed  \d+", r"        cma      0",
                  r"        protection: \(0\)", r"      nr_free_pages \d+",
                  r"      nr_free_reported \d+", r"      numa_hit     \d+",
                  r"      numa_miss    \d+", r"      numa_foreign \d+", r"  pagesets"]
ZONEINFO_CPU_LINES = [r"    cpu: \d+", r"              count:    \d+",
                      r"              high:     \d+", r"              batch:    \d+",
                      r"              high_min: \d+", r"              high_max: \d+",
                      r"  vm stats threshold: 0"]
ZONEINFO_END_LINES = [r"  node_unreclaimable:  0", r"  start_pfn:           \d+"]


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


def check_layouts(text, snap):
    """Every line as the kernel's format strings print it, with the JSON's numbers."""
    sec = sections_of(text)
    for name in ("buddyinfo", "slabinfo", "meminfo", "vmstat", "zoneinfo", "json"):
        check(name in sec, f"section {name} present")
    expect = [kernel_buddyinfo_line(z) for z in snap["zones"]]
    check(sec.get("buddyinfo") == expect, "buddyinfo as the kernel prints it", expect,
          sec.get("buddyinfo"))
    check(text.find(SLABINFO_HEADER) >= 0, "slabinfo header as the kernel's")
    expect = sorted(kernel_slabinfo_line(c) for c in snap["slabinfo"])
    got = sorted(sec.get("slabinfo", [])[2:])
    check(got == expect, "slabinfo rows as the kernel prints them", expect[:3], got[:3])
    expect = [kernel_meminfo_line(k, v) for k, v in snap["meminfo"].items()]
    check(sec.get("meminfo") == expect, "meminfo as the kernel prints it", expect,
          sec.get("meminfo"))
    expect = [f"{k} {v}" for k, v in snap["vmstat"].items()]
    check(sec.get("vmstat") == expect, "vmstat as the kernel prints it")
    zone = sec.get("zoneinfo", [])
    cpus = sum(l.startswith("    cpu: ") for l in zone)
    pattern = ZONEINFO_LINES + ZONEINFO_CPU_LINES * cpus + ZONEINFO_END_LINES
    check(cpus >= 1 and len(zone) == len(pattern) * len(snap["zones"]),
          "zoneinfo has the kernel's lines", len(pattern) * len(snap["zones"]), len(zone))
    for line, want in zip(zone, pattern * len(snap["zones"])):
        check(re.fullmatch(want, line), f"zoneinfo line as the kernel prints it", want, line)
    return sec


def check_consistency(snap, text_sec, label):
    """The numbers of one snapshot agree with each other. Free blocks by order against
    the zone's free count, pages by order against pages in use, slabs made and freed,
    and the counters' bounds are invariants of the allocator; the rest check that every
    form shows the same numbers."""
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
        online = z["sections_added"] - z["sections_removed"]
        check(z["sections_online"] == online and
              z["present_pages"] == online * z["section_bytes"] // 4096 and
              z["present_pages"] <= z["spanned"],
              f"{label}: node {z['node']}: present pages = sections added - removed, "
              "within the span", (online, online * z["section_bytes"] // 4096),
              (z["sections_online"], z["present_pages"]))
    check(vm["nr_free_pages"] == free, f"{label}: vmstat nr_free_pages = zones' free pages",
          free, vm["nr_free_pages"])
    check(mem["MemFree"] == free * 4, f"{label}: meminfo MemFree = free pages x 4 kB",
          free * 4, mem["MemFree"])
    zoneinfo_present = [int(l.split()[1]) for l in text_sec["zoneinfo"]
                        if l.startswith("        present")]
    check(zoneinfo_present == [z["present_pages"] for z in zones],
          f"{label}: zoneinfo present = pages in online sections",
          [z["present_pages"] for z in zones], zoneinfo_present)
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
            sec = check_layouts(text, snap)
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
        # Thread 0's 3,000, half of the others' and 20 of the main thread's, at least.
        check(cache(parent)["free_slowpath"] >= 3000 + 3 * 1500 + 20,
              "parent: remote frees counted", ">= 7520", cache(parent)["free_slowpath"])
        # Thread 0's slabs, emptied by remote frees, less the few a node keeps.
        check(cache(parent)["free_slab"] >= 3000 // 20 - 5,
              "parent: slabs emptied by remote frees went back", ">= 145",
              cache(parent)["free_slab"])
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
        m = re.match(r"signals (\d+) dumps (\d+)", run.stdout)
        sent, arrived = (int(m.group(1)), int(m.group(2))) if m else (0, -1)
        check(sent >= 20, "signals were sent", ">= 20", sent)
        check(arrived == sent, "a dump arrives for every signal", sent, arrived)
        snaps = tool.read_snapshots(out) if os.path.exists(out) else []
        by_signal = [s for s in snaps if s["reason"] == "signal"]
        check(len(by_signal) == sent, "one signal snapshot per signal", sent, len(by_signal))
        check(snaps and snaps[-1]["reason"] == "exit", "and the exit dump after them")
        for s in by_signal:
            check("zones" in s and "slabinfo" in s and "vmstat" not in s
                  and len(s["slabinfo"]) >= 33, "each signal dump is whole, and just what was asked")

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

        # A fork child does not get a snapshot thread: it stays single-threaded.
        out = os.path.join(tmp, "fork.%p")
        env = dict(os.environ, LD_PRELOAD=os.path.join(build, "libkmm.so"),
                   KMM_STATS_INTERVAL="10", KMM_STATS="buddyinfo", KMM_STATS_FILE=out)
        child_code = ("import os, time\n"
                      "pid = os.fork()\n"
                      "if pid == 0:\n"
                      "    time.sleep(0.2)\n"
                      "    threads = [l for l in open('/proc/self/status') if l.startswith('Threads:')]\n"
                      "    os._exit(0 if threads[0].split()[1] == '1' else 3)\n"
                      "_, status = os.waitpid(pid, 0)\n"
                      "print(os.waitstatus_to_exitcode(status))\n")
        run = subprocess.run(["/usr/bin/python3", "-c", child_code], env=env,
                             capture_output=True, text=True, timeout=60)
        check(run.returncode == 0 and run.stdout.strip() == "0",
              "a fork child of a process taking snapshots has one thread", "0",
              f"{run.returncode}: {run.stdout.strip()} {run.stderr.strip()}")

        # The exit dump reaches stderr even when the program closes it on the way out
        # (GNU tools do), and a pipe nobody reads does not kill the program at exit.
        env = dict(os.environ, LD_PRELOAD=os.path.join(build, "libkmm.so"),
                   KMM_STATS="buddyinfo")
        run = subprocess.run(["sort", "/dev/null"], env=env, capture_output=True, text=True,
                             timeout=60)
        check(run.returncode == 0 and "==> buddyinfo <==" in run.stderr,
              "sort, which closes stderr at exit, still gets its exit dump there",
              "a buddyinfo section", f"{run.returncode}: {run.stderr[:200]!r}")
        proc = subprocess.Popen(["sleep", "0.3"],  # python3 would ignore SIGPIPE itself
                                env=dict(env, KMM_STATS="all"), stderr=subprocess.PIPE)
        proc.stderr.close()
        check(proc.wait(timeout=60) == 0, "an exit dump into a closed pipe: the exit status "
              "stays 0 (no SIGPIPE)", 0, proc.returncode)


UNITS = {"K": 1, "M": 1 << 10, "G": 1 << 20}


def kib_of(text):
    """kB from kmm top's sizes (human(): 52.3M, 16.0G, 120K)."""
    m = re.fullmatch(r"([\d.]+)([KMG])", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def rounding_of(*texts):
    """How far the sum of kmm top's sizes @texts may be off: half a digit each."""
    return sum(0.05 * UNITS[t[-1]] if t[-1] != "K" else 1 for t in texts)


def png_size(path):
    """(width, height) of a PNG, from its IHDR chunk."""
    data = open(path, "rb").read(24)
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# 64 MiB of random bytes (nothing a compressed tier could shrink) written a page at a
# time through one block under a 16 MiB limit, then the first half read back and
# compared: the block is never freed, so at exit the other half is still swapped out.
# Its output: the pages that read back intact.
LIMIT_WORKLOAD = ("import ctypes, random\n"
                  "libc = ctypes.CDLL(None)\n"
                  "libc.malloc.restype = ctypes.c_void_p\n"
                  "pages = (64 << 20) // 4096\n"
                  "p = libc.malloc(pages * 4096)\n"
                  "rng = random.Random(1)\n"
                  "for i in range(pages):\n"
                  "    ctypes.memmove(p + i * 4096, rng.randbytes(4096), 4096)\n"
                  "rng = random.Random(1)\n"
                  "print(sum(ctypes.string_at(p + i * 4096, 4096) == rng.randbytes(4096)\n"
                  "          for i in range(pages // 2)))\n")
LIMIT_WORKLOAD_OUTPUT = str(16384 // 2)
LIMIT_LINES = {
    "limit": r"^ Limit: usage (\S+) / (\S+) \(([\d.]+)%\)  max (\S+)  failcnt (\d+)$",
    "lru": r"^ Anon LRU: active (\S+)  inactive (\S+)$",
    "swap": r"^ Swap: total (\S+)  used (\S+)  free (\S+)  cached (\S+)$",
    "rates": r"^ Rates over ([\d.]+)s: (.*)$"}


def test_tool_limit(kmm, tool, tmp, unlimited_png, unlimited_panels):
    """kmm top and kmm plot of a run under --mem-limit: the swap and LRU lines, with
    numbers that agree with the snapshot and with each other, and two panels more."""
    run = subprocess.run([kmm, "run", "--mem-limit=16M", "--interval=50",
                          "--file=" + os.path.join(tmp, "limited.%p.stats"), "--",
                          "/usr/bin/python3", "-c", LIMIT_WORKLOAD],
                         cwd=tmp, capture_output=True, text=True, timeout=120)
    check(run.returncode == 0 and run.stdout.strip() == LIMIT_WORKLOAD_OUTPUT,
          "kmm run --mem-limit=16M: the program runs and its output is intact",
          LIMIT_WORKLOAD_OUTPUT, f"{run.returncode}: {run.stdout.strip()} {run.stderr.strip()}")
    m = re.search(r"^kmm: statistics \(all\) in (\S+)$", run.stderr, re.M)
    check(m, "kmm run --mem-limit says where the statistics went",
          "kmm: statistics (all) in FILE", run.stderr)
    if not m:
        return
    path = m.group(1)
    snaps = [s for s in tool.snapshots_of(path) if "vmstat" in s and "meminfo" in s]
    check(len(snaps) >= 3 and snaps[-1]["reason"] == "exit",
          "snapshots under the limit, the exit dump last", ">= 3, exit last",
          [s["reason"] for s in snaps][-3:])
    # Rates are from the newest snapshot taken before the last (the exit dump may come
    # in the same millisecond as the interval's before it).
    last = snaps[-1] if snaps else None
    prev = next((s for s in reversed(snaps[:-1]) if s["uptime_ms"] < last["uptime_ms"]), None)
    check(prev, "a snapshot before the last one in time", "one", None)
    if not prev:
        return
    vm, mem = last["vmstat"], last["meminfo"]
    check(vm.get("memcg_limit_pages") == 4096, "memcg_limit_pages is the 16 MiB limit", 4096,
          vm.get("memcg_limit_pages"))
    swapped_out = vm.get("pswpout", 0) + vm.get("zswpout", 0)
    check(swapped_out > 0, "the workload swapped: 64 MiB under a 16 MiB limit",
          "pswpout + zswpout > 0", swapped_out)

    top = subprocess.run([kmm, "top", "--once", path], capture_output=True, text=True,
                         timeout=60)
    check(top.returncode == 0 and "kmalloc-" in top.stdout, "kmm top under a limit",
          "a slabtop view", f"{top.returncode}: {top.stdout[:300]} {top.stderr}")
    found = {}
    for key, pattern in LIMIT_LINES.items():
        found[key] = re.search(pattern, top.stdout, re.M)
        check(found[key], f"kmm top under a limit shows the {key} line", pattern,
              top.stdout[:1200])
    if not all(found.values()):
        return
    usage, limit, _, max_usage, failcnt = found["limit"].groups()
    slack = 2 << 10  # kB: a fault's window may bring in 2 MiB before kswapd runs
    check(kib_of(limit) == 16 << 10, "top: the limit", "16.0M", limit)
    check(kib_of(usage) is not None and 0 < kib_of(usage) <= (16 << 10) + slack,
          "top: usage within the limit (+ 2 MiB)", "0 < usage <= 18.0M", usage)
    check(kib_of(max_usage) is not None and kib_of(usage) <= kib_of(max_usage) <= (16 << 10) + slack,
          "top: usage <= max usage <= limit (+ 2 MiB)", f"{usage} .. 18.0M", max_usage)
    check(usage == tool.human(vm["memcg_usage_pages"] * 4) and int(failcnt) == vm["memcg_failcnt"],
          "top: usage and failcnt are the snapshot's",
          (tool.human(vm["memcg_usage_pages"] * 4), vm["memcg_failcnt"]), (usage, int(failcnt)))
    active, inactive = found["lru"].groups()
    check((active, inactive) == (tool.human(mem["Active(anon)"]), tool.human(mem["Inactive(anon)"])),
          "top: Active(anon) and Inactive(anon) are the snapshot's",
          (tool.human(mem["Active(anon)"]), tool.human(mem["Inactive(anon)"])), (active, inactive))
    # The charge is the pages on the LRU lists, and a compressed tier's pool beside them.
    lru, pool = kib_of(active) + kib_of(inactive), tool.human(mem.get("Zswap", 0))
    check(lru - rounding_of(active, inactive, usage) <= kib_of(usage)
          <= lru + kib_of(pool) + rounding_of(active, inactive, usage, pool),
          "top: active + inactive anon <= the charge <= them + the zswap pool (to top's "
          "rounding)", f"{active} + {inactive} (+ {pool})", usage)
    total, used, free, _ = found["swap"].groups()
    swap_used = mem["SwapTotal"] - mem["SwapFree"]
    check(used == tool.human(swap_used) and total == tool.human(mem["SwapTotal"]),
          "top: swap total and used are the snapshot's",
          (tool.human(mem["SwapTotal"]), tool.human(swap_used)), (total, used))
    check(vm.get("pswpout", 0) == 0 or kib_of(used) > 0,
          "top: swap used > 0 when pswpout > 0 (half the block is never read back)",
          f"> 0 (pswpout {vm.get('pswpout')})", used)
    check(abs(kib_of(used) + kib_of(free) - kib_of(total)) <= rounding_of(used, free, total),
          "top: swap used + free = total (to top's rounding)", total, f"{used} + {free}")
    if "Zswap" in mem:
        zswap = re.search(r"^ Zswap: pool (\S+)  stored (\S+)$", top.stdout, re.M)
        check(zswap and zswap.groups() == (tool.human(mem["Zswap"]),
                                           tool.human(mem.get("Zswapped", 0))),
              "top: the zswap line is the snapshot's",
              (tool.human(mem["Zswap"]), tool.human(mem.get("Zswapped", 0))),
              zswap and zswap.groups())
    seconds = (last["uptime_ms"] - prev["uptime_ms"]) / 1000
    rates = dict(re.findall(r"(\w+) (\d+)/s", found["rates"].group(2)))
    check(found["rates"].group(1) == f"{seconds:.3f}", "top: rates over the time since the "
          "snapshot before", f"{seconds:.3f}", found["rates"].group(1))
    for name in ("pswpin", "pswpout", "pgmajfault"):
        expect = f"{(vm[name] - prev['vmstat'][name]) / seconds:.0f}" if seconds > 0 else None
        check(rates.get(name) == expect, f"top: {name}/s between the last two snapshots",
              expect, rates.get(name))

    # The same snapshot as JSON Lines alone and as text alone: the same header (caches
    # of one size may come in another order: slabinfo's text lists them by size).
    lines = open(path).read().splitlines(keepends=True)
    json_only, text_only = os.path.join(tmp, "limited.json"), os.path.join(tmp, "limited.text")
    with open(json_only, "w") as f:
        f.writelines(l for l in lines if l.startswith("{"))
    with open(text_only, "w") as f:
        f.writelines(l for l in lines if not l.startswith("{") and l != "==> json <==\n")
    for form, copy in (("JSON Lines", json_only), ("text", text_only)):
        other = subprocess.run([kmm, "top", "--once", copy], capture_output=True, text=True,
                               timeout=60)
        header = top.stdout.split("\n\n")[0]
        check(other.returncode == 0 and other.stdout.split("\n\n")[0] == header,
              f"kmm top of the {form} form alone: the same header", header,
              other.stdout.split("\n\n")[0] + other.stderr)

    # Rows a snapshot lacks are left out, and rows that come later are shown.
    bare = dict(last, meminfo=dict(mem), vmstat=dict(vm))
    for name in ("SwapCached", "Zswap", "Zswapped"):
        bare["meminfo"].pop(name, None)
    for name in ("memcg_max_usage_pages", "memcg_failcnt", "pgmajfault"):
        bare["vmstat"].pop(name, None)
    older = dict(prev, vmstat=dict(prev["vmstat"], zswpout=0))
    bare["vmstat"]["zswpout"] = 250
    text = tool.render_top(bare, "size", 1000, older)
    check(re.search(r"^ Limit: usage \S+ / 16\.0M \([\d.]+%\)$", text, re.M)
          and re.search(r"^ Swap: total \S+  used \S+  free \S+$", text, re.M)
          and " Zswap:" not in text and "pgmajfault" not in text
          and re.search(r" zswpout \d+/s$", text, re.M),
          "kmm top: absent rows left out, new ones shown", "no max, failcnt, cached, zswap, "
          "pgmajfault; zswpout/s", "\n".join(text.splitlines()[5:12]))
    text = tool.render_top(last, "size", 1000)
    check(" Swap: " in text and "Rates over" not in text,
          "kmm top: no rates without a snapshot before", "no Rates line",
          "\n".join(text.splitlines()[5:12]))

    png = os.path.join(tmp, "limited.png")
    plot = subprocess.run([kmm, "plot", path, "-o", png, "--list-panels"],
                          capture_output=True, text=True, timeout=120)
    check(plot.returncode == 0 and os.path.exists(png), "kmm plot under a limit writes a PNG",
          0, f"{plot.returncode}: {plot.stderr}")
    if not os.path.exists(png):
        return
    panels = re.findall(r"^panel: (.*)$", plot.stdout, re.M)
    first_words = lambda titles: [" ".join(t.split()[:3]) for t in titles]
    check(len(panels) == 5 and first_words(panels[:3]) == first_words(unlimited_panels),
          "kmm plot under a limit: the three panels and two more",
          first_words(unlimited_panels) + ["...", "..."], panels)
    check(any("under the limit of 16.0M" in p for p in panels[3:]) and
          any("rates" in p for p in panels[3:]),
          "kmm plot under a limit: a panel of the charge and swap, one of the rates",
          "'under the limit of 16.0M', 'rates'", panels[3:])
    (w0, h0), (w1, h1) = png_size(unlimited_png), png_size(png)
    check(w1 == w0 and h1 > h0, "the chart under a limit is taller", f"{w0} x > {h0}",
          f"{w1} x {h1}")


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
        check(not re.search(r"^ (Limit|Anon LRU|Swap|Zswap|Rates over)", top.stdout, re.M),
              "kmm top without a limit: no swap or LRU lines", "none",
              [l for l in top.stdout.splitlines() if re.match(r" (Limit|Anon|Swap|Zswap|Rates)", l)])

        png = os.path.join(tmp, "chart.png")
        plot = subprocess.run([kmm, "plot", path, "-o", png, "--list-panels"],
                              capture_output=True, text=True, timeout=120)
        check(plot.returncode == 0 and os.path.exists(png), "kmm plot writes a PNG", 0,
              f"{plot.returncode}: {plot.stderr}")
        panels = re.findall(r"^panel: (.*)$", plot.stdout, re.M)
        check(len(panels) == 3, "kmm plot without a limit: three panels", 3, panels)
        if os.path.exists(png):
            data = open(png, "rb").read()
            check(data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000,
                  "a real PNG chart", "> 20000 bytes of PNG", len(data))
            test_tool_limit(kmm, tool, tmp, png, panels)

        # Bad arguments: one line each, naming what was wrong, exit status 2.
        for args, needle in ((["run", "--interval=abc", "--", "true"], "--interval=abc"),
                             (["run", "--stats=pagetypeinfo", "--", "true"], "--stats=pagetypeinfo"),
                             (["run", "--limit=lots", "--", "true"], "--limit=lots"),
                             (["run", "--mem-limit=1X", "--", "true"], "--mem-limit=1X"),
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
