/*
 * The slab layer: dedicated caches with constructors and alignment, remote frees,
 * partial lists and empty slabs going back to the buddy allocator, thread exit,
 * kmm_cache_destroy with and without live objects, every kmalloc size class, large
 * kmalloc and vmalloc (growing without a copy), realloc resizing blocks where they
 * stand, the check that a freed pointer starts an object, double frees.
 * Run with KMM_NUMA_FAKE=1 KMM_ZONE_SIZE=256M.
 */
#include "../buddy_test.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "slab/kmalloc.h"
#include "vmalloc/vmalloc.h"

#define MAGIC 0x5eedf00dU

struct obj {
	unsigned int magic;
	char payload[92];
};

static void obj_ctor(void *p)
{
	((struct obj *)p)->magic = MAGIC;
}

static struct kmem_cache *as_cache(struct kmm_cache *c)
{
	return (struct kmem_cache *)c;
}

static void test_dedicated_cache(void)
{
	struct kmm_cache *c = kmm_cache_create("test-obj", sizeof(struct obj), 64, 0, obj_ctor);
	struct kmem_cache *s = as_cache(c);
	enum { N = 1000 };
	struct obj *objs[N];

	CHECK(c != NULL, "kmm_cache_create: %s", strerror(errno));
	CHECK(strcmp(s->name, "test-obj") == 0, "expected the name test-obj, got %s", s->name);
	for (int i = 0; i < N; i++) {
		objs[i] = kmm_cache_alloc(c);
		CHECK(objs[i] != NULL, "object %d: %s", i, strerror(errno));
		CHECK(((uintptr_t)objs[i] & 63) == 0, "object %p not 64-byte aligned", objs[i]);
		CHECK(objs[i]->magic == MAGIC, "object %d not constructed: %#x", i, objs[i]->magic);
		CHECK(kmm_ksize(objs[i]) >= sizeof(struct obj), "ksize %zu < %zu",
		      kmm_ksize(objs[i]), sizeof(struct obj));
		memset(objs[i]->payload, i & 0xff, sizeof(objs[i]->payload));
	}
	for (int i = 0; i < N; i++) {
		for (size_t b = 0; b < sizeof(objs[i]->payload); b++)
			CHECK(objs[i]->payload[b] == (char)(i & 0xff), "object %d overwritten", i);
		kmm_cache_free(c, objs[i]);
	}
	/* Freed objects keep their constructed state: the free pointer lies after them. */
	for (int i = 0; i < N; i++) {
		objs[i] = kmm_cache_alloc(c);
		CHECK(objs[i]->magic == MAGIC, "reused object %d lost its constructed state", i);
	}
	for (int i = 0; i < N; i++)
		kmm_cache_free(c, objs[i]);
	CHECK_EQ(0, kmem_cache_live_objects(s));
	kmm_cache_destroy(c);
	CHECK(!s->in_use, "a destroyed cache should free its slot");
	errno = 0;
	CHECK(kmm_cache_create("bad", 64, 48, 0, NULL) == NULL && errno == EINVAL,
	      "alignment 48: expected EINVAL, got errno %d", errno);
	CHECK(kmm_cache_create("huge", 1 << 20, 8, 0, NULL) == NULL && errno == EINVAL,
	      "a 1 MiB object: expected EINVAL, got errno %d", errno);

	/* A name is one word in slabinfo's columns. */
	c = kmm_cache_create("my cache\tof\nthings", 32, 8, 0, NULL);
	CHECK(c != NULL, "kmm_cache_create failed: errno %d", errno);
	s = as_cache(c);
	CHECK(strcmp(s->name, "my_cache_of_things") == 0,
	      "expected the name my_cache_of_things, got \"%s\"", s->name);
	kmm_cache_destroy(c);
}

struct remote_args {
	struct kmm_cache *cache;
	void **objs;
	int n;
};

static void *free_them(void *arg)
{
	struct remote_args *a = arg;

	for (int i = 0; i < a->n; i++)
		kmm_cache_free(a->cache, a->objs[i]);
	return NULL;
}

