/* The hot index on its own: batched inserts against single ones, and pruning (the
 * prefix cut of series whose entries are in LSN order, the full pass of those with late
 * entries, the slide over pruned space) against a model, on seeded random histories. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hot_index.h"
#include "sluice.h"
#include "util.h"

enum { SERIES = 37, OPS = 40000 };

struct model_entry {
    uint32_t series;
    uint64_t ts, lsn;
};

static uint64_t rng;
static uint64_t next_rand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* A record header followed by its key, as the ring or a segment holds it. */
struct rec_buf {
    struct rec_hdr h;
    char key[16];
};

static void make_rec(struct rec_buf *r, uint32_t series, uint64_t ts, uint64_t lsn)
{
    memset(r, 0, sizeof *r);
    int kl = snprintf(r->key, sizeof r->key, "k%u", series);
    r->h.type = REC_PUT;
    r->h.klen = (uint16_t)kl;
    r->h.vlen = 1;
    r->h.lsn = lsn;
    r->h.ts = ts;
}

static int model_order(const void *a, const void *b)
{
    const struct model_entry *x = a, *y = b;
    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

/* Every series of x holds exactly the model's entries above upto, in (ts, lsn) order. */
static void check(struct hot_index *x, struct model_entry *m, size_t n, uint64_t upto)
{
    qsort(m, n, sizeof *m, model_order);
    size_t live = 0;
    for (uint32_t s = 0; s < SERIES; s++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "k%u", s);
        const struct hot_series *hs = hot_find(x, key, (size_t)kl);
        size_t at = 0;
        for (size_t j = 0; j < n; j++) {
            if (m[j].series != s || m[j].lsn <= upto)
                continue;
            cr_assert(hs && at < hs->n, "series %u lacks ts %" PRIu64 " lsn %" PRIu64, s, m[j].ts, m[j].lsn);
            cr_assert(hs->e[at].ts == m[j].ts && hs->e[at].lsn == m[j].lsn,
                      "series %u entry %zu: ts %" PRIu64 " lsn %" PRIu64 ", model ts %" PRIu64 " lsn %" PRIu64,
                      s, at, hs->e[at].ts, hs->e[at].lsn, m[j].ts, m[j].lsn);
            at++;
        }
        cr_assert_eq(hs ? hs->n : 0, at, "series %u holds %zu entries, model %zu", s, hs ? hs->n : 0, at);
        live += at;
    }
    cr_assert_eq(x->records, live);
}

static void run(uint64_t seed, int late_per_mille)
{
    rng = seed;
    struct hot_index x;
    cr_assert_eq(hot_init(&x), 0);
    struct model_entry *m = calloc(OPS, sizeof *m);
    struct rec_buf *recs = calloc(HOT_BATCH_MAX, sizeof *recs);
    const struct rec_hdr *hs[HOT_BATCH_MAX];
    uint64_t newest[SERIES] = {0}, lsn = 0, upto = 0;
    size_t n = 0;
    while (n < OPS) {
        size_t batch = 1 + next_rand() % HOT_BATCH_MAX;
        if (batch > OPS - n)
            batch = OPS - n;
        for (size_t i = 0; i < batch; i++) {
            uint32_t s = (uint32_t)(next_rand() % SERIES);
            uint64_t ts = newest[s] + 1 + next_rand() % 3;
            if ((int)(next_rand() % 1000) < late_per_mille && newest[s] > 10)
                ts = newest[s] - next_rand() % 10; /* late, or the same ts again */
            else
                newest[s] = ts;
            make_rec(&recs[i], s, ts, ++lsn);
            hs[i] = &recs[i].h;
            m[n++] = (struct model_entry){s, ts, lsn};
        }
        hot_wrlock(&x);
        if (next_rand() % 2) {
            cr_assert_eq(hot_insert_batch(&x, hs, NULL, batch), 0);
        } else {
            for (size_t i = 0; i < batch; i++)
                cr_assert_eq(hot_insert(&x, hs[i], 0), 0);
        }
        if (next_rand() % 8 == 0 && lsn > upto) { /* a compaction round */
            upto += 1 + next_rand() % (lsn - upto);
            hot_prune(&x, upto);
        }
        hot_unlock(&x);
    }
    check(&x, m, n, upto);
    hot_destroy(&x);
    free(recs);
    free(m);
}

Test(hot_index, in_order_series_are_cut_as_a_prefix)
{
    uint64_t seed = tu_seed("hot_index.in_order");
    for (int i = 0; i < 4; i++)
        run(seed + (uint64_t)i, 0);
}

Test(hot_index, late_entries_fall_back_to_the_full_pass)
{
    uint64_t seed = tu_seed("hot_index.late");
    for (int i = 0; i < 4; i++)
        run(seed + (uint64_t)i, 50);
}

Test(hot_index, everything_late)
{
    uint64_t seed = tu_seed("hot_index.all_late");
    run(seed, 900);
}
