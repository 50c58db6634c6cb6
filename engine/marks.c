/*
 * Named cursors and watermarks: small named positions stored in the log as offsets
 * under reserved names (0x01 'c' NAME, 0x01 'w' NAME), so they are ordered with the
 * data, survive crashes exactly as offsets do, and ride into the cold tier's meta at
 * compaction without a format of their own. A cursor's drop stores UINT64_MAX.
 *
 * The table in struct marks mirrors what is stored: filled at open from the cold tier
 * and then the log (newer wins), changed under marks.mu together with appending the
 * record, so two commits of one name reach the log in the order the table saw them.
 * The writer appends at MEMORY under the mutex and waits for the caller's level after
 * releasing it: a DURABLE commit never holds other commits back for an fdatasync.
 *
 * The low watermark (the minimum over sources) is cached in db->low_watermark, one load
 * per put; watermarks only move up, so the cache only moves up too.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "record.h"

enum { KIND_CURSOR = 0, KIND_WATERMARK = 1 };
static const char kind_tag[2] = {'c', 'w'};

void marks_init(sluice_db *db) { pthread_mutex_init(&db->marks.mu, NULL); }

void marks_destroy(sluice_db *db)
{
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < db->marks.n[k]; i++)
            free(db->marks.v[k][i].name);
        free(db->marks.v[k]);
    }
    pthread_mutex_destroy(&db->marks.mu);
}

/* Under mu. The index of name, or where it would go (*found 0). */
static size_t mark_find(const struct marks *m, int kind, const char *name, int *found)
{
    size_t lo = 0, hi = m->n[kind];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->v[kind][mid].name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

/* Under mu. Sets (or, value UINT64_MAX for a cursor, removes) name's entry. */
static int mark_set(struct marks *m, int kind, const char *name, uint64_t value)
{
    int found;
    size_t i = mark_find(m, kind, name, &found);
    if (kind == KIND_CURSOR && value == UINT64_MAX) {
        if (found) {
            free(m->v[kind][i].name);
            memmove(&m->v[kind][i], &m->v[kind][i + 1], (m->n[kind] - i - 1) * sizeof(struct mark));
            m->n[kind]--;
        }
        return 0;
    }
    if (found) {
        m->v[kind][i].value = value;
        m->v[kind][i].lagging = 0;
        return 0;
    }
    if (m->n[kind] == m->cap[kind]) {
        size_t cap = m->cap[kind] ? m->cap[kind] * 2 : 8;
        struct mark *v = realloc(m->v[kind], cap * sizeof *v);
        if (!v)
            return SLUICE_ENOMEM;
        m->v[kind] = v;
        m->cap[kind] = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return SLUICE_ENOMEM;
    memmove(&m->v[kind][i + 1], &m->v[kind][i], (m->n[kind] - i) * sizeof(struct mark));
    m->v[kind][i] = (struct mark){.name = copy, .value = value};
    m->n[kind]++;
    return 0;
}

/* Under mu: the low watermark cache follows the table. */
static void low_refresh(sluice_db *db)
{
    struct marks *m = &db->marks;
    uint64_t low = m->n[KIND_WATERMARK] ? UINT64_MAX : 0;
    for (size_t i = 0; i < m->n[KIND_WATERMARK]; i++)
        if (m->v[KIND_WATERMARK][i].value < low)
            low = m->v[KIND_WATERMARK][i].value;
    atomic_store(&db->low_watermark, low);
}

/* A stored offset name -> its kind and the mark's name; -1 for a user's offset. */
static int parse_stored(const char *source, const char **name)
{
    if ((unsigned char)source[0] != MARK_PREFIX || !source[1] || !source[2])
        return -1;
    *name = source + 2;
    return source[1] == 'c' ? KIND_CURSOR : source[1] == 'w' ? KIND_WATERMARK : -1;
}

static int load_one(void *arg, const char *source, uint64_t value)
{
    sluice_db *db = arg;
    const char *name;
    int kind = parse_stored(source, &name);
    return kind < 0 ? 0 : mark_set(&db->marks, kind, name, value);
}

int marks_load(sluice_db *db)
{
    int r = 0;
    pthread_mutex_lock(&db->marks.mu);
    if (db->cold) {
        struct cold_view v;
        if (!(r = cold_view_begin(db->cold, &v))) {
            if (v.txn) {
                r = cold_for_each_offset(&v, load_one, db);
                cold_view_end(&v);
            }
        }
    }
    hot_rdlock(&db->index);
    for (size_t i = 0; !r && i < db->index.noffsets; i++)
        r = load_one(db, db->index.offsets[i].source, db->index.offsets[i].offset);
    hot_unlock(&db->index);
    low_refresh(db);
    /* a cursor older than anything retained fell behind before this open */
    uint64_t oldest;
    if (!r && db_oldest_lsn(db, &oldest) == 0)
        for (size_t i = 0; i < db->marks.n[KIND_CURSOR]; i++)
            if (db->marks.v[KIND_CURSOR][i].value + 1 < oldest)
                db->marks.v[KIND_CURSOR][i].lagging = 1;
    pthread_mutex_unlock(&db->marks.mu);
    return r;
}

static int name_ok(const char *name)
{
    if (!name)
        return 0;
    size_t n = strnlen(name, SLUICE_CURSOR_NAME_MAX + 1);
    return n > 0 && n <= SLUICE_CURSOR_NAME_MAX;
}

/* Appends the record of (kind, name) = value and updates the table, under mu; then waits
 * for ack outside it. check (may be NULL) refuses under mu with its code. */
static int mark_store(sluice_db *db, int kind, const char *name, uint64_t value, int ack,
                      int (*check)(sluice_db *db, const struct mark *cur, uint64_t value))
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!name_ok(name))
        return SLUICE_EINVAL;
    if (db->read_only)
        return SLUICE_EREADONLY;
    int level = db_resolve_ack(db, ack);
    if (level < 0)
        return SLUICE_EINVAL;
    char source[SLUICE_SOURCE_MAX + 1];
    size_t len = strlen(name);
    source[0] = MARK_PREFIX;
    source[1] = kind_tag[kind];
    memcpy(source + 2, name, len + 1);
    pthread_mutex_lock(&db->marks.mu);
    int found;
    size_t i = mark_find(&db->marks, kind, name, &found);
    int r = check ? check(db, found ? &db->marks.v[kind][i] : NULL, value) : 0;
    uint64_t lsn = 0;
    if (!r)
        r = db_append_ack(db, REC_OFFSET, source, len + 2, 0, &value, sizeof value,
                          SLUICE_ACK_MEMORY, &lsn);
    if (!r)
        r = mark_set(&db->marks, kind, name, value);
    if (!r && kind == KIND_WATERMARK)
        low_refresh(db);
    if (!r && kind == KIND_CURSOR && value != UINT64_MAX) {
        /* recommitted past what was let go: no longer lagging; still behind: still is */
        uint64_t oldest;
        size_t j = mark_find(&db->marks, kind, name, &found);
        if (found && db_oldest_lsn(db, &oldest) == 0 && value + 1 < oldest)
            db->marks.v[kind][j].lagging = 1;
    }
    pthread_mutex_unlock(&db->marks.mu);
    return r ? r : db_wait_level(db, lsn, level, 0);
}

