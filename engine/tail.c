/*
 * Tails: records in LSN order from any LSN, from whichever tier holds it (sluice.h).
 *
 * DESIGN. A tail is a cursor over the log's own sequence, not over the hot index:
 *  - the ring: a record whose LSN is above the index's ring_released_lsn is still in ring
 *    memory, in LSN order from ring_released_pos (padding aside). Under the index's
 *    release lock, shared — the writer takes it to raise ring_released_lsn before it
 *    releases ring bytes (writer.c, invariant 5), and for nothing else, so a tail never
 *    waits for indexing — the tail walks there with ring_next_claimed (ring_next that
 *    never reads past the claimed bytes, which the writer may be zeroing) and copies one
 *    record out. A caught-up tail reads only here: no I/O, and a record is seen once it
 *    is published (MEMORY), before the writer even indexed it.
 *  - segment files: anything older is read from DIR/log/<first LSN>.seg, or from
 *    DIR/replay when it was compacted and kept (tiers/compact/replay.h), through the
 *    tail's own descriptor and buffer, record by record, each checked (CRC, type,
 *    lengths, the LSN it must carry). A file the compactor deletes under a tail stays
 *    readable through the descriptor.
 * What a tail may deliver is bounded by its level: records published (MEMORY), written,
 * or durable, read from the log's positions. A read_only handle has no ring and frozen
 * positions: it reads what the files hold now — the valid records in LSN order; where
 * they end it waits and reads again — and at DURABLE it delivers a record once a later
 * segment exists (the writer starts one only when every earlier record is durable) or a
 * later fill's durable stamp covers it (record.h, invariant 6).
 *
 * A tail never holds a lock across I/O, never writes anything the writer reads, and takes
 * no lock a producer takes: it can delay the writer's release of ring bytes by one
 * record's copy at most, and never its indexing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "format.h"
#include "record.h"

/* A tail's file buffer: large reads for catch-up, and room for the largest record. */
#define TAIL_BUF_BYTES (1u << 20)
/* A MEMORY tail polls the ring this long before it sleeps on the indexed position: the
 * writer's wake-up and the futex wake after it cost tens of microseconds here. */
#define TAIL_SPIN_NS 50000
/* A read_only tail at the end of the files checks again this often, at most. */
#define TAIL_POLL_MAX_NS 10000000ull

struct sluice_tail {
    sluice_db *db;
    int level;           /* SLUICE_ACK_MEMORY, WRITTEN or DURABLE */
    uint64_t next;       /* the LSN of the next record to deliver */
    /* where record ring_lsn sits in the ring (0: unknown); valid while ring_lsn is above
     * ring_released_lsn */
    uint64_t ring_pos, ring_lsn;
    uint8_t *rec;        /* the copy of a record read from the ring */
    size_t rec_cap;
    /* the segment file being read */
    int fd;              /* -1: none */
    uint64_t file_first; /* its first LSN */
    int sealed;          /* a later segment exists: every record in it is durable */
    uint64_t pos;        /* file offset of the next record */
    uint64_t expect;     /* the LSN the record at pos must carry */
    uint64_t stamp;      /* the highest durable stamp of a fill read so far in the file */
    uint8_t *buf;
    size_t cap;
    uint64_t buf_off;
    size_t buf_len;
    int retried;         /* a record that must be there was read a second time */
};

/* --- the files ---------------------------------------------------------------------- */

/* The first LSNs of the segments in DIR/log and DIR/replay, sorted, without duplicates.
 * Log first: a segment only ever moves from log/ to replay/, so it cannot be missed. */
static int list_files(sluice_db *db, uint64_t **out, size_t *n)
{
    uint64_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int r = seg_list(db->logdir, &a, &na, NULL, NULL);
    if (r && r != -ENOENT)
        return r;
    r = seg_list(db->replaydir, &b, &nb, NULL, NULL);
    if (r && r != -ENOENT) {
        free(a);
        return r;
    }
    uint64_t *m = malloc((na + nb + 1) * sizeof *m);
    if (!m) {
        free(a);
        free(b);
        return SLUICE_ENOMEM;
    }
    size_t i = 0, j = 0, k = 0;
    while (i < na || j < nb) {
        uint64_t v = j >= nb || (i < na && a[i] <= b[j]) ? a[i++] : b[j++];
        if (!k || m[k - 1] != v)
            m[k++] = v;
    }
    free(a);
    free(b);
    *out = m;
    *n = k;
    return 0;
}

