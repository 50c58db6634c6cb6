/*
 * Log-linear latency histogram (HdrHistogram's layout): values below 128 each have a
 * bucket, above that every power of two is split into 64 buckets, so a bucket is at
 * most 1/64 (1.6 %) of its value wide. Fixed size, no allocation, not thread-safe:
 * keep one per thread and merge.
 */
#ifndef SLUICE_HIST_H
#define SLUICE_HIST_H
#include <stdint.h>

#define HIST_LINEAR 128u
#define HIST_SUB 64u
#define HIST_BUCKETS (HIST_LINEAR + 57u * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile p (0..100]: the midpoint of the bucket holding it, clamped to
 * [min, max]; 0 for an empty histogram. */
uint64_t hist_percentile(const struct hist *h, double p);
unsigned hist_bucket_of(uint64_t v);
uint64_t hist_bucket_low(unsigned idx);
uint64_t hist_bucket_width(unsigned idx);
#endif
