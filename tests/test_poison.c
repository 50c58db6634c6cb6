/* A write or sync error poisons the database: the waiter and every later write get
 * SLUICE_EPOISONED, reads of acknowledged data go on, close reports it, and a reopen
 * recovers every record acknowledged before the error. Nothing is retried. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "fault_io.h"
#include "sluice.h"
#include "util.h"

static void poison_case(int backend, int op, int nth)
{
    char *dir = tu_mkdtemp();
    sluice_options o;
    sluice_options_init(&o);
    o.ring_bytes = 1 << 20;
    o.segment_bytes = 1 << 20;
    o.io_backend = backend;
    struct io *real;
    cr_assert_eq(io_create(backend == SLUICE_IO_AUTO ? SLUICE_IO_AUTO : SLUICE_IO_POSIX, &real), 0);
    struct io *faulty = fault_io_create(real, op, nth, -EIO);
    sluice_db *db;
    char err[256] = "";
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    int opened = db_open_with_io(dir, &o, faulty, &db);
    cr_assert_eq(opened, 0, "%s: %s", sluice_errname(opened), err);

    /* puts before the fault are acknowledged */
    int acked = 0, r = 0;
    char k[16];
    for (int i = 0; i < 100 && r == 0; i++) {
        snprintf(k, sizeof k, "k%d", i);
        r = sluice_put(db, k, strlen(k), 1, "value", 5, SLUICE_ACK_DURABLE, NULL);
        if (r == 0)
            acked++;
    }
    cr_assert_eq(r, SLUICE_EPOISONED, "the put whose write failed is not acknowledged");
    cr_assert_eq(fault_io_fired(faulty), 1);
    cr_assert_eq(acked, nth - 1, "one durable put per write before the fault: %d acked", acked);
    cr_expect_eq(sluice_put(db, "after", 5, 1, "v", 1, SLUICE_ACK_MEMORY, NULL), SLUICE_EPOISONED);
    cr_expect_eq(sluice_flush(db), SLUICE_EPOISONED);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_expect_eq(st.poison_error, -EIO);
    cr_expect_lt(st.durable_lsn, (uint64_t)acked + 1);
    char buf[16];
    size_t vlen;
    cr_expect_eq(sluice_get(db, "k0", 2, 1, buf, sizeof buf, &vlen), 0, "reads go on");
    cr_expect_eq(sluice_close(db), -EIO, "close names the cause, not only the state");

    cr_assert_eq(sluice_open(dir, &o, &db), 0, "reopen recovers from disk");
    for (int i = 0; i < acked; i++) {
        snprintf(k, sizeof k, "k%d", i);
        cr_expect_eq(sluice_get(db, k, strlen(k), 1, buf, sizeof buf, &vlen), 0, "record %d lost", i);
    }
    cr_expect_eq(sluice_put(db, "again", 5, 1, "v", 1, SLUICE_ACK_DURABLE, NULL), 0);
    cr_expect_eq(sluice_close(db), 0);
    tu_rmdir(dir);
}

Test(poison, failed_direct_write_io_uring) { poison_case(SLUICE_IO_AUTO, IO_OP_WRITE, 3); }
Test(poison, failed_direct_write_posix) { poison_case(SLUICE_IO_POSIX, IO_OP_WRITE, 5); }
Test(poison, failed_fdatasync_buffered) { poison_case(SLUICE_IO_POSIX_BUFFERED, IO_OP_FDATASYNC, 4); }
Test(poison, failed_write_buffered) { poison_case(SLUICE_IO_POSIX_BUFFERED, IO_OP_WRITE, 2); }

/* A read that fails while the log is recovered fails the open with that error — not
 * SLUICE_ECORRUPT, and never read as the end of the log, which recovery would cut: the
 * next open, without the fault, finds every record. Every read of the recovery in turn,
 * and each also as a short read (which must be read on, not taken for the end). */
Test(poison, a_read_error_during_recovery_fails_the_open_and_cuts_nothing)
{
    char *dir = tu_mkdtemp();
    sluice_options o;
    sluice_options_init(&o);
    o.ring_bytes = 1 << 20;
    o.segment_bytes = 256 << 10;
    o.manual_compaction = 1;
    o.stats_interval_ms = 0;
    sluice_db *db;
    cr_assert_eq(sluice_open(dir, &o, &db), 0);
    enum { N = 3000 };
    char k[16], v[200];
    memset(v, 'r', sizeof v);
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%d", i % 37);
        cr_assert_eq(sluice_put(db, k, strlen(k), (uint64_t)i, v, sizeof v, SLUICE_ACK_MEMORY, NULL), 0);
    }
    cr_assert_eq(sluice_close(db), 0); /* several segments, none compacted */
    int failed = 0, shortened = 0;
    for (int mode = 0; mode < 4; mode++) { /* EIO, short; each as a reader and a writer */
        for (int nth = 1;; nth++) {
            struct io *real;
            cr_assert_eq(io_create(SLUICE_IO_POSIX, &real), 0);
            struct io *faulty = fault_io_create(real, FAULT_OP_PREAD, nth, mode & 1 ? FAULT_SHORT_READ : -EIO);
            o.read_only = mode < 2;
            int r = db_open_with_io(dir, &o, faulty, &db);
            if (r == 0) {
                int fired = fault_io_fired(db->io);
                struct sluice_stats st;
                cr_assert_eq(sluice_stats(db, &st), 0);
                cr_expect_eq(st.durable_lsn, (uint64_t)N, "read %d (%s): the whole log", nth,
                             mode & 1 ? "short" : "EIO");
                cr_assert_eq(sluice_close(db), 0);
                if (!fired)
                    break; /* past the last read */
                cr_expect(mode & 1, "an EIO from read %d must fail the open", nth);
                shortened++;
                continue;
            }
            cr_expect_eq(r, -EIO, "read %d (%s): %s, not ECORRUPT", nth, mode & 1 ? "short" : "EIO",
                         sluice_errname(r));
            failed++;
            /* the failed open changed nothing: a writer's open finds every record */
            o.read_only = 0;
            cr_assert_eq(sluice_open(dir, &o, &db), 0);
            struct sluice_stats st;
            cr_assert_eq(sluice_stats(db, &st), 0);
            cr_expect_eq(st.durable_lsn, (uint64_t)N, "after a failed open at read %d", nth);
            cr_assert_eq(sluice_close(db), 0);
        }
    }
    cr_log_info("%d opens failed on a read error, %d read through a short read", failed, shortened);
    cr_expect_gt(failed, 2);
    tu_rmdir(dir);
}
