#include "cold.h"

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

#include "block.h"
#include "crc32c.h"
#include "record.h"
#include "sluice.h"

#define COLD_TXN_POOL 16

struct cold {
    MDB_env *env;
    MDB_dbi meta, series, names, blocks;
    int read_only;
    /* Views hold it shared; growing the map takes it exclusively, because LMDB may only
     * resize while no transaction of this process is open. */
    pthread_rwlock_t grow;
    /* Read transactions reset and kept for the next view: mdb_txn_renew reuses the
     * reader slot, where mdb_txn_begin searches the reader table under LMDB's mutex. */
    pthread_mutex_t pool_mu;
    MDB_txn *pool[COLD_TXN_POOL];
    int npool;
    /* compactor-only scratch, kept from one cold_apply to the next: freeing and
     * reallocating megabytes per round made the allocator return pages to the kernel,
     * and every such unmap interrupts the producers' cores (TLB shootdown IPIs, costly
     * under a hypervisor): 10-40 µs put stalls while compaction runs */
    uint8_t *raw, *enc, *scratch;
    struct apply_keep *keep;
    /* compactor-only: per series id, whether to try lz4 on its next block (lz4_gate) */
    uint8_t *lz4_gate;
    size_t lz4_gate_cap;
    /* called between the transactions of one cold_apply (cold_set_pacer) */
    void (*pace)(void *arg, uint64_t bytes);
    void *pace_arg;
    uint64_t share_bytes; /* records per transaction (0: COLD_TXN_BYTES) */
    /* The map is never grown past what the filesystem could hold: doubling beyond it
     * cannot make room, and an unbounded doubling ends in a failed mmap. */
    uint64_t map_max;
    /* A remap failed (mdb_env_set_mapsize unmaps first, then maps anew): LMDB is left
     * without a map, and any further use would fault. Every later call returns this
     * error; reopening the database is the way out. */
    _Atomic int broken;
};

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
static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define BLOCK_KEY_BYTES 12
static void block_key(uint8_t k[BLOCK_KEY_BYTES], uint32_t series, uint64_t ts)
{
    be32(k, series);
    be64(k + 4, ts);
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
    if ((r = cold_lmdb_error(mdb_txn_commit(txn))))
        goto err;
    *out = c;
    return 0;
err:
    cold_close(c);
    return r;
}

static void apply_keep_free(struct apply_keep *k);

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
    apply_keep_free(c->keep);
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

static int meta_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out)
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
static int remap(struct cold *c, size_t size)
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
    int r = remap(c, 0);
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
        r = meta_u64(v->txn, c->meta, "compacted_lsn", &v->compacted_lsn);
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

static int series_id(MDB_txn *txn, struct cold *c, const void *key, size_t klen, uint32_t *sid)
{
    return get_fixed(txn, c->series, key, klen, sid, sizeof *sid);
}

/* ---- decoding a block for a reader ---- */

/* Buffers sized to the largest block seen: an all-series scan holds one per series. */
struct decoded {
    uint8_t *raw;
    size_t raw_cap;
    struct block_rec *recs;
    size_t recs_cap;
    struct block_hdr hdr;
};

static void decoded_free(struct decoded *d)
{
    free(d->raw);
    free(d->recs);
}

static int decode_into(struct decoded *d, const MDB_val *val, uint32_t series)
{
    struct block_hdr h;
    int r = block_peek(val->mv_data, val->mv_size, &h);
    if (r)
        return r;
    if (h.raw_bytes > d->raw_cap) {
        uint8_t *p = realloc(d->raw, h.raw_bytes);
        if (!p)
            return SLUICE_ENOMEM;
        d->raw = p;
        d->raw_cap = h.raw_bytes;
    }
    if (h.count > COLD_BLOCK_RECORDS)
        return SLUICE_ECORRUPT; /* more records than a block may hold */
    if (h.count > d->recs_cap) {
        struct block_rec *p = realloc(d->recs, h.count * sizeof *p);
        if (!p)
            return SLUICE_ENOMEM;
        d->recs = p;
        d->recs_cap = h.count;
    }
    r = block_decode(val->mv_data, val->mv_size, d->raw, d->recs, d->recs_cap, &d->hdr);
    if (r == SLUICE_ERANGE)
        return SLUICE_ECORRUPT; /* more records than a block may hold */
    if (!r && d->hdr.series != series)
        return SLUICE_ECORRUPT;
    return r;
}

