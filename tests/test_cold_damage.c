/*
 * The cold tier's answers to damaged LMDB contents: a cold tier is built through
 * cold_apply, then one entry of one database is planted or rewritten directly through
 * LMDB (the bytes an LMDB file with a bad page, a foreign writer or a bug would hold),
 * and every reader of that entry must return SLUICE_ECORRUPT (or SLUICE_EVERSION for a
 * version it does not know), never crash, never return wrong data as good.
 */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cold.h"
#include "record.h"
#include "sluice.h"
#include "util.h"

static char *dir;
static char path[4096];
static const uint8_t uuid[16] = {9, 9, 9};

/* Two series, "a" (id 0) and "b" (id 1), two records each, and source offset "src". */
static void build(void)
{
    dir = tu_mkdtemp();
    snprintf(path, sizeof path, "%s/cold", dir);
    struct cold *c;
    cr_assert_eq(cold_open(path, 0, 8u << 20, &c), 0);
    uint64_t off = 42;
    struct cold_rec recs[] = {
        {(const uint8_t *)"a", 1, REC_PUT, 10, 1, "a10", 3},
        {(const uint8_t *)"b", 1, REC_PUT, 10, 2, "b10", 3},
        {(const uint8_t *)"a", 1, REC_PUT, 20, 3, "a20", 3},
        {(const uint8_t *)"b", 1, REC_PUT, 20, 4, "b20", 3},
        {(const uint8_t *)"src", 3, REC_OFFSET, 0, 5, &off, sizeof off},
    };
    struct cold_apply_stats st = {0};
    cr_assert_eq(cold_apply(c, recs, 5, 5, uuid, 0, &st), 0);
    cold_close(c);
}
static void teardown(void) { tu_rmdir(dir); }
TestSuite(cold_damage, .init = build, .fini = teardown);

