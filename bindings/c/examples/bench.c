/*
 * Throughput of a C-driven sampler: flips per ns of the replica layout (u64x4, 256
 * replicas) on an L x L torus at T_c with Metropolis, the kernel and setting of
 * `rsmi bench ising2d` (row replica_u64x4), timed like it in thread CPU time (the median
 * of 20 rounds), so that other processes on the machine do not count. Usage: bench [L] [seconds]
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "rsmi.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t l = argc > 1 ? (size_t)atoi(argv[1]) : 64;
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    RsmiIsing *s;
    if (rsmi_ising_new(RSMI_DIM_2, l, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS, 2.269185314213022,
                       0.0, 3, 0, 0, &s) != RSMI_OK) {
        fprintf(stderr, "%s\n", rsmi_last_error_message());
        return 1;
    }
    rsmi_ising_sweep(s, 60);
    /* Rounds of ~seconds/20 each; report the median rate, as rsmi bench does. */
    double rates[20];
    for (int r = 0; r < 20; r++) {
        uint64_t sweeps = 0;
        double t0 = now(), t;
        do {
            rsmi_ising_sweep(s, 4);
            sweeps += 4;
            t = now();
        } while (t - t0 < seconds / 20);
        rates[r] = (double)sweeps * 256.0 * l * l / ((t - t0) * 1e9);
    }
    qsort(rates, 20, sizeof rates[0], cmp);
    printf("{\"kernel\":\"replica_u64x4 via C ABI\",\"size\":%zu,\"flips_per_ns\":%.3f}\n", l,
           rates[10]);
    rsmi_ising_free(s);
    return 0;
}
