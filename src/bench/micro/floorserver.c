/* floorserver.c - uvfib-floorserver: the least a server can do to answer a request on its loop
 * (direct), after handing it to another thread and back (hop), or after computing it on a pool
 * of threads (compute), so that scripts/bench can measure uvfib's floors in the request's own
 * shape: the same client process, the same loopback TCP, the same threads on this machine's
 * cores, and nothing else.
 *   - direct and hop: the hop minus direct difference at p50 is the cost of the two wake-ups
 *     alone, where they really happen: on this 2-vCPU guest the client and the loop share a
 *     core, so the worker wakes on the other, idle one, which a two-thread ping-pong
 *     (uvfib-handoff) never meets. Floor of the offload overhead.
 *   - compute: as many workers as online CPUs, each request's F(n) computed by the bare
 *     recursion (fibref.c at -O2, the limit's reference build). Floor of heavy throughput: the
 *     same kernel and the same wake-ups as uvfib's pool (a shared FIFO, a condition variable,
 *     an eventfd back to the loop), without HTTP parsing, metrics, logs or limits.
 *
 *   uvfib-floorserver direct|hop|compute [PORT]     (PORT 0 or none: any free port)
 *
 * Prints "uvfib-floorserver listening on http://127.0.0.1:PORT" on stdout once listening; exits
 * 0 on SIGTERM or SIGINT. Every request (a head ending in an empty line; a body is not
 * expected and not read) is answered 200 with uvfib's body for its n, {"success":true,
 * "result":F(n)}, where n is the number after "/fibonacci/" in the request line (1 if there is
 * none, taken as 45 above it), and uvfib's headers with a fixed date of the same length. hop
 * and compute: the loop puts the request on a list under a mutex and signals a condition
 * variable after unlocking; a worker takes it, computes F(n) (hop: computed on the loop
 * already, so the worker computes nothing), puts it on the done list and wakes the loop with
 * an eventfd, as uvfib's pool does.
 * A connection has one request with the workers at a time, so that its answers keep their
 * order; the next waits in its buffer. The workers stay at the loop's priority: the floor is
 * the best case. Only for loopback benchmarks: it binds 127.0.0.1 and has no limits beyond a
 * 16 KiB head. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <uv.h>

#define HEAD_MAX 16384
#define ANSWER_MAX 256
#define MAX_WORKERS 64
#define MAX_N 45 /* uvfib's default --max-n: larger n are taken as 45 */

uint64_t fibref_o2(unsigned n); /* fibref.c at -O2 */

struct conn {
    uv_tcp_t tcp;                 /* embedded; the conn is freed in its close callback */
    char head[HEAD_MAX];          /* bytes of requests not yet complete */
    size_t used;
    bool busy;                    /* a request of it is with the workers */
    bool gone;                    /* to be closed once not busy */
    bool closing;                 /* uv_close called */
};

/* One request on its way through a worker: on the work list, then the done list. */
struct hop {
    struct conn *conn;
    unsigned n;
    uint64_t result;              /* written by the worker, read by the loop after mu */
    struct hop *next;             /* under mu */
};

enum mode { DIRECT, HOP, COMPUTE };

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm, sigint;
static enum mode mode;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cond = PTHREAD_COND_INITIALIZER;
static struct hop *work_head, *work_tail, *done_head, *done_tail; /* under mu */
static bool stopping;             /* under mu */
static pthread_t workers[MAX_WORKERS];
static int nworkers;
static int wake_fd;
static uv_poll_t wake;

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Closes c now, or once the worker has given back every request of it. */
static void conn_close(struct conn *c)
{
    c->gone = true;
    if (c->closing)
        return;
    if (c->busy) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status; /* a failed write shows as an error or EOF on the next read */
    free(w);
}

/* Writes the answer to a request whose F(n) is result, as uvfib words it. */
static void answer(struct conn *c, uint64_t result)
{
    if (c->gone)
        return;
    struct {
        uv_write_t req;
        char bytes[ANSWER_MAX];
    } *w = malloc(sizeof(*w));
    if (w == NULL) {
        conn_close(c);
        return;
    }
    char body[64];
    int blen = snprintf(body, sizeof(body), "{\"success\":true,\"result\":%" PRIu64 "}", result);
    int len = snprintf(w->bytes, sizeof(w->bytes),
                       "HTTP/1.1 200 OK\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %d\r\n"
                       "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                       "Connection: keep-alive\r\n"
                       "\r\n"
                       "%s",
                       blen, body);
    uv_buf_t buf = uv_buf_init(w->bytes, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0) {
        free(w);
        conn_close(c);
    }
}

