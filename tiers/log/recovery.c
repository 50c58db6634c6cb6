/*
 * Recovery, run by sluice_open before any thread starts. recover() takes these steps:
 *
 *   list_segments   list log/, delete *.tmp leftovers
 *   find_live       skip segments the cold tier holds wholly (deleted at the end)
 *   recover_segment for each live *.seg in LSN order:
 *     check_header    magic, version, CRC, UUID, seq, first LSN == name == expected
 *     index_records   walk records (CRC, LSN continuity), indexing each; step over damage
 *                     the cold tier covers (LSNs <= compacted_lsn: walker.h), reporting it
 *     judge_tail      what follows the last valid record:
 *                       valid later record, or not the last segment and LSNs do not
 *                       continue                      ──▶ SLUICE_ECORRUPT naming file
 *                                                         and offset
 *                       last segment, garbage         ──▶ noted as the torn tail
 *   (the log must reach the cold tier's checkpoint)
 *   repair          (a writer only) zero the torn tail and fdatasync, end the last
 *                   segment on a block boundary, delete the compacted segments
 *   positions       indexed = written = durable = the last valid LSN
 *   create_first_segment   when no live segment is left (a writer only)
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

#include "log_state.h"
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
/* One recovery: what log_recover's steps share. */
struct recovery {
    struct log *lg;
    int read_only;
    char *errbuf;
    size_t errcap;
    uint64_t *lsns;  /* first LSNs of the segments in log/, sorted */
    size_t n, stale; /* lsns[0..stale) were compacted: deleted once recovery succeeds */
    uint64_t next_lsn; /* the LSN the next record must carry */
    struct index_feed feed;
    int feeding;
    struct tail_cut cut; /* the last segment's torn tail, zeroed once all was read */
};

/* One live segment being recovered. */
struct rseg {
    size_t i;     /* in rc->lsns */
    uint32_t idx; /* in the segment table */
    int fd;
    char path[4096];
    struct seg_walker w;
};

/* Step 1 of a segment: its header names this database and continues the log. */
static int check_header(struct recovery *rc, struct rseg *g)
{
    struct log *lg = rc->lg;
    const struct seg_hdr *h = &g->w.hdr;
    int first = g->i == rc->stale;
    if (first && !lg->uuid_known) {
        memcpy(lg->uuid, h->uuid, 16);
    } else if (memcmp(lg->uuid, h->uuid, 16) != 0) {
        reason(rc->errbuf, rc->errcap, "%s: offset 0: segment belongs to another database", g->path);
        return SLUICE_ECORRUPT;
    }
    uint64_t want_lsn = first ? rc->lsns[g->i] : rc->next_lsn;
    /* (the first live segment's seq is whatever it is: earlier ones were compacted) */
    if (h->first_lsn != rc->lsns[g->i] || h->first_lsn != want_lsn ||
        (!first && h->segment_seq != lg->next_seq)) {
        reason(rc->errbuf, rc->errcap,
               "%s: offset 0: segment starts at LSN %" PRIu64 " (seq %" PRIu64
               "), expected LSN %" PRIu64 " (seq %" PRIu64 ")",
               g->path, h->first_lsn, h->segment_seq, want_lsn, lg->next_seq);
        return SLUICE_ECORRUPT;
    }
    lg->next_seq = h->segment_seq + 1;
    return 0;
}

/* Step 2: every valid record's offset into the segment table, and the records above
 * the cold tier's checkpoint to the indexer. Damage the cold tier covers is stepped over
 * (walker.h) and reported. */
