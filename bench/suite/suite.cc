// The allocator suite: google-benchmark drives the C workloads of workloads.h on one
// allocator, opened from its own shared object (allocator.h).
//
//   kmm_bench_suite --allocator=NAME [--kmm-library=PATH] [--quick] [--verify]
//                   [google-benchmark flags]
//
// NAME is glibc, jemalloc, mimalloc, tcmalloc or kmm. --verify only checks the table
// (bench_allocator_verify) and runs nothing. --quick makes the fragmentation run and
// larson smaller. Benchmarks are named GROUP/VARIANT; the driver (bench/suite/bench.py)
// runs each benchmark in a process of its own.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <unistd.h>
#include <vector>

#include "allocator.h"
#include "workloads.h"

#ifndef KMM_LIBRARY_PATH
#define KMM_LIBRARY_PATH "libkmm.so"
#endif

namespace
{

bench_allocator allocator;
bool quick;

constexpr size_t KiB = 1024, MiB = 1024 * 1024;

// Each benchmark makes one untimed call of its workload first: the figures are of an
// allocator that has the memory it needs, not of the kernel faulting it in. The
// fragmentation run and the programs of bench.py show the first touch.
void check(benchmark::State &state, int status)
{
	if (status != 0)
		state.SkipWithError("an allocation failed or a block did not hold its contents");
}

void register_pairs()
{
	struct variant {
		const char *name;
		uint32_t min, max;
	};
	for (variant v : {variant{"pairs/8", 8, 8}, variant{"pairs/64", 64, 64},
	                  variant{"pairs/512", 512, 512}, variant{"pairs/8-512", 8, 512}}) {
		benchmark::RegisterBenchmark(v.name, [v](benchmark::State &state) {
			constexpr long pairs = 1000;
			std::vector<uint32_t> sizes(1024);
			bench_fill_sizes(sizes.data(), sizes.size(), v.min, v.max, 1);
			run_small_pairs(&allocator, sizes.data(), sizes.size(), pairs);
			for (auto _ : state)
				check(state, run_small_pairs(&allocator, sizes.data(), sizes.size(),
				                             pairs));
			state.SetItemsProcessed(state.iterations() * pairs);
			state.SetLabel("1000 malloc+free pairs");
		})->UseRealTime();
	}
}

void register_batch()
{
	struct variant {
		const char *name;
		free_order order;
	};
	for (variant v : {variant{"batch/lifo", FREE_LIFO}, variant{"batch/fifo", FREE_FIFO},
	                  variant{"batch/random", FREE_RANDOM}}) {
		benchmark::RegisterBenchmark(v.name, [v](benchmark::State &state) {
			constexpr size_t count = 100000;
			std::vector<uint32_t> sizes(count), permutation(count);
			std::vector<void *> slots(count);
			uint64_t seed = 7;

			bench_fill_sizes(sizes.data(), count, 8, 512, 2);
			std::iota(permutation.begin(), permutation.end(), 0);
			for (size_t i = count - 1; i > 0; i--)
				std::swap(permutation[i],
				          permutation[bench_random(&seed) % (i + 1)]);
			run_batch(&allocator, sizes.data(), permutation.data(), slots.data(), count,
			          v.order);
			for (auto _ : state)
				check(state, run_batch(&allocator, sizes.data(), permutation.data(),
				                       slots.data(), count, v.order));
			state.SetItemsProcessed(state.iterations() * count);
			state.SetLabel("100000 blocks of 8-512 B");
		})->UseRealTime();
	}
}

void register_sweep()
{
	for (size_t size :
	     {8 * 1UL, 64 * 1UL, 512 * 1UL, 4 * KiB, 32 * KiB, 256 * KiB, 1 * MiB, 4 * MiB}) {
		std::string name = "sweep/" + (size >= MiB   ? std::to_string(size / MiB) + "M"
		                               : size >= KiB ? std::to_string(size / KiB) + "K"
		                                             : std::to_string(size));
		benchmark::RegisterBenchmark(name.c_str(), [size](benchmark::State &state) {
			constexpr long repeat = 100;
			run_size_step(&allocator, size, 1);
			for (auto _ : state)
				check(state, run_size_step(&allocator, size, repeat));
			state.SetItemsProcessed(state.iterations() * repeat);
			state.SetLabel("100 malloc, write each page, free");
		})->UseRealTime();
	}
}

void register_realloc()
{
	benchmark::RegisterBenchmark("realloc/double", [](benchmark::State &state) {
		run_realloc_doubling(&allocator, 8 * MiB);
		for (auto _ : state)
			check(state, run_realloc_doubling(&allocator, 8 * MiB));
		state.SetLabel("16 B to 8 MiB, doubling");
	})->UseRealTime();
	benchmark::RegisterBenchmark("realloc/append", [](benchmark::State &state) {
		run_realloc_append(&allocator, 64, 4 * KiB, 3);
		for (auto _ : state)
			check(state, run_realloc_append(&allocator, 64, 4 * KiB, 3));
		state.SetLabel("64 strings grown to 4 KiB by 1-32 B");
	})->UseRealTime();
}

void register_threads()
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int cpus = online < 2 ? 2 : online > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : (int)online;
	// More threads than CPUs on any machine, as far as BENCH_MAX_THREADS allows.
	int many = 4 * cpus < BENCH_MAX_THREADS ? 4 * cpus : BENCH_MAX_THREADS;
	long objects = quick ? 25000 : 100000;

