#include "sim_disk.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice.h"

const char *const sim_op_names[SIM_OPS] = {
    "open", "pread", "pwrite", "fdatasync", "fallocate", "rename", "unlink", "fsync_dir",
    "write (async)", "fdatasync (async)", "truncate",
};

#define SIM_PATH 320
#define SIM_MAX_FD 4096
#define SIM_MAX_SITES 256
#define SECTOR 512u

struct sim_file {
    dev_t dev;
    ino_t ino;
    int fd; /* the disk's own descriptor: reverts reach the inode whatever its name now */
};

/* What an unsynced change replaced. */
struct undo {
    uint32_t file;
    uint64_t off, len;
    uint8_t *old;      /* len bytes; bytes past old_size read as zero */
    uint64_t old_size; /* the file's size before */
    int doomed;        /* an fdatasync of the file failed: lost at the cut, whatever else */
};

enum { DIR_CREATE, DIR_RENAME, DIR_UNLINK };
struct dirop {
    int type;
    char dir[SIM_PATH], a[SIM_PATH], b[SIM_PATH], stash[SIM_PATH];
};

enum { REQ_WRITE, REQ_SYNC, REQ_WRITE_SYNC };
struct sim_req {
    int kind, fd, iovcnt, rwflags;
    struct iovec iov[IO_MAX_IOV];
    uint64_t off, tag;
    uintptr_t site;
};

struct sim_disk {
    pthread_mutex_t mu;
    uint64_t rng;
    int allow_direct;
    char stash_dir[SIM_PATH];
    uint64_t stash_seq;
    struct sim_file *files;
    size_t nfiles, capfiles;
    uint32_t fd_file[SIM_MAX_FD]; /* engine fd -> file index + 1 */
    struct undo *undo;
    size_t nundo, capundo;
    struct dirop *dirops;
    size_t ndirops, capdirops;
    struct sim_fault fault[SIM_MAX_FAULTS];
    uint64_t fault_seen[SIM_MAX_FAULTS];
    int nfaults;
    uint64_t fault_fired;
    uint64_t calls, syncs;
    uint64_t cut_sync, cut_call;
    int cut_after;
    sim_on_cut *on_cut;
    int dead;
    struct sim_cut_stats cut;
    struct sim_site sites[SIM_MAX_SITES];
    int nsites;
    struct sim_view *views; /* live backends: their queued writes are in flight at a cut */
};

struct sim_view {
    struct io base;
    struct sim_disk *d;
    struct sim_view *next;
    int efd;
    struct sim_req pend[IO_MAX_INFLIGHT];
    int npend;
    struct io_completion done[2 * IO_MAX_INFLIGHT];
    int ndone;
};

static uint64_t rnd(struct sim_disk *d)
{
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 2685821657736338717ull;
}

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        abort(); /* a test helper: running out of memory is not a case under test */
    *p = q;
    *cap = c;
}

/* ---- the power cut ---- */

static void fill_random(struct sim_disk *d, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = rnd(d);
        memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
    }
}