int db_oldest_lsn(sluice_db *db, uint64_t *lsn)
{
    uint64_t *v;
    size_t n;
    int r = list_files(db, &v, &n);
    if (r)
        return r;
    r = n ? 0 : SLUICE_NOTFOUND;
    if (n)
        *lsn = v[0];
    free(v);
    return r;
}

int sluice_tail_oldest(sluice_db *db, uint64_t *lsn)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    return lsn ? db_oldest_lsn(db, lsn) : SLUICE_EINVAL;
}

static void file_close(sluice_tail *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    t->buf_len = 0;
}

/* Opens the segment that holds lsn (the last one starting at or before it): 0,
 * SLUICE_ETRIMMED (none does any more), SLUICE_ECORRUPT (a bad header), -errno. */
static int file_open(sluice_tail *t, uint64_t lsn)
{
    sluice_db *db = t->db;
    file_close(t);
    for (int attempt = 0; attempt < 3; attempt++) {
        uint64_t *v;
        size_t n;
        int r = list_files(db, &v, &n);
        if (r)
            return r;
        size_t i = n;
        while (i > 0 && v[i - 1] > lsn)
            i--;
        if (i == 0) {
            free(v);
            return SLUICE_ETRIMMED;
        }
        uint64_t first = v[i - 1];
        t->sealed = i < n;
        free(v);
        char path[4096];
        int fd = -1;
        const char *dirs[2] = {db->logdir, db->replaydir};
        for (int d = 0; d < 2 && fd < 0; d++) {
            if (seg_path(path, sizeof path, dirs[d], first))
                return -ENAMETOOLONG;
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 && errno != ENOENT)
                return -errno;
        }
        if (fd < 0)
            continue; /* deleted between the listing and the open: list again */
        uint8_t block[SEG_HEADER_BYTES];
        struct seg_hdr h;
        ssize_t got = pread(fd, block, sizeof block, 0);
        if (got != (ssize_t)sizeof block || seg_hdr_check(block, &h) || h.first_lsn != first) {
            close(fd);
            return got < 0 ? -errno : SLUICE_ECORRUPT;
        }
        t->fd = fd;
        t->file_first = first;
        t->pos = SEG_HEADER_BYTES;
        t->expect = first;
        t->stamp = 0;
        t->buf_len = 0;
        return 0;
    }
    return SLUICE_ETRIMMED;
}

/* Makes at least `need` bytes from t->pos readable in the buffer (fewer at the end of
 * the file). Returns how many are, or -errno. */
static ssize_t file_window(sluice_tail *t, size_t need)
{
    uint64_t have_end = t->buf_off + t->buf_len;
    if (t->pos >= t->buf_off && have_end >= t->pos + need)
        return (ssize_t)(have_end - t->pos);
    ssize_t got;
    do
        got = pread(t->fd, t->buf, t->cap, (off_t)t->pos);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return -errno;
    t->buf_off = t->pos;
    t->buf_len = (size_t)got;
    return got;
}

/* What follows the current segment, where its valid records end (at t->expect).
 * FOLLOW_NONE: no later segment yet; FOLLOW_SWITCHED: the next one starts at t->expect
 * and is now open (only when may_switch); FOLLOW_SHORT: a later one exists but does not
 * start there — the current file ends short of it (damage, or a stale read) while it is
 * still listed, or, FOLLOW_GONE, the segments between were deleted (the current one
 * too: the tail reads it through its descriptor). <0: an error. */
enum { FOLLOW_NONE, FOLLOW_SWITCHED, FOLLOW_SHORT, FOLLOW_GONE };
static int file_follow(sluice_tail *t, int may_switch)
{
    uint64_t *v;
    size_t n;
    int r = list_files(t->db, &v, &n);
    if (r)
        return r;
    int later = 0, exact = 0, listed = 0;
    for (size_t i = 0; i < n; i++) {
        later |= v[i] > t->file_first;
        exact |= v[i] == t->expect && v[i] > t->file_first;
        listed |= v[i] == t->file_first;
    }
    free(v);
    t->sealed |= later;
    if (!may_switch || !later)
        return FOLLOW_NONE;
    if (exact)
        return (r = file_open(t, t->expect)) ? r : FOLLOW_SWITCHED;
    return listed ? FOLLOW_SHORT : FOLLOW_GONE;
}

