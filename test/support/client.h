/* client.h - a blocking raw-socket HTTP client for tests: every call has a
 * deadline, so a hung server fails a test instead of hanging it. */
#ifndef UVFIB_TEST_CLIENT_H
#define UVFIB_TEST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct response {
    int status;
    char headers[2048];  /* the header block, NUL-terminated */
    char body[4096];     /* NUL-terminated */
    size_t body_len;
};

/* Connects to 127.0.0.1:port. @return fd or -1. */
int client_connect(int port);
/* Sends all of text. @return 0 or -1. */
int client_send(int fd, const char *text);
/* Sends len bytes, NULs included. @return 0, or -1 if the peer is gone. */
int client_send_bytes(int fd, const char *data, size_t len);
/* Reads one response (Content-Length framed). @return 0, or -1 on timeout/EOF/garbage. */
int client_read(int fd, struct response *r, int timeout_ms);
/* Sends "GET path" with Host and reads the response. */
int client_get(int fd, const char *path, struct response *r, int timeout_ms);
/* The value of a header (case-insensitive name) copied into out, or false. */
bool client_header(const struct response *r, const char *name, char *out, size_t cap);
/* True when the peer closes (EOF or reset) within timeout_ms with no more data. */
bool client_closed(int fd, int timeout_ms);
/* True when data is ready to read within timeout_ms. */
bool client_readable(int fd, int timeout_ms);

#endif