static void put_back(int fd, const void *buf, size_t len, uint64_t off)
{
    if (len && pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
        abort();
}

static void revert_write(struct sim_disk *d, struct undo *u)
{
    int fd = d->files[u->file].fd;
    enum { KEEP, DROP, TEAR, ZERO, GARBLE } fate;
    uint64_t r = rnd(d) % 100;
    fate = u->doomed ? DROP : r < 30 ? KEEP : r < 60 ? DROP : r < 80 ? TEAR : r < 90 ? ZERO : GARBLE;
    if (u->doomed)
        d->cut.doomed++;
    if (!u->len) /* a size change only (fallocate, O_TRUNC of an empty file) */
        fate = fate == KEEP ? KEEP : DROP;
    uint8_t *buf = NULL;
    switch (fate) {
    case KEEP:
        d->cut.kept++;
        return;
    case DROP:
        put_back(fd, u->old, u->len, u->off);
        if (ftruncate(fd, (off_t)u->old_size) < 0)
            abort();
        d->cut.dropped++;
        return;
    case TEAR:
        /* each sector independently new or old; the size change survives with any */
        for (uint64_t s = 0; s < u->len; s += SECTOR) {
            uint64_t n = u->len - s < SECTOR ? u->len - s : SECTOR;
            if (rnd(d) & 1)
                put_back(fd, u->old + s, n, u->off + s);
        }
        d->cut.torn++;
        return;
    case ZERO:
    case GARBLE:
        buf = calloc(1, u->len);
        if (!buf)
            abort();
        if (fate == GARBLE)
            fill_random(d, buf, u->len);
        put_back(fd, buf, u->len, u->off);
        free(buf);
        fate == ZERO ? d->cut.zeroed++ : d->cut.garbled++;
        return;
    }
}

static void revert_dirop(const struct dirop *o)
{
    switch (o->type) {
    case DIR_CREATE:
        (void)unlink(o->a);
        break;
    case DIR_RENAME:
        (void)rename(o->b, o->a);
        if (*o->stash)
            (void)rename(o->stash, o->b);
        break;
    case DIR_UNLINK:
        (void)rename(o->stash, o->a);
        break;
    }
}

static ssize_t do_write(struct sim_disk *d, int fd, const struct iovec *iov, int iovcnt,
                        uint64_t off, int err, int durable);

static void cut_now(struct sim_disk *d)
{
    if (d->dead)
        return;
    /* writes queued but not run were in flight: they may land in part, like any
     * unsynced write (their buffers are still the caller's) */
    for (struct sim_view *v = d->views; v; v = v->next)
        for (int i = 0; i < v->npend; i++)
            if (v->pend[i].kind != REQ_SYNC)
                (void)do_write(d, v->pend[i].fd, v->pend[i].iov, v->pend[i].iovcnt,
                               v->pend[i].off, 0, 0);
    d->dead = 1;
    for (size_t i = d->nundo; i-- > 0;) {
        revert_write(d, &d->undo[i]);
        free(d->undo[i].old);
    }
    d->nundo = 0;
    /* per directory, a journal commits entry changes in order: keep a random prefix */
    char *done = calloc(d->ndirops + 1, 1);
    if (!done)
        abort();
    for (size_t i = 0; i < d->ndirops; i++) {
        if (done[i])
            continue;
        size_t n = 0;
        for (size_t j = i; j < d->ndirops; j++)
            n += !strcmp(d->dirops[j].dir, d->dirops[i].dir);
        size_t keep = (size_t)(rnd(d) % (n + 1)), seen = 0;
        size_t *idx = calloc(n, sizeof *idx);
        if (!idx)
            abort();
        for (size_t j = i; j < d->ndirops; j++)
            if (!strcmp(d->dirops[j].dir, d->dirops[i].dir)) {
                done[j] = 1;
                idx[seen++] = j;
            }
        for (size_t k = n; k-- > keep;)
            revert_dirop(&d->dirops[idx[k]]);
        d->cut.dir_reverted += n - keep;
        d->cut.dir_kept += keep;
        free(idx);
    }
    free(done);
    d->ndirops = 0;
}

static void cut_and_stop(struct sim_disk *d)
{
    cut_now(d);
    if (d->on_cut)
        d->on_cut(&d->cut); /* does not return */
}

/* Counts a call; cuts the power first when this is the chosen one. */
struct sim_where;
static int enter(struct sim_disk *d, int op, const struct sim_where *w);

/* The error this call must fail with, or 0. */
static int fault_for(struct sim_disk *d, int op, uintptr_t site)
{
    for (int i = 0; i < d->nfaults; i++) {
        const struct sim_fault *f = &d->fault[i];
        if (f->op != op || (f->site && f->site != site))
            continue;
        uint64_t n = ++d->fault_seen[i];
        if (n == f->nth || (f->sticky && n > f->nth)) {
            d->fault_fired++;
            return f->err;
        }
    }
    return 0;
}

static void sync_point(struct sim_disk *d, int after)
{
    if (d->cut_sync && d->syncs == d->cut_sync && d->cut_after == after)
        cut_and_stop(d);
}

/* ---- file and change tracking ---- */

static int file_of(struct sim_disk *d, int fd)
{
    if (fd < 0 || fd >= SIM_MAX_FD || !d->fd_file[fd])
        return -1;
    return (int)d->fd_file[fd] - 1;
}

static void track_fd(struct sim_disk *d, int fd, const char *path)
{
    struct stat st;
    if (fd >= SIM_MAX_FD || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    size_t i;
    for (i = 0; i < d->nfiles; i++)
        if (d->files[i].dev == st.st_dev && d->files[i].ino == st.st_ino)
            break;
    if (i == d->nfiles) {
        int own = open(path, O_RDWR | O_CLOEXEC);
        if (own < 0)
            abort();
        grow((void **)&d->files, &d->capfiles, d->nfiles + 1, sizeof *d->files);
        d->files[d->nfiles++] = (struct sim_file){.dev = st.st_dev, .ino = st.st_ino, .fd = own};
    }
    d->fd_file[fd] = (uint32_t)i + 1;
}

static uint64_t file_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) < 0 ? 0 : (uint64_t)st.st_size;
}

