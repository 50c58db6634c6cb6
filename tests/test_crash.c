/*
 * Crash test: a child process writes with two threads (one acknowledging at DURABLE,
 * one at WRITTEN, both survive a process crash; the second also compacts every 400
 * records, besides the compactions that run as segments seal) and reports every
 * acknowledged record through a pipe; the parent SIGKILLs it after a random number of acknowledgements
 * (sometimes zero: a kill during open and recovery; in a quarter of the cycles just after
 * the child entered sluice_compact, which it announces), reopens the directory, and checks
 * that every record ever acknowledged, in this or any earlier cycle, is there byte for
 * byte, that nothing present was invented, and that a stored source offset never runs
 * ahead of the records. The oracle lives outside the killed process.
 * Cycles: $SLUICE_CRASH_CYCLES (default 60). Seed printed; replay with SLUICE_TEST_SEED.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice.h"
#include "util.h"

#define IDS_PER_CYCLE 100000000ull
/* markers in the id stream: the child entered and left sluice_compact */
#define COMPACT_BEGIN UINT64_MAX
#define COMPACT_END (UINT64_MAX - 1)

struct child_thread {
    sluice_db *db;
    int fd;
    int t;
    uint64_t base;
};

static void record_of(uint64_t id, char *key, size_t *klen, uint8_t *val, size_t *vlen)
{
    *klen = (size_t)sprintf(key, "c%03llu", (unsigned long long)(id % 100));
    *vlen = 40 + id % 90;
    tu_fill(val, *vlen, id);
}

static void *child_writer(void *arg)
{
    struct child_thread *c = arg;
    char key[16];
    uint8_t val[256];
    for (uint64_t j = 0;; j++) {
        uint64_t id = c->base + j * 2 + (uint64_t)c->t;
        size_t klen, vlen;
        record_of(id, key, &klen, val, &vlen);
        int ack = c->t == 0 ? SLUICE_ACK_DURABLE : SLUICE_ACK_WRITTEN;
        if (sluice_put(c->db, key, klen, id, val, vlen, ack, NULL))
            _exit(3);
        if (write(c->fd, &id, sizeof id) != sizeof id)
            _exit(4);
        if (c->t == 0 && j % 64 == 63 && sluice_offset_put(c->db, "upstream", id, SLUICE_ACK_MEMORY))
            _exit(5);
        /* compactions (besides the automatic ones as segments seal), so kills land in
         * the middle of them too */
        if (c->t == 1 && j % 400 == 399) {
            uint64_t mark = COMPACT_BEGIN;
            if (write(c->fd, &mark, sizeof mark) != sizeof mark)
                _exit(4);
            if (sluice_compact(c->db))
                _exit(6);
            mark = COMPACT_END;
            if (write(c->fd, &mark, sizeof mark) != sizeof mark)
                _exit(4);
        }
    }
    return NULL;
}

/* Cycles rotate through the write paths: io_uring with O_DIRECT, the POSIX worker with
 * O_DIRECT, and buffered writes with fdatasync. */
static const int backends[3] = {SLUICE_IO_AUTO, SLUICE_IO_POSIX, SLUICE_IO_POSIX_BUFFERED};

