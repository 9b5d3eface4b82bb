/* SPDX-License-Identifier: Apache-2.0 */
/* zab_int.h — what zab.c (the leader, the step) and zab_learner.c (a
 * follower's or observer's side) share: the update's sends, appends and
 * stop, and the learner's entry points. Private to src/zab. */
#ifndef CZK_ZAB_ZAB_INT_H
#define CZK_ZAB_ZAB_INT_H

#include "zab/zab.h"

#include <stdio.h>
#include <stdlib.h>

/* Consensus invariants: on in every build (crashing beats diverging). */
#define ZAB_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: zab invariant failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The update being built (zab.c). */
void zab__send(struct zab *zab, int64_t to, int32_t type, int64_t zxid, enum zab_payload payload,
               struct jute_buf data, int32_t i32);
void zab__send_simple(struct zab *zab, int64_t to, int32_t type, int64_t zxid);
void zab__append(struct zab *zab, int64_t zxid, struct jute_buf data);
/* Back to LOOKING: the role is over (up->stopped, up->reason). */
void zab__stop(struct zab *zab, struct zab_update *up, const char *reason);

/* A learner (zab_learner.c). */
void zab__learner_start(struct zab *zab, const struct zab_event *ev);
void zab__learner_receive(struct zab *zab, const struct zab_event *ev, struct zab_update *up);
/* The log made txns durable: ACK them (and NEWLEADER's once its txns are). */
void zab__learner_acks(struct zab *zab, struct zab_update *up);

#endif
