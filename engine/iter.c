/*
 * Iterators: a streaming k-way merge, one cursor per series in a binary heap ordered by
 * (ts, key bytes), so memory is bounded by the number of series (and one decoded cold
 * block per series), never by the result.
 *
 * The view is fixed at open: the snapshot LSN (everything claimed then) for the hot
 * index, and a cold read transaction whose compacted_lsn C is registered with the
 * database, so the compactor keeps every hot entry above C while the iterator lives.
 * Each series cursor merges two streams: hot entries with C < lsn <= snapshot (a hot
 * winner overrides the cold record of the same ts — its LSN is higher — and a hot
 * delete hides it) and the cold records of the view. Hot cursors hold a timestamp, not
 * an array index: the writer may insert late data and the compactor may prune between
 * two calls.
 *
 * Speed (an all-series scan pops the heap once per record): the heap holds 16-byte
 * nodes {ts, key rank, cursor} compared as integers — the key order is ranked once at
 * open — and the cursors stay put. A cold record is returned in place (no copy) and its
 * cursor advanced at the next call; advancing prefetches the cursor's next value, which
 * is needed only when the cursor reaches the top again, thousands of pops later.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "record.h"

struct iter_cursor {
    const struct hot_series *hot; /* series live as long as the handle; may be NULL */
    uint64_t hot_ts;              /* next hot timestamp to look at, UINT64_MAX: none */
    struct cold_series_cursor *cold; /* may be NULL */
    struct cold_rec crec;
    int has_crec;
    const uint8_t *key;           /* the hot series' key, or the cold view's */
    size_t klen;
    uint64_t ts;                  /* min(hot_ts, crec.ts): the heap order */
};

struct heap_node {
    uint64_t ts;
    uint32_t rank; /* the cursor's place in key order */
    uint32_t cur;  /* index into sluice_iter.cur */
};

struct sluice_iter {
    sluice_db *db;
    uint64_t snap, from, to;
    struct cold_view view;
    int held;
    struct iter_cursor *cur; /* cursors, in the order they were added */
    size_t ncur, cap;
    struct heap_node *heap;  /* the live ones */
    size_t n;
    int64_t advance_pending; /* a cursor whose cold record was returned in place, or -1 */
    size_t hot_live;         /* cursors whose hot stream is not done: while 0, no call
                              * needs the index lock (a done stream stays done: what the
                              * writer inserts later is above the snapshot) */
    uint8_t *val;
    size_t val_cap;
};

static inline int node_less(const struct heap_node *a, const struct heap_node *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->rank < b->rank);
}

