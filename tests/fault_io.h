/* A fault-injecting I/O backend for tests: wraps a real one and turns the Nth completion
 * of a write or an fdatasync into an error, after the real operation ran (so bytes may
 * have reached the disk: the "indeterminate" outcome). The simulated disk with power
 * cuts belongs to the reliability suite; this is the smallest seam it will grow from. */
#ifndef SLUICE_TEST_FAULT_IO_H
#define SLUICE_TEST_FAULT_IO_H
#include "io.h"

/* A read (pread) rather than a completion: the Nth pread returns err without reading,
 * or, with err FAULT_SHORT_READ, reads only half of what was asked (at least one byte
 * short), as a pread may. */
#define FAULT_OP_PREAD 100
#define FAULT_SHORT_READ 1

/* op: IO_OP_WRITE, IO_OP_FDATASYNC or FAULT_OP_PREAD; nth: 1-based; err: e.g. -EIO. */
struct io *fault_io_create(struct io *inner, int op, int nth, int err);
/* How many completions were turned into errors so far. */
int fault_io_fired(struct io *io);
#endif