static int index_records(struct recovery *rc, struct rseg *g)
{
    struct log *lg = rc->lg;
    struct skip_report sr = {lg, g->path, rc->errbuf, rc->errcap};
    g->w.skip_upto = lg->compacted_lsn;
    g->w.on_skip = on_skip;
    g->w.skip_arg = &sr;
    uint64_t first_lsn = rc->lsns[g->i];
    const struct rec_hdr *h;
    uint64_t off;
    int r;
    struct segment_table *t = &lg->index->segs;
    struct segment *seg = seg_at(t, g->idx);
    /* the segment table is this thread's during recovery (struct index_feed) */
    while ((r = seg_walker_next(&g->w, &h, &off)) == 1) {
        /* records the cold tier holds are read from there; offsets stay dense per LSN,
         * with no place for records of a damaged stretch stepped over (all cold) */
        size_t missing = (size_t)(h->lsn - first_lsn) - seg->noffs;
        if ((r = seg_table_reserve_offs(t, g->idx, missing + 1)) ||
            (h->lsn > lg->compacted_lsn && (r = feed_add(&rc->feed, h))))
            break;
        while (missing--)
            seg_push_off(seg, SEG_NO_OFFSET);
        seg_push_off(seg, off);
    }
    if (r < 0)
        reason(rc->errbuf, rc->errcap, "%s: read error: %s", g->path, sluice_strerror(r));
    return r < 0 ? r : 0;
}

/* Step 3: what follows the last valid record. An earlier segment ends only where its
 * successor begins (segments are created once everything before them is durable). In
 * the last one, data after the end is a torn or reordered in-flight write, to be cut,
 * unless a later stamp proves the missing records were acknowledged (writer.c,
 * invariant 7). */
static int judge_tail(struct recovery *rc, struct rseg *g)
{
    struct log *lg = rc->lg;
    struct seg_walker *w = &g->w;
    int last = g->i + 1 == rc->n;
    uint64_t nonzero_end, stamp;
    int r = seg_walker_scan_tail(w, &nonzero_end, &stamp);
    if (r < 0) {
        reason(rc->errbuf, rc->errcap, "%s: read error: %s", g->path, sluice_strerror(r));
        return r;
    }
    if (!last && nonzero_end > w->pos) {
        reason(rc->errbuf, rc->errcap,
               "%s: offset %" PRIu64 ": invalid record before later data (LSN %" PRIu64
               " expected)", g->path, w->pos, w->expect_lsn);
        return SLUICE_ECORRUPT;
    }
    /* A read-only open cannot tell damage from a live writer's writes in flight (they
     * complete out of order: a later one may already carry a stamp past a hole that is
     * still being written). It shows the valid prefix; the writer's own recovery, and
     * `sluice verify`, judge the tail. */
    if (stamp >= w->expect_lsn && !lg->read_only) {
        reason(rc->errbuf, rc->errcap,
               "%s: offset %" PRIu64 ": invalid record, but later data shows LSN %" PRIu64
               " had been acknowledged as durable", g->path, w->pos, w->expect_lsn);
        return SLUICE_ECORRUPT;
    }
    /* otherwise later records were never acknowledged: cut with the torn tail */
    struct segment *seg = seg_at(&lg->index->segs, g->idx);
    seg->end = w->pos;
    seg->size = w->hdr.segment_bytes < w->file_size ? w->hdr.segment_bytes : w->file_size;
    rc->next_lsn = w->expect_lsn;
    if (last && nonzero_end > w->pos)
        rc->cut = (struct tail_cut){.fd = g->fd, .from = w->pos, .to = nonzero_end};
    return 0;
}

/* Opens live segment i, adds it to the segment table and recovers it: its header, its
 * records, its tail. */
