/*
 * Recovery, run by sluice_open before any thread starts.
 *
 *   list log/ ──▶ delete *.tmp ──▶ for each *.seg in LSN order:
 *        check header (magic, version, CRC, UUID, seq, first LSN == name == expected)
 *        walk records (CRC, LSN continuity), indexing each; step over damage the
 *          cold tier covers (LSNs <= compacted_lsn: walker.h), reporting it
 *        scan what follows the last valid record:
 *          valid later record, or not the last segment and LSNs do not continue
 *                                  ──▶ SLUICE_ECORRUPT naming file and offset
 *          last segment, garbage   ──▶ zero it (the torn tail) and fdatasync
 *
 * Indexing is most of the work (a few cache misses per record), reading and checking the
 * rest; a helper thread indexes while this one reads (struct index_feed below).
 *
 * Every step is idempotent, so a crash during recovery is recovered by the next open.
 * An I/O error fails the open before anything is changed on disk: the tail is cut only
 * after every segment was read.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "placement.h"
#include "sluice.h"
#include "walker.h"

static void reason(char *errbuf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reason(char *errbuf, size_t cap, const char *fmt, ...)
{
    if (!errbuf || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, cap, fmt, ap);
    va_end(ap);
}

struct tmp_removal {
    struct log *lg;
    int read_only;
};

/* A segment whose creation did not finish never held acknowledged data. */
static void remove_tmp(void *arg, const char *name)
{
    struct tmp_removal *t = arg;
    if (t->read_only)
        return;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", t->lg->logdir, name);
    t->lg->io->ops->unlink(t->lg->io, p);
}

static int list_segments(struct log *lg, int read_only, uint64_t **out, size_t *n,
                         char *errbuf, size_t errcap)
{
    struct tmp_removal t = {lg, read_only};
    int r = seg_list(lg->logdir, out, n, remove_tmp, &t);
    if (r < 0 && r > -4096)
        reason(errbuf, errcap, "%s: cannot open directory: %s", lg->logdir, strerror(-r));
    return r;
}

struct tail_cut {
    int fd;
    uint64_t from, to;
};

/* Damage stepped over because the cold tier holds its records: reported once the open
 * succeeds, through errbuf (a note), an event per stretch and the stats. */
struct skip_report {
    struct log *lg;
    const char *path;
    char *errbuf;
    size_t errcap;
};

static void on_skip(void *arg, const struct seg_skip *s)
{
    struct skip_report *sr = arg;
    struct log *lg = sr->lg;
    lg->recovery_skipped_lsns += s->last_lsn + 1 - s->first_lsn;
    if (!lg->recovery_skips++)
        reason(sr->errbuf, sr->errcap,
               "%s: offset %" PRIu64 ": %" PRIu64 " damaged bytes stepped over (LSN %" PRIu64
               "..%" PRIu64 ", already in the cold tier: nothing lost)",
               sr->path, s->off, s->end - s->off, s->first_lsn, s->last_lsn);
    if (lg->on_event)
        lg->on_event(lg->event_arg, SLUICE_EVENT_DAMAGE_SKIPPED, s->first_lsn, s->last_lsn);
}

/*
 * The index feed: this thread walks and checks the segments and copies what the index
 * keeps of each record (its header and key; an offset record's value) into chunks; a
 * helper thread indexes full chunks in batches (hot_insert_batch) under the write lock,
 * overlapping the walk's reads and checksums with the index's cache misses. Records
 * reach the index in LSN order, as they would inline.
 *
 * Lifecycle: started by log_recover, which alone submits chunks; feed_finish waits for
 * the last chunk and joins it on every path, so no thread outlives recovery (read-only
 * opens included). Where it cannot start, chunks are indexed inline.
 *
 * Sharing: the indexer touches series and offsets only, under the write lock; the
 * segment table (offsets of records, new segments) stays this thread's, as no reader
 * exists yet. Chunks pass between the two under the feed's mutex.
 */
#define FEED_CHUNK_BYTES (512u << 10)
#define FEED_CHUNK_RECS 4096u
#define FEED_CHUNKS 4u

struct feed_chunk {
    uint8_t *bytes;
    size_t used, n;
    const struct rec_hdr **recs;
};

