/*
 * Reads: point gets and iterators over the hot index (ring and log). A read first takes
 * its snapshot LSN — everything claimed when it starts — and waits until the writer has
 * indexed that far (memory work only, never I/O). Values still in the ring are copied
 * under the index read lock; values in segment files are read after it is dropped and
 * checked against their CRC, LSN and key, so a damaged file gives SLUICE_ECORRUPT, never
 * wrong data.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "record.h"

/* Indexing a published record takes well under a microsecond; a spin of this length
 * covers it without a futex round trip. */
#define INDEX_SPIN_NS 20000

uint64_t db_read_snapshot(sluice_db *db)
{
    if (db->read_only)
        return pos_load(&db->progress.indexed);
    uint64_t target = ring_claimed_lsn(&db->ring);
    if (pos_load(&db->progress.indexed) < target)
        log_nudge(db->log);
    /* A poisoned log indexes nothing more: reads see what it had indexed (a reader
     * waited forever for claimed records after an allocation failed in the writer). */
    if (pos_wait(&db->progress.indexed, target, 0, INDEX_SPIN_NS, &db->progress.poison))
        return pos_load(&db->progress.indexed);
    return target;
}

static int read_record_file(sluice_db *db, int fd, uint64_t off, const struct hot_entry *e,
                            const uint8_t *key, size_t klen, void *dst)
{
    size_t size = rec_size(klen, e->vlen);
    uint8_t stackbuf[4096];
    uint8_t *buf = size <= sizeof stackbuf ? stackbuf : malloc(size);
    if (!buf)
        return SLUICE_ENOMEM;
    int r;
    ssize_t n = io_pread_full(db->io, fd, buf, size, off);
    size_t got;
    if (n < 0) {
        r = (int)n;
    } else if ((size_t)n < size || rec_check(buf, size, &got) != REC_VALID) {
        r = SLUICE_ECORRUPT;
    } else {
        const struct rec_hdr *h = (const struct rec_hdr *)buf;
        if (h->lsn != e->lsn || h->klen != klen || h->vlen != e->vlen ||
            memcmp(rec_key(h), key, klen) != 0) {
            r = SLUICE_ECORRUPT;
        } else {
            if (e->vlen) /* dst may be NULL for an empty value */
                memcpy(dst, rec_val(h), e->vlen);
            r = 0;
        }
    }
    if (buf != stackbuf)
        free(buf);
    return r;
}

int db_fetch_unlock(sluice_db *db, const struct hot_entry *e, const uint8_t *key, size_t klen,
                    void *dst)
{
    if (!db->read_only && e->lsn > db->index.ring_released_lsn) {
        const struct rec_hdr *h = ring_at(&db->ring, e->ring_pos);
        if (e->vlen)
            memcpy(dst, rec_val(h), e->vlen);
        hot_unlock(&db->index);
        return 0;
    }
    /* Copy what the file read needs: the entry's storage may move once unlocked. */
    struct hot_entry copy = *e;
    int fd;
    uint64_t off;
    int r = seg_table_locate(&db->index.segs, e->lsn, &fd, &off);
    uint8_t keybuf[SLUICE_KEY_MAX];
    memcpy(keybuf, key, klen);
    /* the compactor closes a retired segment's fd only when no reader is between here
     * and the end of its read */
    seg_reader_enter(&db->index.segs);
    hot_unlock(&db->index);
    if (!r)
        r = read_record_file(db, fd, off, &copy, keybuf, klen, dst);
    else
        r = SLUICE_EINTERNAL; /* an indexed record with no place in any segment: a bug */
    seg_reader_leave(&db->index.segs);
    return r;
}

static int check_read_args(sluice_db *db, const void *key, size_t klen, void *buf, size_t cap,
                           size_t *vlen)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!key || klen == 0 || klen > SLUICE_KEY_MAX || !vlen || (!buf && cap))
        return SLUICE_EINVAL;
    return 0;
}

/* Index read lock held; releases it. */
static int answer(sluice_db *db, const struct hot_series *s, const struct hot_entry *e,
                  void *buf, size_t cap, size_t *vlen)
{
    *vlen = e->vlen;
    if (cap < e->vlen) {
        hot_unlock(&db->index);
        return SLUICE_ERANGE;
    }
    return db_fetch_unlock(db, e, s->key, s->klen, buf);
}

