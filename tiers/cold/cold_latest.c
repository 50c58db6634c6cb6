/*
 * The cold tier's last-value cache: per series id, its newest record in the cold tier
 * (ts, LSN and, up to COLD_LATEST_VALUE_MAX bytes, the value), so that the latest of
 * every series (sluice_series_open) costs a lookup per series instead of a block decode.
 *
 * It is off until a reader first asks (cold_latest_build, from that reader's view: one
 * decode per series, once per process), so a process that never asks pays nothing. Then
 * the compactor keeps it: cold_apply notes, per series it merges, whether the blocks it
 * wrote end the series (no later block) and so hold its newest record, and publishes
 * those notes once the round's last transaction committed, with the round's
 * compacted_lsn. A reader uses the cache only when that LSN is its view's compacted_lsn:
 * then the cache describes exactly the view's cold tier. Any other case — a round
 * committed but not yet published, a view older than the cache, a series noted
 * "unknown" — is a miss, and the reader decodes as it would without a cache.
 *
 * Why a note can be "unknown": a merge that deleted the series' newest records leaves its
 * newest in a block the merge did not read. The next reader that decodes it fills it in.
 * A round that fails keeps nothing of its notes (the retry notes again); a share whose
 * transaction is retried in a larger map drops the notes it made.
 *
 * Concurrency: `lock` guards the published state. The notes are the compactor thread's.
 */
#include "cold_store.h"

#include <stdlib.h>
#include <string.h>

#include "sluice.h"

enum { E_ABSENT = 0, E_KNOWN, E_UNKNOWN };

struct latest_entry {
    uint64_t ts, lsn;
    uint8_t *val;  /* vlen bytes, or NULL: not cached (larger than the limit) */
    uint32_t vlen;
    uint8_t state;
};

/* A compactor's note: series sid's newest record is now (ts, lsn, value), or unknown. */
struct latest_note {
    uint32_t sid;
    uint8_t known;
    uint64_t ts, lsn;
    size_t val_at; /* into notes_val; SIZE_MAX: not kept */
    uint32_t vlen;
};

struct cold_latest {
    pthread_rwlock_t lock;
    int enabled;
    uint64_t upto; /* the last compacted_lsn published (or found at open): what the
                    * entries describe while enabled, and the only view a build may use */
    struct latest_entry *e;
    size_t cap;
    /* the compactor's notes of the round in progress */
    struct latest_note *notes;
    size_t nnotes, notes_cap;
    uint8_t *notes_val;
    size_t notes_val_len, notes_val_cap;
    int notes_values; /* the cache was on when the round began: values were kept */
    int notes_lost;   /* a note could not be kept: the round turns the cache off */
};

int cold_latest_init(struct cold *c, uint64_t compacted_lsn)
{
    c->latest = calloc(1, sizeof *c->latest);
    if (!c->latest)
        return SLUICE_ENOMEM;
    pthread_rwlock_init(&c->latest->lock, NULL);
    c->latest->upto = compacted_lsn;
    return 0;
}

static void entries_free(struct cold_latest *l)
{
    for (size_t i = 0; i < l->cap; i++)
        free(l->e[i].val);
    free(l->e);
    l->e = NULL;
    l->cap = 0;
}

void cold_latest_free(struct cold *c)
{
    struct cold_latest *l = c->latest;
    if (!l)
        return;
    entries_free(l);
    free(l->notes);
    free(l->notes_val);
    pthread_rwlock_destroy(&l->lock);
    free(l);
}

