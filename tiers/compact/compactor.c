#include "placement.h"
#include "compactor.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "sluice.h"
#include "walker.h"
#include "replay.h"

/* The records of one round, copied out of the segment; kept from round to round (cold.c
 * says why). */
struct compactor_batch {
    struct cold_rec *recs;
    size_t n, cap;
    uint8_t *arena;
    size_t used, arena_cap;
};

struct compactor {
    struct log *lg;
    struct hot_index *index;
    struct io *io;
    const char *logdir;
    struct cold *cold;
    uint64_t cpus;                 /* where the thread runs (placement.h) */
    uint64_t retention_ns;
    int manual;                    /* compact only what compactor_compact asks for */
    uint64_t (*horizon)(void *arg); /* struct compactor_config */
    void *horizon_arg;
    struct replay_policy replay;   /* compacted segments kept for tails (replay.h) */
    int replay_in_use;             /* DIR/replay may hold files: prune it */
    _Atomic uint64_t replay_files, replay_bytes, replay_oldest;

    struct position compacted;
    _Atomic int error;             /* the last round's error (0 when it succeeded) */
    _Atomic uint64_t rounds, records, blocks, bytes, dropped_records, dropped_bytes,
        segments_deleted, map_growths;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stop;
    uint64_t requested;            /* compact at least up to this LSN */
    uint64_t kicks;                /* compactor_kick calls (under mu) */
    uint64_t newest_ts;            /* for retention */
    struct compactor_batch batch;  /* the thread's own */
    /* observability: the thread records under obs_mu; stats copy under it */
    pthread_mutex_t obs_mu;
    struct hist round_ns;          /* read, merge and commit of each round */
    struct hist to_cold_ns;        /* the round's segment's first record -> committed */
    _Atomic uint64_t newest_ts_cold;
    void (*on_event)(void *arg, int type, uint64_t a, uint64_t b); /* may be NULL */
    void *event_arg;
    /* pacing (compactor.c, pace): the round's start, the rate its writes may go at (0:
     * unpaced), and the log's write rate it follows */
    uint64_t round_t0, pace_bytes_per_s, pace_paused_ns;
    uint64_t log_bytes_seen, log_seen_ns;
    double log_rate;               /* bytes per second, smoothed */
    _Atomic uint64_t paced_ns;     /* time spent waiting between transactions */
};

static void batch_free(struct compactor_batch *b)
{
    free(b->recs);
    free(b->arena);
}

/* Copies one record (its bytes outlive the walker's window). */
static int batch_add(struct compactor_batch *b, const struct rec_hdr *h)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        struct cold_rec *p = realloc(b->recs, cap * sizeof *p);
        if (!p)
            return SLUICE_ENOMEM;
        b->recs = p;
        b->cap = cap;
    }
    size_t need = (size_t)h->klen + h->vlen;
    if (b->used + need > b->arena_cap) {
        /* the arena moves: records keep offsets until the batch is complete */
        size_t cap = b->arena_cap ? b->arena_cap : 1u << 20;
        while (cap < b->used + need)
            cap *= 2;
        uint8_t *p = realloc(b->arena, cap);
        if (!p)
            return SLUICE_ENOMEM;
        b->arena = p;
        b->arena_cap = cap;
    }
    memcpy(b->arena + b->used, rec_key(h), h->klen);
    memcpy(b->arena + b->used + h->klen, rec_val(h), h->vlen);
    b->recs[b->n++] = (struct cold_rec){.key = (const uint8_t *)(uintptr_t)b->used,
                                        .klen = h->klen, .type = h->type, .ts = h->ts,
                                        .lsn = h->lsn, .val = (const void *)(uintptr_t)(b->used + h->klen),
                                        .vlen = h->vlen};
    b->used += need;
    return 0;
}

static void batch_fix_pointers(struct compactor_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        b->recs[i].key = b->arena + (uintptr_t)b->recs[i].key;
        b->recs[i].val = b->arena + (uintptr_t)b->recs[i].val;
    }
}

/* The end of the work: the last LSN this round may compact, 0 if none. *sealed_waiting
 * counts the sealed segments not yet compacted (pacing). */
