/*
 * Setting up kmm's physical memory: the zone windows, their backing and NUMA binding,
 * mem_map, the per-CPU page lists and the zonelists (the kernel's mm/mm_init.c).
 */
#ifndef KMM_BUDDY_MM_INIT_H
#define KMM_BUDDY_MM_INIT_H

#include "mmzone.h"

/* 0 on success; -1 when no address space at all could be reserved. */
int mm_init(void);

const char *zone_backing_name(enum zone_backing backing);

#endif /* KMM_BUDDY_MM_INIT_H */
