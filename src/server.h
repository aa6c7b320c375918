/* server.h - the server's state: the one struct every loop-side module sees (the listener, the
 * route table, the connections, the pool, the measurements, the access log), and the small
 * helpers over it. The lifecycle that fills and empties it is server.c.
 *
 * Threads: the loop thread only, except what pool.h and accesslog.h say of their own parts. */
#ifndef UVFIB_SERVER_H
#define UVFIB_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "accesslog.h"
#include "http.h"
#include "metrics.h"
#include "monitor.h"
#include "pool.h"
#include "response.h"
#include "router.h"
#include "uvfib.h"

struct uvfib__conn;
struct uvfib__job;

struct uvfib__server {
    uvfib_server_t *pub;          /* borrowed: the caller's struct */
    uv_loop_t *loop;              /* borrowed */
    uvfib_config_t cfg;           /* copy; cfg.host points at host */
    char *host;                   /* owned */
    struct uvfib__http_limits limits;
    struct uvfib__router router;  /* owned */
    uv_tcp_t listener;            /* embedded */
    uv_timer_t drain_timer;       /* embedded; deadline of a graceful shutdown */
    struct uvfib__conn *conns;    /* the open connections (each frees itself) */
    unsigned n_conns;             /* their number */
    /* server.c's: a connection has freed itself (conn.c reports up through this). */
    void (*conn_gone)(struct uvfib__server *srv);
    struct uvfib__pool pool;      /* owned: the FIFO and runners that feed libuv's pool */
    struct uvfib__job *oldest, *newest; /* every job, waiting or running, by age (work.c) */
    uv_timer_t compute_timer;     /* embedded; the oldest job's compute deadline (work.c) */
    struct uvfib__metrics metrics;/* owned: counters and histograms */
    struct uvfib__monitor mon;    /* embedded: watches the loop, records into metrics */
    struct uvfib__accesslog *log; /* owned; NULL when the access log is off */
    uv_async_t log_exited;        /* embedded; the access-log writer has finished */
    uint64_t log_deadline_ns;     /* hrtime by which the writer gives up lines it cannot
                                     write, once stopped; 0: none (see server.c) */
    time_t date_sec;              /* second that date was made for */
    char date[32];                /* cached IMF-fixdate */
    unsigned n_handles;           /* our own handles still open, the pool and monitor counted
                                     as one each */
    bool listening;
    bool unready;                 /* uvfib_server_unready() was called: /readyz says 503 */
    char unready_reason[160];     /* its reason, one line */
    bool draining;                /* graceful shutdown in progress */
    bool closing;                 /* close requested: connections are being closed */
    bool finished;                /* closed: the caller's callbacks are running or have run */
    uvfib_close_cb shutdown_cb;   /* the successful uvfib_server_shutdown()'s, or NULL */
    uvfib_close_cb close_cb;      /* the successful uvfib_server_close()'s, or NULL */
    char read_buf[64 * 1024];     /* shared by every connection: consumed in on_read */
};

/* The server behind the caller's struct: server->impl, or while the close callbacks run (when
 * server->impl is already NULL) the one they are for, found without reading `server`; NULL once
 * they have returned, for a struct they did not free: a call then finds the server closed, not
 * freed memory. */
struct uvfib__server *uvfib__server_of(const uvfib_server_t *server);

/* The cached Date header value, remade once a second. */
static inline const char *uvfib__server_date(struct uvfib__server *srv)
{
    time_t now = time(NULL);
    if (now != srv->date_sec) {
        uvfib__http_date(now, srv->date);
        srv->date_sec = now;
    }
    return srv->date;
}

#endif /* UVFIB_SERVER_H */
