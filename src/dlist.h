/* dlist.h - unlinking a node from an intrusive doubly linked list, the one operation the
 * server's lists (waiting jobs, jobs by age, runners, connections) share. Pure. */
#ifndef UVFIB_DLIST_H
#define UVFIB_DLIST_H

#include <stddef.h>

/* Takes node out of the list threaded through its fields `prev` and `next`, whose first node
 * is the lvalue `head` (a list that keeps no last node); node's links are cleared. */
#define UVFIB__DLIST_REMOVE_HEADONLY(head, node, prev, next)                                      \
    do {                                                                                          \
        if ((node)->prev != NULL)                                                                 \
            (node)->prev->next = (node)->next;                                                    \
        else                                                                                      \
            (head) = (node)->next;                                                                \
        if ((node)->next != NULL)                                                                 \
            (node)->next->prev = (node)->prev;                                                    \
        (node)->prev = (node)->next = NULL;                                                       \
    } while (0)

/* The same for a list that keeps its last node in the lvalue `tail` too. */
#define UVFIB__DLIST_REMOVE(head, tail, node, prev, next)                                         \
    do {                                                                                          \
        if ((node)->next == NULL)                                                                 \
            (tail) = (node)->prev;                                                                \
        UVFIB__DLIST_REMOVE_HEADONLY(head, node, prev, next);                                     \
    } while (0)

#endif /* UVFIB_DLIST_H */