struct index_feed {
    struct hot_index *index;
    pthread_t thread;
    int threaded;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct feed_chunk chunks[FEED_CHUNKS];
    uint64_t filled, indexed; /* chunks handed over, chunks indexed: [indexed, filled) wait */
    int closing;
    int err; /* the first indexing error; later chunks are dropped */
};

static int index_chunk(struct hot_index *x, struct feed_chunk *c)
{
    hot_wrlock(x);
    int r = hot_insert_batch(x, c->recs, NULL, c->n);
    hot_unlock(x);
    c->n = c->used = 0;
    return r;
}

static void *indexer_main(void *arg)
{
    struct index_feed *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (f->indexed == f->filled && !f->closing)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->indexed == f->filled)
            break;
        struct feed_chunk *c = &f->chunks[f->indexed % FEED_CHUNKS];
        int skip = f->err != 0;
        pthread_mutex_unlock(&f->mu);
        int r = 0;
        if (skip)
            c->n = c->used = 0;
        else
            r = index_chunk(f->index, c);
        pthread_mutex_lock(&f->mu);
        if (r && !f->err)
            f->err = r;
        f->indexed++;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static void feed_free(struct index_feed *f)
{
    for (unsigned i = 0; i < FEED_CHUNKS; i++) {
        free(f->chunks[i].bytes);
        free(f->chunks[i].recs);
    }
}

static int feed_start(struct index_feed *f, struct hot_index *x, uint64_t cpus)
{
    memset(f, 0, sizeof *f);
    f->index = x;
    for (unsigned i = 0; i < FEED_CHUNKS; i++) {
        f->chunks[i].bytes = malloc(FEED_CHUNK_BYTES);
        f->chunks[i].recs = malloc(FEED_CHUNK_RECS * sizeof *f->chunks[i].recs);
        if (!f->chunks[i].bytes || !f->chunks[i].recs) {
            feed_free(f);
            return SLUICE_ENOMEM;
        }
    }
    if (pthread_mutex_init(&f->mu, NULL)) {
        feed_free(f);
        return SLUICE_ENOMEM;
    }
    if (pthread_cond_init(&f->cv, NULL)) {
        pthread_mutex_destroy(&f->mu);
        feed_free(f);
        return SLUICE_ENOMEM;
    }
    f->threaded = pthread_create(&f->thread, NULL, indexer_main, f) == 0;
    if (f->threaded)
        thread_place(f->thread, cpus);
    return 0;
}

/* Hands the chunk being filled to the indexer and waits until the next one is free. */
static int feed_submit(struct index_feed *f)
{
    struct feed_chunk *c = &f->chunks[f->filled % FEED_CHUNKS];
    if (!c->n && !f->threaded)
        return f->err;
    if (!c->n) {
        pthread_mutex_lock(&f->mu);
        int r = f->err;
        pthread_mutex_unlock(&f->mu);
        return r;
    }
    if (!f->threaded) {
        int r = index_chunk(f->index, c);
        if (r && !f->err)
            f->err = r;
        return f->err;
    }
    pthread_mutex_lock(&f->mu);
    f->filled++;
    pthread_cond_broadcast(&f->cv);
    while (f->filled - f->indexed == FEED_CHUNKS)
        pthread_cond_wait(&f->cv, &f->mu);
    int r = f->err;
    pthread_mutex_unlock(&f->mu);
    return r;
}

/* Copies what the index needs of h into the chunk being filled. */
static int feed_add(struct index_feed *f, const struct rec_hdr *h)
{
    size_t vcopy = h->type == REC_OFFSET ? 8 : 0;
    size_t need = (REC_HDR_BYTES + h->klen + vcopy + 7) & ~(size_t)7;
    struct feed_chunk *c = &f->chunks[f->filled % FEED_CHUNKS];
    if (c->n == FEED_CHUNK_RECS || c->used + need > FEED_CHUNK_BYTES) {
        int r = feed_submit(f);
        if (r)
            return r;
        c = &f->chunks[f->filled % FEED_CHUNKS];
    }
    uint8_t *p = c->bytes + c->used;
    memcpy(p, h, REC_HDR_BYTES + h->klen);
    if (vcopy) {
        /* offset_set reads 8 bytes of value; a shorter one (never written) reads zeros */
        memset(p + REC_HDR_BYTES + h->klen, 0, 8);
        memcpy(p + REC_HDR_BYTES + h->klen, rec_val(h), h->vlen < 8 ? h->vlen : 8);
    }
    c->recs[c->n++] = (const struct rec_hdr *)p;
    c->used += need;
    return 0;
}

