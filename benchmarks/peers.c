/* The peers of sluice-bench (peers.h). Any failure ends the benchmark: numbers from a
 * store that refused writes would mean nothing. */
#include "peers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>
#ifdef SLUICE_HAVE_ROCKSDB
#include <rocksdb/c.h>
#endif
#ifdef SLUICE_HAVE_LEVELDB
#include <leveldb/c.h>
#endif
#ifdef SLUICE_HAVE_SQLITE
#include <sqlite3.h>
#endif

#include "db.h"
#include "sluice.h"

static void fail(const char *peer, const char *what, const char *why)
{
    fprintf(stderr, "sluice-bench: %s: %s: %s\n", peer, what, why ? why : "failed");
    exit(2);
}

static uint64_t be64_of(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* what a scan does with each value, so that no engine's read is optimised away */
static volatile uint64_t scan_sink;
static void touch(const void *v, size_t n)
{
    const uint8_t *b = v;
    scan_sink += n ? b[0] + b[n - 1] : 0;
}

static int copy_out(const void *v, size_t n, void *buf, size_t cap, size_t *vlen)
{
    *vlen = n;
    memcpy(buf, v, n < cap ? n : cap);
    return 1;
}

/* ---- LMDB: one write transaction per commit; MDB_NOSYNC toggled for non-durable ---- */

struct lm_store {
    MDB_env *env;
    MDB_dbi dbi;
};
struct lm_thread {
    struct lm_store *s;
    MDB_txn *txn;
    MDB_txn *rtxn; /* reset between reads, renewed for the next one */
};

static void *lm_store_open(const char *dir)
{
    struct lm_store *s = calloc(1, sizeof *s);
    MDB_txn *txn;
    mkdir(dir, 0755);
    if (mdb_env_create(&s->env) || mdb_env_set_mapsize(s->env, 64ull << 30) ||
        mdb_env_open(s->env, dir, MDB_NOTLS, 0644) || mdb_txn_begin(s->env, NULL, 0, &txn) ||
        mdb_dbi_open(txn, NULL, 0, &s->dbi) || mdb_txn_commit(txn))
        fail("lmdb", "open", dir);
    return s;
}
static void lm_store_close(void *p)
{
    struct lm_store *s = p;
    mdb_env_close(s->env);
    free(s);
}
static void *lm_thread_open(void *store)
{
    struct lm_thread *t = calloc(1, sizeof *t);
    t->s = store;
    return t;
}
static void lm_thread_close(void *p)
{
    struct lm_thread *t = p;
    if (t->rtxn)
        mdb_txn_abort(t->rtxn);
    free(t);
}
static MDB_txn *lm_read_begin(struct lm_thread *t)
{
    int rc = t->rtxn ? mdb_txn_renew(t->rtxn) : mdb_txn_begin(t->s->env, NULL, MDB_RDONLY, &t->rtxn);
    if (rc)
        fail("lmdb", "read txn", mdb_strerror(rc));
    return t->rtxn;
}
static int lm_get(void *p, const void *k, size_t kl, void *buf, size_t cap, size_t *vlen)
{
    struct lm_thread *t = p;
    MDB_txn *txn = lm_read_begin(t);
    MDB_val mk = {kl, (void *)k}, mv;
    int rc = mdb_get(txn, t->s->dbi, &mk, &mv), found = rc == 0;
    if (rc && rc != MDB_NOTFOUND)
        fail("lmdb", "get", mdb_strerror(rc));
    if (found)
        copy_out(mv.mv_data, mv.mv_size, buf, cap, vlen);
    mdb_txn_reset(txn);
    return found;
}
static uint64_t lm_scan(void *p, const void *lo, const void *hi, size_t kl)
{
    struct lm_thread *t = p;
    MDB_txn *txn = lm_read_begin(t);
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, t->s->dbi, &cur))
        fail("lmdb", "cursor", NULL);
    MDB_val mk = {kl, (void *)lo}, mv;
    uint64_t n = 0;
    for (int rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT)) {
        if (mk.mv_size != kl || memcmp(mk.mv_data, hi, kl) >= 0)
            break;
        touch(mv.mv_data, mv.mv_size);
        n++;
    }
    mdb_cursor_close(cur);
    mdb_txn_reset(txn);
    return n;
}
static void lm_begin(void *p)
{
    struct lm_thread *t = p;
    int rc = mdb_txn_begin(t->s->env, NULL, 0, &t->txn);
    if (rc)
        fail("lmdb", "begin", mdb_strerror(rc));
}
static void lm_put(void *p, const void *k, size_t kl, const void *v, size_t vl)
{
    struct lm_thread *t = p;
    MDB_val mk = {kl, (void *)k}, mv = {vl, (void *)v};
    int rc = mdb_put(t->txn, t->s->dbi, &mk, &mv, 0);
    if (rc)
        fail("lmdb", "put", mdb_strerror(rc));
}
static void lm_commit(void *p, int sync)
{
    struct lm_thread *t = p;
    /* the environment flag is shared; every thread of a run asks for the same */
    mdb_env_set_flags(t->s->env, MDB_NOSYNC, !sync);
    int rc = mdb_txn_commit(t->txn);
    if (rc)
        fail("lmdb", "commit", mdb_strerror(rc));
}
static const struct peer lmdb_peer = {"lmdb", "fsync per commit (MDB_NOSYNC without)", lm_store_open,
                                      lm_store_close, lm_thread_open, lm_thread_close,
                                      lm_begin, lm_put, lm_commit, lm_get, lm_scan, NULL};