/* Remembers what [off, off + len) of file f held before a change. */
static void remember(struct sim_disk *d, int f, uint64_t off, uint64_t len)
{
    int fd = d->files[f].fd;
    struct undo u = {.file = (uint32_t)f, .off = off, .len = len, .old_size = file_size(fd)};
    u.old = calloc(1, len ? len : 1);
    if (!u.old)
        abort();
    if (off < u.old_size) {
        uint64_t n = u.old_size - off < len ? u.old_size - off : len;
        if (pread(fd, u.old, n, (off_t)off) != (ssize_t)n)
            abort();
    }
    grow((void **)&d->undo, &d->capundo, d->nundo + 1, sizeof *d->undo);
    d->undo[d->nundo++] = u;
}

/* [off, off + len) of file f is durable now: no earlier change may be reverted over it. */
static void settle_range(struct sim_disk *d, int f, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    for (size_t i = 0; i < d->nundo; i++) {
        struct undo *u = &d->undo[i];
        uint64_t ue = u->off + u->len;
        if ((int)u->file != f || ue <= off || u->off >= end || !u->len)
            continue;
        if (u->off < off && ue > end) { /* split around the durable range */
            struct undo tail = *u;
            tail.off = end;
            tail.len = ue - end;
            tail.old = malloc(tail.len);
            if (!tail.old)
                abort();
            memcpy(tail.old, u->old + (end - u->off), tail.len);
            u->len = off - u->off;
            grow((void **)&d->undo, &d->capundo, d->nundo + 1, sizeof *d->undo);
            u = &d->undo[i];
            d->undo[d->nundo++] = tail;
        } else if (u->off < off) {
            u->len = off - u->off;
        } else if (ue > end) {
            memmove(u->old, u->old + (end - u->off), ue - end);
            u->len = ue - end;
            u->off = end;
        } else {
            u->len = 0;
        }
        /* the size it restores must not cut the durable bytes */
        if (u->old_size < end)
            u->old_size = end;
    }
}

/* A completed fdatasync of file f: its changes survive, except the doomed ones. */
static void settle_file(struct sim_disk *d, int f)
{
    size_t o = 0;
    for (size_t i = 0; i < d->nundo; i++) {
        if ((int)d->undo[i].file == f && !d->undo[i].doomed)
            free(d->undo[i].old);
        else
            d->undo[o++] = d->undo[i];
    }
    d->nundo = o;
}

static void doom_file(struct sim_disk *d, int f)
{
    for (size_t i = 0; i < d->nundo; i++)
        if ((int)d->undo[i].file == f)
            d->undo[i].doomed = 1;
}

static void dir_of(const char *path, char *out)
{
    snprintf(out, SIM_PATH, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash && slash != out)
        *slash = 0;
    else
        snprintf(out, SIM_PATH, "%s", slash ? "/" : ".");
}