	benchmark::RegisterBenchmark("larson/4x2", [objects](benchmark::State &state) {
		run_producer_consumer(&allocator, 4, objects);
		for (auto _ : state)
			check(state, run_producer_consumer(&allocator, 4, objects));
		state.SetItemsProcessed(state.iterations() * 4 * objects * 2);
		state.SetLabel(std::to_string(4 * objects) + " blocks, 8 threads");
	})->UseRealTime();
	std::string scratch = "scratch/" + std::to_string(cpus);
	benchmark::RegisterBenchmark(scratch.c_str(), [cpus](benchmark::State &state) {
		run_cache_scratch(&allocator, cpus, 1000, 100);
		for (auto _ : state)
			check(state, run_cache_scratch(&allocator, cpus, 1000, 100));
		state.SetLabel(std::to_string(cpus) + " threads x 1000 rounds of 100 writes");
	})->UseRealTime();
	std::string threads = "threads/" + std::to_string(many);
	benchmark::RegisterBenchmark(threads.c_str(), [many](benchmark::State &state) {
		constexpr int rounds = 100, batch = 100;
		run_thread_batches(&allocator, many, rounds, batch);
		for (auto _ : state)
			check(state, run_thread_batches(&allocator, many, rounds, batch));
		state.SetItemsProcessed(state.iterations() * many * rounds * batch);
		state.SetLabel(std::to_string(many) + " threads x 100 batches of 100");
	})->UseRealTime();
}

void register_large()
{
	benchmark::RegisterBenchmark("large/1-64M", [](benchmark::State &state) {
		std::vector<size_t> sizes;
		for (size_t mib : {1, 2, 4, 8, 16, 32, 64, 3, 12, 48})
			sizes.push_back(mib * MiB);
		run_large_blocks(&allocator, sizes.data(), sizes.size());
		for (auto _ : state)
			check(state, run_large_blocks(&allocator, sizes.data(), sizes.size()));
		state.SetItemsProcessed(state.iterations() * sizes.size());
		state.SetLabel("10 blocks of 1-64 MiB, each page written");
	})->UseRealTime();
}

void register_fragmentation()
{
	long small = quick ? 250000 : 1000000;

	benchmark::RegisterBenchmark(
	        "frag/mixed",
	        [small](benchmark::State &state) {
		        fragmentation_result result{};
		        for (auto _ : state)
			        check(state, run_fragmentation(&allocator, small, &result));
		        state.counters["live_mib"] = result.live_mib;
		        state.counters["peak_rss_mib"] = result.peak_rss_mib;
		        state.counters["final_rss_mib"] = result.final_rss_mib;
		        state.SetLabel(std::to_string(small) +
		                       " blocks of 16-512 B, 3/4 freed, refilled "
		                       "with 1-8 KiB");
	        })
	        ->UseRealTime()
	        ->Iterations(1);
}

// ld.so reserves 512 bytes of static TLS for libraries opened later; jemalloc's
// initial-exec TLS needs 2.6 KiB. The reserve is a tunable read at start-up, so the
// program sets it and starts again.
void ensure_static_tls_reserve(char **argv)
{
	const char *tunables = getenv("GLIBC_TUNABLES");

	if (tunables && strstr(tunables, "glibc.rtld.optional_static_tls"))
		return;
	std::string value = "glibc.rtld.optional_static_tls=16384";
	if (tunables && *tunables)
		value = std::string(tunables) + ":" + value;
	setenv("GLIBC_TUNABLES", value.c_str(), 1);
	execv("/proc/self/exe", argv);
	perror("execv /proc/self/exe");
}

} // namespace

int main(int argc, char **argv)
{
	const char *name = nullptr, *kmm_library = KMM_LIBRARY_PATH;
	bool verify = false;
	char error[512];
	int kept = 1;

	ensure_static_tls_reserve(argv);
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--allocator=", 12) == 0)
			name = argv[i] + 12;
		else if (strncmp(argv[i], "--kmm-library=", 14) == 0)
			kmm_library = argv[i] + 14;
		else if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (strcmp(argv[i], "--verify") == 0)
			verify = true;
		else
			argv[kept++] = argv[i];
	}
	argc = kept;
	if (!name) {
		fprintf(stderr,
		        "usage: %s --allocator=NAME [--kmm-library=PATH] [--quick] "
		        "[--verify] [benchmark flags]\nallocators:",
		        argv[0]);
		for (const char *const *n = bench_allocator_names; *n; n++)
			fprintf(stderr, " %s", *n);
		fprintf(stderr, "\n");
		return 2;
	}
	if (bench_allocator_open(&allocator, name, kmm_library, error, sizeof(error)) != 0) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	if (verify)
		return bench_allocator_verify(&allocator, stdout) ? 0 : 1;

	register_pairs();
	register_batch();
	register_sweep();
	register_realloc();
	register_threads();
	register_large();
	register_fragmentation();
	benchmark::AddCustomContext("allocator", allocator.name);
	benchmark::AddCustomContext("allocator_library", allocator.library);
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
