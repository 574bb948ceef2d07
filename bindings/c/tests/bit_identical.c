/*
 * The C half of the bit-identity test: the sequence of examples/core_reference.rs
 * (which drives rsmi-core directly), driven through the C ABI; writes the same bytes to
 * argv[1]. run-tests.sh compares the two files byte for byte.
 */
#include <string.h>
#include "check.h"

static FILE *out;

static void put(const void *p, size_t n) {
    if (fwrite(p, 1, n, out) != n) {
        perror("write");
        exit(1);
    }
}

/* Sweep blocks with an optional global flip after each, then write every chain. */
static uint8_t *multi_spin(uint32_t dim, size_t l, uint32_t layout, uint32_t alg, double t,
                           double h, uint64_t seed, uint64_t job, uint64_t lane,
                           const uint64_t *blocks, int nblocks, int flip, size_t *len) {
    RsmiIsing *s;
    CHECK(rsmi_ising_new(dim, l, layout, alg, t, h, seed, job, lane, &s));
    for (int i = 0; i < nblocks; i++) {
        CHECK(rsmi_ising_sweep(s, blocks[i]));
        if (flip) CHECK(rsmi_ising_global_flip(s));
    }
    size_t chains, sites, packed;
    CHECK(rsmi_ising_shape(s, &chains, &sites, &packed));
    *len = chains * packed;
    uint8_t *buf = malloc(*len);
    CHECK(rsmi_ising_export_all(s, buf, *len));
    put(buf, *len);
    CHECK(rsmi_ising_free(s));
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: bit_identical OUT_FILE\n");
        return 2;
    }
    out = fopen(argv[1], "wb");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    size_t len;
    const uint64_t b1[2] = {7, 5}, b2[1] = {3}, b3[1] = {10};
    /* 1. */
    uint8_t *replica = multi_spin(RSMI_DIM_2, 12, RSMI_LAYOUT_REPLICA, RSMI_HEAT_BATH, 2.5, 0.0,
                                  2024, 3, 4, b1, 2, 1, &len);
    /* 2. */
    free(multi_spin(RSMI_DIM_2, 128, RSMI_LAYOUT_STRIP, RSMI_METROPOLIS, 2.269185314213022, 0.1,
                    7, 0, 0, b2, 1, 0, &len));
    /* 3. */
    free(multi_spin(RSMI_DIM_1, 20, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS_HALF, 1.0, 0.0, 5, 1, 0,
                    b3, 1, 0, &len));

    /* 4. */
    RsmiWolff *w;
    uint64_t sites;
    uint8_t wbuf[32];
    CHECK(rsmi_wolff_new(RSMI_DIM_2, 16, 2.3, 0.0, 11, 2, 1, &w));
    CHECK(rsmi_wolff_update(w, 50, &sites));
    CHECK(rsmi_wolff_export(w, wbuf, sizeof wbuf));
    put(wbuf, sizeof wbuf);
    CHECK(rsmi_wolff_free(w));

    /* 5. */
    RsmiDimer *d;
    uint64_t per_sweep, steps;
    uint8_t links[128];
    CHECK(rsmi_dimer_new(8, -1.0, 0.65, RSMI_EXITS_HEAT_BATH, 9, 0, 0, &d));
    CHECK(rsmi_dimer_calibrate(d, 100, &per_sweep));
    CHECK(rsmi_dimer_sweep(d, 10, &steps));
    CHECK(rsmi_dimer_export_links(d, links, sizeof links));
    put(links, sizeof links);
    CHECK(rsmi_dimer_free(d));

    /* 6. */
    RsmiRule *r;
    RsmiStream *st;
    const double weights[4] = {1.0, 0.5, -0.25, 2.0};
    uint8_t coarse[256 * 6];
    CHECK(rsmi_rule_new(RSMI_DIM_2, 2, weights, 4, 0.1, &r));
    CHECK(rsmi_stream_new(3, 0, 0, &st));
    CHECK(rsmi_rule_apply(r, replica, 256 * 24, 12, 256, RSMI_DRAW_SAMPLE, st, coarse,
                          sizeof coarse));
    put(coarse, sizeof coarse);
    CHECK(rsmi_stream_free(st));
    CHECK(rsmi_rule_free(r));
    free(replica);

    if (fclose(out) != 0) {
        perror("close");
        return 1;
    }
    printf("bit_identical: wrote %s\n", argv[1]);
    return 0;
}