/* Objects freed by another thread go back to their slabs and can be allocated again. */
static void test_remote_frees(void)
{
	enum { N = 5000 };
	static void *objs[N];
	struct kmm_cache *c = kmm_cache_create("test-remote", 48, 16, 0, NULL);
	struct remote_args args = {c, objs, N};
	pthread_t t;

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++)
			objs[i] = kmm_cache_alloc(c);
		pthread_create(&t, NULL, free_them, &args);
		pthread_join(t, NULL);
	}
	/* The freeing thread took no slab; everything came back. */
	CHECK_EQ(0, kmem_cache_live_objects(as_cache(c)));
	kmm_cache_destroy(c);
}

/*
 * fork while other threads hold active slabs with objects on their private freelists:
 * in the child those threads are gone, and their slabs must come back (lazily, as the
 * child uses the cache). Each thread keeps one object and frees the rest into its own
 * freelist; the child frees the kept objects, which it inherited, and then the cache
 * must have no object in use. With more threads than the child keeps as orphans, the
 * rest are given back at the fork itself.
 */
struct orphan_args {
	struct kmm_cache *cache;
	void **kept;
	int ready_fd, wait_fd;
};

static void *hold_slab(void *arg)
{
	struct orphan_args *a = arg;
	void *objs[20];
	char byte = 0;

	for (int i = 0; i < 20; i++)
		objs[i] = kmm_cache_alloc(a->cache);
	*a->kept = objs[0];
	for (int i = 1; i < 20; i++)
		kmm_cache_free(a->cache, objs[i]); /* onto this thread's private freelist */
	CHECK(write(a->ready_fd, &byte, 1) == 1, "write: %s", strerror(errno));
	CHECK(read(a->wait_fd, &byte, 1) == 1, "read: %s", strerror(errno));
	return NULL;
}

static void test_fork_orphans(int nr_threads)
{
	struct kmm_cache *c = kmm_cache_create("test-orphans", 96, 16, 0, NULL);
	pthread_t threads[16];
	struct orphan_args args[16];
	void *kept[16];
	int ready[2], release[2], status;
	pid_t pid;
	char byte = 0;

	CHECK(c != NULL && pipe(ready) == 0 && pipe(release) == 0, "setup: %s", strerror(errno));
	for (int i = 0; i < nr_threads; i++) {
		args[i] = (struct orphan_args){c, &kept[i], ready[1], release[0]};
		pthread_create(&threads[i], NULL, hold_slab, &args[i]);
	}
	for (int i = 0; i < nr_threads; i++)
		CHECK(read(ready[0], &byte, 1) == 1, "read: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		unsigned long live;

		for (int round = 0; round < 3; round++) /* refills: the orphans are taken back */
			for (int i = 0; i < 200; i++)
				kmm_cache_free(c, kmm_cache_alloc(c));
		for (int i = 0; i < nr_threads; i++)
			kmm_cache_free(c, kept[i]);
		live = kmem_cache_live_objects(as_cache(c));
		if (live) {
			fprintf(stderr,
			        "fork child with %d orphaned threads: expected no object "
			        "of test-orphans in use, got %lu\n",
			        nr_threads, live);
			_exit(1);
		}
		kmm_cache_destroy(c);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "fork child with %d orphaned threads failed: status %#x", nr_threads, status);
	for (int i = 0; i < nr_threads; i++)
		CHECK(write(release[1], &byte, 1) == 1, "write: %s", strerror(errno));
	for (int i = 0; i < nr_threads; i++) {
		pthread_join(threads[i], NULL);
		kmm_cache_free(c, kept[i]);
	}
	CHECK_EQ(0, kmem_cache_live_objects(as_cache(c)));
	kmm_cache_destroy(c);
	close(ready[0]);
	close(ready[1]);
	close(release[0]);
	close(release[1]);
}

/*
 * Full slabs are on no list; the first free into one puts it on the node's partial
 * list; empty slabs go back to the buddy allocator except SLAB_MIN_PARTIAL of them.
 */
