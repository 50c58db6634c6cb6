/*
 * Series: the catalogue of keys and the latest value of each, in one pass in key order
 * — a dashboard's first two questions. Before this, the latest of every series took one
 * sluice_get_latest per key and there was no way to list the keys but a full scan.
 *
 * The view is an iterator's (iter.c): the snapshot LSN for the hot index and a cold read
 * transaction at compacted_lsn C, registered so that the compactor keeps every hot entry
 * above C while the handle lives. Per series, the cold tier is asked first (no index
 * lock is held while LMDB is read), then the hot "winners" — for each ts, the entry of
 * highest LSN in (C, snapshot] — are copied under one index read lock, which also serves
 * the value when the newest winner is a put at or after the cold tier's newest record.
 * A series of millions of records never holds the writer's indexing back for long.
 *
 * What the cold tier gives without decoding: the headers of a series' blocks say its
 * first and last ts and how many records each holds (blocks of a series never overlap,
 * and each ts is once in a block), and the last-value cache (cold_latest.c) holds its
 * newest record. So:
 *  - counts: the cold count plus the hot winners after the cold tier's last ts (puts
 *    only). A hot winner inside the cold span may replace or delete a cold record; such
 *    a series (late data, deletes) is counted exactly by a merge of its two streams.
 *  - latest: the newest hot put at or after the cold tier's newest answers; otherwise
 *    the cold tier's newest, from the cache or a checked decode of the last block; a hot
 *    delete sends the search below it, as sluice_get_latest does.
 * The header fields a count uses are checked for shape, not against the CRC (block.h:
 * it covers header and body together, and checking it is a full decode); every value
 * returned from the cold tier was read through a checked decode.
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
    struct series_ref *refs; /* key order */
    size_t n, next;
    struct winner *w; /* the current series' winners, ts order */
    size_t nw, wcap;
    uint8_t *val;     /* the current latest value */
    size_t val_cap;
    uint8_t prefix_buf[SLUICE_KEY_MAX];
};

struct ref_list {
    struct series_ref *v;
    size_t n, cap;
    const uint8_t *prefix;
    size_t plen;
};

static int add_ref(struct ref_list *l, struct series_ref r)
{
    if (r.klen < l->plen || memcmp(r.key, l->prefix, l->plen) != 0)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct series_ref *p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return SLUICE_ENOMEM;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = r;
    return 0;
}

static int add_cold(void *arg, uint32_t sid, const void *key, size_t klen)
{
    return add_ref(arg, (struct series_ref){.key = key, .klen = (uint32_t)klen, .sid = sid,
                                            .has_sid = 1});
}

static int key_cmp(const struct series_ref *x, const struct series_ref *y)
{
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static int ref_cmp(const void *a, const void *b) { return key_cmp(a, b); }

/* The refs in key order: the hot ones sorted, merged with the cold ones (in key order
 * already: LMDB's), a key in both tiers once. */
static int refs_merge(sluice_series *s, struct ref_list *hot, struct ref_list *cold)
{
    if (hot->n) /* qsort's array may not be NULL, even empty */
        qsort(hot->v, hot->n, sizeof *hot->v, ref_cmp);
    s->refs = malloc((hot->n + cold->n + 1) * sizeof *s->refs);
    if (!s->refs)
        return SLUICE_ENOMEM;
    size_t i = 0, j = 0;
    while (i < hot->n || j < cold->n) {
        int c = i == hot->n ? 1 : j == cold->n ? -1 : key_cmp(&hot->v[i], &cold->v[j]);
        struct series_ref r = c <= 0 ? hot->v[i++] : cold->v[j++];
        if (c == 0) {
            r.sid = cold->v[j].sid;
            r.has_sid = 1;
            j++;
        }
        s->refs[s->n++] = r;
    }
    return 0;
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
    struct ref_list hot = {.prefix = s->prefix, .plen = plen}, cold = hot;
    for (size_t i = 0; !r && i < db->index.nslots; i++) {
        const struct hot_series *h = db->index.slots[i];
        if (h)
            r = add_ref(&hot, (struct series_ref){.key = h->key, .klen = h->klen, .hot = h});
    }
    hot_unlock(&db->index);
    if (!r && s->view.txn)
        r = cold_for_each_key(&s->view, s->prefix, plen, add_cold, &cold);
    if (!r)
        r = refs_merge(s, &hot, &cold);
    free(hot.v);
    free(cold.v);
    /* once per process, then the compactor keeps it. A failed build leaves the cache off
     * and changes no answer: each series is then decoded, and a damaged or unreadable
     * block fails its own series' next() with its own error, not the whole open. */
    if (!r && (what & SLUICE_SERIES_LATEST) && s->view.txn)
        (void)cold_latest_build(&s->view);
    if (r) {
        series_free(s);
        return r;
    }
    atomic_fetch_add(&db->open_iters, 1);
    *out = s;
    return 0;
}

/* Index read lock held. Copies the series' hot winners (lsn in (C, snap]) into s->w;
 * *newest gets the entry of the newest one (NULL if none). */
static int copy_winners(sluice_series *s, const struct hot_series *h, const struct hot_entry **newest)
{
    s->nw = 0;
    *newest = NULL;
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
            if (!p)
                return SLUICE_ENOMEM;
            s->w = p;
            s->wcap = cap;
        }
        s->w[s->nw++] = (struct winner){best->ts, best->lsn, best->type};
        *newest = best;
    }
    return 0;
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

