/* num.c - see num.h. */
#include "num.h"

#include <string.h>

size_t uvfib__u64_to_dec(uint64_t v, char *buf)
{
    /* The digits from the last, into the end of tmp, then copied out in one go. */
    char tmp[20];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(buf, p, n);
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