static void test_partial_lists(void)
{
	struct kmm_cache *c = kmm_cache_create("test-partial", 256, 16, 0, NULL);
	struct kmem_cache *s = as_cache(c);
	struct kmem_cache_node *n = get_node(s, 0);
	unsigned long before = available_pages();
	int per_slab = (int)s->objects, slabs = 10, total = per_slab * slabs;
	void **objs = calloc((size_t)total, sizeof(void *));

	for (int i = 0; i < total; i++)
		objs[i] = kmm_cache_alloc(c);
	flush_cpu_slab(s); /* the active slab is full too: it goes on no list */
	CHECK_EQ(slabs, n->nr_slabs);
	CHECK_EQ(0, n->nr_partial);
	for (int k = 0; k < slabs; k++)
		kmm_cache_free(c, objs[k * per_slab]);
	CHECK(n->nr_partial == (unsigned long)slabs,
	      "one free into each of %d full slabs: expected %d partial slabs, got %lu", slabs,
	      slabs, n->nr_partial);
	for (int i = 0; i < total; i++)
		if (i % per_slab)
			kmm_cache_free(c, objs[i]);
	CHECK(n->nr_slabs == SLAB_MIN_PARTIAL,
	      "after freeing everything: expected %d empty slabs kept, got %lu", SLAB_MIN_PARTIAL,
	      n->nr_slabs);
	CHECK_EQ(0, kmem_cache_live_objects(s));
	kmm_cache_destroy(c);
	drain_all_pages();
	CHECK(available_pages() == before, "slab pages not returned: %lu free before, %lu after",
	      before, available_pages());
	free(objs);
}

static void *alloc_and_exit(void *arg)
{
	struct kmm_cache *c = arg;
	void *keep = kmm_cache_alloc(c);

	kmm_cache_free(c, keep);
	return NULL; /* the thread's active slab must go back at exit */
}

static void test_thread_exit(void)
{
	struct kmm_cache *c = kmm_cache_create("test-exit", 64, 16, 0, NULL);
	struct kmem_cache *s = as_cache(c);
	pthread_t t;

	pthread_create(&t, NULL, alloc_and_exit, c);
	pthread_join(t, NULL);
	CHECK(get_node(s, 0)->nr_partial == 1 && get_node(s, 0)->nr_slabs == 1,
	      "the exited thread's slab should be on the partial list: %lu partial, %lu slabs",
	      get_node(s, 0)->nr_partial, get_node(s, 0)->nr_slabs);
	kmm_cache_destroy(c);
}

static void test_kmalloc_classes(void)
{
	for (size_t size = 1; size <= KMALLOC_MAX_CACHE_SIZE; size++) {
		char *p = kmalloc(size);
		size_t usable = kmm_ksize(p);
		struct page *page;

		CHECK(p != NULL, "kmalloc(%zu): %s", size, strerror(errno));
		CHECK(usable >= size && (size <= 64 || usable - size < usable / 5 + 1),
		      "kmalloc(%zu): usable size %zu", size, usable);
		CHECK(size <= 8 || ((uintptr_t)p & 15) == 0, "kmalloc(%zu) = %p not 16-aligned",
		      size, (void *)p);
		CHECK(kmalloc_classify(p, "test", &page) == KMALLOC_SLAB, "kmalloc(%zu) not a slab",
		      size);
		CHECK(strncmp(page->slab_cache->name, "kmalloc-", 8) == 0, "cache %s",
		      page->slab_cache->name);
		p[0] = 1;
		p[size - 1] = 2;
		kmm_kfree(p);
	}
}

/*
 * free() finds a kmalloc slab by the descriptor at its 32 KiB-aligned head. Every
 * object of caches of each slab order, and every page of an order-3 large block,
 * must resolve exactly as the walk from the object's own descriptor does.
 */
static void check_slab_lookup(void *obj, struct kmem_cache *s)
{
	struct page *page = virt_to_page(obj);
	struct page *slab = virt_to_slab(obj);

	CHECK(PageSlab(page), "%p (cache %s): its page is not a slab's", obj, s->name);
	CHECK(slab == slab_head(page), "%p (cache %s): slab %p, expected %p", obj, s->name,
	      (void *)slab, (void *)slab_head(page));
	CHECK(slab->slab_cache == s, "%p: cache %s, expected %s", obj, slab->slab_cache->name,
	      s->name);
}