static uint64_t pick_target(struct compactor *c, uint64_t done, uint32_t *segidx, int *fd,
                            uint64_t *sealed_waiting)
{
    struct hot_index *x = c->index;
    const struct segment_table *t = &x->segs;
    uint64_t durable = pos_load(&log_progress(c->lg)->durable), upto = 0;
    hot_rdlock(x);
    *sealed_waiting = 0;
    for (size_t i = 0; i + 1 < t->n; i++)
        *sealed_waiting += !seg_at(t, i)->retired && seg_last_lsn(t, i) > done;
    for (size_t i = 0; i < t->n; i++) {
        const struct segment *s = seg_at(t, i);
        uint64_t last = seg_last_lsn(t, i);
        if (s->retired || last <= done)
            continue;
        /* the segment holding done + 1: compact up to its end if sealed and durable,
         * else (asked for) up to the requested LSN within it */
        pthread_mutex_lock(&c->mu);
        uint64_t asked = c->requested;
        pthread_mutex_unlock(&c->mu);
        if (last != UINT64_MAX && last <= durable && !c->manual)
            upto = last;
        else if (asked > done)
            upto = asked < durable ? asked : durable;
        if (upto > last)
            upto = last;
        *segidx = (uint32_t)i;
        *fd = s->fd;
        break;
    }
    hot_unlock(x);
    return upto > done ? upto : 0;
}

static int read_batch(struct compactor *c, int fd, uint64_t from, uint64_t upto, struct compactor_batch *b)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    struct seg_walker w;
    int r = seg_walker_open(&w, c->io, fd, (uint64_t)st.st_size);
    w.skip_upto = from - 1; /* damage in records already cold (recovery stepped over it) */
    const struct rec_hdr *h;
    uint64_t off;
    while (!r) {
        if ((r = seg_walker_next(&w, &h, &off)) != 1)
            break; /* 0: the end of the valid records; < 0: an I/O error */
        r = 0;
        if (h->lsn > upto)
            break;
        if (h->lsn < from)
            continue; /* compacted by an earlier round */
        if (h->ts > c->newest_ts && h->type != REC_OFFSET)
            c->newest_ts = h->ts;
        r = batch_add(b, h);
    }
    /* the walker stops at the first invalid record: it must have reached upto */
    if (!r && (b->n ? b->recs[b->n - 1].lsn : from - 1) != upto)
        r = SLUICE_ECORRUPT;
    seg_walker_close(&w);
    return r;
}

/* Segments retired per cleanup; the rest wait for the next round's (each has a buffered
 * and at most one O_DIRECT descriptor to close). */
#define RETIRE_MAX 32

/* Applies replay retention (replay.h) once DIR/replay may hold files. */
static void prune_replay(struct compactor *c, uint64_t done)
{
    if (!c->replay_in_use)
        return;
    struct replay_usage u;
    if (replay_prune(c->io, &c->replay, done, &u))
        return; /* listing failed: the next round tries again */
    atomic_fetch_add(&c->segments_deleted, u.deleted);
    atomic_store(&c->replay_files, u.files);
    atomic_store(&c->replay_bytes, u.bytes);
    atomic_store(&c->replay_oldest, u.oldest_lsn);
}