/* ---- RocksDB: a WriteBatch per commit; WriteOptions.sync; WAL on ---- */
#ifdef SLUICE_HAVE_ROCKSDB
struct rk_store {
    rocksdb_t *db;
    rocksdb_options_t *o;
    rocksdb_writeoptions_t *wo_sync, *wo_nosync;
    rocksdb_readoptions_t *ro;
};
struct rk_thread {
    struct rk_store *s;
    rocksdb_writebatch_t *b;
};
static void *rk_store_open(const char *dir)
{
    struct rk_store *s = calloc(1, sizeof *s);
    s->o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->o, 1);
    rocksdb_options_set_compression(s->o, rocksdb_lz4_compression);
    char *err = NULL;
    s->db = rocksdb_open(s->o, dir, &err);
    if (err)
        fail("rocksdb", "open", err);
    s->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wo_sync, 1);
    s->wo_nosync = rocksdb_writeoptions_create();
    s->ro = rocksdb_readoptions_create();
    return s;
}
static void rk_store_close(void *p)
{
    struct rk_store *s = p;
    rocksdb_close(s->db);
    rocksdb_readoptions_destroy(s->ro);
    rocksdb_writeoptions_destroy(s->wo_sync);
    rocksdb_writeoptions_destroy(s->wo_nosync);
    rocksdb_options_destroy(s->o);
    free(s);
}
static void *rk_thread_open(void *store)
{
    struct rk_thread *t = calloc(1, sizeof *t);
    t->s = store;
    t->b = rocksdb_writebatch_create();
    return t;
}
static void rk_thread_close(void *p)
{
    struct rk_thread *t = p;
    rocksdb_writebatch_destroy(t->b);
    free(t);
}
static void rk_begin(void *p) { rocksdb_writebatch_clear(((struct rk_thread *)p)->b); }
static void rk_put(void *p, const void *k, size_t kl, const void *v, size_t vl)
{
    rocksdb_writebatch_put(((struct rk_thread *)p)->b, k, kl, v, vl);
}
static void rk_commit(void *p, int sync)
{
    struct rk_thread *t = p;
    char *err = NULL;
    rocksdb_write(t->s->db, sync ? t->s->wo_sync : t->s->wo_nosync, t->b, &err);
    if (err)
        fail("rocksdb", "write", err);
}
static int rk_get(void *p, const void *k, size_t kl, void *buf, size_t cap, size_t *vlen)
{
    struct rk_thread *t = p;
    char *err = NULL;
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(t->s->db, t->s->ro, k, kl, &err);
    if (err)
        fail("rocksdb", "get", err);
    if (!v)
        return 0;
    size_t n;
    const char *d = rocksdb_pinnableslice_value(v, &n);
    copy_out(d, n, buf, cap, vlen);
    rocksdb_pinnableslice_destroy(v);
    return 1;
}
static uint64_t rk_scan(void *p, const void *lo, const void *hi, size_t kl)
{
    struct rk_thread *t = p;
    rocksdb_iterator_t *it = rocksdb_create_iterator(t->s->db, t->s->ro);
    uint64_t n = 0;
    for (rocksdb_iter_seek(it, lo, kl); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t ks, vs;
        const char *key = rocksdb_iter_key(it, &ks);
        if (ks != kl || memcmp(key, hi, kl) >= 0)
            break;
        const char *val = rocksdb_iter_value(it, &vs);
        touch(val, vs);
        n++;
    }
    rocksdb_iter_destroy(it);
    return n;
}
static void rk_settle(void *p) { rocksdb_compact_range(((struct rk_store *)p)->db, NULL, 0, NULL, 0); }
static const struct peer rocksdb_peer = {"rocksdb", "WriteOptions.sync (WAL fsync)", rk_store_open,
                                         rk_store_close, rk_thread_open, rk_thread_close,
                                         rk_begin, rk_put, rk_commit, rk_get, rk_scan, rk_settle};
