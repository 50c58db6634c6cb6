#include "hot_index.h"

#include <stdlib.h>
#include <string.h>

#include "sluice.h"

int hot_init(struct hot_index *x)
{
    memset(x, 0, sizeof *x);
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* glibc's default prefers readers: a steady read load would starve the writer,
     * and with it indexing, i.e. visibility of new puts. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int r = pthread_rwlock_init(&x->lock, &a);
    if (!r && (r = pthread_rwlock_init(&x->release_lock, &a)))
        pthread_rwlock_destroy(&x->lock);
    pthread_rwlockattr_destroy(&a);
    if (r)
        return SLUICE_ENOMEM;
    x->nslots = 1024;
    x->slots = calloc(x->nslots, sizeof *x->slots);
    if (!x->slots) {
        pthread_rwlock_destroy(&x->release_lock);
        pthread_rwlock_destroy(&x->lock);
        return SLUICE_ENOMEM;
    }
    return 0;
}

void hot_destroy(struct hot_index *x)
{
    if (!x->slots)
        return;
    for (size_t i = 0; i < x->nslots; i++) {
        struct hot_series *s = x->slots[i];
        if (s) {
            free(s->key);
            free(s->base);
            free(s);
        }
    }
    free(x->slots);
    for (size_t i = 0; i < x->noffsets; i++)
        free(x->offsets[i].source);
    free(x->offsets);
    seg_table_free(&x->segs);
    pthread_rwlock_destroy(&x->release_lock);
    pthread_rwlock_destroy(&x->lock);
    memset(x, 0, sizeof *x);
}

uint64_t hot_hash(const void *key, size_t klen)
{
    /* FNV-1a with a final avalanche: keys are short and often share long prefixes. */
    const uint8_t *p = key;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static struct hot_series *find_hashed(const struct hot_index *x, const void *key, size_t klen,
                                      uint64_t h)
{
    size_t mask = x->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct hot_series *s = x->slots[i];
        if (!s)
            return NULL;
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s;
    }
}

struct hot_series *hot_find(const struct hot_index *x, const void *key, size_t klen)
{
    return find_hashed(x, key, klen, hot_hash(key, klen));
}

static int grow_slots(struct hot_index *x)
{
    size_t n = x->nslots * 2;
    struct hot_series **v = calloc(n, sizeof *v);
    if (!v)
        return SLUICE_ENOMEM;
    for (size_t i = 0; i < x->nslots; i++) {
        struct hot_series *s = x->slots[i];
        if (!s)
            continue;
        size_t j = s->hash & (n - 1);
        while (v[j])
            j = (j + 1) & (n - 1);
        v[j] = s;
    }
    free(x->slots);
    x->slots = v;
    x->nslots = n;
    return 0;
}

static struct hot_series *find_or_add(struct hot_index *x, const void *key, size_t klen,
                                      uint64_t hash)
{
    struct hot_series *s = find_hashed(x, key, klen, hash);
    if (s)
        return s;
    if ((x->nseries + 1) * 10 > x->nslots * 7 && grow_slots(x))
        return NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->key = malloc(klen);
    if (!s->key) {
        free(s);
        return NULL;
    }
    memcpy(s->key, key, klen);
    s->klen = (uint32_t)klen;
    s->hash = hash;
    size_t mask = x->nslots - 1;
    size_t i = s->hash & mask;
    while (x->slots[i])
        i = (i + 1) & mask;
    x->slots[i] = s;
    x->nseries++;
    return s;
}

static int entry_less(const struct hot_entry *a, uint64_t ts, uint64_t lsn)
{
    return a->ts < ts || (a->ts == ts && a->lsn < lsn);
}

static int offset_set(struct hot_index *x, const struct rec_hdr *h)
{
    const char *src = (const char *)rec_key(h);
    uint64_t off;
    memcpy(&off, rec_val(h), 8);
    for (size_t i = 0; i < x->noffsets; i++) {
        struct hot_offset *o = &x->offsets[i];
        if (strlen(o->source) == h->klen && memcmp(o->source, src, h->klen) == 0) {
            o->offset = off;
            o->lsn = h->lsn;
            return 0;
        }
    }
    /* Sources are few (one per upstream partition): a linear table is enough. */
    struct hot_offset *v = realloc(x->offsets, (x->noffsets + 1) * sizeof *v);
    if (!v)
        return SLUICE_ENOMEM;
    x->offsets = v;
    char *name = malloc(h->klen + 1u);
    if (!name)
        return SLUICE_ENOMEM;
    memcpy(name, src, h->klen);
    name[h->klen] = 0;
    v[x->noffsets++] = (struct hot_offset){.source = name, .offset = off, .lsn = h->lsn};
    return 0;
}

/* Room for one more entry at e[n]: slides the live entries down over pruned ones when
 * they take at least half the allocation, else doubles it. */
static int make_room(struct hot_series *s)
{
    size_t head = (size_t)(s->e - s->base), total = head + s->cap;
    if (head && head >= s->n) {
        memmove(s->base, s->e, s->n * sizeof *s->e);
        s->e = s->base;
        s->cap = total;
        return 0;
    }
    size_t cap = total ? total * 2 : 8;
    struct hot_entry *b = realloc(s->base, cap * sizeof *b);
    if (!b)
        return SLUICE_ENOMEM;
    s->base = b;
    s->e = b + head;
    s->cap = cap - head;
    return 0;
}

