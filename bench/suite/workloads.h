/*
 * The suite's workloads, each a shape known from allocator benchmarking, written in C
 * against the allocator table. Each call does a fixed amount of work, the same on
 * every allocator: the inputs (sizes, orders) come from fixed-seed generators. Each
 * writes into the memory it gets, as a program would, and checks what it wrote where
 * a broken allocator would show. A call returns 0, or -1 when an allocation failed or
 * a check did not hold.
 */
#ifndef KMM_BENCH_WORKLOADS_H
#define KMM_BENCH_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xorshift64: the same sequence everywhere for a given seed. */
uint64_t bench_random(uint64_t *state);

/* COUNT sizes spread evenly at random over [MIN, MAX], from SEED. */
void bench_fill_sizes(uint32_t *sizes, size_t count, uint32_t min, uint32_t max, uint64_t seed);

/* malloc then free at once, PAIRS times, cycling through SIZES (COUNT, a power of 2). */
int run_small_pairs(const struct bench_allocator *a, const uint32_t *sizes, size_t count,
                    long pairs);

enum free_order { FREE_LIFO, FREE_FIFO, FREE_RANDOM };

/*
 * Allocate COUNT blocks of SIZES[i] bytes, then free them all in ORDER; FREE_RANDOM
 * frees in the order given by PERMUTATION. SLOTS holds the COUNT pointers.
 */
int run_batch(const struct bench_allocator *a, const uint32_t *sizes, const uint32_t *permutation,
              void **slots, size_t count, enum free_order order);

/* malloc(SIZE), a write to every 4 KiB of it, free: REPEAT times. */
int run_size_step(const struct bench_allocator *a, size_t size, long repeat);

/* One block grown by realloc from 16 bytes to MAX, doubling; every new page written. */
int run_realloc_doubling(const struct bench_allocator *a, size_t max);

/*
 * STRINGS strings grown side by side, round robin, by 1 to 32 bytes per realloc until
 * each is FINAL bytes long (a string builder's shape); the appended bytes are written.
 */
int run_realloc_append(const struct bench_allocator *a, int strings, size_t final, uint64_t seed);

/* The most threads (or thread pairs) a multi-threaded workload starts. */
#define BENCH_MAX_THREADS 256

/*
 * Larson's shape: PAIRS producer/consumer thread pairs. Each producer allocates
 * OBJECTS blocks of 16 to 1024 bytes and hands them to its consumer, which keeps 1024
 * of them and frees a random one for each it receives: every free is of a block
 * another thread allocated.
 */
int run_producer_consumer(const struct bench_allocator *a, int pairs, long objects);

/*
 * Hoard's cache-scratch: the main thread allocates one small block per thread, side by
 * side; each of THREADS threads frees its block, then ROUNDS times allocates a block
 * of the same size, writes it WRITES times and frees it. An allocator that hands a
 * thread back the block it freed puts threads' blocks in one cache line.
 */
int run_cache_scratch(const struct bench_allocator *a, int threads, int rounds, int writes);

/*
 * Hoard's threadtest with more threads than CPUs: THREADS threads each ROUNDS times
 * allocate BATCH blocks of 8 to 512 bytes and free them.
 */
int run_thread_batches(const struct bench_allocator *a, int threads, int rounds, int batch);

/* malloc, a write to every 4 KiB, free, for each of the COUNT SIZES in turn. */
int run_large_blocks(const struct bench_allocator *a, const size_t *sizes, size_t count);

struct fragmentation_result {
	double live_mib;      /* bytes the workload holds at its peak */
	double peak_rss_mib;  /* VmHWM over the run, less the resident set at its start */
	double final_rss_mib; /* VmRSS at the end, less the resident set at its start */
};

/*
 * Fragmentation: allocate SMALL blocks of 16 to 512 bytes, free three in four of them
 * at random, allocate blocks of 1 to 8 KiB adding up to what was freed (they fit the
 * holes only where the allocator can merge them), free those. Peak and final resident
 * memory come from /proc/self/status, the peak reset first through clear_refs.
 */
int run_fragmentation(const struct bench_allocator *a, long small,
                      struct fragmentation_result *result);

#ifdef __cplusplus
}
#endif

#endif
