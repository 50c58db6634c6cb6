/*
 * DESIGN: the SSE4.2 path or a byte-wise table, chosen once on first use. The tables are
 * filled lazily under pthread_once and never change after: no mutable state is visible
 * to callers and two databases share only immutable tables.
 *
 * The crc32 instruction has a latency of three cycles and a throughput of one, so one
 * dependent chain runs at a third of the unit's speed. Long buffers are therefore cut
 * into three streams computed side by side and joined with the "shift" operator (the
 * CRC state after that many zero bytes: CRC is linear in its state), precomputed as four
 * 256-entry tables per stream length. Cold blocks are 4-16 KiB and are checked on every
 * read: this took crc32c from a quarter of an all-series scan's profile to noise.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* stream lengths of the three-way hardware path (multiples of 8) */
#define CRC_LONG 4096u
#define CRC_SHORT 256u

static uint32_t crc_table[256];
static uint32_t crc_shift_long[4][256], crc_shift_short[4][256];
static int crc_use_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* The raw (uninverted) state after len zero bytes. */
static uint32_t crc_zeros(uint32_t state, size_t len)
{
    while (len--)
        state = crc_table[state & 0xff] ^ (state >> 8);
    return state;
}

/* t[k][b]: the state byte b in position k becomes after len zero bytes. */
static void crc_shift_init(uint32_t t[4][256], size_t len)
{
    uint32_t bit[32];
    for (int i = 0; i < 32; i++)
        bit[i] = crc_zeros(1u << i, len);
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int j = 0; j < 8; j++)
                if (b >> j & 1)
                    v ^= bit[8 * k + j];
            t[k][b] = v;
        }
}

static inline uint32_t crc_shift(const uint32_t t[4][256], uint32_t s)
{
    return t[0][s & 0xff] ^ t[1][s >> 8 & 0xff] ^ t[2][s >> 16 & 0xff] ^ t[3][s >> 24];
}

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
    crc_shift_init(crc_shift_long, CRC_LONG);
    crc_shift_init(crc_shift_short, CRC_SHORT);
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static inline uint64_t crc_word(uint64_t c, const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return _mm_crc32_u64(c, w);
}

/* Three streams of n bytes each from p, joined: the state after all 3n bytes. */
__attribute__((target("sse4.2"))) static inline uint64_t crc_three(uint64_t c, const uint8_t *p,
                                                                   size_t n,
                                                                   const uint32_t shift[4][256])
{
    uint64_t b = 0, d = 0;
    for (const uint8_t *end = p + n; p < end; p += 8) {
        c = crc_word(c, p);
        b = crc_word(b, p + n);
        d = crc_word(d, p + 2 * n);
    }
    c = crc_shift(shift, (uint32_t)c) ^ (uint32_t)b;
    return crc_shift(shift, (uint32_t)c) ^ (uint32_t)d;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p,
                                                          size_t len)
{
    uint64_t c = crc;
    for (; len >= 3 * CRC_LONG; p += 3 * CRC_LONG, len -= 3 * CRC_LONG)
        c = crc_three(c, p, CRC_LONG, crc_shift_long);
    for (; len >= 3 * CRC_SHORT; p += 3 * CRC_SHORT, len -= 3 * CRC_SHORT)
        c = crc_three(c, p, CRC_SHORT, crc_shift_short);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}
#endif

uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_use_hw)
        return ~crc_hw(crc, buf, len);
#endif
    return ~crc_sw(crc, buf, len);
}

int crc32c_hardware(void)
{
    pthread_once(&crc_once, crc_init);
    return crc_use_hw;
}
