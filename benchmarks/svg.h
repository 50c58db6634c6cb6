/*
 * Latency-by-percentile plots as SVG, written by the harness itself (no plotting
 * dependency): x is the percentile on a "nines" scale (50, 90, 99, 99.9, ...), y the
 * latency on a log scale; one line per series.
 */
#ifndef SLUICE_BENCH_SVG_H
#define SLUICE_BENCH_SVG_H
#include "hist.h"

struct svg_series {
    const char *name;
    const struct hist *h;
};

/* Writes the plot to path; 0 or -errno. Series with no samples are skipped. */
int svg_percentile_plot(const char *path, const char *title, const struct svg_series *s, int n);
#endif
