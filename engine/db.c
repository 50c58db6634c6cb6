/*
 * Open and close: the one place that starts and stops threads.
 *
 * sluice_open validates the options, then runs the steps of enum open_step in order:
 *    1. the handle: options, statistics, names, the hot index
 *    2. DIR and DIR/log created, DIR/LOCK flocked (a reader: checks that log/ exists)
 *    3. the I/O backend (io_uring probed, POSIX else; a reader: POSIX)
 *    4. DIR/cold opened: the checkpoint (compacted LSN) and the database's identity
 *    5. the log recovered into the hot index, a torn tail cut, cursors and watermarks
 *       read                                                      <- a reader stops here
 *    6. the doorbell and the ring (shared-memory file, or private memory)
 *    7. the compactor thread started (it rings the writer's doorbell after a round)
 *    8. the writer thread (and its spare-segment preparer) started
 *    9. a crashed writer's shared ring replayed into the log
 *   10. the stats publisher thread started
 * unwind() undoes them in exact reverse, from the last one reached: a failed open runs
 * it from the step that failed (each undo copes with its step stopped half-way), and
 * sluice_close from the last, after one step of its own: it refuses while iterators are
 * open (SLUICE_EBUSY), then drains the writer first — it writes, syncs and seals
 * everything and exits — so the publisher's last snapshot shows the final figures.
 * docs/design.md, "Open and close", has the same table.
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
    o->cursor_retain_max_bytes = (uint64_t)4 << 30;
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
    if (o->reserved0_ || o->reserved3_) {
        say(o, "options.reserved0_ and reserved3_: must be 0");
        return SLUICE_EINVAL;
    }
    if (o->late_policy != SLUICE_LATE_ACCEPT && o->late_policy != SLUICE_LATE_REFUSE) {
        say(o, "options.late_policy %d: must be SLUICE_LATE_ACCEPT (0) or SLUICE_LATE_REFUSE (1)",
            o->late_policy);
        return SLUICE_EINVAL;
    }
    return 0;
}

static int make_dirs(sluice_db *db)
{
    if (mkdir(db->dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    if (mkdir(db->logdir, 0755) < 0 && errno != EEXIST)
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
    return db->read_only ? SLUICE_EREADONLY : log_wait_spare(db->log, timeout_ms);
}

uint64_t db_compacted_lsn(sluice_db *db)
{
    return db->compactor ? compactor_compacted_lsn(db->compactor) : db->cold_compacted_lsn;
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
    if ((r = cold_meta(db->cold, &db->cold_compacted_lsn, db->cold_uuid, &db->cold_uuid_known)))
        say(o, "%s: %s", path, sluice_strerror(r));
    return r;
}

__thread pid_t db_cached_pid;

pid_t db_pid_slow(void) { return db_cached_pid = getpid(); }

static void forget_pid_in_child(void) { db_cached_pid = 0; }
static void install_atfork(void) { (void)pthread_atfork(NULL, NULL, forget_pid_in_child); }

/*
 * Each step of open, and the undo that close and a failed open run for it. db->opened is
 * the last step completed; unwind undoes from it down to the first, in exact reverse.
 */
static int step_handle(sluice_db *db, const char *dir)
{
    pthread_mutex_init(&db->views_mu, NULL);
    marks_init(db);
    int r = obs_init(db);
    if (r)
        return r;
    db->dir = strdup(dir);
    size_t n = strlen(dir) + 8;
    db->logdir = malloc(n);
    db->replaydir = malloc(n);
    if (!db->dir || !db->logdir || !db->replaydir)
        return SLUICE_ENOMEM;
    snprintf(db->logdir, n, "%s/log", dir);
    snprintf(db->replaydir, n, "%s/replay", dir);
    return hot_init(&db->index);
}

static void undo_handle(sluice_db *db)
{
    hot_destroy(&db->index);
    free(db->replaydir);
    free(db->logdir);
    free(db->dir);
    free(db->views);
    free(db->view_since);
    obs_destroy(db);
    marks_destroy(db);
    pthread_mutex_destroy(&db->views_mu);
}

