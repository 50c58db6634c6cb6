/*
 * The log tier's handle: created and recovered by log_open, freed by log_destroy, and
 * the accessors through which the floors above see it (log.h). The writer thread is in
 * writer.c, recovery in recovery.c; the state they share is log_state.h.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log_state.h"
#include "sluice.h"

static void obs_init(struct log_obs *o)
{
    pthread_mutex_init(&o->mu, NULL);
    hist_init(&o->batch_records);
    hist_init(&o->batch_bytes);
    hist_init(&o->write_ns);
    hist_init(&o->fsync_ns);
}

int log_open(const struct log_config *cfg, struct log **out, char *errbuf, size_t errcap)
{
    *out = NULL;
    struct log *lg = calloc(1, sizeof *lg);
    if (!lg || !(lg->logdir = strdup(cfg->logdir))) {
        free(lg);
        return SLUICE_ENOMEM;
    }
    if (cfg->replaydir && !(lg->replaydir = strdup(cfg->replaydir))) {
        free(lg->logdir);
        free(lg);
        return SLUICE_ENOMEM;
    }
    lg->keep_compacted = cfg->keep_compacted;
    lg->io = cfg->io;
    lg->ring = cfg->ring;
    lg->index = cfg->index;
    lg->progress = cfg->progress;
    memcpy(lg->uuid, cfg->uuid, sizeof lg->uuid);
    lg->uuid_known = cfg->uuid_known;
    lg->compacted_lsn = cfg->compacted_lsn;
    lg->read_only = cfg->read_only;
    lg->segment_bytes = cfg->segment_bytes;
    lg->seg_start_bytes =
        cfg->segment_bytes < SEG_START_BYTES ? cfg->segment_bytes : SEG_START_BYTES;
    lg->batch_max_bytes = cfg->batch_max_bytes;
    lg->linger_us = cfg->linger_us;
    lg->memory_delay_us = cfg->memory_delay_us;
    lg->prefer_buffered = cfg->prefer_buffered;
    lg->cpus = cfg->cpus;
    lg->backlog_max_bytes = cfg->backlog_max_bytes;
    lg->on_event = cfg->on_event;
    lg->event_arg = cfg->event_arg;
    lg->doorbell_fd = -1;
    memset(lg->progress, 0, sizeof *lg->progress); /* recovery sets the positions */
    obs_init(&lg->obs);
    int r = log_recover(lg, errbuf, errcap);
    if (r) {
        log_destroy(lg);
        return r;
    }
    *out = lg;
    return 0;
}

void log_destroy(struct log *lg)
{
    if (!lg)
        return;
    SLUICE_ASSERT(!lg->thread_started); /* log_stop first */
    seg_table_close_all(&lg->index->segs, lg->io);
    pthread_mutex_destroy(&lg->obs.mu);
    free(lg->logdir);
    free(lg->replaydir);
    free(lg);
}

struct log_progress *log_progress(struct log *lg) { return lg->progress; }

const uint8_t *log_uuid(const struct log *lg) { return lg->uuid; }

uint64_t log_next_lsn(const struct log *lg) { return lg->gather_lsn; }

int log_poison_cause(struct log *lg) { return atomic_load(&lg->poison_cause); }

uint64_t log_bytes_written(struct log *lg)
{
    return atomic_load_explicit(&lg->st.log_bytes, memory_order_relaxed);
}

int log_wait_spare(struct log *lg, uint32_t timeout_ms)
{
    return prep_wait_ready(&lg->prep, timeout_ms);
}

void log_hist(struct log *lg, enum log_hist which, struct hist *out)
{
    struct log_obs *o = &lg->obs;
    const struct hist *h = which == LOG_HIST_BATCH_RECORDS ? &o->batch_records
                         : which == LOG_HIST_BATCH_BYTES   ? &o->batch_bytes
                         : which == LOG_HIST_WRITE         ? &o->write_ns
                                                           : &o->fsync_ns;
    pthread_mutex_lock(&o->mu);
    hist_merge(out, h);
    pthread_mutex_unlock(&o->mu);
}

void log_fill_stats(struct log *lg, struct sluice_stats *out)
{
    /* Read from the bottom of the lattice up, so the copy keeps durable <= written <=
     * indexed even while they move. */
    out->durable_lsn = pos_load(&lg->progress->durable);
    out->written_lsn = pos_load(&lg->progress->written);
    out->indexed_lsn = pos_load(&lg->progress->indexed);
    struct log_stats *s = &lg->st;
    out->puts = atomic_load_explicit(&s->puts, memory_order_relaxed);
    out->put_bytes = atomic_load_explicit(&s->put_bytes, memory_order_relaxed);
    out->log_bytes = atomic_load_explicit(&s->log_bytes, memory_order_relaxed);
    out->batches = atomic_load_explicit(&s->batches, memory_order_relaxed);
    out->fsyncs = atomic_load_explicit(&s->fsyncs, memory_order_relaxed);
    out->short_writes = atomic_load_explicit(&s->short_writes, memory_order_relaxed);
    out->segments_created = atomic_load_explicit(&s->segments_created, memory_order_relaxed);
    out->segments_sealed = atomic_load_explicit(&s->segments_sealed, memory_order_relaxed);
    out->eagain_retries = atomic_load_explicit(&s->eagain_retries, memory_order_relaxed);
    out->newest_ts_indexed = atomic_load_explicit(&s->newest_ts_indexed, memory_order_relaxed);
    out->newest_ts_durable = atomic_load_explicit(&s->newest_ts_durable, memory_order_relaxed);
    out->poison_error = atomic_load(&lg->poison_cause);
    out->direct_io = (uint32_t)lg->direct;
    out->recovery_skipped_records = lg->recovery_skipped_lsns;
    uint64_t oldest = 0;
    hot_rdlock(lg->index);
    seg_table_usage(&lg->index->segs, &out->segments, &out->log_backlog_bytes,
                    &out->active_segment_bytes, &oldest);
    hot_unlock(lg->index);
    out->log_backlog_age_ns = oldest ? clock_now_ns() - oldest : 0;
    if (lg->prep.started) {
        pthread_mutex_lock(&lg->prep.mu);
        out->spare_ready = (uint64_t)lg->prep.ready;
        pthread_mutex_unlock(&lg->prep.mu);
    }
}
