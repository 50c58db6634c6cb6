#include "concurrency.h"

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "format.h"
#include "ring.h"
#include "sluice.h"
#include "util.h"

struct failure {
    _Atomic int failed;
    char msg[256];
};

static void fail(struct failure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct failure *f, const char *fmt, ...)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&f->failed, &expected, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
}

static int report(struct failure *f, char *err, size_t cap)
{
    if (!atomic_load(&f->failed))
        return 0;
    snprintf(err, cap, "%s", f->msg);
    return -1;
}

/* ---- bare ring ---- */

struct ring_ctx {
    struct ring ring;
    struct failure f;
    int per_producer;
};
struct ring_prod {
    struct ring_ctx *c;
    int id;
};

static void *ring_producer(void *arg)
{
    struct ring_prod *p = arg;
    struct ring *r = &p->c->ring;
    for (int i = 0; i < p->c->per_producer && !atomic_load(&p->c->f.failed); i++) {
        struct ring_slot slot;
        char key[32], val[600];
        int kl = snprintf(key, sizeof key, "p%d-%d", p->id, i);
        size_t vlen = (size_t)(i * 13 + p->id) % sizeof val;
        uint64_t tag = (uint64_t)p->id << 32 | (uint64_t)i, waited;
        tu_fill(val, vlen, tag);
        int rc = ring_reserve(r, rec_size((size_t)kl, vlen), 1, 60000, NULL, &slot, &waited);
        if (rc) {
            fail(&p->c->f, "producer %d: reserve: %s", p->id, sluice_strerror(rc));
            return NULL;
        }
        rec_fill(slot.rec, REC_PUT, slot.lsn, tag, key, (size_t)kl, val, vlen);
        ring_publish(r, &slot);
    }
    return NULL;
}

int conc_ring_producers(int producers, int per_producer, char *err, size_t cap)
{
    static struct ring_ctx c;
    memset(&c, 0, sizeof c);
    c.per_producer = per_producer;
    int bell = eventfd(0, EFD_NONBLOCK);
    if (ring_init(&c.ring, 65536, 1, bell)) {
        snprintf(err, cap, "ring_init failed");
        return -1;
    }
    pthread_t t[64];
    struct ring_prod ps[64];
    for (int i = 0; i < producers; i++) {
        ps[i] = (struct ring_prod){&c, i};
        pthread_create(&t[i], NULL, ring_producer, &ps[i]);
    }
    int next[64] = {0};
    uint64_t cursor = 0, lsn = 1, pos, total = (uint64_t)producers * (uint64_t)per_producer;
    while (lsn <= total && !atomic_load(&c.f.failed)) {
        const struct rec_hdr *h = ring_next(&c.ring, &cursor, lsn, &pos);
        if (!h) {
            sched_yield();
            continue;
        }
        size_t size;
        int id = (int)(h->ts >> 32), i = (int)(uint32_t)h->ts;
        char val[600];
        tu_fill(val, h->vlen, h->ts);
        if (rec_check(h, rec_size(h->klen, h->vlen), &size) != REC_VALID)
            fail(&c.f, "lsn %llu: CRC mismatch", (unsigned long long)lsn);
        else if (id >= producers || i != next[id])
            fail(&c.f, "producer %d: record %d after %d", id, i, next[id]);
        else if (memcmp(rec_val(h), val, h->vlen) != 0)
            fail(&c.f, "lsn %llu: value differs", (unsigned long long)lsn);
        else
            next[id]++;
        lsn++;
        if (lsn % 64 == 0)
            ring_release(&c.ring, cursor);
    }
    if (atomic_load(&c.f.failed)) /* unblock producers waiting for space */
        ring_release(&c.ring, ring_claimed_pos(&c.ring));
    for (int i = 0; i < producers; i++)
        pthread_join(t[i], NULL);
    if (!atomic_load(&c.f.failed) && ring_claimed_lsn(&c.ring) != total)
        fail(&c.f, "claimed %llu LSNs, expected %llu",
             (unsigned long long)ring_claimed_lsn(&c.ring), (unsigned long long)total);
    ring_destroy(&c.ring);
    close(bell);
    return report(&c.f, err, cap);
}

/* ---- database stress ---- */

enum { PRODUCERS = 3, READERS = 2 };

struct stress {
    sluice_db *db;
    struct failure f;
    _Atomic uint64_t published[PRODUCERS]; /* seq + 1 of the last returned put */
    _Atomic int done;
    uint64_t per_producer;
};
struct stress_arg {
    struct stress *s;
    int id;
};

