/* The machine line every benchmark prints, so a figure is never read without it. */
#ifndef SLUICE_BENCH_MACHINE_H
#define SLUICE_BENCH_MACHINE_H
#include <stddef.h>

/* "Linux 6.18, <cpu model>, 2 cpus, filesystem ext4 (DIR)" into out. */
void bench_machine(const char *dir, char *out, size_t cap);
#endif