/* Positions cur on the last block of series starting at or before ts; NOTFOUND if none. */
static int seek_block_le(MDB_cursor *cur, uint32_t series, uint64_t ts, MDB_val *k, MDB_val *v)
{
    uint8_t want[BLOCK_KEY_BYTES];
    block_key(want, series, ts);
    *k = (MDB_val){sizeof want, want};
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0 && k->mv_size == BLOCK_KEY_BYTES && memcmp(k->mv_data, want, BLOCK_KEY_BYTES) == 0)
        return 0;
    rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cur, k, v, MDB_LAST) : mdb_cursor_get(cur, k, v, MDB_PREV);
    if (rc)
        return cold_lmdb_error(rc);
    if (k->mv_size != BLOCK_KEY_BYTES)
        return SLUICE_ECORRUPT;
    return get_be32(k->mv_data) == series ? 0 : SLUICE_NOTFOUND;
}

static int copy_out(const struct block_rec *rec, uint64_t *lsn, void *buf, size_t cap, size_t *vlen)
{
    *lsn = rec->lsn;
    *vlen = rec->vlen;
    if (cap < rec->vlen)
        return SLUICE_ERANGE;
    if (rec->vlen)
        memcpy(buf, rec->val, rec->vlen);
    return 0;
}

int cold_get_le(struct cold_view *v, const void *key, size_t klen, uint64_t at, uint64_t *ts,
                uint64_t *lsn, void *buf, size_t cap, size_t *vlen)
{
    uint32_t sid;
    int r = series_id(v->txn, v->c, key, klen, &sid);
    if (r)
        return r;
    MDB_cursor *cur;
    if ((r = cold_lmdb_error(mdb_cursor_open(v->txn, v->c->blocks, &cur))))
        return r;
    MDB_val k, val;
    r = seek_block_le(cur, sid, at, &k, &val);
    struct block_hdr h;
    uint8_t small[8192], *raw = small; /* a typical block's body fits on the stack */
    if (!r && (r = block_peek(val.mv_data, val.mv_size, &h)) == 0 && h.raw_bytes > sizeof small &&
        !(raw = malloc(h.raw_bytes)))
        r = SLUICE_ENOMEM;
    if (!r) {
        struct block_rec rec;
        r = block_find_le(val.mv_data, val.mv_size, at, raw, &rec, &h);
        if (r == SLUICE_NOTFOUND || (!r && h.series != sid))
            r = SLUICE_ECORRUPT; /* the block's key says it is this series' and starts <= at */
        if (!r) {
            *ts = rec.ts;
            r = copy_out(&rec, lsn, buf, cap, vlen);
        }
    }
    if (raw != small)
        free(raw);
    mdb_cursor_close(cur);
    return r;
}

int cold_get(struct cold_view *v, const void *key, size_t klen, uint64_t ts, uint64_t *lsn,
             void *buf, size_t cap, size_t *vlen)
{
    uint64_t found = 0;
    int r = cold_get_le(v, key, klen, ts, &found, lsn, buf, cap, vlen);
    if ((r == 0 || r == SLUICE_ERANGE) && found != ts)
        return SLUICE_NOTFOUND;
    return r;
}

int cold_offset_get(struct cold_view *v, const char *source, uint64_t *offset)
{
    char name[2 + SLUICE_SOURCE_MAX + 1] = "o:";
    size_t n = strnlen(source, SLUICE_SOURCE_MAX);
    memcpy(name + 2, source, n);
    name[2 + n] = 0;
    return meta_u64(v->txn, v->c->meta, name, offset);
}

/* ---- series cursors ---- */

struct cold_series_cursor {
    struct cold_view *v;
    MDB_cursor *cur;
    uint32_t series;
    uint64_t from, to;
    struct decoded d;
    size_t i;
    int loaded, done;
};

int cold_series_open_id(struct cold_view *v, uint32_t series, uint64_t from, uint64_t to,
                        struct cold_series_cursor **out)
{
    struct cold_series_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return SLUICE_ENOMEM;
    *c = (struct cold_series_cursor){.v = v, .series = series, .from = from, .to = to};
    int r = cold_lmdb_error(mdb_cursor_open(v->txn, v->c->blocks, &c->cur));
    if (r) {
        free(c);
        return r;
    }
    *out = c;
    return 0;
}

int cold_series_open(struct cold_view *v, const void *key, size_t klen, uint64_t from,
                     uint64_t to, struct cold_series_cursor **out)
{
    uint32_t sid;
    int r = series_id(v->txn, v->c, key, klen, &sid);
    if (r == SLUICE_NOTFOUND) {
        /* a key the cold tier never saw: a cursor that is at its end at once */
        r = cold_series_open_id(v, UINT32_MAX, 0, 0, out);
        if (!r)
            (*out)->done = 1;
        return r;
    }
    return r ? r : cold_series_open_id(v, sid, from, to, out);
}