static int latest_from_hot(sluice_series *s, const struct series_ref *ref, const struct hot_entry *e,
                           sluice_series_info *info);

/* What the cold tier says of a series' newest record before any search: from the
 * last-value cache, or from its last block's header (value not read). */
struct cold_top {
    int present;   /* the view's cold tier holds a record of the series */
    int have_val;  /* ... and its value is in s->val */
    uint64_t ts, lsn;
    size_t vlen;
};

/*
 * The newest record not deleted (sluice_get_latest's search, over the copied winners).
 * 0 with info->latest_*, SLUICE_NOTFOUND (every record deleted), or an error. want_val
 * 0: the ts and LSN only (existence), with no cold decode where `top` settles it.
 */
static int series_latest(sluice_series *s, const struct series_ref *ref, const struct cold_top *top,
                         int want_val, sluice_series_info *info)
{
    uint64_t at = UINT64_MAX;
    size_t hi = s->nw;
    for (;;) {
        while (hi > 0 && s->w[hi - 1].ts > at)
            hi--;
        uint64_t cts = 0, clsn = 0;
        size_t cvlen = 0;
        int cold = 0, cold_read = 0;
        if (top->present && at >= top->ts) {
            cold = 1;
            cts = top->ts, clsn = top->lsn, cvlen = top->vlen;
            cold_read = top->have_val;
        } else if (top->present) {
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
                return latest_from_hot(s, ref, e, info);
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
            uint64_t want_ts = cts;
            int r = cold_latest_value(s, ref->sid, at, &cts, &clsn, &cvlen);
            if (r == SLUICE_NOTFOUND || (!r && cts != want_ts))
                r = SLUICE_ECORRUPT; /* the header said a record of this ts is there */
            if (r)
                return r;
            if (at == UINT64_MAX) /* what the cache could not say, for the next reader */
                cold_latest_fill(&s->view, ref->sid, cts, clsn, s->val, cvlen);
        }
        info->latest_ts = cts;
        info->latest_lsn = clsn;
        info->latest_val = s->val ? s->val : (const void *)""; /* never NULL */
        info->latest_vlen = cvlen;
        return 0;
    }
}