/* Indexes what is left, joins the indexer; the first indexing error, or 0. */
static int feed_finish(struct index_feed *f)
{
    int r = feed_submit(f);
    if (f->threaded) {
        pthread_mutex_lock(&f->mu);
        f->closing = 1;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
        r = f->err;
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    feed_free(f);
    return r;
}

/* Walks one segment, feeding its records to the index. */
static int recover_segment(struct log *lg, struct index_feed *feed, int fd, const char *path,
                           uint32_t segidx,
                           uint64_t first_lsn, uint64_t expect_seq, int first,
                           int last, struct tail_cut *cut, uint64_t *next_lsn,
                           char *errbuf, size_t errcap)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    /* A reader of a directory another process writes: pages it cached before the
     * writer's O_DIRECT writes landed may be stale (a buffered read racing a direct write
     * can re-cache old bytes); drop them so the walk reads the disk. */
    if (lg->read_only)
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    struct seg_walker w;
    int r = seg_walker_open(&w, lg->io, fd, (uint64_t)st.st_size);
    if (r) {
        if (r == SLUICE_ECORRUPT || r == SLUICE_EVERSION)
            reason(errbuf, errcap, "%s: offset 0: %s", path,
                   r == SLUICE_EVERSION ? "unsupported format version" : "invalid segment header");
        goto out;
    }
    if (first && !lg->uuid_known) {
        memcpy(lg->uuid, w.hdr.uuid, 16);
    } else if (memcmp(lg->uuid, w.hdr.uuid, 16) != 0) {
        reason(errbuf, errcap, "%s: offset 0: segment belongs to another database", path);
        r = SLUICE_ECORRUPT;
        goto out;
    }
    if (w.hdr.first_lsn != first_lsn || (!first && (first_lsn != *next_lsn ||
                                                    w.hdr.segment_seq != expect_seq))) {
        /* (the first live segment's seq is whatever it is: earlier ones were compacted) */
        reason(errbuf, errcap,
               "%s: offset 0: segment starts at LSN %" PRIu64 " (seq %" PRIu64
               "), expected LSN %" PRIu64 " (seq %" PRIu64 ")",
               path, w.hdr.first_lsn, w.hdr.segment_seq, first ? first_lsn : *next_lsn,
               expect_seq);
        r = SLUICE_ECORRUPT;
        goto out;
    }
    lg->next_seq = w.hdr.segment_seq + 1;
    struct skip_report sr = {lg, path, errbuf, errcap};
    w.skip_upto = lg->compacted_lsn;
    w.on_skip = on_skip;
    w.skip_arg = &sr;
    const struct rec_hdr *h;
    uint64_t off;
    struct hot_segment *seg = &lg->index->segs[segidx];
    /* the segment table is this thread's during recovery (struct index_feed) */
    while ((r = seg_walker_next(&w, &h, &off)) == 1) {
        /* records the cold tier holds are read from there; offsets stay dense per LSN,
         * with no place for records of a damaged stretch stepped over (all cold) */
        size_t missing = (size_t)(h->lsn - first_lsn) - seg->noffs;
        if ((r = hot_reserve_offs(lg->index, segidx, missing + 1)) ||
            (h->lsn > lg->compacted_lsn && (r = feed_add(feed, h))))
            break;
        seg = &lg->index->segs[segidx];
        while (missing--)
            hot_push_off(seg, HOT_NO_OFFSET);
        hot_push_off(seg, off);
    }
    if (r > 0)
        r = 0;
    if (r < 0) {
        reason(errbuf, errcap, "%s: read error: %s", path, sluice_strerror(r));
        goto out;
    }
    uint64_t nonzero_end, stamp;
    r = seg_walker_scan_tail(&w, &nonzero_end, &stamp);
    if (r < 0) {
        reason(errbuf, errcap, "%s: read error: %s", path, sluice_strerror(r));
        goto out;
    }
    /* An earlier segment ends only where its successor begins (segments are created
     * once everything before them is durable). In the last one, data after the end is
     * a torn or reordered in-flight write unless a later stamp proves the missing
     * records were acknowledged (writer.c, invariant 7). */
    if (!last && nonzero_end > w.pos) {
        reason(errbuf, errcap,
               "%s: offset %" PRIu64 ": invalid record before later data (LSN %" PRIu64
               " expected)", path, w.pos, w.expect_lsn);
        r = SLUICE_ECORRUPT;
        goto out;
    }
    /* A read-only open cannot tell damage from a live writer's writes in flight (they
     * complete out of order: a later one may already carry a stamp past a hole that is
     * still being written). It shows the valid prefix; the writer's own recovery, and
     * `sluice verify`, judge the tail. */
    if (stamp >= w.expect_lsn && !lg->read_only) {
        reason(errbuf, errcap,
               "%s: offset %" PRIu64 ": invalid record, but later data shows LSN %" PRIu64
               " had been acknowledged as durable", path, w.pos, w.expect_lsn);
        r = SLUICE_ECORRUPT;
        goto out;
    }
    /* otherwise later records were never acknowledged: cut with the torn tail */
    lg->index->segs[segidx].end = w.pos;
    lg->index->segs[segidx].size = w.hdr.segment_bytes < w.file_size ? w.hdr.segment_bytes
                                                                       : w.file_size;
    *next_lsn = w.expect_lsn;
    if (last && nonzero_end > w.pos)
        *cut = (struct tail_cut){.fd = fd, .from = w.pos, .to = nonzero_end};
    r = 0;
out:
    seg_walker_close(&w);
    return r;
}