/* Loads the first block to read: the one holding `from`, else the next. */
static int series_first(struct cold_series_cursor *c)
{
    MDB_val k, val;
    int r = seek_block_le(c->cur, c->series, c->from, &k, &val);
    if (r == SLUICE_NOTFOUND) { /* no block starts at or before from: the first one */
        uint8_t want[BLOCK_KEY_BYTES];
        block_key(want, c->series, 0);
        k = (MDB_val){sizeof want, want};
        int rc = mdb_cursor_get(c->cur, &k, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND || (rc == 0 && get_be32(k.mv_data) != c->series))
            return SLUICE_END;
        r = cold_lmdb_error(rc);
    }
    return r ? r : decode_into(&c->d, &val, c->series);
}

static int series_advance_block(struct cold_series_cursor *c)
{
    MDB_val k, val;
    int rc = mdb_cursor_get(c->cur, &k, &val, MDB_NEXT);
    if (rc == MDB_NOTFOUND)
        return SLUICE_END;
    if (rc)
        return cold_lmdb_error(rc);
    if (k.mv_size != BLOCK_KEY_BYTES)
        return SLUICE_ECORRUPT;
    if (get_be32(k.mv_data) != c->series)
        return SLUICE_END;
    return decode_into(&c->d, &val, c->series);
}

int cold_series_next(struct cold_series_cursor *c, struct cold_rec *rec)
{
    for (;;) {
        if (c->done)
            return SLUICE_END;
        int r = 0;
        if (!c->loaded) {
            r = series_first(c);
            c->loaded = 1;
            c->i = 0;
        } else if (c->i == c->d.hdr.count) {
            r = series_advance_block(c);
            c->i = 0;
        }
        if (r) {
            c->done = 1;
            return r;
        }
        const struct block_rec *b = &c->d.recs[c->i++];
        if (b->ts < c->from)
            continue;
        if (b->ts >= c->to) {
            c->done = 1;
            return SLUICE_END;
        }
        *rec = (struct cold_rec){.type = REC_PUT, .ts = b->ts, .lsn = b->lsn, .val = b->val,
                                 .vlen = b->vlen};
        return 0;
    }
}

void cold_series_close(struct cold_series_cursor *c)
{
    if (!c)
        return;
    if (c->cur)
        mdb_cursor_close(c->cur);
    decoded_free(&c->d);
    free(c);
}

int cold_for_each_series(struct cold_view *v,
                         int (*fn)(void *arg, uint32_t series, const void *key, size_t klen),
                         void *arg)
{
    MDB_cursor *cur;
    int r = cold_lmdb_error(mdb_cursor_open(v->txn, v->c->names, &cur));
    if (r)
        return r;
    MDB_val k, val;
    int rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size != 4 || val.mv_size == 0 || val.mv_size > SLUICE_KEY_MAX) {
            r = SLUICE_ECORRUPT;
            break;
        }
        if ((r = fn(arg, get_be32(k.mv_data), val.mv_data, val.mv_size)))
            break;
        rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT);
    }
    if (!r && rc != MDB_NOTFOUND)
        r = cold_lmdb_error(rc);
    mdb_cursor_close(cur);
    return r;
}

/* ---- inspection (the CLI: dump, info, verify) ---- */

int cold_series_of(struct cold_view *v, const void *key, size_t klen, uint32_t *series)
{
    return series_id(v->txn, v->c, key, klen, series);
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
    r = meta_u64(v->txn, v->c->meta, "next_series", next_series);
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

/* ---- applying a compaction batch (compactor thread only) ---- */

#define E_MAP_FULL 1 /* internal: the transaction must be retried in a larger map */

static int mdb_rc(int rc) { return rc == MDB_MAP_FULL ? E_MAP_FULL : cold_lmdb_error(rc); }

struct arena {
    uint8_t *p;
    size_t len, cap;
};

/* Copies n bytes into the arena and returns their offset, SIZE_MAX if out of memory.
 * An offset, not a pointer: a later copy may move the arena (realloc), and a pointer
 * kept across that once wrote freed memory into blocks (late data spanning many old
 * blocks of one series grew the arena in the middle of a merge). */
static size_t arena_copy(struct arena *a, const void *src, size_t n)
{
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 1u << 16;
        while (cap < a->len + n)
            cap *= 2;
        uint8_t *p = realloc(a->p, cap);
        if (!p)
            return SIZE_MAX;
        a->p = p;
        a->cap = cap;
    }
    size_t at = a->len;
    if (n)
        memcpy(a->p + at, src, n);
    a->len += n;
    return at;
}

