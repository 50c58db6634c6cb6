/*
 * sluice-ring-bench: the shared multi-producer ring (tiers/ring) against per-producer
 * single-producer rings, as the engine-core issue asks, judged by put latency p99.9
 * under contention. Only the ring layer is measured: producers reserve, copy a 144-byte
 * record (the log layout, CRC included) and publish; one consumer thread drains in LSN
 * order and releases, as the log writer's gather does, without I/O.
 *
 * The per-producer variant is a prototype that lives only here: each producer owns an
 * SPSC byte ring, LSNs come from one shared atomic counter (taken after the producer
 * checked its own ring has room, so a full ring never leaves an LSN gap), and the
 * consumer finds LSN L at the head of one of the rings.
 *
 *   sluice-ring-bench [--records N] [--producers 1,2,4]
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "record.h"
#include "hist.h"
#include "ring.h"

#define KEY "sensor-00042"
#define VALUE_BYTES 100
#define RING_BYTES (64u << 20)

static uint8_t value[VALUE_BYTES];

/* ---- per-producer SPSC rings (prototype) ---- */

struct spsc {
    _Alignas(64) _Atomic uint64_t head; /* producer: bytes published */
    _Alignas(64) _Atomic uint64_t tail; /* consumer: bytes released */
    _Alignas(64) uint8_t *buf;
    size_t size;
};

struct pp_rings {
    _Alignas(64) _Atomic uint64_t next_lsn;
    struct spsc *r;
    int n;
};

/* Reserve in ring p (fixed-size records make the layout trivial: no padding), then take
 * the LSN, copy, publish. */
static void pp_put(struct pp_rings *pr, int p)
{
    struct spsc *r = &pr->r[p];
    size_t sz = rec_size(sizeof KEY - 1, VALUE_BYTES);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    while (h + sz - atomic_load_explicit(&r->tail, memory_order_acquire) > r->size)
        sched_yield();
    uint64_t lsn = atomic_fetch_add_explicit(&pr->next_lsn, 1, memory_order_relaxed);
    rec_fill(r->buf + (h % r->size), REC_PUT, lsn, 1, KEY, sizeof KEY - 1, value, VALUE_BYTES);
    ((struct rec_hdr *)(r->buf + (h % r->size)))->lsn = lsn;
    atomic_store_explicit(&r->head, h + sz, memory_order_release);
}

/* ---- harness ---- */

struct run {
    int design; /* 0 shared MPSC, 1 per-producer */
    int producers;
    uint64_t per_producer;
    struct ring shared;
    struct pp_rings pp;
    _Atomic int done_producers;
};

struct producer_arg {
    struct run *run;
    int id;
    struct hist lat;
};

static void *producer(void *arg)
{
    struct producer_arg *a = arg;
    struct run *run = a->run;
    for (uint64_t i = 0; i < run->per_producer; i++) {
        uint64_t t = clock_now_ns();
        if (run->design == 0) {
            struct ring_slot slot;
            uint64_t waited;
            while (ring_reserve(&run->shared, rec_size(sizeof KEY - 1, VALUE_BYTES), 0, 0, NULL,
                                &slot, &waited))
                sched_yield(); /* full: the consumer is behind */
            rec_fill(slot.rec, REC_PUT, slot.lsn, 1, KEY, sizeof KEY - 1, value, VALUE_BYTES);
            ring_publish(&run->shared, &slot);
        } else {
            pp_put(&run->pp, a->id);
        }
        hist_record(&a->lat, clock_now_ns() - t);
    }
    atomic_fetch_add(&run->done_producers, 1);
    return NULL;
}

