/* The cold store on its own: merge semantics (upsert by LSN, deletes, late data, block
 * splits), retention, offsets, cursors, map growth, and a seeded model test. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block.h"
#include "cold.h"
#include "format.h"
#include "sluice.h"
#include "util.h"

static char *dir;
static struct cold *c;
static const uint8_t uuid[16] = {7, 7, 7};
static uint64_t lsn;

static void setup_map(size_t map)
{
    dir = tu_mkdtemp();
    char p[4096];
    snprintf(p, sizeof p, "%s/cold", dir);
    cr_assert_eq(cold_open(p, 0, map, &c), 0);
}
static void setup(void) { setup_map(64u << 20); }
static void teardown(void)
{
    cold_close(c);
    tu_rmdir(dir);
    c = NULL;
    dir = NULL;
}

static struct cold_rec put_rec(const char *k, uint64_t ts, const char *v)
{
    return (struct cold_rec){(const uint8_t *)k, (uint16_t)strlen(k), REC_PUT, ts, ++lsn, v,
                             (uint32_t)strlen(v)};
}
static struct cold_rec del_rec(const char *k, uint64_t ts)
{
    return (struct cold_rec){(const uint8_t *)k, (uint16_t)strlen(k), REC_DELETE, ts, ++lsn, NULL, 0};
}

static void apply(const struct cold_rec *r, size_t n)
{
    struct cold_apply_stats st = {0};
    cr_assert_eq(cold_apply(c, r, n, lsn, uuid, 0, &st), 0);
}

static int get(const char *k, uint64_t ts, char *out)
{
    struct cold_view v;
    cr_assert_eq(cold_view_begin(c, &v), 0);
    uint64_t l;
    size_t vlen;
    int r = cold_get(&v, k, strlen(k), ts, &l, out, 64, &vlen);
    if (!r)
        out[vlen] = 0;
    cold_view_end(&v);
    return r;
}

TestSuite(cold, .init = setup, .fini = teardown);

Test(cold, put_get_upsert_delete_across_batches)
{
    struct cold_rec b1[] = {put_rec("a", 10, "a10"), put_rec("a", 20, "a20"), put_rec("b", 10, "b10")};
    apply(b1, 3);
    char v[65];
    cr_assert_eq(get("a", 10, v), 0);
    cr_expect_str_eq(v, "a10");
    cr_expect_eq(get("a", 15, v), SLUICE_NOTFOUND);
    cr_expect_eq(get("zz", 10, v), SLUICE_NOTFOUND);
    struct cold_rec b2[] = {put_rec("a", 10, "A10"), del_rec("b", 10), del_rec("nobody", 3)};
    apply(b2, 3);
    cr_assert_eq(get("a", 10, v), 0);
    cr_expect_str_eq(v, "A10", "a higher LSN replaces");
    cr_expect_eq(get("b", 10, v), SLUICE_NOTFOUND, "a delete removes");
    uint64_t done;
    uint8_t u[16];
    int has;
    cr_assert_eq(cold_meta(c, &done, u, &has), 0);
    cr_expect_eq(done, lsn);
    cr_expect(has && memcmp(u, uuid, 16) == 0);
}

Test(cold, within_one_batch_the_highest_lsn_wins)
{
    struct cold_rec b[] = {put_rec("k", 1, "first"), del_rec("k", 1), put_rec("k", 1, "third"),
                           put_rec("j", 1, "x"), del_rec("j", 1)};
    apply(b, 5);
    char v[65];
    cr_assert_eq(get("k", 1, v), 0);
    cr_expect_str_eq(v, "third");
    cr_expect_eq(get("j", 1, v), SLUICE_NOTFOUND);
}

static int scan(const char *k, uint64_t from, uint64_t to, uint64_t *ts_out, int cap)
{
    struct cold_view v;
    cr_assert_eq(cold_view_begin(c, &v), 0);
    struct cold_series_cursor *cur;
    cr_assert_eq(cold_series_open(&v, k, strlen(k), from, to, &cur), 0);
    struct cold_rec rec;
    int n = 0, r;
    while ((r = cold_series_next(cur, &rec)) == 0) {
        cr_assert_lt(n, cap);
        ts_out[n++] = rec.ts;
    }
    cr_assert_eq(r, SLUICE_END);
    cold_series_close(cur);
    cold_view_end(&v);
    return n;
}

Test(cold, blocks_split_and_late_data_merges_in_place)
{
    enum { N = 1000 };
    static struct cold_rec b[N];
    static char vals[N][16];
    for (int i = 0; i < N; i++) { /* even timestamps first */
        snprintf(vals[i], 16, "v%d", 2 * i);
        b[i] = put_rec("s", 2 * (uint64_t)i, vals[i]);
    }
    apply(b, N);
    static char late[N][16];
    for (int i = 0; i < N; i++) { /* then every odd one: late data into full blocks */
        snprintf(late[i], 16, "v%d", 2 * i + 1);
        b[i] = put_rec("s", 2 * (uint64_t)i + 1, late[i]);
    }
    apply(b, N);
    static uint64_t ts[2 * N + 1];
    int n = scan("s", 0, UINT64_MAX, ts, 2 * N + 1);
    cr_assert_eq(n, 2 * N);
    for (int i = 0; i < n; i++)
        cr_assert_eq(ts[i], (uint64_t)i, "each ts once, in order");
    char v[65];
    cr_assert_eq(get("s", 1501, v), 0);
    cr_expect_str_eq(v, "v1501");
    cr_expect_eq(scan("s", 100, 110, ts, 20), 10);
    cr_expect_eq(scan("s", 5000, 6000, ts, 20), 0);
    cr_expect_eq(scan("never", 0, 10, ts, 20), 0);
}

