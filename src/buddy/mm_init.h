/*
 * Setting up kmm's physical memory: the layout of its ranges, the zones' spans, backing
 * and NUMA policy, the per-CPU page lists and the zonelists (the kernel's mm/mm_init.c).
 */
#ifndef KMM_BUDDY_MM_INIT_H
#define KMM_BUDDY_MM_INIT_H

#include "mmzone.h"

/* 0 on success; -1 when the section table or the per-CPU lists could not be mapped. */
int mm_init(void);

/* The first address after the physical address space and mem_map (the vmalloc window's). */
extern void *kmm_layout_end;

const char *zone_backing_name(enum zone_backing backing);

#endif /* KMM_BUDDY_MM_INIT_H */
