/* The peers of sluice-bench (peers.h). Any failure ends the benchmark: numbers from a
 * store that refused writes would mean nothing. */
#include "peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static void fail(const char *peer, const char *what, const char *why)
{
    fprintf(stderr, "sluice-bench: %s: %s: %s\n", peer, what, why ? why : "failed");
    exit(2);
}

/* ---- LMDB: one write transaction per commit; MDB_NOSYNC toggled for non-durable ---- */

struct lm_store {
    MDB_env *env;
    MDB_dbi dbi;
};
struct lm_thread {
    struct lm_store *s;
    MDB_txn *txn;
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
static void lm_thread_close(void *t) { free(t); }
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
                                      lm_begin, lm_put, lm_commit};

/* ---- RocksDB: a WriteBatch per commit; WriteOptions.sync; WAL on ---- */
#ifdef SLUICE_HAVE_ROCKSDB
struct rk_store {
    rocksdb_t *db;
    rocksdb_options_t *o;
    rocksdb_writeoptions_t *wo_sync, *wo_nosync;
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
    return s;
}
static void rk_store_close(void *p)
{
    struct rk_store *s = p;
    rocksdb_close(s->db);
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
static const struct peer rocksdb_peer = {"rocksdb", "WriteOptions.sync (WAL fsync)", rk_store_open,
                                         rk_store_close, rk_thread_open, rk_thread_close,
                                         rk_begin, rk_put, rk_commit};
#endif

/* ---- LevelDB: the same shape ---- */
#ifdef SLUICE_HAVE_LEVELDB
struct lv_store {
    leveldb_t *db;
    leveldb_options_t *o;
    leveldb_writeoptions_t *wo_sync, *wo_nosync;
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
    return s;
}
static void lv_store_close(void *p)
{
    struct lv_store *s = p;
    leveldb_close(s->db);
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
static const struct peer leveldb_peer = {"leveldb", "WriteOptions.sync (log fsync)", lv_store_open,
                                         lv_store_close, lv_thread_open, lv_thread_close,
                                         lv_begin, lv_put, lv_commit};
#endif

/* ---- SQLite: WAL, a connection per thread, synchronous=FULL to sync, OFF without ---- */
#ifdef SLUICE_HAVE_SQLITE
struct sq_store {
    char path[4096];
};
struct sq_thread {
    sqlite3 *db;
    sqlite3_stmt *ins;
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
    if (sqlite3_prepare_v2(t->db, "INSERT OR REPLACE INTO r VALUES (?, ?)", -1, &t->ins, NULL) != SQLITE_OK)
        fail("sqlite", "prepare", sqlite3_errmsg(t->db));
    t->sync = -1;
    return t;
}
static void sq_thread_close(void *p)
{
    struct sq_thread *t = p;
    sqlite3_finalize(t->ins);
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
static const struct peer sqlite_peer = {"sqlite", "WAL, synchronous=FULL (OFF without)", sq_store_open,
                                        sq_store_close, sq_thread_open, sq_thread_close,
                                        sq_begin, sq_put, sq_commit};
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