static void add_dirop(struct sim_disk *d, int type, const char *a, const char *b,
                      const char *stash)
{
    grow((void **)&d->dirops, &d->capdirops, d->ndirops + 1, sizeof *d->dirops);
    struct dirop *o = &d->dirops[d->ndirops++];
    o->type = type;
    dir_of(type == DIR_RENAME ? b : a, o->dir);
    snprintf(o->a, SIM_PATH, "%s", a);
    snprintf(o->b, SIM_PATH, "%s", b ? b : "");
    snprintf(o->stash, SIM_PATH, "%s", stash ? stash : "");
}

static void stash_name(struct sim_disk *d, char *out)
{
    char name[24];
    snprintf(name, sizeof name, "/%llu", (unsigned long long)++d->stash_seq);
    if (strlen(d->stash_dir) + strlen(name) >= SIM_PATH)
        abort();
    memcpy(out, d->stash_dir, strlen(d->stash_dir));
    strcpy(out + strlen(d->stash_dir), name);
}

/* ---- synchronous operations ---- */

static struct sim_disk *disk(struct io *io) { return ((struct sim_view *)io)->d; }

/* Where the engine called from: the return addresses of the call and of its callers
 * (a read through the shared walker is a different site in recovery and in the
 * compactor), hashed into one site id. noinline: frame 0 is this, 1 the sim op. */
struct sim_where {
    uintptr_t site;
    uintptr_t chain[SIM_CHAIN];
};
static __attribute__((noinline)) struct sim_where where_called(void)
{
    void *f[SIM_CHAIN + 2];
    int n = backtrace(f, SIM_CHAIN + 2);
    struct sim_where w = {0};
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < SIM_CHAIN && i + 2 < n; i++) {
        w.chain[i] = (uintptr_t)f[i + 2];
        h = (h ^ w.chain[i]) * 1099511628211ull;
    }
    w.site = (uintptr_t)h;
    return w;
}

/* Counts a call; cuts the power first when this is the chosen one. */
static int enter(struct sim_disk *d, int op, const struct sim_where *w)
{
    if (d->dead)
        return -EIO;
    int i;
    for (i = 0; i < d->nsites; i++)
        if (d->sites[i].op == op && d->sites[i].site == w->site)
            break;
    if (i == d->nsites && d->nsites < SIM_MAX_SITES) {
        d->sites[i] = (struct sim_site){.op = op, .site = w->site};
        memcpy(d->sites[i].chain, w->chain, sizeof w->chain);
        d->nsites++;
    }
    if (i < d->nsites)
        d->sites[i].calls++;
    if (++d->calls == d->cut_call)
        cut_and_stop(d);
    return 0;
}

static int sim_open(struct io *io, const char *path, int flags, int mode)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    int r = enter(d, SIM_OPEN, &where);
    if (!r)
        r = fault_for(d, SIM_OPEN, site);
    if (!r && (flags & O_DIRECT) && !d->allow_direct)
        r = -EINVAL;
    if (r) {
        pthread_mutex_unlock(&d->mu);
        return r == SIM_SHORT_WRITE ? -EIO : r;
    }
    struct stat st;
    int existed = stat(path, &st) == 0;
    int fd = open(path, (flags & ~O_DIRECT & ~O_TRUNC) | O_CLOEXEC, mode);
    if (fd < 0) {
        r = -errno;
        pthread_mutex_unlock(&d->mu);
        return r;
    }
    track_fd(d, fd, path);
    int f = file_of(d, fd);
    if (f >= 0 && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
        uint64_t size = file_size(fd);
        remember(d, f, 0, size); /* a truncation is undone by the old bytes and size */
        if (ftruncate(fd, 0) < 0)
            abort();
    }
    if (!existed)
        add_dirop(d, DIR_CREATE, path, NULL, NULL);
    pthread_mutex_unlock(&d->mu);
    return fd;
}

static int sim_close(struct io *io, int fd)
{
    struct sim_disk *d = disk(io);
    pthread_mutex_lock(&d->mu);
    if (fd >= 0 && fd < SIM_MAX_FD)
        d->fd_file[fd] = 0;
    int r = close(fd) < 0 ? -errno : 0;
    pthread_mutex_unlock(&d->mu);
    return r;
}

