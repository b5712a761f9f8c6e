"""Whole programs under LD_PRELOAD, for bench.py.

Each program is run as it comes from Debian, with the allocator under test preloaded,
and measured from outside: wall-clock time around the run, and the peak resident set
that wait4 reports for the process and the children it waited for (gcc's cc1, say).
Every input is generated with a fixed seed or copied from this repository at the start
of the run, so each allocator gets the same work.
"""

import hashlib
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class RunFailed(Exception):
    pass


# kmm_bench_measure (measure.c), which bench.py points at: it runs a command and reports
# its time and peak resident set, which a wait4 from Python cannot.
MEASURE = None


def measured_command(argv, result_path, preload):
    return ([str(MEASURE), str(result_path)] + ([f"--preload={preload}"] if preload else [])
            + ["--"] + [str(a) for a in argv])


def read_measurement(result_path, what):
    """(seconds, peak RSS KiB) from kmm_bench_measure's result file; RunFailed unless the
    command exited with 0."""
    try:
        seconds, rss_kib, status = Path(result_path).read_text().split()
    except (OSError, ValueError):
        raise RunFailed(f"{what}: no measurement (the command could not be started)")
    if int(status) != 0:
        raise RunFailed(f"{what} " + (f"exited with {status}" if int(status) > 0
                                      else f"was killed by signal {-int(status)}"))
    return float(seconds), int(rss_kib)