static void test_slab_lookup(void)
{
	static const size_t sizes[] = {100, 2000, 3000, 6000};
	enum { N = 200 };
	struct kmm_cache *caches[4];
	void *objs[4][N];
	void *small[N], *large[8];

	for (int c = 0; c < 4; c++) {
		caches[c] = kmm_cache_create("test-lookup", sizes[c], 0, 0, NULL);
		CHECK(caches[c] != NULL, "kmm_cache_create(%zu): %s", sizes[c], strerror(errno));
		CHECK_EQ(c, as_cache(caches[c])->order);
	}
	CHECK_EQ(KMALLOC_SLAB_ORDER, kmalloc_slab(64)->order);
	errno = 0;
	CHECK(kmm_cache_create("test-flags", 64, 0, 1, NULL) == NULL && errno == EINVAL,
	      "kmm_cache_create with reserved flags set: expected NULL and EINVAL, got errno %d",
	      errno);
	/* Interleaved, so slabs of every order end up at every alignment. */
	for (int i = 0; i < N; i++) {
		for (int c = 0; c < 4; c++)
			objs[c][i] = kmm_cache_alloc(caches[c]);
		small[i] = kmalloc(64);
		if (i < 8)
			large[i] = kmalloc(32 << 10);
	}
	for (int i = 0; i < N; i++) {
		for (int c = 0; c < 4; c++)
			check_slab_lookup(objs[c][i], as_cache(caches[c]));
		check_slab_lookup(small[i], kmalloc_slab(64));
	}
	for (int i = 0; i < 8; i++)
		for (size_t off = 0; off < (32 << 10); off += PAGE_SIZE)
			CHECK(virt_to_slab((char *)large[i] + off) == NULL,
			      "page %zu of large block %p taken for a slab", off / PAGE_SIZE,
			      large[i]);
	for (int i = N - 1; i >= 0; i--) {
		for (int c = 0; c < 4; c++)
			kmm_cache_free(caches[c], objs[c][i]);
		kmm_kfree(small[i]);
		if (i < 8)
			kmm_kfree(large[i]);
	}
	for (int c = 0; c < 4; c++)
		kmm_cache_destroy(caches[c]);
}

/*
 * slab_object_valid decides with one multiply and one compare what a divide would:
 * every byte offset of a slab, for every kmalloc cache and for dedicated caches of odd
 * strides, slab orders and constructors (the free pointer after the object).
 */
static void check_object_valid(struct kmem_cache *s)
{
	unsigned int bytes = PAGE_SIZE << s->order;

	CHECK_EQ(bytes - 1, s->slab_mask);
	/* The check reads only the address bits below the slab size: any base will do. */
	for (int base = 0; base < 2; base++) {
		uintptr_t slab = (uintptr_t)base * 7 * bytes;

		for (unsigned int off = 0; off < bytes; off++) {
			bool object = off % s->size == 0 && off / s->size < s->objects;

			if (slab_object_valid(s, (void *)(slab + off)) != object)
				CHECK(false, "cache %s (stride %u, %u objects): offset %u %s",
				      s->name, s->size, s->objects, off,
				      object ? "rejected, but it is an object"
				             : "taken for an object");
		}
	}
}

/* A single-threaded free decrements inuse by subtracting from the whole counters word. */
static void test_counters_layout(void)
{
	slab_counters_t c = {.inuse = 1, .objects = 0x7fff, .frozen = 1, .inuse_mark = 0xffff};

	c.counters -= SLAB_INUSE_ONE;
	CHECK(c.inuse == 0 && c.objects == 0x7fff && c.frozen == 1 && c.inuse_mark == 0xffff,
	      "inuse is not the lowest field of page->counters: after a free, inuse %u objects "
	      "%#x frozen %u inuse_mark %#x, expected 0 0x7fff 1 0xffff",
	      c.inuse, c.objects, c.frozen, c.inuse_mark);
	CHECK(slab_frees_pending(c) == 0xffff, "frees pending: expected 65535, got %u",
	      slab_frees_pending(c));
}

