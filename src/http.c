/* http.c - see http.h. The target, headers and body of a message go into one buffer as they
 * arrive (llhttp hands them in pieces that live only during execute); offsets while parsing,
 * pointers once the message is taken, as the buffer moves when it grows. */
#include "http.h"

#include <string.h>
#include <strings.h>

#include "alloc.h"

static struct uvfib__http *from(llhttp_t *p)
{
    return p->data;
}

/* Aborts parsing from inside a callback: llhttp returns HPE_USER from execute. */
static int reject(llhttp_t *p, int status, const char *msg)
{
    struct uvfib__http *h = from(p);
    h->err_status = status;
    h->err_msg = msg;
    llhttp_set_error_reason(p, msg);
    return HPE_USER;
}

/* Appends data[0..len) to the message's buffer. @return 0, or HPE_USER (500) without memory. */
static int append(llhttp_t *p, const char *data, size_t len)
{
    struct uvfib__http *h = from(p);
    if (h->buf_len + len > h->buf_cap) {
        size_t cap = h->buf_cap == 0 ? 64 : h->buf_cap;
        while (cap < h->buf_len + len)
            cap *= 2;
        char *buf = uvfib__realloc(h->msg.url, cap);
        if (buf == NULL)
            return reject(p, 500, "out of memory");
        h->msg.url = buf;
        h->buf_cap = cap;
    }
    memcpy(h->msg.url + h->buf_len, data, len);
    h->buf_len += len;
    return 0;
}

/* Ends the target (NUL) where the headers start; a request may have neither headers nor a
 * target callback, so every later step makes sure of it. */
static int finish_url(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    if (h->headers_off != 0)
        return 0;
    int rc = append(p, "", 1);
    h->headers_off = h->buf_len;
    return rc;
}

/* The 505's reason, for a version llhttp serves (0.9, 2.0) or refuses (see parse_error). */
static const char version_not_supported[] = "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)";

static int on_message_begin(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    h->in_message = true;
    h->header_bytes = 0;
    h->n_headers = 0;
    h->body_bytes = 0;
    h->in_trailers = false;
    h->saw_expect = false;
    h->wants_continue = false;
    h->buf_len = 0;
    h->headers_off = h->body_off = 0;
    h->msg.url_len = 0;
    h->msg.n_headers = 0;
    h->msg.has_host = false;
    h->msg.unknown_coding = false;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct uvfib__http *h = from(p);
    if (h->msg.url_len + len > h->limits->max_url_bytes)
        return reject(p, 414, "request target too long");
    h->msg.url_len += len;
    return append(p, at, len);
}

static int count_header_bytes(llhttp_t *p, size_t len)
{
    struct uvfib__http *h = from(p);
    h->header_bytes += len;
    if (h->header_bytes > h->limits->max_header_bytes)
        return reject(p, 431, "request header fields too large");
    return 0;
}

/* Fields after the headers are trailers (the end of a chunked body). They are counted against
 * the header limits and dropped: appended like headers they would land in the body, past
 * max_body_bytes, and a handler would read them as headers the client never sent up front
 * (RFC 9110 6.5.1: a trailer is not merged into the header section unless its field's definition
 * says how). */
static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct uvfib__http *h = from(p);
    int rc = count_header_bytes(p, len);
    if (rc != 0 || h->in_trailers)
        return rc;
    rc = finish_url(p);
    if (rc == 0 && h->field_off == 0)
        h->field_off = h->buf_len; /* a name that arrives in pieces starts once */
    return rc != 0 ? rc : append(p, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    if (++h->n_headers > h->limits->max_headers)
        return reject(p, 431, "too many header fields");
    if (h->in_trailers)
        return count_header_bytes(p, 4); /* ": " and CRLF, as for a header */
    size_t name_len = h->buf_len - h->field_off;
    const char *name = h->msg.url + h->field_off;
    /* "host" in any case, without a call: | 0x20 lowers letters, and only letters match. */
    if (name_len == 4 && (name[0] | 0x20) == 'h' && (name[1] | 0x20) == 'o' &&
        (name[2] | 0x20) == 's' && (name[3] | 0x20) == 't') {
        /* RFC 9112 3.2: two Host lines could make a proxy and this server
         * disagree on the target. */
        if (h->msg.has_host)
            return reject(p, 400, "more than one Host header");
        h->msg.has_host = true;
        h->in_host = true;
    }
    if (name_len == 6 && strncasecmp(name, "expect", 6) == 0)
        h->saw_expect = true;
    h->field_off = 0;
    int rc = count_header_bytes(p, 4); /* ": " and CRLF */
    return rc != 0 ? rc : append(p, "", 1);
}