static ssize_t sim_pread(struct io *io, int fd, void *buf, size_t len, uint64_t off)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    ssize_t r = enter(d, SIM_PREAD, &where);
    if (!r)
        r = fault_for(d, SIM_PREAD, site);
    if (r == SIM_SHORT_WRITE || !r) {
        ssize_t n = pread(fd, buf, r ? len / 2 : len, (off_t)off); /* or a short read */
        r = n < 0 ? -errno : n;
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* Writes under the lock; the change is remembered unless it is durable at once. */
static ssize_t do_write(struct sim_disk *d, int fd, const struct iovec *iov, int iovcnt,
                        uint64_t off, int err, int durable)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (err == SIM_SHORT_WRITE)
        total /= 2;
    else if (err && err != -EIO)
        return err; /* ENOSPC, ECANCELED: nothing reached the file */
    uint8_t *flat = malloc(total ? total : 1);
    if (!flat)
        abort();
    size_t at = 0;
    for (int i = 0; i < iovcnt && at < total; i++) {
        size_t n = iov[i].iov_len < total - at ? iov[i].iov_len : total - at;
        memcpy(flat + at, iov[i].iov_base, n);
        at += n;
    }
    int f = file_of(d, fd);
    if (f >= 0 && !durable)
        remember(d, f, off, total);
    ssize_t n = pwrite(fd, flat, total, (off_t)off);
    int e = errno;
    free(flat);
    if (n < 0)
        return -e;
    if (f >= 0 && durable)
        settle_range(d, f, off, total);
    /* EIO after the bytes went out: the "indeterminate" outcome */
    return err == -EIO ? -EIO : n;
}

static ssize_t sim_pwrite(struct io *io, int fd, const void *buf, size_t len, uint64_t off)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    ssize_t r = enter(d, SIM_PWRITE, &where);
    if (!r) {
        int err = fault_for(d, SIM_PWRITE, site);
        struct iovec v = {(void *)buf, len};
        r = do_write(d, fd, &v, 1, off, err, 0);
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* An fdatasync under the lock: a sync point. */
static int do_sync(struct sim_disk *d, int fd, int err)
{
    int f = file_of(d, fd);
    d->syncs++;
    sync_point(d, 0);
    if (err) {
        if (f >= 0)
            doom_file(d, f);
        return err == SIM_SHORT_WRITE ? -EIO : err;
    }
    if (f >= 0)
        settle_file(d, f);
    sync_point(d, 1);
    return 0;
}

static int sim_fdatasync(struct io *io, int fd)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    int r = enter(d, SIM_FDATASYNC, &where);
    if (!r)
        r = do_sync(d, fd, fault_for(d, SIM_FDATASYNC, site));
    pthread_mutex_unlock(&d->mu);
    return r;
}

static int sim_fallocate(struct io *io, int fd, uint64_t off, uint64_t len)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    int r = enter(d, SIM_FALLOCATE, &where);
    if (!r)
        r = fault_for(d, SIM_FALLOCATE, site);
    if (r == SIM_SHORT_WRITE)
        r = -ENOSPC;
    int f = file_of(d, fd);
    if (!r && f >= 0 && off + len > file_size(fd))
        remember(d, f, file_size(fd), 0);
    if (!r)
        r = -posix_fallocate(fd, (off_t)off, (off_t)len);
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* ftruncate and fsync: the size change (and everything before it in the file) is
 * durable on return; a cut at this sync point undoes the shrink in any of the ways an
 * unsynced change can be undone. */
static int sim_truncate(struct io *io, int fd, uint64_t len)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    int r = enter(d, SIM_TRUNCATE, &where);
    if (!r)
        r = fault_for(d, SIM_TRUNCATE, site);
    if (r == SIM_SHORT_WRITE)
        r = -EIO;
    int f = file_of(d, fd);
    uint64_t size = file_size(fd);
    if (!r && f >= 0 && len < size)
        remember(d, f, len, size - len);
    if (!r && ftruncate(fd, (off_t)len) < 0)
        r = -errno;
    if (!r)
        r = do_sync(d, fd, 0);
    pthread_mutex_unlock(&d->mu);
    return r;
}