struct merged {
    uint64_t ts, lsn;
    const void *val; /* into the arena (old records) or the batch (new ones) */
    uint32_t vlen;
    uint8_t type;
};

struct apply {
    struct cold *c;
    MDB_txn *txn;
    uint64_t next_series;
    uint64_t retain_from;
    struct cold_apply_stats *st;
    struct arena arena;
    struct merged *old, *news, *out;
    size_t old_cap, news_cap, out_cap;
    struct decoded dec;
};

static int grow(struct merged **v, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    struct merged *p = realloc(*v, n * sizeof *p);
    if (!p)
        return SLUICE_ENOMEM;
    *v = p;
    *cap = n;
    return 0;
}

static int key_cmp(const struct cold_rec *a, const struct cold_rec *b)
{
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (int)a->klen - (int)b->klen;
}

static int is_offset(const struct cold_rec *r) { return r->type == REC_OFFSET; }

static int ts_lsn_order(const void *pa, const void *pb)
{
    const struct cold_rec *a = *(const struct cold_rec *const *)pa, *b = *(const struct cold_rec *const *)pb;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->lsn < b->lsn ? -1 : a->lsn > b->lsn;
}

struct group {
    const struct cold_rec *first; /* its key */
    size_t count, at;
};

static int group_order(const void *pa, const void *pb, void *groups)
{
    const struct group *g = groups;
    const struct cold_rec *a = g[*(const uint32_t *)pa].first, *b = g[*(const uint32_t *)pb].first;
    int c = is_offset(a) - is_offset(b); /* sources after the data */
    return c ? c : key_cmp(a, b);
}

/*
 * Orders a batch for apply_all: data before source offsets, then by key bytes, ts and
 * LSN. A comparison sort of the whole batch spent most of the compactor's time in
 * memcmp; instead records are hashed into one group per key, only the distinct keys are
 * sorted, records are placed group by group in their arrival (LSN) order, and a group
 * is sorted by (ts, LSN) only when it is not in ts order already, the common case.
 */
/* Buffers of order_for_apply, grown as needed and kept. */
struct order_bufs {
    uint32_t *slot, *group_of, *sorted;
    struct group *g;
    const struct cold_rec **idx;
    size_t slot_cap, n_cap;
};

static int order_reserve(struct order_bufs *o, size_t n, size_t slots)
{
    if (slots > o->slot_cap) {
        uint32_t *p = realloc(o->slot, slots * sizeof *p);
        if (!p)
            return SLUICE_ENOMEM;
        o->slot = p;
        o->slot_cap = slots;
    }
    if (n > o->n_cap) {
        uint32_t *a = realloc(o->group_of, n * sizeof *a);
        if (a)
            o->group_of = a;
        uint32_t *b = realloc(o->sorted, n * sizeof *b);
        if (b)
            o->sorted = b;
        struct group *g = realloc(o->g, n * sizeof *g);
        if (g)
            o->g = g;
        const struct cold_rec **idx = realloc(o->idx, n * sizeof *idx);
        if (idx)
            o->idx = idx;
        if (!a || !b || !g || !idx)
            return SLUICE_ENOMEM;
        o->n_cap = n;
    }
    return 0;
}

static int order_for_apply(struct order_bufs *o, const struct cold_rec *recs, size_t n)
{
    if (n > UINT32_MAX / 2)
        return SLUICE_ENOMEM;
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    int r = order_reserve(o, n ? n : 1, cap);
    if (r)
        return r;
    uint32_t *slot = o->slot, *group_of = o->group_of, *sorted = o->sorted; /* slot: group + 1 */
    struct group *g = o->g;
    const struct cold_rec **idx = o->idx;
    memset(slot, 0, cap * sizeof *slot);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cold_rec *rec = &recs[i];
        size_t h = crc32c_extend((uint32_t)is_offset(rec), rec->key, rec->klen);
        for (size_t s = h & (cap - 1);; s = (s + 1) & (cap - 1)) {
            if (!slot[s]) {
                g[ng] = (struct group){.first = rec};
                slot[s] = (uint32_t)++ng;
            }
            const struct group *x = &g[slot[s] - 1];
            if (x->first == rec || (is_offset(x->first) == is_offset(rec) && key_cmp(x->first, rec) == 0)) {
                group_of[i] = slot[s] - 1;
                g[slot[s] - 1].count++;
                break;
            }
        }
    }
    for (size_t k = 0; k < ng; k++)
        sorted[k] = (uint32_t)k;
    qsort_r(sorted, ng, sizeof *sorted, group_order, g);
    size_t at = 0;
    for (size_t k = 0; k < ng; k++) {
        g[sorted[k]].at = at;
        at += g[sorted[k]].count;
    }
    for (size_t i = 0; i < n; i++)
        idx[g[group_of[i]].at++] = &recs[i];
    for (size_t i = 0; i < n;) {
        size_t cnt = g[group_of[idx[i] - recs]].count, j = 1;
        while (j < cnt && idx[i + j - 1]->ts <= idx[i + j]->ts)
            j++;
        if (j < cnt)
            qsort(idx + i, cnt, sizeof *idx, ts_lsn_order);
        i += cnt;
    }
    return 0;
}

