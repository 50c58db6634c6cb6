/*
 * CRC32C (Castagnoli), with the SSE4.2 instruction when the CPU has it and a table
 * otherwise. Log records store a *masked* CRC (as LevelDB does) so that a CRC computed
 * over bytes that themselves contain CRCs does not degenerate, and so that an all-zero
 * header never carries a matching checksum.
 */
#ifndef SLUICE_CRC32C_H
#define SLUICE_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* Extends `crc` (0 to start) over buf[0..len). */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len);

static inline uint32_t crc32c(const void *buf, size_t len) { return crc32c_extend(0, buf, len); }

#define CRC32C_MASK_DELTA 0xa282ead8u
static inline uint32_t crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + CRC32C_MASK_DELTA;
}

/* 1 when the hardware instruction is used. */
int crc32c_hardware(void);
#endif
