/* Small helpers shared by the C tests of bindings/c. */
#ifndef RSMI_TEST_CHECK_H
#define RSMI_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include "rsmi.h"

/* Abort the test with the library's sentence when a call fails. */
#define CHECK(call)                                                                   \
    do {                                                                              \
        int rc_ = (call);                                                             \
        if (rc_ != RSMI_OK) {                                                         \
            fprintf(stderr, "%s:%d: %s failed (status %d): %s\n", __FILE__, __LINE__, \
                    #call, rc_, rsmi_last_error_message());                           \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* Abort the test when a condition does not hold. */
#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: expected %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

#endif