/* What cold_apply keeps from one call to the next (struct cold's keep). */
struct apply_keep {
    struct order_bufs order;
    struct arena arena;
    struct merged *old, *news, *out;
    size_t old_cap, news_cap, out_cap;
    struct decoded dec;
};

static void apply_keep_free(struct apply_keep *k)
{
    if (!k)
        return;
    free(k->order.slot);
    free(k->order.group_of);
    free(k->order.sorted);
    free(k->order.g);
    free(k->order.idx);
    free(k->arena.p);
    free(k->old);
    free(k->news);
    free(k->out);
    decoded_free(&k->dec);
    free(k);
}

static int put(struct apply *ap, MDB_dbi dbi, const void *k, size_t kl, const void *v, size_t vl)
{
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    return mdb_rc(mdb_put(ap->txn, dbi, &key, &val, 0));
}

/*
 * Whether lz4 is worth trying on a series' next block. Compressing a block that will
 * not shrink by an eighth was half of the compactor's CPU on incompressible values; a
 * series whose blocks keep failing is tried on ever fewer of them (every 2nd, 4th, ...
 * 16th block), and one success makes it tried on every block again. The gate lives in
 * memory only (it starts open after every open); a block stored raw because it was not
 * tried costs bytes, never correctness, and is tried again when it is next rewritten.
 * Low nibble: blocks still to skip; high nibble: consecutive failures.
 */
static int lz4_gate_open(struct cold *c, uint32_t sid)
{
    if (sid >= c->lz4_gate_cap) {
        size_t cap = c->lz4_gate_cap ? c->lz4_gate_cap : 1024;
        while (cap <= sid)
            cap *= 2;
        uint8_t *g = realloc(c->lz4_gate, cap);
        if (!g)
            return 1; /* no memory for the gate: always try */
        memset(g + c->lz4_gate_cap, 0, cap - c->lz4_gate_cap);
        c->lz4_gate = g;
        c->lz4_gate_cap = cap;
    }
    uint8_t *g = &c->lz4_gate[sid];
    if (*g & 0x0f) {
        (*g)--;
        return 0;
    }
    return 1;
}

static void lz4_gate_learn(struct cold *c, uint32_t sid, int compressed)
{
    if (sid >= c->lz4_gate_cap)
        return;
    unsigned fails = compressed ? 0 : (c->lz4_gate[sid] >> 4) + 1u;
    if (fails > 4)
        fails = 4;
    c->lz4_gate[sid] = (uint8_t)(fails << 4 | ((1u << fails) - 1u));
}

static int write_blocks(struct apply *ap, uint32_t sid, const struct merged *m, size_t n)
{
    struct cold *c = ap->c;
    struct block_rec recs[COLD_BLOCK_RECORDS];
    for (size_t i = 0; i < n;) {
        size_t k = 0, raw = 0;
        while (i + k < n && k < COLD_BLOCK_RECORDS &&
               (k == 0 || raw + BLOCK_ENTRY_BYTES + m[i + k].vlen <= COLD_BLOCK_RAW_TARGET)) {
            recs[k] = (struct block_rec){m[i + k].ts, m[i + k].lsn, m[i + k].val, m[i + k].vlen};
            raw += BLOCK_ENTRY_BYTES + m[i + k].vlen;
            k++;
        }
        size_t len;
        int try_lz4 = lz4_gate_open(c, sid);
        int r = block_encode(sid, recs, k, try_lz4, c->scratch, c->enc,
                             block_encode_bound(BLOCK_RAW_MAX), &len);
        if (r)
            return r;
        if (try_lz4) {
            const struct block_hdr *bh = (const struct block_hdr *)c->enc;
            lz4_gate_learn(c, sid, bh->codec == BLOCK_CODEC_LZ4);
        }
        uint8_t key[BLOCK_KEY_BYTES];
        block_key(key, sid, recs[0].ts);
        if ((r = put(ap, c->blocks, key, sizeof key, c->enc, len)))
            return r;
        ap->st->blocks_written++;
        ap->st->bytes_written += len;
        i += k;
    }
    return 0;
}

/* Loads the blocks of sid that the new records' range [lo, hi] touches into ap->old and
 * deletes them (they are rewritten merged). */