static void sift_down(struct heap_node *h, size_t n, size_t i)
{
    struct heap_node x = h[i];
    for (;;) {
        size_t l = 2 * i + 1, m = l;
        if (l >= n)
            break;
        if (l + 1 < n && node_less(&h[l + 1], &h[l]))
            m = l + 1;
        if (!node_less(&h[m], &x))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

/* Index read lock held. Moves the hot stream to the first ts >= ts below `to`. */
static void hot_seek_to(struct iter_cursor *c, uint64_t ts, uint64_t to)
{
    if (!c->hot) {
        c->hot_ts = UINT64_MAX;
        return;
    }
    size_t i = hot_seek(c->hot, ts);
    c->hot_ts = i < c->hot->n && c->hot->e[i].ts < to ? c->hot->e[i].ts : UINT64_MAX;
}

static int cold_advance(struct iter_cursor *c)
{
    if (!c->cold) {
        c->has_crec = 0;
        return 0;
    }
    int r = cold_series_next(c->cold, &c->crec);
    c->has_crec = r == 0;
    if (c->has_crec && c->crec.vlen)
        __builtin_prefetch(c->crec.val);
    return r == SLUICE_END ? 0 : r;
}

static void cursor_order(struct iter_cursor *c)
{
    c->ts = c->hot_ts;
    if (c->has_crec && c->crec.ts < c->ts)
        c->ts = c->crec.ts;
}

static int cursor_live(const struct iter_cursor *c) { return c->hot_ts != UINT64_MAX || c->has_crec; }

static int push(sluice_iter *it, struct iter_cursor *c)
{
    cursor_order(c);
    if (!cursor_live(c)) {
        cold_series_close(c->cold);
        return 0;
    }
    if (it->ncur == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 64;
        struct iter_cursor *cur = realloc(it->cur, cap * sizeof *cur);
        if (!cur) {
            cold_series_close(c->cold);
            return SLUICE_ENOMEM;
        }
        it->cur = cur;
        it->cap = cap;
    }
    it->cur[it->ncur++] = *c;
    it->hot_live += c->hot_ts != UINT64_MAX;
    return 0;
}

static int by_key(const void *a, const void *b, void *cursors)
{
    const struct iter_cursor *cur = cursors;
    const struct iter_cursor *x = &cur[*(const uint32_t *)a], *y = &cur[*(const uint32_t *)b];
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Builds the heap over every cursor, ranking the keys once. */
static int heap_build(sluice_iter *it)
{
    if (!it->ncur)
        return 0;
    if (it->ncur > UINT32_MAX)
        return SLUICE_ENOMEM;
    uint32_t *order = malloc(it->ncur * sizeof *order);
    it->heap = malloc(it->ncur * sizeof *it->heap);
    if (!order || !it->heap) {
        free(order);
        return SLUICE_ENOMEM;
    }
    for (size_t i = 0; i < it->ncur; i++)
        order[i] = (uint32_t)i;
    qsort_r(order, it->ncur, sizeof *order, by_key, it->cur); /* glibc: a context, no global */
    for (size_t i = 0; i < it->ncur; i++) {
        uint32_t c = order[i];
        it->heap[i] = (struct heap_node){.ts = it->cur[c].ts, .rank = (uint32_t)i, .cur = c};
    }
    free(order);
    it->n = it->ncur;
    for (size_t i = it->n / 2; i-- > 0;)
        sift_down(it->heap, it->n, i);
    return 0;
}

/* A cursor for one series: its hot entries and, if the view has it, its cold records. */
static int add_series(sluice_iter *it, const struct hot_series *hot, const void *key,
                      size_t klen, const uint32_t *cold_id)
{
    struct iter_cursor c = {.hot = hot, .key = key, .klen = klen};
    hot_seek_to(&c, it->from, it->to);
    int r = 0;
    if (it->view.txn) {
        r = cold_id ? cold_series_open_id(&it->view, *cold_id, it->from, it->to, &c.cold)
                    : cold_series_open(&it->view, key, klen, it->from, it->to, &c.cold);
        if (!r)
            r = cold_advance(&c);
    }
    if (r) {
        cold_series_close(c.cold);
        return r;
    }
    return push(it, &c);
}

static int add_cold_only(void *arg, uint32_t series, const void *key, size_t klen)
{
    sluice_iter *it = arg;
    if (hot_find(&it->db->index, key, klen))
        return 0; /* already merged with its hot entries */
    return add_series(it, NULL, key, klen, &series);
}

static void iter_free(sluice_iter *it)
{
    for (size_t i = 0; i < it->ncur; i++)
        cold_series_close(it->cur[i].cold);
    if (it->held)
        db_view_release(it->db, it->view.compacted_lsn);
    cold_view_end(&it->view);
    free(it->cur);
    free(it->heap);
    free(it->val);
    free(it);
}

int sluice_iter_open(sluice_db *db, const void *key, size_t klen, uint64_t ts_from,
                     uint64_t ts_to, sluice_iter **out)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!out || ts_from > ts_to || (key && (klen == 0 || klen > SLUICE_KEY_MAX)))
        return SLUICE_EINVAL;
    *out = NULL;
    sluice_iter *it = calloc(1, sizeof *it);
    if (!it)
        return SLUICE_ENOMEM;
    it->db = db;
    it->advance_pending = -1;
    it->from = ts_from;
    it->to = ts_to;
    it->snap = db_read_snapshot(db);
    int r = db_read_begin(db, &it->view);
    if (r) {
        free(it);
        return r;
    }
    /* registered before the lock is dropped: the compactor keeps entries above it */
    if (it->view.txn)
        it->held = !(r = db_view_hold(db, it->view.compacted_lsn));
    if (!r && ts_from < ts_to) {
        if (key) {
            r = add_series(it, hot_find(&db->index, key, klen), key, klen, NULL);
        } else {
            for (size_t i = 0; !r && i < db->index.nslots; i++) {
                const struct hot_series *s = db->index.slots[i];
                if (s)
                    r = add_series(it, s, s->key, s->klen, NULL);
            }
            if (!r && it->view.txn)
                r = cold_for_each_series(&it->view, add_cold_only, it);
        }
    }
    hot_unlock(&db->index);
    if (!r)
        r = heap_build(it);
    if (r) {
        iter_free(it);
        return r;
    }
    atomic_fetch_add(&db->open_iters, 1);
    *out = it;
    return 0;
}

static int ensure_val(sluice_iter *it, size_t n)
{
    if (n <= it->val_cap)
        return 0;
    uint8_t *v = realloc(it->val, n);
    if (!v)
        return SLUICE_ENOMEM;
    it->val = v;
    it->val_cap = n;
    return 0;
}

/* After the top cursor moved: reorder it, or drop it when both its streams are done. */
static void settle_top(sluice_iter *it, struct iter_cursor *c)
{
    cursor_order(c);
    if (cursor_live(c)) {
        it->heap[0].ts = c->ts;
    } else {
        cold_series_close(c->cold);
        c->cold = NULL;
        it->heap[0] = it->heap[--it->n];
    }
    if (it->n)
        sift_down(it->heap, it->n, 0);
}

int sluice_iter_next(sluice_iter *it, sluice_record *rec)
{
    if (!it || !rec)
        return SLUICE_EINVAL;
    sluice_db *db = it->db;
    int bad = db_check(db);
    if (bad)
        return bad;
    uint64_t cold_lsn = it->view.compacted_lsn;
    int r = 0;
    int locked = it->hot_live > 0;
    if (locked)
        hot_rdlock(&db->index);
    if (it->advance_pending >= 0) { /* the cold record returned last time: move past it */
        struct iter_cursor *c = &it->cur[it->advance_pending];
        it->advance_pending = -1;
        r = cold_advance(c);
        settle_top(it, c);
    }
    while (!r && it->n) {
        struct iter_cursor *top = &it->cur[it->heap[0].cur];
        uint64_t ts = top->ts;
        const struct hot_entry *h = NULL;
        if (top->hot_ts == ts) {
            /* the winner among entries newer than the cold view, in the snapshot */
            for (size_t i = hot_seek(top->hot, ts); i < top->hot->n && top->hot->e[i].ts == ts; i++) {
                const struct hot_entry *e = &top->hot->e[i];
                if (e->lsn > cold_lsn && e->lsn <= it->snap && (!h || e->lsn > h->lsn))
                    h = e;
            }
            hot_seek_to(top, ts + 1, it->to); /* ts < to <= UINT64_MAX: no wrap */
            it->hot_live -= top->hot_ts == UINT64_MAX;
        }
        if (top->has_crec && top->crec.ts == ts) {
            if (!h) { /* the cold record stands: returned in place, advanced next call */
                *rec = (sluice_record){.key = top->key, .klen = top->klen, .ts = ts,
                                       .val = top->crec.val, .vlen = top->crec.vlen,
                                       .lsn = top->crec.lsn};
                it->advance_pending = it->heap[0].cur;
                if (locked)
                    hot_unlock(&db->index);
                return 0;
            }
            r = cold_advance(top);
        }
        const uint8_t *key = top->key;
        size_t klen = top->klen;
        settle_top(it, top);
        if (r || !h || h->type != REC_PUT)
            continue; /* nothing at this ts, or a delete that hides the cold record */
        if ((r = ensure_val(it, h->vlen)))
            break;
        *rec = (sluice_record){.key = key, .klen = klen, .ts = ts, .val = it->val ? it->val : (const void *)"",
                               .vlen = h->vlen, .lsn = h->lsn};
        return db_fetch_unlock(db, h, key, klen, it->val); /* h: so locked */
    }
    if (locked)
        hot_unlock(&db->index);
    return r ? r : SLUICE_END;
}

void sluice_iter_close(sluice_iter *it)
{
    if (!it || db_check(it->db))
        return; /* after fork(), the parent's iterator is left alone */
    atomic_fetch_sub(&it->db->open_iters, 1);
    iter_free(it);
}
