/* An independent check of a closed database directory: every record LSN in the cold
 * tier and in the log segments, read directly (cold cursors, the segment walker), not
 * through the read path that merges and deduplicates them. */
#ifndef SLUICE_TEST_TIER_CHECK_H
#define SLUICE_TEST_TIER_CHECK_H
#include <stddef.h>
#include <stdint.h>

#include "sluice.h"

/* 0 if each LSN 1..max appears exactly once across both tiers, cold LSNs are <=
 * compacted_lsn, and a segment's records at or below it (a segment compacted in part keeps
 * them until it is retired; recovery and reads skip them) come before any above it;
 * else -1 with the first problem in why.
 * *records receives how many LSNs were seen. */
int tc_check_lsns(const char *dir, uint64_t *records, char *why, size_t why_len);

/* A test's oracle: ids 1..max_id, record id being (key, ts = id, value) as record_of
 * writes them (values up to 4 KiB); tried[id] if a put of it was attempted, acked[id] if
 * it was acknowledged durable (a DURABLE put, a completed flush or a clean close). */
typedef size_t tc_record_fn(uint64_t id, char *key, uint8_t *val, size_t *vlen);
struct tc_oracle {
    uint64_t max_id;
    const uint8_t *tried, *acked;
    tc_record_fn *record_of;
    int lsn_gaps_allowed; /* retention ran: deleted records leave LSN gaps, no census */
};

/* Opens dir with opts and checks that every acknowledged record reads back byte for
 * byte and that every record present was tried, is intact and appears once; closes;
 * then tc_check_lsns (unless lsn_gaps_allowed). 0, or -1 with the first problem in why. */
int tc_check_oracle(const char *dir, const sluice_options *opts, const struct tc_oracle *o,
                    char *why, size_t why_len);
#endif