/* A Host value is uri-host [":" port]: no list, no path, no user info. 1 for ALPHA, DIGIT and
 * "-._~!$&'()*+;=:[]%"; 2 for SP and HTAB (OWS). */
static const uint8_t host_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,  /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x10 */
    2, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0,  /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0,  /* 0x30 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,  /* 0x50 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,  /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xd0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xe0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xf0 */
};

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct uvfib__http *h = from(p);
    if (h->in_trailers)
        return count_header_bytes(p, len);
    if (h->in_host) {
        for (size_t i = 0; i < len; i++) {
            uint8_t k = host_class[(unsigned char)at[i]];
            if (k == 2)
                h->host_ws = true; /* trailing OWS is not part of the value */
            else if (h->host_ws || k == 0)
                return reject(p, 400, "invalid Host header value");
        }
    }
    int rc = count_header_bytes(p, len);
    return rc != 0 ? rc : append(p, at, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    if (h->in_trailers)
        return 0;
    h->in_host = false;
    h->host_ws = false;
    h->msg.n_headers++;
    /* llhttp skips the whitespace before a value, not after it (RFC 9110 5.5: not part of the
     * value). The name's NUL ends the trim at an empty value. */
    while (h->msg.url[h->buf_len - 1] == ' ' || h->msg.url[h->buf_len - 1] == '\t')
        h->buf_len--;
    return append(p, "", 1);
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct uvfib__http *h = from(p);
    h->body_bytes += len;
    if (h->body_bytes > h->limits->max_body_bytes)
        return reject(p, 413, "request body too large");
    return append(p, at, len);
}

/* How many of the head's fields in h's buffer are named `name`, in any case; *all_are says
 * whether every one of them has the value `value`, in any case (values are stored trimmed). */
static unsigned head_fields(const struct uvfib__http *h, const char *name, const char *value,
                            bool *all_are)
{
    unsigned n = 0;
    *all_are = true;
    const char *at = h->msg.url + h->headers_off, *end = h->msg.url + h->buf_len;
    while (at < end) {
        const char *v = at + strlen(at) + 1; /* name\0value\0 */
        if (strcasecmp(at, name) == 0) {
            n++;
            *all_are = *all_are && strcasecmp(v, value) == 0;
        }
        at = v + strlen(v) + 1;
    }
    return n;
}

static int on_headers_complete(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    /* Refuse a declared body over the limit before reading any of it. */
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->limits->max_body_bytes)
        return reject(p, 413, "request body too large");
    if (finish_url(p) != 0)
        return HPE_USER;
    /* llhttp takes "HTTP/" DIGIT "." DIGIT and serves 0.9 and 2.0 as it does 1.1. */
    if (p->http_major != 1)
        return reject(p, 505, version_not_supported);
    /* llhttp undoes the chunking, the last coding, and would hand on any other coding's bytes
     * as they came: the connection answers 501 (RFC 9112 6.1) once the message is read. */
    bool all_chunked;
    h->msg.unknown_coding =
        (p->flags & F_CHUNKED) &&
        (head_fields(h, "transfer-encoding", "chunked", &all_chunked) != 1 || !all_chunked);
    h->body_off = h->buf_len;
    h->in_trailers = true; /* any field from here on is a trailer */
    /* A client that waits for 100 Continue before sending its body (curl does for bodies over
     * 1 KiB, then gives up waiting after a second). Only HTTP/1.1 knows 100, and only a body
     * to come needs it; a body over the limit was refused above, with a final status. */
    bool body_to_come = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) &&
                                                   p->content_length > 0);
    /* RFC 9110 10.1.1: 100-continue is the only expectation defined, its token in any case. */
    bool all_continue;
    h->wants_continue = h->saw_expect && body_to_come && p->http_minor >= 1 &&
                        head_fields(h, "expect", "100-continue", &all_continue) > 0 &&
                        all_continue;
    return 0;
}

