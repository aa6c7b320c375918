/* response.h - the bytes of a response: status line, headers, the Date value and JSON error
 * bodies, all in one buffer so a response leaves in one write. Pure: no loop, no sockets. */
#ifndef UVFIB_RESPONSE_H
#define UVFIB_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Extra response headers, a singly linked list in insertion order. */
struct uvfib__header {
    struct uvfib__header *next;   /* owned */
    size_t name_len, value_len;
    char text[];                  /* "name\0value\0" */
};

struct uvfib__response {
    int status;                   /* 100..999 */
    bool keep_alive;              /* "Connection: keep-alive" or "close" */
    bool head;                    /* HEAD: headers only, Content-Length of the body */
    const char *date;             /* borrowed: IMF-fixdate, 29 bytes */
    const struct uvfib__header *headers; /* borrowed */
    const char *body;             /* borrowed JSON text */
    size_t body_len;
};

const char *uvfib__status_reason(int status);
/* Serialises r into one buffer (*out, owned by the caller, freed with uvfib__free). A status
 * with no content (uvfib__response_has_no_content) goes out without r's body, Content-Length
 * and the default Content-Type. @return 0, UV_EINVAL (status out of range) or UV_ENOMEM. */
int uvfib__response_serialize(const struct uvfib__response *r, char **out, size_t *out_len);
/* {"success":false,"error":message} as text owned by the caller (uvfib__free), or NULL. */
char *uvfib__json_error(const char *message, size_t *len);
/* Writes the IMF-fixdate of t ("Sun, 06 Nov 1994 08:49:37 GMT") into buf[30]. */
void uvfib__http_date(time_t t, char *buf);
/* A status a handler may answer with: 200..999 (a 1xx is interim, not an answer). */
static inline bool uvfib__status_is_final(int status)
{
    return status >= 200 && status <= 999;
}
/* True for 1xx, 204 and 304: responses that end at their header section (RFC 9110 6.4.1). */
bool uvfib__response_has_no_content(int status);
/* True for the headers that frame the response, which the serialiser alone writes: Content-Length,
 * Connection and Date, and Transfer-Encoding, which it never uses (any case). One from a handler
 * would contradict the serialiser's, and two framings are how responses get smuggled. */
bool uvfib__header_is_ours(const char *name);
/* Appends a header (copied). @return 0, UV_EINVAL (CR, LF, or a bad name), UV_ENOMEM. */
int uvfib__header_add(struct uvfib__header **list, const char *name, const char *value);
void uvfib__header_free(struct uvfib__header *list);

#endif /* UVFIB_RESPONSE_H */