/* Prunes the hot index and retires segments wholly at or below the horizon. */
static void cleanup(struct compactor *c, uint64_t done)
{
    struct hot_index *x = c->index;
    int fds[2 * RETIRE_MAX], nfds = 0;
    uint64_t firsts[RETIRE_MAX];
    int nfirst = 0;
    hot_wrlock(x);
    /* Under the write lock: an iterator registers its view while it holds the read
     * lock, so every view that could need these entries is seen here. */
    uint64_t h = c->horizon ? c->horizon(c->horizon_arg) : UINT64_MAX;
    if (h > done)
        h = done;
    hot_prune(x, h);
    struct segment_table *t = &x->segs;
    for (size_t i = 0; i + 1 < t->n && nfirst < RETIRE_MAX; i++) {
        if (seg_at(t, i)->retired || seg_last_lsn(t, i) > h)
            continue;
        nfds += seg_table_retire(t, i, fds + nfds);
        firsts[nfirst++] = seg_at(t, i)->first_lsn;
    }
    hot_unlock(x);
    if (!nfirst) {
        prune_replay(c, done);
        return;
    }
    /* a reader that found a file position before the prune may still be reading it */
    seg_table_wait_readers(t);
    for (int i = 0; i < nfds; i++)
        c->io->ops->close(c->io, fds[i]);
    int keep = replay_wanted(&c->replay);
    for (int i = 0; i < nfirst; i++) {
        char path[4096];
        if (keep) {
            /* A rename that failed leaves the file in log/, where tails still find it and
             * the next open's recovery moves it: deleting it instead would leave a hole in
             * the run of retained LSNs, which a tail would take for damage. */
            (void)replay_keep(c->io, &c->replay, firsts[i]);
            c->replay_in_use = 1;
            continue;
        }
        if (!seg_path(path, sizeof path, c->logdir, firsts[i]) &&
            c->io->ops->unlink(c->io, path) == 0)
            atomic_fetch_add(&c->segments_deleted, 1);
    }
    /* Not durable until the directory is: a crash before is redone by recovery. */
    (void)c->io->ops->fsync_dir(c->io, c->logdir);
    prune_replay(c, done);
}

/* Pacing. A round's writes are shares of COLD_TXN_BYTES (cold.h) while it is paced (one
 * transaction otherwise), and between two shares
 * the compactor waits so that its writes go at pace_bytes_per_s: on this kind of virtual
 * machine a burst of device writes stalls a running thread on the other vCPU for
 * milliseconds (docs/benchmarks.md), so background I/O must be smooth. The rate follows
 * the log: PACE_FACTOR times the rate the writer writes log bytes, at least PACE_MIN;
 * and a backlog of more than PACE_BACKLOG sealed segments waiting turns pacing off until
 * it is caught up (the budget, log_backlog_max_bytes, must never be what slows puts). */
#define PACE_FACTOR 2
#define PACE_MIN (32ull << 20)
#define PACE_BACKLOG 2
#define PACE_NAP_MAX_NS 100000000ull

static void pace(void *arg, uint64_t bytes)
{
    struct compactor *c = arg;
    if (!c->pace_bytes_per_s)
        return;
    uint64_t now = clock_now_ns(), spent = now - c->round_t0;
    uint64_t due = (uint64_t)((double)bytes * 1e9 / (double)c->pace_bytes_per_s);
    if (due <= spent)
        return;
    uint64_t nap = due - spent < PACE_NAP_MAX_NS ? due - spent : PACE_NAP_MAX_NS;
    uint64_t until = clock_realtime_ns() + nap;
    struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u), .tv_nsec = (long)(until % 1000000000u)};
    pthread_mutex_lock(&c->mu);
    if (!c->stop) /* a stop (close) does not wait for the pacing */
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_add_explicit(&c->paced_ns, clock_now_ns() - now, memory_order_relaxed);
}

/* The round's rate: the log's write rate times PACE_FACTOR, unless the backlog grew. */
static void pace_plan(struct compactor *c, uint64_t sealed_waiting)
{
    uint64_t now = clock_now_ns(), bytes = log_bytes_written(c->lg);
    if (c->log_seen_ns && now > c->log_seen_ns) {
        double r = (double)(bytes - c->log_bytes_seen) * 1e9 / (double)(now - c->log_seen_ns);
        c->log_rate = c->log_rate ? 0.5 * c->log_rate + 0.5 * r : r;
    }
    c->log_bytes_seen = bytes;
    c->log_seen_ns = now;
    uint64_t rate = (uint64_t)(PACE_FACTOR * c->log_rate);
    c->pace_bytes_per_s = sealed_waiting > PACE_BACKLOG || c->manual ? 0 : rate > PACE_MIN ? rate : PACE_MIN;
    c->round_t0 = now;
    /* behind (or asked), throughput counts, not smoothness: one transaction a round
     * (closed-loop ingest with compaction: 0.95 M/s with 4 MiB shares, 1.07 with 16) */
    cold_set_share(c->cold, c->pace_bytes_per_s ? COLD_TXN_BYTES : UINT64_MAX);
}


