/*
 * The cold tier's LMDB environment (cold.h): open and close, map growth, read views,
 * meta, backups and the inspector's walks. Reads are in cold_read.c, the compactor's
 * writes in cold_apply.c, what they share in cold_store.h.
 */
#include "cold_store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sluice.h"

/*
 * Every LMDB return code as an honest sluice code: SLUICE_ECORRUPT only for bytes that
 * are wrong, a limit as SLUICE_ELIMIT, misuse of LMDB by sluice as SLUICE_EINTERNAL.
 */
int cold_lmdb_error(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return SLUICE_NOTFOUND;
    case MDB_CORRUPTED:      /* a page of the wrong type or shape */
    case MDB_PAGE_NOTFOUND:  /* a page number beyond the file */
    case MDB_INVALID:        /* data.mdb is not an LMDB file */
        return SLUICE_ECORRUPT;
    case MDB_VERSION_MISMATCH: /* the environment was made by another LMDB version */
    case MDB_INCOMPATIBLE:     /* a database of DIR/cold has flags sluice never sets */
        return SLUICE_EVERSION;
    case MDB_PANIC:          /* a meta page update failed: LMDB refuses every later call */
        return SLUICE_EPOISONED;
    case MDB_MAP_FULL:       /* (the compactor grows the map; elsewhere a limit) */
    case MDB_DBS_FULL:
    case MDB_READERS_FULL:   /* SLUICE_READERS_MAX read views are open */
    case MDB_TLS_FULL:
    case MDB_TXN_FULL:       /* more dirty pages than one transaction may hold */
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
    case MDB_MAP_RESIZED:    /* another process grew the map (cold_view_begin adopts it) */
        return SLUICE_ELIMIT;
    case MDB_KEYEXIST:       /* sluice never asks for MDB_NOOVERWRITE */
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_BAD_VALSIZE:    /* keys are checked against SLUICE_KEY_MAX before */
    case MDB_BAD_DBI:
        return SLUICE_EINTERNAL;
    case ENOMEM:
        return SLUICE_ENOMEM;
    default:
        /* LMDB passes system errors through as positive errno values */
        return rc > 0 ? -rc : SLUICE_EINTERNAL;
    }
}
int cold_open(const char *path, int read_only, size_t map_bytes, struct cold **out)
{
    struct stat st;
    if (read_only && stat(path, &st) < 0)
        return errno == ENOENT ? SLUICE_NOTFOUND : -errno;
    if (!read_only && mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    struct cold *c = calloc(1, sizeof *c);
    if (!c)
        return SLUICE_ENOMEM;
    c->read_only = read_only;
    pthread_rwlock_init(&c->grow, NULL);
    pthread_mutex_init(&c->pool_mu, NULL);
    struct statvfs fs;
    c->map_max = statvfs(path, &fs) == 0 ? (uint64_t)fs.f_blocks * fs.f_frsize : UINT64_MAX / 4;
    int r = cold_lmdb_error(mdb_env_create(&c->env));
    if (r)
        goto err;
    /* the reader table is LMDB's limit on read views at once (sluice.h): set, not left
     * at LMDB's default of 126; below a megabyte the first transaction (four databases)
     * may not fit */
    if ((r = cold_lmdb_error(mdb_env_set_maxdbs(c->env, 4))) ||
        (r = cold_lmdb_error(mdb_env_set_maxreaders(c->env, SLUICE_READERS_MAX))) ||
        (r = cold_lmdb_error(mdb_env_set_mapsize(c->env, map_bytes < (1u << 20) ? (1u << 20) : map_bytes))))
        goto err;
    unsigned flags = MDB_NOTLS | (read_only ? MDB_RDONLY : 0) | (read_only == COLD_READ_NOLOCK ? MDB_NOLOCK : 0);
    r = cold_lmdb_error(mdb_env_open(c->env, path, flags, 0644));
    if (r)
        goto err;
    int dead;
    if (read_only != COLD_READ_NOLOCK)
        mdb_reader_check(c->env, &dead); /* a killed reader keeps its slot until this */
    MDB_txn *txn;
    r = cold_lmdb_error(mdb_txn_begin(c->env, NULL, read_only ? MDB_RDONLY : 0, &txn));
    if (r)
        goto err;
    unsigned fl = read_only ? 0 : MDB_CREATE;
    if ((r = cold_lmdb_error(mdb_dbi_open(txn, "meta", fl, &c->meta))) ||
        (r = cold_lmdb_error(mdb_dbi_open(txn, "series", fl, &c->series))) ||
        (r = cold_lmdb_error(mdb_dbi_open(txn, "names", fl, &c->names))) ||
        (r = cold_lmdb_error(mdb_dbi_open(txn, "blocks", fl, &c->blocks)))) {
        mdb_txn_abort(txn);
        goto err;
    }
    MDB_val k = {7, "version"}, v;
    r = cold_lmdb_error(mdb_get(txn, c->meta, &k, &v));
    if (r == SLUICE_NOTFOUND && !read_only) {
        uint32_t ver = COLD_FORMAT_VERSION;
        v = (MDB_val){sizeof ver, &ver};
        r = cold_lmdb_error(mdb_put(txn, c->meta, &k, &v, 0));
    } else if (r == 0) {
        uint32_t ver = 0;
        if (v.mv_size == sizeof ver)
            memcpy(&ver, v.mv_data, sizeof ver);
        r = ver == COLD_FORMAT_VERSION ? 0 : v.mv_size == sizeof ver ? SLUICE_EVERSION : SLUICE_ECORRUPT;
    }
    if (r) {
        mdb_txn_abort(txn);
        goto err;
    }
    /* where the last-value cache starts (cold_latest.c). A damaged value is not this
     * open's to report (reads of the checkpoint do): the cache then waits for a round. */
    uint64_t compacted_lsn = 0;
    int m = r ? 0 : cold_meta_u64(txn, c->meta, "compacted_lsn", &compacted_lsn);
    if (m && m != SLUICE_NOTFOUND)
        compacted_lsn = UINT64_MAX; /* no view is at it: the cache never builds */
    if (r) {
        mdb_txn_abort(txn);
        goto err;
    }
    if ((r = cold_lmdb_error(mdb_txn_commit(txn))) || (r = cold_latest_init(c, compacted_lsn)))
        goto err;
    *out = c;
    return 0;
err:
    cold_close(c);
    return r;
}

void cold_keep_free(struct apply_keep *k);

void cold_close(struct cold *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->npool; i++)
        mdb_txn_abort(c->pool[i]);
    if (c->env)
        mdb_env_close(c->env);
    pthread_rwlock_destroy(&c->grow);
    pthread_mutex_destroy(&c->pool_mu);
    free(c->raw);
    free(c->enc);
    free(c->scratch);
    free(c->lz4_gate);
    cold_keep_free(c->keep);
    cold_latest_free(c);
    free(c);
}

