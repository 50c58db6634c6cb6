#include "fault_io.h"

#include <stdlib.h>

struct fault_io {
    struct io base;
    struct io *inner;
    int op, nth, err, seen, fired;
};

static struct io *in(struct io *io) { return ((struct fault_io *)io)->inner; }

static int f_open(struct io *io, const char *p, int fl, int m) { return in(io)->ops->open(in(io), p, fl, m); }
static int f_close(struct io *io, int fd) { return in(io)->ops->close(in(io), fd); }
static ssize_t f_pread(struct io *io, int fd, void *b, size_t n, uint64_t o)
{
    struct fault_io *f = (struct fault_io *)io;
    if (f->op == FAULT_OP_PREAD && ++f->seen == f->nth) {
        f->fired++;
        if (f->err != FAULT_SHORT_READ)
            return f->err;
        n = n > 1 ? n / 2 : n; /* a single byte cannot be shortened and still be a read */
    }
    return in(io)->ops->pread(in(io), fd, b, n, o);
}
static ssize_t f_pwrite(struct io *io, int fd, const void *b, size_t n, uint64_t o) { return in(io)->ops->pwrite(in(io), fd, b, n, o); }
static int f_fdatasync(struct io *io, int fd) { return in(io)->ops->fdatasync(in(io), fd); }
static int f_fallocate(struct io *io, int fd, uint64_t o, uint64_t n) { return in(io)->ops->fallocate(in(io), fd, o, n); }
static int f_truncate(struct io *io, int fd, uint64_t n) { return in(io)->ops->truncate(in(io), fd, n); }
static int f_rename(struct io *io, const char *a, const char *b) { return in(io)->ops->rename(in(io), a, b); }
static int f_unlink(struct io *io, const char *p) { return in(io)->ops->unlink(in(io), p); }
static int f_fsync_dir(struct io *io, const char *p) { return in(io)->ops->fsync_dir(in(io), p); }
static int f_writev(struct io *io, int fd, const struct iovec *v, int n, uint64_t o, int fl, uint64_t t)
{
    return in(io)->ops->submit_writev(in(io), fd, v, n, o, fl, t);
}
static int f_fdatasync_async(struct io *io, int fd, uint64_t t) { return in(io)->ops->submit_fdatasync(in(io), fd, t); }
static int f_writev_sync(struct io *io, int fd, const struct iovec *v, int n, uint64_t o, uint64_t t)
{
    return in(io)->ops->submit_writev_fdatasync(in(io), fd, v, n, o, t);
}
static int f_event_fd(struct io *io) { return in(io)->ops->event_fd(in(io)); }

static int f_reap(struct io *io, struct io_completion *out, int max)
{
    struct fault_io *f = (struct fault_io *)io;
    int n = in(io)->ops->reap(in(io), out, max);
    for (int i = 0; i < n; i++)
        if (out[i].op == f->op && ++f->seen == f->nth) {
            out[i].res = f->err;
            f->fired++;
        }
    return n;
}

static void f_destroy(struct io *io)
{
    io_destroy(in(io));
    free(io);
}

static const struct io_ops fault_ops = {
    .open = f_open, .close = f_close, .pread = f_pread, .pwrite = f_pwrite,
    .fdatasync = f_fdatasync, .fallocate = f_fallocate, .truncate = f_truncate, .rename = f_rename,
    .unlink = f_unlink, .fsync_dir = f_fsync_dir, .submit_writev = f_writev,
    .submit_fdatasync = f_fdatasync_async, .submit_writev_fdatasync = f_writev_sync,
    .reap = f_reap, .event_fd = f_event_fd, .destroy = f_destroy,
};

struct io *fault_io_create(struct io *inner, int op, int nth, int err)
{
    struct fault_io *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->base.ops = &fault_ops;
    f->base.backend = inner->backend;
    f->inner = inner;
    f->op = op;
    f->nth = nth;
    f->err = err;
    return &f->base;
}

int fault_io_fired(struct io *io) { return ((struct fault_io *)io)->fired; }
