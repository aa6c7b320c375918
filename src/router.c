/* router.c - see router.h. */
#include "router.h"

#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "strict.h"
#include "url.h"

void uvfib__router_init(struct uvfib__router *r)
{
    r->head = r->tail = NULL;
}

void uvfib__router_free(struct uvfib__router *r)
{
    struct uvfib__route *next;
    for (struct uvfib__route *rt = r->head; rt != NULL; rt = next) {
        next = rt->next;
        if (rt->free_arg != NULL)
            rt->free_arg(rt->arg);
        uvfib__free(rt->method);
        uvfib__free(rt->pattern);
        uvfib__free(rt->pattern_buf);
        uvfib__free(rt);
    }
    r->head = r->tail = NULL;
}

/* Whether two of rt's parameters share a name: uvfib_req_param() would find the first only. */
static bool repeats_a_parameter(const struct uvfib__route *rt)
{
    for (size_t i = 0; i < rt->n_segs; i++)
        for (size_t j = i + 1; j < rt->n_segs; j++)
            if (rt->segs[i][0] == ':' && strcmp(rt->segs[i], rt->segs[j]) == 0)
                return true;
    return false;
}

/* Splits "/a/:b/c" into segments in place. "/" has zero segments. */
static int split_pattern(struct uvfib__route *rt)
{
    char *p = rt->pattern_buf;
    if (*p != '/')
        return UV_EINVAL;
    rt->n_segs = 0;
    while (*p == '/' && p[1] != '\0') {
        *p++ = '\0';
        if (rt->n_segs == UVFIB__MAX_SEGMENTS)
            return UV_EINVAL;
        rt->segs[rt->n_segs++] = p;
        size_t seg_len = strcspn(p, "/");
        if (seg_len == 0 || (seg_len == 1 && *p == ':'))
            return UV_EINVAL; /* empty segment "//" or a nameless parameter */
        p += seg_len;
    }
    if (*p != '\0' && !(*p == '/' && rt->n_segs == 0))
        return UV_EINVAL; /* a trailing '/' */
    return repeats_a_parameter(rt) ? UV_EINVAL : 0;
}

int uvfib__router_add(struct uvfib__router *r, const char *method, const char *pattern,
                      uvfib_handler_cb handler, void *arg, void (*free_arg)(void *))
{
    if (method == NULL || pattern == NULL || handler == NULL || !uvfib__strict_token(method))
        return UV_EINVAL;
    struct uvfib__route *rt = uvfib__calloc(1, sizeof(*rt));
    if (rt == NULL)
        return UV_ENOMEM;
    rt->method = uvfib__strndup(method, strlen(method));
    rt->pattern = uvfib__strndup(pattern, strlen(pattern));
    rt->pattern_buf = uvfib__strndup(pattern, strlen(pattern));
    int err = UV_ENOMEM;
    if (rt->method != NULL && rt->pattern != NULL && rt->pattern_buf != NULL)
        err = split_pattern(rt);
    if (err < 0) {
        uvfib__free(rt->method);
        uvfib__free(rt->pattern);
        uvfib__free(rt->pattern_buf);
        uvfib__free(rt);
        return err;
    }
    rt->handler = handler;
    rt->arg = arg;
    rt->free_arg = free_arg;
    if (r->tail != NULL)
        r->tail->next = rt;
    else
        r->head = rt;
    r->tail = rt;
    return 0;
}

static bool segment_matches(const struct uvfib__route *rt, const struct uvfib__match *m)
{
    if (rt->n_segs != m->n_segs)
        return false;
    for (size_t i = 0; i < rt->n_segs; i++)
        if (rt->segs[i][0] != ':' && strcmp(rt->segs[i], m->segv[i]) != 0)
            return false;
    return true;
}

static void add_allow(char *allow, size_t cap, const char *method)
{
    /* A method appears once; the list is short, so a linear scan is fine. */
    size_t mlen = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)) != NULL; p += mlen)
        if ((p == allow || p[-1] == ' ') && (p[mlen] == ',' || p[mlen] == '\0'))
            return;
    size_t len = strlen(allow);
    if (len + mlen + 3 > cap)
        return;
    if (len > 0)
        memcpy(allow + len, ", ", 2), len += 2;
    memcpy(allow + len, method, mlen + 1);
}