static void test_object_valid(void)
{
	static const size_t sizes[] = {8, 24, 40, 56, 72, 100, 1000, 2000, 3000, 4095, 6000, 32768};
	enum { NR = sizeof(sizes) / sizeof(sizes[0]) };
	struct kmm_cache *caches[NR], *with_ctor;

	for (int i = 0; i < NR_KMALLOC_CACHES; i++)
		check_object_valid(&kmem_caches[i]);
	for (int i = 0; i < NR; i++) {
		caches[i] = kmm_cache_create("test-valid", sizes[i], 0, 0, NULL);
		CHECK(caches[i] != NULL, "kmm_cache_create(%zu): %s", sizes[i], strerror(errno));
		check_object_valid(as_cache(caches[i]));
	}
	with_ctor = kmm_cache_create("test-valid-ctor", 96, 32, 0, obj_ctor);
	CHECK(with_ctor != NULL, "kmm_cache_create: %s", strerror(errno));
	check_object_valid(as_cache(with_ctor));
	kmm_cache_destroy(with_ctor);
	for (int i = 0; i < NR; i++)
		kmm_cache_destroy(caches[i]);
}

static void test_large_and_vmalloc(void)
{
	struct page *page;
	char *large = kmalloc(100000);
	size_t size = 10 << 20;
	char *huge = kmalloc(size), *grown;

	CHECK(kmalloc_classify(large, "test", &page) == KMALLOC_LARGE && PageLargeKmalloc(page),
	      "kmalloc(100000) should be a large kmalloc block");
	CHECK_EQ(128 << 10, kmm_ksize(large));
	kmm_kfree(large);
	CHECK(is_vmalloc_addr(huge), "kmalloc(10 MiB) should come from vmalloc: %p", (void *)huge);
	for (size_t i = 0; i < size; i += 4096)
		huge[i] = (char)(i >> 12);
	grown = vrealloc(huge, 100 << 20);
	CHECK(grown != NULL, "vrealloc to 100 MiB: %s", strerror(errno));
	for (size_t i = 0; i < size; i += 4096)
		CHECK(grown[i] == (char)(i >> 12), "byte %zu lost when growing the area", i);
	CHECK_EQ(100 << 20, vmalloc_size(grown));
	grown[(100 << 20) - 1] = 1;
	grown = vrealloc(grown, 6 << 20);
	CHECK(grown != NULL && grown[4096] == 1, "shrinking the area lost its contents");
	kmm_vfree(grown);
}

static void *free_large_and_exit(void *arg)
{
	void **block = arg;

	*block = kmalloc(32 << 10);
	memset(*block, 1, 32 << 10);
	kmm_kfree(*block);
	return NULL;
}

/* A thread that never allocated such a block does not keep one (no exit hook is set). */
static void *free_foreign_large(void *arg)
{
	kmm_kfree(arg);
	CHECK(page_ref_count(virt_to_page(arg)) == 0,
	      "a thread that allocated no large block should not cache one it frees");
	return NULL;
}

/*
 * Blocks above 8 KiB, up to 32, go to the freeing thread's own cache, two of each order, and
 * come back from it; the rest, and all of them at thread exit or a drain, go back to
 * the page allocator (the head's reference count drops to 0).
 */
