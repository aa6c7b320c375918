/* decimal.c - see decimal.h. */
#include "decimal.h"

#include <string.h>

#include <uv.h>

int decimal_parse_u64(const char *s, uint64_t *out)
{
    size_t len = s == NULL ? 0 : strlen(s);
    if (len == 0 || len > 20)
        return len == 0 ? UV_EINVAL : (strspn(s, "0123456789") == len ? UV_ERANGE : UV_EINVAL);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return UV_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return UV_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