/* The limit of what the tail may deliver on a writing handle. */
static uint64_t level_limit(const sluice_tail *t)
{
    const sluice_db *db = t->db;
    switch (t->level) {
    case SLUICE_ACK_DURABLE: return pos_load(&db->progress.durable);
    case SLUICE_ACK_WRITTEN:
        /* in a shared ring, publication is WRITTEN */
        return db->ring_shared ? UINT64_MAX : pos_load(&db->progress.written);
    default: return UINT64_MAX; /* whatever is published */
    }
}

/* Fills rec from the record h (type PUT or DELETE). */
static void deliver(const struct rec_hdr *h, sluice_tail_record *rec)
{
    rec->lsn = h->lsn;
    rec->key = rec_key(h);
    rec->klen = h->klen;
    rec->ts = h->ts;
    rec->val = rec_val(h);
    rec->vlen = h->vlen;
    rec->flags = (h->type == REC_DELETE ? SLUICE_TAIL_DELETE : 0) |
                 (h->flags & REC_F_LATE ? SLUICE_TAIL_LATE : 0);
}

/* Read_only at DURABLE: whether record lsn (at t->pos) is proven durable: its segment
 * is sealed, or a valid fill after it carries a durable stamp >= lsn. Reads ahead
 * (TAIL_SCAN_BYTES at most) without moving the tail. */
#define TAIL_SCAN_BYTES (256u << 10)
static int proven_durable(sluice_tail *t, uint64_t lsn)
{
    if (t->sealed || lsn <= t->stamp)
        return 1;
    uint8_t *scan = malloc(TAIL_SCAN_BYTES);
    if (scan) {
        ssize_t got = pread(t->fd, scan, TAIL_SCAN_BYTES, (off_t)t->pos);
        size_t at = 0, size;
        while (got > 0 && rec_check(scan + at, (size_t)got - at, &size) == REC_VALID) {
            const struct rec_hdr *h = (const struct rec_hdr *)(scan + at);
            if (h->type == REC_FILL && h->ts > t->stamp)
                t->stamp = h->ts;
            at += size;
        }
        free(scan);
    }
    if (lsn <= t->stamp)
        return 1;
    return file_follow(t, 0) >= 0 && t->sealed;
}

/* 1: a record delivered; 0: none yet; 2: a record skipped (not data); <0: an error. */
static int from_file(sluice_tail *t, sluice_tail_record *rec)
{
    sluice_db *db = t->db;
    if (t->fd < 0 || t->next < t->file_first || t->next < t->expect) {
        int r = file_open(t, t->next);
        if (r)
            return r;
    }
    for (;;) {
        ssize_t avail = file_window(t, REC_HDR_BYTES);
        if (avail < 0)
            return (int)avail;
        const uint8_t *p = t->buf + (t->pos - t->buf_off);
        size_t size = 0;
        enum rec_check_result c = rec_check(p, (size_t)avail, &size);
        if (c == REC_TRUNCATED && avail >= (ssize_t)REC_HDR_BYTES) {
            const struct rec_hdr *h = (const struct rec_hdr *)p;
            size_t want = rec_size(h->klen, h->vlen);
            if (want <= t->cap && (avail = file_window(t, want)) < 0)
                return (int)avail;
            p = t->buf + (t->pos - t->buf_off);
            c = rec_check(p, (size_t)avail, &size);
        }
        const struct rec_hdr *h = (const struct rec_hdr *)p;
        if (c == REC_VALID && h->lsn == t->expect) {
            if (h->type == REC_FILL) {
                if (h->ts > t->stamp)
                    t->stamp = h->ts;
                t->pos += size;
                continue;
            }
            if (h->lsn < t->next) { /* on the way to where the tail starts */
                t->pos += size;
                t->expect++;
                continue;
            }
            if (db->read_only ? t->level == SLUICE_ACK_DURABLE && !proven_durable(t, h->lsn)
                              : h->lsn > level_limit(t))
                return 0;
            t->retried = 0;
            t->pos += size;
            t->expect++;
            t->next++;
            if (h->type == REC_OFFSET)
                return 2;
            deliver(h, rec);
            return 1;
        }
        /* The valid records of this file end here, as far as the buffer shows: read once
         * more (the writer may have written since, or the page cache showed a block
         * before the write that filled it), then look for the next segment. */
        if (!t->retried) {
            t->retried = 1;
            t->buf_len = 0;
            continue;
        }
        int r = file_follow(t, 1);
        if (r < 0)
            return r;
        if (r == FOLLOW_SWITCHED)
            continue;
        if (r == FOLLOW_GONE)
            return SLUICE_ETRIMMED;
        if (r == FOLLOW_SHORT) {
            /* a later segment exists, so every record of this one is written: read it
             * once more after having seen that; still short is damage */
            if (t->retried < 2) {
                t->retried = 2;
                t->buf_len = 0;
                continue;
            }
            return SLUICE_ECORRUPT;
        }
        if (db->read_only) {
            t->retried = 0; /* the next call reads again */
            return 0;
        }
        /* A writing handle reads files only for records already written (the rest are in
         * the ring): one that is not there is damage. */
        return SLUICE_ECORRUPT;
    }
}

