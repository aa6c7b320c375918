/* num.c - see num.h. */
#include "num.h"

#include <string.h>

size_t uvfib__u64_to_dec(uint64_t v, char *buf)
{
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

size_t uvfib__u64_to_dec_pad(uint64_t v, unsigned width, char *buf)
{
    char digits[21];
    size_t n = uvfib__u64_to_dec(v, digits);
    size_t pad = width > n && width <= 20 ? width - n : 0;
    memset(buf, '0', pad);
    memcpy(buf + pad, digits, n + 1);
    return pad + n;
}