static int insert_hashed(struct hot_index *x, const struct rec_hdr *h, uint64_t ring_pos,
                         uint64_t hash)
{
    if (h->type == REC_OFFSET)
        return offset_set(x, h);
    struct hot_series *s = find_or_add(x, rec_key(h), h->klen, hash);
    if (!s)
        return SLUICE_ENOMEM;
    if (s->n == s->cap && make_room(s))
        return SLUICE_ENOMEM;
    struct hot_entry ne = {.ts = h->ts, .lsn = h->lsn, .ring_pos = ring_pos, .vlen = h->vlen,
                           .type = h->type};
    size_t i = s->n;
    if (i && !entry_less(&s->e[i - 1], ne.ts, ne.lsn)) {
        /* Late data: binary search its place; appends are the common case. */
        size_t lo = 0, hi = s->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (entry_less(&s->e[mid], ne.ts, ne.lsn))
                lo = mid + 1;
            else
                hi = mid;
        }
        i = lo;
        memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof *s->e);
        s->lsn_unordered = 1; /* a higher LSN now precedes lower ones */
    }
    s->e[i] = ne;
    s->n++;
    x->records++;
    return 0;
}

int hot_insert(struct hot_index *x, const struct rec_hdr *h, uint64_t ring_pos)
{
    return insert_hashed(x, h, ring_pos, h->type == REC_OFFSET ? 0 : hot_hash(rec_key(h), h->klen));
}

/* One insert is a chain of dependent loads (slot, series, key, the tail of the series'
 * entries), each a likely cache miss when records of thousands of series interleave:
 * half of recovery's time was spent in single inserts, most of it waiting on the last
 * link. A batch walks the chain one link
 * at a time for all its records, prefetching the next link, so the misses of a batch
 * overlap instead of adding up; the inserts then find their lines in cache. */
int hot_insert_batch(struct hot_index *x, const struct rec_hdr *const *hs,
                     const uint64_t *ring_pos, size_t n)
{
    uint64_t hash[HOT_BATCH_MAX];
    for (size_t done = 0; done < n;) {
        size_t m = n - done < HOT_BATCH_MAX ? n - done : HOT_BATCH_MAX;
        const struct rec_hdr *const *h = hs + done;
        size_t mask = x->nslots - 1;
        for (size_t i = 0; i < m; i++) {
            hash[i] = h[i]->type == REC_OFFSET ? 0 : hot_hash(rec_key(h[i]), h[i]->klen);
            __builtin_prefetch(&x->slots[hash[i] & mask]);
        }
        for (size_t i = 0; i < m; i++) {
            const struct hot_series *s = x->slots[hash[i] & mask];
            if (s)
                __builtin_prefetch(s);
        }
        for (size_t i = 0; i < m; i++) {
            const struct hot_series *s = x->slots[hash[i] & mask];
            if (s && s->hash == hash[i]) {
                __builtin_prefetch(s->key);
                /* the entry before (the order check) and the one to be written */
                if (s->n)
                    __builtin_prefetch(&s->e[s->n - 1], 1);
                if (s->n < s->cap)
                    __builtin_prefetch(&s->e[s->n], 1);
            }
        }
        for (size_t i = 0; i < m; i++) {
            int r = insert_hashed(x, h[i], ring_pos ? ring_pos[done + i] : 0, hash[i]);
            if (r)
                return r;
        }
        done += m;
    }
    return 0;
}

void hot_prune(struct hot_index *x, uint64_t upto)
{
    if (upto > x->pruned_upto)
        x->pruned_upto = upto;
    for (size_t i = 0; i < x->nslots; i++) {
        struct hot_series *s = x->slots[i];
        if (!s || !s->n)
            continue;
        if (!s->lsn_unordered) {
            /* the compacted entries are a prefix: step over it (O(log n), where a pass
             * over every entry made each round cost as much as the whole backlog) */
            size_t lo = 0, hi = s->n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (s->e[mid].lsn <= upto)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            s->e += lo;
            s->cap -= lo;
            s->n -= lo;
            x->records -= lo;
            continue;
        }
        size_t keep = 0;
        int unordered = 0;
        for (size_t j = 0; j < s->n; j++)
            if (s->e[j].lsn > upto) {
                unordered |= keep && s->e[j].lsn < s->e[keep - 1].lsn;
                s->e[keep++] = s->e[j];
            }
        x->records -= s->n - keep;
        s->n = keep;
        s->lsn_unordered = (uint8_t)unordered;
    }
}

size_t hot_seek(const struct hot_series *s, uint64_t ts)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->e[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct hot_entry *hot_at(const struct hot_series *s, uint64_t ts, uint64_t snap)
{
    const struct hot_entry *best = NULL;
    for (size_t i = hot_seek(s, ts); i < s->n && s->e[i].ts == ts; i++)
        if (s->e[i].lsn <= snap)
            best = &s->e[i];
    return best;
}

int hot_offset_get(const struct hot_index *x, const char *source, uint64_t *offset)
{
    for (size_t i = 0; i < x->noffsets; i++)
        if (strcmp(x->offsets[i].source, source) == 0) {
            *offset = x->offsets[i].offset;
            return 0;
        }
    return SLUICE_NOTFOUND;
}

