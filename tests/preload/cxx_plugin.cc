// A C++ plugin that a C program loads with dlopen, privately: libstdc++ arrives after
// libkmm, so kmm's operator new must find the new handler and bad_alloc at run time.
#include <cstddef>
#include <new>

// Where the block goes, so the compiler cannot elide the new/delete pair.
char *volatile plugin_sink;

extern "C" int plugin_try(void)
{
	try {
		volatile std::size_t huge = std::size_t(1) << 52;
		char *p = new char[huge];

		plugin_sink = p;
		delete[] p;
		return 1; // a 4 PiB allocation must not succeed
	} catch (const std::bad_alloc &) {
		return 0;
	}
}
