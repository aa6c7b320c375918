/* decimal.h - the app's reading of numbers: plain decimal integers, nothing else, for the
 * Fibonacci route's n and the command line's values. Pure. */
#ifndef FIBAPP_DECIMAL_H
#define FIBAPP_DECIMAL_H

#include <stdint.h>

/* Parses a plain decimal integer: 1 to 20 ASCII digits, nothing else (no sign, space,
 * exponent). @return 0, UV_EINVAL (not a plain integer), UV_ERANGE (over 2^64 - 1). */
int decimal_parse_u64(const char *s, uint64_t *out);

#endif /* FIBAPP_DECIMAL_H */
