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

/* A percentile plot gathered series by series (each histogram copied), written by
 * svg_plot_finish into DIR/file when dir is not NULL. */
#define SVG_MAX_SERIES 8
struct svg_plot {
    char title[112], file[64];
    int n;
    char names[SVG_MAX_SERIES][48];
    struct hist *h[SVG_MAX_SERIES];
};
void svg_plot_add(struct svg_plot *pl, const char *name, const struct hist *h);
void svg_plot_finish(struct svg_plot *pl, const char *dir);

/* Values over time: x is the index (seconds), y on a log scale if log_y (values <= 0
 * are left out there), one line per series. 0 or -errno. */
struct svg_line {
    const char *name;
    const double *y;
    int n;
};
int svg_timeline_plot(const char *path, const char *title, const char *ylabel,
                      const struct svg_line *l, int n, int log_y);
#endif