#endif

/* ---- LevelDB: the same shape ---- */
#ifdef SLUICE_HAVE_LEVELDB
struct lv_store {
    leveldb_t *db;
    leveldb_options_t *o;
    leveldb_writeoptions_t *wo_sync, *wo_nosync;
    leveldb_readoptions_t *ro;
};
struct lv_thread {
    struct lv_store *s;
    leveldb_writebatch_t *b;
};
static void *lv_store_open(const char *dir)
{
    struct lv_store *s = calloc(1, sizeof *s);
    s->o = leveldb_options_create();
    leveldb_options_set_create_if_missing(s->o, 1);
    char *err = NULL;
    s->db = leveldb_open(s->o, dir, &err);
    if (err)
        fail("leveldb", "open", err);
    s->wo_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(s->wo_sync, 1);
    s->wo_nosync = leveldb_writeoptions_create();
    s->ro = leveldb_readoptions_create();
    return s;
}
static void lv_store_close(void *p)
{
    struct lv_store *s = p;
    leveldb_close(s->db);
    leveldb_readoptions_destroy(s->ro);
    leveldb_writeoptions_destroy(s->wo_sync);
    leveldb_writeoptions_destroy(s->wo_nosync);
    leveldb_options_destroy(s->o);
    free(s);
}
static void *lv_thread_open(void *store)
{
    struct lv_thread *t = calloc(1, sizeof *t);
    t->s = store;
    t->b = leveldb_writebatch_create();
    return t;
}
static void lv_thread_close(void *p)
{
    struct lv_thread *t = p;
    leveldb_writebatch_destroy(t->b);
    free(t);
}
static void lv_begin(void *p) { leveldb_writebatch_clear(((struct lv_thread *)p)->b); }
static void lv_put(void *p, const void *k, size_t kl, const void *v, size_t vl)
{
    leveldb_writebatch_put(((struct lv_thread *)p)->b, k, kl, v, vl);
}
static void lv_commit(void *p, int sync)
{
    struct lv_thread *t = p;
    char *err = NULL;
    leveldb_write(t->s->db, sync ? t->s->wo_sync : t->s->wo_nosync, t->b, &err);
    if (err)
        fail("leveldb", "write", err);
}
static int lv_get(void *p, const void *k, size_t kl, void *buf, size_t cap, size_t *vlen)
{
    struct lv_thread *t = p;
    char *err = NULL;
    size_t n;
    char *v = leveldb_get(t->s->db, t->s->ro, k, kl, &n, &err);
    if (err)
        fail("leveldb", "get", err);
    if (!v)
        return 0;
    copy_out(v, n, buf, cap, vlen);
    leveldb_free(v);
    return 1;
}
static uint64_t lv_scan(void *p, const void *lo, const void *hi, size_t kl)
{
    struct lv_thread *t = p;
    leveldb_iterator_t *it = leveldb_create_iterator(t->s->db, t->s->ro);
    uint64_t n = 0;
    for (leveldb_iter_seek(it, lo, kl); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t ks, vs;
        const char *key = leveldb_iter_key(it, &ks);
        if (ks != kl || memcmp(key, hi, kl) >= 0)
            break;
        const char *val = leveldb_iter_value(it, &vs);
        touch(val, vs);
        n++;
    }
    leveldb_iter_destroy(it);
    return n;
}
static void lv_settle(void *p) { leveldb_compact_range(((struct lv_store *)p)->db, NULL, 0, NULL, 0); }
static const struct peer leveldb_peer = {"leveldb", "WriteOptions.sync (log fsync)", lv_store_open,
                                         lv_store_close, lv_thread_open, lv_thread_close,
                                         lv_begin, lv_put, lv_commit, lv_get, lv_scan, lv_settle};
#endif