static int recover_segment(struct recovery *rc, size_t i)
{
    struct log *lg = rc->lg;
    struct rseg g = {.i = i};
    int r = seg_path(g.path, sizeof g.path, lg->logdir, rc->lsns[i]);
    g.fd = r ? r : lg->io->ops->open(lg->io, g.path, rc->read_only ? O_RDONLY : O_RDWR, 0);
    if (g.fd < 0) {
        reason(rc->errbuf, rc->errcap, "%s: cannot open: %s", g.path, sluice_strerror(g.fd));
        return g.fd;
    }
    hot_wrlock(lg->index);
    int idx = seg_table_add(&lg->index->segs, 0, rc->lsns[i], 0, g.fd);
    hot_unlock(lg->index);
    if (idx < 0) {
        lg->io->ops->close(lg->io, g.fd);
        return idx;
    }
    g.idx = (uint32_t)idx; /* the table owns fd now: log_destroy closes it */
    struct stat st;
    if (fstat(g.fd, &st) < 0)
        return -errno;
    /* A reader of a directory another process writes: pages it cached before the
     * writer's O_DIRECT writes landed may be stale (a buffered read racing a direct write
     * can re-cache old bytes); drop them so the walk reads the disk. */
    if (rc->read_only)
        (void)posix_fadvise(g.fd, 0, 0, POSIX_FADV_DONTNEED);
    r = seg_walker_open(&g.w, lg->io, g.fd, (uint64_t)st.st_size);
    if (r == SLUICE_ECORRUPT || r == SLUICE_EVERSION)
        reason(rc->errbuf, rc->errcap, "%s: offset 0: %s", g.path,
               r == SLUICE_EVERSION ? "unsupported format version" : "invalid segment header");
    /* (a walker that failed to open may hold its buffer: closed below all the same) */
    if (!r && !(r = check_header(rc, &g)) && !(r = index_records(rc, &g)))
        r = judge_tail(rc, &g);
    if (!r)
        seg_at(&lg->index->segs, (size_t)idx)->seq = g.w.hdr.segment_seq;
    seg_walker_close(&g.w);
    return r;
}

/* Ends the last segment on a block boundary with a fill record, as every write does, so
 * the next (O_DIRECT) write starts aligned. Without room for it the segment is done. */
static int align_tail(struct log *lg, struct segment *s, uint64_t next_lsn)
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

/* Segments wholly at or below compacted_lsn were compacted; their deletion may not have
 * finished before a crash (recovery finishes it). The last one always stays. The first
 * live one must begin at or before the record after the checkpoint. */
static int find_live(struct recovery *rc)
{
    struct log *lg = rc->lg;
    while (rc->stale + 1 < rc->n && rc->lsns[rc->stale + 1] - 1 <= lg->compacted_lsn)
        rc->stale++;
    if (rc->n > rc->stale && rc->lsns[rc->stale] > lg->compacted_lsn + 1) {
        reason(rc->errbuf, rc->errcap,
               "%s: the log starts at LSN %" PRIu64 " but the cold tier ends at %" PRIu64,
               lg->logdir, rc->lsns[rc->stale], lg->compacted_lsn);
        return SLUICE_ECORRUPT;
    }
    rc->next_lsn = rc->n > rc->stale ? rc->lsns[rc->stale] : lg->compacted_lsn + 1;
    return 0;
}

/* The writer's repairs, once every segment was read: zero the torn tail, end the last
 * segment on a block boundary, delete the compacted segments. */
static int repair(struct recovery *rc)
{
    struct log *lg = rc->lg;
    int r;
    if (rc->cut.fd >= 0 && (r = cut_tail(lg, &rc->cut)) < 0) {
        reason(rc->errbuf, rc->errcap, "cutting the torn log tail failed: %s", sluice_strerror(r));
        return r;
    }
    if (rc->n > rc->stale &&
        (r = align_tail(lg, seg_newest(&lg->index->segs), rc->next_lsn)) < 0) {
        reason(rc->errbuf, rc->errcap, "aligning the log tail failed: %s", sluice_strerror(r));
        return r;
    }
    struct stat st;
    int keep = lg->replaydir && rc->stale &&
               (lg->keep_compacted || stat(lg->replaydir, &st) == 0) &&
               (mkdir(lg->replaydir, 0755) == 0 || errno == EEXIST);
    for (size_t i = 0; i < rc->stale; i++) {
        char path[4096], kept[4096];
        if (seg_path(path, sizeof path, lg->logdir, rc->lsns[i]))
            continue;
        /* a compacted segment the compactor had not yet moved to replay/ or deleted */
        if (keep && !seg_path(kept, sizeof kept, lg->replaydir, rc->lsns[i]) &&
            lg->io->ops->rename(lg->io, path, kept) == 0)
            continue;
        lg->io->ops->unlink(lg->io, path);
    }
    if (keep && (r = lg->io->ops->fsync_dir(lg->io, lg->replaydir)) < 0)
        return r;
    return rc->stale ? lg->io->ops->fsync_dir(lg->io, lg->logdir) : 0;
}

