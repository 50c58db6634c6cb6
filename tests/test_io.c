/*
 * The I/O backends against one contract (tiers/base/io.h), each test run on io_uring and
 * on POSIX: what the synchronous calls return, errors as -errno, asynchronous writes
 * and syncs completing with their tags, a linked write+fdatasync whose sync is cancelled
 * when the write fails, the event fd, and the bound on operations in flight.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "sluice.h"
#include "util.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmdir(dir); }
TestSuite(io, .init = setup, .fini = teardown);

static const int backends[] = {SLUICE_IO_URING, SLUICE_IO_POSIX};
#define EACH_BACKEND(io)                                                                           \
    for (size_t b_ = 0; b_ < 2; b_++)                                                              \
        for (struct io *io = make(backends[b_]); io; io_destroy(io), io = NULL)

static struct io *make(int which)
{
    struct io *io = NULL;
    int r = io_create(which, &io);
    cr_assert_eq(r, 0, "backend %d: %s", which, sluice_errname(r));
    cr_assert_eq(io->backend, which == SLUICE_IO_URING ? SLUICE_IO_BACKEND_URING : SLUICE_IO_BACKEND_POSIX);
    return io;
}

static char *path_of(const char *name)
{
    char *p = malloc(4200);
    snprintf(p, 4200, "%s/%s", dir, name);
    return p;
}

/* Waits (poll on the event fd) until n completions were reaped into out. */
static void reap_n(struct io *io, struct io_completion *out, int n)
{
    int got = 0;
    for (int spins = 0; got < n; spins++) {
        cr_assert_lt(spins, 100000, "completions never came (%d of %d)", got, n);
        struct pollfd p = {.fd = io->ops->event_fd(io), .events = POLLIN};
        (void)poll(&p, 1, 10);
        if (p.revents & POLLIN) {
            uint64_t v;
            (void)!read(p.fd, &v, sizeof v);
        }
        got += io->ops->reap(io, out + got, n - got);
    }
    struct io_completion extra;
    cr_expect_eq(io->ops->reap(io, &extra, 1), 0, "no completion beyond those submitted");
}

Test(io, synchronous_calls_round_trip_and_errors_are_negative_errno)
{
    EACH_BACKEND(io)
    {
        char *a = path_of("a"), *b = path_of("b"), *missing = path_of("none/x");
        int fd = io->ops->open(io, a, O_RDWR | O_CREAT | O_TRUNC, 0600);
        cr_assert_geq(fd, 0);
        cr_expect_eq(io->ops->pwrite(io, fd, "hello", 5, 4096), 5);
        char buf[16] = {0};
        cr_expect_eq(io->ops->pread(io, fd, buf, 5, 4096), 5);
        cr_expect_str_eq(buf, "hello");
        cr_expect_eq(io_pread_full(io, fd, buf, sizeof buf, 4096), 5, "stops at EOF");
        cr_expect_eq(io->ops->fdatasync(io, fd), 0);
        cr_expect_eq(io->ops->fallocate(io, fd, 0, 1u << 16), 0);
        cr_expect_eq(tu_file_size(a), 1 << 16);
        cr_expect_eq(io->ops->truncate(io, fd, 100), 0);
        cr_expect_eq(tu_file_size(a), 100);
        cr_expect_eq(io->ops->rename(io, a, b), 0);
        cr_expect_eq(io->ops->fsync_dir(io, dir), 0);
        cr_expect_eq(access(b, F_OK), 0);
        cr_expect_eq(io->ops->close(io, fd), 0);

        cr_expect_eq(io->ops->open(io, missing, O_RDONLY, 0), -ENOENT);
        cr_expect_eq(io->ops->pread(io, fd, buf, 5, 0), -EBADF, "a closed descriptor");
        cr_expect_eq(io->ops->pwrite(io, fd, buf, 5, 0), -EBADF);
        cr_expect_eq(io->ops->fdatasync(io, fd), -EBADF);
        cr_expect_eq(io->ops->fallocate(io, fd, 0, 4096), -EBADF);
        cr_expect_eq(io->ops->truncate(io, fd, 0), -EBADF);
        cr_expect_eq(io->ops->close(io, fd), -EBADF);
        cr_expect_eq(io->ops->rename(io, a, b), -ENOENT, "a is gone");
        cr_expect_eq(io->ops->unlink(io, a), -ENOENT);
        cr_expect_eq(io->ops->fsync_dir(io, missing), -ENOENT);
        cr_expect_eq(io_pread_full(io, fd, buf, 5, 0), -EBADF);
        cr_expect_eq(io->ops->unlink(io, b), 0);
        free(a), free(b), free(missing);
    }
}

