/*
 * Series: the catalogue of keys and the latest value of each, in one pass in key order
 * — a dashboard's first two questions. Before this, the latest of every series took one
 * sluice_get_latest per key and there was no way to list the keys but a full scan.
 *
 * The view is an iterator's (iter.c): the snapshot LSN for the hot index and a cold read
 * transaction at compacted_lsn C, registered so that the compactor keeps every hot entry
 * above C while the handle lives. Per series, the hot "winners" — for each ts, the entry
 * of highest LSN in (C, snapshot] — are copied under the index lock, and the lock is
 * dropped before the cold tier is read, so a series of millions of records never holds
 * the writer's indexing back.
 *
 * What the cold tier gives without decoding: the headers of a series' blocks say its
 * first and last ts and how many records each holds (blocks of a series never overlap,
 * and each ts is once in a block). So:
 *  - counts: the cold count plus the hot winners after the cold tier's last ts (puts
 *    only). A hot winner inside the cold span may replace or delete a cold record; such
 *    a series (late data, deletes) is counted exactly by a merge of its two streams.
 *  - latest: the newest hot put at or after the cold tier's last ts answers without a
 *    block decode; otherwise the cold record at its last ts is read (checked), and a hot
 *    delete sends the search below it, as sluice_get_latest does.
 * The header fields a count or the fast path uses are checked for shape, not against the
 * CRC (block.h: it covers header and body together, and checking it is a full decode);
 * every value returned from the cold tier is read through a checked decode.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "record.h"

struct series_ref {
    const uint8_t *key; /* the hot series' key, or the cold view's */
    uint32_t klen;
    uint32_t sid;       /* with has_sid: the cold tier's id */
    const struct hot_series *hot; /* may be NULL */
    int has_sid;
};

/* One ts of a series' hot entries: the winner's LSN and type. */
struct winner {
    uint64_t ts;
    uint64_t lsn;
    uint8_t type;
};

struct sluice_series {
    sluice_db *db;
    uint64_t snap;
    struct cold_view view;
    int held;
    int what;
    const uint8_t *prefix; /* copied */
    size_t plen;
    struct series_ref *refs;
    size_t n, cap, next;
    struct winner *w; /* the current series' winners, ts order */
    size_t nw, wcap;
    uint8_t *val;     /* the current latest value */
    size_t val_cap;
    uint8_t prefix_buf[SLUICE_KEY_MAX];
};

static int add_ref(sluice_series *s, struct series_ref r)
{
    if (r.klen < s->plen || memcmp(r.key, s->prefix, s->plen) != 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct series_ref *p = realloc(s->refs, cap * sizeof *p);
        if (!p)
            return SLUICE_ENOMEM;
        s->refs = p;
        s->cap = cap;
    }
    s->refs[s->n++] = r;
    return 0;
}

static int add_cold(void *arg, uint32_t sid, const void *key, size_t klen)
{
    return add_ref(arg, (struct series_ref){.key = key, .klen = (uint32_t)klen, .sid = sid,
                                            .has_sid = 1});
}

static int ref_cmp(const void *a, const void *b)
{
    const struct series_ref *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return (y->hot != NULL) - (x->hot != NULL); /* the hot ref of a key first */
}

/* Sorts the refs by key and folds each key's cold ref into its hot one. */
static void refs_sort_merge(sluice_series *s)
{
    qsort(s->refs, s->n, sizeof *s->refs, ref_cmp);
    size_t out = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct series_ref *prev = out ? &s->refs[out - 1] : NULL;
        if (prev && prev->klen == s->refs[i].klen &&
            memcmp(prev->key, s->refs[i].key, prev->klen) == 0) {
            if (s->refs[i].has_sid) {
                prev->sid = s->refs[i].sid;
                prev->has_sid = 1;
            }
            continue;
        }
        s->refs[out++] = s->refs[i];
    }
    s->n = out;
}

static void series_free(sluice_series *s)
{
    if (s->held)
        db_view_release(s->db, s->view.compacted_lsn);
    cold_view_end(&s->view);
    free(s->refs);
    free(s->w);
    free(s->val);
    free(s);
}

