/*
 * Open and close: the one place that starts and stops threads.
 *
 * sluice_open, in order:
 *   1. validate options          4. create the I/O backend (io_uring probed, POSIX else)
 *   2. create DIR and DIR/log    5. recover the log into the hot index
 *   3. flock DIR/LOCK            6. allocate the ring, start the writer thread
 * sluice_close, in order:
 *   1. refuse while iterators are open (SLUICE_EBUSY)
 *   2. stop the writer: it drains the ring, writes and syncs everything, exits; join it
 *   3. close segments, free index and ring, destroy the I/O backend, drop the lock
 * A read_only open does 1, 4, 5 only: no lock, no thread, no write to the directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "format.h"
#include "stats_file.h"

/* The first versioned layout of sluice_options (0.2.0): a caller's size may not be
 * smaller. Fields added later go after memory_delay_us, and a caller that does not know
 * them gets their defaults. */
#define OPTIONS_SIZE_V1 (offsetof(sluice_options, memory_delay_us) + sizeof(uint32_t))
_Static_assert(OPTIONS_SIZE_V1 <= sizeof(sluice_options), "options only grow");

static void options_defaults(sluice_options *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->ring_bytes = 64u << 20;
    o->segment_bytes = 64u << 20;
    o->batch_max_bytes = 4u << 20;
    o->linger_us = 0;
    o->memory_delay_us = 2000;
    o->default_ack = SLUICE_ACK_DURABLE;
    o->full_policy = SLUICE_FULL_BLOCK;
    o->put_timeout_ms = 10000;
    o->cold_map_bytes = (size_t)16 << 30; /* address space; the file grows as used */
    o->retention_ns = 0;
    o->read_only = 0;
    o->io_backend = SLUICE_IO_AUTO;
    o->log_backlog_max_bytes = (uint64_t)4 << 30;
    o->stats_interval_ms = 100;
}

void sluice_options_init_size(sluice_options *opts, size_t size)
{
    if (!opts || size < sizeof opts->size)
        return;
    sluice_options d;
    options_defaults(&d);
    size_t known = size < sizeof d ? size : sizeof d;
    memcpy(opts, &d, known);
    if (size > known) /* a newer caller's fields: zero means "not set" */
        memset((char *)opts + known, 0, size - known);
    opts->size = (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size);
}

const char *sluice_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = SLUICE_VERSION_MAJOR;
    if (minor)
        *minor = SLUICE_VERSION_MINOR;
    if (patch)
        *patch = SLUICE_VERSION_PATCH;
#define SLUICE_STR_(x) #x
#define SLUICE_STR(x) SLUICE_STR_(x)
    return SLUICE_STR(SLUICE_VERSION_MAJOR) "." SLUICE_STR(SLUICE_VERSION_MINOR) "." SLUICE_STR(
        SLUICE_VERSION_PATCH);
}

/* The one-line reason a failed open leaves in options.errbuf, if the caller gave one. */
static void say(const sluice_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const sluice_options *o, const char *fmt, ...)
{
    if (!o->errbuf || !o->errbuf_bytes)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->errbuf, o->errbuf_bytes, fmt, ap);
    va_end(ap);
}

/* The caller's options as this library's struct: what a shorter (older) caller did not
 * know takes its default; what a longer (newer) caller set beyond it is refused. */
static int options_adopt(const sluice_options *in, sluice_options *o)
{
    options_defaults(o);
    if (!in)
        return 0;
    size_t size = in->size;
    if (size < OPTIONS_SIZE_V1) {
        /* the errbuf fields may lie beyond a short struct: they cannot be trusted */
        return SLUICE_EINVAL;
    }
    memcpy(o, in, size < sizeof *o ? size : sizeof *o);
    for (size_t i = sizeof *o; i < size; i++)
        if (((const unsigned char *)in)[i]) {
            say(o, "options: byte %zu of a %zu-byte struct is set, but this library (sluice %s) "
                   "knows only %zu bytes of options", i, size, sluice_version(NULL, NULL, NULL),
                sizeof *o);
            return SLUICE_EVERSION;
        }
    o->size = sizeof *o;
    return 0;
}

