/*
 * The live stats file DIR/stats.live (stats_file.h): a 4 KiB header and two text areas
 * (JSON and Prometheus), rewritten every stats_interval_ms by a publisher thread under a
 * sequence lock — the sequence is odd while a snapshot is written — and read from any
 * process by sluice_stats_read_live (`sluice top`, `sluice stats DIR`, a script through
 * the FFI), which copies, then checks that the sequence was even and unchanged and that
 * the CRC of what it copied matches, else reads again. A reader never sees a torn
 * snapshot.
 *
 * Lifecycle: obs_publisher_start in sluice_open once the writer runs; obs_publisher_stop
 * in sluice_close after the writer drained, so the last snapshot shows the final figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "placement.h"
#include "clock.h"
#include "crc32c.h"
#include "db.h"
#include "stats_file.h"

struct stats_publisher {
    sluice_db *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct stats_file *map;
    char *scratch;
};

/* One snapshot, under the sequence lock. */
static void publish(struct stats_publisher *p)
{
    struct stats_file *f = p->map;
    size_t jl = 0, pl = 0;
    if (sluice_stats_format(p->db, SLUICE_FMT_JSON, p->scratch, STATS_AREA, &jl) ||
        sluice_stats_format(p->db, SLUICE_FMT_PROMETHEUS, p->scratch + STATS_AREA, STATS_AREA, &pl))
        return; /* too big for the file: skipped, the last good snapshot stays */
    uint64_t seq = atomic_load_explicit(&f->seq, memory_order_relaxed);
    atomic_store_explicit(&f->seq, seq + 1, memory_order_relaxed); /* odd: being written */
    atomic_thread_fence(memory_order_release);
    memcpy(f->json, p->scratch, jl);
    memcpy(f->prometheus, p->scratch + STATS_AREA, pl);
    f->json_len = (uint32_t)jl;
    f->prometheus_len = (uint32_t)pl;
    f->crc = crc32c_extend(crc32c(f->json, jl), f->prometheus, pl);
    f->time_ns = clock_realtime_ns();
    f->pid = (uint32_t)getpid();
    atomic_store_explicit(&f->seq, seq + 2, memory_order_release);
}

static void *publisher_main(void *arg)
{
    struct stats_publisher *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        pthread_mutex_unlock(&p->mu);
        publish(p);
        pthread_mutex_lock(&p->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)p->db->opts.stats_interval_ms * 1000000u;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        if (!p->stop)
            pthread_cond_timedwait(&p->cv, &p->mu, &until);
    }
    pthread_mutex_unlock(&p->mu);
    publish(p); /* the last figures, as the writer leaves */
    return NULL;
}

int obs_publisher_start(sluice_db *db)
{
    if (db->read_only || !db->opts.stats_interval_ms)
        return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/" STATS_FILE_NAME, db->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    struct stats_publisher *p = calloc(1, sizeof *p);
    int r = p && (p->scratch = malloc(2 * STATS_AREA)) ? 0 : SLUICE_ENOMEM;
    /* Blocks allocated now, not a sparse ftruncate: a store into a hole of a shared
     * mapping on a full filesystem is SIGBUS, and the snapshots grow into new pages long
     * after open (a 4 MiB tmpfs filled by the log killed a test process so). posix_fallocate
     * writes where the filesystem has no fallocate. */
    int fa = r ? 0 : posix_fallocate(fd, 0, sizeof(struct stats_file));
    if (fa)
        r = -fa;
    void *m = r ? MAP_FAILED : mmap(NULL, sizeof(struct stats_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (!r && m == MAP_FAILED)
        r = -errno;
    if (r) {
        if (p)
            free(p->scratch);
        free(p);
        return r;
    }
    p->db = db;
    p->map = m;
    struct stats_file *f = m;
    memcpy(f->magic, STATS_MAGIC, sizeof f->magic);
    f->version = STATS_VERSION;
    f->interval_ms = db->opts.stats_interval_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (!(r = -pthread_create(&p->thread, NULL, publisher_main, p)))
        thread_place(p->thread, db->opts.background_cpus);
    if (r) {
        munmap(m, sizeof(struct stats_file));
        free(p->scratch);
        free(p);
        return r;
    }
    db->publisher = p;
    return 0;
}

void obs_publisher_stop(sluice_db *db)
{
    struct stats_publisher *p = db->publisher;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    munmap(p->map, sizeof(struct stats_file));
    free(p->scratch);
    free(p);
    db->publisher = NULL;
}

int sluice_stats_read_live(const char *dir, sluice_live_stats *out)
{
    if (!dir || !out)
        return SLUICE_EINVAL;
    memset(out, 0, sizeof *out);
    char path[4200];
    snprintf(path, sizeof path, "%s/" STATS_FILE_NAME, dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < sizeof(struct stats_file)) {
        close(fd);
        return SLUICE_ECORRUPT;
    }
    const struct stats_file *f = mmap(NULL, sizeof *f, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        return -errno;
    int r = SLUICE_ECORRUPT;
    if (memcmp(f->magic, STATS_MAGIC, sizeof f->magic) || f->version != STATS_VERSION)
        goto out;
    out->json = malloc(STATS_AREA + 1);
    out->prometheus = malloc(STATS_AREA + 1);
    if (!out->json || !out->prometheus) {
        r = SLUICE_ENOMEM;
        goto out;
    }
    /* A snapshot takes microseconds to write: 2,000 tries 0.1 ms apart outlast any writer
     * that is alive; one that died mid-snapshot leaves an odd sequence for good. */
    for (int tries = 0; tries < 2000; tries++) {
        uint64_t s1 = atomic_load_explicit(&((struct stats_file *)f)->seq, memory_order_acquire);
        if (s1 == 0) { /* never published yet */
            r = SLUICE_NOTFOUND;
            break;
        }
        if (!(s1 & 1)) {
            uint32_t jl = f->json_len, pl = f->prometheus_len, crc = f->crc;
            uint64_t t = f->time_ns;
            uint32_t pid = f->pid;
            if (jl <= STATS_AREA && pl <= STATS_AREA) {
                memcpy(out->json, f->json, jl);
                memcpy(out->prometheus, f->prometheus, pl);
                atomic_thread_fence(memory_order_acquire);
                uint64_t s2 = atomic_load_explicit(&((struct stats_file *)f)->seq, memory_order_relaxed);
                if (s1 == s2 && crc32c_extend(crc32c(out->json, jl), out->prometheus, pl) == crc) {
                    out->json[jl] = 0;
                    out->prometheus[pl] = 0;
                    out->time_ns = t;
                    out->pid = pid;
                    out->seq = s1;
                    out->interval_ms = f->interval_ms;
                    r = 0;
                    break;
                }
            }
        }
        struct timespec nap = {0, 100000};
        nanosleep(&nap, NULL);
    }
out:
    munmap((void *)f, sizeof *f);
    if (r)
        sluice_live_stats_free(out);
    return r;
}

void sluice_live_stats_free(sluice_live_stats *l)
{
    free(l->json);
    free(l->prometheus);
    l->json = l->prometheus = NULL;
}