static int take_blocks(struct apply *ap, uint32_t sid, uint64_t lo, uint64_t hi, size_t *nold)
{
    struct cold *c = ap->c;
    MDB_cursor *cur;
    int r = cold_lmdb_error(mdb_cursor_open(ap->txn, c->blocks, &cur));
    if (r)
        return r;
    MDB_val k, v;
    r = seek_block_le(cur, sid, lo, &k, &v);
    if (r == SLUICE_NOTFOUND) {
        uint8_t first[BLOCK_KEY_BYTES];
        block_key(first, sid, 0);
        k = (MDB_val){sizeof first, first};
        int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        r = rc == MDB_NOTFOUND ? SLUICE_END : cold_lmdb_error(rc);
    }
    uint64_t *dels = NULL;
    size_t ndel = 0, dcap = 0;
    *nold = 0;
    while (!r) {
        if (k.mv_size != BLOCK_KEY_BYTES || get_be32(k.mv_data) != sid)
            break;
        struct block_hdr h;
        if ((r = block_peek(v.mv_data, v.mv_size, &h)))
            break;
        if (h.ts_min > hi)
            break;
        if ((r = decode_into(&ap->dec, &v, sid)) || (r = grow(&ap->old, &ap->old_cap, *nold + h.count)))
            break;
        for (uint32_t i = 0; i < h.count; i++) {
            const struct block_rec *b = &ap->dec.recs[i];
            size_t at = arena_copy(&ap->arena, b->val, b->vlen);
            if (at == SIZE_MAX) {
                r = SLUICE_ENOMEM;
                break;
            }
            /* the offset for now; made a pointer once the arena stops moving */
            ap->old[(*nold)++] = (struct merged){b->ts, b->lsn, (const void *)(uintptr_t)at, b->vlen, REC_PUT};
        }
        if (r)
            break;
        if (ndel == dcap) {
            dcap = dcap ? dcap * 2 : 16;
            uint64_t *p = realloc(dels, dcap * sizeof *p);
            if (!p) {
                r = SLUICE_ENOMEM;
                break;
            }
            dels = p;
        }
        dels[ndel++] = h.ts_min; /* every block in range: rewritten blocks must not overlap */
        int rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        r = rc == MDB_NOTFOUND ? SLUICE_END : cold_lmdb_error(rc);
    }
    mdb_cursor_close(cur);
    if (r == SLUICE_END)
        r = 0;
    for (size_t i = 0; i < *nold; i++)
        ap->old[i].val = ap->arena.p + (uintptr_t)ap->old[i].val;
    for (size_t i = 0; !r && i < ndel; i++) {
        uint8_t key[BLOCK_KEY_BYTES];
        block_key(key, sid, dels[i]);
        MDB_val dk = {sizeof key, key};
        r = mdb_rc(mdb_del(ap->txn, c->blocks, &dk, NULL));
    }
    free(dels);
    return r;
}

static int new_series(struct apply *ap, const struct cold_rec *rec, uint32_t *sid)
{
    if (ap->next_series >= UINT32_MAX)
        return SLUICE_ENOMEM;
    *sid = (uint32_t)ap->next_series++;
    uint8_t id[4];
    be32(id, *sid);
    int r = put(ap, ap->c->series, rec->key, rec->klen, sid, sizeof *sid);
    return r ? r : put(ap, ap->c->names, id, 4, rec->key, rec->klen);
}

/* One key's records, sorted by (ts, lsn). */
static int apply_series(struct apply *ap, const struct cold_rec *const *g, size_t n)
{
    size_t nn = 0;
    int any_put = 0, r;
    if ((r = grow(&ap->news, &ap->news_cap, n)))
        return r;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && g[i + 1]->ts == g[i]->ts)
            continue; /* the same ts again with a higher LSN follows */
        if (g[i]->ts < ap->retain_from) { /* already older than retention keeps */
            ap->st->dropped_records++;
            ap->st->dropped_bytes += g[i]->vlen;
            continue;
        }
        ap->news[nn++] = (struct merged){g[i]->ts, g[i]->lsn, g[i]->val, g[i]->vlen, g[i]->type};
        any_put |= g[i]->type == REC_PUT;
    }
    if (!nn)
        return 0;
    uint32_t sid;
    r = series_id(ap->txn, ap->c, g[0]->key, g[0]->klen, &sid);
    if (r == SLUICE_NOTFOUND) {
        if (!any_put)
            return 0; /* deletes of a key the cold tier never held */
        r = new_series(ap, g[0], &sid);
    }
    size_t nold;
    if (r || (r = take_blocks(ap, sid, ap->news[0].ts, ap->news[nn - 1].ts, &nold)))
        return r;
    if ((r = grow(&ap->out, &ap->out_cap, nold + nn)))
        return r;
    size_t i = 0, j = 0, no = 0;
    while (i < nold || j < nn) {
        const struct merged *pick;
        if (j == nn || (i < nold && ap->old[i].ts < ap->news[j].ts)) {
            pick = &ap->old[i++];
        } else if (i == nold || ap->news[j].ts < ap->old[i].ts) {
            pick = &ap->news[j++];
        } else { /* same ts in both: the higher LSN wins */
            pick = ap->news[j].lsn > ap->old[i].lsn ? &ap->news[j] : &ap->old[i];
            i++, j++;
        }
        if (pick->type == REC_PUT && pick->ts >= ap->retain_from)
            ap->out[no++] = *pick;
    }
    return write_blocks(ap, sid, ap->out, no);
}

