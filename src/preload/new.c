/*
 * C++ operator new and delete, so that no new/delete pair is split between two
 * allocators. Written in C: the throwing forms call libstdc++'s new_handler and
 * std::__throw_bad_alloc through weak references, so libkmm does not pull the C++
 * runtime into C programs (where nothing calls these). Built with -fexceptions, so a
 * bad_alloc thrown from here unwinds through these frames to the caller.
 *
 * The nothrow forms of new are left to libstdc++: the standard has them call the new
 * handler and return nullptr if it throws, which takes a catch that C cannot write.
 * libstdc++ implements them by calling the throwing operator new below, so their
 * memory comes from kmm all the same.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

#include "../base/compiler.h"

void *memalign(size_t align, size_t size);

typedef void (*new_handler_t)(void);

/* std::get_new_handler() and std::__throw_bad_alloc(), from libstdc++ when present. */
extern new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

/*
 * libstdc++ may arrive after libkmm (a C program that dlopens a C++ plugin, privately):
 * the weak references are then NULL, so the failure path asks the libstdc++ already
 * loaded for the symbol, wherever it was loaded.
 */
static void *libstdcxx_symbol(const char *name)
{
	void *handle = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
	void *sym = handle ? dlsym(handle, name) : NULL;

	if (handle)
		dlclose(handle);
	return sym;
}

static new_handler_t current_new_handler(void)
{
	new_handler_t (*get)(void) = _ZSt15get_new_handlerv;

	if (!get)
		get = (new_handler_t(*)(void))libstdcxx_symbol("_ZSt15get_new_handlerv");
	return get ? get() : NULL;
}

static __noreturn void throw_bad_alloc(void)
{
	void (*throw_it)(void) = _ZSt17__throw_bad_allocv;

	if (!throw_it)
		throw_it = (void (*)(void))libstdcxx_symbol("_ZSt17__throw_bad_allocv");
	if (throw_it)
		throw_it();
	abort();
}

/* operator new's contract: retry through the new_handler, else throw bad_alloc. */
static void *cxx_new(size_t size, size_t align)
{
	for (;;) {
		void *ptr = align > 16 ? memalign(align, size) : malloc(size);
		new_handler_t handler;

		if (likely(ptr))
			return ptr;
		handler = current_new_handler();
		if (!handler)
			throw_bad_alloc();
		handler();
	}
}

#define NEW(name, ...)           \
	void *name(__VA_ARGS__); \
	KMM_EXPORT void *name(__VA_ARGS__)
#define DELETE(name, ...)                              \
	void name(void *ptr, ##__VA_ARGS__);           \
	KMM_EXPORT void name(void *ptr, ##__VA_ARGS__) \
	{                                              \
		free(ptr);                             \
	}

/* operator new(size_t), new[], and their align_val_t forms. */
NEW(_Znwm, size_t size)
{
	return cxx_new(size, 0);
}
NEW(_Znam, size_t size)
{
	return cxx_new(size, 0);
}
NEW(_ZnwmSt11align_val_t, size_t size, size_t align)
{
	return cxx_new(size, align);
}
NEW(_ZnamSt11align_val_t, size_t size, size_t align)
{
	return cxx_new(size, align);
}
/* operator delete and delete[], plain, sized, nothrow and aligned: all are free(). */
DELETE(_ZdlPv)
DELETE(_ZdaPv)
DELETE(_ZdlPvm, size_t size)
DELETE(_ZdaPvm, size_t size)
DELETE(_ZdlPvRKSt9nothrow_t, const void *nt)
DELETE(_ZdaPvRKSt9nothrow_t, const void *nt)
DELETE(_ZdlPvSt11align_val_t, size_t align)
DELETE(_ZdaPvSt11align_val_t, size_t align)
DELETE(_ZdlPvmSt11align_val_t, size_t size, size_t align)
DELETE(_ZdaPvmSt11align_val_t, size_t size, size_t align)
DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, size_t align, const void *nt)
DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, size_t align, const void *nt)