int sluice_series_open(sluice_db *db, const void *prefix, size_t plen, int what,
                       sluice_series **out)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!out || (!prefix && plen) || plen > SLUICE_KEY_MAX ||
        (what & ~(SLUICE_SERIES_STATS | SLUICE_SERIES_LATEST)))
        return SLUICE_EINVAL;
    *out = NULL;
    sluice_series *s = calloc(1, sizeof *s);
    if (!s)
        return SLUICE_ENOMEM;
    s->db = db;
    s->what = what;
    if (plen)
        memcpy(s->prefix_buf, prefix, plen);
    s->prefix = s->prefix_buf;
    s->plen = plen;
    s->snap = db_read_snapshot(db);
    int r = db_read_begin(db, &s->view);
    if (r) {
        free(s);
        return r;
    }
    /* registered before the lock is dropped: the compactor keeps entries above it */
    if (s->view.txn)
        s->held = !(r = db_view_hold(db, s->view.compacted_lsn));
    /* hot series live as long as the handle (hot_index.h), so the refs may keep them */
    for (size_t i = 0; !r && i < db->index.nslots; i++) {
        const struct hot_series *h = db->index.slots[i];
        if (h)
            r = add_ref(s, (struct series_ref){.key = h->key, .klen = h->klen, .hot = h});
    }
    hot_unlock(&db->index);
    if (!r && s->view.txn)
        r = cold_for_each_series(&s->view, add_cold, s);
    if (r) {
        series_free(s);
        return r;
    }
    refs_sort_merge(s);
    atomic_fetch_add(&db->open_iters, 1);
    *out = s;
    return 0;
}

/* Copies the series' hot winners (lsn in (C, snap]) into s->w. */
static int copy_winners(sluice_series *s, const struct hot_series *h)
{
    s->nw = 0;
    if (!h)
        return 0;
    int r = 0;
    hot_rdlock(&s->db->index);
    for (size_t i = 0; i < h->n;) {
        uint64_t ts = h->e[i].ts;
        const struct hot_entry *best = NULL;
        for (; i < h->n && h->e[i].ts == ts; i++) {
            const struct hot_entry *e = &h->e[i];
            if (e->lsn > s->view.compacted_lsn && e->lsn <= s->snap && (!best || e->lsn > best->lsn))
                best = e;
        }
        if (!best)
            continue;
        if (s->nw == s->wcap) {
            size_t cap = s->wcap ? s->wcap * 2 : 64;
            struct winner *p = realloc(s->w, cap * sizeof *p);
            if (!p) {
                r = SLUICE_ENOMEM;
                break;
            }
            s->w = p;
            s->wcap = cap;
        }
        s->w[s->nw++] = (struct winner){best->ts, best->lsn, best->type};
    }
    hot_unlock(&s->db->index);
    return r;
}

static int ensure_val(sluice_series *s, size_t n)
{
    if (n <= s->val_cap)
        return 0;
    uint8_t *v = realloc(s->val, n);
    if (!v)
        return SLUICE_ENOMEM;
    s->val = v;
    s->val_cap = n;
    return 0;
}

/* The exact count and span of a series whose hot winners fall inside its cold span:
 * a merge of the two streams, as a scan of the key would see them. */
static int count_merged(sluice_series *s, const struct series_ref *ref, sluice_series_info *info)
{
    struct cold_series_cursor *c;
    int r = cold_series_open_id(&s->view, ref->sid, 0, UINT64_MAX, &c);
    if (r)
        return r;
    struct cold_rec rec;
    int cr = cold_series_next(c, &rec);
    size_t wi = 0;
    uint64_t n = 0, first = 0, last = 0;
    while (cr == 0 || wi < s->nw) {
        if (cr && cr != SLUICE_END)
            break;
        uint64_t ts;
        int put;
        if (wi < s->nw && (cr == SLUICE_END || s->w[wi].ts <= rec.ts)) {
            ts = s->w[wi].ts;
            put = s->w[wi].type == REC_PUT;
            if (cr == 0 && rec.ts == ts)
                cr = cold_series_next(c, &rec); /* the hot winner replaces or deletes it */
            wi++;
        } else {
            ts = rec.ts;
            put = 1;
            cr = cold_series_next(c, &rec);
        }
        if (put) {
            first = n ? first : ts;
            last = ts;
            n++;
        }
    }
    cold_series_close(c);
    if (cr && cr != SLUICE_END)
        return cr;
    info->records = n;
    info->first_ts = first;
    info->last_ts = last;
    return 0;
}

static int series_stats(sluice_series *s, const struct series_ref *ref, const struct cold_span *cs,
                        int has_cold, sluice_series_info *info)
{
    uint64_t n = 0, first = 0, last = 0;
    for (size_t i = 0; i < s->nw; i++) {
        if (has_cold && s->w[i].ts <= cs->last_ts)
            return count_merged(s, ref, info); /* it may replace or delete a cold record */
        if (s->w[i].type == REC_PUT) {
            first = n ? first : s->w[i].ts;
            last = s->w[i].ts;
            n++;
        }
    }
    info->records = n + (has_cold ? cs->records : 0);
    info->first_ts = has_cold ? cs->first_ts : first;
    info->last_ts = n ? last : has_cold ? cs->last_ts : 0;
    return 0;
}

