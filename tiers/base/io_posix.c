/*
 * POSIX backend, for kernels or sandboxes without io_uring. DESIGN: asynchronous calls
 * are executed in submission order by one worker thread (started here, stopped and
 * joined in destroy), so the log writer keeps indexing and answering readers while a
 * pwritev or fdatasync blocks, exactly as with io_uring. Completions are queued and
 * announced on an eventfd.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "placement.h"
#include "io.h"
#include "sluice.h"

#define IO_OP_WRITE_SYNC 3 /* internal: a write then, if it completed fully, an fdatasync */

struct posix_req {
    int op, fd, iovcnt, rwflags;
    uint64_t off, tag;
    struct iovec iov[IO_MAX_IOV];
};

struct io_posix_backend {
    struct io base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t worker;
    int efd;
    int stopping;
    int started; /* the worker starts on the first asynchronous call: read-only use
                  * (recovery, inspection) never needs it */
    unsigned req_head, req_count;
    unsigned done_head, done_count;
    struct posix_req reqs[IO_MAX_INFLIGHT];
    struct io_completion done[IO_MAX_INFLIGHT];
};

static struct io_posix_backend *pb(struct io *io) { return (struct io_posix_backend *)io; }

static int run_write(struct posix_req *r)
{
    ssize_t n;
    do
        n = pwritev2(r->fd, r->iov, r->iovcnt, (off_t)r->off, r->rwflags);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : (int)n;
}

static void post(struct io_posix_backend *b, uint64_t tag, int op, int res)
{
    unsigned slot = (b->done_head + b->done_count) % IO_MAX_INFLIGHT;
    b->done[slot] = (struct io_completion){.tag = tag, .op = op, .res = res};
    b->done_count++;
    uint64_t one = 1;
    ssize_t w = write(b->efd, &one, sizeof one);
    (void)w; /* an eventfd write only fails when the counter would overflow */
}

static size_t iov_total(const struct posix_req *r)
{
    size_t n = 0;
    for (int i = 0; i < r->iovcnt; i++)
        n += r->iov[i].iov_len;
    return n;
}