Test(cold, retention_drops_old_blocks_and_records)
{
    enum { N = 600 };
    static struct cold_rec b[N];
    for (int i = 0; i < N; i++)
        b[i] = put_rec("r", (uint64_t)i, "x");
    struct cold_apply_stats st = {0};
    cr_assert_eq(cold_apply(c, b, N, lsn, uuid, 0, &st), 0);
    struct cold_rec more[] = {put_rec("r", 1000, "y")};
    cr_assert_eq(cold_apply(c, more, 1, lsn, uuid, 400, &st), 0);
    cr_expect_gt(st.dropped_records, 0);
    uint64_t ts[N + 1];
    int n = scan("r", 0, UINT64_MAX, ts, N + 1);
    cr_assert_gt(n, 0);
    cr_expect_leq(n, N - 400 + 1 + COLD_BLOCK_RECORDS, "whole blocks below 400 are gone");
    char v[65];
    cr_expect_eq(get("r", 1000, v), 0);
    cr_expect_eq(get("r", 0, v), SLUICE_NOTFOUND);
}

Test(cold, offsets_keep_the_latest)
{
    uint64_t o1 = 5, o2 = 9;
    struct cold_rec b[] = {{(const uint8_t *)"src", 3, REC_OFFSET, 0, ++lsn, &o1, 8},
                           {(const uint8_t *)"src", 3, REC_OFFSET, 0, ++lsn, &o2, 8}};
    apply(b, 2);
    struct cold_view v;
    cr_assert_eq(cold_view_begin(c, &v), 0);
    uint64_t off;
    cr_expect_eq(cold_offset_get(&v, "src", &off), 0);
    cr_expect_eq(off, 9);
    cr_expect_eq(cold_offset_get(&v, "other", &off), SLUICE_NOTFOUND);
    cold_view_end(&v);
}

static void small_map(void) { setup_map(1u << 20); }

/* 4 MB of records in one batch, more than the 1 MiB map holds. */
enum { N_BIG = 20000 };
static char big_keys[N_BIG][16];
static uint8_t big_vals[N_BIG][200]; /* random: lz4 cannot shrink them into the map */
static void apply_more_than_the_map(struct cold_apply_stats *st)
{
    static struct cold_rec b[N_BIG];
    for (int i = 0; i < N_BIG; i++) {
        snprintf(big_keys[i], 16, "k%d", i % 500);
        tu_fill(big_vals[i], 200, (uint64_t)i);
        b[i] = (struct cold_rec){(const uint8_t *)big_keys[i], (uint16_t)strlen(big_keys[i]),
                                 REC_PUT, (uint64_t)i, ++lsn, big_vals[i], 200};
    }
    cr_assert_eq(cold_apply(c, b, N_BIG, lsn, uuid, 0, st), 0);
}

Test(cold_small_map, map_full_grows_the_map_and_keeps_every_record, .init = small_map,
     .fini = teardown)
{
    enum { N = N_BIG };
    char (*keys)[16] = big_keys;
    uint8_t (*vals)[200] = big_vals;
    struct cold_apply_stats st = {0};
    apply_more_than_the_map(&st);
    cr_expect_gt(st.map_growths, 0);
    uint64_t map, used;
    cr_assert_eq(cold_usage(c, &map, &used), 0);
    cr_expect_gt(map, 1u << 20);
    char v[256];
    struct cold_view view;
    cr_assert_eq(cold_view_begin(c, &view), 0);
    for (int i = 0; i < N; i += 97) {
        uint64_t l;
        size_t vlen;
        cr_assert_eq(cold_get(&view, keys[i], strlen(keys[i]), (uint64_t)i, &l, v, sizeof v, &vlen), 0);
        cr_assert(vlen == 200 && memcmp(v, vals[i], 200) == 0);
    }
    cold_view_end(&view);
}