/* A value of exactly `size` bytes; any other size is damage. */
static int get_fixed(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, void *out,
                     size_t size)
{
    MDB_val k = {klen, (void *)key}, v;
    int r = cold_lmdb_error(mdb_get(txn, dbi, &k, &v));
    if (r)
        return r;
    if (v.mv_size != size)
        return SLUICE_ECORRUPT;
    memcpy(out, v.mv_data, size);
    return 0;
}

int cold_meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out)
{
    return get_fixed(txn, dbi, name, strlen(name), out, sizeof *out);
}

/* Gives every pooled read transaction's reader slot back to LMDB. c->grow held. */
static void pool_drain(struct cold *c)
{
    pthread_mutex_lock(&c->pool_mu);
    while (c->npool)
        mdb_txn_abort(c->pool[--c->npool]);
    pthread_mutex_unlock(&c->pool_mu);
}

/* Grow lock held exclusively. mdb_env_set_mapsize refuses (EINVAL) while a transaction
 * of this process is open and leaves the map as it was; any other failure happens after
 * it unmapped the old map, and breaks the environment (struct cold, broken). */
int cold_remap(struct cold *c, size_t size)
{
    int rc = mdb_env_set_mapsize(c->env, size);
    int r = cold_lmdb_error(rc);
    if (rc && rc != EINVAL)
        atomic_store(&c->broken, r);
    return r;
}

/* Another process grew the map: adopt its size (LMDB resizes only with no transaction
 * of this process open, hence the exclusive grow lock). */
static int adopt_map_size(struct cold *c)
{
    pthread_rwlock_wrlock(&c->grow);
    int r = cold_remap(c, 0);
    pthread_rwlock_unlock(&c->grow);
    return r;
}

static int view_txn(struct cold *c, MDB_txn **txn)
{
    *txn = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->npool)
        *txn = c->pool[--c->npool];
    pthread_mutex_unlock(&c->pool_mu);
    if (*txn) {
        int rc = mdb_txn_renew(*txn);
        if (!rc)
            return 0;
        mdb_txn_abort(*txn);
        *txn = NULL;
        if (rc == MDB_MAP_RESIZED)
            return rc;
    }
    int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_READERS_FULL) {
        /* idle pooled transactions hold reader slots too: give them back first */
        pool_drain(c);
        rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, txn);
    }
    return rc;
}

