/*
 * Sample the 2D Ising model at T_c through the C ABI, coarse-grain the samples with the
 * 2x2 majority rule and print energies before and after. The README's C example.
 *
 *   cargo build --release -p rsmi-ffi
 *   cc -O2 -I bindings/c/include bindings/c/examples/sample_coarsen.c \
 *      -L target/release -lrsmi_ffi -Wl,-rpath,$PWD/target/release -o sample_coarsen
 */
#include <stdio.h>
#include <stdlib.h>
#include "rsmi.h"

#define TRY(call)                                                                 \
    if ((call) != RSMI_OK) {                                                      \
        fprintf(stderr, "rsmi: %s\n", rsmi_last_error_message());                 \
        return 1;                                                                 \
    }

/* Bond energy per site of a packed L x L configuration (rows of (L+7)/8 bytes). */
static double energy(const uint8_t *cfg, int l) {
    int rb = (l + 7) / 8;
#define SPIN(y, x) ((cfg[(y) * rb + (x) / 8] >> (7 - (x) % 8) & 1) ? 1 : -1)
    long e = 0;
    for (int y = 0; y < l; y++)
        for (int x = 0; x < l; x++)
            e -= SPIN(y, x) * (SPIN(y, (x + 1) % l) + SPIN((y + 1) % l, x));
    return (double)e / (l * l);
#undef SPIN
}

int main(void) {
    const size_t L = 32;
    RsmiIsing *ising;
    TRY(rsmi_ising_new(RSMI_DIM_2, L, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS, 2.269185314213022,
                       0.0, /* seed */ 1, /* job */ 0, /* lane */ 0, &ising));
    for (int i = 0; i < 1000; i++) { /* burn-in, with a global flip per sweep */
        TRY(rsmi_ising_sweep(ising, 1));
        TRY(rsmi_ising_global_flip(ising));
    }
    size_t chains, sites, packed;
    TRY(rsmi_ising_shape(ising, &chains, &sites, &packed)); /* 256, 1024, 128 */
    uint8_t *fine = malloc(chains * packed);
    TRY(rsmi_ising_export_all(ising, fine, chains * packed)); /* NumPy packbits rows */

    const double majority[4] = {1, 1, 1, 1}; /* weights of a 2x2 block, bias 0 */
    RsmiRule *rule;
    RsmiStream *rng;
    size_t coarse_len;
    TRY(rsmi_rule_new(RSMI_DIM_2, 2, majority, 4, 0.0, &rule));
    TRY(rsmi_rule_coarse_len(rule, L, &coarse_len)); /* 16 rows of 2 bytes */
    TRY(rsmi_stream_new(/* seed */ 1, /* job */ 0, /* lane */ 0, &rng));
    uint8_t *coarse = malloc(chains * coarse_len);
    TRY(rsmi_rule_apply(rule, fine, chains * packed, L, chains, RSMI_DRAW_ARGMAX, rng, coarse,
                        chains * coarse_len));

    double e_fine = 0, e_coarse = 0;
    for (size_t c = 0; c < chains; c++) {
        e_fine += energy(fine + c * packed, (int)L) / chains;
        e_coarse += energy(coarse + c * coarse_len, (int)L / 2) / chains;
    }
    printf("%zu samples of %zux%zu at T_c: e = %.4f; after 2x2 majority (%zux%zu): e = %.4f\n",
           chains, L, L, e_fine, L / 2, L / 2, e_coarse);

    /* Errors: a status code and a sentence. */
    if (rsmi_ising_export(ising, 0, fine, 5) != RSMI_OK)
        printf("expected error: %s\n", rsmi_last_error_message());

    rsmi_stream_free(rng);
    rsmi_rule_free(rule);
    rsmi_ising_free(ising);
    free(fine);
    free(coarse);
    return 0;
}
