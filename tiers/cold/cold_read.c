/*
 * Reading the cold tier: decoding a block for a reader, point gets (cold_get,
 * cold_get_le, cold_offset_get) and series cursors.
 */
#include "cold_store.h"

#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "sluice.h"

/* ---- decoding a block for a reader ---- */


void cold_decoded_free(struct decoded *d)
{
    free(d->raw);
    free(d->recs);
}

int cold_decode(struct decoded *d, const MDB_val *val, uint32_t series)
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
int cold_seek_block_le(MDB_cursor *cur, uint32_t series, uint64_t ts, MDB_val *k, MDB_val *v)
{
    uint8_t want[BLOCK_KEY_BYTES];
    block_key(want, series, ts);
    *k = (MDB_val){sizeof want, want};
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0 && k->mv_size == BLOCK_KEY_BYTES && memcmp(k->mv_data, want, BLOCK_KEY_BYTES) == 0)
        return 0;
    /* a failed seek leaves the cursor unpositioned, and MDB_PREV from there is MDB_LAST:
     * the series' last block instead of the one holding ts, and the blocks between silently
     * skipped by a scan or left out of a compaction merge */
    if (rc && rc != MDB_NOTFOUND)
        return cold_lmdb_error(rc);
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
    int r = cold_sid_lookup(v->txn, v->c, key, klen, &sid);
    return r ? r : cold_get_le_id(v, sid, at, ts, lsn, buf, cap, vlen);
}

int cold_get_le_id(struct cold_view *v, uint32_t sid, uint64_t at, uint64_t *ts, uint64_t *lsn,
                   void *buf, size_t cap, size_t *vlen)
{
    int r;
    MDB_cursor *cur;
    if ((r = cold_lmdb_error(mdb_cursor_open(v->txn, v->c->blocks, &cur))))
        return r;
    MDB_val k, val;
    r = cold_seek_block_le(cur, sid, at, &k, &val);
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
    return cold_meta_u64(v->txn, v->c->meta, name, offset);
}

int cold_series_span(struct cold_view *v, uint32_t sid, int count, struct cold_span *out)
{
    MDB_cursor *cur;
    int r = cold_lmdb_error(mdb_cursor_open(v->txn, v->c->blocks, &cur));
    if (r)
        return r;
    *out = (struct cold_span){0};
    uint8_t first[BLOCK_KEY_BYTES];
    block_key(first, sid, 0);
    MDB_val k = {sizeof first, first}, val;
    struct block_hdr h;
    int rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND || (rc == 0 && k.mv_size == BLOCK_KEY_BYTES && get_be32(k.mv_data) != sid)) {
        r = SLUICE_NOTFOUND;
    } else if (rc) {
        r = cold_lmdb_error(rc);
    } else if (k.mv_size != BLOCK_KEY_BYTES) {
        r = SLUICE_ECORRUPT;
    } else if (!(r = block_peek(val.mv_data, val.mv_size, &h))) {
        out->first_ts = h.ts_min;
        out->last_ts = h.ts_max;
        out->records = count ? h.count : 0;
        out->blocks = count ? 1 : 0;
        /* blocks of a series never overlap in ts (cold_apply): the last one ends it */
        if (count) {
            while (!r && (rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) == 0) {
                if (k.mv_size != BLOCK_KEY_BYTES) {
                    r = SLUICE_ECORRUPT;
                } else if (get_be32(k.mv_data) != sid) {
                    break;
                } else if (!(r = block_peek(val.mv_data, val.mv_size, &h))) {
                    if (h.ts_min <= out->last_ts)
                        r = SLUICE_ECORRUPT;
                    out->last_ts = h.ts_max;
                    out->records += h.count;
                    out->blocks++;
                }
            }
            if (!r && rc && rc != MDB_NOTFOUND)
                r = cold_lmdb_error(rc);
        } else if (!(r = cold_seek_block_le(cur, sid, UINT64_MAX, &k, &val)) &&
                   !(r = block_peek(val.mv_data, val.mv_size, &h))) {
            out->last_ts = h.ts_max;
        } else if (r == SLUICE_NOTFOUND) {
            r = SLUICE_ECORRUPT; /* the series' first block was there a moment ago */
        }
    }
    mdb_cursor_close(cur);
    return r;
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
    int r = cold_sid_lookup(v->txn, v->c, key, klen, &sid);
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
    int r = cold_seek_block_le(c->cur, c->series, c->from, &k, &val);
    if (r == SLUICE_NOTFOUND) { /* no block starts at or before from: the first one */
        uint8_t want[BLOCK_KEY_BYTES];
        block_key(want, c->series, 0);
        k = (MDB_val){sizeof want, want};
        int rc = mdb_cursor_get(c->cur, &k, &val, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND || (rc == 0 && get_be32(k.mv_data) != c->series))
            return SLUICE_END;
        r = cold_lmdb_error(rc);
    }
    return r ? r : cold_decode(&c->d, &val, c->series);
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
    return cold_decode(&c->d, &val, c->series);
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
    cold_decoded_free(&c->d);
    free(c);
}

int cold_for_each_key(struct cold_view *v, const void *prefix, size_t plen,
                      int (*fn)(void *arg, uint32_t series, const void *key, size_t klen),
                      void *arg)
{
    MDB_cursor *cur;
    int r = cold_lmdb_error(mdb_cursor_open(v->txn, v->c->series, &cur));
    if (r)
        return r;
    MDB_val k = {plen, (void *)prefix}, val;
    int rc = plen ? mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &val, MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break; /* past the keys that start with the prefix */
        uint32_t sid;
        if (k.mv_size == 0 || k.mv_size > SLUICE_KEY_MAX || val.mv_size != sizeof sid) {
            r = SLUICE_ECORRUPT;
            break;
        }
        memcpy(&sid, val.mv_data, sizeof sid);
        if ((r = fn(arg, sid, k.mv_data, k.mv_size)))
            break;
        rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT);
    }
    if (!r && rc && rc != MDB_NOTFOUND)
        r = cold_lmdb_error(rc);
    mdb_cursor_close(cur);
    return r;
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