/* A new database (or one whose log was all compacted) pays for zeroing its first segment
 * once, here. */
static int create_first_segment(struct recovery *rc)
{
    struct log *lg = rc->lg;
    char spare[4096];
    snprintf(spare, sizeof spare, "%s/first.seg.tmp", lg->logdir);
    int z = seg_prepare_spare(lg->io, spare, lg->seg_start_bytes, 0, NULL);
    if (!lg->next_seq)
        lg->next_seq = 1;
    int fd = seg_install(lg->io, lg->logdir, z ? NULL : spare, lg->uuid, lg->next_seq,
                         rc->next_lsn, lg->seg_start_bytes);
    if (fd < 0) {
        reason(rc->errbuf, rc->errcap, "%s: cannot create the first segment: %s", lg->logdir,
               sluice_strerror(fd));
        return fd;
    }
    hot_wrlock(lg->index);
    int r = seg_table_add(&lg->index->segs, lg->next_seq, rc->next_lsn, lg->seg_start_bytes, fd);
    hot_unlock(lg->index);
    if (r < 0) {
        lg->io->ops->close(lg->io, fd);
        return r;
    }
    lg->next_seq++;
    return 0;
}

/* The steps of recovery, in order (the header comment draws them). */
static int recover(struct recovery *rc)
{
    struct log *lg = rc->lg;
    int r = list_segments(lg, rc->read_only, &rc->lsns, &rc->n, rc->errbuf, rc->errcap);
    if (r)
        return r;
    if ((r = find_live(rc)))
        return r;
    lg->next_seq = 0; /* the first live segment's sequence is taken as it is */
    if ((r = feed_start(&rc->feed, lg->index, lg->cpus)))
        return r;
    rc->feeding = 1;
    for (size_t i = rc->stale; i < rc->n; i++)
        if ((r = recover_segment(rc, i)))
            return r;
    rc->feeding = 0;
    if ((r = feed_finish(&rc->feed))) {
        reason(rc->errbuf, rc->errcap, "%s: indexing the log failed: %s", lg->logdir,
               sluice_strerror(r));
        return r;
    }
    /* Judged before anything is cut: a log that ends short of the cold tier lost
     * acknowledged records, and cutting its tail could only lose more. */
    if (rc->next_lsn - 1 < lg->compacted_lsn) {
        reason(rc->errbuf, rc->errcap,
               "%s: the log ends at LSN %" PRIu64 ", before the cold tier's %" PRIu64,
               lg->logdir, rc->next_lsn - 1, lg->compacted_lsn);
        return SLUICE_ECORRUPT;
    }
    if (!rc->read_only && (r = repair(rc)) < 0)
        return r;
    lg->gather_lsn = rc->next_lsn;
    lg->index->ring_released_lsn = rc->next_lsn - 1;
    pos_init(&lg->progress->indexed, rc->next_lsn - 1);
    pos_init(&lg->progress->written, rc->next_lsn - 1);
    pos_init(&lg->progress->durable, rc->next_lsn - 1);
    if (rc->n == rc->stale && !rc->read_only)
        return create_first_segment(rc);
    return 0;
}

int log_recover(struct log *lg, char *errbuf, size_t errcap)
{
    struct recovery rc = {.lg = lg, .read_only = lg->read_only, .errbuf = errbuf,
                          .errcap = errcap, .cut = {.fd = -1}};
    int r = recover(&rc);
    if (rc.feeding)
        (void)feed_finish(&rc.feed); /* joins the indexer on every path */
    free(rc.lsns);
    return r;
}
