#include <string.h>

#include "sluice.h"

const char *sluice_strerror(int err)
{
    switch (err) {
#define X(name, value, msg) \
    case value:             \
        return msg;
        SLUICE_ERROR_TABLE(X)
#undef X
    }
    if (err < 0 && err > -4096) {
        /* strerrordesc_np is thread-safe and returns a static string (glibc >= 2.32) */
        const char *s = strerrordesc_np(-err);
        if (s)
            return s;
    }
    return "unknown error";
}

const char *sluice_errname(int err)
{
    switch (err) {
#define X(name, value, msg) \
    case value:             \
        return "SLUICE_" #name;
        SLUICE_ERROR_TABLE(X)
#undef X
    }
    if (err < 0 && err > -4096) {
        const char *s = strerrorname_np(-err);
        if (s)
            return s;
    }
    return "unknown";
}