static int cursor_check(sluice_db *db, const struct mark *cur, uint64_t lsn)
{
    (void)cur;
    return lsn == UINT64_MAX || lsn > ring_claimed_lsn(&db->ring) ? SLUICE_EINVAL : 0;
}

static int drop_check(sluice_db *db, const struct mark *cur, uint64_t lsn)
{
    (void)db, (void)lsn;
    return cur ? 0 : SLUICE_NOTFOUND;
}

static int watermark_check(sluice_db *db, const struct mark *cur, uint64_t ts)
{
    (void)db;
    return cur && ts < cur->value ? SLUICE_EORDER : 0;
}

int sluice_cursor_commit(sluice_db *db, const char *name, uint64_t lsn, int ack)
{
    return mark_store(db, KIND_CURSOR, name, lsn, ack, cursor_check);
}

int sluice_cursor_drop(sluice_db *db, const char *name, int ack)
{
    return mark_store(db, KIND_CURSOR, name, UINT64_MAX, ack, drop_check);
}

int sluice_watermark_put(sluice_db *db, const char *source, uint64_t ts, int ack)
{
    return mark_store(db, KIND_WATERMARK, source, ts, ack, watermark_check);
}

static int mark_get(sluice_db *db, int kind, const char *name, uint64_t *value, int *lagging)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!name_ok(name) || !value)
        return SLUICE_EINVAL;
    pthread_mutex_lock(&db->marks.mu);
    int found;
    size_t i = mark_find(&db->marks, kind, name, &found);
    if (found) {
        *value = db->marks.v[kind][i].value;
        if (lagging)
            *lagging = db->marks.v[kind][i].lagging;
    }
    pthread_mutex_unlock(&db->marks.mu);
    return found ? 0 : SLUICE_NOTFOUND;
}