/* --- the ring ------------------------------------------------------------------------ */

/* Records walked past per hold of the release lock, on the way to a tail's LSN: the
 * writer waits for the lock to release ring bytes, so a hold stays short. */
#define RING_WALK_MAX 1024

/* 1: delivered, 2: skipped (not data), 0: not in the ring (released: read the files), 3:
 * not published yet. */
static int from_ring(sluice_tail *t, sluice_tail_record *rec)
{
    sluice_db *db = t->db;
    struct hot_index *x = &db->index;
    const struct rec_hdr *h = NULL;
    uint64_t cur, at;
    for (;;) {
        pthread_rwlock_rdlock(&x->release_lock);
        if (t->next <= x->ring_released_lsn) {
            pthread_rwlock_unlock(&x->release_lock);
            return 0;
        }
        if (!t->ring_lsn || t->ring_lsn <= x->ring_released_lsn || t->ring_lsn > t->next) {
            t->ring_pos = x->ring_released_pos;
            t->ring_lsn = x->ring_released_lsn + 1;
        }
        cur = t->ring_pos;
        for (int steps = 0; steps < RING_WALK_MAX; steps++) {
            uint64_t here = cur;
            h = ring_next_claimed(&db->ring, &cur, t->ring_lsn, &at);
            if (!h) {
                t->ring_pos = here;
                pthread_rwlock_unlock(&x->release_lock);
                return 3;
            }
            if (t->ring_lsn == t->next)
                goto found; /* still under the lock */
            t->ring_lsn++;
            t->ring_pos = cur;
        }
        pthread_rwlock_unlock(&x->release_lock);
    }
found:;
    size_t size = rec_size(h->klen, h->vlen);
    /* the buffer holds the largest record a put accepts */
    memcpy(t->rec, h, size < t->rec_cap ? size : t->rec_cap);
    pthread_rwlock_unlock(&x->release_lock);
    t->ring_pos = cur;
    t->ring_lsn++;
    t->next++;
    h = (const struct rec_hdr *)t->rec;
    if (h->type == REC_OFFSET)
        return 2;
    deliver(h, rec);
    return 1;
}

/* --- the API -------------------------------------------------------------------------- */