/* sluice backup copies through a read-only handle opened before a writer grew the map:
 * LMDB answers MDB_MAP_RESIZED, and the copy must adopt the size and start over (it
 * once failed as "a resource limit was reached"). */
Test(cold_small_map, a_copy_follows_a_map_grown_by_another_handle, .init = small_map,
     .fini = teardown)
{
    apply((struct cold_rec[]){put_rec("a", 1, "first")}, 1);
    char p[4096], dest[4200];
    snprintf(p, sizeof p, "%s/cold", dir);
    struct cold *ro;
    cr_assert_eq(cold_open(p, 1, 1u << 20, &ro), 0);
    enum { N = N_BIG };
    char (*keys)[16] = big_keys;
    uint8_t (*vals)[200] = big_vals;
    struct cold_apply_stats st = {0};
    apply_more_than_the_map(&st);
    cr_assert_gt(st.map_growths, 0);
    snprintf(dest, sizeof dest, "%s/copy", dir);
    cr_assert_eq(mkdir(dest, 0755), 0);
    uint64_t copied_lsn = 0;
    int r = cold_copy(ro, dest, &copied_lsn);
    cr_assert_eq(r, 0, "%s", sluice_errname(r));
    cr_expect_eq(copied_lsn, lsn);
    cold_close(ro);
    struct cold *copy;
    cr_assert_eq(cold_open(dest, 1, 1u << 20, &copy), 0);
    struct cold_view v;
    cr_assert_eq(cold_view_begin(copy, &v), 0);
    char out[256];
    uint64_t l;
    size_t vlen;
    cr_expect_eq(cold_get(&v, keys[N - 1], strlen(keys[N - 1]), N - 1, &l, out, sizeof out, &vlen), 0);
    cr_expect(vlen == 200 && memcmp(out, vals[N - 1], 200) == 0);
    cold_view_end(&v);
    cold_close(copy);
}

Test(cold, random_batches_match_a_model)
{
    uint64_t seed = tu_seed("cold model");
    enum { KEYS = 20, TS = 300 };
    static int model[KEYS][TS]; /* 0 absent, else the value tag */
    static struct cold_rec b[2000];
    static char vals[40][2000][12];
    static char keys[KEYS][8];
    for (int k = 0; k < KEYS; k++)
        snprintf(keys[k], 8, "key%d", k);
    for (int round = 0; round < 40; round++) {
        int n = (int)(tu_rand(&seed) % 2000) + 1;
        for (int i = 0; i < n; i++) {
            int k = (int)(tu_rand(&seed) % KEYS), t = (int)(tu_rand(&seed) % TS);
            if (tu_rand(&seed) % 5 == 0) {
                b[i] = del_rec(keys[k], (uint64_t)t);
                model[k][t] = 0;
            } else {
                int tag = round * 10000 + i + 1;
                snprintf(vals[round][i], 12, "%d", tag);
                b[i] = put_rec(keys[k], (uint64_t)t, vals[round][i]);
                model[k][t] = tag;
            }
        }
        apply(b, (size_t)n);
    }
    char v[65];
    for (int k = 0; k < KEYS; k++)
        for (int t = 0; t < TS; t++) {
            int r = get(keys[k], (uint64_t)t, v);
            if (model[k][t]) {
                cr_assert_eq(r, 0, "%s@%d missing", keys[k], t);
                cr_assert_eq(atoi(v), model[k][t], "%s@%d", keys[k], t);
            } else {
                cr_assert_eq(r, SLUICE_NOTFOUND, "%s@%d should be absent", keys[k], t);
            }
        }
}

/* Late data whose batch spans many old blocks of one series: every old value is copied
 * aside while the series is merged, far past the copy area's first size (64 KiB). A
 * pointer kept across its growth once wrote freed memory into the rewritten blocks. */
Test(cold, late_data_spanning_many_old_blocks_keeps_every_old_value)
{
    enum { N = 3000 };
    static char vals[N][64];
    static struct cold_rec recs[N];
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "value-%05d-%040d", i, i);
        recs[i] = put_rec("s", 1000 + (uint64_t)i, vals[i]);
    }
    apply(recs, N);
    /* one late record before them all and one after: the merge takes every block */
    struct cold_rec late[] = {put_rec("s", 10, "late"), put_rec("s", 1000 + N, "after")};
    apply(late, 2);
    char out[65];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(get("s", 1000 + (uint64_t)i, out), 0, "ts %d", 1000 + i);
        cr_assert_str_eq(out, vals[i], "ts %d", 1000 + i);
    }
    cr_expect_eq(get("s", 10, out), 0);
    cr_expect_str_eq(out, "late");
}

