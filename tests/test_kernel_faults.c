/*
 * Real kernel errors on the real I/O path (io_uring by default), where the simulated
 * disk cannot reach:
 *   - faultfs (tests/faultfs.c, FUSE) under the database fails one fdatasync with EIO,
 *     or one write with ENOSPC: the put waiting for it gets SLUICE_EPOISONED, later
 *     writes too, and a reopen finds every record acknowledged before, intact;
 *   - a 4 MiB tmpfs fills up for real: the engine stops with a clear error (the put
 *     fails, stats name -ENOSPC), and once the filesystem has room again a reopen finds
 *     every acknowledged record.
 * Each test prints a SKIPPED line and skips where /dev/fuse, fusermount3 or mount(2)
 * is not available (containers without privileges).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice.h"
#include "util.h"

static char *root;
static char mnt[600], backing[600];
static pid_t fs_pid = -1;

static void skip(const char *why)
{
    fprintf(stderr, "SKIPPED: %s\n", why);
    cr_skip_test("SKIPPED: %s", why);
}

/* Mounts faultfs; returns once the kernel has initialised it. */
static int mount_faultfs(void)
{
    if (access("/dev/fuse", R_OK | W_OK) || access("/usr/bin/fusermount3", X_OK))
        return -1;
    root = tu_mkdtemp();
    snprintf(backing, sizeof backing, "%s/backing", root);
    snprintf(mnt, sizeof mnt, "%s/mnt", root);
    cr_assert_eq(mkdir(backing, 0755), 0);
    cr_assert_eq(mkdir(mnt, 0755), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fs_pid = fork();
    cr_assert_geq(fs_pid, 0);
    if (fs_pid == 0) {
        close(p[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(SLUICE_BIN_DIR "/faultfs", "faultfs", backing, mnt, fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char one;
    ssize_t n = read(p[0], &one, 1); /* EOF: it exited without mounting */
    close(p[0]);
    return n == 1 ? 0 : -1;
}

static void unmount_faultfs(void)
{
    if (fs_pid > 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "fusermount3 -u -z '%s'", mnt);
        if (system(cmd) != 0)
            kill(fs_pid, SIGTERM);
        waitpid(fs_pid, NULL, 0);
        fs_pid = -1;
    }
    if (root)
        tu_rmdir(root);
    root = NULL;
}

static void fini(void) { unmount_faultfs(); }
TestSuite(kernel_faults, .fini = fini);

static void arm(const char *how)
{
    char path[700];
    snprintf(path, sizeof path, "%s/.fault", mnt);
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, how, strlen(how)), (ssize_t)strlen(how));
    close(fd);
}

static size_t record_of(int i, char *key, char *val)
{
    sprintf(key, "k%03d", i % 7);
    return (size_t)sprintf(val, "value-%d-%0*d", i, 40 + i % 50, i);
}

static sluice_db *open_db(const char *dir)
{
    sluice_options o;
    sluice_options_init(&o);
    o.segment_bytes = 256u << 10;
    o.ring_bytes = 1u << 20;
    char err[256] = "";
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    sluice_db *db;
    int r = sluice_open(dir, &o, &db);
    cr_assert_eq(r, 0, "open %s: %s: %s", dir, sluice_errname(r), err);
    /* no spare-segment writes may race the armed fault */
    struct sluice_stats st;
    for (long spins = 0; sluice_stats(db, &st) == 0 && !st.spare_ready; spins++) {
        cr_assert_lt(spins, 200000000L, "the spare segment never got ready");
        sched_yield();
    }
    return db;
}

static void check_all(const char *dir, int acked)
{
    sluice_db *db = open_db(dir);
    char key[16], val[128], got[128];
    for (int i = 0; i < acked; i++) {
        size_t glen, vlen = record_of(i, key, val), klen = strlen(key);
        cr_assert_eq(sluice_get(db, key, klen, (uint64_t)i, got, sizeof got, &glen), 0,
                     "acknowledged record %d lost", i);
        cr_assert(glen == vlen && !memcmp(got, val, vlen), "record %d damaged", i);
    }
    cr_assert_eq(sluice_put(db, "after", 5, 1, "v", 1, SLUICE_ACK_DURABLE, NULL), 0,
                 "the reopened database takes writes");
    cr_assert_eq(sluice_close(db), 0);
}

static void fuse_case(const char *fault, int want_errno)
{
    if (mount_faultfs())
        skip("FUSE is not available here (/dev/fuse, fusermount3 or the mount failed)");
    char dir[700];
    snprintf(dir, sizeof dir, "%s/db", mnt);
    sluice_db *db = open_db(dir);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    int backend = (int)st.io_backend;
    char key[16], val[128];
    int acked = 0;
    for (; acked < 20; acked++) {
        size_t vlen = record_of(acked, key, val);
        cr_assert_eq(sluice_put(db, key, strlen(key), (uint64_t)acked, val, vlen,
                                SLUICE_ACK_DURABLE, NULL), 0);
    }
    arm(fault);
    size_t vlen = record_of(acked, key, val);
    int r = sluice_put(db, key, strlen(key), (uint64_t)acked, val, vlen, SLUICE_ACK_DURABLE, NULL);
    cr_assert_eq(r, SLUICE_EPOISONED, "the put whose I/O failed: %s", sluice_errname(r));
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_expect_eq(st.poison_error, -want_errno, "poisoned by %s", sluice_errname((int)st.poison_error));
    cr_expect_eq(sluice_put(db, "x", 1, 1, "v", 1, SLUICE_ACK_MEMORY, NULL), SLUICE_EPOISONED);
    cr_expect_eq(sluice_close(db), -want_errno, "close names the cause");
    arm("off");
    check_all(dir, acked);
    fprintf(stderr, "kernel_faults: %s through FUSE on the %s backend: poisoned, %d acknowledged "
                    "records intact after reopen\n", fault,
            backend == SLUICE_IO_BACKEND_URING ? "io_uring" : "POSIX", acked);
    unmount_faultfs();
}

Test(kernel_faults, fuse_fdatasync_eio_poisons) { fuse_case("fsync 1 5", EIO); }
Test(kernel_faults, fuse_write_enospc_poisons) { fuse_case("write 1 28", ENOSPC); }

Test(kernel_faults, full_tmpfs_stops_cleanly_and_keeps_what_was_acknowledged)
{
    root = tu_mkdtemp();
    char fs[700], dir[720];
    snprintf(fs, sizeof fs, "%s/small", root);
    cr_assert_eq(mkdir(fs, 0755), 0);
    if (mount("tmpfs", fs, "tmpfs", 0, "size=4m")) {
        tu_rmdir(root);
        root = NULL;
        skip("mount(2) of a tmpfs is not permitted here");
    }
    snprintf(dir, sizeof dir, "%s/db", fs);
    sluice_db *db = open_db(dir);
    char key[16], val[128];
    int acked = 0, r = 0;
    for (; acked < 1000000; acked++) {
        size_t vlen = record_of(acked, key, val);
        r = sluice_put(db, key, strlen(key), (uint64_t)acked, val, vlen, SLUICE_ACK_DURABLE, NULL);
        if (r)
            break;
    }
    cr_assert_neq(r, 0, "4 MiB never filled up");
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_expect(r == SLUICE_EPOISONED && st.poison_error == -ENOSPC,
              "the put failed with %s, the log with %s", sluice_errname(r),
              sluice_errname((int)st.poison_error));
    (void)sluice_close(db);
    /* with room again, everything acknowledged is there */
    cr_assert_eq(mount("tmpfs", fs, "tmpfs", MS_REMOUNT, "size=64m"), 0);
    check_all(dir, acked);
    fprintf(stderr, "kernel_faults: a 4 MiB tmpfs filled after %d durable puts: %s (%s); all "
                    "intact after a reopen with room\n", acked, sluice_errname(r),
            sluice_errname((int)st.poison_error));
    cr_assert_eq(umount(fs), 0);
    tu_rmdir(root);
    root = NULL;
}