/* Each bad option named, with what is allowed. */
static int check_options(const sluice_options *o)
{
    if (o->ring_bytes < 65536 || (o->ring_bytes & (o->ring_bytes - 1)) ||
        o->ring_bytes > ((size_t)1 << 40)) {
        say(o, "options.ring_bytes %zu: must be a power of two from 64 KiB to 1 TiB", o->ring_bytes);
        return SLUICE_EINVAL;
    }
    if (o->segment_bytes < SEG_MIN_BYTES || o->segment_bytes > UINT32_MAX ||
        o->segment_bytes % 4096) {
        say(o, "options.segment_bytes %zu: must be a multiple of 4096 from %u to %u",
            o->segment_bytes, SEG_MIN_BYTES, UINT32_MAX - 4095);
        return SLUICE_EINVAL;
    }
    if (o->batch_max_bytes < 4096) {
        say(o, "options.batch_max_bytes %zu: must be at least 4096", o->batch_max_bytes);
        return SLUICE_EINVAL;
    }
    if (o->default_ack < SLUICE_ACK_MEMORY || o->default_ack > SLUICE_ACK_DURABLE) {
        say(o, "options.default_ack %d: must be SLUICE_ACK_MEMORY (0), WRITTEN (1) or DURABLE (2)",
            o->default_ack);
        return SLUICE_EINVAL;
    }
    if (o->full_policy != SLUICE_FULL_BLOCK && o->full_policy != SLUICE_FULL_FAIL) {
        say(o, "options.full_policy %d: must be SLUICE_FULL_BLOCK (0) or SLUICE_FULL_FAIL (1)",
            o->full_policy);
        return SLUICE_EINVAL;
    }
    if (o->io_backend < SLUICE_IO_AUTO || o->io_backend > SLUICE_IO_POSIX_BUFFERED) {
        say(o, "options.io_backend %d: must be SLUICE_IO_AUTO (0), URING (1), POSIX (2) or "
               "POSIX_BUFFERED (3)", o->io_backend);
        return SLUICE_EINVAL;
    }
    if (o->reserved0_) {
        say(o, "options.reserved0_ %u: must be 0", o->reserved0_);
        return SLUICE_EINVAL;
    }
    return 0;
}

