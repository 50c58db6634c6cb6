/*
 * Applying a compaction batch to the cold tier (compactor thread only): records merged
 * into each series' blocks, retention, source offsets and compacted_lsn, in shares of
 * LMDB transactions, the map grown when full.
 */
#include "cold_store.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "record.h"
#include "sluice.h"

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

void cold_keep_free(struct apply_keep *k)
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
    cold_decoded_free(&k->dec);
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
static int take_blocks(struct apply *ap, uint32_t sid, uint64_t lo, uint64_t hi, size_t *nold,
                       int *tail)
{
    struct cold *c = ap->c;
    MDB_cursor *cur;
    int r = cold_lmdb_error(mdb_cursor_open(ap->txn, c->blocks, &cur));
    if (r)
        return r;
    MDB_val k, v;
    r = cold_seek_block_le(cur, sid, lo, &k, &v);
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
    *tail = 1; /* no block of the series after the ones taken */
    while (!r) {
        if (k.mv_size != BLOCK_KEY_BYTES || get_be32(k.mv_data) != sid)
            break;
        struct block_hdr h;
        if ((r = block_peek(v.mv_data, v.mv_size, &h)))
            break;
        if (h.ts_min > hi) {
            *tail = 0;
            break;
        }
        if ((r = cold_decode(&ap->dec, &v, sid)) || (r = grow(&ap->old, &ap->old_cap, *nold + h.count)))
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
    r = cold_sid_lookup(ap->txn, ap->c, g[0]->key, g[0]->klen, &sid);
    if (r == SLUICE_NOTFOUND) {
        if (!any_put)
            return 0; /* deletes of a key the cold tier never held */
        r = new_series(ap, g[0], &sid);
    }
    size_t nold;
    int tail;
    if (r || (r = take_blocks(ap, sid, ap->news[0].ts, ap->news[nn - 1].ts, &nold, &tail)))
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
    /* the series' newest record, for the last-value cache (cold_latest.c): the merge's
     * last when nothing of the series comes after it; if the merge kept nothing, it is
     * in a block the merge did not read */
    if (tail && no)
        cold_latest_note(ap->c, sid, 1, ap->out[no - 1].ts, ap->out[no - 1].lsn, ap->out[no - 1].val,
                         ap->out[no - 1].vlen);
    else if (tail)
        cold_latest_note(ap->c, sid, 0, 0, 0, NULL, 0);
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
    int r = cold_meta_u64(ap->txn, c->meta, "next_series", &ap->next_series);
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
        size_t notes = cold_latest_mark(c);
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
        cold_latest_rewind(c, notes); /* the share is applied again */
        MDB_envinfo info;
        if ((r = cold_lmdb_error(mdb_env_info(c->env, &info))))
            return r;
        if (info.me_mapsize >= c->map_max)
            return -ENOSPC; /* the map already spans the whole filesystem */
        uint64_t size = info.me_mapsize * 2 < c->map_max ? info.me_mapsize * 2 : c->map_max;
        pthread_rwlock_wrlock(&c->grow);
        r = cold_remap(c, (size_t)size);
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
    cold_latest_round_begin(c);
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
    if (!r)
        cold_latest_publish(c, compacted_lsn, retain_from);
    return r;
}
