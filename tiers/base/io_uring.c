/*
 * io_uring backend. DESIGN: one ring of IO_MAX_INFLIGHT * 2 entries, no SQPOLL (on two
 * vCPUs a polling kernel thread steals the producers' core: p99 of 3-12 ms measured).
 * An eventfd registered with the ring is signalled on every CQE, which is what the log
 * writer polls. Tags travel in user_data with the op in the low two bits.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io.h"
#include "sluice.h"

struct io_uring_backend {
    struct io base;
    struct io_uring ring;
    int efd;
};

static struct io_uring_backend *ub(struct io *io) { return (struct io_uring_backend *)io; }

static struct io_uring_sqe *get_sqe(struct io_uring_backend *b)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
    if (!sqe) {
        /* Full SQ: push what is queued to the kernel and try once more. */
        io_uring_submit(&b->ring);
        sqe = io_uring_get_sqe(&b->ring);
    }
    return sqe;
}

static int uring_submit_writev(struct io *io, int fd, const struct iovec *iov, int iovcnt,
                               uint64_t off, int rwflags, uint64_t tag)
{
    struct io_uring_backend *b = ub(io);
    struct io_uring_sqe *sqe = get_sqe(b);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, off);
    sqe->rw_flags = rwflags;
    io_uring_sqe_set_data64(sqe, (tag << 2) | IO_OP_WRITE);
    int r = io_uring_submit(&b->ring);
    return r < 0 ? r : 0;
}

static int uring_submit_fdatasync(struct io *io, int fd, uint64_t tag)
{
    struct io_uring_backend *b = ub(io);
    struct io_uring_sqe *sqe = get_sqe(b);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, (tag << 2) | IO_OP_FDATASYNC);
    int r = io_uring_submit(&b->ring);
    return r < 0 ? r : 0;
}

static int uring_submit_writev_fdatasync(struct io *io, int fd, const struct iovec *iov,
                                         int iovcnt, uint64_t off, uint64_t tag)
{
    struct io_uring_backend *b = ub(io);
    if (io_uring_sq_space_left(&b->ring) < 2)
        io_uring_submit(&b->ring);
    struct io_uring_sqe *w = io_uring_get_sqe(&b->ring);
    struct io_uring_sqe *s = w ? io_uring_get_sqe(&b->ring) : NULL;
    if (!s)
        return -EBUSY;
    io_uring_prep_writev(w, fd, iov, (unsigned)iovcnt, off);
    io_uring_sqe_set_data64(w, (tag << 2) | IO_OP_WRITE);
    w->flags |= IOSQE_IO_LINK;
    io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(s, (tag << 2) | IO_OP_FDATASYNC);
    int r = io_uring_submit(&b->ring);
    return r < 0 ? r : 0;
}

static int uring_reap(struct io *io, struct io_completion *out, int max)
{
    struct io_uring_backend *b = ub(io);
    int n = 0;
    struct io_uring_cqe *cqe;
    while (n < max && io_uring_peek_cqe(&b->ring, &cqe) == 0) {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        out[n].tag = ud >> 2;
        out[n].op = (int)(ud & 3);
        out[n].res = cqe->res;
        io_uring_cqe_seen(&b->ring, cqe);
        n++;
    }
    return n;
}

static int uring_event_fd(struct io *io) { return ub(io)->efd; }

static void uring_destroy(struct io *io)
{
    struct io_uring_backend *b = ub(io);
    io_uring_queue_exit(&b->ring);
    close(b->efd);
    free(b);
}

static const struct io_ops uring_ops = {
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
    .submit_writev = uring_submit_writev,
    .submit_fdatasync = uring_submit_fdatasync,
    .submit_writev_fdatasync = uring_submit_writev_fdatasync,
    .reap = uring_reap,
    .event_fd = uring_event_fd,
    .destroy = uring_destroy,
};

int io_uring_backend_create(struct io **out)
{
    struct io_uring_backend *b = calloc(1, sizeof *b);
    if (!b)
        return SLUICE_ENOMEM;
    int r = io_uring_queue_init(IO_MAX_INFLIGHT * 2, &b->ring, 0);
    if (r < 0)
        goto err_free;
    /* Probe the two opcodes we depend on rather than trusting the kernel version. */
    struct io_uring_probe *probe = io_uring_get_probe_ring(&b->ring);
    int ok = probe && io_uring_opcode_supported(probe, IORING_OP_WRITEV) &&
             io_uring_opcode_supported(probe, IORING_OP_FSYNC);
    if (probe)
        io_uring_free_probe(probe);
    if (!ok) {
        r = -EOPNOTSUPP;
        goto err_ring;
    }
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0) {
        r = -errno;
        goto err_ring;
    }
    r = io_uring_register_eventfd(&b->ring, b->efd);
    if (r < 0)
        goto err_efd;
    b->base.ops = &uring_ops;
    b->base.backend = SLUICE_IO_BACKEND_URING;
    *out = &b->base;
    return 0;
err_efd:
    close(b->efd);
err_ring:
    io_uring_queue_exit(&b->ring);
err_free:
    free(b);
    return r;
}
