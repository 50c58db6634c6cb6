/*
 * Iterators: a streaming k-way merge over the series of the hot index, one cursor per
 * series in a binary heap ordered by (ts, key bytes), so memory is bounded by the
 * number of series, never by the result. The view is the snapshot LSN taken at open:
 * entries above it (later puts, late data inserted meanwhile) are ignored, and each
 * (key, ts) yields the entry with the highest LSN in the view, or nothing if that is a
 * delete. Cursors hold a timestamp, not an array index, because the writer may insert
 * late data into a series between two calls.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "format.h"

struct iter_cursor {
    const struct hot_series *s; /* series live as long as the handle */
    uint64_t ts;                /* the next timestamp to look at in s */
};

struct sluice_iter {
    sluice_db *db;
    uint64_t snap, to;
    struct iter_cursor *heap;
    size_t n;
    uint8_t *val;
    size_t val_cap;
};

static int cursor_less(const struct iter_cursor *a, const struct iter_cursor *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts;
    size_t n = a->s->klen < b->s->klen ? a->s->klen : b->s->klen;
    int c = memcmp(a->s->key, b->s->key, n);
    return c < 0 || (c == 0 && a->s->klen < b->s->klen);
}

static void sift_down(struct iter_cursor *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && cursor_less(&h[l], &h[m]))
            m = l;
        if (l + 1 < n && cursor_less(&h[l + 1], &h[m]))
            m = l + 1;
        if (m == i)
            return;
        struct iter_cursor t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Points c at the first timestamp >= ts in its series; 0 when none is below `to`. */
static int cursor_seek(struct iter_cursor *c, uint64_t ts, uint64_t to)
{
    size_t i = hot_seek(c->s, ts);
    if (i >= c->s->n || c->s->e[i].ts >= to)
        return 0;
    c->ts = c->s->e[i].ts;
    return 1;
}

int sluice_iter_open(sluice_db *db, const void *key, size_t klen, uint64_t ts_from,
                     uint64_t ts_to, sluice_iter **out)
{
    if (!db || !out || ts_from > ts_to || (key && (klen == 0 || klen > SLUICE_KEY_MAX)))
        return SLUICE_EINVAL;
    *out = NULL;
    sluice_iter *it = calloc(1, sizeof *it);
    if (!it)
        return SLUICE_ENOMEM;
    it->db = db;
    it->to = ts_to;
    it->snap = db_read_snapshot(db);
    hot_rdlock(&db->index);
    size_t cap = key ? 1 : db->index.nseries;
    it->heap = malloc((cap ? cap : 1) * sizeof *it->heap);
    if (!it->heap) {
        hot_unlock(&db->index);
        free(it);
        return SLUICE_ENOMEM;
    }
    if (key) {
        struct hot_series *s = hot_find(&db->index, key, klen);
        if (s) {
            it->heap[0].s = s;
            it->n = cursor_seek(&it->heap[0], ts_from, ts_to);
        }
    } else {
        for (size_t i = 0; i < db->index.nslots; i++) {
            struct hot_series *s = db->index.slots[i];
            if (!s)
                continue;
            it->heap[it->n].s = s;
            it->n += cursor_seek(&it->heap[it->n], ts_from, ts_to);
        }
    }
    hot_unlock(&db->index);
    for (size_t i = it->n / 2; i-- > 0;)
        sift_down(it->heap, it->n, i);
    atomic_fetch_add(&db->open_iters, 1);
    *out = it;
    return 0;
}

int sluice_iter_next(sluice_iter *it, sluice_record *rec)
{
    if (!it || !rec)
        return SLUICE_EINVAL;
    sluice_db *db = it->db;
    hot_rdlock(&db->index);
    while (it->n) {
        struct iter_cursor *top = &it->heap[0];
        const struct hot_series *s = top->s;
        uint64_t ts = top->ts;
        const struct hot_entry *best = hot_at(s, ts, it->snap);
        /* ts < to <= UINT64_MAX, so ts + 1 cannot wrap */
        if (!cursor_seek(top, ts + 1, it->to))
            it->heap[0] = it->heap[--it->n];
        sift_down(it->heap, it->n, 0);
        if (!best || best->type != REC_PUT)
            continue;
        if (best->vlen > it->val_cap) {
            uint8_t *v = realloc(it->val, best->vlen);
            if (!v) {
                hot_unlock(&db->index);
                return SLUICE_ENOMEM;
            }
            it->val = v;
            it->val_cap = best->vlen;
        }
        *rec = (sluice_record){.key = s->key, .klen = s->klen, .ts = ts, .val = it->val,
                               .vlen = best->vlen, .lsn = best->lsn};
        return db_fetch_unlock(db, best, s->key, s->klen, it->val);
    }
    hot_unlock(&db->index);
    return SLUICE_END;
}

void sluice_iter_close(sluice_iter *it)
{
    if (!it)
        return;
    atomic_fetch_sub(&it->db->open_iters, 1);
    free(it->heap);
    free(it->val);
    free(it);
}
