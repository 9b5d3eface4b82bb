/* SPDX-License-Identifier: Apache-2.0 */
/* check.h — the smallest test harness: CHECK keeps going and counts,
 * test programs return check_failures() from main. */
#ifndef CZK_TESTS_CHECK_H
#define CZK_TESTS_CHECK_H

#include <stdio.h>

static int check_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            check_failed++;                                                                        \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long check_a = (long long)(a), check_b = (long long)(b);                              \
        if (check_a != check_b) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__,  \
                    #a, #b, check_a, check_b);                                                     \
            check_failed++;                                                                        \
        }                                                                                          \
    } while (0)

static inline int check_result(const char *name)
{
    if (check_failed)
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failed);
    else
        printf("%s: ok\n", name);
    return check_failed ? 1 : 0;
}

#endif