/* A writer creates DIR and DIR/log and takes DIR/LOCK; a reader only checks for log/. */
static int step_directory(sluice_db *db)
{
    const sluice_options *o = &db->opts;
    int r;
    if (db->read_only) {
        struct stat st;
        if (stat(db->logdir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        r = errno == ENOENT || !errno ? SLUICE_NOTFOUND : -errno;
        say(o, "%s: not a sluice directory (no log/)", db->logdir);
        return r;
    }
    if ((r = make_dirs(db))) {
        say(o, "%s: cannot create: %s", db->dir, strerror(-r));
        return r;
    }
    if ((r = take_lock(db)))
        say(o, "%s/LOCK: %s", db->dir,
            r == SLUICE_ELOCKED ? "another process writes this directory" : strerror(-r));
    return r;
}

static void undo_directory(sluice_db *db)
{
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    db->lock_fd = -1;
}

/* Read-only opens use plain syscalls: they must not start io_uring or worker threads.
 * An io handed in by db_open_with_io (tests' fault injection) is taken as it is. */
static int step_io(sluice_db *db, struct io *given)
{
    const sluice_options *o = &db->opts;
    int backend = o->io_backend == SLUICE_IO_POSIX_BUFFERED ? SLUICE_IO_POSIX : o->io_backend;
    if (given) {
        db->io = given;
        return 0;
    }
    return io_create(db->read_only ? SLUICE_IO_POSIX : backend, &db->io);
}

static void undo_io(sluice_db *db)
{
    io_destroy(db->io);
    db->io = NULL;
}

static void undo_cold(sluice_db *db)
{
    cold_close(db->cold);
    db->cold = NULL;
}

/* Wires the log to the ring, index and I/O, then recovers it: scans the segments into the
 * hot index and cuts a torn tail (tiers/log/recovery.c). */
static int step_log(sluice_db *db)
{
    const sluice_options *o = &db->opts;
    db->io->cpus = o->background_cpus;
    struct log_config cfg = {
        .io = db->io, .ring = &db->ring, .index = &db->index, .progress = &db->progress,
        .logdir = db->logdir, .uuid_known = db->cold_uuid_known,
        .compacted_lsn = db->cold_compacted_lsn, .read_only = db->read_only,
        .segment_bytes = o->segment_bytes, .batch_max_bytes = o->batch_max_bytes,
        .linger_us = o->linger_us, .memory_delay_us = o->memory_delay_us,
        .prefer_buffered = o->io_backend == SLUICE_IO_POSIX_BUFFERED,
        .cpus = o->background_cpus, .backlog_max_bytes = o->log_backlog_max_bytes,
        .replaydir = db->replaydir,
        .keep_compacted = o->replay_retain_bytes || o->replay_retain_ns,
        .on_event = on_tier_event, .event_arg = db};
    if (cfg.uuid_known)
        memcpy(cfg.uuid, db->cold_uuid, sizeof cfg.uuid);
    else if (getrandom(cfg.uuid, sizeof cfg.uuid, 0) != sizeof cfg.uuid)
        return -EIO; /* a new database's identity (recovery takes the log's, if any) */
    int r = log_open(&cfg, &db->log, o->errbuf, o->errbuf_bytes);
    if (!r && (r = marks_load(db)))
        say(o, "%s: reading cursors and watermarks: %s", db->dir, sluice_strerror(r));
    return r;
}

static int step_compactor(sluice_db *db)
{
    const sluice_options *o = &db->opts;
    struct compactor_config cfg = {
        .lg = db->log, .index = &db->index, .io = db->io, .logdir = db->logdir,
        .cold = db->cold, .cpus = o->background_cpus,
        .retention_ns = o->retention_ns, .manual = o->manual_compaction != 0,
        .horizon = views_horizon, .horizon_arg = db, .on_event = on_tier_event, .event_arg = db,
        .replay = {.replaydir = db->replaydir, .retain_bytes = o->replay_retain_bytes,
                   .retain_ns = o->replay_retain_ns, .cursor_max_bytes = o->cursor_retain_max_bytes,
                   .cursor_need = marks_cursor_need, .on_lag = marks_cursor_lag, .arg = db}};
    return compactor_create(&cfg, db->cold_compacted_lsn, &db->compactor);
}

/* The writer thread (and its preparer): it rings the compactor when a segment is
 * sealed, unless compaction is manual. */
static int step_writer(sluice_db *db)
{
    int automatic = db->compactor && !db->opts.manual_compaction;
    return log_start(db->log, db->doorbell_fd, automatic ? on_seal : NULL, db->compactor);
}

/* The doorbell every producer and completion rings, and the ring: in a shared-memory file
 * when it can be (engine/ring_file.c), so a crashed writer's records survive it, else in
 * private memory. */
static int step_ring(sluice_db *db)
{
    const sluice_options *o = &db->opts;
    db->doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (db->doorbell_fd < 0)
        return -errno;
    uint64_t first = log_next_lsn(db->log);
    int fd = -1;
    if (!o->ring_private && ring_file_create(db, &fd) == 0 &&
        ring_init_file(&db->ring, o->ring_bytes, first, db->doorbell_fd, fd, 4096) == 0) {
        db->ring_shared = 1;
        db->ring_fd = fd;
        return 0;
    }
    if (fd >= 0) {
        db->ring_fd = fd;
        ring_file_close(db, 0);
    }
    return ring_init(&db->ring, o->ring_bytes, first, db->doorbell_fd);
}

static void undo_ring(sluice_db *db)
{
    ring_destroy(&db->ring);
    /* a poisoned log may lack what the shared ring holds: the next open replays it */
    ring_file_close(db, db->log && log_poison_cause(db->log) != 0);
    if (db->doorbell_fd >= 0)
        close(db->doorbell_fd);
    db->doorbell_fd = -1;
}

/* What a crashed writer's shared ring held beyond the log: put back, made durable. */
static int step_replay(sluice_db *db)
{
    int r = ring_file_replay(db);
    if (r)
        say(&db->opts, "%s: replaying a crashed writer's shared ring: %s", db->dir, sluice_strerror(r));
    return r;
}

static int step_publisher(sluice_db *db)
{
    int r = obs_publisher_start(db);
    if (r)
        say(&db->opts, "%s/stats.live: %s", db->dir, sluice_strerror(r));
    return r;
}

enum open_step {
    OPENED_NOTHING,
    OPENED_HANDLE,    /* 1. the handle: options, statistics, names, the hot index */
    OPENED_DIRECTORY, /* 2. DIR and DIR/log created, DIR/LOCK held (a reader: log/ exists) */
    OPENED_IO,        /* 3. the I/O backend (io_uring probed, POSIX else) */
    OPENED_COLD,      /* 4. DIR/cold: the checkpoint and identity recovery starts from */
    OPENED_LOG,       /* 5. the log recovered into the hot index — a reader stops here */
    OPENED_RING,      /* 6. the doorbell and the ring */
    OPENED_COMPACTOR, /* 7. the compactor thread (it rings the writer's doorbell) */
    OPENED_WRITER,    /* 8. the writer thread (and its preparer) */
    OPENED_REPLAY,    /* 9. a crashed writer's shared ring replayed */
    OPENED_PUBLISHER, /* 10. the stats publisher thread */
};

static int run_step(sluice_db *db, enum open_step step, const char *dir, struct io **io)
{
    struct io *given = *io;
    switch (step) {
    case OPENED_HANDLE: return step_handle(db, dir);
    case OPENED_DIRECTORY: return step_directory(db);
    case OPENED_IO: *io = NULL; return step_io(db, given);
    case OPENED_COLD: return open_cold(db, &db->opts);
    case OPENED_LOG: return step_log(db);
    case OPENED_RING: return step_ring(db);
    case OPENED_COMPACTOR: return step_compactor(db);
    case OPENED_WRITER: return step_writer(db);
    case OPENED_REPLAY: return step_replay(db);
    case OPENED_PUBLISHER: return step_publisher(db);
    case OPENED_NOTHING: break;
    }
    return SLUICE_EINTERNAL;
}

/* Undoes steps db->opened .. 1, in reverse, and frees the handle. */
static void unwind(sluice_db *db)
{
    switch (db->opened) {
    case OPENED_PUBLISHER:
        obs_publisher_stop(db); /* with one last snapshot */
        /* fallthrough */
    case OPENED_REPLAY: /* nothing to undo: the replayed records are in the log */
    case OPENED_WRITER:
        (void)log_stop(db->log); /* drains (unless close did), joins; stops the preparer */
        /* fallthrough */
    case OPENED_COMPACTOR:
        compactor_destroy(db->compactor); /* it reads segment files and rings the doorbell */
        db->compactor = NULL;
        /* fallthrough */
    case OPENED_RING:
        undo_ring(db);
        /* fallthrough */
    case OPENED_LOG:
        log_destroy(db->log); /* the segment files */
        db->log = NULL;
        /* fallthrough */
    case OPENED_COLD:
        undo_cold(db);
        /* fallthrough */
    case OPENED_IO:
        undo_io(db);
        /* fallthrough */
    case OPENED_DIRECTORY:
        undo_directory(db);
        /* fallthrough */
    case OPENED_HANDLE:
        undo_handle(db);
        /* fallthrough */
    case OPENED_NOTHING:
        break;
    }
    free(db);
}

int sluice_open(const char *dir, const sluice_options *opts, sluice_db **out)
{
    return db_open_with_io(dir, opts, NULL, out);
}

/* Times a reader starts its open again because the writer's compactor moved under it. */
#define READER_OPEN_TRIES 16

/*
 * A reader of a directory another process writes reads the cold tier's checkpoint (step
 * 4), then the log (step 5). The writer's compactor may commit and delete segments in
 * between; the reader then sees a log that begins after its checkpoint ends, or a segment
 * that vanished — what a lost segment looks like. Such an open is tried again when the
 * cold tier moved on meanwhile; the same picture with a checkpoint that did not move is
 * damage, reported as it was.
 */
static int cold_moved_on(sluice_db *db)
{
    if (!db->read_only || db->opened != OPENED_LOG)
        return 0;
    if (!db->cold) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/cold", db->dir);
        return stat(path, &st) == 0; /* the first compaction happened meanwhile */
    }
    uint64_t now;
    uint8_t uuid[16];
    int known;
    return cold_meta(db->cold, &now, uuid, &known) == 0 && now != db->cold_compacted_lsn;
}

int db_open_with_io(const char *dir, const sluice_options *opts, struct io *io, sluice_db **out)
{
    /* io (tests' fault injection; NULL: make one) is consumed on every path */
    if (!dir || !*dir || !out) {
        io_destroy(io);
        return SLUICE_EINVAL;
    }
    *out = NULL;
    sluice_options o;
    int r = options_adopt(opts, &o);
    if (!r)
        r = check_options(&o);
    sluice_db *db = r ? NULL : calloc(1, sizeof *db);
    if (!r && !db)
        r = SLUICE_ENOMEM;
    if (r) {
        io_destroy(io);
        return r;
    }
    if (o.batch_max_bytes > o.ring_bytes / 2)
        o.batch_max_bytes = o.ring_bytes / 2; /* a batch larger than that could never fill */
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&atfork_once, install_atfork);
    int retry_allowed = io == NULL; /* a caller's I/O backend is consumed by the first try */
    for (int tries = 1;; tries++) {
        db->owner_pid = getpid();
        db->lock_fd = db->doorbell_fd = db->ring_fd = -1;
        db->opts = o;
        db->read_only = o.read_only != 0;
        db->value_max = rec_max_value(o.segment_bytes, o.ring_bytes);

        /* The steps of enum open_step, in order; a reader stops after the log. Each undo
         * copes with its step stopped half-way, so a failed step is undone too. */
        enum open_step last = db->read_only ? OPENED_LOG : OPENED_PUBLISHER;
        for (enum open_step step = OPENED_HANDLE; step <= last && !r; step++) {
            r = run_step(db, step, dir, &io);
            db->opened = step;
        }
        if (!r) {
            *out = db;
            return 0;
        }
        io_destroy(io); /* not yet the handle's if step 3 was not reached */
        io = NULL;
        int again = retry_allowed && tries < READER_OPEN_TRIES && cold_moved_on(db);
        unwind(db);
        if (!again)
            return r;
        if (o.errbuf && o.errbuf_bytes)
            o.errbuf[0] = '\0'; /* the reason of a try that is not the answer */
        r = 0;
        if (!(db = calloc(1, sizeof *db)))
            return SLUICE_ENOMEM;
    }
}

int sluice_close(sluice_db *db)
{
    int r = db_check(db);
    if (r)
        return r; /* a child of fork() must leave the parent's handle alone */
    if (atomic_load(&db->open_iters) > 0 || atomic_load(&db->open_tails) > 0)
        return SLUICE_EBUSY;
    /* Close is open's steps undone in reverse, with one step first: the writer drains
     * the ring, writes, syncs and seals everything and exits (log_drain), so that the
     * publisher's last snapshot (step 10's undo) shows the final figures. Step 8's undo
     * then stops the preparer, which the publisher reads until it stopped. */
    r = log_drain(db->log); /* the error that poisoned the log, itself: -EIO, -ENOSPC... */
    unwind(db);
    return r;
}

int db_resolve_ack(const sluice_db *db, int ack)
{
    if (ack == SLUICE_ACK_DEFAULT)
        return db->opts.default_ack;
    if (ack < SLUICE_ACK_MEMORY || ack > SLUICE_ACK_COLD)
        return -1;
    return ack;
}
