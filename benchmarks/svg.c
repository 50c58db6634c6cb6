#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 760
#define H 420
#define LEFT 70
#define RIGHT 180
#define TOP 40
#define BOTTOM 50
#define NINES 5.0 /* up to the 99.999th percentile */

static const char *const colours[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#17becf", "#7f7f7f"};

/* x for percentile p: -log10(1 - p/100), so 90 -> 1, 99 -> 2, 99.9 -> 3 */
static double px(double nines) { return LEFT + nines / NINES * (W - LEFT - RIGHT); }

static void escape(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

static void axis_label(FILE *f, double v, const char *unit)
{
    if (!strcmp(unit, "ns")) {
        if (v >= 1e9)
            fprintf(f, "%gs", v / 1e9);
        else if (v >= 1e6)
            fprintf(f, "%gms", v / 1e6);
        else if (v >= 1e3)
            fprintf(f, "%gµs", v / 1e3);
        else
            fprintf(f, "%gns", v);
    } else {
        fprintf(f, "%g", v);
    }
}

/* A new SVG file with its white background and title; NULL with errno set. */
static FILE *svg_begin(const char *path, const char *title)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n<text x=\"%d\" y=\"22\" "
               "font-size=\"15\">", W, H, LEFT);
    escape(f, title);
    fprintf(f, "</text>\n");
    return f;
}

int svg_percentile_plot(const char *path, const char *title, const struct svg_series *s, int n)
{
    /* the y range: decades around every series' p50 .. max */
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < n; i++) {
        if (!s[i].h->count)
            continue;
        double a = (double)hist_percentile(s[i].h, 50), b = (double)s[i].h->max;
        lo = a > 0 && a < lo ? a : lo;
        hi = b > hi ? b : hi;
    }
    if (!isfinite(lo) || hi <= 0)
        lo = 1, hi = 10;
    double ylo = floor(log10(lo)), yhi = ceil(log10(hi));
    if (yhi <= ylo)
        yhi = ylo + 1;
    FILE *f = svg_begin(path, title);
    if (!f)
        return -errno;
#define PY(v) (TOP + (yhi - log10(v)) / (yhi - ylo) * (H - TOP - BOTTOM))
    /* axes and grid */
    for (int d = 0; d <= (int)NINES; d++) {
        static const char *const lab[] = {"0", "90", "99", "99.9", "99.99", "99.999"};
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", px(d), TOP,
                px(d), H - BOTTOM);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s%%</text>\n", px(d),
                H - BOTTOM + 16, lab[d]);
    }
    for (double e = ylo; e <= yhi; e++) {
        double v = pow(10, e);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT,
                PY(v), W - RIGHT, PY(v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", LEFT - 6, PY(v) + 4);
        axis_label(f, v, "ns");
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">percentile</text>\n",
            (LEFT + W - RIGHT) / 2, H - 12);
    /* one line per series: 200 points from p0 to p99.999 */
    for (int i = 0, k = 0; i < n; i++) {
        if (!s[i].h->count)
            continue;
        const char *col = colours[k % 8];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int j = 0; j <= 200; j++) {
            double nines = NINES * j / 200.0, p = 100.0 * (1 - pow(10, -nines));
            double v = (double)hist_percentile(s[i].h, p < 0.001 ? 0.001 : p);
            if (v < pow(10, ylo))
                v = pow(10, ylo);
            fprintf(f, "%.1f,%.1f ", px(nines), PY(v));
        }
        fprintf(f, "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">", W - RIGHT + 10, TOP + 16 * k + 10, col);
        escape(f, s[i].name);
        fprintf(f, "</text>\n");
        k++;
    }
#undef PY
    fprintf(f, "</svg>\n");
    return fclose(f) ? -errno : 0;
}

void svg_plot_add(struct svg_plot *pl, const char *name, const struct hist *h)
{
    if (pl->n == SVG_MAX_SERIES || !(pl->h[pl->n] = malloc(sizeof *pl->h[pl->n])))
        return;
    *pl->h[pl->n] = *h;
    snprintf(pl->names[pl->n], sizeof pl->names[pl->n], "%s", name);
    pl->n++;
}

void svg_plot_finish(struct svg_plot *pl, const char *dir)
{
    if (dir && pl->n) {
        struct svg_series s[SVG_MAX_SERIES];
        for (int i = 0; i < pl->n; i++)
            s[i] = (struct svg_series){pl->names[i], pl->h[i]};
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, pl->file);
        if (svg_percentile_plot(path, pl->title, s, pl->n) == 0)
            fprintf(stderr, "sluice-bench: wrote %s\n", path);
    }
    for (int i = 0; i < pl->n; i++)
        free(pl->h[i]);
    pl->n = 0;
}

int svg_timeline_plot(const char *path, const char *title, const char *ylabel,
                      const struct svg_line *l, int n, int log_y)
{
    int xmax = 1;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        xmax = l[i].n > xmax ? l[i].n : xmax;
        for (int j = 0; j < l[i].n; j++) {
            double v = l[i].y[j];
            if (!isfinite(v) || (log_y && v <= 0))
                continue;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    if (!isfinite(lo))
        lo = 1, hi = 10;
    double ylo, yhi;
    if (log_y) {
        ylo = floor(log10(lo));
        yhi = ceil(log10(hi));
        if (yhi <= ylo)
            yhi = ylo + 1;
    } else {
        ylo = 0;
        yhi = hi > 0 ? hi * 1.1 : 1;
    }
    FILE *f = svg_begin(path, title);
    if (!f)
        return -errno;
    const char *unit = strstr(ylabel, "(ns)") ? "ns" : "";
#define TX(x) (LEFT + (double)(x) / xmax * (W - LEFT - RIGHT))
#define TY(v) (TOP + (log_y ? (yhi - log10(v)) / (yhi - ylo) : (yhi - (v)) / (yhi - ylo)) * (H - TOP - BOTTOM))
    int xstep = xmax <= 10 ? 1 : xmax <= 60 ? 10 : xmax <= 300 ? 30 : 60;
    for (int x = 0; x <= xmax; x += xstep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", TX(x), TOP,
                TX(x), H - BOTTOM);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%ds</text>\n", TX(x), H - BOTTOM + 16, x);
    }
    int ticks = log_y ? (int)(yhi - ylo) : 5;
    for (int k = 0; k <= ticks; k++) {
        double v = log_y ? pow(10, ylo + k) : yhi * k / ticks;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT,
                TY(v), W - RIGHT, TY(v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", LEFT - 6, TY(v) + 4);
        axis_label(f, log_y ? v : round(v), unit);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (LEFT + W - RIGHT) / 2, H - 12);
    escape(f, ylabel);
    fprintf(f, " over time</text>\n");
    for (int i = 0; i < n; i++) {
        const char *col = colours[i % 8];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", col);
        for (int j = 0; j < l[i].n; j++) {
            double v = l[i].y[j];
            if (!isfinite(v) || (log_y && v <= 0))
                continue;
            fprintf(f, "%.1f,%.1f ", TX(j + 0.5), TY(v));
        }
        fprintf(f, "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">", W - RIGHT + 10, TOP + 16 * i + 10, col);
        escape(f, l[i].name);
        fprintf(f, "</text>\n");
    }
#undef TX
#undef TY
    fprintf(f, "</svg>\n");
    return fclose(f) ? -errno : 0;
}
