/*
 * Compiler helpers shared by every layer.
 *
 * Everything in libkmm is built with -fvisibility=hidden; KMM_EXPORT marks the few
 * symbols that form the public ABI (include/kmm/kmm.h). KMM_HIDDEN marks declarations
 * of libkmm's own data that fast paths read: -fvisibility=hidden covers definitions
 * only, and data declared without it is reached through the GOT, one more load and
 * one more instruction at every use.
 *
 * OPTIMIZER_HIDE_VAR is the kernel's: the compiler forgets what it knows of the
 * variable and cannot move the computation of its value past that point.
 */
#ifndef KMM_BASE_COMPILER_H
#define KMM_BASE_COMPILER_H

#include <stddef.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* glibc's sys/cdefs.h defines some of these already, with the same meaning. */
#include <sys/cdefs.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define __noinline                      __attribute__((noinline))
#define __cold                          __attribute__((cold, noinline))
#define __noreturn                      __attribute__((noreturn))
#define __aligned(n)                    __attribute__((aligned(n)))
#define __printf(a, b)                  __attribute__((format(printf, a, b)))

#define KMM_EXPORT                      __attribute__((visibility("default")))
#define KMM_HIDDEN                      __attribute__((visibility("hidden")))

#define CACHELINE_SIZE                  64
#define ____cacheline_aligned           __aligned(CACHELINE_SIZE)

#define ARRAY_SIZE(a)                   (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define ALIGN_UP(x, a)                  (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a)                ((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a)                (((x) & ((__typeof__(x))(a)-1)) == 0)

#define READ_ONCE(x)                    __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)                __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define OPTIMIZER_HIDE_VAR(var)         __asm__("" : "+r"(var))

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static inline unsigned long min_ul(unsigned long a, unsigned long b)
{
	return a < b ? a : b;
}

static inline unsigned long max_ul(unsigned long a, unsigned long b)
{
	return a > b ? a : b;
}

#endif /* KMM_BASE_COMPILER_H */
