/* SPDX-License-Identifier: Apache-2.0 */
/* The base containers: smap (byte-string keys) checked against a plain
 * array model under random puts, removes and reserves, in both kinds; an
 * unforked map's slots are not mapped in a fork()ed child. */
#include "base/hmap.h"
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEYS 3000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Whether the page holding p is mapped in a fork()ed child: the child's
 * exit status says (mincore fails with ENOMEM on an unmapped range). */
static int mapped_in_child(const void *p)
{
    long page = sysconf(_SC_PAGESIZE);
    void *start = (void *)((uintptr_t)p & ~(uintptr_t)(page - 1));
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        unsigned char vec;
        if (mincore(start, (size_t)page, &vec) == 0)
            _exit(0);
        _exit(errno == ENOMEM ? 1 : 2);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status) == 0 ? 1 : WEXITSTATUS(status) == 1 ? 0 : -1;
}

static void test_model(bool unforked)
{
    static char keys[KEYS][16];
    static size_t lens[KEYS];
    static int model[KEYS]; /* value + 1, 0 = absent */
    for (int i = 0; i < KEYS; i++)
        lens[i] = (size_t)snprintf(keys[i], sizeof(keys[i]), "/k/%d", i);

    memset(model, 0, sizeof(model));
    struct smap m;
    if (unforked)
        smap_init_unforked(&m);
    else
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
    if (unforked)
        smap_init_unforked(&m);
    else
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
    /* the child of a fork() has the slots of a plain map only; the
     * parent's map works on after the fork */
    CHECK_EQ_INT(mapped_in_child(m.slots), unforked ? 0 : 1);
    CHECK(smap_put(&m, "/after-fork", 11, keys[0]) == NULL);
    CHECK(smap_get(&m, keys[KEYS - 1], lens[KEYS - 1]) == keys[KEYS - 1]);
    CHECK(smap_get(&m, "/after-fork", 11) == keys[0]);
    smap_deinit(&m);
    CHECK_EQ_INT(m.unforked, unforked);
}

int main(void)
{
    test_model(false);
    test_model(true);
    return check_result("test_base");
}