/* Errors mean what they say: only damaged bytes are SLUICE_ECORRUPT; every other LMDB
 * code has a name of its own (a full reader table was SLUICE_ECORRUPT once). */
Test(cold_errors, every_lmdb_code_maps_to_an_honest_code)
{
    for (int rc = MDB_KEYEXIST; rc <= MDB_LAST_ERRCODE; rc++) {
        int e = cold_lmdb_error(rc);
        int damage = rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID;
        cr_expect_eq(e == SLUICE_ECORRUPT, damage, "%s -> %s", mdb_strerror(rc), sluice_errname(e));
        cr_expect_neq(strcmp(sluice_errname(e), "unknown"), 0, "%s", mdb_strerror(rc));
    }
    cr_expect_eq(cold_lmdb_error(MDB_READERS_FULL), SLUICE_ELIMIT);
    cr_expect_eq(cold_lmdb_error(MDB_MAP_FULL), SLUICE_ELIMIT);
    cr_expect_eq(cold_lmdb_error(MDB_NOTFOUND), SLUICE_NOTFOUND);
    cr_expect_eq(cold_lmdb_error(MDB_PANIC), SLUICE_EPOISONED);
    cr_expect_eq(cold_lmdb_error(EIO), -EIO, "system errors pass through as -errno");
    cr_expect_eq(cold_lmdb_error(ENOMEM), SLUICE_ENOMEM);
    cr_expect_eq(cold_lmdb_error(-12345), SLUICE_EINTERNAL);
}

/* The compactor stops trying lz4 on a series whose blocks do not shrink (cold.c,
 * lz4_gate_open) and tries again often enough that a series turning compressible is
 * compressed again within a few blocks; every value reads back either way. */
struct codec_count {
    uint64_t from_ts;
    int raw, lz4, last_lz4_run;
};

static int count_codecs(void *arg, const struct cold_block_ref *b)
{
    struct codec_count *cc = arg;
    struct block_hdr h;
    cr_assert_eq(block_peek(b->data, b->len, &h), 0);
    if (b->key_ts < cc->from_ts)
        return 0;
    if (h.codec == BLOCK_CODEC_LZ4) {
        cc->lz4++;
        cc->last_lz4_run++;
    } else {
        cc->raw++;
        cc->last_lz4_run = 0;
    }
    return 0;
}

Test(cold, a_series_turning_compressible_is_compressed_again)
{
    enum { BATCHES = 20, PER = 64, N = 2 * BATCHES * PER };
    static char vals[N][101];
    static struct cold_rec b[PER];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 100; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* printable either way (values are strings here): random, then repetitive */
            vals[i][j] = i < N / 2 ? (char)('!' + x % 90) : (char)('a' + (j % 4));
        }
        vals[i][100] = 0;
    }
    for (int i = 0; i < N; i += PER) {
        for (int k = 0; k < PER; k++)
            b[k] = put_rec("s", (uint64_t)(i + k), vals[i + k]);
        apply(b, PER);
    }
    struct cold_view v;
    cr_assert_eq(cold_view_begin(c, &v), 0);
    uint32_t sid;
    cr_assert_eq(cold_series_of(&v, "s", 1, &sid), 0);
    struct codec_count early = {0}, late = {.from_ts = N / 2 + 16 * 32};
    cr_assert_eq(cold_for_each_block(&v, sid, count_codecs, &early), 0);
    cr_assert_eq(cold_for_each_block(&v, sid, count_codecs, &late), 0);
    cold_view_end(&v);
    cr_expect_gt(early.raw, 10, "the random half is stored raw");
    cr_expect_gt(late.lz4, 0);
    cr_expect_eq(late.raw, 0, "past the gate's longest skip every block is lz4 (%d raw)", late.raw);
    for (int i = 0; i < N; i += 97) {
        struct cold_view gv;
        cr_assert_eq(cold_view_begin(c, &gv), 0);
        uint64_t l;
        size_t vlen;
        char full[128];
        cr_assert_eq(cold_get(&gv, "s", 1, (uint64_t)i, &l, full, sizeof full, &vlen), 0);
        cr_assert(vlen == 100 && memcmp(full, vals[i], 100) == 0, "record %d", i);
        cold_view_end(&gv);
    }
}