static void test_large_cache(void)
{
	struct page *page;
	void *blocks[3], *again, *exited = NULL;
	pthread_t t;

	kmalloc_large_cache_drain();
	for (int i = 0; i < 3; i++)
		blocks[i] = kmalloc(20000); /* order 3 */
	for (int i = 0; i < 3; i++)
		kmm_kfree(blocks[i]);
	CHECK(page_ref_count(virt_to_page(blocks[0])) == 1 &&
	              page_ref_count(virt_to_page(blocks[1])) == 1,
	      "the first two blocks freed should stay in the thread's cache");
	CHECK(page_ref_count(virt_to_page(blocks[2])) == 0,
	      "a third block of the same order should go back to the page allocator");
	again = kmalloc(32 << 10);
	CHECK(again == blocks[1], "kmalloc(32 KiB): expected the last cached block %p, got %p",
	      blocks[1], again);
	CHECK(kmalloc_classify(again, "test", &page) == KMALLOC_LARGE && page->order == 3,
	      "a block from the cache should be a large kmalloc block of order 3");
	kmm_kfree(again);
	kmalloc_large_cache_drain();
	CHECK(page_ref_count(virt_to_page(blocks[0])) == 0 &&
	              page_ref_count(virt_to_page(blocks[1])) == 0,
	      "a drain should give the cached blocks back");
	pthread_create(&t, NULL, free_large_and_exit, &exited);
	pthread_join(t, NULL);
	pthread_create(&t, NULL, free_foreign_large, kmalloc(16 << 10));
	pthread_join(t, NULL);
	CHECK(page_ref_count(virt_to_page(exited)) == 0,
	      "a thread's cached block should go back when it exits");
	check_zones_consistent();
}

static void fill_pattern(unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		p[i] = (unsigned char)(i * 7 + (i >> 12));
}

static void check_pattern(const unsigned char *p, size_t to, const char *step)
{
	for (size_t i = 0; i < to; i++)
		CHECK(p[i] == (unsigned char)(i * 7 + (i >> 12)),
		      "%s: byte %zu expected %#x, got %#x", step, i,
		      (unsigned char)(i * 7 + (i >> 12)), p[i]);
}

/* krealloc to @size must keep the block where it is, its contents and the zones intact. */
static void check_resized_in_place(void *obj, size_t size, size_t usable, size_t kept,
                                   const char *step)
{
	void *got = krealloc_caller(obj, size, "test");

	CHECK(got == obj, "%s: expected the block to stay at %p, got %p", step, obj, got);
	CHECK(kmm_ksize(obj) == usable, "%s: expected usable size %zu, got %zu", step, usable,
	      kmm_ksize(obj));
	check_pattern(obj, kept, step);
	fill_pattern(obj, 0, usable);
	check_zones_consistent();
}

/*
 * A block realloc moves past 128 KiB goes to the start of a resident free max-order
 * block, then grows over its buddies and the max-order blocks after it without moving,
 * and shrinks where it stands; slab to large keeps the contents. Runs first, while the
 * zone's max-order blocks after the one freed here are free or not yet initialized.
 */
static void test_krealloc_in_place(void)
{
	unsigned char *p = kmalloc(8000), *q; /* its slab first: it must not split the block */
	struct page *block = __alloc_pages(MAX_PAGE_ORDER, 0), *page;

	CHECK(block != NULL, "no max-order block");
	page = block + 2 * MAX_ORDER_NR_PAGES;
	CHECK(!pfn_valid(page_to_pfn(page)) ||
	              (PageBuddy(page) && page->order == MAX_PAGE_ORDER && PageReported(page)),
	      "the test needs the zone's next max-order blocks unused: pfn %lu is in use",
	      page_to_pfn(page));
	__free_pages(block, MAX_PAGE_ORDER); /* resident: the head of the max-order list */
	fill_pattern(p, 0, 8000);
	q = krealloc_caller(p, 300 << 10, "test");
	CHECK(q == page_address(block),
	      "realloc to 300 KiB: expected the start of the free max-order block %p, got %p",
	      page_address(block), (void *)q);
	check_pattern(q, 8000, "slab to large");
	fill_pattern(q, 0, 512 << 10);
	check_resized_in_place(q, 1 << 20, 1 << 20, 512 << 10, "grow to 1 MiB");
	check_resized_in_place(q, 3 << 20, 4 << 20, 1 << 20, "grow to 3 MiB");
	check_resized_in_place(q, 10 << 20, 12 << 20, 4 << 20,
	                       "grow to 10 MiB, past the max order");
	CHECK(kmalloc_classify(q, "test", &page) == KMALLOC_LARGE && page->contig_blocks == 3,
	      "a 12 MiB block should span 3 max-order blocks, spans %lu", page->contig_blocks);
	check_resized_in_place(q, 5 << 20, 8 << 20, 5 << 20, "shrink to 5 MiB");
	page = virt_to_page(q + (8 << 20));
	CHECK(PageBuddy(page) && page->order == MAX_PAGE_ORDER,
	      "the max-order block a shrink gave back should be free: flags %lx, order %u",
	      page->flags, page->order);
	check_resized_in_place(q, 300 << 10, 512 << 10, 300 << 10, "shrink to 300 KiB");
	q = krealloc_caller(q, 5000, "test");
	CHECK(kmalloc_classify(q, "test", &page) == KMALLOC_SLAB,
	      "realloc to 5000 B should be a slab object");
	check_pattern(q, 5000, "large to slab");
	kmm_kfree(q);
	check_zones_consistent();
}