Test(io, asynchronous_writes_and_syncs_complete_with_their_tags)
{
    EACH_BACKEND(io)
    {
        char *a = path_of("async");
        int fd = io->ops->open(io, a, O_RDWR | O_CREAT | O_TRUNC, 0600);
        cr_assert_geq(fd, 0);
        struct iovec iov[2] = {{"abc", 3}, {"defg", 4}};
        cr_assert_eq(io->ops->submit_writev(io, fd, iov, 2, 0, 0, 11), 0);
        struct io_completion c[2];
        reap_n(io, c, 1);
        cr_expect(c[0].tag == 11 && c[0].op == IO_OP_WRITE && c[0].res == 7);
        cr_assert_eq(io->ops->submit_fdatasync(io, fd, 12), 0);
        reap_n(io, c, 1);
        cr_expect(c[0].tag == 12 && c[0].op == IO_OP_FDATASYNC && c[0].res == 0);
        cr_assert_eq(io->ops->submit_writev(io, fd, iov, 1, 7, RWF_DSYNC, 13), 0);
        reap_n(io, c, 1);
        cr_expect(c[0].tag == 13 && c[0].res == 3, "a durable write");
        cr_assert_eq(io->ops->submit_writev_fdatasync(io, fd, iov + 1, 1, 10, 14), 0);
        reap_n(io, c, 2);
        int w = c[0].op == IO_OP_WRITE ? 0 : 1;
        cr_expect(c[w].tag == 14 && c[w].op == IO_OP_WRITE && c[w].res == 4);
        cr_expect(c[1 - w].tag == 14 && c[1 - w].op == IO_OP_FDATASYNC && c[1 - w].res == 0);
        char buf[16] = {0};
        cr_expect_eq(io->ops->pread(io, fd, buf, 14, 0), 14);
        cr_expect_str_eq(buf, "abcdefgabcdefg");
        io->ops->close(io, fd);
        free(a);
    }
}

Test(io, a_failed_write_cancels_its_linked_sync_and_errors_complete_as_negative_errno)
{
    EACH_BACKEND(io)
    {
        char *a = path_of("ro");
        int fd = io->ops->open(io, a, O_RDONLY | O_CREAT, 0600); /* writes fail: EBADF */
        cr_assert_geq(fd, 0);
        struct iovec iov = {"x", 1};
        struct io_completion c[2];
        cr_assert_eq(io->ops->submit_writev(io, fd, &iov, 1, 0, 0, 21), 0);
        reap_n(io, c, 1);
        cr_expect(c[0].tag == 21 && c[0].res == -EBADF, "res %d", c[0].res);
        cr_assert_eq(io->ops->submit_writev_fdatasync(io, fd, &iov, 1, 0, 22), 0);
        reap_n(io, c, 2);
        int w = c[0].op == IO_OP_WRITE ? 0 : 1;
        cr_expect_eq(c[w].res, -EBADF);
        cr_expect_eq(c[1 - w].res, -ECANCELED, "the sync never ran");
        cr_assert_eq(io->ops->submit_fdatasync(io, 1000000, 23), 0, "a bad descriptor is the completion's error");
        reap_n(io, c, 1);
        cr_expect_eq(c[0].res, -EBADF);
        io->ops->close(io, fd);
        free(a);
    }
}

Test(io, the_posix_backend_bounds_what_is_in_flight)
{
    struct io *io = make(SLUICE_IO_POSIX);
    char *a = path_of("bound");
    int fd = io->ops->open(io, a, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    struct iovec iov = {"y", 1};
    struct iovec too_many[IO_MAX_IOV + 1];
    for (int i = 0; i <= IO_MAX_IOV; i++)
        too_many[i] = iov;
    cr_expect_eq(io->ops->submit_writev(io, fd, too_many, IO_MAX_IOV + 1, 0, 0, 1), -EINVAL);
    cr_expect_eq(io->ops->submit_writev_fdatasync(io, fd, too_many, 0, 0, 1), -EINVAL);
    /* completions not reaped count against the bound too: fill it, then one more */
    int submitted = 0, r = 0;
    while (submitted < 2 * IO_MAX_INFLIGHT && (r = io->ops->submit_fdatasync(io, fd, 100 + submitted)) == 0)
        submitted++;
    cr_expect_eq(r, -EBUSY);
    cr_expect_eq(submitted, IO_MAX_INFLIGHT);
    struct io_completion c[IO_MAX_INFLIGHT];
    reap_n(io, c, submitted);
    for (int i = 0; i < submitted; i++)
        cr_expect_eq(c[i].tag, 100u + (unsigned)i, "completions in submission order");
    cr_expect_eq(io->ops->submit_fdatasync(io, fd, 1), 0, "room again once reaped");
    reap_n(io, c, 1);
    io->ops->close(io, fd);
    io_destroy(io);
    free(a);
}

/* The lowest descriptor number free now: with RLIMIT_NOFILE set to it, the next
 * descriptor any call asks for is refused (EMFILE). */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY);
    cr_assert_geq(fd, 0);
    close(fd);
    return fd;
}

static void limit_fds(int n)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = (rlim_t)n;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Out of descriptors: each backend says so with -EMFILE, io_uring's after giving back the
 * ring it had made; AUTO falls back to POSIX when io_uring alone could not start.
 * (Criterion runs each test in its own process: the limit ends with it.) */
Test(io, out_of_descriptors_each_backend_fails_cleanly_and_auto_falls_back)
{
    struct io *io = NULL;
    int low = lowest_free_fd();
    limit_fds(low); /* not even one more */
    cr_expect_eq(io_create(SLUICE_IO_URING, &io), -EMFILE);
    cr_expect_eq(io_create(SLUICE_IO_POSIX, &io), -EMFILE);
    cr_expect_eq(io_create(SLUICE_IO_AUTO, &io), -EMFILE);
    limit_fds(low + 1); /* the ring's descriptor, not its eventfd */
    cr_expect_eq(io_create(SLUICE_IO_URING, &io), -EMFILE);
    cr_expect_eq(lowest_free_fd(), low, "the ring's descriptor was given back");
    cr_assert_eq(io_create(SLUICE_IO_AUTO, &io), 0);
    cr_expect_eq(io->backend, SLUICE_IO_BACKEND_POSIX);
    io_destroy(io);
}
