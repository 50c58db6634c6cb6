/*
 * The segment preparer (tiers/log/preparer.c), driven directly: the spare it zeroes, the
 * hand-over, a failed spare and its retry, an abandoned spare at stop, and the calls on
 * a preparer that never started.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "preparer.h"
#include "sim_disk.h"
#include "sluice.h"
#include "util.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmdir(dir); }
TestSuite(preparer, .init = setup, .fini = teardown);

static int all_zero(const char *path, long long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int c, zero = 1;
    long long n = 0;
    while ((c = fgetc(f)) != EOF) {
        zero &= c == 0;
        n++;
    }
    fclose(f);
    *size = n;
    return zero;
}

Test(preparer, an_unstarted_preparer_refuses_politely)
{
    struct seg_preparer p;
    memset(&p, 0, sizeof p);
    uint64_t bytes = 7;
    cr_expect_null(prep_take(&p, 0, &bytes));
    cr_expect_eq(bytes, 7, "nothing handed over");
    prep_request(&p, 1u << 20, 0);
    cr_expect_eq(prep_wait_ready(&p, 10), SLUICE_EINVAL);
    prep_stop(&p);
    cr_expect_eq(p.started, 0);
}

Test(preparer, a_directory_name_too_long_for_the_spare_is_einval)
{
    struct io *io;
    cr_assert_eq(io_create(SLUICE_IO_POSIX, &io), 0);
    char *longdir = malloc(5000);
    memset(longdir, 'd', 4999);
    longdir[4999] = 0;
    struct seg_preparer p;
    cr_expect_eq(prep_start(&p, io, longdir, 256u << 10), SLUICE_EINVAL);
    cr_expect_eq(p.started, 0, "no thread left behind");
    free(longdir);
    io_destroy(io);
}

Test(preparer, zeroes_the_size_asked_and_hands_it_over_once)
{
    struct io *io;
    cr_assert_eq(io_create(SLUICE_IO_POSIX, &io), 0);
    struct seg_preparer p;
    cr_assert_eq(prep_start(&p, io, dir, 256u << 10), 0);
    cr_assert_eq(prep_wait_ready(&p, 10000), 0);
    char spare[4200];
    snprintf(spare, sizeof spare, "%s/spare.seg.tmp", dir);
    long long size = 0;
    cr_expect(all_zero(spare, &size), "the spare is zeros");
    cr_expect_eq(size, 256 << 10);

    uint64_t bytes = 0;
    cr_expect_null(prep_take(&p, 512u << 10, &bytes), "too small for what the writer needs");
    const char *path = prep_take(&p, 256u << 10, &bytes);
    cr_assert_not_null(path);
    cr_expect_str_eq(path, spare);
    cr_expect_eq(bytes, 256u << 10);
    cr_expect_null(prep_take(&p, 0, &bytes), "handed over once");
    /* taken and not asked for again: the preparer makes nothing, a wait times out */
    cr_expect_eq(prep_wait_ready(&p, 20), SLUICE_ETIMEDOUT);
    cr_assert_eq(unlink(spare), 0); /* as seg_install's rename would */

    prep_request(&p, 512u << 10, 0);
    cr_assert_eq(prep_wait_ready(&p, 10000), 0);
    cr_expect(all_zero(spare, &size));
    cr_expect_eq(size, 512 << 10, "the size of the request");
    prep_stop(&p);
    cr_expect_eq(access(spare, F_OK), -1, "a closed directory keeps no spare");
    io_destroy(io);
}

Test(preparer, a_failed_spare_reports_its_error_and_is_made_again_on_request)
{
    char *stash = tu_mkdtemp();
    struct sim_disk *d;
    cr_assert_eq(sim_disk_create(stash, 1, 1, &d), 0);
    struct sim_fault f = {.op = SIM_PWRITE, .nth = 2, .err = -ENOSPC};
    sim_fault_add(d, &f);
    struct io *io = sim_io_create(d);
    struct seg_preparer p;
    cr_assert_eq(prep_start(&p, io, dir, 512u << 10), 0);
    cr_expect_eq(prep_wait_ready(&p, 10000), -ENOSPC, "the write's own error");
    cr_expect_eq(sim_fault_fired(d), 1);
    char spare[4200];
    snprintf(spare, sizeof spare, "%s/spare.seg.tmp", dir);
    cr_expect_eq(access(spare, F_OK), -1, "a failed spare is removed");
    uint64_t bytes;
    cr_expect_null(prep_take(&p, 0, &bytes));
    /* no retry loop against a failing disk: the next request tries again */
    prep_request(&p, 512u << 10, 0);
    cr_expect_eq(prep_wait_ready(&p, 10000), 0);
    cr_expect_not_null(prep_take(&p, 512u << 10, &bytes));
    prep_stop(&p);
    io_destroy(io);
    sim_disk_destroy(d);
    tu_rmdir(stash);
}

/* A backend whose every pwrite, once done, raises the stop flag: a stop that arrives
 * while the spare is being zeroed, at a known point. */
struct stop_io {
    struct io base;
    struct io *inner;
    _Atomic int *stop;
};

static ssize_t stop_pwrite(struct io *io, int fd, const void *buf, size_t len, uint64_t off)
{
    struct stop_io *s = (struct stop_io *)io;
    ssize_t w = s->inner->ops->pwrite(s->inner, fd, buf, len, off);
    atomic_store(s->stop, 1);
    return w;
}

Test(preparer, a_stop_during_zeroing_abandons_the_spare_and_removes_it)
{
    struct io *posix;
    cr_assert_eq(io_create(SLUICE_IO_POSIX, &posix), 0);
    _Atomic int stop = 0;
    struct io_ops ops = *posix->ops; /* POSIX's synchronous calls ignore their io */
    ops.pwrite = stop_pwrite;
    struct stop_io io = {.base = {.ops = &ops}, .inner = posix, .stop = &stop};
    char spare[4200];
    snprintf(spare, sizeof spare, "%s/spare.seg.tmp", dir);
    cr_expect_eq(seg_prepare_spare(&io.base, spare, 4u << 20, 0, &stop), SLUICE_EBUSY);
    cr_expect_eq(access(spare, F_OK), -1, "an abandoned spare is removed");
    io_destroy(posix);
}

Test(preparer, stop_leaves_no_spare_behind_whatever_it_interrupts)
{
    struct io *io;
    cr_assert_eq(io_create(SLUICE_IO_POSIX, &io), 0);
    struct seg_preparer p;
    cr_assert_eq(prep_start(&p, io, dir, 256u << 10), 0);
    cr_assert_eq(prep_wait_ready(&p, 10000), 0);
    uint64_t bytes;
    cr_assert_not_null(prep_take(&p, 0, &bytes));
    char spare[4200];
    snprintf(spare, sizeof spare, "%s/spare.seg.tmp", dir);
    cr_assert_eq(unlink(spare), 0);
    /* 64 MiB spread over an hour: the stop finds it not begun or half-made (which one
     * is the scheduler's choice; the test above stops it mid-way for certain) */
    prep_request(&p, 64u << 20, 3600ull * 1000000000u);
    prep_stop(&p);
    cr_expect_eq(access(spare, F_OK), -1, "no spare is left");
    cr_expect_eq(p.started, 0);
    io_destroy(io);
}