def run_measured(argv, env, cwd, preload=None, stdin_path=None):
    """Runs argv in cwd, its output to cwd/stdout.txt, LD_PRELOAD=preload; returns
    (seconds, peak RSS in KiB)."""
    cwd = Path(cwd)
    result = cwd / "measurement.txt"
    result.unlink(missing_ok=True)
    with open(stdin_path or os.devnull, "rb") as stdin, \
            open(cwd / "stdout.txt", "wb") as stdout, open(cwd / "stderr.log", "wb") as stderr:
        subprocess.run(measured_command(argv, result, preload), env=env, cwd=cwd, stdin=stdin,
                       stdout=stdout, stderr=stderr)
    try:
        return read_measurement(result, Path(argv[0]).name)
    except RunFailed as failure:
        tail = (cwd / "stderr.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise RunFailed(" / ".join([str(failure)] + tail))


def system_python():
    """Debian's python3, not one a version manager put first on PATH."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


def count(n):
    """1 M, 250 k: the size of an input in a description."""
    return f"{n // 1_000_000} M" if n % 1_000_000 == 0 else f"{n // 1000} k"


def digest(paths):
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(Path(path).read_bytes())
    return hasher.hexdigest()[:16]


class Program:
    name = ""
    description = ""
    in_quick = False
    # The files whose contents must be the same under every allocator, a pattern in the
    # work directory; None where the output is not deterministic.
    result = "stdout.txt"

    def prepare(self, work, quick):
        """Creates the program's inputs under work (a directory of its own)."""

    def run(self, env, work, preload):
        """One measured run with LD_PRELOAD=preload; returns (seconds, peak RSS KiB)."""
        raise NotImplementedError

    def result_digest(self, work):
        if not self.result:
            return None
        files = sorted(work.glob(self.result))
        if not files:
            raise RunFailed(f"{self.name} wrote no {self.result}")
        return digest(files)

    def remove_results(self, work):
        """Before a run: one that writes nothing cannot pass for one that did."""
        for path in work.glob(self.result) if self.result else ():
            path.unlink()


class Python(Program):
    def __init__(self, pymalloc):
        self.pymalloc = pymalloc
        self.name = "python" if pymalloc else "python-malloc"
        self.in_quick = not pymalloc

    def prepare(self, work, quick):
        self.entries = 250_000 if quick else 1_000_000
        self.description = (
            f"python3 running bench/py_workload.py {self.entries} (a {count(self.entries)}"
            f"-entry dict, list comprehensions, JSON of {count(self.entries // 5)} records, "
            "string building), "
            + ("with Python's own small-object allocator, as python3 runs by default"
               if self.pymalloc else
               "with PYTHONMALLOC=malloc: every object from the allocator"))

    def run(self, env, work, preload):
        env = dict(env)
        if not self.pymalloc:
            env["PYTHONMALLOC"] = "malloc"
        return run_measured([system_python(), REPO / "bench/py_workload.py", self.entries],
                            env, work, preload)


class Sort(Program):
    name = "sort"
    in_quick = True
    result = "sorted.txt"

    def prepare(self, work, quick):
        self.lines = 600_000 if quick else 3_000_000
        self.description = (f"GNU sort (C locale, two threads) of a {count(self.lines)}-line "
                            "generated text file")
        write_text_file(work / "input.txt", self.lines)

    def run(self, env, work, preload):
        env = dict(env, LC_ALL="C")
        return run_measured(["sort", "--parallel=2", "-o", "sorted.txt", "input.txt"], env,
                            work, preload)


def write_text_file(path, lines):
    rng = random.Random(1)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
             "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
    with open(path, "w") as out:
        for _ in range(lines):
            out.write(f"{rng.choice(words)}{rng.randrange(10**9)} {rng.random():.6f} "
                      f"{rng.choice(words)} {rng.choice(words)}\n")


class Gcc(Program):
    name = "gcc"
    in_quick = True
    result = "*.o"

    def prepare(self, work, quick):
        # A copy, so that edits to the working tree during the run change nothing.
        shutil.copytree(REPO / "src", work / "src")
        shutil.copytree(REPO / "include", work / "include")
        self.sources = sorted(str(p.relative_to(work)) for p in (work / "src").rglob("*.c"))
        if quick:
            self.sources = [s for s in self.sources if s.endswith(("slub.c", "page_alloc.c"))]
        self.description = (f"gcc -O2 -g compiling {len(self.sources)} of kmm's own C sources "
                            "in one command (cc1 once per file)")

    def run(self, env, work, preload):
        return run_measured(["gcc", "-O2", "-g", "-std=gnu11", "-mcx16", "-fPIC", "-Iinclude",
                             "-Isrc", "-c"] + self.sources, env, work, preload)


# Most of the standard library, instantiated: what g++ spends its memory on in
# template-heavy C++.
STL_SOURCE = r"""
#include <bits/stdc++.h>

struct record {
	std::string name;
	std::vector<double> values;
	std::optional<std::map<std::string, int>> tags;
	bool operator<(const record &o) const
	{
		return std::tie(name, values) < std::tie(o.name, o.values);
	}
};

using value = std::variant<int, double, std::string, record>;
using table = std::unordered_map<std::string, std::vector<value>>;

template <typename T> auto summarize(const std::vector<T> &v)
{
	std::map<T, std::size_t> counts;
	for (const auto &x : v)
		counts[x]++;
	std::vector<std::pair<T, std::size_t>> sorted(counts.begin(), counts.end());
	std::sort(sorted.begin(), sorted.end(), [](auto &a, auto &b) { return a.second > b.second; });
	return sorted;
}

int main(int argc, char **argv)
{
	std::vector<std::string> args(argv, argv + argc);
	std::regex word("([a-z]+)([0-9]*)");
	table t;
	std::set<record> records;
	std::deque<std::tuple<int, std::string, double>> queue;
	std::priority_queue<std::pair<double, std::string>> heap;
	for (const auto &a : args) {
		std::smatch m;
		if (std::regex_match(a, m, word))
			t[m[1]].push_back(std::stoi(m[2].str().empty() ? "0" : m[2].str()));
		records.insert({a, {1.0, 2.0}, std::nullopt});
		queue.emplace_back(a.size(), a, 0.5);
		heap.emplace(a.size() * 0.5, a);
	}
	std::ostringstream out;
	for (auto &[k, v] : t)
		for (auto &x : v)
			std::visit([&](auto &y) {
				if constexpr (std::is_same_v<std::decay_t<decltype(y)>, record>)
					out << y.name;
				else
					out << y;
			}, x);
	auto s1 = summarize(args);
	auto s2 = summarize(std::vector<int>{1, 2, 2, 3});
	std::unordered_set<std::string> seen(args.begin(), args.end());
	std::list<std::string> l(args.begin(), args.end());
	l.sort();
	std::function<int(int)> fib = [&](int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); };
	std::cout << out.str() << s1.size() << s2.size() << seen.size() << l.size() << fib(10)
	          << std::filesystem::path(args[0]).filename() << std::endl;
	return 0;
}
"""


class Gxx(Program):
    name = "g++"
    result = "stl.o"
    description = ("g++ -O2 -std=c++17 compiling a generated C++ file that includes the whole "
                   "standard library (<bits/stdc++.h>) and instantiates containers, regex, "
                   "variant and streams")

    def prepare(self, work, quick):
        (work / "stl.cc").write_text(STL_SOURCE)

    def run(self, env, work, preload):
        return run_measured(["g++", "-O2", "-std=c++17", "-c", "stl.cc", "-o", "stl.o"],
                            env, work, preload)


SQLITE_SCRIPT = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -65536;
PRAGMA temp_store = MEMORY;
CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT, city INTEGER, score REAL, note TEXT);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {rows})
INSERT INTO person
SELECT x, printf('name%08d', (x * 7919) % 1000003), x % 1000, ((x * 37) % 10007) / 100.0,
       printf('%.*c', 20 + x % 200, 'x')