int cold_copy(struct cold *c, const char *dest, uint64_t *compacted_lsn)
{
    int rc = atomic_load(&c->broken);
    if (rc)
        return rc;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&c->grow);
        rc = mdb_env_copy2(c->env, dest, MDB_CP_COMPACT);
        pthread_rwlock_unlock(&c->grow);
        /* A writer in another process grew the map: adopt its size and copy again, into
         * a fresh file (LMDB creates the copy with O_EXCL, before it fails). */
        if (rc != MDB_MAP_RESIZED || attempt == 3)
            break;
        char file[PATH_MAX];
        if (snprintf(file, sizeof file, "%s/data.mdb", dest) >= (int)sizeof file)
            return SLUICE_ELIMIT;
        if (unlink(file) && errno != ENOENT)
            return -errno;
        int r = adopt_map_size(c);
        if (r)
            return r;
    }
    int r = cold_lmdb_error(rc);
    if (r)
        return r;
    struct cold *copy;
    if ((r = cold_open(dest, 1, 1u << 20, &copy)))
        return r;
    uint8_t uuid[16];
    int has_uuid;
    r = cold_meta(copy, compacted_lsn, uuid, &has_uuid);
    cold_close(copy);
    return r;
}

int cold_view_begin(struct cold *c, struct cold_view *v)
{
    v->c = c;
    v->txn = NULL;
    int r = atomic_load(&c->broken);
    if (r)
        return r;
    for (int attempt = 0;; attempt++) {
        pthread_rwlock_rdlock(&c->grow);
        int rc = view_txn(c, &v->txn);
        if (rc != MDB_MAP_RESIZED || attempt == 3) {
            r = cold_lmdb_error(rc);
            break;
        }
        pthread_rwlock_unlock(&c->grow);
        if ((r = adopt_map_size(c)))
            return r;
    }
    if (!r) {
        r = cold_meta_u64(v->txn, c->meta, "compacted_lsn", &v->compacted_lsn);
        if (r == SLUICE_NOTFOUND) {
            v->compacted_lsn = 0;
            r = 0;
        }
        if (r)
            mdb_txn_abort(v->txn);
    }
    if (r) {
        v->txn = NULL;
        pthread_rwlock_unlock(&c->grow);
    }
    return r;
}

void cold_view_end(struct cold_view *v)
{
    if (!v->txn)
        return;
    struct cold *c = v->c;
    mdb_txn_reset(v->txn);
    pthread_mutex_lock(&c->pool_mu);
    if (c->npool < COLD_TXN_POOL) {
        c->pool[c->npool++] = v->txn;
        v->txn = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (v->txn)
        mdb_txn_abort(v->txn);
    v->txn = NULL;
    pthread_rwlock_unlock(&c->grow);
}

int cold_meta(struct cold *c, uint64_t *compacted_lsn, uint8_t uuid[16], int *has_uuid)
{
    struct cold_view v;
    int r = cold_view_begin(c, &v);
    if (r)
        return r;
    *compacted_lsn = v.compacted_lsn;
    MDB_val k = {4, "uuid"}, val;
    r = cold_lmdb_error(mdb_get(v.txn, c->meta, &k, &val));
    *has_uuid = r == 0 && val.mv_size == 16;
    if (*has_uuid)
        memcpy(uuid, val.mv_data, 16);
    r = r == SLUICE_NOTFOUND || *has_uuid ? 0 : (r ? r : SLUICE_ECORRUPT);
    cold_view_end(&v);
    return r;
}

int cold_sid_lookup(MDB_txn *txn, struct cold *c, const void *key, size_t klen, uint32_t *sid)
{
    return get_fixed(txn, c->series, key, klen, sid, sizeof *sid);
}

/* ---- inspection (the CLI: dump, info, verify) ---- */

int cold_series_of(struct cold_view *v, const void *key, size_t klen, uint32_t *series)
{
    return cold_sid_lookup(v->txn, v->c, key, klen, series);
}

int cold_series_name(struct cold_view *v, uint32_t series, const void **key, size_t *klen)
{
    uint8_t k[4];
    be32(k, series);
    MDB_val mk = {sizeof k, k}, mv;
    int r = cold_lmdb_error(mdb_get(v->txn, v->c->names, &mk, &mv));
    if (r)
        return r;
    if (mv.mv_size == 0 || mv.mv_size > SLUICE_KEY_MAX)
        return SLUICE_ECORRUPT;
    *key = mv.mv_data;
    *klen = mv.mv_size;
    return 0;
}

int cold_for_each_block(struct cold_view *v, uint32_t series,
                        int (*fn)(void *arg, const struct cold_block_ref *b), void *arg)
{
    MDB_cursor *cur;
    int r = cold_lmdb_error(mdb_cursor_open(v->txn, v->c->blocks, &cur));
    if (r)
        return r;
    uint8_t first[BLOCK_KEY_BYTES];
    block_key(first, series == UINT32_MAX ? 0 : series, 0);
    MDB_val k = {sizeof first, first}, val;
    int rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
        struct cold_block_ref b = {.data = val.mv_data, .len = val.mv_size};
        if (k.mv_size == BLOCK_KEY_BYTES) {
            b.series = get_be32(k.mv_data);
            for (int i = 0; i < 8; i++)
                b.key_ts = b.key_ts << 8 | ((const uint8_t *)k.mv_data)[4 + i];
        } else {
            b.bad_key = 1;
        }
        if (series != UINT32_MAX && !b.bad_key && b.series != series)
            break;
        if ((r = fn(arg, &b)))
            break;
    }
    if (!r && rc != 0 && rc != MDB_NOTFOUND)
        r = cold_lmdb_error(rc);
    mdb_cursor_close(cur);
    return r;
}

