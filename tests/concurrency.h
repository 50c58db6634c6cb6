/*
 * Concurrent workloads shared by the Criterion tests and the ThreadSanitizer driver
 * (Criterion cannot start under TSan: Snaipe/Criterion#274). Worker threads never
 * assert; they record the first failure, and each function returns 0 or -1 with the
 * failure described in err.
 */
#ifndef SLUICE_TEST_CONCURRENCY_H
#define SLUICE_TEST_CONCURRENCY_H
#include <stddef.h>
#include <stdint.h>

/* P producers into a bare ring, one consumer checking LSN order, CRCs and content. */
int conc_ring_producers(int producers, int per_producer, char *err, size_t cap);
/* Producers, readers and iterators on one handle; read-your-writes across threads. */
int conc_db_stress(uint64_t per_producer, char *err, size_t cap);
/* SLUICE_FULL_FAIL under pressure: rejections counted, accepted puts all kept. */
int conc_fail_fast(char *err, size_t cap);
#endif