/* The cold tier's newest record of the series: from the cache, else the span's header. */
static int cold_top_of(sluice_series *s, const struct series_ref *ref, int want_val,
                       const struct cold_span *cs, int have_span, struct cold_top *top)
{
    *top = (struct cold_top){0};
    if (!ref->has_sid || !s->view.txn)
        return 0;
    for (;;) {
        int r = cold_latest_get(&s->view, ref->sid, &top->ts, &top->lsn, s->val, s->val_cap,
                                &top->vlen);
        if (r == SLUICE_ERANGE && want_val) {
            if ((r = ensure_val(s, top->vlen)))
                return r;
            continue;
        }
        if (r == 0 || r == SLUICE_ERANGE || r == COLD_LATEST_NO_VALUE) {
            top->present = 1;
            top->have_val = r == 0;
            return 0;
        }
        if (r == SLUICE_NOTFOUND)
            return 0;
        break; /* COLD_LATEST_MISS */
    }
    struct cold_span own;
    if (!have_span) {
        int r = cold_series_span(&s->view, ref->sid, 0, &own);
        if (r == SLUICE_NOTFOUND) /* retention dropped every block of it */
            return 0;
        if (r)
            return r;
        cs = &own;
    }
    top->present = 1;
    top->ts = cs->last_ts;
    return 0;
}

/* Index read lock held; releases it. The value of the hot entry e as the latest. */
static int latest_from_hot(sluice_series *s, const struct series_ref *ref, const struct hot_entry *e,
                           sluice_series_info *info)
{
    info->latest_ts = e->ts;
    info->latest_lsn = e->lsn;
    int r = ensure_val(s, e->vlen);
    if (r) {
        hot_unlock(&s->db->index);
        return r;
    }
    info->latest_vlen = e->vlen;
    info->latest_val = s->val ? s->val : (const void *)""; /* never NULL */
    return db_fetch_unlock(s->db, e, ref->key, ref->klen, s->val);
}

int sluice_series_next(sluice_series *s, sluice_series_info *info)
{
    if (!s || !info)
        return SLUICE_EINVAL;
    int bad = db_check(s->db);
    if (bad)
        return bad;
    int stats = s->what & SLUICE_SERIES_STATS, latest = s->what & SLUICE_SERIES_LATEST;
    while (s->next < s->n) {
        const struct series_ref *ref = &s->refs[s->next++];
        int r = 0;
        /* the cold tier first (no index lock held while LMDB is read), then the hot
         * winners under one lock, which also serves the value when the newest is hot */
        struct cold_span cs = {0};
        int has_cold = 0;
        if (stats && ref->has_sid && s->view.txn) {
            r = cold_series_span(&s->view, ref->sid, 1, &cs);
            has_cold = !r;
            if (r && r != SLUICE_NOTFOUND) /* NOTFOUND: retention dropped every block */
                return r;
            r = 0;
        }
        struct cold_top top = {0};
        int want_top = latest || !stats;
        if (want_top && (r = cold_top_of(s, ref, latest, &cs, has_cold, &top)))
            return r;
        if (stats && want_top && top.present != has_cold)
            return SLUICE_EINTERNAL; /* the cache and the blocks disagree: a bug */
        *info = (sluice_series_info){.key = ref->key, .klen = ref->klen};
        sluice_series_info l = *info;
        int answered = 0;
        const struct hot_entry *newest = NULL;
        s->nw = 0;
        if (ref->hot) {
            hot_rdlock(&s->db->index);
            r = copy_winners(s, ref->hot, &newest);
            if (!r && latest && newest && newest->type == REC_PUT &&
                (!top.present || newest->ts >= top.ts)) {
                r = latest_from_hot(s, ref, newest, &l); /* releases the lock */
                answered = 1;
            } else {
                hot_unlock(&s->db->index);
            }
        }
        if (r)
            return r;
        if (stats && (r = series_stats(s, ref, &cs, has_cold, info)))
            return r;
        if (stats && !info->records)
            continue; /* every record deleted, or never a put */
        if (want_top && !answered) { /* without stats, the search for the latest says it exists */
            r = series_latest(s, ref, &top, latest, &l);
            if (r == SLUICE_NOTFOUND && !stats)
                continue;
            if (r == SLUICE_NOTFOUND)
                r = SLUICE_ECORRUPT; /* records counted, none found: the headers lied */
            if (r)
                return r;
        }
        if (latest) {
            info->latest_ts = l.latest_ts;
            info->latest_lsn = l.latest_lsn;
            info->latest_val = l.latest_val;
            info->latest_vlen = l.latest_vlen;
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
