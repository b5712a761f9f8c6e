/*
 * kmm_alloc_pages/kmm_free_pages against what a program would use otherwise for
 * page-sized, page-aligned memory: glibc's aligned_alloc and a private anonymous mmap.
 *
 * One operation is one allocation plus its free, in every benchmark, so the time per
 * iteration is the time per operation. Every contender writes the first byte of every
 * block it gets: kmm and glibc hand back memory that is already resident when they
 * reuse it, mmap faults a fresh zeroed page each time, and that difference is part of
 * what is being measured.
 *
 * Shapes (see docs/bench-pages.md):
 *   pair      allocate one block, touch it, free it;
 *   batch64   allocate 64 blocks, touching each, then free them newest first;
 *   batch512  the same with 512 order-0 blocks: more than a per-CPU list holds (its
 *             high mark is 378 pages on a large zone), so every round makes kmm refill
 *             the list from the zone and flush it back, where 64 blocks of order 0 in
 *             one thread never leave it.
 * Each shape runs single-threaded and with 8 threads; on a machine with fewer cores
 * the 8-thread runs show what preemption in the middle of an operation costs.
 */
#include <benchmark/benchmark.h>

#include <dlfcn.h>
#include <gnu/lib-names.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include <kmm/kmm.h>

namespace
{

size_t block_bytes(unsigned int order)
{
	return size_t{KMM_PAGE_SIZE} << order;
}

/* volatile: the store must happen, it is what faults the page in. */
void touch(void *block)
{
	*static_cast<volatile char *>(block) = 1;
}

struct Kmm {
	static void *alloc(unsigned int order)
	{
		return kmm_alloc_pages(order);
	}
	static void release(void *block, unsigned int order)
	{
		kmm_free_pages(block, order);
	}
};

/*
 * libkmm.so may also provide the C library's allocation functions, and this program links
 * it, so a plain aligned_alloc() call could end up in kmm. Taking the symbols from
 * libc.so.6's own handle keeps this contender glibc's allocator whatever libkmm exports.
 */
void *(*glibc_aligned_alloc)(size_t, size_t);
void (*glibc_free)(void *);

bool resolve_glibc()
{
	void *libc = dlopen(LIBC_SO, RTLD_NOW | RTLD_NOLOAD);

	if (!libc)
		return false;
	glibc_aligned_alloc =
	        reinterpret_cast<void *(*)(size_t, size_t)>(dlsym(libc, "aligned_alloc"));
	glibc_free = reinterpret_cast<void (*)(void *)>(dlsym(libc, "free"));
	return glibc_aligned_alloc && glibc_free;
}

struct Glibc {
	static void *alloc(unsigned int order)
	{
		return glibc_aligned_alloc(block_bytes(order), block_bytes(order));
	}
	static void release(void *block, unsigned int)
	{
		glibc_free(block);
	}
};

/*
 * Only page alignment: aligning an order-3 mapping to 32 KiB would take a larger
 * mapping and one or two more munmap calls to trim it, which this comparison leaves
 * out in mmap's favour.
 */
struct Mmap {
	static void *alloc(unsigned int order)
	{
		void *block = mmap(nullptr, block_bytes(order), PROT_READ | PROT_WRITE,
		                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		return block == MAP_FAILED ? nullptr : block;
	}
	static void release(void *block, unsigned int order)
	{
		munmap(block, block_bytes(order));
	}
};

template <class A> void run_pair(benchmark::State &state, unsigned int order, int)
{
	for (auto _ : state) {
		void *block = A::alloc(order);

		if (!block) {
			state.SkipWithError("allocation failed");
			break;
		}
		touch(block);
		A::release(block, order);
	}
	state.SetItemsProcessed(state.iterations());
}

template <class A> void run_batch(benchmark::State &state, unsigned int order, int count)
{
	std::vector<void *> blocks(static_cast<size_t>(count));

	/* Counting each block as an iteration keeps the time per operation comparable. */
	while (state.KeepRunningBatch(count)) {
		int n = 0;

		while (n < count && (blocks[n] = A::alloc(order)) != nullptr)
			touch(blocks[n++]);
		const bool failed = n < count;
		while (n > 0)
			A::release(blocks[--n], order);
		if (failed) {
			state.SkipWithError("allocation failed");
			break;
		}
	}
	state.SetItemsProcessed(state.iterations());
}

using Runner = void (*)(benchmark::State &, unsigned int order, int count);

struct Contender {
	const char *name;
	Runner pair;
	Runner batch;
};

const Contender contenders[] = {
        {"kmm", run_pair<Kmm>, run_batch<Kmm>},
        {"glibc", run_pair<Glibc>, run_batch<Glibc>},
        {"mmap", run_pair<Mmap>, run_batch<Mmap>},
};

struct Shape {
	const char *name;
	int count; /* blocks held at once; 1 is the pair shape */
	std::vector<unsigned int> orders;
};

const Shape shapes[] = {
        {"pair", 1, {0, 3}},
        {"batch64", 64, {0, 3}},
        {"batch512", 512, {0}},
};

void register_one(const Shape &shape, unsigned int order, int threads, const Contender &c)
{
	std::string name =
	        std::string(shape.name) + "/order:" + std::to_string(order) + "/" + c.name;
	Runner run = shape.count == 1 ? c.pair : c.batch;
	int count = shape.count;
	auto *b = benchmark::RegisterBenchmark(
	        name.c_str(),
	        [run, order, count](benchmark::State &state) { run(state, order, count); });

	/* The main thread's CPU time says nothing about the other seven. */
	if (threads > 1)
		b->Threads(threads)->UseRealTime();
}

/*
 * Shape by shape, so that the contenders of one shape print next to each other:
 * "pair/order:0/kmm", "pair/order:0/glibc", "pair/order:0/mmap", ...
 */
void register_benchmarks()
{
	for (const Shape &shape : shapes)
		for (int threads : {1, 8})
			for (unsigned int order : shape.orders)
				for (const Contender &c : contenders)
					register_one(shape, order, threads, c);
}

} // namespace

int main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	if (!resolve_glibc()) {
		const char *why = dlerror();

		std::fprintf(stderr, "bench_pages: cannot find aligned_alloc and free in %s: %s\n",
		             LIBC_SO, why ? why : "not found");
		return 1;
	}
	register_benchmarks();
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
