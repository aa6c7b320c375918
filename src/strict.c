/* strict.c - a byte-at-a-time checker of one HTTP/1.x request head against RFC 9112 §2-§5 and
 * the token and field-value rules of RFC 9110 §5.1, §5.5. It stands beside llhttp so that
 * uvfib answers 400 to what llhttp 8.1 lets through; it neither parses nor stores anything.
 * Not here: sizes (http.c counts bytes), Content-Length, Transfer-Encoding codings, the body. */
#include "strict.h"

#include <stdbool.h>

/* Where the next byte lands. A state survives between calls, so a head may be split at any
 * byte; the order of S_VERSION_H .. S_VERSION_END matters (each steps to the next). */
enum state {
    S_LEADING,       /* before the request-line: the CR of an empty line or the method */
    S_LEADING_LF,    /* after that CR; LF must follow */
    S_METHOD,        /* in the method token */
    S_TARGET_FIRST,  /* after the single SP that ends the method */
    S_TARGET,        /* in the request-target */
    S_VERSION_H,     /* "HTTP/" one byte per state, in order */
    S_VERSION_T1,
    S_VERSION_T2,
    S_VERSION_P,
    S_VERSION_SLASH,
    S_VERSION_MAJOR, /* DIGIT */
    S_VERSION_DOT,   /* "." */
    S_VERSION_MINOR, /* DIGIT */
    S_VERSION_END,   /* CR that ends the request-line */
    S_REQLINE_LF,    /* after that CR; LF must follow */
    S_LINE_START,    /* first byte of a field line, or the CR of the empty line */
    S_NAME,          /* in a field name */
    S_VALUE,         /* after the colon: OWS field-value OWS */
    S_VALUE_LF,      /* after the CR that ends a field line; LF must follow */
    S_END_LF,        /* after the CR of the empty line; LF must follow */
    S_DONE,          /* the head is over; sticky until init */
    S_ERROR,         /* a rule was broken; sticky until init */
};

/* Byte classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar, RFC 9112 §3.2 request-target). */
enum {
    C_TCHAR = 1,  /* "!#$%&'*+-.^_`|~", DIGIT, ALPHA */
    C_TARGET = 2, /* VCHAR 0x21-0x7E: URIs are ASCII, so no obs-text, no SP, no CTL */
    C_VALUE = 4,  /* HTAB, SP, VCHAR, obs-text 0x80-0xFF: not NUL, CR, LF, other CTLs, DEL */
};

static const uint8_t char_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0,  /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x10 */
    4, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,  /* 0x20 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,  /* 0x30 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,  /* 0x40 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,  /* 0x50 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,  /* 0x60 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,  /* 0x70 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0x80 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0x90 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xa0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xb0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xc0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xd0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xe0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  /* 0xf0 */
};

/* An empty Transfer-Encoding next to a Content-Length is a smuggling shape: llhttp 8.1 drops
 * the empty field and frames by Content-Length, while a peer may read "chunked"; llhttp 9
 * rejects it ("Empty Transfer-Encoding"). Spotting it needs the field name, matched here
 * case-insensitively while it streams past (te_match), and one bit of the value (te_value). */
static const char te_name[] = "transfer-encoding";
enum {
    TE_LEN = sizeof(te_name) - 1, /* te_match once the whole name matched */
    TE_NO = 0xff,                 /* te_match once the name cannot be Transfer-Encoding */
    TE_EMPTY = 1,                 /* te_value: in a Transfer-Encoding value, only OWS so far */
    TE_SET = 2,                   /* te_value: it has a visible byte */
};

void uvfib__strict_init(uvfib__strict_t *s)
{
    s->state = S_LEADING;
    s->n_leading_crlf = 0;
    s->te_match = TE_NO;
    s->te_value = 0;
    s->reason = NULL;
}

bool uvfib__strict_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!(char_class[(unsigned char)*s] & C_TCHAR))
            return false;
    return true;
}

bool uvfib__strict_field_value(const char *s)
{
    for (; *s != '\0'; s++)
        if (!(char_class[(unsigned char)*s] & C_VALUE))
            return false;
    return true;
}

bool uvfib__strict_line_done(const uvfib__strict_t *s)
{
    return s->state >= S_LINE_START && s->state != S_ERROR;
}

const char *uvfib__strict_reason(const uvfib__strict_t *s)
{
    return s->state == S_ERROR ? s->reason : NULL;
}

static int fail(uvfib__strict_t *s, const char *reason, size_t at, size_t *consumed)
{
    s->state = S_ERROR;
    s->reason = reason;
    *consumed = at;
    return UVFIB__STRICT_ERROR;
}

static bool is_crlf_byte(unsigned c)
{
    return c == '\r' || c == '\n';
}

/* One switch per byte, and tight loops over the long runs (target, names, values), which are
 * most of a head. Every rejected byte names its rule in the reason. */