/* A vmalloc area shrinks where it stands, below the largest order too. */
static void test_vrealloc_shrink_in_place(void)
{
	unsigned char *p = kmalloc(6 << 20), *q;

	CHECK(is_vmalloc_addr(p), "kmalloc(6 MiB) should come from vmalloc: %p", (void *)p);
	fill_pattern(p, 0, 6 << 20);
	q = krealloc_caller(p, 1 << 20, "test");
	CHECK(q == p, "shrinking a vmalloc area to 1 MiB: expected it to stay at %p, got %p",
	      (void *)p, (void *)q);
	CHECK_EQ(1 << 20, vmalloc_size(q));
	check_pattern(q, 1 << 20, "vmalloc shrink");
	kmm_kfree(q);
}

static bool mapped(const void *addr, size_t len)
{
	unsigned char vec[512]; /* 2 MiB of pages */

	return len <= sizeof(vec) << 12 && mincore((void *)addr, len, vec) == 0;
}

static void check_mapped_to(const unsigned char *area, size_t size, const char *step)
{
	CHECK(mapped(area, size) && !mapped(area + size, 4096),
	      "%s: expected the area at %p to map its %zu bytes and not the page after them", step,
	      (const void *)area, size);
}

/*
 * A vmalloc area maps its size and no more, as it grows and shrinks in place, and never
 * touches a mapping that landed in the unmapped rest of its last chunk.
 */
