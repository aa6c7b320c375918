/* http.c - llhttp glue: one request at a time out of a byte stream, with the
 * URL gathered across reads, the limits llhttp lacks (URL, header block,
 * header count, body), and pipelining by pausing after each message.
 * Pure: no loop, no sockets; the connection feeds it bytes. */
#include "internal.h"

#include <string.h>

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

static int on_message_begin(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    h->in_message = true;
    h->header_bytes = 0;
    h->n_headers = 0;
    h->body_bytes = 0;
    h->field_len = 0;
    h->msg.url_len = 0;
    h->msg.has_host = false;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct uvfib__http *h = from(p);
    size_t need = h->msg.url_len + len;
    if (need > h->limits->max_url_bytes)
        return reject(p, 414, "request target too long");
    if (need + 1 > h->url_cap) {
        size_t cap = h->url_cap == 0 ? 64 : h->url_cap;
        while (cap < need + 1)
            cap *= 2;
        char *url = uvfib__realloc(h->msg.url, cap);
        if (url == NULL)
            return reject(p, 500, "out of memory");
        h->msg.url = url;
        h->url_cap = cap;
    }
    memcpy(h->msg.url + h->msg.url_len, at, len);
    h->msg.url_len = need;
    h->msg.url[need] = '\0';
    return 0;
}

static int count_header_bytes(llhttp_t *p, size_t len)
{
    struct uvfib__http *h = from(p);
    h->header_bytes += len;
    if (h->header_bytes > h->limits->max_header_bytes)
        return reject(p, 431, "request header fields too large");
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct uvfib__http *h = from(p);
    /* Keep only the start of the name, lower-cased: enough to recognise "host". */
    for (size_t i = 0; i < len && h->field_len + i < sizeof(h->field); i++) {
        char c = at[i];
        h->field[h->field_len + i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    h->field_len += len;
    return count_header_bytes(p, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    if (++h->n_headers > h->limits->max_headers)
        return reject(p, 431, "too many header fields");
    if (h->field_len == 4 && memcmp(h->field, "host", 4) == 0) {
        /* RFC 9112 3.2: two Host lines could make a proxy and this server
         * disagree on the target. */
        if (h->msg.has_host)
            return reject(p, 400, "more than one Host header");
        h->msg.has_host = true;
        h->in_host = true;
    }
    h->field_len = 0;
    return count_header_bytes(p, 4); /* ": " and CRLF */
}

/* A Host value is uri-host [":" port]: no list, no path, no user info. */
static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~!$&'()*+;=:[]%", c) != NULL);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct uvfib__http *h = from(p);
    for (size_t i = 0; h->in_host && i < len; i++) {
        if (at[i] == ' ' || at[i] == '\t')
            h->host_ws = true; /* trailing OWS is not part of the value */
        else if (h->host_ws || !host_char(at[i]))
            return reject(p, 400, "invalid Host header value");
    }
    return count_header_bytes(p, len);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    h->in_host = false;
    h->host_ws = false;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct uvfib__http *h = from(p);
    h->body_bytes += len;
    if (h->body_bytes > h->limits->max_body_bytes)
        return reject(p, 413, "request body too large");
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct uvfib__http *h = from(p);
    /* Refuse a declared body over the limit before reading any of it. */
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > h->limits->max_body_bytes)
        return reject(p, 413, "request body too large");
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
    if (h->msg.url == NULL && on_url(p, "", 0) != 0)
        return HPE_USER;
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
    h->url_cap = 0;
}

/* An error our callbacks raised keeps its status (llhttp reports some of them
 * as HPE_CB_* rather than HPE_USER); anything else is a malformed request. */
static int parse_error(struct uvfib__http *h, llhttp_errno_t err)
{
    if (h->err_status == 0) {
        h->err_status = 400;
        h->err_msg = "malformed HTTP request";
    }
    return UVFIB__HTTP_ERROR;
}

int uvfib__http_feed(struct uvfib__http *h, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (h->err_status != 0)
        return UVFIB__HTTP_ERROR;
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
        if (rc == UVFIB__STRICT_ERROR) {
            h->err_status = 400;
            h->err_msg = uvfib__strict_reason(&h->strict);
            return UVFIB__HTTP_ERROR;
        }
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
        return parse_error(h, err);
    }
}

int uvfib__http_finish(struct uvfib__http *h)
{
    if (h->err_status != 0)
        return UVFIB__HTTP_ERROR;
    if (h->paused)
        return UVFIB__HTTP_MORE;
    llhttp_errno_t err = llhttp_finish(&h->parser);
    if (err != HPE_OK || h->in_message)
        return parse_error(h, err == HPE_OK ? HPE_INVALID_EOF_STATE : err);
    return UVFIB__HTTP_MORE;
}

void uvfib__http_take(struct uvfib__http *h, struct uvfib__http_msg *out)
{
    *out = h->msg;
    h->msg.url = NULL;
    h->msg.url_len = 0;
    h->url_cap = 0;
}