/* Appends h to the list at *head / *tail. Caller holds mu. */
static void append(struct hop **head, struct hop **tail, struct hop *h)
{
    h->next = NULL;
    if (*tail != NULL)
        (*tail)->next = h;
    else
        *head = h;
    *tail = h;
}

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (work_head == NULL && !stopping)
            pthread_cond_wait(&work_cond, &mu);
        if (work_head == NULL)
            break;
        struct hop *h = work_head;
        work_head = h->next;
        if (work_head == NULL)
            work_tail = NULL;
        if (mode == COMPUTE) {
            pthread_mutex_unlock(&mu);
            h->result = fibref_o2(h->n);
            pthread_mutex_lock(&mu);
        }
        bool wake_loop = done_head == NULL;
        append(&done_head, &done_tail, h);
        pthread_mutex_unlock(&mu);
        if (wake_loop) {
            uint64_t one = 1;
            while (write(wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
                ;
        }
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void hand_off(struct conn *c, unsigned n)
{
    struct hop *h = malloc(sizeof(*h)); /* as uvfib allocates each job */
    if (h == NULL) {
        conn_close(c);
        return;
    }
    *h = (struct hop){.conn = c, .n = n, .result = mode == HOP ? fibref_o2(n) : 0};
    c->busy = true;
    pthread_mutex_lock(&mu);
    append(&work_head, &work_tail, h);
    pthread_mutex_unlock(&mu);
    pthread_cond_signal(&work_cond);
}

static void serve(struct conn *c);

static void on_wake(uv_poll_t *p, int status, int events)
{
    (void)p, (void)status, (void)events;
    uint64_t count;
    while (read(wake_fd, &count, sizeof(count)) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&mu);
    struct hop *h = done_head;
    done_head = done_tail = NULL;
    pthread_mutex_unlock(&mu);
    while (h != NULL) {
        struct hop *next = h->next;
        struct conn *c = h->conn;
        c->busy = false;
        answer(c, h->result);
        free(h);
        if (c->gone)
            conn_close(c);
        else
            serve(c); /* the next request of it, if one waits in its buffer */
        h = next;
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct conn *c = h->data;
    *buf = uv_buf_init(c->head + c->used, (unsigned)(HEAD_MAX - c->used));
}

/* n of a request line "GET /fibonacci/N ...", 1 if it names none. */
static unsigned request_n(const char *head, size_t len)
{
    const char *eol = memchr(head, '\r', len);
    const char *p = memmem(head, eol != NULL ? (size_t)(eol - head) : len, "/fibonacci/", 11);
    if (p == NULL)
        return 1;
    unsigned n = 0;
    for (p += 11; *p >= '0' && *p <= '9' && n <= MAX_N; p++)
        n = n * 10 + (unsigned)(*p - '0');
    return n > MAX_N ? MAX_N : n;
}

/* Answers, or hands off, the whole requests in c's buffer: in hop and compute modes one at a
 * time, the next when the workers give this one back. */
static void serve(struct conn *c)
{
    while (!c->busy && !c->gone) {
        char *end = memmem(c->head, c->used, "\r\n\r\n", 4);
        if (end == NULL)
            break;
        size_t len = (size_t)(end - c->head) + 4;
        unsigned n = request_n(c->head, len);
        memmove(c->head, c->head + len, c->used - len);
        c->used -= len;
        if (mode == DIRECT)
            answer(c, fibref_o2(n));
        else
            hand_off(c, n);
    }
    if (c->used == HEAD_MAX)
        conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->used += (size_t)n;
    serve(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h))
        return;
    if (h->type == UV_TCP && h != (uv_handle_t *)&server)
        uv_close(h, on_closed);
    else
        uv_close(h, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s, (void)signum;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_mutex_unlock(&mu);
    pthread_cond_broadcast(&work_cond);
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i], NULL);
    /* The workers took every request before they left; drop those given back that the loop
     * has not answered, then close everything, connections included. */
    while (done_head != NULL) {
        struct hop *next = done_head->next;
        free(done_head);
        done_head = next;
    }
    done_tail = NULL;
    uv_walk(loop, close_walk, NULL);
}

int main(int argc, char **argv)
{
    static const char *const names[] = {[DIRECT] = "direct", [HOP] = "hop", [COMPUTE] = "compute"};
    int found = -1;
    for (int m = DIRECT; m <= COMPUTE && argc >= 2; m++)
        if (strcmp(argv[1], names[m]) == 0)
            found = m;
    if (found < 0 || argc > 3) {
        fprintf(stderr, "usage: uvfib-floorserver direct|hop|compute [PORT]\n");
        return 2;
    }
    mode = (enum mode)found;
    int port = argc == 3 ? atoi(argv[2]) : 0;
    loop = uv_default_loop();
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) {
        perror("uvfib-floorserver");
        return 1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    nworkers = mode == DIRECT ? 0 : mode == HOP ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (int)cpus;
    for (int i = 0; i < nworkers; i++) {
        if (pthread_create(&workers[i], NULL, worker_main, NULL) != 0) {
            perror("uvfib-floorserver");
            return 1;
        }
    }
    uv_poll_init(loop, &wake, wake_fd);
    uv_poll_start(&wake, UV_READABLE, on_wake);

    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &server);
    int err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&server, 511, on_connection);
    if (err < 0) {
        fprintf(stderr, "uvfib-floorserver: %s\n", uv_strerror(err));
        return 1;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    printf("uvfib-floorserver listening on http://127.0.0.1:%d\n",
           ntohs(((struct sockaddr_in *)&bound)->sin_port));
    fflush(stdout);

    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    close(wake_fd);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
