/* harness.h - runs a uvfib server through the public API on its own loop in
 * a thread, for integration tests that talk to it over real sockets. */
#ifndef UVFIB_TEST_HARNESS_H
#define UVFIB_TEST_HARNESS_H

#include <stdatomic.h>
#include <stdbool.h>

#include <uvfib.h>

typedef void (*harness_setup_cb)(uvfib_server_t *server);

struct harness {
    uv_thread_t thread;
    uv_loop_t loop;
    uvfib_server_t server;
    uv_async_t wake;             /* loop thread: runs the pending command */
    uv_sem_t done;               /* posted when a command (or start-up) finished */
    uvfib_config_t cfg;
    harness_setup_cb setup;
    int port;                    /* bound port, once started */
    atomic_int cmd;              /* command for the loop thread */
    bool shutdown_started;       /* test thread: harness_shutdown was called */
    uint64_t shutdown_timeout_ms;
    uvfib_stats_t stats;         /* snapshot taken on the loop thread */
    uint64_t bytes_in;           /* the server's bytes read from clients, in that snapshot */
    uvfib_readiness_t readiness; /* snapshot taken on the loop thread */
    const char *unready_reason;  /* for the pending CMD_UNREADY */
    bool closed;                 /* the close callback ran */
    uvfib_stats_t final_stats;   /* read in the close callback */
    int loop_close_rc;           /* uv_loop_close() at the end */
};

/* Starts the server with cfg (host 127.0.0.1 unless set; port forced to 0, unless
 * cfg.reuseport asks to share a port). */
int harness_start(struct harness *h, const uvfib_config_t *cfg, harness_setup_cb setup);
/* As harness_start, on a socket the test opened: uvfib_server_listen_fd(fd), whose result it
 * returns (the harness is not started unless it is 0). */
int harness_start_fd(struct harness *h, const uvfib_config_t *cfg, harness_setup_cb setup,
                     int fd);
/* uvfib_server_readiness(), read on the loop thread. */
void harness_readiness(struct harness *h, uvfib_readiness_t *out);
/* uvfib_server_unready(reason) on the loop thread. */
void harness_unready(struct harness *h, const char *reason);
/* Copies the server's counters, read on the loop thread. */
void harness_stats(struct harness *h, uvfib_stats_t *out);
/* The server's count of bytes read from clients (uvfib_http_received_bytes_total), read on the
 * loop thread: once it has grown by a write's length, the server has read and parsed it. */
uint64_t harness_bytes_in(struct harness *h);
/* Waits until the server has read at least n bytes in all, for at most timeout_ms.
 * @return 0, or -1 on the timeout. */
int harness_wait_bytes_in(struct harness *h, uint64_t n, int timeout_ms);
/* Polls the server's counters (harness_stats) until pred holds, sleeping timeout_ms in all
 * between the polls. @return whether it held. */
bool harness_wait_stats(struct harness *h, bool (*pred)(const uvfib_stats_t *), int timeout_ms);
/* Starts a graceful shutdown on the loop thread and returns at once. */
void harness_shutdown(struct harness *h, uint64_t timeout_ms);
/* Closes the server (if still open), waits for the loop to end, joins. */
void harness_stop(struct harness *h);

/* Registers GET /healthz and the Fibonacci routes (max n 45). */
void harness_default_routes(uvfib_server_t *server);

#endif