/* Ends the last segment on a block boundary with a fill record, as every write does, so
 * the next (O_DIRECT) write starts aligned. Without room for it the segment is done. */
static int align_tail(struct log *lg, struct hot_segment *s, uint64_t next_lsn)
{
    size_t fill = rec_fill_size(s->end);
    if (s->end % LOG_BLOCK == 0 || s->end + fill > s->size)
        return 0;
    uint8_t buf[REC_FILL_MAX];
    /* everything recovered is on disk, and the cut before this was synced */
    rec_fill_encode(buf, fill, next_lsn, next_lsn - 1);
    ssize_t w = lg->io->ops->pwrite(lg->io, s->fd, buf, fill, s->end);
    if (w != (ssize_t)fill)
        return w < 0 ? (int)w : -EIO;
    int r = lg->io->ops->fdatasync(lg->io, s->fd);
    if (!r)
        s->end += fill;
    return r;
}

/* Zeroes a torn tail and makes the cut durable. */
static int cut_tail(struct log *lg, const struct tail_cut *cut)
{
    static const uint8_t zeros[65536];
    for (uint64_t p = cut->from; p < cut->to;) {
        size_t n = cut->to - p < sizeof zeros ? (size_t)(cut->to - p) : sizeof zeros;
        ssize_t w = lg->io->ops->pwrite(lg->io, cut->fd, zeros, n, p);
        if (w <= 0)
            return w < 0 ? (int)w : -EIO;
        p += (uint64_t)w;
    }
    return lg->io->ops->fdatasync(lg->io, cut->fd);
}

