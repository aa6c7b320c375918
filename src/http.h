/* http.h - llhttp glue: one request at a time out of a byte stream, with the target, headers
 * and body gathered across reads, the limits llhttp lacks (target, header block, header count,
 * body), and pipelining by pausing after each message. Trailer fields of a chunked body count
 * against the header limits and are dropped. Pure: no loop, no sockets. */
#ifndef UVFIB_HTTP_H
#define UVFIB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "strict.h"

enum {
    UVFIB__HTTP_MORE = 0, /* every byte consumed; no complete message yet */
    UVFIB__HTTP_MESSAGE,  /* one message complete: take it from h->msg */
    UVFIB__HTTP_ERROR     /* malformed or over a limit: h->err_status, h->err_msg */
};

struct uvfib__http_limits {
    size_t max_url_bytes;
    size_t max_header_bytes;
    unsigned max_headers;
    size_t max_body_bytes;
};

/* One parsed request, as handed to the connection. Its text lives in one buffer: the target,
 * then each header as "name\0value\0" in arrival order, then the body. From
 * uvfib__http_take it is owned through url (free it with uvfib__free(msg.url)); from
 * uvfib__http_take_into it is the caller's dst. */
struct uvfib__http_msg {
    char *url;                    /* owned until taken; NUL-terminated; the whole buffer */
    size_t url_len;
    const char *headers;          /* borrowed from url's buffer: n_headers "name\0value\0" */
    unsigned n_headers;
    const char *body;             /* borrowed from url's buffer; NULL when there is none */
    size_t body_len;
    uint8_t method;               /* llhttp_method_t */
    uint8_t http_major, http_minor;
    bool keep_alive;              /* llhttp_should_keep_alive() at message end */
    bool upgrade;                 /* Upgrade/CONNECT: we answer, then close */
    bool has_host;
    bool unknown_coding;          /* a transfer coding besides chunked: its body is not decoded */
};

/* Parser state of one connection: llhttp plus the spans it hands us in pieces. */
struct uvfib__http {
    llhttp_t parser;              /* parser.data == this */
    uvfib__strict_t strict;       /* RFC 9112 check of the current request head */
    bool head_checked;            /* strict has seen the whole head of this request */
    const struct uvfib__http_limits *limits; /* borrowed from the server */
    struct uvfib__http_msg msg;   /* the message being parsed; its pointers set when taken */
    size_t buf_len, buf_cap;      /* bytes used and allocated in msg.url's buffer */
    size_t headers_off, body_off; /* where the headers and the body start in it */
    size_t header_bytes;          /* names + values + separators so far, trailers included */
    unsigned n_headers;           /* header and trailer fields so far */
    size_t body_bytes;
    size_t field_off;             /* where the current header name starts in the buffer */
    bool in_host;                 /* parsing the value of the Host header */
    bool host_ws;                 /* whitespace seen in it: only more may follow (OWS) */
    bool in_trailers;             /* the head is over: fields now are trailers, not kept */
    bool saw_expect;              /* an Expect field is in this head */
    bool wants_continue;          /* the head asked for 100 Continue before its body (set
                                     at the head's end; the connection sends it and clears) */
    bool in_message;              /* between message begin and complete */
    bool paused;                  /* paused after a message: resume before the next feed */
    int held_status;              /* 501 or 505 from llhttp before the strict check had the
                                     whole request line, which then decides (http.c) */
    size_t held_bytes;            /* bytes of that line scanned since */
    int err_status;               /* HTTP status for an error: 400, 413, 414, 431, 501, 505 */
    const char *err_msg;          /* static text for an error */
};

void uvfib__http_init(struct uvfib__http *h, const struct uvfib__http_limits *limits);
void uvfib__http_free(struct uvfib__http *h);
/* Feeds data[0..len). *consumed says how many bytes were used: all of them for
 * MORE, up to the end of the message for MESSAGE (the rest belongs to the next
 * one: feed it again), unspecified for ERROR (errors are final). */
int uvfib__http_feed(struct uvfib__http *h, const char *data, size_t len, size_t *consumed);
/* The peer sent EOF. @return MORE when that is a clean end, ERROR mid-message. */
int uvfib__http_finish(struct uvfib__http *h);
/* Hands the completed message to the caller (who then owns msg->url, and with it the
 * headers and body). */
void uvfib__http_take(struct uvfib__http *h, struct uvfib__http_msg *out);
/* The bytes of the completed message's text (target, headers, body) that
 * uvfib__http_take_into() copies. */
size_t uvfib__http_msg_size(const struct uvfib__http *h);
/* As uvfib__http_take, but the message's text is copied to dst (uvfib__http_msg_size() bytes,
 * the caller's: out->url == dst, not to be freed on its own), and the parser keeps its buffer
 * for the next message when it is at most UVFIB__HTTP_KEEP_BYTES (larger ones are freed), so a
 * keep-alive connection's small requests need no allocation of their own. */
void uvfib__http_take_into(struct uvfib__http *h, struct uvfib__http_msg *out, char *dst);

/* The largest message buffer a connection keeps between requests. */
#define UVFIB__HTTP_KEEP_BYTES 256

/* The value of header `name` (any case) in msg, the first of them, or NULL. */
const char *uvfib__http_msg_header(const struct uvfib__http_msg *msg, const char *name);

#endif /* UVFIB_HTTP_H */
