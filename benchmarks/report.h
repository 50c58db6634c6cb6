/*
 * sluice-bench's output (report.c): rows as they come, in the format chosen; every row is
 * also kept for the targets summary and --json.
 */
#ifndef SLUICE_BENCH_REPORT_H
#define SLUICE_BENCH_REPORT_H
#include "common.h"

void report_begin(const struct cfg *c, const char *machine);
struct result *report_row(const struct cfg *c, const struct result *r);
const struct result *report_find(const char *name);
void report_limit(const char *name, double value, const char *unit); /* physical limits */
double report_limit_get(const char *name);                        /* 0: not measured */
void report_end(const struct cfg *c);
#endif