static int sim_rename(struct io *io, const char *from, const char *to)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    int r = enter(d, SIM_RENAME, &where);
    if (!r)
        r = fault_for(d, SIM_RENAME, site);
    if (r == SIM_SHORT_WRITE)
        r = -EIO;
    if (!r) {
        char stash[SIM_PATH] = "";
        struct stat st;
        if (lstat(from, &st) < 0) {
            r = -errno;
        } else {
            if (lstat(to, &st) == 0) {
                stash_name(d, stash);
                if (link(to, stash) < 0)
                    abort();
            }
            if (rename(from, to) < 0) {
                r = -errno;
                if (*stash)
                    (void)unlink(stash);
            } else {
                add_dirop(d, DIR_RENAME, from, to, *stash ? stash : NULL);
            }
        }
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}

static int sim_unlink(struct io *io, const char *path)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    int r = enter(d, SIM_UNLINK, &where);
    if (!r)
        r = fault_for(d, SIM_UNLINK, site);
    if (r == SIM_SHORT_WRITE)
        r = -EIO;
    if (!r) {
        char stash[SIM_PATH];
        stash_name(d, stash);
        /* kept aside until the directory sync makes the removal durable */
        if (rename(path, stash) < 0)
            r = -errno;
        else
            add_dirop(d, DIR_UNLINK, path, NULL, stash);
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}

static int sim_fsync_dir(struct io *io, const char *path)
{
    struct sim_disk *d = disk(io);
    struct sim_where where = where_called();
    uintptr_t site = where.site;
    pthread_mutex_lock(&d->mu);
    int r = enter(d, SIM_FSYNC_DIR, &where);
    if (!r) {
        d->syncs++;
        sync_point(d, 0);
        r = fault_for(d, SIM_FSYNC_DIR, site);
        if (r == SIM_SHORT_WRITE)
            r = -EIO;
    }
    if (!r) {
        char dir[SIM_PATH];
        snprintf(dir, SIM_PATH, "%s", path);
        size_t o = 0;
        for (size_t i = 0; i < d->ndirops; i++) {
            struct dirop *op = &d->dirops[i];
            if (strcmp(op->dir, dir)) {
                d->dirops[o++] = *op;
                continue;
            }
            if (*op->stash)
                (void)unlink(op->stash); /* the removal is durable: let the inode go */
        }
        d->ndirops = o;
        sync_point(d, 1);
    }
    pthread_mutex_unlock(&d->mu);
    return r;
}

/* ---- asynchronous operations: queued, run at reap() in a random order ---- */

static void notify(struct sim_view *v)
{
    uint64_t one = 1;
    ssize_t w = write(v->efd, &one, sizeof one);
    (void)w;
}

static int posts_of(const struct sim_req *r) { return r->kind == REQ_WRITE_SYNC ? 2 : 1; }