int log_recover(struct log *lg, int read_only, int *had_log, char *errbuf, size_t errcap)
{
    lg->read_only = read_only;
    struct index_feed feed;
    int feeding = 0;
    uint64_t *lsns = NULL;
    size_t n = 0;
    int r = list_segments(lg, read_only, &lsns, &n, errbuf, errcap);
    if (r)
        return r;
    *had_log = n > 0;
    /* Segments wholly at or below compacted_lsn were compacted; their deletion may not
     * have finished before a crash (recovery finishes it). The last one always stays. */
    size_t stale = 0;
    while (stale + 1 < n && lsns[stale + 1] - 1 <= lg->compacted_lsn)
        stale++;
    if (n > stale && lsns[stale] > lg->compacted_lsn + 1) {
        reason(errbuf, errcap, "%s: the log starts at LSN %" PRIu64 " but the cold tier ends at %" PRIu64,
               lg->logdir, lsns[stale], lg->compacted_lsn);
        r = SLUICE_ECORRUPT;
        goto out;
    }
    uint64_t next_lsn = n > stale ? lsns[stale] : lg->compacted_lsn + 1;
    struct tail_cut cut = {.fd = -1};
    lg->next_seq = 0; /* the first live segment's sequence is taken as it is */
    if ((r = feed_start(&feed, lg->index, lg->cpus)))
        goto out;
    feeding = 1;
    for (size_t i = stale; i < n; i++) {
        char name[32], path[4096];
        seg_filename(name, lsns[i]);
        snprintf(path, sizeof path, "%s/%s", lg->logdir, name);
        int fd = lg->io->ops->open(lg->io, path, read_only ? O_RDONLY : O_RDWR, 0);
        if (fd < 0) {
            reason(errbuf, errcap, "%s: cannot open: %s", path, sluice_strerror(fd));
            r = fd;
            goto out;
        }
        hot_wrlock(lg->index);
        int idx = hot_add_segment(lg->index, 0, lsns[i], 0, fd);
        hot_unlock(lg->index);
        if (idx < 0) {
            lg->io->ops->close(lg->io, fd);
            r = idx;
            goto out;
        }
        r = recover_segment(lg, &feed, fd, path, (uint32_t)idx, lsns[i], lg->next_seq, i == stale,
                            i + 1 == n, &cut, &next_lsn, errbuf, errcap);
        lg->index->segs[idx].seq = lg->next_seq - 1;
        if (r)
            goto out;
    }
    feeding = 0;
    if ((r = feed_finish(&feed))) {
        reason(errbuf, errcap, "%s: indexing the log failed: %s", lg->logdir, sluice_strerror(r));
        goto out;
    }
    /* Judged before anything is cut: a log that ends short of the cold tier lost
     * acknowledged records, and cutting its tail could only lose more. */
    if (next_lsn - 1 < lg->compacted_lsn) {
        reason(errbuf, errcap, "%s: the log ends at LSN %" PRIu64 ", before the cold tier's %" PRIu64,
               lg->logdir, next_lsn - 1, lg->compacted_lsn);
        r = SLUICE_ECORRUPT;
        goto out;
    }
    if (cut.fd >= 0 && !read_only && (r = cut_tail(lg, &cut)) < 0) {
        reason(errbuf, errcap, "cutting the torn log tail failed: %s", sluice_strerror(r));
        goto out;
    }
    if (n > stale && !read_only &&
        (r = align_tail(lg, &lg->index->segs[lg->index->nsegs - 1], next_lsn)) < 0) {
        reason(errbuf, errcap, "aligning the log tail failed: %s", sluice_strerror(r));
        goto out;
    }
    for (size_t i = 0; i < stale && !read_only; i++) {
        char name[32], path[4096];
        seg_filename(name, lsns[i]);
        snprintf(path, sizeof path, "%s/%s", lg->logdir, name);
        lg->io->ops->unlink(lg->io, path);
    }
    if (stale && !read_only && (r = lg->io->ops->fsync_dir(lg->io, lg->logdir)) < 0)
        goto out;
    lg->gather_lsn = next_lsn;
    lg->index->ring_released_lsn = next_lsn - 1;
    pos_init(&lg->indexed, next_lsn - 1);
    pos_init(&lg->written, next_lsn - 1);
    pos_init(&lg->durable, next_lsn - 1);
    if (n == stale && !read_only) {
        /* A new database (or one whose log was all compacted) pays for zeroing its first
         * segment once, here. */
        char spare[4096];
        snprintf(spare, sizeof spare, "%s/first.seg.tmp", lg->logdir);
        int z = seg_prepare_spare(lg->io, spare, lg->seg_start_bytes, 0, NULL);
        if (!lg->next_seq)
            lg->next_seq = 1;
        int fd = seg_install(lg->io, lg->logdir, z ? NULL : spare, lg->uuid, lg->next_seq,
                             next_lsn, lg->seg_start_bytes);
        if (fd < 0) {
            reason(errbuf, errcap, "%s: cannot create the first segment: %s", lg->logdir,
                   sluice_strerror(fd));
            r = fd;
            goto out;
        }
        hot_wrlock(lg->index);
        r = hot_add_segment(lg->index, lg->next_seq, next_lsn, lg->seg_start_bytes, fd);
        hot_unlock(lg->index);
        if (r < 0) {
            lg->io->ops->close(lg->io, fd);
            goto out;
        }
        lg->next_seq++;
        r = 0;
    }
out:
    if (feeding)
        (void)feed_finish(&feed);
    free(lsns);
    return r;
}