static void run_child(const char *dir, int fd, uint64_t base, int backend)
{
    sluice_options o;
    sluice_options_init(&o);
    o.io_backend = backend;
    o.ring_bytes = 1 << 20;
    o.segment_bytes = 256 << 10;
    o.batch_max_bytes = 64 << 10;
    sluice_db *db;
    if (sluice_open(dir, &o, &db))
        _exit(2);
    struct child_thread ct[2] = {{db, fd, 0, base}, {db, fd, 1, base}};
    pthread_t t;
    pthread_create(&t, NULL, child_writer, &ct[1]);
    child_writer(&ct[0]);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(crash, sigkill_never_loses_an_acknowledged_record)
{
    uint64_t seed = tu_seed("crash");
    const char *e = getenv("SLUICE_CRASH_CYCLES");
    int cycles = e ? atoi(e) : 60;
    char *dir = tu_mkdtemp();
    size_t nacked = 0, cap = 1 << 16;
    uint64_t *acked = malloc(cap * sizeof *acked);
    uint64_t kills_during_open = 0, kills_during_compaction = 0, total_present = 0;
    for (int cycle = 0; cycle < cycles; cycle++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        uint64_t base = (uint64_t)(cycle + 1) * IDS_PER_CYCLE;
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(p[0]);
            run_child(dir, p[1], base, backends[cycle % 3]);
            _exit(0);
        }
        close(p[1]);
        uint64_t kill_after = tu_rand(&seed) % 3000;
        if (kill_after < 150)
            kill_after = 0, kills_during_open++; /* some kills land during open/recovery */
        uint64_t id, got = 0;
        int compacting = 0;
        /* a quarter of the cycles aim at a compaction: the kill follows its start */
        int aim_compaction = kill_after && tu_rand(&seed) % 4 == 0;
        if (aim_compaction)
            kill_after = UINT64_MAX;
        while (got < kill_after && read(p[0], &id, sizeof id) == sizeof id) {
            if (id >= COMPACT_END) {
                compacting = id == COMPACT_BEGIN;
                if (compacting && aim_compaction)
                    kill_after = got + tu_rand(&seed) % 8;
                continue;
            }
            if (nacked == cap)
                acked = realloc(acked, (cap *= 2) * sizeof *acked);
            acked[nacked++] = id;
            got++;
        }
        kill(pid, SIGKILL);
        while (read(p[0], &id, sizeof id) == sizeof id) { /* acknowledged before it died */
            if (id >= COMPACT_END) {
                compacting = id == COMPACT_BEGIN;
                continue;
            }
            if (nacked == cap)
                acked = realloc(acked, (cap *= 2) * sizeof *acked);
            acked[nacked++] = id;
        }
        kills_during_compaction += compacting;
        close(p[0]);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "cycle %d: child exited with %d before the kill", cycle,
                  WEXITSTATUS(status));

        sluice_db *db;
        char err[512] = "";
        sluice_options o;
        sluice_options_init(&o);
        o.errbuf = err;
        o.errbuf_bytes = sizeof err;
        int r = sluice_open(dir, &o, &db);
        cr_assert_eq(r, 0, "cycle %d: reopen: %s: %s", cycle, sluice_strerror(r), err);
        char key[16], want_key[16];
        uint8_t val[256], want[256];
        for (size_t i = 0; i < nacked; i++) {
            size_t klen, vlen, got_len;
            record_of(acked[i], key, &klen, want, &vlen);
            r = sluice_get(db, key, klen, acked[i], val, sizeof val, &got_len);
            cr_assert_eq(r, 0, "cycle %d: acknowledged record %llu lost: %s", cycle,
                         (unsigned long long)acked[i], sluice_strerror(r));
            cr_assert(got_len == vlen && memcmp(val, want, vlen) == 0,
                      "cycle %d: record %llu differs", cycle, (unsigned long long)acked[i]);
        }
        /* everything present is something a child wrote, once, intact */
        sluice_iter *it;
        sluice_record rec;
        cr_assert_eq(sluice_iter_open(db, NULL, 0, 0, UINT64_MAX, &it), 0);
        uint64_t present = 0, prev_ts = 0;
        while ((r = sluice_iter_next(it, &rec)) == 0) {
            size_t klen, vlen;
            record_of(rec.ts, want_key, &klen, want, &vlen);
            cr_assert(rec.klen == klen && memcmp(rec.key, want_key, klen) == 0 &&
                          rec.vlen == vlen && memcmp(rec.val, want, vlen) == 0,
                      "cycle %d: record at ts %llu was not written by anyone", cycle,
                      (unsigned long long)rec.ts);
            cr_assert(present == 0 || rec.ts > prev_ts, "cycle %d: duplicate or disorder", cycle);
            prev_ts = rec.ts;
            present++;
        }
        cr_assert_eq(r, SLUICE_END);
        sluice_iter_close(it);
        uint64_t off;
        if (sluice_offset_get(db, "upstream", &off) == 0) {
            size_t klen, vlen, got_len;
            record_of(off, key, &klen, want, &vlen);
            cr_assert_eq(sluice_get(db, key, klen, off, val, sizeof val, &got_len), 0,
                         "cycle %d: offset %llu ahead of the records", cycle,
                         (unsigned long long)off);
        }
        total_present = present;
        cr_assert_eq(sluice_close(db), 0);
    }
    qsort(acked, nacked, sizeof *acked, cmp_u64);
    for (size_t i = 1; i < nacked; i++)
        cr_assert_neq(acked[i], acked[i - 1], "an id was acknowledged twice");
    fprintf(stderr, "crash: %d cycles (%llu killed during open, %llu inside sluice_compact), "
                    "%zu acknowledged records, %llu present at the end, 0 lost\n",
            cycles, (unsigned long long)kills_during_open,
            (unsigned long long)kills_during_compaction, nacked,
            (unsigned long long)total_present);
    free(acked);
    tu_rmdir(dir);
}
