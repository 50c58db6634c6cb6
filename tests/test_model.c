/*
 * The cold tier's acceptance test: 1,000,000 operations (puts, upserts of a (key, ts)
 * already written, deletes) from a seeded stream, applied by a sequence of child
 * processes that compact in several steps and are SIGKILLed at random points, some in
 * the middle of a compaction; then every read path — point gets, one-key scans, the
 * all-key scan — is compared with an in-memory model, record for record.
 *
 * Why resuming is exact: a child reports an operation index only after sluice_flush
 * made everything before it durable, and recovery keeps a prefix of the log. The next
 * child resumes from the last reported index, so operations after it may be applied
 * twice; but the state is "each (key, ts) slot holds the value of the last operation on
 * it", and re-applying a suffix of the stream to a state that already has part of that
 * suffix applied ends in the same state. The model is simply the whole stream applied
 * once.
 *
 * Size: $SLUICE_MODEL_OPS (default 1,000,000). Seed printed; replay with SLUICE_TEST_SEED.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice.h"
#include "util.h"

#define KEYS 1000u
#define TICKS 2000u /* ts in [1, TICKS]: 2M slots for 1M ops, so upserts are common */
#define CHUNK 10000u /* ops between durability reports */
#define COMPACT_EVERY 60000u

struct op {
    uint32_t key, ts;
    uint8_t del;
};

static struct op op_at(uint64_t seed, uint64_t i)
{
    uint64_t s = seed ^ (i + 1) * 0x9e3779b97f4a7c15ull;
    uint64_t a = tu_rand(&s), b = tu_rand(&s);
    struct op o = {.key = (uint32_t)(a % KEYS), .ts = 1 + (uint32_t)(b % TICKS), .del = (b >> 40) % 100 < 8};
    if ((a >> 40) % 100 < 20 && i > 0) {
        /* an upsert (or delete) of a slot an earlier op wrote */
        struct op earlier = op_at(seed, (a >> 20) % i);
        o.key = earlier.key;
        o.ts = earlier.ts;
    }
    return o;
}

static size_t key_of(uint32_t k, char *buf) { return (size_t)sprintf(buf, "k%04u", k); }

static size_t value_of(uint64_t op, uint8_t *buf)
{
    size_t n = 16 + op % 48;
    tu_fill(buf, n, op);
    return n;
}

static void open_db(const char *dir, sluice_db **db)
{
    sluice_options o;
    sluice_options_init(&o);
    o.segment_bytes = 4u << 20; /* many seals, so the compactor also runs on its own */
    o.ring_bytes = 4u << 20;
    o.default_ack = SLUICE_ACK_MEMORY;
    char err[512] = "";
    o.errbuf = err;
    o.errbuf_bytes = sizeof err;
    int r = sluice_open(dir, &o, db);
    if (r) {
        fprintf(stderr, "model: open: %s: %s\n", sluice_strerror(r), err);
        _exit(2);
    }
}

/* A child: applies ops [from, to), reporting each durable chunk boundary. */
static void run_child(const char *dir, int fd, uint64_t seed, uint64_t from, uint64_t to)
{
    sluice_db *db;
    open_db(dir, &db);
    char key[16];
    uint8_t val[64];
    for (uint64_t i = from; i < to; i++) {
        struct op o = op_at(seed, i);
        size_t klen = key_of(o.key, key);
        int r = o.del ? sluice_delete(db, key, klen, o.ts, SLUICE_ACK_MEMORY, NULL)
                      : sluice_put(db, key, klen, o.ts, val, value_of(i, val), SLUICE_ACK_MEMORY, NULL);
        if (r)
            _exit(3);
        uint64_t done = i + 1;
        if (done % COMPACT_EVERY == 0 && sluice_compact(db))
            _exit(4);
        if (done % CHUNK == 0 || done == to) {
            if (sluice_flush(db))
                _exit(5);
            if (write(fd, &done, sizeof done) != sizeof done)
                _exit(6);
        }
    }
    if (sluice_close(db))
        _exit(7);
}

/* Slot (key, ts) of the model, ts in [1, TICKS + EXTRA]: the ticks after TICKS are
 * appended after the stream, so that some series have records past their cold span. */
#define EXTRA 8u
#define SLOT(k, ts) ((size_t)(k) * (TICKS + EXTRA + 1) + (ts))

/* The catalogue and the latest of every series, in each mode and under a prefix, as the
 * model says: key order, records, first and last ts, the latest value. */
