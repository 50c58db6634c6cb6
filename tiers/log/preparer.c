#include "preparer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "segment.h"
#include "sluice.h"

static void *prep_main(void *arg)
{
    struct seg_preparer *p = arg;
    pthread_mutex_lock(&p->mu);
    /* Every wait is under the loop's stop check: prep_stop may signal while the spare is
     * being zeroed, with nobody waiting, and a wait that did not look at stop afterwards
     * would sleep through the close. */
    while (!p->stop) {
        if (p->ready || p->taken || p->failed) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        uint64_t bytes = p->bytes = p->want_bytes, pace_ns = p->want_pace_ns;
        pthread_mutex_unlock(&p->mu);
        int r = seg_prepare_spare(p->io, p->path, bytes, pace_ns, &p->stopping);
        pthread_mutex_lock(&p->mu);
        p->last_error = r;
        /* No spare after an error: rolls fall back to a preallocated file. Retrying a
         * failing disk in a loop would only add load, so wait for the next request. */
        p->ready = r == 0;
        p->failed = r != 0;
        pthread_cond_broadcast(&p->cv); /* prep_wait_ready */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int prep_start(struct seg_preparer *p, struct io *io, const char *logdir, uint64_t bytes)
{
    memset(p, 0, sizeof *p);
    p->io = io;
    p->bytes = p->want_bytes = bytes;
    if ((size_t)snprintf(p->path, sizeof p->path, "%s/spare.seg.tmp", logdir) >= sizeof p->path)
        return SLUICE_EINVAL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    int r = pthread_create(&p->thread, NULL, prep_main, p);
    if (r) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        return -r;
    }
    p->started = 1;
    return 0;
}

const char *prep_take(struct seg_preparer *p, uint64_t min_bytes, uint64_t *bytes)
{
    if (!p->started)
        return NULL;
    const char *path = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->ready && p->bytes >= min_bytes) {
        p->ready = 0;
        p->taken = 1; /* the preparer waits until prep_request */
        path = p->path;
        *bytes = p->bytes;
    }
    pthread_mutex_unlock(&p->mu);
    return path;
}

void prep_request(struct seg_preparer *p, uint64_t bytes, uint64_t pace_ns)
{
    if (!p->started)
        return;
    pthread_mutex_lock(&p->mu);
    p->want_bytes = bytes; /* (a spare still ready was not taken: it stays, as it is) */
    p->want_pace_ns = pace_ns;
    p->taken = 0;
    p->failed = 0;
    pthread_cond_signal(&p->cv); /* make the next one (or retry after an error) */
    pthread_mutex_unlock(&p->mu);
}

int prep_wait_ready(struct seg_preparer *p, uint32_t timeout_ms)
{
    if (!p->started)
        return SLUICE_EINVAL;
    uint64_t until = clock_realtime_ns() + (uint64_t)timeout_ms * 1000000u;
    struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u), .tv_nsec = (long)(until % 1000000000u)};
    int r = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->ready && !p->failed && !p->stop && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    r = p->ready ? 0 : p->failed ? (p->last_error ? p->last_error : -EIO) : SLUICE_ETIMEDOUT;
    pthread_mutex_unlock(&p->mu);
    return r;
}

void prep_stop(struct seg_preparer *p)
{
    if (!p->started)
        return;
    atomic_store(&p->stopping, 1);
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    if (p->ready) /* a closed directory keeps no spare: recovery would delete it anyway */
        (void)p->io->ops->unlink(p->io, p->path);
    p->ready = 0;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    p->started = 0;
}
