#include <criterion/criterion.h>
#include <stdlib.h>

#include "hist.h"
#include "util.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(hist, buckets_cover_every_value_once)
{
    for (unsigned i = 0; i + 1 < HIST_BUCKETS; i++) {
        cr_assert_eq(hist_bucket_low(i) + hist_bucket_width(i), hist_bucket_low(i + 1),
                     "gap after bucket %u", i);
        cr_assert_eq(hist_bucket_of(hist_bucket_low(i)), i);
        cr_assert_eq(hist_bucket_of(hist_bucket_low(i) + hist_bucket_width(i) - 1), i);
    }
    cr_assert_lt(hist_bucket_of(UINT64_MAX), HIST_BUCKETS);
}

Test(hist, percentiles_match_sorted_reference_within_bucket_precision)
{
    uint64_t seed = tu_seed("hist");
    enum { N = 100000 };
    uint64_t *v = malloc(N * sizeof *v);
    struct hist h;
    hist_init(&h);
    for (int i = 0; i < N; i++) {
        /* log-uniform over 1 ns .. 1 s, like latencies */
        uint64_t r = tu_rand(&seed);
        v[i] = (r % 1000) << (r >> 58) % 20;
        hist_record(&h, v[i]);
    }
    qsort(v, N, sizeof *v, cmp_u64);
    const double ps[] = {1, 50, 90, 99, 99.9, 99.99};
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
        size_t rank = (size_t)(ps[k] / 100.0 * N + 0.999999999);
        uint64_t want = v[rank - 1], got = hist_percentile(&h, ps[k]);
        double tol = want / 64.0 + 1;
        cr_expect(got + tol >= want && got <= want + tol, "p%g: got %llu want %llu", ps[k],
                  (unsigned long long)got, (unsigned long long)want);
    }
    cr_expect_eq(hist_percentile(&h, 100), v[N - 1]);
    cr_expect_eq(h.count, N);
    free(v);
}

Test(hist, merge_adds_counts)
{
    struct hist a, b;
    hist_init(&a);
    hist_init(&b);
    hist_record(&a, 5);
    hist_record(&b, 500000);
    hist_merge(&a, &b);
    cr_expect_eq(a.count, 2);
    cr_expect_eq(a.min, 5);
    cr_expect_eq(a.max, 500000);
    cr_expect_eq(hist_percentile(&a, 50), 5);
}