int cold_for_each_offset(struct cold_view *v, int (*fn)(void *arg, const char *source, uint64_t offset),
                         void *arg)
{
    MDB_cursor *cur;
    int r = cold_lmdb_error(mdb_cursor_open(v->txn, v->c->meta, &cur));
    if (r)
        return r;
    MDB_val k = {2, "o:"}, val;
    int rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
        if (k.mv_size < 2 || memcmp(k.mv_data, "o:", 2) != 0)
            break;
        char name[SLUICE_SOURCE_MAX + 1];
        size_t n = k.mv_size - 2;
        uint64_t off;
        if (n == 0 || n > SLUICE_SOURCE_MAX || val.mv_size != sizeof off) {
            r = SLUICE_ECORRUPT;
            break;
        }
        memcpy(name, (const char *)k.mv_data + 2, n);
        name[n] = 0;
        memcpy(&off, val.mv_data, sizeof off);
        if ((r = fn(arg, name, off)))
            break;
    }
    if (!r && rc != 0 && rc != MDB_NOTFOUND)
        r = cold_lmdb_error(rc);
    mdb_cursor_close(cur);
    return r;
}

int cold_counts(struct cold_view *v, uint64_t *series, uint64_t *blocks, uint64_t *next_series)
{
    MDB_stat st;
    int r = cold_lmdb_error(mdb_stat(v->txn, v->c->series, &st));
    if (r)
        return r;
    *series = st.ms_entries;
    if ((r = cold_lmdb_error(mdb_stat(v->txn, v->c->blocks, &st))))
        return r;
    *blocks = st.ms_entries;
    r = cold_meta_u64(v->txn, v->c->meta, "next_series", next_series);
    if (r == SLUICE_NOTFOUND)
        *next_series = 0, r = 0;
    return r;
}

int cold_usage(struct cold *c, uint64_t *map_bytes, uint64_t *used_bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    int r = atomic_load(&c->broken);
    if (r)
        return r;
    /* Both read the meta pages through the map, which the compactor may be remapping to
     * grow it: hold the grow lock shared like a view does. */
    pthread_rwlock_rdlock(&c->grow);
    r = cold_lmdb_error(mdb_env_info(c->env, &info));
    if (!r)
        r = cold_lmdb_error(mdb_env_stat(c->env, &st));
    pthread_rwlock_unlock(&c->grow);
    if (r)
        return r;
    *map_bytes = info.me_mapsize;
    *used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    return 0;
}

int cold_free_bytes(struct cold *c, uint64_t *free_bytes)
{
    struct cold_view v;
    int r = cold_view_begin(c, &v);
    if (r)
        return r;
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(c->env, &info);
    uint64_t used = 2; /* the two meta pages */
    MDB_dbi dbis[] = {0 /* the free list */, 1 /* the main database */, c->meta, c->series,
                      c->names, c->blocks};
    for (size_t i = 0; !r && i < sizeof dbis / sizeof dbis[0]; i++)
        if (!(r = cold_lmdb_error(mdb_stat(v.txn, dbis[i], &st))))
            used += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    cold_view_end(&v);
    if (!r) {
        uint64_t pages = info.me_last_pgno + 1;
        *free_bytes = (pages > used ? pages - used : 0) * st.ms_psize;
    }
    return r;
}