FROM n;
CREATE INDEX person_city ON person(city, score);
CREATE INDEX person_name ON person(name);
SELECT city, count(*), avg(score), max(name) FROM person GROUP BY city ORDER BY 3 DESC LIMIT 3;
SELECT count(*) FROM person a JOIN person b ON b.name = a.name WHERE a.city < 100;
UPDATE person SET note = note || note WHERE city % 3 = 0;
DELETE FROM person WHERE city % 5 = 0;
SELECT length(json_group_array(json_object('id', id, 'name', name, 'score', score)))
FROM person WHERE city < 200;
SELECT name, score FROM person ORDER BY note DESC, score LIMIT 3;
SELECT count(DISTINCT substr(note, 1, 30) || name) FROM person;
VACUUM;
"""


class Sqlite(Program):
    name = "sqlite"
    in_quick = True

    def prepare(self, work, quick):
        self.rows = 100_000 if quick else 500_000
        self.description = (f"sqlite3: a {count(self.rows)}-row table inserted, indexed, "
                            "grouped, joined, updated, deleted from, sorted, turned into JSON "
                            "and vacuumed, in a database file with a 64 MiB page cache")
        (work / "workload.sql").write_text(SQLITE_SCRIPT.format(rows=self.rows))

    def run(self, env, work, preload):
        (work / "bench.db").unlink(missing_ok=True)
        return run_measured(["sqlite3", "bench.db"], env, work, preload,
                            stdin_path=work / "workload.sql")


class Redis(Program):
    name = "redis"
    in_quick = True
    result = None  # redis-benchmark prints throughputs, different on every run

    def prepare(self, work, quick):
        self.requests = 50_000 if quick else 500_000
        self.description = (f"redis-server under redis-benchmark (not preloaded): "
                            f"{count(self.requests)} requests each of SET, GET, INCR, "
                            "LPUSH, LPOP, SADD, HSET, ZADD, 128-byte values over 100 k random "
                            "keys, 16 pipelined; time is the client's, memory the server's")

    def run(self, env, work, preload):
        socket, server_result = work / "redis.sock", work / "server.txt"
        socket.unlink(missing_ok=True)
        server_result.unlink(missing_ok=True)
        with open(work / "redis.log", "wb") as log:
            # A session of its own, so that a failed run can stop the server with its
            # measuring parent.
            server = subprocess.Popen(
                measured_command(["redis-server", "--port", "0", "--unixsocket", socket,
                                  "--save", "", "--appendonly", "no", "--dir", work,
                                  "--loglevel", "warning"], server_result, preload),
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.wait_until_up(server, socket, work)
            seconds, _ = run_measured(
                ["redis-benchmark", "-s", socket, "-n", self.requests, "-r", "100000", "-d",
                 "128", "-P", "16", "-q", "-t", "set,get,incr,lpush,lpop,sadd,hset,zadd"],
                env, work)
            subprocess.run(["redis-cli", "-s", str(socket), "shutdown", "nosave"],
                           capture_output=True)
            server.wait(timeout=60)
            _, rss_kib = read_measurement(server_result, "redis-server")
            return seconds, rss_kib
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()

    @staticmethod
    def wait_until_up(server, socket, work):
        deadline = time.monotonic() + 30
        while subprocess.run(["redis-cli", "-s", str(socket), "ping"],
                             capture_output=True).stdout.strip() != b"PONG":
            if server.poll() is not None or time.monotonic() > deadline:
                raise RunFailed("redis-server did not start: "
                                + (work / "redis.log").read_text(errors="replace")[-300:])
            time.sleep(0.05)


PERL_SCRIPT = r"""
use strict;
use warnings;
my $n = $ARGV[0];
my %h;
for my $i (1 .. $n) {
    $h{"key$i"} = [$i, "v" x ($i % 64), { even => $i % 2 == 0 }];
}
my @keys = sort keys %h;
my $text = join(",", map { "$_=" . $h{$_}[0] } @keys);
my @fields = split /,/, $text;
my %words;
for my $f (@fields) {
    my ($k, $v) = split /=/, $f;
    $words{substr($k, 0, 5)} += $v if $k =~ /7.*3/;
}
for my $i (1 .. $n) {
    delete $h{"key$i"} if $i % 3;
}
my $s = "";
$s .= sprintf("%d:%s;", $_, scalar reverse $_) for 1 .. $n / 2;
print scalar(keys %h), " ", scalar(@fields), " ", scalar(keys %words), " ", length($s), "\n";
"""


class Perl(Program):
    name = "perl"

    def prepare(self, work, quick):
        self.count = 200_000 if quick else 1_000_000
        self.description = (f"perl: a hash of {count(self.count)} array and hash references, "
                            "sorted keys, a large join and split, regular expressions, deletes, "
                            "string building")
        (work / "workload.pl").write_text(PERL_SCRIPT)

    def run(self, env, work, preload):
        return run_measured(["perl", "workload.pl", self.count], env, work, preload)


class Xz(Program):
    name = "xz"
    result = "input.txt.xz"

    def prepare(self, work, quick):
        lines = 300_000 if quick else 1_500_000
        self.description = (f"xz -1 with two threads compressing a {count(lines)}-line "
                            "generated text file: few, large blocks")
        write_text_file(work / "input.txt", lines)

    def run(self, env, work, preload):
        return run_measured(["xz", "-T2", "-1", "-k", "-f", "input.txt"], env, work, preload)


PROGRAMS = [Python(pymalloc=False), Python(pymalloc=True), Sort(), Gcc(), Gxx(), Sqlite(),
            Redis(), Perl(), Xz()]
