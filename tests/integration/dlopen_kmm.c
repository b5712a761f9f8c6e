/*
 * libkmm.so can be loaded with dlopen, as the benchmark suite loads every allocator,
 * given the static TLS it asks for: ctest runs this with
 * GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384, the setting the README gives
 * (libkmm's 6 KiB of initial-exec TLS are more than the under 2 KiB glibc keeps for
 * libraries loaded late by default). Argument: the path of libkmm.so.
 */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	void *lib = argc == 2 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
	void *(*kmalloc)(unsigned long);
	void (*kfree)(const void *);
	void *obj;

	if (!lib) {
		fprintf(stderr, "expected dlopen(libkmm.so) to succeed, got: %s\n",
		        argc == 2 ? dlerror() : "no path given");
		return 1;
	}
	*(void **)&kmalloc = dlsym(lib, "kmm_kmalloc");
	*(void **)&kfree = dlsym(lib, "kmm_kfree");
	obj = kmalloc ? kmalloc(100) : NULL;
	if (!obj || !kfree) {
		fprintf(stderr, "expected kmm_kmalloc(100) through dlsym to succeed, got %p\n",
		        obj);
		return 1;
	}
	kfree(obj);
	printf("dlopen: libkmm.so loads and allocates\n");
	return 0;
}
