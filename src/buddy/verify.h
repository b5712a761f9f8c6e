/*
 * A walker that checks every invariant of a zone (page_alloc.c lists them). For tests
 * and debugging: it takes all of the zone's locks, so the zone stands still meanwhile.
 */
#ifndef KMM_BUDDY_VERIFY_H
#define KMM_BUDDY_VERIFY_H

#include <stddef.h>

#include "mmzone.h"

/* 0 when the zone is consistent; otherwise -1 and a one-line description in @err. */
int zone_verify(struct zone *zone, char *err, size_t errlen);

#endif /* KMM_BUDDY_VERIFY_H */