/* Drops every block wholly older than retain_from, one seek per series. */
static int apply_retention(struct apply *ap)
{
    struct cold *c = ap->c;
    MDB_cursor *cur;
    int r = cold_lmdb_error(mdb_cursor_open(ap->txn, c->blocks, &cur));
    if (r)
        return r;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        struct block_hdr h;
        if (k.mv_size != BLOCK_KEY_BYTES || (r = block_peek(v.mv_data, v.mv_size, &h)))
            break;
        uint32_t sid = get_be32(k.mv_data);
        if (h.ts_max < ap->retain_from) {
            ap->st->dropped_records += h.count;
            ap->st->dropped_bytes += v.mv_size;
            if ((r = mdb_rc(mdb_cursor_del(cur, 0))))
                break;
            rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
            continue;
        }
        if (sid == UINT32_MAX)
            break;
        uint8_t next[BLOCK_KEY_BYTES];
        block_key(next, sid + 1, 0);
        k = (MDB_val){sizeof next, next};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (r)
        return r;
    return rc == MDB_NOTFOUND || rc == 0 || rc == EINVAL ? 0 : cold_lmdb_error(rc);
}

/* The end of the group that starts at i (records of one key, or of one source). */
static size_t group_end(const struct cold_rec *const *idx, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && is_offset(idx[j]) == is_offset(idx[i]) && key_cmp(idx[j], idx[i]) == 0)
        j++;
    return j;
}

static int apply_offset(struct apply *ap, const struct cold_rec *last)
{
    char name[2 + SLUICE_SOURCE_MAX] = "o:";
    memcpy(name + 2, last->key, last->klen);
    return last->vlen == 8 ? put(ap, ap->c->meta, name, 2u + last->klen, last->val, 8) : SLUICE_ECORRUPT;
}

/*
 * One transaction's share of a batch: the series groups in [from, to). The final share
 * also stores every source offset of the batch (the highest LSN of each source), applies
 * retention, and stores compacted_lsn and the uuid: until it commits, the checkpoint says
 * the earlier shares' records are not compacted, and a replay applies them again, which
 * changes nothing (a record meeting itself keeps its LSN; a delete meets nothing).
 */
static int apply_share(struct apply *ap, const struct cold_rec *const *idx, size_t n, size_t from,
                       size_t to, int final, uint64_t compacted_lsn, const uint8_t uuid[16])
{
    struct cold *c = ap->c;
    int r = meta_u64(ap->txn, c->meta, "next_series", &ap->next_series);
    if (r == SLUICE_NOTFOUND)
        ap->next_series = 0, r = 0;
    for (size_t i = from; !r && i < to;) {
        size_t j = group_end(idx, n, i);
        if (idx[i]->type != REC_OFFSET) {
            ap->arena.len = 0;
            r = apply_series(ap, idx + i, j - i);
            ap->st->records_in += j - i;
        }
        i = j;
    }
    for (size_t i = 0; final && !r && i < n;) { /* offsets with the checkpoint, never ahead */
        size_t j = group_end(idx, n, i);
        if (idx[i]->type == REC_OFFSET) {
            r = apply_offset(ap, idx[j - 1]);
            ap->st->records_in += j - i;
        }
        i = j;
    }
    if (!r)
        r = put(ap, c->meta, "next_series", 11, &ap->next_series, 8); /* ids given out */
    if (final && !r && ap->retain_from)
        r = apply_retention(ap);
    if (final && !r)
        r = put(ap, c->meta, "compacted_lsn", 13, &compacted_lsn, 8);
    if (final && !r)
        r = put(ap, c->meta, "uuid", 4, uuid, 16);
    return r;
}

/* Where the share that starts at `from` ends: whole groups, about `limit` bytes of
 * records (at least one group). */