static void stress_key(char *k, int p, uint64_t seq) { sprintf(k, "p%d-%llu", p, (unsigned long long)(seq % 64)); }

static void *stress_producer(void *arg)
{
    struct stress_arg *a = arg;
    struct stress *s = a->s;
    char k[32];
    uint8_t v[128];
    for (uint64_t q = 0; q < s->per_producer && !atomic_load(&s->f.failed); q++) {
        stress_key(k, a->id, q);
        size_t vlen = 16 + q % 100;
        tu_fill(v, vlen, q * PRODUCERS + (uint64_t)a->id);
        int ack = q % 1000 == 999 ? SLUICE_ACK_DURABLE : SLUICE_ACK_MEMORY;
        int r = sluice_put(s->db, k, strlen(k), q, v, vlen, ack, NULL);
        if (r) {
            struct sluice_stats st = {0};
            if (sluice_stats(s->db, &st))
                st.poison_error = 0;
            fail(&s->f, "producer %d: put: %s (poisoned by %s)", a->id, sluice_strerror(r),
                 sluice_errname(st.poison_error));
            return NULL;
        }
        atomic_store(&s->published[a->id], q + 1);
    }
    return NULL;
}

static void scan_one_key(struct stress *s, const char *k)
{
    sluice_iter *it;
    sluice_record rec;
    int r = sluice_iter_open(s->db, k, strlen(k), 0, UINT64_MAX, &it);
    if (r) {
        fail(&s->f, "iter_open: %s", sluice_strerror(r));
        return;
    }
    uint64_t prev = 0, cnt = 0;
    while ((r = sluice_iter_next(it, &rec)) == 0) {
        if (cnt && rec.ts <= prev)
            fail(&s->f, "%s: ts %llu after %llu", k, (unsigned long long)rec.ts,
                 (unsigned long long)prev);
        prev = rec.ts;
        cnt++;
    }
    sluice_iter_close(it);
    if (r != SLUICE_END || !cnt)
        fail(&s->f, "%s: scan ended with %s after %llu records", k, sluice_strerror(r),
             (unsigned long long)cnt);
}

/* The latest of every key while producers put and the compactor publishes rounds into
 * the last-value cache: never older than what was published before the open, and the
 * value put at that ts. */
static void check_latest(struct stress *s)
{
    uint64_t before[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++)
        before[p] = atomic_load(&s->published[p]);
    sluice_series *ser;
    int r = sluice_series_open(s->db, "p", 1, SLUICE_SERIES_LATEST, &ser);
    if (r) {
        fail(&s->f, "series_open: %s", sluice_strerror(r));
        return;
    }
    sluice_series_info in;
    uint8_t want[128];
    while ((r = sluice_series_next(ser, &in)) == 0) {
        char k[32];
        snprintf(k, sizeof k, "%.*s", (int)in.klen, (const char *)in.key);
        int p;
        unsigned m;
        if (sscanf(k, "p%d-%u", &p, &m) != 2 || p < 0 || p >= PRODUCERS || m >= 64) {
            fail(&s->f, "series: a key never put: %s", k);
            break;
        }
        uint64_t n = before[p], q = in.latest_ts;
        if (n > m && q < m + 64 * ((n - 1 - m) / 64)) {
            fail(&s->f, "series: latest of %s is %llu, older than one published before", k,
                 (unsigned long long)q);
            break;
        }
        tu_fill(want, 16 + q % 100, q * PRODUCERS + (uint64_t)p);
        if (q % 64 != m || in.latest_vlen != 16 + q % 100 || memcmp(in.latest_val, want, in.latest_vlen)) {
            fail(&s->f, "series: latest of %s at %llu: wrong value", k, (unsigned long long)q);
            break;
        }
    }
    sluice_series_close(ser);
    if (r && r != SLUICE_END)
        fail(&s->f, "series_next: %s", sluice_strerror(r));
}

static void *stress_reader(void *arg)
{
    struct stress_arg *a = arg;
    struct stress *s = a->s;
    uint64_t seed = (uint64_t)a->id + 1, reads = 0;
    char k[32];
    uint8_t v[128], want[128];
    while (!atomic_load(&s->done) && !atomic_load(&s->f.failed)) {
        int p = (int)(tu_rand(&seed) % PRODUCERS);
        uint64_t n = atomic_load(&s->published[p]);
        if (!n)
            continue;
        uint64_t q = n - 1 - tu_rand(&seed) % (n < 1000 ? n : 1000);
        stress_key(k, p, q);
        size_t vlen;
        int r = sluice_get(s->db, k, strlen(k), q, v, sizeof v, &vlen);
        tu_fill(want, 16 + q % 100, q * PRODUCERS + (uint64_t)p);
        if (r)
            fail(&s->f, "p%d seq %llu not visible after its put returned: %s", p,
                 (unsigned long long)q, sluice_strerror(r));
        else if (vlen != 16 + q % 100 || memcmp(v, want, vlen) != 0)
            fail(&s->f, "p%d seq %llu: wrong value", p, (unsigned long long)q);
        if (++reads % 512 == 0)
            scan_one_key(s, k);
        if (reads % 1024 == 0)
            check_latest(s);
    }
    return NULL;
}

