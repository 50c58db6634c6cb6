#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

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
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n<text x=\"%d\" y=\"22\" "
               "font-size=\"15\">", W, H, LEFT);
    escape(f, title);
    fprintf(f, "</text>\n");
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
        if (v >= 1e9)
            fprintf(f, "%gs", v / 1e9);
        else if (v >= 1e6)
            fprintf(f, "%gms", v / 1e6);
        else if (v >= 1e3)
            fprintf(f, "%gµs", v / 1e3);
        else
            fprintf(f, "%gns", v);
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