static int round_once(struct compactor *c)
{
    uint64_t done = pos_load(&c->compacted);
    uint32_t segidx;
    int fd;
    uint64_t sealed_waiting;
    uint64_t upto = pick_target(c, done, &segidx, &fd, &sealed_waiting);
    if (!upto) {
        cleanup(c, done); /* iterators that held the horizon back may have closed */
        return 0;
    }
    uint64_t t0 = clock_now_ns();
    /* a round sluice_compact waits for is not paced */
    pthread_mutex_lock(&c->mu);
    int asked = c->requested > done;
    pthread_mutex_unlock(&c->mu);
    pace_plan(c, asked ? PACE_BACKLOG + 1 : sealed_waiting);
    hot_rdlock(c->index);
    uint64_t seg_born = seg_at(&c->index->segs, segidx)->created_ns;
    hot_unlock(c->index);
    struct compactor_batch *b = &c->batch;
    b->n = b->used = 0;
    int r = read_batch(c, fd, done + 1, upto, b);
    if (!r) {
        batch_fix_pointers(b);
        struct cold_apply_stats st = {0};
        uint64_t retain_from = c->retention_ns && c->newest_ts > c->retention_ns
                                   ? c->newest_ts - c->retention_ns
                                   : 0;
        r = cold_apply(c->cold, b->recs, b->n, upto, log_uuid(c->lg), retain_from, &st);
        if (!r) {
            uint64_t t1 = clock_now_ns();
            pthread_mutex_lock(&c->obs_mu);
            hist_record(&c->round_ns, t1 - t0);
            hist_record(&c->to_cold_ns, t1 - seg_born);
            pthread_mutex_unlock(&c->obs_mu);
            if (c->newest_ts > atomic_load(&c->newest_ts_cold))
                atomic_store(&c->newest_ts_cold, c->newest_ts);
            if (c->on_event) {
                c->on_event(c->event_arg, SLUICE_EVENT_COMPACTION_DONE, upto, st.records_in);
                uint64_t map = 0, used = 0;
                if (st.map_growths && !cold_usage(c->cold, &map, &used))
                    c->on_event(c->event_arg, SLUICE_EVENT_MAP_GROWTH, map, 0);
            }
            atomic_fetch_add(&c->rounds, 1);
            atomic_fetch_add(&c->records, st.records_in);
            atomic_fetch_add(&c->blocks, st.blocks_written);
            atomic_fetch_add(&c->bytes, st.bytes_written);
            atomic_fetch_add(&c->dropped_records, st.dropped_records);
            atomic_fetch_add(&c->dropped_bytes, st.dropped_bytes);
            atomic_fetch_add(&c->map_growths, st.map_growths);
        }
    }
    atomic_store(&c->error, r);
    if (r)
        return r;
    /* compacted <= durable: a round takes only durable records (pick_target) */
    SLUICE_ASSERT(upto <= pos_load(&log_progress(c->lg)->durable));
    pos_advance(&c->compacted, upto);
    cleanup(c, upto);
    log_kick(c->lg); /* a writer held back by the backlog budget may go on */
    return 1;
}

static void *compactor_main(void *arg)
{
    struct compactor *c = arg;
    /* Background work: SCHED_IDLE runs the compactor only on CPU time that producers
     * and the log writer leave; the log backlog budget bounds how far behind that may
     * leave it. Best effort: a failure changes only scheduling. */
    struct sched_param idle = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    for (;;) {
        /* kicks seen before this round: one that lands while the round runs (after it
         * read `requested`) must not be slept through */
        pthread_mutex_lock(&c->mu);
        int stop = c->stop;
        uint64_t kicks = c->kicks;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        int r = round_once(c);
        if (r == 1)
            continue; /* there may be more */
        if (r < 0)
            pos_wake_all(&c->compacted); /* sluice_compact waiters see c->error */
        pthread_mutex_lock(&c->mu);
        if (!c->stop && c->kicks == kicks) {
            /* Nothing to do, or an error: wait for a kick. Errors are not retried in a
             * loop (a damaged segment or a full disk would spin); the next seal or
             * sluice_compact tries again, and sluice_compact reports the error. */
            pthread_cond_wait(&c->cv, &c->mu);
        }
        pthread_mutex_unlock(&c->mu);
    }
    return NULL;
}

