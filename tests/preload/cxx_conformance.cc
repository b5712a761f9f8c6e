/*
 * C++ allocation through the replaceable operator new and delete in every form (plain,
 * array, nothrow, aligned, sized), failure (std::bad_alloc, nullptr, the new handler),
 * over-aligned types, the standard containers with many sizes, and a pool of threads
 * deleting objects that other threads created.
 *
 * The program does not link kmm: ctest runs it with LD_PRELOAD=libkmm.so, which must then
 * provide every form of operator new and delete; without the preload it runs against
 * libstdc++'s.
 */
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

/* The CHECK macros of tests/test.h (a C header), for C++ and for threads. */
#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                            \
			fputc('\n', stderr);                                                     \
			fflush(stderr);                                                          \
			std::_Exit(1);                                                           \
		}                                                                                \
	} while (0)

#define CHECK_EQ(expected, got)                                                                \
	do {                                                                                   \
		long long e_ = (long long)(expected), g_ = (long long)(got);                   \
		CHECK(e_ == g_, "expected %s = %lld, got %s = %lld", #expected, e_, #got, g_); \
	} while (0)

namespace
{

constexpr size_t KiB = size_t(1) << 10;
constexpr size_t MiB = size_t(1) << 20;

/* The value passes through an empty asm: sizes stay unknown, allocations are used. */
inline size_t opaque(size_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

template <typename T> inline T *escape(T *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

bool aligned(const void *p, size_t align)
{
	return (reinterpret_cast<uintptr_t>(p) & (align - 1)) == 0;
}

unsigned char pattern(uint64_t seed, size_t i)
{
	return static_cast<unsigned char>((i * 0x9d) ^ (i >> 8) ^ (i >> 16) ^ seed);
}

void fill(void *p, size_t n, uint64_t seed)
{
	auto *b = static_cast<unsigned char *>(p);

	for (size_t i = 0; i < n; i++)
		b[i] = pattern(seed, i);
}

void check_fill(const void *p, size_t n, uint64_t seed, const char *what)
{
	auto *b = static_cast<const unsigned char *>(p);

	for (size_t i = 0; i < n; i++)
		CHECK(b[i] == pattern(seed, i),
		      "%s: block %p of %zu bytes: byte %zu expected %#x, got %#x", what, p, n, i,
		      pattern(seed, i), b[i]);
}

struct operator_symbol {
	const char *name, *signature;
};

const operator_symbol operator_symbols[] = {
        {"_Znwm", "operator new(size_t)"},
        {"_Znam", "operator new[](size_t)"},
        {"_ZnwmRKSt9nothrow_t", "operator new(size_t, nothrow_t const&)"},
        {"_ZnamRKSt9nothrow_t", "operator new[](size_t, nothrow_t const&)"},
        {"_ZnwmSt11align_val_t", "operator new(size_t, align_val_t)"},
        {"_ZnamSt11align_val_t", "operator new[](size_t, align_val_t)"},
        {"_ZnwmSt11align_val_tRKSt9nothrow_t",
         "operator new(size_t, align_val_t, nothrow_t const&)"},
        {"_ZnamSt11align_val_tRKSt9nothrow_t",
         "operator new[](size_t, align_val_t, nothrow_t const&)"},
        {"_ZdlPv", "operator delete(void*)"},
        {"_ZdaPv", "operator delete[](void*)"},
        {"_ZdlPvm", "operator delete(void*, size_t)"},
        {"_ZdaPvm", "operator delete[](void*, size_t)"},
        {"_ZdlPvRKSt9nothrow_t", "operator delete(void*, nothrow_t const&)"},
        {"_ZdaPvRKSt9nothrow_t", "operator delete[](void*, nothrow_t const&)"},
        {"_ZdlPvSt11align_val_t", "operator delete(void*, align_val_t)"},
        {"_ZdaPvSt11align_val_t", "operator delete[](void*, align_val_t)"},
        {"_ZdlPvmSt11align_val_t", "operator delete(void*, size_t, align_val_t)"},
        {"_ZdaPvmSt11align_val_t", "operator delete[](void*, size_t, align_val_t)"},
        {"_ZdlPvSt11align_val_tRKSt9nothrow_t",
         "operator delete(void*, align_val_t, nothrow_t const&)"},
        {"_ZdaPvSt11align_val_tRKSt9nothrow_t",
         "operator delete[](void*, align_val_t, nothrow_t const&)"},
};

/*
 * Every form is defined; under kmm, every one is kmm's except the nothrow forms of new,
 * which kmm leaves to libstdc++: the standard has them call the new handler and catch
 * what it throws, and libstdc++ does so around the throwing operator new, which is
 * kmm's. Their memory must therefore be kmm's too (checked by kmm_ksize).
 */
void test_symbols(bool kmm)
{
	Dl_info home, info;

	if (kmm)
		CHECK(dladdr(dlsym(RTLD_DEFAULT, "kmm_kmalloc"), &home), "kmm_kmalloc: no object");
	for (const auto &s : operator_symbols) {
		void *sym = dlsym(RTLD_DEFAULT, s.name);
		bool nothrow_new = strncmp(s.name, "_Zn", 3) == 0 && strstr(s.name, "nothrow");

		CHECK(sym != nullptr, "%s (%s) is not defined", s.signature, s.name);
		if (!kmm || nothrow_new)
			continue;
		CHECK(dladdr(sym, &info), "%s: dladdr failed", s.name);
		CHECK(strcmp(info.dli_fname, home.dli_fname) == 0,
		      "%s: expected it to come from %s (kmm), got %s", s.signature, home.dli_fname,
		      info.dli_fname);
	}
	if (kmm) {
		auto ksize = (size_t(*)(const void *))dlsym(RTLD_DEFAULT, "kmm_ksize");
		void *p = ::operator new(100, std::nothrow);
		void *a = ::operator new[](5000, std::align_val_t(256), std::nothrow);

		CHECK(ksize(p) >= 100 && ksize(a) >= 5000,
		      "nothrow new should return kmm's memory");
		::operator delete(p);
		::operator delete[](a, std::align_val_t(256));
	}
	printf("ok: all %zu forms of operator new and delete are defined%s\n",
	       sizeof(operator_symbols) / sizeof(operator_symbols[0]),
	       kmm ? ", by kmm (nothrow new through kmm's operator new)" : "");
}

std::atomic<long> live_tracked{0};

struct Tracked {
	uint64_t value;
	Tracked() : value(0x7472616365640000ull)
	{
		live_tracked++;
	}
	~Tracked()
	{
		CHECK(value == 0x7472616365640000ull, "Tracked destroyed twice or overwritten");
		value = 0;
		live_tracked--;
	}
};

void test_plain(void)
{
	/* Every size 0..1024 and larger ones, through each form, 16-byte aligned. */
	for (size_t n = 0; n <= 64 * MiB; n = n < 1024 ? n + 1 : n * 2 + 1) {
		void *p = escape(::operator new(opaque(n)));
		void *a = escape(::operator new[](opaque(n)));
		void *t = escape(::operator new(opaque(n), std::nothrow));
		void *ta = escape(::operator new[](opaque(n), std::nothrow));
		char *c = escape(new char[opaque(n)]);

		CHECK(p && a && t && ta && c, "operator new of %zu bytes returned nullptr", n);
		CHECK(aligned(p, 16) && aligned(a, 16) && aligned(t, 16) && aligned(ta, 16) &&
		              aligned(c, 16),
		      "operator new of %zu bytes: %p %p %p %p %p not all 16-byte aligned", n, p, a,
		      t, ta, static_cast<void *>(c));
		fill(p, n, 1);
		fill(a, n, 2);
		fill(t, n, 3);
		fill(ta, n, 4);
		fill(c, n, 5);
		check_fill(p, n, 1, "operator new");
		check_fill(a, n, 2, "operator new[]");
		check_fill(t, n, 3, "operator new(nothrow)");
		check_fill(ta, n, 4, "operator new[](nothrow)");
		check_fill(c, n, 5, "new char[]");
		if (n % 2) {
			::operator delete(p);
			::operator delete[](a);
		} else {
			::operator delete(p, n);
			::operator delete[](a, n);
		}
		::operator delete(t, std::nothrow);
		::operator delete[](ta, std::nothrow);
		delete[] c;
	}
	::operator delete(nullptr);
	::operator delete[](nullptr);
	::operator delete(nullptr, size_t(0));

	/* Arrays of a type with a destructor: the size carries a cookie. */
	for (size_t n = 0; n < 2000; n = n * 2 + 1) {
		Tracked *arr = escape(new Tracked[opaque(n)]);

		CHECK_EQ((long)n, live_tracked.load());
		delete[] arr;
		CHECK_EQ(0, live_tracked.load());
	}
	/* nothrow new-expressions. */
	{
		int *ints = escape(new (std::nothrow) int[1000]());
		Tracked *one = escape(new (std::nothrow) Tracked);

		CHECK(ints && one, "nothrow new-expression returned nullptr");
		for (int i = 0; i < 1000; i++)
			CHECK(ints[i] == 0, "new int[1000]() not zeroed at %d", i);
		delete[] ints;
		delete one;
	}
	printf("ok: operator new/new[]/nothrow, sizes 0..1024 and up to 64 MiB, plain and sized "
	       "delete\n");
}

int handler_calls;

void counting_handler()
{
	handler_calls++;
	std::set_new_handler(nullptr);
}

template <typename F> bool throws_bad_alloc(F f)
{
	try {
		f();
	} catch (const std::bad_alloc &) {
		return true;
	}
	return false;
}

void test_failure(bool kmm)
{
	const size_t huge[] = {SIZE_MAX, SIZE_MAX - 4095, size_t(PTRDIFF_MAX) + 1, size_t(1) << 62};

	for (size_t n : huge) {
		n = opaque(n);
		CHECK(throws_bad_alloc([n] { escape(::operator new(n)); }),
		      "operator new(%#zx) did not throw std::bad_alloc", n);
		CHECK(throws_bad_alloc([n] { escape(::operator new[](n)); }),
		      "operator new[](%#zx) did not throw std::bad_alloc", n);
		CHECK(::operator new(n, std::nothrow) == nullptr,
		      "operator new(%#zx, nothrow) did not return nullptr", n);
		CHECK(::operator new[](n, std::nothrow) == nullptr,
		      "operator new[](%#zx, nothrow) did not return nullptr", n);
		/*
		 * libstdc++ 12 rounds the size up to the alignment without checking for
		 * wrap-around, so its aligned forms "succeed" for SIZE_MAX: checked under
		 * kmm only.
		 */
		if (n > SIZE_MAX - 4 * MiB && !kmm)
			continue;
		CHECK(throws_bad_alloc([n] { escape(::operator new(n, std::align_val_t(64))); }),
		      "operator new(%#zx, align 64) did not throw std::bad_alloc", n);
		CHECK(throws_bad_alloc(
		              [n] { escape(::operator new[](n, std::align_val_t(4096))); }),
		      "operator new[](%#zx, align 4096) did not throw std::bad_alloc", n);
		CHECK(::operator new(n, std::align_val_t(128), std::nothrow) == nullptr,
		      "operator new(%#zx, align 128, nothrow) did not return nullptr", n);
		CHECK(::operator new[](n, std::align_val_t(2 * MiB), std::nothrow) == nullptr,
		      "operator new[](%#zx, align 2 MiB, nothrow) did not return nullptr", n);
	}

	/* On failure operator new calls the new handler, and throws once there is none. */
	struct form {
		const char *name;
		std::function<void *()> call;
	};
	const size_t too_big = size_t(PTRDIFF_MAX) + 1;
	const form forms[] = {
	        {"operator new", [=] { return ::operator new(opaque(too_big)); }},
	        {"operator new[]", [=] { return ::operator new[](opaque(too_big)); }},
	        {"operator new aligned",
	         [=] { return ::operator new(opaque(too_big), std::align_val_t(256)); }},
	        {"operator new[] aligned",
	         [=] { return ::operator new[](opaque(too_big), std::align_val_t(256)); }},
	};
	for (const auto &f : forms) {
		handler_calls = 0;
		std::set_new_handler(counting_handler);
		CHECK(throws_bad_alloc([&f] { escape(f.call()); }),
		      "%s(PTRDIFF_MAX + 1) did not throw", f.name);
		CHECK(handler_calls == 1,
		      "%s(PTRDIFF_MAX + 1): expected the new handler to be called once, got %d "
		      "calls",
		      f.name, handler_calls);
	}
	std::set_new_handler(nullptr);
	printf("ok: failure: std::bad_alloc, nullptr from nothrow forms, the new handler\n");
}

/*
 * The nothrow forms behave as if they called the throwing form ([new.delete.single],
 * [new.delete.array]: "Calls operator new(size)..."): the new handler runs before they
 * give up and return nullptr, as libstdc++ does. Last, so that everything else has been
 * checked when this fails.
 */
void test_nothrow_new_handler(void)
{
	const size_t too_big = size_t(PTRDIFF_MAX) + 1;

	handler_calls = 0;
	std::set_new_handler(counting_handler);
	CHECK(::operator new(opaque(too_big), std::nothrow) == nullptr,
	      "operator new(PTRDIFF_MAX + 1, nothrow) did not return nullptr");
	CHECK(handler_calls == 1,
	      "operator new(PTRDIFF_MAX + 1, nothrow): expected the new handler to be called once "
	      "before nullptr is returned (as the standard and libstdc++ do), got %d calls",
	      handler_calls);
	handler_calls = 0;
	std::set_new_handler(counting_handler);
	CHECK(::operator new[](opaque(too_big), std::nothrow) == nullptr,
	      "operator new[](PTRDIFF_MAX + 1, nothrow) did not return nullptr");
	CHECK(handler_calls == 1,
	      "operator new[](PTRDIFF_MAX + 1, nothrow): expected the new handler to be called "
	      "once "
	      "before nullptr is returned (as the standard and libstdc++ do), got %d calls",
	      handler_calls);
	std::set_new_handler(nullptr);
	printf("ok: the nothrow forms call the new handler before returning nullptr\n");
}

struct alignas(64) A64 {
	unsigned char c[100];
};
struct alignas(4096) A4K {
	unsigned char c[10];
};

void test_aligned(void)
{
	/* Over-aligned types through new-expressions and the standard library. */
	{
		std::vector<A64 *> singles;

		for (int i = 0; i < 500; i++) {
			A64 *a = escape(new A64);

			CHECK(aligned(a, 64), "new A64 (alignas(64)) returned %p",
			      static_cast<void *>(a));
			fill(a->c, sizeof(a->c), i);
			singles.push_back(a);
		}
		for (int i = 0; i < 500; i++) {
			check_fill(singles[i]->c, sizeof(singles[i]->c), i, "new A64");
			delete singles[i];
		}
		for (size_t n = 1; n <= 100; n++) {
			A64 *arr = escape(new A64[opaque(n)]);
			A64 *nt = escape(new (std::nothrow) A64[opaque(n)]);

			CHECK(nt != nullptr, "new (nothrow) A64[%zu] returned nullptr", n);
			for (size_t i = 0; i < n; i++)
				CHECK(aligned(&arr[i], 64) && aligned(&nt[i], 64),
				      "new A64[%zu]: element %zu misaligned", n, i);
			memset(arr, 0x11, n * sizeof(A64));
			memset(nt, 0x22, n * sizeof(A64));
			delete[] arr;
			delete[] nt;
		}
		for (size_t n = 1; n <= 24; n++) {
			A4K *one = escape(new A4K);
			A4K *arr = escape(new A4K[opaque(n)]);

			CHECK(aligned(one, 4096), "new A4K (alignas(4096)) returned %p",
			      static_cast<void *>(one));
			for (size_t i = 0; i < n; i++)
				CHECK(aligned(&arr[i], 4096),
				      "new A4K[%zu]: element %zu misaligned", n, i);
			memset(arr, 0x33, n * sizeof(A4K));
			delete one;
			delete[] arr;
		}
		std::vector<A64> v;
		for (int i = 0; i < 5000; i++) {
			v.emplace_back();
			CHECK(aligned(v.data(), 64), "std::vector<A64> storage at %p",
			      static_cast<void *>(v.data()));
		}
		std::vector<A4K> v4(300);
		CHECK(aligned(v4.data(), 4096), "std::vector<A4K> storage misaligned");
		auto shared = std::make_shared<A4K>();
		CHECK(aligned(shared.get(), 4096), "std::make_shared<A4K>() misaligned");
		auto unique = std::make_unique<A64[]>(77);
		CHECK(aligned(unique.get(), 64), "std::make_unique<A64[]> misaligned");
	}

	/* Explicit aligned forms, every alignment from 8 B to 4 MiB, with matching deletes. */
	for (size_t a = 8; a <= 4 * MiB; a *= 2) {
		const size_t sizes[] = {1, a - 1, a, a + 1, 3 * a, 100};
		std::align_val_t al{a};

		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			size_t n = opaque(sizes[k]);
			void *p = escape(::operator new(n, al));
			void *q = escape(::operator new[](n, al));
			void *r = escape(::operator new(n, al, std::nothrow));
			void *s = escape(::operator new[](n, al, std::nothrow));

			CHECK(p && q && r && s, "aligned operator new(%zu, %zu) returned nullptr",
			      n, a);
			CHECK(aligned(p, a) && aligned(q, a) && aligned(r, a) && aligned(s, a),
			      "aligned operator new(%zu, %zu): %p %p %p %p", n, a, p, q, r, s);
			fill(p, n, a + 1);
			fill(q, n, a + 2);
			fill(r, n, a + 3);
			fill(s, n, a + 4);
			check_fill(p, n, a + 1, "aligned new");
			check_fill(q, n, a + 2, "aligned new[]");
			check_fill(r, n, a + 3, "aligned new(nothrow)");
			check_fill(s, n, a + 4, "aligned new[](nothrow)");
			switch (k % 3) {
			case 0:
				::operator delete(p, al);
				::operator delete[](q, al);
				break;
			case 1:
				::operator delete(p, n, al);
				::operator delete[](q, n, al);
				break;
			default:
				::operator delete(p, al, std::nothrow);
				::operator delete[](q, al, std::nothrow);
			}
			::operator delete(r, al, std::nothrow);
			::operator delete[](s, n, al);
		}
	}
	printf("ok: alignas(64) and alignas(4096) types, aligned new/delete from 8 B to 4 MiB\n");
}

void test_containers(void)
{
	/* vector growth: every reallocation copies into a new block. */
	std::vector<uint64_t> v;
	for (uint64_t i = 0; i < (1u << 20); i++)
		v.push_back(i * i);
	uint64_t sum = 0;
	for (uint64_t x : v)
		sum += x;
	CHECK(sum == 384306618446643200ull, "vector<uint64_t> of squares: sum %llu",
	      (unsigned long long)sum);

	/* Vectors and strings of every length up to a few thousand, all live at once. */
	std::vector<std::vector<uint32_t>> vv;
	std::vector<std::string> strs;
	for (uint32_t n = 0; n < 3000; n++) {
		vv.emplace_back(n, n);
		std::string s;
		for (uint32_t i = 0; i < n; i++)
			s += static_cast<char>('a' + (n + i) % 26);
		strs.push_back(std::move(s));
	}
	for (uint32_t n = 0; n < 3000; n++) {
		CHECK(vv[n].size() == n && std::all_of(vv[n].begin(), vv[n].end(),
		                                       [n](uint32_t x) { return x == n; }),
		      "vector of %u elements corrupted", n);
		CHECK(strs[n].size() == n, "string of %u chars has %zu", n, strs[n].size());
		for (uint32_t i = 0; i < n; i++)
			CHECK(strs[n][i] == static_cast<char>('a' + (n + i) % 26),
			      "string %u corrupted at %u", n, i);
	}
	vv.clear();
	vv.shrink_to_fit();

	/* Node containers. */
	std::map<int, std::string> m;
	for (int i = 0; i < 200000; i++)
		m.emplace(i * 7 % 200003, std::to_string(i));
	for (int i = 0; i < 200000; i += 2)
		m.erase(i * 7 % 200003);
	CHECK(m.size() == 100000, "map size %zu", m.size());
	for (const auto &kv : m)
		CHECK(std::stoi(kv.second) % 2 == 1, "map holds %s at %d", kv.second.c_str(),
		      kv.first);

	std::unordered_map<std::string, std::vector<int>> um;
	for (int i = 0; i < 100000; i++)
		um["key-" + std::to_string(i)].assign(static_cast<size_t>(i % 17), i);
	long total = 0;
	for (const auto &kv : um)
		total += static_cast<long>(kv.second.size());
	CHECK(total == 799967, "unordered_map: %ld elements in the vectors", total);
	um.clear();

	std::set<std::string> set;
	for (int i = 0; i < 50000; i++)
		set.insert(std::string(static_cast<size_t>(i % 300), 'x') + std::to_string(i));
	CHECK(set.size() == 50000, "set size %zu", set.size());

	std::list<std::string> l;
	for (int i = 0; i < 100000; i++)
		l.push_back(std::to_string(i * 3));
	l.remove_if([](const std::string &s) { return s.back() == '0'; });
	CHECK(l.size() == 90000, "list size %zu", l.size());

	std::deque<int> d;
	long dsum = 0;
	for (int i = 0; i < 1000000; i++) {
		d.push_back(i);
		if (i % 3 == 0) {
			dsum += d.front();
			d.pop_front();
		}
	}
	CHECK(d.size() == 666666, "deque size %zu", d.size());

	std::vector<std::shared_ptr<std::string>> sp;
	for (int i = 0; i < 100000; i++)
		sp.push_back(std::make_shared<std::string>(static_cast<size_t>(i % 100), 'y'));
	std::vector<std::shared_ptr<std::string>> copy(sp.begin(), sp.end());
	sp.clear();
	CHECK(copy[99999]->size() == 99 && copy[99999].use_count() == 1, "shared_ptr copies");

	std::vector<std::string> words;
	for (int i = 0; i < 200000; i++)
		words.push_back(std::to_string((i * 2654435761u) % 1000003));
	std::sort(words.begin(), words.end());
	CHECK(std::is_sorted(words.begin(), words.end()), "sort failed");
	printf("ok: vector, string, map, unordered_map, set, list, deque, shared_ptr, sort\n");
}

/* ---- a pool of threads deleting what other threads created ---- */

struct Blob {
	int owner;
	uint64_t seed;
	explicit Blob(int o, uint64_t s) : owner(o), seed(s)
	{
	}
	virtual ~Blob() = default;
	virtual void check() const = 0;
};

template <size_t N, size_t A> struct alignas(A) Obj final : Blob {
	unsigned char data[N];
	Obj(int o, uint64_t s) : Blob(o, s)
	{
		CHECK(aligned(this, A), "new Obj<%zu, %zu> at %p", N, A, static_cast<void *>(this));
		fill(data, N, s);
	}
	void check() const override
	{
		check_fill(data, N, seed, "object from another thread");
	}
};

struct Payload final : Blob {
	std::string text;
	std::vector<uint64_t> numbers;
	std::unique_ptr<char[]> raw;
	size_t raw_len;
	Payload(int o, uint64_t s)
	    : Blob(o, s), text(s % 500, static_cast<char>('a' + s % 26)), numbers(s % 3000, s),
	      raw(new char[s % 20000 + 1]), raw_len(s % 20000 + 1)
	{
		fill(raw.get(), raw_len, s);
	}
	void check() const override
	{
		CHECK(text.size() == seed % 500 && numbers.size() == seed % 3000,
		      "Payload sizes corrupted");
		CHECK(text.empty() || text.back() == static_cast<char>('a' + seed % 26),
		      "Payload text corrupted");
		CHECK(numbers.empty() || numbers.back() == seed, "Payload numbers corrupted");
		check_fill(raw.get(), raw_len, seed, "Payload raw buffer");
	}
};

Blob *make_blob(int owner, uint64_t s)
{
	switch (s % 12) {
	case 0:
		return new Obj<8, 16>(owner, s);
	case 1:
		return new Obj<24, 16>(owner, s);
	case 2:
		return new Obj<100, 16>(owner, s);
	case 3:
		return new Obj<1000, 16>(owner, s);
	case 4:
		return new Obj<5000, 16>(owner, s);
	case 5:
		return new Obj<70000, 16>(owner, s);
	case 6:
		return new Obj<40, 64>(owner, s);
	case 7:
		return new Obj<300, 128>(owner, s);
	case 8:
		return new Obj<100, 4096>(owner, s);
	case 9:
		return new Obj<20000, 512>(owner, s);
	default:
		return new Payload(owner, s);
	}
}

void test_thread_pool(void)
{
	constexpr int threads = 6, ops = 30000;
	std::mutex lock;
	std::deque<Blob *> queue;
	std::atomic<long> cross{0}, created{0}, deleted{0};
	std::vector<std::thread> pool;

	for (int t = 0; t < threads; t++) {
		pool.emplace_back([&, t] {
			uint64_t rng = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(t + 1);

			for (int i = 0; i < ops; i++) {
				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				Blob *b = nullptr;

				if (rng % 100 < 52) {
					Blob *mine = make_blob(t, rng >> 8);

					created++;
					std::lock_guard<std::mutex> g(lock);
					queue.push_back(mine);
					continue;
				}
				{
					std::lock_guard<std::mutex> g(lock);
					if (!queue.empty()) {
						b = queue.front();
						queue.pop_front();
					}
				}
				if (!b)
					continue;
				b->check();
				if (b->owner != t)
					cross++;
				delete b; /* virtual: sized, and aligned when over-aligned */
				deleted++;
			}
		});
	}
	for (auto &th : pool)
		th.join();
	for (Blob *b : queue) {
		b->check();
		delete b;
		deleted++;
		cross++;
	}
	CHECK(created.load() == deleted.load(), "created %ld objects, deleted %ld", created.load(),
	      deleted.load());
	CHECK(cross.load() > 0, "no object was deleted by a thread other than its creator");

	/* Strings and vectors moved to another thread and destroyed there. */
	std::vector<std::string> made;
	for (int i = 0; i < 20000; i++)
		made.emplace_back(static_cast<size_t>(i % 1000 + 16), 'z');
	std::thread consumer([v = std::move(made)]() mutable {
		for (const auto &s : v)
			CHECK(s.size() >= 16 && s[0] == 'z', "moved string corrupted");
		v.clear();
		v.shrink_to_fit();
	});
	consumer.join();
	printf("ok: %d threads, %ld objects created, %ld deleted by a thread other than their "
	       "creator\n",
	       threads, created.load(), cross.load());
}

} /* namespace */

int main()
{
	bool kmm = dlsym(RTLD_DEFAULT, "kmm_kmalloc") != nullptr;

	setvbuf(stdout, nullptr, _IOLBF, 0);
	printf("operator new under test: %s\n", kmm ? "kmm" : "not kmm (libstdc++'s, presumably)");
	test_symbols(kmm);
	test_plain();
	test_failure(kmm);
	test_aligned();
	test_containers();
	test_thread_pool();
	test_nothrow_new_handler();
	printf("cxx_conformance: all checks passed\n");
	return 0;
}
