/*
 * A C program that dlopens a C++ plugin (RTLD_LOCAL) whose operator new fails: the
 * plugin must catch std::bad_alloc, as on glibc, rather than the process aborting.
 *   usage: cxx_plugin_host path/to/libcxx_plugin.so
 */
#include "preload_test.h"

#include <dlfcn.h>

int main(int argc, char **argv)
{
	void *plugin = dlopen(argc > 1 ? argv[1] : "./libcxx_plugin.so", RTLD_NOW);
	int (*try_it)(void);

	CHECK(plugin != NULL, "dlopen: %s", dlerror());
	try_it = (int (*)(void))dlsym(plugin, "plugin_try");
	CHECK(try_it != NULL, "plugin_try: %s", dlerror());
	CHECK(try_it() == 0, "the plugin should catch bad_alloc for a 4 PiB new[]");
	printf("cxx plugin: bad_alloc caught in a plugin loaded after libkmm\n");
	return 0;
}
