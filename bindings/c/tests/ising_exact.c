/*
 * Physics check through the C ABI: sample the 2D Ising model on the 4x4 torus with the
 * replica layout (256 independent chains) and compare <e> = <E>/N and <M^2>/N^2 with
 * the exact values (enumeration of all 2^16 states), within 4 sigma.
 *
 * Half of the chains run at T_c and half at T = 3 (one temperature per chain,
 * rsmi_ising_set_temperatures). The error bar is binned by chain: each chain's time
 * average is one bin, and the chains are independent, so sigma = std(bins)/sqrt(bins).
 */
#include <math.h>
#include <string.h>
#include "check.h"

/* Exact values for L = 4, copied from tests/data/ising2d_exact.json ("finite": L = 4,
 * T = 2.269185314213022 and T = 3.0; fields "e" and "m2"). */
static const double T_C = 2.269185314213022;
static const double E_TC = -1.5656237876383186, M2_TC = 0.7613589085686728;
static const double T_3 = 3.0;
static const double E_3 = -1.0170696269550954, M2_3 = 0.45098814084803707;

#define L 4
#define N (L * L)
#define BURN_IN 2000
#define MEASURE 8000

int main(void) {
    RsmiIsing *s = NULL;
    /* Metropolis-1/2: plain sequential Metropolis has deterministic cycles on the 4x4
     * torus (docs/monte-carlo.md). */
    CHECK(rsmi_ising_new(RSMI_DIM_2, L, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS_HALF, T_C, 0.0,
                         42, 0, 0, &s));
    size_t chains = 0, sites = 0, packed = 0;
    CHECK(rsmi_ising_shape(s, &chains, &sites, &packed));
    EXPECT(chains == 256 && sites == N && packed == L, "shape %zu %zu %zu", chains, sites, packed);

    double temps[256];
    for (size_t c = 0; c < chains; c++) temps[c] = c < chains / 2 ? T_C : T_3;
    CHECK(rsmi_ising_set_temperatures(s, temps, chains));

    for (int i = 0; i < BURN_IN; i++) {
        CHECK(rsmi_ising_sweep(s, 1));
        CHECK(rsmi_ising_global_flip(s));
    }
    static double e_sum[256], m2_sum[256];
    int64_t e[256], m[256];
    for (int i = 0; i < MEASURE; i++) {
        CHECK(rsmi_ising_sweep(s, 1));
        CHECK(rsmi_ising_global_flip(s));
        CHECK(rsmi_ising_measure(s, e, m, chains));
        for (size_t c = 0; c < chains; c++) {
            e_sum[c] += (double)e[c] / N;
            m2_sum[c] += (double)m[c] * m[c] / ((double)N * N);
        }
    }
    CHECK(rsmi_ising_free(s));

    const double exact_e[2] = {E_TC, E_3}, exact_m2[2] = {M2_TC, M2_3}, t[2] = {T_C, T_3};
    int failed = 0;
    for (int g = 0; g < 2; g++) {
        size_t n = chains / 2, c0 = g * n;
        for (int q = 0; q < 2; q++) {
            const double *sum = q == 0 ? e_sum : m2_sum;
            double mean = 0, var = 0;
            for (size_t c = c0; c < c0 + n; c++) mean += sum[c] / MEASURE;
            mean /= n;
            for (size_t c = c0; c < c0 + n; c++) {
                double d = sum[c] / MEASURE - mean;
                var += d * d;
            }
            double err = sqrt(var / (n - 1) / n);
            double exact = q == 0 ? exact_e[g] : exact_m2[g];
            double z = (mean - exact) / err;
            int ok = fabs(z) < 4.0;
            failed += !ok;
            printf("%s T = %.6f  %-3s = %.5f +- %.5f  exact %.5f  (%+.2f sigma)\n",
                   ok ? "ok  " : "FAIL", t[g], q == 0 ? "e" : "m2", mean, err, exact, z);
        }
    }
    return failed ? 1 : 0;
}
