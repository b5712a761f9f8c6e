/*
 * What a first touch costs with and without transparent huge pages on this machine:
 * map 1 GiB, advise MADV_HUGEPAGE (argument 1) or MADV_NOHUGEPAGE (0), write a byte
 * per 4 KiB, twice (fresh mappings each time). On a virtual machine whose host backs
 * guest memory lazily, the first run over never-used guest memory is the slow one.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double touch_gib(int huge)
{
	size_t size = 1UL << 30;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t;

	if (p == MAP_FAILED)
		return -1;
	madvise(p, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	t = now_s();
	for (size_t i = 0; i < size; i += 4096)
		p[i] = 1;
	t = now_s() - t;
	munmap(p, size);
	return t;
}

int main(int argc, char **argv)
{
	int huge = argc > 1 && argv[1][0] == '1';
	double first = touch_gib(huge), second = touch_gib(huge);

	printf("%s: touching 1 GiB took %.3f s, then %.3f s\n", huge ? "THP" : "4 KiB pages", first,
	       second);
	return 0;
}