int db_read_begin(sluice_db *db, struct cold_view *v)
{
    for (;;) {
        v->txn = NULL;
        v->compacted_lsn = 0;
        if (db->cold) {
            int r = cold_view_begin(db->cold, v);
            if (r)
                return r;
        }
        hot_rdlock(&db->index);
        if (db->index.pruned_upto <= v->compacted_lsn)
            return 0;
        /* the compactor committed and pruned after the view began: take a newer view */
        hot_unlock(&db->index);
        cold_view_end(v);
    }
}

void db_read_end(sluice_db *db, struct cold_view *v)
{
    hot_unlock(&db->index);
    cold_view_end(v);
}

int sluice_get(sluice_db *db, const void *key, size_t klen, uint64_t ts, void *buf, size_t cap,
               size_t *vlen)
{
    int r = check_read_args(db, key, klen, buf, cap, vlen);
    if (r)
        return r;
    uint64_t snap = db_read_snapshot(db);
    struct cold_view v;
    if ((r = db_read_begin(db, &v)))
        return r;
    const struct hot_series *s = hot_find(&db->index, key, klen);
    const struct hot_entry *e = s ? hot_at(s, ts, snap) : NULL;
    if (v.txn && (!e || e->lsn <= v.compacted_lsn)) {
        /* the cold tier holds it, or a version merged with it and newer */
        uint64_t lsn;
        r = cold_get(&v, key, klen, ts, &lsn, buf, cap, vlen);
        db_read_end(db, &v);
        return r;
    }
    cold_view_end(&v); /* the index lock stays: answer() releases it */
    if (!e || e->type != REC_PUT) {
        hot_unlock(&db->index);
        return SLUICE_NOTFOUND;
    }
    return answer(db, s, e, buf, cap, vlen);
}

/* The winner among hot entries of the newest ts <= at, scanning down from entries[*end]:
 * only entries newer than the cold view (they may override it) and in the snapshot. */
static const struct hot_entry *hot_newest(const struct hot_series *s, size_t *end, uint64_t at,
                                          uint64_t cold_lsn, uint64_t snap)
{
    while (*end > 0) {
        uint64_t ts = s->e[*end - 1].ts;
        const struct hot_entry *best = NULL;
        while (*end > 0 && s->e[*end - 1].ts == ts) {
            const struct hot_entry *e = &s->e[--*end];
            if (ts <= at && e->lsn > cold_lsn && e->lsn <= snap && (!best || e->lsn > best->lsn))
                best = e;
        }
        if (best)
            return best;
    }
    return NULL;
}

int sluice_get_latest(sluice_db *db, const void *key, size_t klen, uint64_t *ts, void *buf,
                      size_t cap, size_t *vlen)
{
    int r = check_read_args(db, key, klen, buf, cap, vlen);
    if (r)
        return r; /* SLUICE_EFORKED keeps its name */
    if (!ts)
        return SLUICE_EINVAL;
    uint64_t snap = db_read_snapshot(db);
    struct cold_view v;
    if ((r = db_read_begin(db, &v)))
        return r;
    const struct hot_series *s = hot_find(&db->index, key, klen);
    size_t end = s ? s->n : 0;
    const struct hot_entry *h = s ? hot_newest(s, &end, UINT64_MAX, v.compacted_lsn, snap) : NULL;
    uint64_t at = UINT64_MAX;
    r = SLUICE_NOTFOUND;
    for (;;) {
        uint64_t cts = 0, clsn;
        int cr = v.txn ? cold_get_le(&v, key, klen, at, &cts, &clsn, buf, cap, vlen) : SLUICE_NOTFOUND;
        if (cr != 0 && cr != SLUICE_ERANGE && cr != SLUICE_NOTFOUND) {
            r = cr;
            break;
        }
        int have_cold = cr != SLUICE_NOTFOUND;
        if (h && (!have_cold || h->ts >= cts)) {
            /* a hot entry at the newest ts: newer than anything the cold tier holds */
            if (h->type == REC_PUT) {
                *ts = h->ts;
                cold_view_end(&v); /* answer() releases the index lock */
                return answer(db, s, h, buf, cap, vlen);
            }
            if (h->ts == 0)
                break;
            at = h->ts - 1; /* deleted: the newest before it */
            h = hot_newest(s, &end, at, v.compacted_lsn, snap);
            continue;
        }
        if (have_cold) {
            *ts = cts;
            r = cr;
        }
        break;
    }
    db_read_end(db, &v);
    return r;
}
