/* num.h - exact decimal parsing and printing of unsigned 64-bit numbers, without locale,
 * floating point or printf: request parameters, flags, headers and log lines use them. Pure:
 * no loop, no allocation. Any thread. */
#ifndef UVFIB_NUM_H
#define UVFIB_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Parses a plain decimal integer: 1 to 20 ASCII digits, nothing else (no sign, space,
 * exponent). @return 0, -EINVAL (UV_EINVAL: not a plain integer), -ERANGE (UV_ERANGE: > 2^64-1). */
int uvfib__parse_u64(const char *s, uint64_t *out);

/* Writes the decimal digits of v into buf (at least 21 bytes), NUL-terminated.
 * @return the number of digits. */
size_t uvfib__u64_to_dec(uint64_t v, char *buf);

/* Writes v as at least `width` digits, zero-padded on the left, into buf (at least 21 bytes),
 * NUL-terminated. @return the number of digits. */
size_t uvfib__u64_to_dec_pad(uint64_t v, unsigned width, char *buf);

#endif /* UVFIB_NUM_H */