/* Follows every record in LSN order while producers put, readers read and the
 * compactor moves segments into replay/: each producer's records arrive in its order,
 * every LSN once, with the value it put. */
static void *stress_tail(void *arg)
{
    struct stress *s = arg;
    sluice_tail *t;
    int r = sluice_tail_open(s->db, 1, SLUICE_ACK_MEMORY, &t);
    if (r) {
        fail(&s->f, "tail_open: %s", sluice_strerror(r));
        return NULL;
    }
    uint64_t next_q[PRODUCERS] = {0}, total = s->per_producer * PRODUCERS;
    uint8_t want[128];
    for (uint64_t lsn = 1; lsn <= total && !atomic_load(&s->f.failed); lsn++) {
        sluice_tail_record rec;
        if ((r = sluice_tail_next(t, &rec, 20000))) {
            fail(&s->f, "tail at LSN %llu: %s", (unsigned long long)lsn, sluice_strerror(r));
            break;
        }
        int p = rec.klen > 1 ? ((const char *)rec.key)[1] - '0' : -1;
        if (rec.lsn != lsn || p < 0 || p >= PRODUCERS || rec.ts != next_q[p]) {
            fail(&s->f, "tail: LSN %llu (want %llu), producer %d, seq %llu", (unsigned long long)rec.lsn,
                 (unsigned long long)lsn, p, (unsigned long long)rec.ts);
            break;
        }
        tu_fill(want, 16 + rec.ts % 100, rec.ts * PRODUCERS + (uint64_t)p);
        if (rec.vlen != 16 + rec.ts % 100 || memcmp(rec.val, want, rec.vlen)) {
            fail(&s->f, "tail: LSN %llu: wrong value", (unsigned long long)lsn);
            break;
        }
        next_q[p]++;
    }
    sluice_tail_close(t);
    return NULL;
}

/* Compacts over and over while producers and readers run: the compactor prunes the hot
 * index and retires segments underneath them. */
static void *stress_compactor(void *arg)
{
    struct stress *s = arg;
    while (!atomic_load(&s->done) && !atomic_load(&s->f.failed)) {
        int r = sluice_compact(s->db);
        if (r) {
            fail(&s->f, "compact: %s", sluice_strerror(r));
            return NULL;
        }
        sched_yield();
    }
    return NULL;
}

