/* An independent check of a closed database directory: every record LSN in the cold
 * tier and in the log segments, read directly (cold cursors, the segment walker), not
 * through the read path that merges and deduplicates them. */
#ifndef SLUICE_TEST_TIER_CHECK_H
#define SLUICE_TEST_TIER_CHECK_H
#include <stddef.h>
#include <stdint.h>

/* 0 if each LSN 1..max appears exactly once across both tiers, cold LSNs are <=
 * compacted_lsn, and a segment's records at or below it (a segment compacted in part keeps
 * them until it is retired; recovery and reads skip them) come before any above it;
 * else -1 with the first problem in why.
 * *records receives how many LSNs were seen. */
int tc_check_lsns(const char *dir, uint64_t *records, char *why, size_t why_len);
#endif
