/* accesslog.c - see accesslog.h. Two buffers: the loop appends to `front` under a mutex held
 * only for a memcpy; the writer swaps front and back under the same mutex and writes `back`
 * without it. A full front drops the line. Lines are written in batches (GATHER_NS). The
 * writer never blocks in write(2), so a stop with a deadline is kept even when nobody reads
 * the descriptor: it gives up, and counts the lines it could not write. */
#include "accesslog.h"

#include "alloc.h"
#include "num.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


struct uvfib__accesslog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* signalled when front gets data or stop is set */
    int fd;                       /* borrowed */
    bool is_socket;               /* written with send(MSG_DONTWAIT) */
    bool careful;                 /* blocking pipe or terminal: poll first, PIPE_BUF at most */
    bool whole_lines;             /* a pipe: each write whole lines of at most PIPE_BUF bytes */
    char *front, *back;           /* owned, cap bytes each; front under mu, back: writer's */
    size_t front_len, cap;
    bool stop;                    /* under mu */
    uint64_t give_up_ns;          /* under mu: once stopped, give up at this CLOCK_MONOTONIC
                                     time (0: wait as long as the descriptor takes lines) */
    bool gave_up;                 /* under mu: lines left were counted in unwritten */
    uint64_t unwritten;           /* under mu: lines accepted that never reached fd */
    void (*on_exit)(void *arg);
    void *arg;
};

/* ------------------------------------------------------------------ format */

/* 1 for a byte that goes into a JSON string as it is: not NUL (the end), a control byte, DEL,
 * quote or backslash. */
static const uint8_t json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,  /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,  /* 0x70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x90 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0xa0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0xb0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0xc0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0xd0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0xe0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0xf0 */
};

/* Appends s as the inside of a JSON string: quote, backslash and control bytes
 * escaped; other bytes (UTF-8 included) as they are. Runs of plain bytes (all of most
 * targets) are copied whole rather than byte by byte. At most max bytes are appended: the
 * string is cut there, never inside an escape or a UTF-8 sequence, so that a line's length
 * has a bound whatever the client sent (a target of quotes doubles when escaped).
 * @return the bytes appended, or room when they do not fit in p[room]. */
static size_t json_str(char *p, size_t room, const char *s, size_t max)
{
    size_t n = 0;
    size_t i = 0;
    for (;;) {
        size_t run = i;
        while (run - i < max - n && json_plain[(unsigned char)s[run]])
            run++;
        /* Cut by max in the middle of plain bytes: back to the start of a UTF-8 sequence, at
         * most 3 bytes (no sequence is longer; stray continuation bytes are cut anywhere). */
        if (json_plain[(unsigned char)s[run]])
            for (int k = 0; k < 3 && run > i && ((unsigned char)s[run] & 0xc0) == 0x80; k++)
                run--;
        if (run > i) {
            if (n + (run - i) >= room)
                return room; /* too long: the caller sees it and gives up */
            memcpy(p + n, s + i, run - i);
            n += run - i;
            i = run;
        }
        if (s[i] == '\0' || json_plain[(unsigned char)s[i]])
            return n; /* the end, or cut */
        unsigned char ch = (unsigned char)s[i++];
        char esc[8];
        size_t k;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            k = 2;
        } else {
            k = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", ch);
        }
        if (k > max - n)
            return n; /* cut before an escape that would pass max */
        if (n + k >= room)
            return room;
        memcpy(p + n, esc, k);
        n += k;
    }
}

/* Appends literal text. @return the new length, or cap when it does not fit. */
static size_t put(char *buf, size_t n, size_t cap, const char *text, size_t len)
{
    if (n >= cap || len >= cap - n)
        return cap;
    memcpy(buf + n, text, len);
    return n + len;
}

/* Appends a string literal, its length counted by the compiler. */
#define PUT_LIT(buf, n, cap, lit) put((buf), (n), (cap), (lit), sizeof(lit) - 1)

/* Appends the decimal digits of v: in place when the longest number and its NUL fit. */
static size_t put_u64(char *buf, size_t n, size_t cap, uint64_t v)
{
    if (n < cap && cap - n > 20)
        return n + uvfib__u64_to_dec(v, buf + n);
    char digits[21];
    return put(buf, n, cap, digits, uvfib__u64_to_dec(v, digits));
}

/* Appends ns as milliseconds with three decimals, rounded to the microsecond, as "%.3f" would
 * print it but without floating point. */
static size_t put_ms(char *buf, size_t n, size_t cap, uint64_t ns)
{
    uint64_t us = (ns + 500) / 1000;
    n = put_u64(buf, n, cap, us / 1000);
    char tail[4] = {'.'};
    uvfib__dec3((unsigned)(us % 1000), tail + 1);
    return put(buf, n, cap, tail, sizeof(tail));
}

