/* response.c - see response.h. */
#include "response.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <uv.h> /* UV_E* codes only */

#include <cjson/cJSON.h>

#include "alloc.h"
#include "num.h"
#include "strict.h"

const char *uvfib__status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:
        return status < 300   ? "OK"
               : status < 400 ? "Redirection"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

void uvfib__http_date(time_t t, char *buf)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    char tmp[64];
    gmtime_r(&t, &tm);
    snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    memcpy(buf, tmp, 29); /* fixed width until the year 10000 */
    buf[29] = '\0';
}

int uvfib__header_add(struct uvfib__header **list, const char *name, const char *value)
{
    /* No CR or LF in either: a caller cannot split the response. */
    if (!uvfib__strict_token(name) || !uvfib__strict_field_value(value))
        return UV_EINVAL;
    size_t name_len = strlen(name), value_len = strlen(value);
    struct uvfib__header *hd = uvfib__malloc(sizeof(*hd) + name_len + value_len + 2);
    if (hd == NULL)
        return UV_ENOMEM;
    hd->next = NULL;
    hd->name_len = name_len;
    hd->value_len = value_len;
    memcpy(hd->text, name, name_len + 1);
    memcpy(hd->text + name_len + 1, value, value_len + 1);
    while (*list != NULL)
        list = &(*list)->next;
    *list = hd;
    return 0;
}

void uvfib__header_free(struct uvfib__header *list)
{
    while (list != NULL) {
        struct uvfib__header *next = list->next;
        uvfib__free(list);
        list = next;
    }
}

bool uvfib__response_has_no_content(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

bool uvfib__header_is_ours(const char *name)
{
    static const char *const ours[] = {"Content-Length", "Transfer-Encoding", "Connection",
                                       "Date"};
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
        if (strcasecmp(name, ours[i]) == 0)
            return true;
    return false;
}

/* What r's head needs: counted once, so the bytes are written in one pass. */
struct head {
    bool no_content;              /* 1xx, 204, 304: neither a body nor Content-Length */
    bool json_type;               /* add Content-Type: application/json */
    const char *reason;
    size_t reason_len;
    char status[21], length[21];
    size_t length_len;
    size_t total;                 /* bytes of the whole response */
};

static const char json_type[] = "Content-Type: application/json\r\n";

static int measure(const struct uvfib__response *r, struct head *h)
{
    if (r->status < 100 || r->status > 999)
        return UV_EINVAL;
    /* RFC 9110 6.4.1: these responses end at their header section whatever the handler gave, so
     * a length or body sent with them would be read as the start of the next response. And
     * with no content, there is no type to default. */
    h->no_content = uvfib__response_has_no_content(r->status);
    /* JSON unless the handler set its own type (the Prometheus text of /metrics). */
    h->json_type = !h->no_content;
    for (const struct uvfib__header *hd = r->headers; hd != NULL; hd = hd->next)
        if (strcasecmp(hd->text, "content-type") == 0)
            h->json_type = false;
    h->reason = uvfib__status_reason(r->status);
    h->reason_len = strlen(h->reason);
    uvfib__dec3((unsigned)r->status, h->status); /* 100..999, checked above */
    h->status[3] = '\0';
    h->length_len = uvfib__u64_to_dec(r->body_len, h->length);
    h->total = 9 + 3 + 1 + h->reason_len + 2 + (h->json_type ? sizeof(json_type) - 1 : 0) +
               (h->no_content ? 0 : 16 + h->length_len + 2) + 6 + 29 + 2 + 12 +
               (r->keep_alive ? 10 : 5) + 2 + 2 + (r->head || h->no_content ? 0 : r->body_len);
    for (const struct uvfib__header *hd = r->headers; hd != NULL; hd = hd->next)
        h->total += hd->name_len + 2 + hd->value_len + 2;
    return 0;
}

/* Appends len bytes of text at p; returns the end. */
static char *put(char *p, const char *text, size_t len)
{
    memcpy(p, text, len);
    return p + len;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

/* Writes r into buf, which has room for h->total bytes. @return the length written. */
static size_t write_out(const struct uvfib__response *r, const struct head *h, char *buf)
{
    char *p = PUT_LIT(buf, "HTTP/1.1 ");
    p = put(p, h->status, 3);
    p = PUT_LIT(p, " ");
    p = put(p, h->reason, h->reason_len);
    p = PUT_LIT(p, "\r\n");
    if (h->json_type)
        p = PUT_LIT(p, json_type);
    if (!h->no_content) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put(p, h->length, h->length_len);
        p = PUT_LIT(p, "\r\n");
    }
    p = PUT_LIT(p, "Date: ");
    p = put(p, r->date, 29);
    p = PUT_LIT(p, "\r\nConnection: ");
    p = r->keep_alive ? PUT_LIT(p, "keep-alive") : PUT_LIT(p, "close");
    p = PUT_LIT(p, "\r\n");
    for (const struct uvfib__header *hd = r->headers; hd != NULL; hd = hd->next) {
        p = put(p, hd->text, hd->name_len);
        p = PUT_LIT(p, ": ");
        p = put(p, hd->text + hd->name_len + 1, hd->value_len);
        p = PUT_LIT(p, "\r\n");
    }
    p = PUT_LIT(p, "\r\n");
    if (!r->head && !h->no_content && r->body_len > 0)
        p = put(p, r->body, r->body_len);
    return (size_t)(p - buf);
}

int uvfib__response_serialize(const struct uvfib__response *r, char **out, size_t *out_len)
{
    struct head h;
    int err = measure(r, &h);
    if (err < 0)
        return err;
    char *buf = uvfib__malloc(h.total);
    if (buf == NULL)
        return UV_ENOMEM;
    *out_len = write_out(r, &h, buf);
    *out = buf;
    return 0;
}

/* Prints a tree into memory we own, so every caller frees with uvfib__free. Small trees are
 * printed into the stack first (cJSON_PrintPreallocated) and copied once; larger ones fall back
 * to cJSON's own allocation. */
static char *print_owned(cJSON *json, size_t *len)
{
    char stack[512];
    if (json == NULL)
        return NULL;
    if (cJSON_PrintPreallocated(json, stack, (int)sizeof(stack), 0)) {
        char *copy = uvfib__strndup(stack, strlen(stack));
        if (copy != NULL)
            *len = strlen(copy);
        return copy;
    }
    char *text = cJSON_PrintUnformatted(json);
    char *copy = text == NULL ? NULL : uvfib__strndup(text, strlen(text));
    if (copy != NULL)
        *len = strlen(copy);
    cJSON_free(text);
    return copy;
}

char *uvfib__json_error(const char *message, size_t *len)
{
    cJSON *json = cJSON_CreateObject();
    char *text = NULL;
    if (json != NULL && cJSON_AddFalseToObject(json, "success") != NULL &&
        cJSON_AddStringToObject(json, "error", message) != NULL)
        text = print_owned(json, len);
    cJSON_Delete(json);
    return text;
}