static void check_series(sluice_db *db, const uint32_t *model, const char *when)
{
    static const char *const prefixes[] = {"", "k00", "k0999", "x"};
    for (int what = 0; what < 4; what++)
        for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++) {
            size_t plen = strlen(prefixes[p]);
            sluice_series *s;
            cr_assert_eq(sluice_series_open(db, prefixes[p], plen, what, &s), 0);
            sluice_series_info info;
            int r;
            for (uint32_t k = 0; k < KEYS; k++) {
                char key[16];
                uint8_t want[64];
                size_t klen = key_of(k, key);
                if (klen < plen || memcmp(key, prefixes[p], plen))
                    continue;
                uint64_t n = 0, first = 0, last = 0;
                for (uint32_t ts = 1; ts <= TICKS + EXTRA; ts++)
                    if (model[SLOT(k, ts)]) {
                        first = n++ ? first : ts;
                        last = ts;
                    }
                if (!n)
                    continue;
                cr_assert_eq(r = sluice_series_next(s, &info), 0, "%s: series(%d, '%s') ended before %s: %s",
                             when, what, prefixes[p], key, sluice_errname(r));
                cr_assert(info.klen == klen && !memcmp(info.key, key, klen),
                          "%s: series(%d): got %.*s, want %s", when, what, (int)info.klen,
                          (const char *)info.key, key);
                if (what & SLUICE_SERIES_STATS)
                    cr_assert(info.records == n && info.first_ts == first && info.last_ts == last,
                              "%s: %s: %llu records in [%llu, %llu], want %llu in [%llu, %llu]", when,
                              key, (unsigned long long)info.records,
                              (unsigned long long)info.first_ts, (unsigned long long)info.last_ts,
                              (unsigned long long)n, (unsigned long long)first, (unsigned long long)last);
                if (what & SLUICE_SERIES_LATEST) {
                    size_t wlen = value_of(model[SLOT(k, last)] - 1, want);
                    cr_assert(info.latest_ts == last && info.latest_vlen == wlen &&
                                  !memcmp(info.latest_val, want, wlen) && info.latest_lsn > 0,
                              "%s: latest of %s: ts %llu, want %llu", when, key,
                              (unsigned long long)info.latest_ts, (unsigned long long)last);
                }
            }
            cr_assert_eq(r = sluice_series_next(s, &info), SLUICE_END, "%s: series(%d, '%s') has extra: %s",
                         when, what, prefixes[p], sluice_errname(r));
            sluice_series_close(s);
        }
}