int conc_db_stress(uint64_t per_producer, char *err, size_t cap)
{
    static struct stress s;
    memset(&s, 0, sizeof s);
    s.per_producer = per_producer;
    char *dir = tu_mkdtemp();
    sluice_options o;
    sluice_options_init(&o);
    o.ring_bytes = 256 << 10; /* small: producers meet backpressure */
    o.segment_bytes = 1 << 20;
    o.batch_max_bytes = 64 << 10;
    o.replay_retain_bytes = 1ull << 40; /* the tail may fall behind the compactor */
    int r = sluice_open(dir, &o, &s.db);
    if (r) {
        snprintf(err, cap, "open: %s", sluice_strerror(r));
        tu_rmdir(dir);
        return -1;
    }
    pthread_t pt[PRODUCERS], rt[READERS], ct, tt;
    pthread_create(&tt, NULL, stress_tail, &s);
    struct stress_arg pa[PRODUCERS], ra[READERS];
    pthread_create(&ct, NULL, stress_compactor, &s);
    for (int i = 0; i < READERS; i++) {
        ra[i] = (struct stress_arg){&s, i};
        pthread_create(&rt[i], NULL, stress_reader, &ra[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i] = (struct stress_arg){&s, i};
        pthread_create(&pt[i], NULL, stress_producer, &pa[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    atomic_store(&s.done, 1);
    for (int i = 0; i < READERS; i++)
        pthread_join(rt[i], NULL);
    pthread_join(ct, NULL);
    pthread_join(tt, NULL);
    if ((r = sluice_flush(s.db)))
        fail(&s.f, "flush: %s", sluice_strerror(r));
    struct sluice_stats st;
    if (!atomic_load(&s.f.failed) && sluice_stats(s.db, &st) == 0 &&
        (st.puts != per_producer * PRODUCERS || st.durable_lsn != per_producer * PRODUCERS))
        fail(&s.f, "stats: %llu puts, durable %llu; expected %llu",
             (unsigned long long)st.puts, (unsigned long long)st.durable_lsn,
             (unsigned long long)(per_producer * PRODUCERS));
    if ((r = sluice_close(s.db)))
        fail(&s.f, "close: %s", sluice_strerror(r));
    /* a reopen hands the log's records to recovery's indexer thread */
    if (!atomic_load(&s.f.failed)) {
        if ((r = sluice_open(dir, &o, &s.db))) {
            fail(&s.f, "reopen: %s", sluice_strerror(r));
        } else {
            if ((r = sluice_stats(s.db, &st)) || st.indexed_lsn != per_producer * PRODUCERS)
                fail(&s.f, "reopen: indexed %llu of %llu (%s)", (unsigned long long)st.indexed_lsn,
                     (unsigned long long)(per_producer * PRODUCERS), sluice_strerror(r));
            scan_one_key(&s, "p0-1");
            if ((r = sluice_close(s.db)))
                fail(&s.f, "close after reopen: %s", sluice_strerror(r));
        }
    }
    tu_rmdir(dir);
    return report(&s.f, err, cap);
}

/* ---- fail-fast backpressure ---- */

struct ff {
    sluice_db *db;
    struct failure f;
    _Atomic uint64_t accepted, rejected;
};
struct ff_arg {
    struct ff *c;
    int id;
};

static void *ff_producer(void *arg)
{
    struct ff_arg *a = arg;
    char k[32];
    uint8_t v[1000];
    memset(v, a->id, sizeof v);
    sprintf(k, "f%d", a->id);
    for (uint64_t q = 0; q < 20000; q++) {
        int r = sluice_put(a->c->db, k, strlen(k), q, v, sizeof v, SLUICE_ACK_MEMORY, NULL);
        if (r && r != SLUICE_EBUSY) {
            fail(&a->c->f, "put: %s", sluice_strerror(r));
            return NULL;
        }
        atomic_fetch_add(r == 0 ? &a->c->accepted : &a->c->rejected, 1);
    }
    return NULL;
}

int conc_fail_fast(char *err, size_t cap)
{
    static struct ff c;
    memset(&c, 0, sizeof c);
    char *dir = tu_mkdtemp();
    sluice_options o;
    sluice_options_init(&o);
    o.ring_bytes = 64 << 10;
    o.segment_bytes = 1 << 20;
    o.batch_max_bytes = 16 << 10;
    o.full_policy = SLUICE_FULL_FAIL;
    int r = sluice_open(dir, &o, &c.db);
    if (r) {
        snprintf(err, cap, "open: %s", sluice_strerror(r));
        tu_rmdir(dir);
        return -1;
    }
    pthread_t t[2];
    struct ff_arg a[2] = {{&c, 0}, {&c, 1}};
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, ff_producer, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    struct sluice_stats st;
    if (sluice_stats(c.db, &st) == 0) {
        if (st.ring_full_rejections != atomic_load(&c.rejected))
            fail(&c.f, "stats count %llu rejections, producers saw %llu",
                 (unsigned long long)st.ring_full_rejections,
                 (unsigned long long)atomic_load(&c.rejected));
        if (st.claimed_lsn != atomic_load(&c.accepted))
            fail(&c.f, "%llu LSNs claimed for %llu accepted puts",
                 (unsigned long long)st.claimed_lsn, (unsigned long long)atomic_load(&c.accepted));
    }
    if ((r = sluice_close(c.db)) || (r = sluice_open(dir, &o, &c.db))) {
        fail(&c.f, "close/reopen: %s", sluice_strerror(r));
    } else {
        sluice_iter *it;
        sluice_record rec;
        uint64_t n = 0;
        if (sluice_iter_open(c.db, NULL, 0, 0, UINT64_MAX, &it) == 0) {
            while (sluice_iter_next(it, &rec) == 0)
                n++;
            sluice_iter_close(it);
        }
        if (n != atomic_load(&c.accepted))
            fail(&c.f, "%llu records after reopen, %llu accepted", (unsigned long long)n,
                 (unsigned long long)atomic_load(&c.accepted));
        sluice_close(c.db);
    }
    tu_rmdir(dir);
    return report(&c.f, err, cap);
}
