/* client.c - see client.h. Deliberately simple: one response at a time,
 * buffered per file descriptor so pipelined responses are not lost. */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes read past the end of a response, kept for the next one (per fd). */
#define MAX_FD 4096
static char *leftover[MAX_FD];
static size_t leftover_len[MAX_FD];

int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || fd >= MAX_FD)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    free(leftover[fd]);
    leftover[fd] = NULL;
    leftover_len[fd] = 0;
    return fd;
}

int client_send_bytes(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int client_send(int fd, const char *text)
{
    return client_send_bytes(fd, text, strlen(text));
}

bool client_readable(int fd, int timeout_ms)
{
    if (leftover_len[fd] > 0)
        return true;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1;
}

int client_read(int fd, struct response *r, int timeout_ms)
{
    memset(r, 0, sizeof(*r));
    size_t cap = 65536, len = leftover_len[fd];
    char *buf = malloc(cap);
    if (buf == NULL)
        return -1;
    if (len > 0)
        memcpy(buf, leftover[fd], len);
    free(leftover[fd]);
    leftover[fd] = NULL;
    leftover_len[fd] = 0;

    int rc = -1;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            size_t head_len = (size_t)(end - buf) + 4;
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t body_len = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (len >= head_len + body_len) {
                r->status = atoi(buf + 9);
                size_t hl = head_len < sizeof(r->headers) ? head_len : sizeof(r->headers) - 1;
                memcpy(r->headers, buf, hl);
                size_t bl = body_len < sizeof(r->body) ? body_len : sizeof(r->body) - 1;
                memcpy(r->body, buf + head_len, bl);
                r->body_len = body_len;
                size_t used = head_len + body_len;
                if (len > used) {
                    leftover[fd] = malloc(len - used);
                    memcpy(leftover[fd], buf + used, len - used);
                    leftover_len[fd] = len - used;
                }
                rc = 0;
                break;
            }
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (len + 1 >= cap || poll(&p, 1, timeout_ms) != 1)
            break;
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    free(buf);
    return rc;
}

int client_get(int fd, const char *path, struct response *r, int timeout_ms)
{
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    if (client_send(fd, req) != 0)
        return -1;
    return client_read(fd, r, timeout_ms);
}

bool client_header(const struct response *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nlen) == 0 && p[2 + nlen] == ':') {
            const char *v = p + 3 + nlen;
            while (*v == ' ')
                v++;
            size_t vlen = strcspn(v, "\r");
            if (vlen >= cap)
                vlen = cap - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
    }
    return false;
}

bool client_closed(int fd, int timeout_ms)
{
    if (leftover_len[fd] > 0)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) != 1)
        return false;
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}
