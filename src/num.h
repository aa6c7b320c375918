/* num.h - exact decimal printing of unsigned 64-bit numbers, without locale, floating point or
 * printf: response heads and access-log lines use it; and the saturated arithmetic of times,
 * where an embedder may say "never" with UINT64_MAX. Pure: no loop, no allocation. Any
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

/* a + b, or UINT64_MAX where the sum would wrap: a deadline "never" must not come out as one
 * in the past. */
static inline uint64_t uvfib__add_sat(uint64_t a, uint64_t b)
{
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/* ms in ns, or UINT64_MAX where the product would wrap (into a short time). */
static inline uint64_t uvfib__ms_to_ns(uint64_t ms)
{
    return ms > UINT64_MAX / 1000000 ? UINT64_MAX : ms * 1000000;
}

#endif /* UVFIB_NUM_H */