/* Reads the cold record of the newest ts <= at into s->val: 0, NOTFOUND or an error. */
static int cold_latest_value(sluice_series *s, uint32_t sid, uint64_t at, uint64_t *ts,
                             uint64_t *lsn, size_t *vlen)
{
    for (;;) {
        int r = cold_get_le_id(&s->view, sid, at, ts, lsn, s->val, s->val_cap, vlen);
        if (r != SLUICE_ERANGE)
            return r;
        if ((r = ensure_val(s, *vlen)))
            return r;
    }
}

/*
 * The newest record not deleted (sluice_get_latest's search, over the copied winners).
 * 0 with info->latest_*, SLUICE_NOTFOUND (every record deleted), or an error. want_val
 * 0: the ts and LSN only (existence), with no cold decode where the headers settle it.
 */
static int series_latest(sluice_series *s, const struct series_ref *ref, const struct cold_span *cs,
                         int has_cold, int want_val, sluice_series_info *info)
{
    uint64_t at = UINT64_MAX;
    size_t hi = s->nw;
    for (;;) {
        while (hi > 0 && s->w[hi - 1].ts > at)
            hi--;
        uint64_t cts = 0, clsn = 0;
        size_t cvlen = 0;
        int cold = 0, cold_read = 0;
        if (has_cold && at >= cs->last_ts) {
            cold = 1;
            cts = cs->last_ts;
        } else if (has_cold) {
            int r = cold_latest_value(s, ref->sid, at, &cts, &clsn, &cvlen);
            if (r && r != SLUICE_NOTFOUND)
                return r;
            cold = cold_read = !r;
        }
        if (hi > 0 && (!cold || s->w[hi - 1].ts >= cts)) {
            const struct winner *w = &s->w[hi - 1];
            if (w->type == REC_PUT) {
                info->latest_ts = w->ts;
                info->latest_lsn = w->lsn;
                if (!want_val)
                    return 0;
                hot_rdlock(&s->db->index);
                /* the same entry: the hold keeps it, and newer ones are above snap */
                const struct hot_entry *e = hot_at(ref->hot, w->ts, s->snap);
                if (!e || e->lsn != w->lsn) {
                    hot_unlock(&s->db->index);
                    return SLUICE_EINTERNAL;
                }
                int r = ensure_val(s, e->vlen);
                if (r) {
                    hot_unlock(&s->db->index);
                    return r;
                }
                info->latest_vlen = e->vlen;
                info->latest_val = s->val;
                return db_fetch_unlock(s->db, e, ref->key, ref->klen, s->val);
            }
            if (w->ts == 0)
                return SLUICE_NOTFOUND;
            at = w->ts - 1; /* deleted: the newest before it */
            hi--;
            continue;
        }
        if (!cold)
            return SLUICE_NOTFOUND;
        if (!cold_read && want_val) {
            int r = cold_latest_value(s, ref->sid, at, &cts, &clsn, &cvlen);
            if (r)
                return r == SLUICE_NOTFOUND ? SLUICE_ECORRUPT : r; /* the header said so */
        }
        info->latest_ts = cts;
        info->latest_lsn = clsn;
        info->latest_val = s->val;
        info->latest_vlen = cvlen;
        return 0;
    }
}

int sluice_series_next(sluice_series *s, sluice_series_info *info)
{
    if (!s || !info)
        return SLUICE_EINVAL;
    int bad = db_check(s->db);
    if (bad)
        return bad;
    while (s->next < s->n) {
        const struct series_ref *ref = &s->refs[s->next++];
        int r = copy_winners(s, ref->hot);
        struct cold_span cs = {0};
        int has_cold = 0;
        if (!r && ref->has_sid && s->view.txn) {
            r = cold_series_span(&s->view, ref->sid, s->what & SLUICE_SERIES_STATS, &cs);
            has_cold = !r;
            if (r == SLUICE_NOTFOUND) /* retention dropped every block of it */
                r = 0;
        }
        if (r)
            return r;
        *info = (sluice_series_info){.key = ref->key, .klen = ref->klen};
        int stats = s->what & SLUICE_SERIES_STATS, latest = s->what & SLUICE_SERIES_LATEST;
        if (stats && (r = series_stats(s, ref, &cs, has_cold, info)))
            return r;
        if (stats && !info->records)
            continue; /* every record deleted, or never a put */
        if (latest || !stats) { /* without stats, the search for the latest says it exists */
            sluice_series_info l = *info;
            r = series_latest(s, ref, &cs, has_cold, latest, &l);
            if (r == SLUICE_NOTFOUND && !stats)
                continue;
            if (r == SLUICE_NOTFOUND)
                r = SLUICE_ECORRUPT; /* records counted, none found: the headers lied */
            if (r)
                return r;
            if (latest)
                *info = l;
        }
        return 0;
    }
    return SLUICE_END;
}

void sluice_series_close(sluice_series *s)
{
    if (!s || db_check(s->db))
        return; /* after fork(), the parent's handle is left alone */
    atomic_fetch_sub(&s->db->open_iters, 1);
    series_free(s);
}