static void consume(struct run *run)
{
    uint64_t total = run->per_producer * (uint64_t)run->producers, lsn = 1;
    if (run->design == 0) {
        uint64_t cursor = 0, pos;
        while (lsn <= total) {
            if (!ring_next(&run->shared, &cursor, lsn, &pos)) {
                sched_yield();
                continue;
            }
            if (++lsn % 256 == 0)
                ring_release(&run->shared, cursor);
        }
        return;
    }
    size_t sz = rec_size(sizeof KEY - 1, VALUE_BYTES);
    uint64_t *pos = calloc((size_t)run->producers, sizeof *pos);
    while (lsn <= total) {
        int found = 0;
        for (int p = 0; p < run->producers && !found; p++) {
            struct spsc *r = &run->pp.r[p];
            if (atomic_load_explicit(&r->head, memory_order_acquire) == pos[p])
                continue;
            const struct rec_hdr *h = (const void *)(r->buf + (pos[p] % r->size));
            if (h->lsn != lsn)
                continue;
            pos[p] += sz;
            if (lsn % 256 == 0)
                for (int q = 0; q < run->producers; q++)
                    atomic_store_explicit(&run->pp.r[q].tail, pos[q], memory_order_release);
            lsn++;
            found = 1;
        }
        if (!found)
            sched_yield(); /* LSN lsn is taken but not yet published */
    }
    free(pos);
}

static void one(int design, int producers, uint64_t per_producer)
{
    struct run *run = calloc(1, sizeof *run);
    run->design = design;
    run->producers = producers;
    run->per_producer = per_producer;
    int bell = eventfd(0, EFD_NONBLOCK);
    if (design == 0) {
        if (ring_init(&run->shared, RING_BYTES, 1, bell))
            abort();
    } else {
        run->pp.n = producers;
        run->pp.r = calloc((size_t)producers, sizeof *run->pp.r);
        atomic_store(&run->pp.next_lsn, 1);
        for (int p = 0; p < producers; p++) {
            run->pp.r[p].size = RING_BYTES / (size_t)producers / 144 * 144;
            run->pp.r[p].buf = calloc(1, run->pp.r[p].size);
        }
    }
    struct producer_arg *args = calloc((size_t)producers, sizeof *args);
    pthread_t *t = calloc((size_t)producers, sizeof *t);
    uint64_t t0 = clock_now_ns();
    for (int p = 0; p < producers; p++) {
        args[p] = (struct producer_arg){.run = run, .id = p};
        hist_init(&args[p].lat);
        pthread_create(&t[p], NULL, producer, &args[p]);
    }
    consume(run);
    struct hist all;
    hist_init(&all);
    for (int p = 0; p < producers; p++) {
        pthread_join(t[p], NULL);
        hist_merge(&all, &args[p].lat);
    }
    double secs = (clock_now_ns() - t0) / 1e9;
    printf("%-22s %9d %12.2f %8.3f %8.3f %8.3f %9.3f %10.1f\n",
           design == 0 ? "shared MPSC (sluice)" : "per-producer SPSC", producers,
           (double)all.count / secs / 1e6, hist_percentile(&all, 50) / 1e3,
           hist_percentile(&all, 99) / 1e3, hist_percentile(&all, 99.9) / 1e3,
           hist_percentile(&all, 99.99) / 1e3, all.max / 1e3);
    if (design == 0) {
        ring_destroy(&run->shared);
    } else {
        for (int p = 0; p < producers; p++)
            free(run->pp.r[p].buf);
        free(run->pp.r);
    }
    close(bell);
    free(args);
    free(t);
    free(run);
}

int main(int argc, char **argv)
{
    uint64_t records = 2000000;
    const char *list = "1,2,4";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc)
            records = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--producers") && i + 1 < argc)
            list = argv[++i];
        else {
            fprintf(stderr, "usage: sluice-ring-bench [--records N] [--producers 1,2,4]\n");
            return 2;
        }
    }
    memset(value, 0x5a, sizeof value);
    printf("# %ld cpus; %llu records per run; consumer drains without I/O; latency per put in µs\n",
           sysconf(_SC_NPROCESSORS_ONLN), (unsigned long long)records);
    printf("%-22s %9s %12s %8s %8s %8s %9s %10s\n", "design", "producers", "M puts/s", "p50",
           "p99", "p99.9", "p99.99", "max");
    for (const char *p = list; *p;) {
        int n = atoi(p);
        if (n < 1 || n > 64)
            return 2;
        for (int design = 0; design < 2; design++)
            one(design, n, records / (uint64_t)n);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return 0;
}