static void *posix_worker(void *arg)
{
    struct io_posix_backend *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->req_count && !b->stopping)
            pthread_cond_wait(&b->cv, &b->mu);
        if (!b->req_count)
            break;
        struct posix_req r = b->reqs[b->req_head];
        pthread_mutex_unlock(&b->mu);
        int res = 0, sync_res = 0;
        if (r.op == IO_OP_FDATASYNC) {
            res = fdatasync(r.fd) < 0 ? -errno : 0;
        } else {
            res = run_write(&r);
            if (r.op == IO_OP_WRITE_SYNC)
                sync_res = res >= 0 && (size_t)res == iov_total(&r)
                               ? (fdatasync(r.fd) < 0 ? -errno : 0)
                               : -ECANCELED;
        }
        pthread_mutex_lock(&b->mu);
        b->req_head = (b->req_head + 1) % IO_MAX_INFLIGHT;
        b->req_count--;
        /* done[] cannot overflow: enqueue counts the slots each request will post. */
        post(b, r.tag, r.op == IO_OP_FDATASYNC ? IO_OP_FDATASYNC : IO_OP_WRITE, res);
        if (r.op == IO_OP_WRITE_SYNC)
            post(b, r.tag, IO_OP_FDATASYNC, sync_res);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static int enqueue(struct io_posix_backend *b, const struct posix_req *r)
{
    int rc = 0;
    pthread_mutex_lock(&b->mu);
    if (!b->started) {
        rc = -pthread_create(&b->worker, NULL, posix_worker, b);
        if (!rc)
            thread_place(b->worker, b->base.cpus);
        b->started = rc == 0;
    }
    unsigned posts = 0;
    for (unsigned i = 0; i < b->req_count; i++)
        posts += b->reqs[(b->req_head + i) % IO_MAX_INFLIGHT].op == IO_OP_WRITE_SYNC ? 2 : 1;
    if (!rc && posts + b->done_count + (r->op == IO_OP_WRITE_SYNC ? 2u : 1u) > IO_MAX_INFLIGHT)
        rc = -EBUSY;
    if (!rc) {
        b->reqs[(b->req_head + b->req_count) % IO_MAX_INFLIGHT] = *r;
        b->req_count++;
        pthread_cond_signal(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static int posix_submit_writev(struct io *io, int fd, const struct iovec *iov, int iovcnt,
                               uint64_t off, int rwflags, uint64_t tag)
{
    if (iovcnt < 1 || iovcnt > IO_MAX_IOV)
        return -EINVAL;
    struct posix_req r = {.op = IO_OP_WRITE, .fd = fd, .iovcnt = iovcnt, .off = off,
                          .tag = tag, .rwflags = rwflags};
    memcpy(r.iov, iov, sizeof(struct iovec) * (size_t)iovcnt);
    return enqueue(pb(io), &r);
}

static int posix_submit_fdatasync(struct io *io, int fd, uint64_t tag)
{
    struct posix_req r = {.op = IO_OP_FDATASYNC, .fd = fd, .tag = tag};
    return enqueue(pb(io), &r);
}

static int posix_submit_writev_fdatasync(struct io *io, int fd, const struct iovec *iov,
                                         int iovcnt, uint64_t off, uint64_t tag)
{
    if (iovcnt < 1 || iovcnt > IO_MAX_IOV)
        return -EINVAL;
    struct posix_req r = {.op = IO_OP_WRITE_SYNC, .fd = fd, .iovcnt = iovcnt, .off = off,
                          .tag = tag};
    memcpy(r.iov, iov, sizeof(struct iovec) * (size_t)iovcnt);
    return enqueue(pb(io), &r);
}

static int posix_reap(struct io *io, struct io_completion *out, int max)
{
    struct io_posix_backend *b = pb(io);
    int n = 0;
    pthread_mutex_lock(&b->mu);
    while (n < max && b->done_count) {
        out[n++] = b->done[b->done_head];
        b->done_head = (b->done_head + 1) % IO_MAX_INFLIGHT;
        b->done_count--;
    }
    pthread_mutex_unlock(&b->mu);
    return n;
}

static int posix_event_fd(struct io *io) { return pb(io)->efd; }

static void posix_destroy(struct io *io)
{
    struct io_posix_backend *b = pb(io);
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    pthread_cond_signal(&b->cv);
    int started = b->started;
    pthread_mutex_unlock(&b->mu);
    if (started)
        pthread_join(b->worker, NULL);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    close(b->efd);
    free(b);
}

static const struct io_ops posix_ops = {
    .open = io_posix_open,
    .close = io_posix_close,
    .pread = io_posix_pread,
    .pwrite = io_posix_pwrite,
    .fdatasync = io_posix_fdatasync,
    .fallocate = io_posix_fallocate,
    .truncate = io_posix_truncate,
    .rename = io_posix_rename,
    .unlink = io_posix_unlink,
    .fsync_dir = io_posix_fsync_dir,
    .submit_writev = posix_submit_writev,
    .submit_fdatasync = posix_submit_fdatasync,
    .submit_writev_fdatasync = posix_submit_writev_fdatasync,
    .reap = posix_reap,
    .event_fd = posix_event_fd,
    .destroy = posix_destroy,
};

int io_posix_create(struct io **out)
{
    struct io_posix_backend *b = calloc(1, sizeof *b);
    if (!b)
        return SLUICE_ENOMEM;
    int r;
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0) {
        r = -errno;
        goto err_free;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->base.ops = &posix_ops;
    b->base.backend = SLUICE_IO_BACKEND_POSIX;
    *out = &b->base;
    return 0;
err_free:
    free(b);
    return r;
}