static int queue(struct io *io, struct sim_req *r, struct sim_where where)
{
    struct sim_view *v = (struct sim_view *)io;
    struct sim_disk *d = v->d;
    pthread_mutex_lock(&d->mu);
    uintptr_t site = where.site;
    int rc = enter(d, r->kind == REQ_SYNC ? SIM_FDATASYNC_ASYNC : SIM_WRITE_ASYNC, &where);
    int posts = v->ndone + posts_of(r);
    for (int i = 0; i < v->npend; i++)
        posts += posts_of(&v->pend[i]);
    if (!rc && posts > IO_MAX_INFLIGHT)
        rc = -EBUSY; /* as the real backends: the caller bounds what it has in flight */
    if (!rc) {
        r->site = site;
        v->pend[v->npend++] = *r;
        notify(v);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int sim_submit_writev(struct io *io, int fd, const struct iovec *iov, int iovcnt,
                             uint64_t off, int rwflags, uint64_t tag)
{
    if (iovcnt < 1 || iovcnt > IO_MAX_IOV)
        return -EINVAL;
    struct sim_req r = {.kind = REQ_WRITE, .fd = fd, .iovcnt = iovcnt, .off = off,
                        .rwflags = rwflags, .tag = tag};
    memcpy(r.iov, iov, sizeof *iov * (size_t)iovcnt);
    return queue(io, &r, where_called());
}

static int sim_submit_fdatasync(struct io *io, int fd, uint64_t tag)
{
    struct sim_req r = {.kind = REQ_SYNC, .fd = fd, .tag = tag};
    return queue(io, &r, where_called());
}

static int sim_submit_writev_fdatasync(struct io *io, int fd, const struct iovec *iov,
                                       int iovcnt, uint64_t off, uint64_t tag)
{
    if (iovcnt < 1 || iovcnt > IO_MAX_IOV)
        return -EINVAL;
    struct sim_req r = {.kind = REQ_WRITE_SYNC, .fd = fd, .iovcnt = iovcnt, .off = off,
                        .tag = tag};
    memcpy(r.iov, iov, sizeof *iov * (size_t)iovcnt);
    return queue(io, &r, where_called());
}

static void post(struct sim_view *v, uint64_t tag, int op, int res)
{
    v->done[v->ndone++] = (struct io_completion){.tag = tag, .op = op, .res = res};
}

static void run_req(struct sim_view *v, struct sim_req *r)
{
    struct sim_disk *d = v->d;
    if (r->kind == REQ_SYNC) {
        int err = fault_for(d, SIM_FDATASYNC_ASYNC, r->site);
        post(v, r->tag, IO_OP_FDATASYNC, do_sync(d, r->fd, err));
        return;
    }
    int dsync = (r->rwflags & RWF_DSYNC) != 0;
    if (dsync) {
        d->syncs++;
        sync_point(d, 0);
    }
    ssize_t n = do_write(d, r->fd, r->iov, r->iovcnt, r->off,
                         fault_for(d, SIM_WRITE_ASYNC, r->site), dsync);
    if (dsync && n >= 0)
        sync_point(d, 1);
    post(v, r->tag, IO_OP_WRITE, (int)n);
    if (r->kind == REQ_WRITE_SYNC) {
        size_t total = 0;
        for (int i = 0; i < r->iovcnt; i++)
            total += r->iov[i].iov_len;
        int full = n >= 0 && (size_t)n == total;
        if (full && !d->dead && (rnd(d) & 1)) {
            /* the linked fdatasync runs later: the write is unsynced meanwhile */
            struct sim_req s = *r;
            s.kind = REQ_SYNC;
            v->pend[v->npend++] = s;
            return;
        }
        if (!d->dead)
            post(v, r->tag, IO_OP_FDATASYNC,
                 full ? do_sync(d, r->fd, fault_for(d, SIM_FDATASYNC_ASYNC, r->site))
                      : -ECANCELED);
    }
}

static int sim_reap(struct io *io, struct io_completion *out, int max)
{
    struct sim_view *v = (struct sim_view *)io;
    struct sim_disk *d = v->d;
    pthread_mutex_lock(&d->mu);
    if (!d->dead && v->npend) {
        int run = 1 + (int)(rnd(d) % (uint64_t)v->npend);
        while (run-- > 0) {
            int pick = (int)(rnd(d) % (uint64_t)v->npend);
            struct sim_req r = v->pend[pick];
            memmove(&v->pend[pick], &v->pend[pick + 1], sizeof r * (size_t)(v->npend - pick - 1));
            v->npend--;
            run_req(v, &r);
            if (d->dead)
                break;
        }
        if (v->npend)
            notify(v); /* the caller sleeps on the eventfd: wake it for the rest */
    }
    int n = 0;
    if (!d->dead)
        while (n < max && n < v->ndone) {
            out[n] = v->done[n];
            n++;
        }
    memmove(v->done, v->done + n, sizeof *v->done * (size_t)(v->ndone - n));
    v->ndone -= n;
    pthread_mutex_unlock(&d->mu);
    return n;
}

static int sim_event_fd(struct io *io) { return ((struct sim_view *)io)->efd; }

static void sim_view_destroy(struct io *io)
{
    struct sim_view *v = (struct sim_view *)io;
    pthread_mutex_lock(&v->d->mu);
    for (struct sim_view **p = &v->d->views; *p; p = &(*p)->next)
        if (*p == v) {
            *p = v->next;
            break;
        }
    pthread_mutex_unlock(&v->d->mu);
    close(v->efd);
    free(v);
}

static const struct io_ops sim_ops = {
    .open = sim_open, .close = sim_close, .pread = sim_pread, .pwrite = sim_pwrite,
    .fdatasync = sim_fdatasync, .fallocate = sim_fallocate, .truncate = sim_truncate, .rename = sim_rename,
    .unlink = sim_unlink, .fsync_dir = sim_fsync_dir, .submit_writev = sim_submit_writev,
    .submit_fdatasync = sim_submit_fdatasync,
    .submit_writev_fdatasync = sim_submit_writev_fdatasync, .reap = sim_reap,
    .event_fd = sim_event_fd, .destroy = sim_view_destroy,
};

struct io *sim_io_create(struct sim_disk *d)
{
    struct sim_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (v->efd < 0) {
        free(v);
        return NULL;
    }
    v->base.ops = &sim_ops;
    v->base.backend = SLUICE_IO_BACKEND_POSIX;
    v->d = d;
    pthread_mutex_lock(&d->mu);
    v->next = d->views;
    d->views = v;
    pthread_mutex_unlock(&d->mu);
    return &v->base;
}

int sim_disk_create(const char *stash_dir, uint64_t seed, int allow_direct,
                    struct sim_disk **out)
{
    struct sim_disk *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    pthread_mutex_init(&d->mu, NULL);
    d->rng = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    if (!d->rng)
        d->rng = 1;
    d->allow_direct = allow_direct;
    snprintf(d->stash_dir, sizeof d->stash_dir, "%s", stash_dir);
    *out = d;
    return 0;
}

void sim_disk_destroy(struct sim_disk *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nundo; i++)
        free(d->undo[i].old);
    for (size_t i = 0; i < d->nfiles; i++)
        close(d->files[i].fd);
    free(d->undo);
    free(d->files);
    free(d->dirops);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

void sim_fault_add(struct sim_disk *d, const struct sim_fault *f)
{
    pthread_mutex_lock(&d->mu);
    if (d->nfaults == SIM_MAX_FAULTS)
        abort();
    d->fault_seen[d->nfaults] = 0;
    d->fault[d->nfaults++] = *f;
    pthread_mutex_unlock(&d->mu);
}

uint64_t sim_fault_fired(struct sim_disk *d)
{
    pthread_mutex_lock(&d->mu);
    uint64_t n = d->fault_fired;
    pthread_mutex_unlock(&d->mu);
    return n;
}

void sim_cut_at_sync(struct sim_disk *d, uint64_t k, int after, sim_on_cut *on_cut)
{
    pthread_mutex_lock(&d->mu);
    d->cut_sync = k;
    d->cut_after = after;
    d->on_cut = on_cut;
    pthread_mutex_unlock(&d->mu);
}

void sim_cut_at_call(struct sim_disk *d, uint64_t k, sim_on_cut *on_cut)
{
    pthread_mutex_lock(&d->mu);
    d->cut_call = k;
    d->on_cut = on_cut;
    pthread_mutex_unlock(&d->mu);
}

void sim_power_cut(struct sim_disk *d)
{
    pthread_mutex_lock(&d->mu);
    cut_now(d);
    pthread_mutex_unlock(&d->mu);
}

uint64_t sim_sync_points(struct sim_disk *d)
{
    pthread_mutex_lock(&d->mu);
    uint64_t n = d->syncs;
    pthread_mutex_unlock(&d->mu);
    return n;
}

uint64_t sim_calls(struct sim_disk *d)
{
    pthread_mutex_lock(&d->mu);
    uint64_t n = d->calls;
    pthread_mutex_unlock(&d->mu);
    return n;
}

void sim_cut_stats(struct sim_disk *d, struct sim_cut_stats *out)
{
    pthread_mutex_lock(&d->mu);
    *out = d->cut;
    pthread_mutex_unlock(&d->mu);
}

int sim_sites(struct sim_disk *d, struct sim_site *out, int max)
{
    pthread_mutex_lock(&d->mu);
    int n = d->nsites < max ? d->nsites : max;
    memcpy(out, d->sites, sizeof *out * (size_t)n);
    pthread_mutex_unlock(&d->mu);
    return n;
}