int sluice_tail_open(sluice_db *db, uint64_t from_lsn, int min_ack, sluice_tail **out)
{
    int bad = db_check(db);
    if (bad)
        return bad;
    int level = db_resolve_ack(db, min_ack);
    if (!out || level < 0 || level > SLUICE_ACK_DURABLE)
        return SLUICE_EINVAL;
    *out = NULL;
    uint64_t oldest;
    int r = db_oldest_lsn(db, &oldest);
    if (r && r != SLUICE_NOTFOUND)
        return r;
    if (r == SLUICE_NOTFOUND)
        oldest = pos_load(&db->progress.indexed) + 1;
    uint64_t end = (db->read_only ? pos_load(&db->progress.indexed) : ring_claimed_lsn(&db->ring)) + 1;
    uint64_t next = from_lsn == 0 ? oldest : from_lsn == SLUICE_TAIL_END ? end : from_lsn;
    if (next < oldest)
        return SLUICE_ETRIMMED;
    sluice_tail *t = calloc(1, sizeof *t);
    if (!t)
        return SLUICE_ENOMEM;
    t->db = db;
    t->level = level;
    t->next = next;
    t->fd = -1;
    t->rec_cap = rec_size(SLUICE_KEY_MAX, db->value_max);
    t->cap = t->rec_cap + REC_FILL_MAX > TAIL_BUF_BYTES ? t->rec_cap + REC_FILL_MAX : TAIL_BUF_BYTES;
    t->buf = malloc(t->cap);
    t->rec = db->read_only ? NULL : malloc(t->rec_cap);
    if (!t->buf || (!db->read_only && !t->rec)) {
        free(t->buf);
        free(t->rec);
        free(t);
        return SLUICE_ENOMEM;
    }
    atomic_fetch_add(&db->open_tails, 1);
    *out = t;
    return 0;
}

uint64_t sluice_tail_position(const sluice_tail *t) { return t ? t->next : 0; }

void sluice_tail_close(sluice_tail *t)
{
    if (!t)
        return;
    if (db_check(t->db) == SLUICE_EFORKED)
        return; /* the parent's handle: leave it alone */
    file_close(t);
    atomic_fetch_sub(&t->db->open_tails, 1);
    free(t->buf);
    free(t->rec);
    free(t);
}

/* One attempt: 1 delivered, 0 nothing yet, <0 an error. */
static int tail_try(sluice_tail *t, sluice_tail_record *rec)
{
    for (;;) {
        int r;
        if (!t->db->read_only) {
            if (t->next > level_limit(t))
                return 0;
            r = from_ring(t, rec);
            if (r == 3)
                return 0;
            if (r == 1 || r == 2) {
                if (r == 1)
                    return 1;
                continue;
            }
        }
        r = from_file(t, rec);
        if (r != 2)
            return r;
    }
}

static void nap_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

int sluice_tail_next(sluice_tail *t, sluice_tail_record *rec, uint32_t timeout_ms)
{
    if (!t || !rec)
        return SLUICE_EINVAL;
    sluice_db *db = t->db;
    int bad = db_check(db);
    if (bad)
        return bad;
    uint64_t deadline = 0, backoff = 100000, spin_until = 0;
    for (;;) {
        int r = tail_try(t, rec);
        if (r)
            return r < 0 ? r : 0;
        uint64_t now = clock_now_ns();
        if (!deadline) {
            deadline = now + (uint64_t)timeout_ms * 1000000u + 1;
            spin_until = now + TAIL_SPIN_NS;
        }
        /* A MEMORY tail first polls the ring itself: a record is readable once published,
         * before the writer indexes it, and a wake-up costs more than the gap between
         * records at 100 k/s. */
        if (!db->read_only && t->level == SLUICE_ACK_MEMORY && now < spin_until && now < deadline) {
            for (int i = 0; i < 64; i++)
                cpu_relax();
            continue;
        }
        if (now >= deadline)
            return SLUICE_ETIMEDOUT;
        if (db->read_only) {
            uint64_t left = deadline - now;
            nap_ns(left < backoff ? left : backoff);
            if (backoff < TAIL_POLL_MAX_NS)
                backoff *= 2;
            continue;
        }
        if (atomic_load(&db->progress.poison) && t->next > pos_load(&db->progress.durable))
            return SLUICE_EPOISONED;
        struct position *p = t->level == SLUICE_ACK_DURABLE ? &db->progress.durable
                             : t->level == SLUICE_ACK_WRITTEN && !db->ring_shared
                                 ? &db->progress.written
                                 : &db->progress.indexed;
        if (t->level == SLUICE_ACK_MEMORY)
            log_nudge(db->log); /* index what is published, as a read does: that wakes us */
        if (pos_load(p) >= t->next) {
            nap_ns(20000); /* the position passed, the record is not readable yet */
            continue;
        }
        r = pos_wait(p, t->next, deadline, 0, &db->progress.poison);
        if (r == SLUICE_EPOISONED || (r && r != SLUICE_ETIMEDOUT))
            continue; /* the next attempt delivers what is left, then says so */
    }
}