static int fail(struct uvfib__match *m, int status, const char *error)
{
    m->status = status;
    m->error = error;
    return 0;
}

static int matched(struct uvfib__match *m, const struct uvfib__route *rt)
{
    m->route = rt;
    m->status = 200;
    return 0;
}

/* Strips the scheme and authority of an absolute-form target (RFC 9112 3.2.2). */
static void origin_form(const char **target, size_t *len)
{
    const char *t = *target;
    size_t n = *len;
    size_t skip = 0;
    if (n == 0 || (t[0] != 'h' && t[0] != 'H'))
        return; /* the origin form of nearly every request: no case-blind compares */
    if (n >= 7 && strncasecmp(t, "http://", 7) == 0)
        skip = 7;
    else if (n >= 8 && strncasecmp(t, "https://", 8) == 0)
        skip = 8;
    if (skip == 0)
        return;
    /* The authority ends at the first '/', '?' or '#'; only a '/' starts a path. */
    size_t end = skip;
    while (end < n && t[end] != '/' && t[end] != '?' && t[end] != '#')
        end++;
    bool has_path = end < n && t[end] == '/';
    *target = has_path ? t + end : "/";
    *len = has_path ? n - end : 1;
}

int uvfib__router_match(const struct uvfib__router *r, const char *method, const char *target,
                        size_t target_len, struct uvfib__match *m)
{
    memset(m, 0, sizeof(*m));
    origin_form(&target, &target_len);
    if (target_len == 0 || target[0] != '/')
        return fail(m, 400, "the request target must be a path starting with '/'");

    size_t path_len = 0; /* the target need not be NUL-terminated */
    while (path_len < target_len && target[path_len] != '?' && target[path_len] != '#')
        path_len++;
    /* One allocation holds both: the path, then room for its decoded segments (never longer
     * than the path, each with its NUL); m->decoded points into it. */
    char *both = uvfib__malloc(2 * (path_len + 1));
    if (both == NULL)
        return UV_ENOMEM;
    memcpy(both, target, path_len);
    both[path_len] = '\0';
    m->path = both;
    m->decoded = both + path_len + 1;

    /* Split first, decode each segment after: an encoded "%2F" stays inside
     * its segment instead of creating a new one. Routing is strict: "/a/" has
     * the segments "a" and "", so "/fibonacci/" reaches :number as "". */
    char *out = m->decoded;
    const char *p = strcmp(m->path, "/") == 0 ? "" : m->path;
    while (*p == '/') {
        p++;
        size_t seg_len = strcspn(p, "/");
        if (m->n_segs == UVFIB__MAX_SEGMENTS)
            return fail(m, 404, "no such route");
        long n = uvfib__percent_decode(p, seg_len, out);
        if (n < 0)
            return fail(m, 400, "the path has a malformed percent-encoding (%XX) or a NUL byte");
        m->segv[m->n_segs++] = out;
        out += n + 1;
        p += seg_len;
    }

    /* A route for the method as sent wins; a HEAD without one is answered by the path's GET
     * route (the connection drops the body), so the whole table is seen before falling back. */
    bool is_head = strcmp(method, "HEAD") == 0;
    const struct uvfib__route *get = NULL;
    for (const struct uvfib__route *rt = r->head; rt != NULL; rt = rt->next) {
        if (!segment_matches(rt, m))
            continue;
        if (strcmp(rt->method, method) == 0)
            return matched(m, rt);
        bool is_get = strcmp(rt->method, "GET") == 0;
        if (is_head && is_get && get == NULL)
            get = rt;
        add_allow(m->allow, sizeof(m->allow), rt->method);
        if (is_get)
            add_allow(m->allow, sizeof(m->allow), "HEAD");
    }
    if (get != NULL)
        return matched(m, get);
    if (m->allow[0] != '\0')
        return fail(m, 405, "method not allowed on this path: see the Allow header");
    return fail(m, 404, "no route matches this path");
}

void uvfib__match_free(struct uvfib__match *m)
{
    uvfib__free(m->path); /* m->decoded is in the same block */
    m->path = m->decoded = NULL;
}

const char *uvfib__match_param(const struct uvfib__match *m, const char *name)
{
    if (m->route == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < m->route->n_segs; i++)
        if (m->route->segs[i][0] == ':' && strcmp(m->route->segs[i] + 1, name) == 0)
            return m->segv[i];
    return NULL;
}
