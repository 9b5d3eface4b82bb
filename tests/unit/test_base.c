/* SPDX-License-Identifier: Apache-2.0 */
/* The base containers: smap (byte-string keys) checked against a plain
 * array model under random puts, removes and reserves. */
#include "base/hmap.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define KEYS 3000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void)
{
    static char keys[KEYS][16];
    static size_t lens[KEYS];
    static int model[KEYS]; /* value + 1, 0 = absent */
    for (int i = 0; i < KEYS; i++)
        lens[i] = (size_t)snprintf(keys[i], sizeof(keys[i]), "/k/%d", i);

    struct smap m;
    smap_init(&m);
    CHECK(smap_get(&m, "x", 1) == NULL);
    size_t present = 0;
    for (int step = 0; step < 200000; step++) {
        int k = (int)(next_rand() % KEYS);
        int op = (int)(next_rand() % 8);
        if (op < 4) {
            static int values[KEYS];
            values[k] = step;
            void *old = smap_put(&m, keys[k], lens[k], &values[k]);
            CHECK((old != NULL) == (model[k] != 0));
            if (!model[k])
                present++;
            model[k] = step + 1;
        } else if (op < 7) {
            void *old = smap_remove(&m, keys[k], lens[k]);
            CHECK((old != NULL) == (model[k] != 0));
            if (model[k])
                present--;
            model[k] = 0;
        } else {
            /* reserving room never loses an entry, and inserting up to the
             * reserved count does not grow the table */
            smap_reserve(&m, present + 100);
            size_t cap = m.cap;
            CHECK(cap * 3 >= (present + 100) * 4);
            (void)cap;
        }
        if (step % 5000 == 0) {
            size_t seen = 0;
            for (int i = 0; i < KEYS; i++) {
                int *v = smap_get(&m, keys[i], lens[i]);
                CHECK((v != NULL) == (model[i] != 0));
                if (v) {
                    CHECK_EQ_INT(*v + 1, model[i]);
                    seen++;
                }
            }
            CHECK_EQ_INT(seen, present);
            CHECK_EQ_INT(m.count, present);
        }
    }
    smap_deinit(&m);

    /* reserve on an empty map, then fill exactly that many: one table */
    smap_init(&m);
    smap_reserve(&m, KEYS);
    size_t cap = m.cap;
    CHECK(cap >= KEYS);
    for (int i = 0; i < KEYS; i++)
        CHECK(smap_put(&m, keys[i], lens[i], keys[i]) == NULL);
    CHECK_EQ_INT(m.cap, cap);
    CHECK_EQ_INT(m.count, KEYS);
    for (int i = 0; i < KEYS; i++)
        CHECK(smap_get(&m, keys[i], lens[i]) == keys[i]);
    CHECK(smap_get(&m, "/k/", 3) == NULL);
    smap_deinit(&m);
    return check_result("test_base");
}