int uvfib__strict_feed(uvfib__strict_t *s, const char *data, size_t len, size_t *consumed)
{
    const unsigned char *p = (const unsigned char *)data;
    unsigned state = s->state;
    unsigned te_match = s->te_match;
    unsigned te_value = s->te_value;
    size_t i;

    if (state == S_DONE || state == S_ERROR) {
        *consumed = 0;
        return state == S_DONE ? UVFIB__STRICT_DONE : UVFIB__STRICT_ERROR;
    }
    for (i = 0; i < len; i++) {
        unsigned c = p[i];

        switch (state) {
        case S_LEADING:
            if (c == '\r') {
                state = S_LEADING_LF;
            } else if (c == '\n') {
                return fail(s, "bare LF before request line", i, consumed);
            } else if (char_class[c] & C_TCHAR) {
                state = S_METHOD;
            } else {
                return fail(s, "invalid character in method", i, consumed);
            }
            break;

        case S_LEADING_LF:
            if (c != '\n') {
                return fail(s, "bare CR before request line", i, consumed);
            }
            if (++s->n_leading_crlf > UVFIB__STRICT_MAX_LEADING_CRLF) {
                return fail(s, "too many empty lines before request line", i, consumed);
            }
            state = S_LEADING;
            break;

        case S_METHOD:
            if (char_class[c] & C_TCHAR) {
                break;
            }
            if (c == ' ') {
                state = S_TARGET_FIRST;
                break;
            }
            return fail(s, is_crlf_byte(c) ? "missing request target"
                                           : "invalid character in method", i, consumed);

        case S_TARGET_FIRST:
            if (char_class[c] & C_TARGET) {
                state = S_TARGET;
                break;
            }
            if (c == ' ') {
                return fail(s, "more than one space after method", i, consumed);
            }
            return fail(s, is_crlf_byte(c) ? "missing request target"
                                           : "invalid character in request target", i, consumed);

        case S_TARGET:
            while (char_class[c] & C_TARGET) {
                if (++i == len) {
                    goto more;
                }
                c = p[i];
            }
            if (c == ' ') {
                state = S_VERSION_H;
                break;
            }
            return fail(s, is_crlf_byte(c) ? "missing HTTP version"
                                           : "invalid character in request target", i, consumed);

        case S_VERSION_H:
        case S_VERSION_T1:
        case S_VERSION_T2:
        case S_VERSION_P:
        case S_VERSION_SLASH:
            if (c != (unsigned char)"HTTP/"[state - S_VERSION_H]) {
                return fail(s, c == ' ' && state == S_VERSION_H
                                   ? "more than one space before HTTP version"
                                   : "invalid HTTP version", i, consumed);
            }
            state++;
            break;

        case S_VERSION_MAJOR:
        case S_VERSION_MINOR:
            if (c < '0' || c > '9') {
                return fail(s, "invalid HTTP version", i, consumed);
            }
            state++;
            break;

        case S_VERSION_DOT:
            if (c != '.') {
                return fail(s, "invalid HTTP version", i, consumed);
            }
            state++;
            break;

        case S_VERSION_END:
            if (c == '\r') {
                state = S_REQLINE_LF;
                break;
            }
            return fail(s, c == '\n' ? "bare LF in request line" : "invalid HTTP version", i,
                        consumed);

        case S_REQLINE_LF:
            if (c != '\n') {
                return fail(s, "bare CR in request line", i, consumed);
            }
            state = S_LINE_START;
            break;

        case S_LINE_START:
            if (c == '\r') {
                state = S_END_LF;
                break;
            }
            if (char_class[c] & C_TCHAR) {
                te_match = (c | 0x20) == (unsigned char)te_name[0] ? 1 : TE_NO;
                state = S_NAME;
                break;
            }
            if (c == ' ' || c == '\t') {
                /* obs-fold (RFC 9112 §5.2) or whitespace before the first field name (§2.2):
                 * both are rejected, so no two parsers can disagree on where a field ends. */
                return fail(s, "whitespace at start of header line", i, consumed);
            }
            return fail(s, c == '\n'  ? "bare LF in header"
                           : c == ':' ? "empty header name"
                                      : "invalid character in header name", i, consumed);

        case S_NAME:
            while (char_class[c] & C_TCHAR) {
                if (te_match != TE_NO) {
                    te_match = te_match < TE_LEN && (c | 0x20) == (unsigned char)te_name[te_match]
                                   ? te_match + 1
                                   : TE_NO;
                }
                if (++i == len) {
                    goto more;
                }
                c = p[i];
            }
            if (c == ':') {
                te_value = te_match == TE_LEN ? TE_EMPTY : 0;
                state = S_VALUE;
                break;
            }
            if (c == ' ' || c == '\t') {
                return fail(s, "whitespace before colon in header", i, consumed);
            }
            return fail(s, is_crlf_byte(c) ? "header line without colon"
                                           : "invalid character in header name", i, consumed);

        case S_VALUE:
            if (te_value == TE_EMPTY && (char_class[c] & C_VALUE)) {
                if (c == ' ' || c == '\t') {
                    break;
                }
                te_value = TE_SET;
            }
            while (char_class[c] & C_VALUE) {
                if (++i == len) {
                    goto more;
                }
                c = p[i];
            }
            if (c == '\r') {
                if (te_value == TE_EMPTY) {
                    return fail(s, "empty Transfer-Encoding", i, consumed);
                }
                state = S_VALUE_LF;
                break;
            }
            return fail(s, c == '\n' ? "bare LF in header" : "invalid character in header value",
                        i, consumed);

        case S_VALUE_LF:
            if (c != '\n') {
                return fail(s, "bare CR in header", i, consumed);
            }
            state = S_LINE_START;
            break;

        case S_END_LF:
            if (c != '\n') {
                return fail(s, "bare CR in header", i, consumed);
            }
            s->state = S_DONE;
            *consumed = i + 1;
            return UVFIB__STRICT_DONE;

        default:
            return fail(s, "internal error: bad state", i, consumed);
        }
    }
more:
    s->state = (uint8_t)state;
    s->te_match = (uint8_t)te_match;
    s->te_value = (uint8_t)te_value;
    *consumed = len;
    return UVFIB__STRICT_MORE;
}