size_t uvfib__accesslog_format(char *buf, size_t cap, const struct uvfib__accesslog_entry *e)
{
    /* gmtime and strftime once per second: the loop formats every request's line. */
    static _Thread_local int64_t cached_sec = -1;
    static _Thread_local char when[24]; /* "2023-11-14T22:13:20" */
    int64_t sec = e->time_ms / 1000;
    if (sec != cached_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    char ms[21];
    if (e->time_ms >= 0) {
        uvfib__dec3((unsigned)(e->time_ms % 1000), ms);
    } else {
        uvfib__u64_to_dec_pad((uint64_t)(e->time_ms % 1000), 3, ms); /* as it always was */
    }

    size_t n = PUT_LIT(buf, 0, cap, "{\"time\":\"");
    n = put(buf, n, cap, when, strlen(when));
    n = PUT_LIT(buf, n, cap, ".");
    n = put(buf, n, cap, ms, 3);
    n = PUT_LIT(buf, n, cap, "Z\",\"method\":\"");
    if (n < cap)
        n += json_str(buf + n, cap - n, e->method ? e->method : "-", 32);
    n = PUT_LIT(buf, n, cap, "\",\"path\":\"");
    if (n < cap)
        n += json_str(buf + n, cap - n, e->target ? e->target : "-", 1024);
    n = PUT_LIT(buf, n, cap, "\",\"route\":\"");
    if (n < cap)
        n += json_str(buf + n, cap - n, e->route ? e->route : "unmatched", 256);
    n = PUT_LIT(buf, n, cap, "\",\"status\":");
    n = put_u64(buf, n, cap, e->status > 0 ? (uint64_t)e->status : 0);
    n = PUT_LIT(buf, n, cap, ",\"bytes\":");
    n = put_u64(buf, n, cap, e->bytes);
    n = PUT_LIT(buf, n, cap, ",\"duration_ms\":");
    n = put_ms(buf, n, cap, e->duration_ns);
    n = PUT_LIT(buf, n, cap, ",\"queue_ms\":");
    n = put_ms(buf, n, cap, e->wait_ns);
    n = PUT_LIT(buf, n, cap, ",\"compute_ms\":");
    n = put_ms(buf, n, cap, e->compute_ns);
    n = PUT_LIT(buf, n, cap, "}\n");
    /* The line and its terminating NUL must fit. */
    if (n >= cap)
        return 0;
    buf[n] = '\0';
    return n;
}

/* ------------------------------------------------------------------ writer */

/* How long the writer waits in one poll(2) for room on the descriptor before looking again at
 * whether it has been told to give up. */
#define POLL_SLICE_MS 100

/* While stopping, a descriptor that has taken nothing for this long is given up on: nobody
 * reads it (a pipe whose reader hangs), and the server must not wait for it. */
#define STALL_NS (1000ull * 1000000ull)

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t count_lines(const char *data, size_t len)
{
    uint64_t n = 0;
    for (const char *p = data, *end = data + len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        n++;
    return n;
}

/* One write that never waits for the reader: a socket through send(MSG_DONTWAIT); a
 * descriptor in blocking mode (a pipe or terminal we must not switch to non-blocking, as that
 * would change it for everyone who shares it) only after poll(2) says it has room, and then no
 * more than PIPE_BUF bytes, which a pipe with room takes at once. */
static ssize_t write_some(const struct uvfib__accesslog *log, const char *data, size_t len)
{
    if (log->is_socket)
        return send(log->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (log->whole_lines)
        len = uvfib__accesslog_whole_lines(data, len); /* before any cap: whole lines */
    if (log->careful) {
        struct pollfd p = {.fd = log->fd, .events = POLLOUT};
        if (poll(&p, 1, 0) == 0) {
            errno = EAGAIN;
            return -1;
        }
        len = len < PIPE_BUF ? len : PIPE_BUF;
    }
    return write(log->fd, data, len);
}

/* Whether to go on waiting for room on the descriptor: not once the writer has been stopped
 * and its deadline has passed, or the descriptor has taken nothing for STALL_NS. */
static bool keep_waiting(struct uvfib__accesslog *log, uint64_t last_progress_ns)
{
    pthread_mutex_lock(&log->mu);
    uint64_t now = mono_ns();
    if (log->stop && ((log->give_up_ns != 0 && now >= log->give_up_ns) ||
                      now - last_progress_ns >= STALL_NS))
        log->gave_up = true;
    bool wait = !log->gave_up;
    pthread_mutex_unlock(&log->mu);
    return wait;
}

size_t uvfib__accesslog_whole_lines(const char *data, size_t len)
{
    if (len <= PIPE_BUF)
        return len; /* ends on a line (every batch does) or is a line's rest: all of it */
    for (size_t i = PIPE_BUF; i > 0; i--)
        if (data[i - 1] == '\n')
            return i;
    return PIPE_BUF; /* one line longer than PIPE_BUF: no write of it can be atomic */
}

/* Writes data[0..len), waiting while the descriptor is full. @return the bytes not written:
 * 0, or what was left when the writer gave up or the descriptor failed (the log is best
 * effort). */
static size_t write_all(struct uvfib__accesslog *log, const char *data, size_t len)
{
    uint64_t last_progress = mono_ns();
    while (len > 0) {
        ssize_t n = write_some(log, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            last_progress = mono_ns();
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!keep_waiting(log, last_progress))
                break;
            struct pollfd p = {.fd = log->fd, .events = POLLOUT};
            poll(&p, 1, POLL_SLICE_MS);
        } else {
            break;
        }
    }
    return len;
}

/* Lines gather for this long after the first of a batch, unless a quarter of the buffer fills
 * first: one wake-up and one write(2) per batch, not per line. */
#define GATHER_NS (50ull * 1000000ull)

static void *writer(void *arg)
{
    struct uvfib__accesslog *log = arg;
    pthread_mutex_lock(&log->mu);
    for (;;) {
        while (log->front_len == 0 && !log->stop)
            pthread_cond_wait(&log->cv, &log->mu);
        if (log->front_len == 0)
            break; /* stopped, and everything is written */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + GATHER_NS;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        while (!log->stop && log->front_len < log->cap / 4)
            if (pthread_cond_timedwait(&log->cv, &log->mu, &until) == ETIMEDOUT)
                break;
        char *full = log->front;
        size_t len = log->front_len;
        log->front = log->back;
        log->front_len = 0;
        log->back = full;
        pthread_mutex_unlock(&log->mu);
        size_t left = write_all(log, full, len);
        uint64_t lost = count_lines(full + (len - left), left);
        pthread_mutex_lock(&log->mu);
        log->unwritten += lost;
        if (log->gave_up) {
            log->unwritten += count_lines(log->front, log->front_len);
            log->front_len = 0;
            break;
        }
    }
    pthread_mutex_unlock(&log->mu);
    if (log->on_exit != NULL)
        log->on_exit(log->arg);
    return NULL;
}

void uvfib__accesslog_abandon(struct uvfib__accesslog *log)
{
    /* The writer reads on_exit only after it has seen the stop, which the mutex orders after
     * this. */
    pthread_mutex_lock(&log->mu);
    log->on_exit = NULL;
    pthread_mutex_unlock(&log->mu);
    uvfib__accesslog_stop(log, 0);
    uvfib__accesslog_free(log);
}

int uvfib__accesslog_start(struct uvfib__accesslog **out, int fd, size_t buffer_bytes,
                           void (*on_exit)(void *arg), void *arg)
{
    struct uvfib__accesslog *log = uvfib__malloc(sizeof(*log));
    if (log == NULL)
        return -ENOMEM;
    memset(log, 0, sizeof(*log));
    log->fd = fd;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        int flags = fcntl(fd, F_GETFL);
        log->is_socket = S_ISSOCK(st.st_mode);
        log->careful = !log->is_socket && !S_ISREG(st.st_mode) && flags >= 0 &&
                       !(flags & O_NONBLOCK);
        /* Others may write to the same pipe (our own notices on a shared stderr, a process
         * manager's lines): a write of at most PIPE_BUF bytes is never split by theirs, nor
         * cut short, so each of our lines arrives whole. */
        log->whole_lines = S_ISFIFO(st.st_mode);
    }
    log->cap = buffer_bytes > 0 ? buffer_bytes : 1;
    log->on_exit = on_exit;
    log->arg = arg;
    log->front = uvfib__malloc(log->cap);
    log->back = uvfib__malloc(log->cap);
    int err = log->front == NULL || log->back == NULL ? -ENOMEM : 0;
    if (err == 0) {
        pthread_mutex_init(&log->mu, NULL);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&log->cv, &attr);
        pthread_condattr_destroy(&attr);
        /* The writer starts with every signal blocked (a new thread inherits the mask), so a
         * process signal is never delivered to it: the embedder's handlers run on its own
         * threads, and a sanitizer that defers signals to the receiving thread's next call
         * cannot leave one pending in a writer asleep on its condition variable. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        err = -pthread_create(&log->thread, NULL, writer, log);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
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
        size_t before = log->front_len;
        memcpy(log->front + log->front_len, line, len);
        log->front_len += len;
        /* Wake the writer only to start a batch, or to end one early when the buffer is a
         * quarter full; otherwise it is gathering and will look by itself. */
        if (before == 0 || (before < log->cap / 4 && log->front_len >= log->cap / 4))
            pthread_cond_signal(&log->cv);
    }
    pthread_mutex_unlock(&log->mu);
    return ok;
}

void uvfib__accesslog_stop(struct uvfib__accesslog *log, uint64_t timeout_ns)
{
    pthread_mutex_lock(&log->mu);
    log->stop = true;
    if (timeout_ns != UVFIB__ACCESSLOG_NO_TIMEOUT) {
        uint64_t at = mono_ns() + timeout_ns;
        if (log->give_up_ns == 0 || at < log->give_up_ns)
            log->give_up_ns = at;
    }
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
}

uint64_t uvfib__accesslog_unwritten(struct uvfib__accesslog *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t n = log->unwritten;
    pthread_mutex_unlock(&log->mu);
    return n;
}

uint64_t uvfib__accesslog_free(struct uvfib__accesslog *log)
{
    pthread_join(log->thread, NULL);
    uint64_t unwritten = log->unwritten;
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    uvfib__free(log->front);
    uvfib__free(log->back);
    uvfib__free(log);
    return unwritten;
}
