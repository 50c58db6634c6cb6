#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

unsigned hist_bucket_of(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 7 */
    unsigned shift = e - 6u;
    unsigned m = (unsigned)(v >> shift); /* in [64, 128) */
    return HIST_LINEAR + (e - 7u) * HIST_SUB + (m - HIST_SUB);
}

uint64_t hist_bucket_low(unsigned idx)
{
    if (idx < HIST_LINEAR)
        return idx;
    unsigned k = idx - HIST_LINEAR;
    unsigned e = k / HIST_SUB + 7u;
    uint64_t m = k % HIST_SUB + HIST_SUB;
    return m << (e - 6u);
}

uint64_t hist_bucket_width(unsigned idx)
{
    if (idx < HIST_LINEAR)
        return 1;
    unsigned e = (idx - HIST_LINEAR) / HIST_SUB + 7u;
    return 1ull << (e - 6u);
}

void hist_record(struct hist *h, uint64_t v)
{
    h->buckets[hist_bucket_of(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (!h->count)
        return 0;
    if (p >= 100.0)
        return h->max;
    /* rank: the smallest r such that r/count >= p/100, at least 1 */
    uint64_t rank = (uint64_t)((p / 100.0) * (double)h->count + 0.999999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_low(i) + (hist_bucket_width(i) - 1) / 2;
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max;
}
