#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "sluice.h"

int io_posix_open(struct io *io, const char *path, int flags, int mode)
{
    (void)io;
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

int io_posix_close(struct io *io, int fd)
{
    (void)io;
    return close(fd) < 0 ? -errno : 0;
}

ssize_t io_posix_pread(struct io *io, int fd, void *buf, size_t len, uint64_t off)
{
    (void)io;
    ssize_t n;
    do
        n = pread(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t io_posix_pwrite(struct io *io, int fd, const void *buf, size_t len, uint64_t off)
{
    (void)io;
    ssize_t n;
    do
        n = pwrite(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int io_posix_fdatasync(struct io *io, int fd)
{
    (void)io;
    return fdatasync(fd) < 0 ? -errno : 0;
}

int io_posix_fallocate(struct io *io, int fd, uint64_t off, uint64_t len)
{
    (void)io;
    int r = posix_fallocate(fd, (off_t)off, (off_t)len);
    return -r;
}

int io_posix_truncate(struct io *io, int fd, uint64_t len)
{
    (void)io;
    if (ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0)
        return -errno;
    return 0;
}

int io_posix_rename(struct io *io, const char *from, const char *to)
{
    (void)io;
    return rename(from, to) < 0 ? -errno : 0;
}

int io_posix_unlink(struct io *io, const char *path)
{
    (void)io;
    return unlink(path) < 0 ? -errno : 0;
}

int io_posix_fsync_dir(struct io *io, const char *path)
{
    (void)io;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

ssize_t io_pread_full(struct io *io, int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = io->ops->pread(io, fd, (char *)buf + got, len - got, off + got);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int io_create(int which, struct io **out)
{
    if (which == SLUICE_IO_POSIX)
        return io_posix_create(out);
    int r = io_uring_backend_create(out);
    if (r == 0 || which == SLUICE_IO_URING)
        return r;
    /* AUTO: io_uring may be disabled (kernel.io_uring_disabled, seccomp, old kernel). */
    return io_posix_create(out);
}

void io_destroy(struct io *io)
{
    if (io)
        io->ops->destroy(io);
}