int sluice_cursor_get(sluice_db *db, const char *name, uint64_t *lsn, int *lagging)
{
    return mark_get(db, KIND_CURSOR, name, lsn, lagging);
}

int sluice_watermark_get(sluice_db *db, const char *source, uint64_t *ts)
{
    return mark_get(db, KIND_WATERMARK, source, ts, NULL);
}

int sluice_watermark_low(sluice_db *db, uint64_t *ts)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!ts)
        return SLUICE_EINVAL;
    pthread_mutex_lock(&db->marks.mu);
    int any = db->marks.n[KIND_WATERMARK] > 0;
    *ts = atomic_load(&db->low_watermark);
    pthread_mutex_unlock(&db->marks.mu);
    return any ? 0 : SLUICE_NOTFOUND;
}

int sluice_marks_list(sluice_db *db,
                      int (*fn)(void *arg, int kind, const char *name, uint64_t value, int lagging),
                      void *arg)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    if (!fn)
        return SLUICE_EINVAL;
    /* a copy: fn may take its time, and may call back into the database */
    struct marks *m = &db->marks;
    pthread_mutex_lock(&m->mu);
    size_t n = m->n[0] + m->n[1];
    struct mark *copy = calloc(n ? n : 1, sizeof *copy);
    int kinds[2] = {(int)m->n[0], (int)m->n[1]};
    int r = copy ? 0 : SLUICE_ENOMEM;
    for (size_t k = 0, j = 0; !r && k < 2; k++)
        for (size_t i = 0; i < m->n[k]; i++, j++) {
            copy[j] = m->v[k][i];
            if (!(copy[j].name = strdup(m->v[k][i].name)))
                r = SLUICE_ENOMEM;
        }
    pthread_mutex_unlock(&m->mu);
    for (size_t j = 0; !r && j < n; j++)
        r = fn(arg, j < (size_t)kinds[0] ? SLUICE_MARK_CURSOR : SLUICE_MARK_WATERMARK,
               copy[j].name, copy[j].value, copy[j].lagging);
    for (size_t j = 0; copy && j < n; j++)
        free(copy[j].name);
    free(copy);
    return r;
}

uint64_t marks_cursor_need(void *arg)
{
    sluice_db *db = arg;
    uint64_t need = UINT64_MAX;
    pthread_mutex_lock(&db->marks.mu);
    for (size_t i = 0; i < db->marks.n[KIND_CURSOR]; i++) {
        const struct mark *c = &db->marks.v[KIND_CURSOR][i];
        if (!c->lagging && c->value + 1 < need)
            need = c->value + 1;
    }
    pthread_mutex_unlock(&db->marks.mu);
    return need;
}

void marks_cursor_lag(void *arg, uint64_t below, uint64_t oldest)
{
    sluice_db *db = arg;
    pthread_mutex_lock(&db->marks.mu);
    for (size_t i = 0; i < db->marks.n[KIND_CURSOR]; i++) {
        struct mark *c = &db->marks.v[KIND_CURSOR][i];
        if (!c->lagging && c->value + 1 < below) {
            c->lagging = 1;
            obs_event(db, SLUICE_EVENT_CURSOR_LAGGING, c->value, oldest);
        }
    }
    pthread_mutex_unlock(&db->marks.mu);
}

void marks_count(sluice_db *db, uint64_t *cursors, uint64_t *lagging)
{
    pthread_mutex_lock(&db->marks.mu);
    *cursors = db->marks.n[KIND_CURSOR];
    *lagging = 0;
    for (size_t i = 0; i < db->marks.n[KIND_CURSOR]; i++)
        *lagging += db->marks.v[KIND_CURSOR][i].lagging != 0;
    pthread_mutex_unlock(&db->marks.mu);
}
