/* accesslog.c - see accesslog.h. Two buffers: the loop appends to `front`
 * under a mutex held only for a memcpy; the writer swaps front and back under
 * the same mutex and writes `back` without it. A full front drops the line. */
#include "accesslog.h"

#include "alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


struct uvfib__accesslog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* signalled when front gets data or stop is set */
    int fd;                       /* borrowed */
    char *front, *back;           /* owned, cap bytes each; front under mu, back: writer's */
    size_t front_len, cap;
    bool stop;                    /* under mu */
    void (*on_exit)(void *arg);
    void *arg;
};

/* ------------------------------------------------------------------ format */

/* Appends s as the inside of a JSON string: quote, backslash and control bytes
 * escaped; other bytes (UTF-8 included) as they are. */
static size_t json_str(char *p, size_t room, const char *s, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; s[i] != '\0' && i < max; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        size_t k;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            k = 2;
        } else if (ch < 0x20 || ch == 0x7f) {
            k = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", ch);
        } else {
            esc[0] = (char)ch;
            k = 1;
        }
        if (n + k >= room)
            return room; /* too long: the caller sees it and gives up */
        memcpy(p + n, esc, k);
        n += k;
    }
    return n;
}

size_t uvfib__accesslog_format(char *buf, size_t cap, const struct uvfib__accesslog_entry *e)
{
    time_t sec = (time_t)(e->time_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char when[40];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

    size_t n = 0;
    int k = snprintf(buf, cap, "{\"time\":\"%s.%03dZ\",\"method\":\"", when,
                     (int)(e->time_ms % 1000));
    if (k < 0 || (size_t)k >= cap)
        return 0;
    n = (size_t)k;
    n += json_str(buf + n, cap - n, e->method ? e->method : "-", 32);
    if (n >= cap)
        return 0;
    k = snprintf(buf + n, cap - n, "\",\"path\":\"");
    if (k < 0 || (size_t)k >= cap - n)
        return 0;
    n += (size_t)k;
    n += json_str(buf + n, cap - n, e->target ? e->target : "-", 1024);
    if (n >= cap)
        return 0;
    k = snprintf(buf + n, cap - n, "\",\"route\":\"");
    if (k < 0 || (size_t)k >= cap - n)
        return 0;
    n += (size_t)k;
    n += json_str(buf + n, cap - n, e->route ? e->route : "unmatched", 256);
    if (n >= cap)
        return 0;
    k = snprintf(buf + n, cap - n,
                 "\",\"status\":%d,\"bytes\":%" PRIu64
                 ",\"duration_ms\":%.3f,\"queue_ms\":%.3f,\"compute_ms\":%.3f}\n",
                 e->status, e->bytes, (double)e->duration_ns / 1e6, (double)e->wait_ns / 1e6,
                 (double)e->compute_ns / 1e6);
    if (k < 0 || (size_t)k >= cap - n)
        return 0;
    return n + (size_t)k;
}

/* ------------------------------------------------------------------ writer */

/* Writes all of data, waiting while the descriptor is full (a non-blocking
 * pipe). Gives up on a real error: the log is best effort. */
static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 1000);
        } else {
            return;
        }
    }
}

static void *writer(void *arg)
{
    struct uvfib__accesslog *log = arg;
    pthread_mutex_lock(&log->mu);
    for (;;) {
        while (log->front_len == 0 && !log->stop)
            pthread_cond_wait(&log->cv, &log->mu);
        if (log->front_len == 0)
            break; /* stopped, and everything is written */
        char *full = log->front;
        size_t len = log->front_len;
        log->front = log->back;
        log->front_len = 0;
        log->back = full;
        pthread_mutex_unlock(&log->mu);
        write_all(log->fd, full, len);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    if (log->on_exit != NULL)
        log->on_exit(log->arg);
    return NULL;
}

int uvfib__accesslog_start(struct uvfib__accesslog **out, int fd, size_t buffer_bytes,
                           void (*on_exit)(void *arg), void *arg)
{
    struct uvfib__accesslog *log = uvfib__malloc(sizeof(*log));
    if (log == NULL)
        return -ENOMEM;
    memset(log, 0, sizeof(*log));
    log->fd = fd;
    log->cap = buffer_bytes > 0 ? buffer_bytes : 1;
    log->on_exit = on_exit;
    log->arg = arg;
    log->front = uvfib__malloc(log->cap);
    log->back = uvfib__malloc(log->cap);
    int err = log->front == NULL || log->back == NULL ? -ENOMEM : 0;
    if (err == 0) {
        pthread_mutex_init(&log->mu, NULL);
        pthread_cond_init(&log->cv, NULL);
        err = -pthread_create(&log->thread, NULL, writer, log);
        if (err < 0) {
            pthread_cond_destroy(&log->cv);
            pthread_mutex_destroy(&log->mu);
        }
    }
    if (err < 0) {
        uvfib__free(log->front);
        uvfib__free(log->back);
        uvfib__free(log);
        return err;
    }
    *out = log;
    return 0;
}

bool uvfib__accesslog_write(struct uvfib__accesslog *log, const char *line, size_t len)
{
    bool ok;
    pthread_mutex_lock(&log->mu);
    ok = !log->stop && len <= log->cap - log->front_len;
    if (ok) {
        memcpy(log->front + log->front_len, line, len);
        log->front_len += len;
        pthread_cond_signal(&log->cv);
    }
    pthread_mutex_unlock(&log->mu);
    return ok;
}

void uvfib__accesslog_stop(struct uvfib__accesslog *log)
{
    pthread_mutex_lock(&log->mu);
    log->stop = true;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

void uvfib__accesslog_free(struct uvfib__accesslog *log)
{
    pthread_join(log->thread, NULL);
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    uvfib__free(log->front);
    uvfib__free(log->back);
    uvfib__free(log);
}
