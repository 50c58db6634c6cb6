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