/* Write lock held. */
static int entries_reserve(struct cold_latest *l, uint32_t sid)
{
    if (sid < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : 1024;
    while (cap <= sid)
        cap *= 2;
    struct latest_entry *e = realloc(l->e, cap * sizeof *e);
    if (!e)
        return SLUICE_ENOMEM;
    memset(e + l->cap, 0, (cap - l->cap) * sizeof *e);
    l->e = e;
    l->cap = cap;
    return 0;
}

/* Write lock held. Sets sid's entry (without its value if that cannot be allocated);
 * SLUICE_ENOMEM if the array cannot hold sid. */
static int entry_set(struct cold_latest *l, uint32_t sid, uint64_t ts, uint64_t lsn,
                     const void *val, uint32_t vlen, int have_val)
{
    if (entries_reserve(l, sid))
        return SLUICE_ENOMEM;
    struct latest_entry *e = &l->e[sid];
    free(e->val);
    *e = (struct latest_entry){.ts = ts, .lsn = lsn, .vlen = vlen, .state = E_KNOWN};
    if (have_val && vlen <= COLD_LATEST_VALUE_MAX && (e->val = malloc(vlen ? vlen : 1)) && vlen)
        memcpy(e->val, val, vlen); /* val may be NULL for an empty value */
    return 0;
}

static int entry_unknown(struct cold_latest *l, uint32_t sid)
{
    if (entries_reserve(l, sid))
        return SLUICE_ENOMEM;
    free(l->e[sid].val);
    l->e[sid] = (struct latest_entry){.state = E_UNKNOWN};
    return 0;
}

/* Write lock held: every read misses until a build from a view at upto. */
static void turn_off(struct cold_latest *l)
{
    entries_free(l);
    l->enabled = 0;
}

/* ---- the compactor's side ---- */

void cold_latest_round_begin(struct cold *c)
{
    struct cold_latest *l = c->latest;
    l->nnotes = 0;
    l->notes_val_len = 0;
    l->notes_lost = 0;
    pthread_rwlock_rdlock(&l->lock);
    l->notes_values = l->enabled;
    pthread_rwlock_unlock(&l->lock);
}

size_t cold_latest_mark(struct cold *c) { return c->latest->nnotes; }
void cold_latest_rewind(struct cold *c, size_t mark) { c->latest->nnotes = mark; }

void cold_latest_note(struct cold *c, uint32_t sid, int known, uint64_t ts, uint64_t lsn,
                      const void *val, uint32_t vlen)
{
    struct cold_latest *l = c->latest;
    if (l->nnotes == l->notes_cap) {
        size_t cap = l->notes_cap ? l->notes_cap * 2 : 1024;
        struct latest_note *p = realloc(l->notes, cap * sizeof *p);
        if (!p) {
            l->notes_lost = 1; /* a change the cache would not know of */
            return;
        }
        l->notes = p;
        l->notes_cap = cap;
    }
    struct latest_note *n = &l->notes[l->nnotes++];
    *n = (struct latest_note){.sid = sid, .known = (uint8_t)known, .ts = ts, .lsn = lsn,
                              .val_at = SIZE_MAX, .vlen = vlen};
    if (!known || !l->notes_values || vlen > COLD_LATEST_VALUE_MAX)
        return;
    if (l->notes_val_len + vlen > l->notes_val_cap) {
        size_t cap = l->notes_val_cap ? l->notes_val_cap : 1u << 16;
        while (cap < l->notes_val_len + vlen)
            cap *= 2;
        uint8_t *p = realloc(l->notes_val, cap);
        if (!p)
            return; /* the value is not kept: the entry will be ts and LSN only */
        l->notes_val = p;
        l->notes_val_cap = cap;
    }
    if (vlen)
        memcpy(l->notes_val + l->notes_val_len, val, vlen);
    n->val_at = l->notes_val_len;
    l->notes_val_len += vlen;
}

void cold_latest_publish(struct cold *c, uint64_t compacted_lsn, uint64_t retain_from)
{
    struct cold_latest *l = c->latest;
    pthread_rwlock_wrlock(&l->lock);
    if (l->enabled && l->notes_lost)
        turn_off(l);
    if (l->enabled) {
        int r = 0;
        for (size_t i = 0; !r && i < l->nnotes; i++) {
            const struct latest_note *n = &l->notes[i];
            /* a note made while the cache was off has no value: unknown */
            if (!n->known || !l->notes_values)
                r = entry_unknown(l, n->sid);
            else
                r = entry_set(l, n->sid, n->ts, n->lsn,
                              n->val_at == SIZE_MAX ? NULL : l->notes_val + n->val_at, n->vlen,
                              n->val_at != SIZE_MAX);
        }
        if (r)
            turn_off(l);
        /* retention dropped every block wholly older: a series whose newest record is
         * older has no block left */
        for (size_t i = 0; retain_from && i < l->cap; i++)
            if (l->e[i].state == E_KNOWN && l->e[i].ts < retain_from) {
                free(l->e[i].val);
                l->e[i] = (struct latest_entry){.state = E_ABSENT};
            }
    }
    l->upto = compacted_lsn; /* also while off: a build must start from this state */
    pthread_rwlock_unlock(&l->lock);
    l->nnotes = 0;
    l->notes_val_len = 0;
}

/* ---- the readers' side ---- */

struct build_arg {
    struct cold_view *v;
    struct cold_latest *l;
    uint8_t *buf;
    size_t cap;
};

static int build_one(void *arg, uint32_t sid, const void *key, size_t klen)
{
    (void)key, (void)klen;
    struct build_arg *b = arg;
    uint64_t ts, lsn;
    size_t vlen;
    int r = cold_get_le_id(b->v, sid, UINT64_MAX, &ts, &lsn, b->buf, b->cap, &vlen);
    if (r == SLUICE_NOTFOUND)
        return entries_reserve(b->l, sid); /* retention left the series no block: absent */
    if (r == SLUICE_ERANGE) /* larger than the cache keeps: ts and LSN only */
        return entry_set(b->l, sid, ts, lsn, NULL, (uint32_t)vlen, 0);
    return r ? r : entry_set(b->l, sid, ts, lsn, b->buf, (uint32_t)vlen, 1);
}

int cold_latest_build(struct cold_view *v)
{
    struct cold_latest *l = v->c->latest;
    pthread_rwlock_rdlock(&l->lock);
    int skip = l->enabled || l->upto != v->compacted_lsn;
    pthread_rwlock_unlock(&l->lock);
    /* a view at another compacted_lsn than the last published would build a cache that
     * the rounds published after it do not update correctly: a later reader builds */
    if (skip || !v->txn)
        return 0;
    uint8_t *buf = malloc(COLD_LATEST_VALUE_MAX);
    if (!buf)
        return SLUICE_ENOMEM;
    /* the whole build under the write lock: a round published meanwhile would otherwise
     * be overwritten by this older view's figures */
    pthread_rwlock_wrlock(&l->lock);
    int r = 0;
    if (!l->enabled && l->upto == v->compacted_lsn) {
        struct build_arg b = {v, l, buf, COLD_LATEST_VALUE_MAX};
        r = cold_for_each_series(v, build_one, &b);
        if (r)
            entries_free(l); /* stays off: readers decode, and the next one tries again */
        else
            l->enabled = 1;
    }
    pthread_rwlock_unlock(&l->lock);
    free(buf);
    return r;
}

int cold_latest_get(struct cold_view *v, uint32_t sid, uint64_t *ts, uint64_t *lsn, void *buf,
                    size_t cap, size_t *vlen)
{
    struct cold_latest *l = v->c->latest;
    pthread_rwlock_rdlock(&l->lock);
    int r;
    if (!l->enabled || l->upto != v->compacted_lsn) {
        r = COLD_LATEST_MISS;
    } else if (sid >= l->cap || l->e[sid].state == E_ABSENT) {
        r = SLUICE_NOTFOUND;
    } else if (l->e[sid].state == E_UNKNOWN) {
        r = COLD_LATEST_MISS;
    } else {
        const struct latest_entry *e = &l->e[sid];
        *ts = e->ts;
        *lsn = e->lsn;
        *vlen = e->vlen;
        if (!e->val) {
            r = COLD_LATEST_NO_VALUE;
        } else if (cap < e->vlen) {
            r = SLUICE_ERANGE;
        } else {
            if (e->vlen)
                memcpy(buf, e->val, e->vlen);
            r = 0;
        }
    }
    pthread_rwlock_unlock(&l->lock);
    return r;
}

void cold_latest_fill(struct cold_view *v, uint32_t sid, uint64_t ts, uint64_t lsn,
                      const void *val, size_t vlen)
{
    struct cold_latest *l = v->c->latest;
    pthread_rwlock_wrlock(&l->lock);
    if (l->enabled && l->upto == v->compacted_lsn && sid < l->cap && l->e[sid].state == E_UNKNOWN)
        entry_set(l, sid, ts, lsn, val, (uint32_t)vlen, 1);
    pthread_rwlock_unlock(&l->lock);
}