Test(model, million_ops_with_crashes_read_back_as_the_model_says)
{
    uint64_t seed = tu_seed("model");
    const char *e = getenv("SLUICE_MODEL_OPS");
    uint64_t nops = e ? strtoull(e, NULL, 10) : 1000000;
    char *dir = tu_mkdtemp();

    /* the model: slot (key, ts) -> 1 + index of the op that last put it, 0 if none */
    uint32_t *model = calloc((size_t)KEYS * (TICKS + EXTRA + 1), sizeof *model);
    cr_assert(model);
    for (uint64_t i = 0; i < nops; i++) {
        struct op o = op_at(seed, i);
        model[SLOT(o.key, o.ts)] = o.del ? 0 : (uint32_t)(i + 1);
    }

    uint64_t done = 0, kills = 0, children = 0;
    const uint64_t step = nops / 5 + 1; /* compacted in (at least) five steps */
    while (done < nops) {
        uint64_t to = done + step < nops ? done + step : nops;
        int p[2];
        cr_assert_eq(pipe(p), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(p[0]);
            run_child(dir, p[1], seed, done, to);
            _exit(0);
        }
        close(p[1]);
        children++;
        /* two children in three are killed after a random number of reports, the
         * first of them possibly during open; the kill lands wherever the child is —
         * putting, flushing, or compacting */
        uint64_t s = seed ^ children;
        int killed = tu_rand(&s) % 3 != 0;
        uint64_t reports = killed ? tu_rand(&s) % (step / CHUNK + 1) : UINT64_MAX;
        uint64_t got, n = 0;
        while (n < reports && read(p[0], &got, sizeof got) == sizeof got) {
            done = got;
            n++;
        }
        if (killed) {
            kill(pid, SIGKILL);
            kills++;
            while (read(p[0], &got, sizeof got) == sizeof got)
                done = got; /* durable before it died */
        }
        close(p[0]);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(killed ? 1 : WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "a child failed: status %d", status);
    }

    /* records after the last compaction are still in the log: the reads cross tiers */
    sluice_db *db;
    open_db(dir, &db);
    struct sluice_stats st;
    cr_assert_eq(sluice_stats(db, &st), 0);
    cr_assert_gt(st.compacted_lsn, 0, "nothing reached the cold tier");
    fprintf(stderr, "model: %llu ops, %llu children, %llu killed; compacted_lsn %llu of %llu\n",
            (unsigned long long)nops, (unsigned long long)children, (unsigned long long)kills,
            (unsigned long long)st.compacted_lsn, (unsigned long long)st.claimed_lsn);

    /* point reads of every slot */
    char key[16];
    uint8_t val[64], want[64];
    uint64_t present = 0;
    for (uint32_t k = 0; k < KEYS; k++) {
        size_t klen = key_of(k, key);
        for (uint32_t ts = 1; ts <= TICKS; ts++) {
            uint32_t m = model[SLOT(k, ts)];
            size_t vlen = 0;
            int r = sluice_get(db, key, klen, ts, val, sizeof val, &vlen);
            if (!m) {
                cr_assert_eq(r, SLUICE_NOTFOUND, "(%s, %u) should be absent: %s", key, ts,
                             sluice_strerror(r));
                continue;
            }
            size_t wlen = value_of(m - 1, want);
            cr_assert_eq(r, 0, "(%s, %u) lost: %s", key, ts, sluice_strerror(r));
            cr_assert(vlen == wlen && memcmp(val, want, wlen) == 0, "(%s, %u) has a wrong value",
                      key, ts);
            present++;
        }
    }

    /* one-key scans, in ts order */
    sluice_iter *it;
    sluice_record rec;
    int r;
    for (uint32_t k = 0; k < KEYS; k++) {
        size_t klen = key_of(k, key);
        cr_assert_eq(sluice_iter_open(db, key, klen, 0, UINT64_MAX, &it), 0);
        for (uint32_t ts = 1; ts <= TICKS; ts++) {
            uint32_t m = model[SLOT(k, ts)];
            if (!m)
                continue;
            cr_assert_eq(r = sluice_iter_next(it, &rec), 0, "scan of %s ended before ts %u: %s",
                         key, ts, sluice_strerror(r));
            size_t wlen = value_of(m - 1, want);
            cr_assert(rec.ts == ts && rec.klen == klen && memcmp(rec.key, key, klen) == 0 &&
                          rec.vlen == wlen && memcmp(rec.val, want, wlen) == 0,
                      "scan of %s: got ts %llu, want %u", key, (unsigned long long)rec.ts, ts);
        }
        cr_assert_eq(sluice_iter_next(it, &rec), SLUICE_END, "scan of %s has extra records", key);
        sluice_iter_close(it);
    }

    /* the all-key scan, in (ts, key) order: "k%04u" sorts as the numbers do */
    cr_assert_eq(sluice_iter_open(db, NULL, 0, 0, UINT64_MAX, &it), 0);
    uint64_t seen = 0;
    for (uint32_t ts = 1; ts <= TICKS; ts++)
        for (uint32_t k = 0; k < KEYS; k++) {
            uint32_t m = model[SLOT(k, ts)];
            if (!m)
                continue;
            size_t klen = key_of(k, key), wlen = value_of(m - 1, want);
            cr_assert_eq(r = sluice_iter_next(it, &rec), 0, "all-key scan ended early: %s",
                         sluice_strerror(r));
            cr_assert(rec.ts == ts && rec.klen == klen && memcmp(rec.key, key, klen) == 0 &&
                          rec.vlen == wlen && memcmp(rec.val, want, wlen) == 0,
                      "all-key scan: got (%.*s, %llu), want (%s, %u)", (int)rec.klen,
                      (const char *)rec.key, (unsigned long long)rec.ts, key, ts);
            seen++;
        }
    cr_assert_eq(sluice_iter_next(it, &rec), SLUICE_END, "all-key scan has extra records");
    sluice_iter_close(it);
    cr_assert_eq(seen, present);
    fprintf(stderr, "model: %llu records present, all read back exactly by get, per-key and "
                    "all-key scans\n", (unsigned long long)present);

    /* the catalogue and the latest values: over both tiers as the stream left them (late
     * data and deletes in the log tier: merged record by record), compacted (block
     * headers alone), then with records appended past some series' ends (headers and
     * the log tier) and the newest deleted in others, and compacted and reopened */
    check_series(db, model, "after the stream");
    cr_assert_eq(sluice_compact(db), 0);
    check_series(db, model, "compacted");
    for (uint32_t k = 0; k < KEYS; k++) {
        size_t klen = key_of(k, key);
        uint64_t op = nops + k;
        if (k % 3 == 0) {
            uint32_t ts = TICKS + 1 + k % EXTRA;
            cr_assert_eq(sluice_put(db, key, klen, ts, val, value_of(op, val), SLUICE_ACK_MEMORY, NULL), 0);
            model[SLOT(k, ts)] = (uint32_t)(op + 1);
        }
        if (k % 5 == 0) {
            uint32_t last = 0;
            for (uint32_t ts = 1; ts <= TICKS + EXTRA; ts++)
                last = model[SLOT(k, ts)] ? ts : last;
            cr_assert_eq(sluice_delete(db, key, klen, last, SLUICE_ACK_MEMORY, NULL), 0);
            model[SLOT(k, last)] = 0;
        }
        if (k % 50 == 0) /* every record of the key deleted: it leaves the catalogue */
            for (uint32_t ts = 1; ts <= TICKS + EXTRA; ts++)
                if (model[SLOT(k, ts)]) {
                    cr_assert_eq(sluice_delete(db, key, klen, ts, SLUICE_ACK_MEMORY, NULL), 0);
                    model[SLOT(k, ts)] = 0;
                }
    }
    check_series(db, model, "after appends and deletes");
    cr_assert_eq(sluice_compact(db), 0);
    cr_assert_eq(sluice_close(db), 0);
    open_db(dir, &db);
    check_series(db, model, "reopened");
    cr_assert_eq(sluice_close(db), 0);
    free(model);
    tu_rmdir(dir);
}
