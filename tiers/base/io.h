/*
 * The I/O interface: every log and directory operation of the engine passes through
 * one `struct io`, so that tests can substitute a backend that injects faults or
 * simulates a power cut (SQLite's VFS, RocksDB's FileSystem).
 *
 * Synchronous calls return >= 0 or -errno, never set errno for the caller.
 * Asynchronous calls (writev, fdatasync) are queued with a caller-chosen tag; their
 * completions are collected with reap(), never blocking. event_fd() becomes readable
 * after a completion is posted, so the log writer can sleep in poll() on it together
 * with its doorbell and never blocks inside the I/O layer while records wait.
 *
 * Backends: io_uring (default; probed at creation) and POSIX (pwritev/fdatasync run by
 * one worker thread, started on first use and joined in destroy).
 */
#ifndef SLUICE_IO_H
#define SLUICE_IO_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum io_op { IO_OP_WRITE = 1, IO_OP_FDATASYNC = 2 };

struct io_completion {
    uint64_t tag;
    int op;
    int res; /* bytes written, 0, or -errno */
};

/* At most this many asynchronous operations in flight per io. */
#define IO_MAX_INFLIGHT 8
#define IO_MAX_IOV 4

struct io;
struct io_ops {
    int (*open)(struct io *io, const char *path, int flags, int mode);
    int (*close)(struct io *io, int fd);
    ssize_t (*pread)(struct io *io, int fd, void *buf, size_t len, uint64_t off);
    ssize_t (*pwrite)(struct io *io, int fd, const void *buf, size_t len, uint64_t off);
    int (*fdatasync)(struct io *io, int fd);
    int (*fallocate)(struct io *io, int fd, uint64_t off, uint64_t len);
    /* Sets the file's size and makes the change durable (ftruncate, then fsync: a size
     * change is metadata, which fdatasync need not write when the file shrinks). */
    int (*truncate)(struct io *io, int fd, uint64_t len);
    int (*rename)(struct io *io, const char *from, const char *to);
    int (*unlink)(struct io *io, const char *path);
    int (*fsync_dir)(struct io *io, const char *path);
    /* rwflags: 0 or RWF_DSYNC (the write completes only once durable, as if followed
     * by an fdatasync: with O_DIRECT one device write with FUA). */
    int (*submit_writev)(struct io *io, int fd, const struct iovec *iov, int iovcnt,
                         uint64_t off, int rwflags, uint64_t tag);
    int (*submit_fdatasync)(struct io *io, int fd, uint64_t tag);
    /* A write and an fdatasync that starts only after it completed (io_uring's linked
     * chain): two completions with the same tag. If the write fails or comes up short,
     * the fdatasync completes with -ECANCELED without running. */
    int (*submit_writev_fdatasync)(struct io *io, int fd, const struct iovec *iov, int iovcnt,
                                   uint64_t off, uint64_t tag);
    int (*reap)(struct io *io, struct io_completion *out, int max);
    int (*event_fd)(struct io *io);
    void (*destroy)(struct io *io);
};

struct io {
    const struct io_ops *ops;
    int backend;   /* SLUICE_IO_BACKEND_* */
    uint64_t cpus; /* where a worker thread of the backend may run (placement.h) */
};

/* which: SLUICE_IO_AUTO, SLUICE_IO_URING or SLUICE_IO_POSIX (sluice.h). */
int io_create(int which, struct io **out);
void io_destroy(struct io *io);

/* Plain-syscall implementations of the synchronous calls, shared by both backends. */
int io_posix_open(struct io *io, const char *path, int flags, int mode);
int io_posix_close(struct io *io, int fd);
ssize_t io_posix_pread(struct io *io, int fd, void *buf, size_t len, uint64_t off);
ssize_t io_posix_pwrite(struct io *io, int fd, const void *buf, size_t len, uint64_t off);
int io_posix_fdatasync(struct io *io, int fd);
int io_posix_fallocate(struct io *io, int fd, uint64_t off, uint64_t len);
int io_posix_truncate(struct io *io, int fd, uint64_t len);
int io_posix_rename(struct io *io, const char *from, const char *to);
int io_posix_unlink(struct io *io, const char *path);
int io_posix_fsync_dir(struct io *io, const char *path);

int io_posix_create(struct io **out);
int io_uring_backend_create(struct io **out);

/* Reads exactly len bytes unless EOF comes first; returns bytes read or -errno. */
ssize_t io_pread_full(struct io *io, int fd, void *buf, size_t len, uint64_t off);
#endif
