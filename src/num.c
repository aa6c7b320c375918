/* num.c - see num.h. */
#include "num.h"

#include <errno.h>
#include <string.h>

int uvfib__parse_u64(const char *s, uint64_t *out)
{
    size_t len = s == NULL ? 0 : strlen(s);
    if (len == 0 || len > 20)
        return len == 0 ? -EINVAL : (strspn(s, "0123456789") == len ? -ERANGE : -EINVAL);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

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