/* ---- SQLite: WAL, a connection per thread, synchronous=FULL to sync, OFF without ---- */
#ifdef SLUICE_HAVE_SQLITE
struct sq_store {
    char path[4096];
};
struct sq_thread {
    sqlite3 *db;
    sqlite3_stmt *ins, *get, *scan;
    int sync; /* the synchronous setting in force: -1 unknown */
};
static void sq_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail("sqlite", sql, err);
}
static void *sq_store_open(const char *dir)
{
    struct sq_store *s = calloc(1, sizeof *s);
    mkdir(dir, 0755);
    snprintf(s->path, sizeof s->path, "%s/bench.sqlite", dir);
    sqlite3 *db;
    if (sqlite3_open(s->path, &db) != SQLITE_OK)
        fail("sqlite", "open", s->path);
    sq_exec(db, "PRAGMA journal_mode=WAL");
    sq_exec(db, "CREATE TABLE IF NOT EXISTS r (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID");
    sqlite3_close(db);
    return s;
}
static void sq_store_close(void *s) { free(s); }
static void *sq_thread_open(void *store)
{
    struct sq_thread *t = calloc(1, sizeof *t);
    if (sqlite3_open(((struct sq_store *)store)->path, &t->db) != SQLITE_OK)
        fail("sqlite", "open", "connection");
    sqlite3_busy_timeout(t->db, 60000);
    if (sqlite3_prepare_v2(t->db, "INSERT OR REPLACE INTO r VALUES (?, ?)", -1, &t->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(t->db, "SELECT v FROM r WHERE k = ?", -1, &t->get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(t->db, "SELECT v FROM r WHERE k >= ? AND k < ?", -1, &t->scan, NULL) != SQLITE_OK)
        fail("sqlite", "prepare", sqlite3_errmsg(t->db));
    t->sync = -1;
    return t;
}
static void sq_thread_close(void *p)
{
    struct sq_thread *t = p;
    sqlite3_finalize(t->ins);
    sqlite3_finalize(t->get);
    sqlite3_finalize(t->scan);
    sqlite3_close(t->db);
    free(t);
}
static void sq_begin(void *p) { sq_exec(((struct sq_thread *)p)->db, "BEGIN IMMEDIATE"); }
static void sq_put(void *p, const void *k, size_t kl, const void *v, size_t vl)
{
    struct sq_thread *t = p;
    sqlite3_bind_blob(t->ins, 1, k, (int)kl, SQLITE_STATIC);
    sqlite3_bind_blob(t->ins, 2, v, (int)vl, SQLITE_STATIC);
    if (sqlite3_step(t->ins) != SQLITE_DONE)
        fail("sqlite", "insert", sqlite3_errmsg(t->db));
    sqlite3_reset(t->ins);
}
static void sq_commit(void *p, int sync)
{
    struct sq_thread *t = p;
    sq_exec(t->db, "COMMIT");
    if (t->sync != sync) { /* takes effect from the next transaction: set it once, early */
        sq_exec(t->db, sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
        t->sync = sync;
    }
}
static int sq_get(void *p, const void *k, size_t kl, void *buf, size_t cap, size_t *vlen)
{
    struct sq_thread *t = p;
    sqlite3_bind_blob(t->get, 1, k, (int)kl, SQLITE_STATIC);
    int rc = sqlite3_step(t->get), found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail("sqlite", "get", sqlite3_errmsg(t->db));
    if (found)
        copy_out(sqlite3_column_blob(t->get, 0), (size_t)sqlite3_column_bytes(t->get, 0), buf, cap, vlen);
    sqlite3_reset(t->get);
    return found;
}
static uint64_t sq_scan(void *p, const void *lo, const void *hi, size_t kl)
{
    struct sq_thread *t = p;
    sqlite3_bind_blob(t->scan, 1, lo, (int)kl, SQLITE_STATIC);
    sqlite3_bind_blob(t->scan, 2, hi, (int)kl, SQLITE_STATIC);
    uint64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(t->scan)) == SQLITE_ROW) {
        touch(sqlite3_column_blob(t->scan, 0), (size_t)sqlite3_column_bytes(t->scan, 0));
        n++;
    }
    if (rc != SQLITE_DONE)
        fail("sqlite", "scan", sqlite3_errmsg(t->db));
    sqlite3_reset(t->scan);
    return n;
}
static const struct peer sqlite_peer = {"sqlite", "WAL, synchronous=FULL (OFF without)", sq_store_open,
                                        sq_store_close, sq_thread_open, sq_thread_close,
                                        sq_begin, sq_put, sq_commit, sq_get, sq_scan, NULL};
#endif

const struct peer *const bench_peers[] = {
#ifdef SLUICE_HAVE_ROCKSDB
    &rocksdb_peer,
#endif
#ifdef SLUICE_HAVE_LEVELDB
    &leveldb_peer,
#endif
    &lmdb_peer,
#ifdef SLUICE_HAVE_SQLITE
    &sqlite_peer,
#endif
    NULL,
};

/* ---- sluice itself behind the same interface ---- */

int bench_sluice_manual_compaction;

void bench_wait_spare(sluice_db *db) { (void)db_wait_spare(db, 10000); }

struct sl_thread {
    sluice_db *db;
    uint64_t last_lsn;
};

static void sl_check(const char *what, int r)
{
    if (r)
        fail("sluice", what, sluice_strerror(r));
}

void bench_warm_log(sluice_db *db)
{
    static char val[1024];
    memset(val, 'w', sizeof val);
    struct sluice_stats st;
    uint64_t max = (uint64_t)64 << 20; /* sluice_options_init's segment_bytes */
    for (uint64_t i = 0; i < (1u << 20); i++) {
        if (i % 1024 == 0 && sluice_stats(db, &st) == 0 && st.active_segment_bytes >= max)
            break;
        sl_check("warm-up put", sluice_put(db, "warm-up", 7, i, val, sizeof val, SLUICE_ACK_MEMORY, NULL));
    }
    /* its sealed segments compacted now, not under the measured puts */
    sl_check("warm-up compact", sluice_compact(db));
    bench_wait_spare(db);
    /* and the disk settled: the warm-up's LMDB writes, deleted segments (ext4 discards
     * on this machine) and journal commits went on for a second or two and raised the
     * next durable puts' p99 by half (measured: 2 s of rest brought it back) */
    sync();
    struct timespec settle = {2, 0};
    nanosleep(&settle, NULL);
}

static void *sl_store_open(const char *dir)
{
    sluice_options o;
    sluice_options_init(&o);
    o.manual_compaction = bench_sluice_manual_compaction;
    sluice_db *db;
    sl_check("open", sluice_open(dir, &o, &db));
    bench_wait_spare(db);
    return db;
}
static void sl_store_close(void *db) { sl_check("close", sluice_close(db)); }
static void *sl_thread_open(void *db)
{
    struct sl_thread *t = calloc(1, sizeof *t);
    t->db = db;
    return t;
}
static void sl_thread_close(void *t) { free(t); }
static void sl_begin(void *t) { (void)t; }
static void sl_put(void *p, const void *k, size_t kl, const void *v, size_t vl)
{
    struct sl_thread *t = p;
    sl_check("put", sluice_put(t->db, k, kl - 8, be64_of((const uint8_t *)k + kl - 8), v, vl,
                               SLUICE_ACK_MEMORY, &t->last_lsn));
}
static void sl_commit(void *p, int sync)
{
    struct sl_thread *t = p;
    if (sync && t->last_lsn)
        sl_check("wait", sluice_wait(t->db, t->last_lsn, SLUICE_ACK_DURABLE, 60000));
}
static int sl_get(void *p, const void *k, size_t kl, void *buf, size_t cap, size_t *vlen)
{
    struct sl_thread *t = p;
    int r = sluice_get(t->db, k, kl - 8, be64_of((const uint8_t *)k + kl - 8), buf, cap, vlen);
    if (r == SLUICE_NOTFOUND)
        return 0;
    sl_check("get", r);
    return 1;
}
static uint64_t sl_scan(void *p, const void *lo, const void *hi, size_t kl)
{
    struct sl_thread *t = p;
    sluice_iter *it;
    sl_check("iter", sluice_iter_open(t->db, lo, kl - 8, be64_of((const uint8_t *)lo + kl - 8),
                                      be64_of((const uint8_t *)hi + kl - 8), &it));
    sluice_record rec;
    uint64_t n = 0;
    int r;
    while ((r = sluice_iter_next(it, &rec)) == 0) {
        touch(rec.val, rec.vlen);
        n++;
    }
    sluice_iter_close(it);
    if (r != SLUICE_END)
        sl_check("scan", r);
    return n;
}
static void sl_settle(void *db) { sl_check("compact", sluice_compact(db)); }
const struct peer bench_sluice_engine = {"sluice", "MEMORY put; commit(sync) waits for DURABLE",
                                         sl_store_open, sl_store_close, sl_thread_open,
                                         sl_thread_close, sl_begin, sl_put, sl_commit,
                                         sl_get, sl_scan, sl_settle};
