/*
 * The exported slab and vmalloc API (include/kmm/kmm.h): dedicated caches, kmalloc and
 * vmalloc for programs that link kmm. Argument checks and misuse reports live here.
 */
#include <errno.h>
#include <string.h>

#include <kmm/kmm.h>

#include "../base/printk.h"
#include "../init.h"
#include "../vmalloc/vmalloc.h"
#include "kmalloc.h"

static struct kmem_cache *to_cache(struct kmm_cache *cache)
{
	return (struct kmem_cache *)cache;
}

KMM_EXPORT struct kmm_cache *kmm_cache_create(const char *name, size_t size, size_t align,
                                              unsigned long flags, void (*ctor)(void *))
{
	struct kmem_cache *s;

	if (flags != 0) { /* reserved */
		errno = EINVAL;
		return NULL;
	}
	if (!kmm_ensure_init()) {
		errno = ENOMEM;
		return NULL;
	}
	s = kmem_cache_slot();
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	if (kmem_cache_setup(s, name ? name : "unnamed", size, align, flags, ctor) != 0) {
		kmem_cache_unreserve(s);
		return NULL;
	}
	return (struct kmm_cache *)s;
}

KMM_EXPORT void *kmm_cache_alloc(struct kmm_cache *cache)
{
	void *obj = slab_alloc(to_cache(cache));

	if (unlikely(!obj))
		errno = ENOMEM;
	return obj;
}

KMM_EXPORT void kmm_cache_free(struct kmm_cache *cache, void *obj)
{
	struct kmem_cache *s = to_cache(cache);
	struct page *slab;

	if (!obj)
		return;
	if (kmalloc_classify(obj, "kmm_cache_free", &slab) != KMALLOC_SLAB || slab->slab_cache != s)
		kmm_bug("kmm_cache_free(): pointer %p is not an object of cache %s", obj, s->name);
	slab_free(s, slab, obj, "kmm_cache_free");
}

KMM_EXPORT void kmm_cache_destroy(struct kmm_cache *cache)
{
	struct kmem_cache *s = to_cache(cache);
	unsigned long live;

	if (!s)
		return;
	live = kmem_cache_live_objects(s);
	if (live)
		kmm_bug("kmm_cache_destroy(): cache %s still has %lu objects in use", s->name,
		        live);
	kmem_cache_release(s);
}

KMM_EXPORT void *kmm_kmalloc(size_t size)
{
	return kmalloc(size);
}

KMM_EXPORT void kmm_kfree(const void *obj)
{
	if (obj)
		kfree_caller(obj, "kmm_kfree");
}

KMM_EXPORT size_t kmm_ksize(const void *obj)
{
	return obj ? ksize_caller(obj, "kmm_ksize") : 0;
}

KMM_EXPORT void *kmm_vmalloc(size_t size)
{
	void *addr;

	if (size == 0)
		return NULL;
	addr = vmalloc_aligned(size, PAGE_SIZE);
	if (addr && !vmalloc_area_zeroed(addr))
		memset(addr, 0, size);
	return addr;
}

KMM_EXPORT void kmm_vfree(const void *addr)
{
	if (addr)
		vfree_caller(addr, "kmm_vfree");
}
