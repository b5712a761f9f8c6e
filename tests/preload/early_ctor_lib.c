/*
 * A library whose constructor allocates: under LD_PRELOAD it runs before libkmm's own
 * constructor (as libselinux's does for ls, find and cp), so kmm initializes from inside
 * this malloc.
 */
#include <stdlib.h>
#include <string.h>

void *early_block;

__attribute__((constructor)) static void early_ctor(void)
{
	early_block = malloc(472);
	memset(early_block, 0x5a, 472);
}