static void test_vmalloc_maps_its_size(void)
{
	size_t size = (600 << 10) + 1, pages = 151 << 12;
	unsigned char *a, *b, *foreign;
	long vm;

	vmalloc_purge_all();
	vm = proc_status_kb("VmSize:");
	a = kmm_vmalloc(size);
	CHECK(a != NULL, "kmm_vmalloc(600 KiB + 1): %s", strerror(errno));
	CHECK(proc_status_kb("VmSize:") - vm == (long)(pages >> 10),
	      "a vmalloc area of 600 KiB + 1: expected VmSize to grow by %zu kB, got %ld kB",
	      pages >> 10, proc_status_kb("VmSize:") - vm);
	check_mapped_to(a, pages, "vmalloc");
	fill_pattern(a, 0, size);
	b = vrealloc(a, 1536 << 10);
	CHECK(b == a, "growing to 1.5 MiB within the chunk: expected %p, got %p", (void *)a,
	      (void *)b);
	check_mapped_to(a, 1536 << 10, "grown in place");
	check_pattern(a, size, "grown in place");
	b = vrealloc(a, 300 << 10);
	CHECK(b == a, "shrinking to 300 KiB: expected %p, got %p", (void *)a, (void *)b);
	check_mapped_to(a, 300 << 10, "shrunk");
	check_pattern(a, 300 << 10, "shrunk");

	foreign = mmap(a + (1 << 20), 4096, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(foreign == a + (1 << 20), "mmap in the area's unmapped tail: %s", strerror(errno));
	*foreign = 42;
	b = vrealloc(a, 1536 << 10);
	CHECK(b != NULL && b != a,
	      "growing over another mapping: expected the area to move from %p, got %p", (void *)a,
	      (void *)b);
	check_pattern(b, 300 << 10, "moved past another mapping");
	kmm_vfree(b);
	vmalloc_purge_all();
	CHECK(mapped(foreign, 4096) && *foreign == 42,
	      "the mapping in the area's tail was changed by the move or the purge");
	munmap(foreign, 4096);

	/* A lazily freed area that serves a smaller block keeps only the block mapped. */
	a = kmm_vmalloc(1 << 20);
	kmm_vfree(a);
	b = kmm_vmalloc(200 << 10);
	CHECK(b == a, "expected the lazily freed area %p back, got %p", (void *)a, (void *)b);
	check_mapped_to(b, 200 << 10, "reused for a smaller block");
	kmm_vfree(b);
	vmalloc_purge_all();
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * vfree is lazy: the area stays resident and the next vmalloc of its size reuses it
 * without a page fault (zeroed again by kmm_vmalloc); a purge gives it back.
 */
static void test_lazy_vfree(void)
{
	size_t size = 32 << 20;
	long faults, rss_touched, rss_before = proc_status_kb("RssAnon:");
	char *a = kmm_vmalloc(size), *b;

	memset(a, 1, size);
	rss_touched = proc_status_kb("RssAnon:");
	/* The frames an area takes are accounting only: no second copy stays resident. */
	CHECK(rss_touched - rss_before < 40 * 1024,
	      "a 32 MiB area costs %ld kB of RssAnon: its frames stayed resident",
	      rss_touched - rss_before);
	kmm_vfree(a);
	faults = minor_faults();
	b = kmm_vmalloc(size);
	CHECK(b == a, "expected the lazily freed area %p back, got %p", (void *)a, (void *)b);
	CHECK(b[0] == 0 && b[size - 1] == 0, "kmm_vmalloc must zero a reused area");
	memset(b, 2, size);
	CHECK(minor_faults() - faults < 64, "reusing a resident area took %ld page faults",
	      minor_faults() - faults);
	kmm_vfree(b);
	vmalloc_purge_all();
	CHECK(proc_status_kb("RssAnon:") < rss_touched - 24 * 1024,
	      "purged area still resident: RssAnon %ld kB, was %ld kB with it",
	      proc_status_kb("RssAnon:"), rss_touched);
}

static int misuse(const char *what)
{
	CHECK(kmm_ensure_init(), "kmm did not initialize");
	if (strcmp(what, "destroy") == 0) {
		struct kmm_cache *c = kmm_cache_create("test-busy", 32, 8, 0, NULL);

		kmm_cache_alloc(c);
		kmm_cache_alloc(c);
		kmm_cache_destroy(c);
	} else if (strcmp(what, "double") == 0) {
		void *p = kmalloc(64);

		kmm_kfree(p);
		kmm_kfree(p);
	} else if (strcmp(what, "large-double") == 0) {
		void *p = kmalloc(20000); /* cached by the first free */

		kmm_kfree(p);
		kmm_kfree(p);
	} else if (strcmp(what, "interior") == 0) {
		char *p = kmalloc(64);

		kmm_kfree(p + 16);
	}
	return 0;
}

static void expect_abort(const char *what, const char *message)
{
	char out[4096];
	char *args[] = {"--misuse", (char *)what, NULL};
	int status = run_self(args, NULL, out, sizeof(out));

	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	      "%s: expected an abort, got status %#x and output:\n%s", what, status, out);
	CHECK_STR_CONTAINS(out, message);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--misuse") == 0)
		return misuse(argv[2]);
	CHECK(kmm_ensure_init(), "kmm did not initialize");
	test_krealloc_in_place();
	test_dedicated_cache();
	test_remote_frees();
	test_partial_lists();
	test_thread_exit();
	test_kmalloc_classes();
	test_slab_lookup();
	test_object_valid();
	test_counters_layout();
	test_large_and_vmalloc();
	test_large_cache();
	test_vrealloc_shrink_in_place();
	test_lazy_vfree();
	test_vmalloc_maps_its_size();
	test_fork_orphans(2);
	test_fork_orphans(12);
	expect_abort("destroy",
	             "kmm: kmm_cache_destroy(): cache test-busy still has 2 objects in use");
	expect_abort("double", "kmm: kmm_kfree(): double free of 0x");
	expect_abort("interior", "kmm: kmm_kfree(): invalid pointer 0x");
	expect_abort("large-double", "kmm: kmm_kfree(): invalid pointer 0x");
	printf("slab: passed\n");
	return 0;
}
