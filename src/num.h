/* num.h - exact decimal printing of unsigned 64-bit numbers, without locale, floating point or
 * printf: response heads and access-log lines use it. Pure: no loop, no allocation. Any
 * thread. */
#ifndef UVFIB_NUM_H
#define UVFIB_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Writes the decimal digits of v into buf (at least 21 bytes), NUL-terminated.
 * @return the number of digits. */
size_t uvfib__u64_to_dec(uint64_t v, char *buf);

/* Writes v (below 1000) as exactly three digits, zero-padded, into buf[0..2], no NUL: a
 * status code or the milliseconds of a time, on every request. */
static inline void uvfib__dec3(unsigned v, char *buf)
{
    buf[0] = (char)('0' + v / 100);
    buf[1] = (char)('0' + v / 10 % 10);
    buf[2] = (char)('0' + v % 10);
}

/* Writes v as at least `width` digits, zero-padded on the left, into buf (at least 21 bytes),
 * NUL-terminated. @return the number of digits. */
size_t uvfib__u64_to_dec_pad(uint64_t v, unsigned width, char *buf);

#endif /* UVFIB_NUM_H */