/* Pausing here makes llhttp_execute() stop right after this message, so
 * pipelined requests come out one at a time (several would otherwise complete
 * inside one execute call). */
static int on_message_complete(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    h->in_message = false;
    h->msg.method = (uint8_t)p->method;
    h->msg.http_major = p->http_major;
    h->msg.http_minor = p->http_minor;
    h->msg.keep_alive = llhttp_should_keep_alive(p) != 0;
    h->msg.upgrade = p->upgrade != 0;
    if (finish_url(p) != 0)
        return HPE_USER;
    if (h->body_off == 0)
        h->body_off = h->buf_len;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void uvfib__http_init(struct uvfib__http *h, const struct uvfib__http_limits *limits)
{
    memset(h, 0, sizeof(*h));
    h->limits = limits;
    /* Strict by default: no lenient flag is ever set. */
    llhttp_init(&h->parser, HTTP_REQUEST, &settings);
    h->parser.data = h;
    uvfib__strict_init(&h->strict);
}

void uvfib__http_free(struct uvfib__http *h)
{
    uvfib__free(h->msg.url);
    h->msg.url = NULL;
    h->buf_len = h->buf_cap = 0;
}

static int fail(struct uvfib__http *h, int status, const char *msg)
{
    h->err_status = status;
    h->err_msg = msg;
    return UVFIB__HTTP_ERROR;
}

/* The status of a request line that llhttp refuses but that is well formed (if the strict check
 * passes it): a method llhttp does not know, or knows for RTSP only (501); another HTTP version,
 * or HTTP/2's preface (505). 0 for any other error. */
static int unimplemented(const struct uvfib__http *h, llhttp_errno_t err)
{
    const llhttp_t *p = &h->parser;
    if (err == HPE_INVALID_METHOD || (err == HPE_INVALID_CONSTANT && h->headers_off == 0))
        return 501;
    if (err == HPE_PAUSED_H2_UPGRADE ||
        (err == HPE_INVALID_VERSION && (p->http_major != 1 || p->http_minor > 1)))
        return 505;
    return 0;
}

static int fail_unimplemented(struct uvfib__http *h, int status)
{
    return fail(h, status, status == 501 ? "method not implemented" : version_not_supported);
}

/* Takes len more bytes of a request line whose verdict is held, which the strict check has
 * seen. The line is bounded as a target would be: llhttp, stopped, no longer counts it. */
static int hold(struct uvfib__http *h, size_t len, size_t *consumed)
{
    h->held_bytes += len;
    if (h->held_bytes > h->limits->max_url_bytes)
        return fail(h, 414, "request target too long");
    *consumed = len;
    return UVFIB__HTTP_MORE;
}

/* An error our callbacks raised keeps its status (llhttp reports some of them as HPE_CB_*
 * rather than HPE_USER); a request line llhttp does not implement is 501 or 505 once the strict
 * check has passed it whole; anything else is a malformed request. llhttp refuses a method or
 * version as soon as it reads it, perhaps before the rest of the line has come: then the
 * verdict is held (held_status), and the bytes go to the strict check alone until it has the
 * line, so that the answer does not depend on how the bytes were split. */
static int parse_error(struct uvfib__http *h, llhttp_errno_t err, size_t len, size_t *consumed)
{
    if (h->err_status != 0)
        return UVFIB__HTTP_ERROR;
    int status = unimplemented(h, err);
    if (status == 0)
        return fail(h, 400, "malformed HTTP request");
    if (uvfib__strict_line_done(&h->strict))
        return fail_unimplemented(h, status);
    h->held_status = status;
    return hold(h, len, consumed); /* the strict check has seen them */
}

/* More of a request line whose verdict is held (see parse_error). */
static int judge_held(struct uvfib__http *h, const char *data, size_t len, size_t *consumed)
{
    size_t scanned;
    if (uvfib__strict_feed(&h->strict, data, len, &scanned) == UVFIB__STRICT_ERROR)
        return fail(h, 400, uvfib__strict_reason(&h->strict));
    if (uvfib__strict_line_done(&h->strict))
        return fail_unimplemented(h, h->held_status);
    return hold(h, len, consumed);
}

int uvfib__http_feed(struct uvfib__http *h, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (h->err_status != 0)
        return UVFIB__HTTP_ERROR;
    if (h->held_status != 0)
        return judge_held(h, data, len, consumed);
    if (h->paused) {
        llhttp_resume(&h->parser);
        h->paused = false;
    }
    /* llhttp 8.1 still accepts some request-smuggling shapes in the head
     * (bare CR, obs-fold, empty names...): the strict check sees the head's
     * bytes first, whatever llhttp version we are built with. */
    if (!h->head_checked) {
        size_t scanned;
        int rc = uvfib__strict_feed(&h->strict, data, len, &scanned);
        if (rc == UVFIB__STRICT_ERROR)
            return fail(h, 400, uvfib__strict_reason(&h->strict));
        h->head_checked = rc == UVFIB__STRICT_DONE;
    }
    llhttp_errno_t err = llhttp_execute(&h->parser, data, len);
    switch (err) {
    case HPE_OK:
        *consumed = len;
        return UVFIB__HTTP_MORE;
    case HPE_PAUSED:
        *consumed = (size_t)(llhttp_get_error_pos(&h->parser) - data);
        h->paused = true;
        uvfib__strict_init(&h->strict); /* the next bytes start the next request */
        h->head_checked = false;
        return UVFIB__HTTP_MESSAGE;
    default:
        return parse_error(h, err, len, consumed);
    }
}

int uvfib__http_finish(struct uvfib__http *h)
{
    if (h->err_status != 0)
        return UVFIB__HTTP_ERROR;
    if (h->held_status != 0)
        return fail(h, 400, "malformed HTTP request"); /* the line never ended */
    if (h->paused)
        return UVFIB__HTTP_MORE;
    llhttp_errno_t err = llhttp_finish(&h->parser);
    if (err != HPE_OK || h->in_message) {
        size_t unused;
        return parse_error(h, err == HPE_OK ? HPE_INVALID_EOF_STATE : err, 0, &unused);
    }
    return UVFIB__HTTP_MORE;
}

void uvfib__http_take(struct uvfib__http *h, struct uvfib__http_msg *out)
{
    *out = h->msg;
    out->headers = out->url + h->headers_off;
    out->body_len = h->buf_len - h->body_off;
    out->body = out->body_len > 0 ? out->url + h->body_off : NULL;
    h->msg.url = NULL;
    h->msg.url_len = 0;
    h->buf_len = h->buf_cap = 0;
}

size_t uvfib__http_msg_size(const struct uvfib__http *h)
{
    return h->buf_len;
}

void uvfib__http_take_into(struct uvfib__http *h, struct uvfib__http_msg *out, char *dst)
{
    *out = h->msg;
    if (h->buf_len > 0)
        memcpy(dst, h->msg.url, h->buf_len);
    out->url = dst;
    out->headers = dst + h->headers_off;
    out->body_len = h->buf_len - h->body_off;
    out->body = out->body_len > 0 ? dst + h->body_off : NULL;
    if (h->buf_cap > UVFIB__HTTP_KEEP_BYTES) {
        uvfib__free(h->msg.url);
        h->msg.url = NULL;
        h->buf_cap = 0;
    }
    h->msg.url_len = 0;
    h->buf_len = 0;
}

const char *uvfib__http_msg_header(const struct uvfib__http_msg *msg, const char *name)
{
    const char *p = msg->headers;
    for (unsigned i = 0; i < msg->n_headers; i++) {
        const char *value = p + strlen(p) + 1;
        if (strcasecmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}