static size_t share_end(const struct cold_rec *const *idx, size_t n, size_t from, uint64_t limit)
{
    uint64_t bytes = 0;
    size_t i = from;
    while (i < n && (i == from || bytes < limit)) {
        size_t j = group_end(idx, n, i);
        for (size_t k = i; k < j; k++)
            bytes += REC_HDR_BYTES + idx[k]->klen + idx[k]->vlen;
        i = j;
    }
    return i;
}

void cold_set_pacer(struct cold *c, void (*pace)(void *arg, uint64_t bytes), void *arg)
{
    c->pace = pace;
    c->pace_arg = arg;
}

void cold_set_share(struct cold *c, uint64_t bytes) { c->share_bytes = bytes; }

/* One share in one transaction; MDB_MAP_FULL (from a put or from the commit) aborts it,
 * the map doubles between transactions, and the share is applied again. */
static int apply_share_txn(struct cold *c, struct apply *ap, const struct cold_rec *const *idx,
                           size_t n, size_t from, size_t to, int final, uint64_t compacted_lsn,
                           const uint8_t uuid[16], struct cold_apply_stats *st)
{
    for (;;) {
        struct cold_apply_stats before = *st;
        int r = cold_lmdb_error(mdb_txn_begin(c->env, NULL, 0, &ap->txn));
        if (r)
            return r;
        r = apply_share(ap, idx, n, from, to, final, compacted_lsn, uuid);
        if (!r)
            r = mdb_rc(mdb_txn_commit(ap->txn)); /* MDB_MAP_FULL can come from the commit */
        else
            mdb_txn_abort(ap->txn);
        if (r != E_MAP_FULL)
            return r;
        /* Grow between transactions, with no view open in this process. */
        *st = before;
        MDB_envinfo info;
        if ((r = cold_lmdb_error(mdb_env_info(c->env, &info))))
            return r;
        if (info.me_mapsize >= c->map_max)
            return -ENOSPC; /* the map already spans the whole filesystem */
        uint64_t size = info.me_mapsize * 2 < c->map_max ? info.me_mapsize * 2 : c->map_max;
        pthread_rwlock_wrlock(&c->grow);
        r = remap(c, (size_t)size);
        pthread_rwlock_unlock(&c->grow);
        st->map_growths++;
        if (r)
            return r;
    }
}

int cold_apply(struct cold *c, const struct cold_rec *recs, size_t n, uint64_t compacted_lsn,
               const uint8_t uuid[16], uint64_t retain_from, struct cold_apply_stats *st)
{
    if (c->read_only)
        return SLUICE_EREADONLY;
    int r = atomic_load(&c->broken);
    if (r)
        return r;
    /* each buffer on its own: after one failed, the next call allocates what is missing
     * (checking enc alone once left scratch NULL for block_encode: test_alloc_faults) */
    if (!c->enc)
        c->enc = malloc(block_encode_bound(BLOCK_RAW_MAX));
    if (!c->scratch)
        c->scratch = malloc(BLOCK_RAW_MAX);
    if (!c->enc || !c->scratch)
        return SLUICE_ENOMEM;
    if (!c->keep && !(c->keep = calloc(1, sizeof *c->keep)))
        return SLUICE_ENOMEM;
    struct apply_keep *keep = c->keep;
    r = order_for_apply(&keep->order, recs, n);
    if (r)
        return r;
    const struct cold_rec *const *idx = keep->order.idx;
    struct apply ap = {.c = c, .retain_from = retain_from, .st = st, .arena = keep->arena,
                       .old = keep->old, .news = keep->news, .out = keep->out,
                       .old_cap = keep->old_cap, .news_cap = keep->news_cap,
                       .out_cap = keep->out_cap, .dec = keep->dec};
    ap.arena.len = 0;
    /* Shares of about COLD_TXN_BYTES, one transaction each, the pacer between them: the
     * device sees bounded commits spread in time, not one burst per segment. */
    size_t from = 0;
    for (int final = 0; !r && !final;) {
        size_t to = share_end(idx, n, from, c->share_bytes ? c->share_bytes : COLD_TXN_BYTES);
        final = to == n;
        r = apply_share_txn(c, &ap, idx, n, from, to, final, compacted_lsn, uuid, st);
        if (!r && !final && c->pace)
            c->pace(c->pace_arg, st->bytes_written);
        from = to;
    }
    keep->arena = ap.arena;
    keep->old = ap.old, keep->old_cap = ap.old_cap;
    keep->news = ap.news, keep->news_cap = ap.news_cap;
    keep->out = ap.out, keep->out_cap = ap.out_cap;
    keep->dec = ap.dec;
    return r;
}
