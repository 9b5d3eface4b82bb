/* SPDX-License-Identifier: Apache-2.0 */
/* list.h — intrusive doubly linked circular lists (libuv queue.h style). */
#ifndef CZK_BASE_LIST_H
#define CZK_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *next;
    struct list *prev;
};

#define LIST_ENTRY(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))
#define LIST_FOREACH(it, head)       for ((it) = (head)->next; (it) != (head); (it) = (it)->next)

static inline void list_init(struct list *l)
{
    l->next = l;
    l->prev = l;
}

static inline bool list_is_empty(const struct list *l)
{
    return l->next == l;
}

static inline void list_insert_tail(struct list *head, struct list *n)
{
    n->next = head;
    n->prev = head->prev;
    head->prev->next = n;
    head->prev = n;
}

static inline void list_remove(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

#endif