int compactor_create(const struct compactor_config *cfg, uint64_t compacted_lsn,
                     struct compactor **out)
{
    struct compactor *c = calloc(1, sizeof *c);
    if (!c)
        return SLUICE_ENOMEM;
    c->lg = cfg->lg;
    c->index = cfg->index;
    c->io = cfg->io;
    c->logdir = cfg->logdir;
    c->cold = cfg->cold;
    c->cpus = cfg->cpus;
    c->retention_ns = cfg->retention_ns;
    c->manual = cfg->manual;
    c->horizon = cfg->horizon;
    c->horizon_arg = cfg->horizon_arg;
    c->replay = cfg->replay;
    c->replay.logdir = cfg->logdir;
    struct stat st;
    c->replay_in_use = cfg->replay.replaydir && stat(cfg->replay.replaydir, &st) == 0;
    if (!cfg->replay.replaydir)
        c->replay.retain_bytes = c->replay.retain_ns = 0, c->replay.cursor_need = NULL;
    c->on_event = cfg->on_event;
    c->event_arg = cfg->event_arg;
    pthread_mutex_init(&c->obs_mu, NULL);
    hist_init(&c->round_ns);
    hist_init(&c->to_cold_ns);
    pos_init(&c->compacted, compacted_lsn);
    cold_set_pacer(c->cold, pace, c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    int r = -pthread_create(&c->thread, NULL, compactor_main, c);
    if (r) {
        compactor_destroy(c);
        return r;
    }
    thread_place(c->thread, c->cpus);
    c->started = 1;
    *out = c;
    return 0;
}

void compactor_kick(struct compactor *c, uint64_t target)
{
    if (!c->started)
        return;
    pthread_mutex_lock(&c->mu);
    if (target > c->requested)
        c->requested = target;
    c->kicks++;
    atomic_store(&c->error, 0); /* a new attempt: waiters abort only on its error */
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void compactor_destroy(struct compactor *c)
{
    if (!c)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    cold_set_pacer(c->cold, NULL, NULL);
    batch_free(&c->batch);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->obs_mu);
    free(c);
}

uint64_t compactor_compacted_lsn(struct compactor *c) { return pos_load(&c->compacted); }

int compactor_wait(struct compactor *c, uint64_t target, uint64_t deadline_ns)
{
    if (target <= pos_load(&c->compacted))
        return 0;
    compactor_kick(c, target);
    return pos_wait(&c->compacted, target, deadline_ns, 0, &c->error);
}

int compactor_compact(struct compactor *c, uint64_t target)
{
    if (target <= pos_load(&c->compacted))
        return 0;
    compactor_kick(c, target);
    return pos_wait(&c->compacted, target, 0, 0, &c->error);
}

void compactor_hist(struct compactor *c, int put_to_cold, struct hist *out)
{
    pthread_mutex_lock(&c->obs_mu);
    hist_merge(out, put_to_cold ? &c->to_cold_ns : &c->round_ns);
    pthread_mutex_unlock(&c->obs_mu);
}

void compactor_fill_stats(struct compactor *c, struct sluice_stats *out)
{
    out->compaction_rounds = atomic_load(&c->rounds);
    out->compacted_records = atomic_load(&c->records);
    out->cold_blocks_written = atomic_load(&c->blocks);
    out->cold_bytes_written = atomic_load(&c->bytes);
    out->segments_deleted = atomic_load(&c->segments_deleted);
    out->retention_dropped_records = atomic_load(&c->dropped_records);
    out->retention_dropped_bytes = atomic_load(&c->dropped_bytes);
    out->compaction_error = atomic_load(&c->error);
    out->map_growths = atomic_load(&c->map_growths);
    out->compaction_paced_ns = atomic_load_explicit(&c->paced_ns, memory_order_relaxed);
    out->newest_ts_cold = atomic_load(&c->newest_ts_cold);
    out->replay_segments = atomic_load(&c->replay_files);
    out->replay_bytes = atomic_load(&c->replay_bytes);
    out->replay_oldest_lsn = atomic_load(&c->replay_oldest);
}