static int make_dirs(sluice_db *db)
{
    if (mkdir(db->dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (mkdir(db->log.logdir, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int take_lock(sluice_db *db)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/LOCK", db->dir);
    db->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0)
        return -errno;
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? SLUICE_ELOCKED : -errno;
    return 0;
}

static uint64_t views_horizon(void *arg)
{
    sluice_db *db = arg;
    uint64_t h = UINT64_MAX;
    pthread_mutex_lock(&db->views_mu);
    for (size_t i = 0; i < db->nviews; i++)
        if (db->views[i] < h)
            h = db->views[i];
    pthread_mutex_unlock(&db->views_mu);
    return h;
}

int db_view_hold(sluice_db *db, uint64_t compacted_lsn)
{
    int r = 0;
    pthread_mutex_lock(&db->views_mu);
    if (db->nviews == db->views_cap) {
        size_t cap = db->views_cap ? db->views_cap * 2 : 8;
        uint64_t *v = realloc(db->views, cap * sizeof *v);
        if (v)
            db->views = v;
        uint64_t *t = realloc(db->view_since, cap * sizeof *t);
        if (t)
            db->view_since = t;
        if (v && t)
            db->views_cap = cap;
        else
            r = SLUICE_ENOMEM;
    }
    if (!r) {
        db->view_since[db->nviews] = clock_now_ns();
        db->views[db->nviews++] = compacted_lsn;
    }
    pthread_mutex_unlock(&db->views_mu);
    return r;
}

void db_view_release(sluice_db *db, uint64_t compacted_lsn)
{
    pthread_mutex_lock(&db->views_mu);
    for (size_t i = 0; i < db->nviews; i++)
        if (db->views[i] == compacted_lsn) {
            db->nviews--;
            db->views[i] = db->views[db->nviews];
            db->view_since[i] = db->view_since[db->nviews];
            break;
        }
    pthread_mutex_unlock(&db->views_mu);
}

int db_wait_spare(sluice_db *db, uint32_t timeout_ms)
{
    return db->read_only ? SLUICE_EREADONLY : prep_wait_ready(&db->log.prep, timeout_ms);
}

uint64_t db_compacted_lsn(sluice_db *db)
{
    return db->compactor.started ? pos_load(&db->compactor.compacted) : db->log.compacted_lsn;
}

static void on_seal(void *arg) { compactor_kick(arg, 0); }

/* Tier events, passed on to options.on_event. */
static void on_tier_event(void *arg, int type, uint64_t a, uint64_t b) { obs_event(arg, type, a, b); }

/* Opens DIR/cold and takes the checkpoint and identity recovery starts from. */
static int open_cold(sluice_db *db, const sluice_options *o)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cold", db->dir);
    int r = cold_open(path, db->read_only, o->cold_map_bytes, &db->cold);
    if (r == SLUICE_NOTFOUND && db->read_only)
        return 0; /* a directory that never compacted: inspect its log alone */
    if (r) {
        say(o, "%s: %s", path, sluice_strerror(r));
        return r;
    }
    int has_uuid;
    uint8_t uuid[16];
    if ((r = cold_meta(db->cold, &db->log.compacted_lsn, uuid, &has_uuid))) {
        say(o, "%s: %s", path, sluice_strerror(r));
        return r;
    }
    if (has_uuid) {
        memcpy(db->log.uuid, uuid, 16);
        db->log.uuid_known = 1;
    }
    return 0;
}

static void db_free(sluice_db *db)
{
    if (!db)
        return;
    /* an open that failed after the writer started (the ring's replay) stops it here;
     * after sluice_close's log_stop this does nothing */
    (void)log_stop(&db->log);
    obs_publisher_stop(db);
    compactor_stop(&db->compactor); /* it reads segment files: before they close */
    log_destroy(&db->log);
    hot_destroy(&db->index);
    ring_destroy(&db->ring);
    /* a poisoned log may lack what the shared ring holds: the next open replays it */
    ring_file_close(db, atomic_load(&db->log.poison_cause) != 0);
    cold_close(db->cold);
    free(db->views);
    free(db->view_since);
    pthread_mutex_destroy(&db->views_mu);
    if (db->obs_ready)
        obs_destroy(db);
    io_destroy(db->io);
    if (db->doorbell_fd >= 0)
        close(db->doorbell_fd);
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    free(db->log.logdir);
    free(db->dir);
    free(db);
}

__thread pid_t db_cached_pid;

pid_t db_pid_slow(void) { return db_cached_pid = getpid(); }

static void forget_pid_in_child(void) { db_cached_pid = 0; }
static void install_atfork(void) { (void)pthread_atfork(NULL, NULL, forget_pid_in_child); }

int sluice_open(const char *dir, const sluice_options *opts, sluice_db **out)
{
    return db_open_with_io(dir, opts, NULL, out);
}

int db_open_with_io(const char *dir, const sluice_options *opts, struct io *io, sluice_db **out)
{
    if (!dir || !*dir || !out) {
        io_destroy(io);
        return SLUICE_EINVAL;
    }
    *out = NULL;
    sluice_options o;
    int r = options_adopt(opts, &o);
    if (!r)
        r = check_options(&o);
    if (!r && o.batch_max_bytes > o.ring_bytes / 2)
        o.batch_max_bytes = o.ring_bytes / 2; /* a batch larger than that could never fill */
    if (r) {
        io_destroy(io);
        return r;
    }
    sluice_db *db = calloc(1, sizeof *db);
    if (!db) {
        io_destroy(io);
        return SLUICE_ENOMEM;
    }
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&atfork_once, install_atfork);
    db->owner_pid = getpid();
    db->io = io;
    db->lock_fd = db->doorbell_fd = db->ring_fd = -1;
    pthread_mutex_init(&db->views_mu, NULL);
    db->opts = o;
    db->read_only = o.read_only != 0;
    db->value_max = rec_max_value(o.segment_bytes, o.ring_bytes);
    if ((r = obs_init(db))) {
        obs_destroy(db);
        free(db);
        io_destroy(io);
        return r;
    }
    db->obs_ready = 1;
    db->dir = strdup(dir);
    size_t n = strlen(dir) + 5;
    db->log.logdir = malloc(n);
    if (!db->dir || !db->log.logdir) {
        r = SLUICE_ENOMEM;
        goto err;
    }
    snprintf(db->log.logdir, n, "%s/log", dir);
    if ((r = hot_init(&db->index)))
        goto err;

    if (!db->read_only) {
        if ((r = make_dirs(db))) {
            say(&o, "%s: cannot create: %s", dir, strerror(-r));
            goto err;
        }
        if ((r = take_lock(db))) {
            say(&o, "%s/LOCK: %s", dir,
                r == SLUICE_ELOCKED ? "another process writes this directory" : strerror(-r));
            goto err;
        }
    } else {
        struct stat st;
        if (stat(db->log.logdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            r = errno == ENOENT || !errno ? SLUICE_NOTFOUND : -errno;
            say(&o, "%s: not a sluice directory (no log/)", db->log.logdir);
            goto err;
        }
    }
    /* read-only opens use plain syscalls: they must not start io_uring or worker threads */
    int backend = o.io_backend == SLUICE_IO_POSIX_BUFFERED ? SLUICE_IO_POSIX : o.io_backend;
    if (!db->io && (r = io_create(db->read_only ? SLUICE_IO_POSIX : backend, &db->io)))
        goto err;

    struct log *lg = &db->log;
    lg->io = db->io;
    lg->ring = &db->ring;
    lg->index = &db->index;
    lg->segment_bytes = o.segment_bytes;
    lg->seg_start_bytes = o.segment_bytes < SEG_START_BYTES ? o.segment_bytes : SEG_START_BYTES;
    lg->batch_max_bytes = o.batch_max_bytes;
    lg->linger_us = o.linger_us;
    lg->memory_delay_us = o.memory_delay_us;
    lg->prefer_buffered = o.io_backend == SLUICE_IO_POSIX_BUFFERED;
    lg->cpus = db->io->cpus = o.background_cpus;
    if (getrandom(lg->uuid, sizeof lg->uuid, 0) != sizeof lg->uuid) {
        r = -EIO;
        goto err;
    }
    lg->backlog_max_bytes = o.log_backlog_max_bytes;
    lg->on_event = on_tier_event;
    lg->event_arg = db;
    if ((r = open_cold(db, &o)))
        goto err;
    int had_log;
    if ((r = log_recover(lg, db->read_only, &had_log, o.errbuf, o.errbuf_bytes)))
        goto err;
    if (db->read_only)
        goto done;
    struct compactor *cp = &db->compactor;
    cp->lg = lg;
    cp->cold = db->cold;
    cp->retention_ns = o.retention_ns;
    cp->cpus = o.background_cpus;
    cp->manual = o.manual_compaction != 0;
    cp->horizon = views_horizon;
    cp->horizon_arg = db;
    cp->on_event = on_tier_event;
    cp->event_arg = db;
    if ((r = compactor_start(cp, lg->compacted_lsn)))
        goto err;
    lg->on_seal = o.manual_compaction ? NULL : on_seal;
    lg->on_seal_arg = cp;

    db->doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (db->doorbell_fd < 0) {
        r = -errno;
        goto err;
    }
    lg->doorbell_fd = db->doorbell_fd;
    /* the ring in a shared-memory file when it can be (engine/ring_file.c), else private */
    int fd = -1;
    if (!o.ring_private && ring_file_create(db, &fd) == 0 &&
        ring_init_file(&db->ring, o.ring_bytes, lg->gather_lsn, db->doorbell_fd, fd, 4096) == 0) {
        db->ring_shared = 1;
        db->ring_fd = fd;
    } else {
        if (fd >= 0) {
            db->ring_fd = fd;
            ring_file_close(db, 0);
        }
        if ((r = ring_init(&db->ring, o.ring_bytes, lg->gather_lsn, db->doorbell_fd)))
            goto err;
    }
    if ((r = log_start(lg)))
        goto err;
    /* what a crashed writer's shared ring held beyond the log: put back, made durable */
    if ((r = ring_file_replay(db))) {
        say(&o, "%s: replaying a crashed writer's shared ring: %s", dir, sluice_strerror(r));
        goto err;
    }
    if ((r = obs_publisher_start(db))) {
        say(&o, "%s/" STATS_FILE_NAME ": %s", dir, sluice_strerror(r));
        goto err;
    }
done:
    *out = db;
    return 0;
err:
    db_free(db);
    return r;
}

int sluice_close(sluice_db *db)
{
    int r = db_check(db);
    if (r)
        return r; /* a child of fork() must leave the parent's handle alone */
    if (atomic_load(&db->open_iters) > 0)
        return SLUICE_EBUSY;
    r = log_stop(&db->log); /* the error that poisoned the log, itself: -EIO, -ENOSPC... */
    obs_publisher_stop(db); /* after the writer drained: its last snapshot says so */
    db_free(db);
    return r;
}

int sluice_stats(sluice_db *db, struct sluice_stats *out)
{
    int r = db_check(db);
    if (r || !out)
        return r ? r : SLUICE_EINVAL;
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    out->io_backend = (uint32_t)db->io->backend;
    /* Read from the bottom of the lattice up, so the copy keeps compacted <= durable
     * <= written <= indexed <= claimed even while they move. */
    out->compacted_lsn = db_compacted_lsn(db);
    out->durable_lsn = pos_load(&db->log.durable);
    out->written_lsn = pos_load(&db->log.written);
    out->indexed_lsn = pos_load(&db->log.indexed);
    out->claimed_lsn = db->read_only ? out->indexed_lsn : ring_claimed_lsn(&db->ring);
    struct log_stats *s = &db->log.st;
    out->puts = atomic_load_explicit(&s->puts, memory_order_relaxed);
    out->put_bytes = atomic_load_explicit(&s->put_bytes, memory_order_relaxed);
    out->log_bytes = atomic_load_explicit(&s->log_bytes, memory_order_relaxed);
    out->batches = atomic_load_explicit(&s->batches, memory_order_relaxed);
    out->fsyncs = atomic_load_explicit(&s->fsyncs, memory_order_relaxed);
    out->short_writes = atomic_load_explicit(&s->short_writes, memory_order_relaxed);
    out->segments_created = atomic_load_explicit(&s->segments_created, memory_order_relaxed);
    out->ring_full_waits = atomic_load_explicit(&db->ring_full_waits, memory_order_relaxed);
    out->ring_full_rejections =
        atomic_load_explicit(&db->ring_full_rejections, memory_order_relaxed);
    out->ring_full_wait_ns = atomic_load_explicit(&db->ring_full_wait_ns, memory_order_relaxed);
    uint64_t oldest = 0;
    hot_rdlock(&db->index);
    for (size_t i = 0; i < db->index.nsegs; i++) {
        const struct hot_segment *g = &db->index.segs[i];
        if (g->retired)
            continue;
        out->segments++;
        out->log_backlog_bytes += g->size; /* as the backlog budget counts: files, not fill
                                            * (g->end is the writer's, read unlocked) */
        if (!oldest || g->created_ns < oldest)
            oldest = g->created_ns;
    }
    if (db->index.nsegs)
        out->active_segment_bytes = db->index.segs[db->index.nsegs - 1].size;
    hot_unlock(&db->index);
    out->log_backlog_age_ns = oldest ? clock_now_ns() - oldest : 0;
    if (!db->read_only) {
        out->ring_bytes = db->ring.size;
        uint64_t released = pos_load(&db->ring.released); /* first: it trails the claim */
        out->ring_used_bytes = ring_claimed_pos(&db->ring) - released;
    }
    out->poison_error = atomic_load(&db->log.poison_cause);
    out->direct_io = (uint32_t)db->log.direct;
    struct compactor *c = &db->compactor;
    out->compaction_rounds = atomic_load(&c->rounds);
    out->compacted_records = atomic_load(&c->records);
    out->cold_blocks_written = atomic_load(&c->blocks);
    out->cold_bytes_written = atomic_load(&c->bytes);
    out->segments_deleted = atomic_load(&c->segments_deleted);
    out->retention_dropped_records = atomic_load(&c->dropped_records);
    out->retention_dropped_bytes = atomic_load(&c->dropped_bytes);
    out->compaction_error = atomic_load(&c->error);
    if (db->cold && cold_usage(db->cold, &out->cold_map_bytes, &out->cold_used_bytes))
        out->cold_map_bytes = out->cold_used_bytes = 0;
    if (db->cold && cold_free_bytes(db->cold, &out->cold_free_bytes))
        out->cold_free_bytes = 0;
    out->map_growths = atomic_load(&c->map_growths);
    if (db->log.prep.started) {
        pthread_mutex_lock(&db->log.prep.mu);
        out->spare_ready = (uint64_t)db->log.prep.ready;
        pthread_mutex_unlock(&db->log.prep.mu);
    }
    out->rejected_full = atomic_load_explicit(&db->rejected_full, memory_order_relaxed);
    out->put_samples_dropped = atomic_load_explicit(&db->put_samples_dropped, memory_order_relaxed);
    out->recovery_skipped_records = db->log.recovery_skipped_lsns;
    out->ring_shared = (uint64_t)db->ring_shared;
    out->ring_replayed_records = db->ring_replayed;
    out->ring_replay_gaps = db->ring_replay_gaps;
    out->compaction_paced_ns = atomic_load_explicit(&db->compactor.paced_ns, memory_order_relaxed);
    out->rejected_timeout = atomic_load_explicit(&db->rejected_timeout, memory_order_relaxed);
    out->rejected_poisoned = atomic_load_explicit(&db->rejected_poisoned, memory_order_relaxed);
    out->rejected_invalid = atomic_load_explicit(&db->rejected_invalid, memory_order_relaxed);
    out->eagain_retries = atomic_load_explicit(&s->eagain_retries, memory_order_relaxed);
    out->segments_sealed = atomic_load_explicit(&s->segments_sealed, memory_order_relaxed);
    out->newest_ts_indexed = atomic_load_explicit(&s->newest_ts_indexed, memory_order_relaxed);
    out->newest_ts_durable = atomic_load_explicit(&s->newest_ts_durable, memory_order_relaxed);
    out->newest_ts_cold = atomic_load(&c->newest_ts_cold);
    uint64_t now = clock_now_ns();
    pthread_mutex_lock(&db->views_mu);
    for (size_t i = 0; i < db->nviews; i++)
        if (now - db->view_since[i] > out->oldest_view_age_ns)
            out->oldest_view_age_ns = now - db->view_since[i];
    pthread_mutex_unlock(&db->views_mu);
    return 0;
}

int db_resolve_ack(const sluice_db *db, int ack)
{
    if (ack == SLUICE_ACK_DEFAULT)
        return db->opts.default_ack;
    if (ack < SLUICE_ACK_MEMORY || ack > SLUICE_ACK_DURABLE)
        return -1;
    return ack;
}