/* Writes (or, with v NULL, deletes) one entry of database db, outside the cold tier. */
static void plant(const char *db, const void *k, size_t kl, const void *v, size_t vl)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
    cr_assert_eq(mdb_env_set_mapsize(env, 8u << 20), 0);
    cr_assert_eq(mdb_env_open(env, path, 0, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
    MDB_val mk = {kl, (void *)k}, mv = {vl, (void *)v};
    if (v)
        cr_assert_eq(mdb_put(txn, dbi, &mk, &mv, 0), 0);
    else
        cr_assert_eq(mdb_del(txn, dbi, &mk, NULL), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static struct cold *c;
static struct cold_view v;
static void open_view(void)
{
    cr_assert_eq(cold_open(path, 1, 8u << 20, &c), 0);
    cr_assert_eq(cold_view_begin(c, &v), 0);
}
static void close_view(void)
{
    cold_view_end(&v);
    cold_close(c);
}

static int count_series(void *arg, uint32_t series, const void *key, size_t klen)
{
    (void)series, (void)key, (void)klen;
    ++*(int *)arg;
    return 0;
}
static int count_blocks(void *arg, const struct cold_block_ref *b)
{
    int *n = arg;
    n[0]++;
    n[1] += b->bad_key;
    return 0;
}
static int count_offsets(void *arg, const char *source, uint64_t offset)
{
    (void)source, (void)offset;
    ++*(int *)arg;
    return 0;
}

static const uint8_t id1[4] = {0, 0, 0, 1}; /* series ids are big-endian keys */

Test(cold_damage, the_intact_tier_reads_back)
{
    open_view();
    int n = 0, blocks[2] = {0};
    cr_expect_eq(cold_for_each_series(&v, count_series, &n), 0);
    cr_expect_eq(n, 2);
    cr_expect_eq(cold_for_each_block(&v, UINT32_MAX, count_blocks, blocks), 0);
    cr_expect_eq(blocks[0], 2);
    n = 0;
    cr_expect_eq(cold_for_each_offset(&v, count_offsets, &n), 0);
    cr_expect_eq(n, 1);
    char buf[8];
    uint64_t lsn, ts;
    size_t vlen;
    cr_expect_eq(cold_get(&v, "b", 1, 20, &lsn, buf, sizeof buf, &vlen), 0);
    cr_expect(vlen == 3 && !memcmp(buf, "b20", 3));
    cr_expect_eq(cold_get(&v, "b", 1, 15, &lsn, buf, sizeof buf, &vlen), SLUICE_NOTFOUND);
    cr_expect_eq(cold_get_le(&v, "a", 1, 15, &ts, &lsn, buf, sizeof buf, &vlen), 0);
    cr_expect_eq(ts, 10);
    cr_expect_eq(cold_get(&v, "a", 1, 10, &lsn, buf, 2, &vlen), SLUICE_ERANGE, "buffer too small");
    cr_expect_eq(vlen, 3);
    close_view();
}

Test(cold_damage, a_dictionary_key_of_the_wrong_size)
{
    plant("names", "\0\0\7", 3, "c", 1);
    open_view();
    int n = 0;
    cr_expect_eq(cold_for_each_series(&v, count_series, &n), SLUICE_ECORRUPT);
    close_view();
}

Test(cold_damage, an_empty_series_name)
{
    plant("names", id1, 4, "", 0);
    open_view();
    int n = 0;
    cr_expect_eq(cold_for_each_series(&v, count_series, &n), SLUICE_ECORRUPT);
    const void *key;
    size_t klen;
    cr_expect_eq(cold_series_name(&v, 1, &key, &klen), SLUICE_ECORRUPT);
    cr_expect_eq(cold_series_name(&v, 0, &key, &klen), 0, "the other series is intact");
    cr_expect_eq(cold_series_name(&v, 7, &key, &klen), SLUICE_NOTFOUND);
    close_view();
}

Test(cold_damage, a_series_id_of_the_wrong_size)
{
    plant("series", "b", 1, "\1\0", 2);
    open_view();
    char buf[8];
    uint64_t lsn, ts;
    size_t vlen;
    uint32_t id;
    cr_expect_eq(cold_get(&v, "b", 1, 20, &lsn, buf, sizeof buf, &vlen), SLUICE_ECORRUPT);
    cr_expect_eq(cold_get_le(&v, "b", 1, 20, &ts, &lsn, buf, sizeof buf, &vlen), SLUICE_ECORRUPT);
    cr_expect_eq(cold_series_of(&v, "b", 1, &id), SLUICE_ECORRUPT);
    struct cold_series_cursor *cur;
    cr_expect_eq(cold_series_open(&v, "b", 1, 0, 100, &cur), SLUICE_ECORRUPT);
    cr_expect_eq(cold_get(&v, "a", 1, 20, &lsn, buf, sizeof buf, &vlen), 0, "a is intact");
    close_view();
}

/* Block keys: be32(series) || be64(ts_min). */
static void block_key(uint8_t k[12], uint32_t series, uint64_t ts)
{
    for (int i = 0; i < 4; i++)
        k[i] = (uint8_t)(series >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        k[4 + i] = (uint8_t)(ts >> (56 - 8 * i));
}

Test(cold_damage, a_block_key_of_the_wrong_size_is_reported_not_read)
{
    plant("blocks", "\0\0\0\1\0", 5, "xx", 2);
    open_view();
    int blocks[2] = {0};
    cr_expect_eq(cold_for_each_block(&v, UINT32_MAX, count_blocks, blocks), 0);
    cr_expect_eq(blocks[0], 3);
    cr_expect_eq(blocks[1], 1, "the inspector is told the key is bad");
    close_view();
}

static struct {
    uint8_t data[4096];
    size_t len;
} grabbed;
static int grab(void *arg, const struct cold_block_ref *b)
{
    (void)arg;
    if (!b->bad_key && b->series == 0 && b->len <= sizeof grabbed.data) {
        memcpy(grabbed.data, b->data, b->len);
        grabbed.len = b->len;
    }
    return 0;
}

Test(cold_damage, a_block_under_another_series_key)
{
    /* series a's block copied under series b's key at ts 15 */
    open_view();
    cr_assert_eq(cold_for_each_block(&v, 0, grab, NULL), 0);
    close_view();
    cr_assert_gt(grabbed.len, 0);
    uint8_t k[12];
    block_key(k, 1, 15);
    plant("blocks", k, sizeof k, grabbed.data, grabbed.len);
    open_view();
    char buf[8];
    uint64_t lsn, ts;
    size_t vlen;
    cr_expect_eq(cold_get(&v, "b", 1, 20, &lsn, buf, sizeof buf, &vlen), SLUICE_ECORRUPT);
    cr_expect_eq(cold_get_le(&v, "b", 1, 30, &ts, &lsn, buf, sizeof buf, &vlen), SLUICE_ECORRUPT);
    struct cold_series_cursor *cur;
    struct cold_rec rec;
    int r = cold_series_open(&v, "b", 1, 0, 100, &cur);
    if (!r) {
        while ((r = cold_series_next(cur, &rec)) == 0)
            ;
        cold_series_close(cur);
    }
    cr_expect_eq(r, SLUICE_ECORRUPT, "the scan meets the foreign block");
    close_view();
}

Test(cold_damage, a_block_that_does_not_decode)
{
    uint8_t k[12], junk[64];
    memset(junk, 0x5a, sizeof junk);
    block_key(k, 0, 10); /* over series a's block */
    plant("blocks", k, sizeof k, junk, sizeof junk);
    open_view();
    char buf[8];
    uint64_t lsn;
    size_t vlen;
    cr_expect_eq(cold_get(&v, "a", 1, 10, &lsn, buf, sizeof buf, &vlen), SLUICE_ECORRUPT);
    close_view();
}

Test(cold_damage, offsets_with_a_bad_name_or_value)
{
    uint64_t off;
    plant("meta", "o:src", 5, "\1\2\3\4", 4); /* 4 bytes, not 8 */
    open_view();
    int n = 0;
    cr_expect_eq(cold_for_each_offset(&v, count_offsets, &n), SLUICE_ECORRUPT);
    cr_expect_eq(cold_offset_get(&v, "src", &off), SLUICE_ECORRUPT);
    close_view();
    plant("meta", "o:src", 5, "\1\2\3\4\5\6\7\10", 8);
    plant("meta", "o:", 2, "\1\2\3\4\5\6\7\10", 8); /* an empty source name */
    open_view();
    cr_expect_eq(cold_for_each_offset(&v, count_offsets, &n), SLUICE_ECORRUPT);
    close_view();
}

Test(cold_damage, meta_values_of_the_wrong_size)
{
    plant("meta", "compacted_lsn", 13, "\5\0\0\0", 4);
    struct cold *cc;
    cr_assert_eq(cold_open(path, 1, 8u << 20, &cc), 0);
    struct cold_view vv;
    cr_expect_eq(cold_view_begin(cc, &vv), SLUICE_ECORRUPT);
    uint64_t lsn;
    uint8_t id[16];
    int has;
    cr_expect_eq(cold_meta(cc, &lsn, id, &has), SLUICE_ECORRUPT);
    cold_close(cc);

    plant("meta", "compacted_lsn", 13, "\5\0\0\0\0\0\0\0", 8);
    plant("meta", "uuid", 4, "short", 5);
    cr_assert_eq(cold_open(path, 1, 8u << 20, &cc), 0);
    cr_expect_eq(cold_meta(cc, &lsn, id, &has), SLUICE_ECORRUPT, "a uuid of 5 bytes");
    cold_close(cc);

    plant("meta", "next_series", 11, "\2\0", 2);
    open_view();
    uint64_t series, blocks, next;
    cr_expect_eq(cold_counts(&v, &series, &blocks, &next), SLUICE_ECORRUPT);
    close_view();
}

Test(cold_damage, a_format_version_it_does_not_know)
{
    uint32_t later = 99;
    plant("meta", "version", 7, &later, sizeof later);
    struct cold *cc = NULL;
    cr_expect_eq(cold_open(path, 1, 8u << 20, &cc), SLUICE_EVERSION);
    cr_expect_eq(cold_open(path, 0, 8u << 20, &cc), SLUICE_EVERSION);
    plant("meta", "version", 7, "\1\0", 2);
    cr_expect_eq(cold_open(path, 1, 8u << 20, &cc), SLUICE_ECORRUPT, "a version of 2 bytes");
    cr_expect_null(cc);
}

Test(cold_damage, a_missing_directory_and_a_reader_of_none)
{
    struct cold *cc = NULL;
    char none[4200];
    snprintf(none, sizeof none, "%s/nothing/cold", dir);
    cr_expect_eq(cold_open(none, 1, 8u << 20, &cc), SLUICE_NOTFOUND);
    cr_expect_lt(cold_open(none, 0, 8u << 20, &cc), 0, "its parent does not exist");
    cr_expect_null(cc);
}
