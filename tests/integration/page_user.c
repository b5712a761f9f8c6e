/*
 * A program that knows nothing of kmm at link time: run under LD_PRELOAD=libkmm.so it
 * finds the page allocator with dlsym and uses it, as a program that wants node-local
 * pages from a preloaded kmm would.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	void *(*alloc_pages)(unsigned int) =
	        (void *(*)(unsigned int))dlsym(RTLD_DEFAULT, "kmm_alloc_pages");
	void (*free_pages)(void *, unsigned int) =
	        (void (*)(void *, unsigned int))dlsym(RTLD_DEFAULT, "kmm_free_pages");
	int (*page_to_nid)(const void *) =
	        (int (*)(const void *))dlsym(RTLD_DEFAULT, "kmm_page_to_nid");
	void *blocks[11];

	if (!alloc_pages || !free_pages || !page_to_nid) {
		printf("kmm is not preloaded\n");
		return 2;
	}
	for (unsigned int order = 0; order <= 10; order++) {
		blocks[order] = alloc_pages(order);
		if (!blocks[order] || ((uintptr_t)blocks[order] & ((4096UL << order) - 1)) ||
		    page_to_nid(blocks[order]) < 0) {
			printf("order %u: bad block %p\n", order, blocks[order]);
			return 1;
		}
		memset(blocks[order], (int)order, 4096UL << order);
	}
	for (unsigned int order = 0; order <= 10; order++)
		free_pages(blocks[order], order);
	printf("page_user: 11 orders allocated, aligned and freed through the preloaded kmm\n");
	return 0;
}
