/* router.h - the route table: patterns with `:name` parameters, matching a request target
 * segment by segment after percent-decoding each one, and the 400/404/405 decisions. Pure: no
 * loop, no sockets. */
#ifndef UVFIB_ROUTER_H
#define UVFIB_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "uvfib.h"

#define UVFIB__MAX_SEGMENTS 16

struct uvfib__route {
    char *method;                 /* owned: "GET", ... */
    char *pattern;                /* owned: the pattern as given */
    char *segs[UVFIB__MAX_SEGMENTS]; /* borrowed from pattern_buf: segment text, ":name" for params */
    size_t n_segs;
    char *pattern_buf;            /* owned: pattern split at '/', NUL-separated */
    uvfib_handler_cb handler;
    void *arg;                    /* the caller's, or owned when free_arg is set */
    void (*free_arg)(void *arg);  /* NULL for caller-owned args */
    struct uvfib__route *next;    /* owned list */
};

struct uvfib__router {
    struct uvfib__route *head, *tail; /* owned */
};

/* The outcome of routing one request target. */
struct uvfib__match {
    int status;                   /* 200 matched, 400 bad target, 404, 405 */
    const char *error;            /* static message when status != 200 */
    char allow[64];               /* for 405: "GET, HEAD" */
    const struct uvfib__route *route; /* borrowed from the router */
    char *path;                   /* owned: path as sent, without query */
    char *decoded;                /* in path's block, after it: decoded segments, NUL-separated */
    const char *segv[UVFIB__MAX_SEGMENTS]; /* borrowed from decoded */
    size_t n_segs;
};

void uvfib__router_init(struct uvfib__router *r);
void uvfib__router_free(struct uvfib__router *r);
int uvfib__router_add(struct uvfib__router *r, const char *method, const char *pattern,
                      uvfib_handler_cb handler, void *arg, void (*free_arg)(void *));
/* Routes `method` + `target` (origin-form or absolute-form request target).
 * Always fills m (free it with uvfib__match_free). @return 0 or UV_ENOMEM. */
int uvfib__router_match(const struct uvfib__router *r, const char *method, const char *target,
                        size_t target_len, struct uvfib__match *m);
void uvfib__match_free(struct uvfib__match *m);
/* The decoded value of parameter `name`, or NULL. */
const char *uvfib__match_param(const struct uvfib__match *m, const char *name);

#endif /* UVFIB_ROUTER_H */
