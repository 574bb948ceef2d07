/*
 * Behaviour of the C ABI: status codes and error sentences for NULL pointers, wrong
 * lengths and bad parameters; export/import round trips; Wolff, dimer and rule basics.
 * Prints one line per check and exits non-zero on the first failure.
 */
#include <string.h>
#include "check.h"

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

/* The call must fail with `status` and a message containing `part`. */
#define EXPECT_ERR(call, status, part)                                                    \
    do {                                                                                  \
        int rc_ = (call);                                                                 \
        const char *msg_ = rsmi_last_error_message();                                     \
        EXPECT(rc_ == (status) && contains(msg_, part), "status %d, message \"%s\"", rc_, \
               msg_);                                                                     \
        printf("ok   %-44s -> \"%s\"\n", #call, msg_);                                    \
    } while (0)

int main(void) {
    printf("rsmi %s\n", rsmi_version());
    EXPECT(strcmp(rsmi_last_error_message(), "") == 0, "no error yet");

    /* Creation errors: *out is NULL afterwards. */
    RsmiIsing *s = (RsmiIsing *)&s; /* garbage that must be overwritten */
    EXPECT_ERR(rsmi_ising_new(RSMI_DIM_2, 100, RSMI_LAYOUT_STRIP, RSMI_METROPOLIS, 2.0, 0.0, 1,
                              0, 0, &s),
               RSMI_ERROR_INVALID, "lattice size 100 is not supported");
    EXPECT(s == NULL, "handle cleared on error");
    EXPECT_ERR(rsmi_ising_new(RSMI_DIM_2, 8, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS, -1.0, 0.0, 1,
                              0, 0, &s),
               RSMI_ERROR_INVALID, "temperature must be a finite number greater than zero");
    EXPECT_ERR(rsmi_ising_new(3, 8, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS, 2.0, 0.0, 1, 0, 0, &s),
               RSMI_ERROR_INVALID, "dimension must be 1");
    EXPECT_ERR(rsmi_ising_new(RSMI_DIM_2, 8, RSMI_LAYOUT_REPLICA, 7, 2.0, 0.0, 1, 0, 0, &s),
               RSMI_ERROR_INVALID, "algorithm must be");
    EXPECT_ERR(rsmi_ising_new(RSMI_DIM_2, 8, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS, 2.0, 0.0, 1,
                              0, 0, NULL),
               RSMI_ERROR_NULL, "argument `out` is a null pointer");
    EXPECT_ERR(rsmi_ising_new(RSMI_DIM_2, (size_t)1 << 40, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS,
                              2.0, 0.0, 1, 0, 0, &s),
               RSMI_ERROR_INVALID, "");

    /* A good sampler; NULL handles and wrong lengths. */
    CHECK(rsmi_ising_new(RSMI_DIM_2, 10, RSMI_LAYOUT_REPLICA, RSMI_HEAT_BATH, 2.0, 0.0, 1, 0, 0,
                         &s));
    EXPECT_ERR(rsmi_ising_sweep(NULL, 1), RSMI_ERROR_NULL, "argument `ising` is a null pointer");
    uint8_t buf[10 * 2 + 1];
    EXPECT_ERR(rsmi_ising_export(s, 0, buf, 21), RSMI_ERROR_INVALID,
               "buffer `packed output` has length 21, expected 20");
    EXPECT_ERR(rsmi_ising_export(s, 0, NULL, 20), RSMI_ERROR_NULL, "argument `out`");
    EXPECT_ERR(rsmi_ising_export(s, 256, buf, 20), RSMI_ERROR_INVALID, "chain index out of range");
    int64_t e[256], m[256];
    EXPECT_ERR(rsmi_ising_measure(s, e, m, 255), RSMI_ERROR_INVALID,
               "buffer `bond_energy` has length 255, expected 256");
    EXPECT_ERR(rsmi_ising_measure(s, e, e, 256), RSMI_ERROR_INVALID, "overlap");
    double t2[2] = {2.0, 3.0};
    EXPECT_ERR(rsmi_ising_set_temperatures(s, t2, 2), RSMI_ERROR_INVALID,
               "buffer `temperatures` has length 2, expected 256");

    /* Ordered start: every chain all up, E = -2N, M = N. */
    CHECK(rsmi_ising_fill(s, 1));
    CHECK(rsmi_ising_measure(s, e, m, 256));
    EXPECT(e[0] == -200 && m[0] == 100 && e[255] == -200 && m[255] == 100, "%lld %lld",
           (long long)e[0], (long long)m[0]);
    printf("ok   ordered start: E = %lld, M = %lld\n", (long long)e[0], (long long)m[0]);

    /* Export / import round trip across a pending global flip. */
    CHECK(rsmi_ising_sweep(s, 20));
    CHECK(rsmi_ising_global_flip(s));
    uint8_t a[20], b[20], all[256 * 20];
    CHECK(rsmi_ising_export(s, 3, a, 20));
    CHECK(rsmi_ising_import(s, 7, a, 20));
    CHECK(rsmi_ising_export(s, 7, b, 20));
    EXPECT(memcmp(a, b, 20) == 0, "chain 7 equals the imported chain 3");
    CHECK(rsmi_ising_export_all(s, all, sizeof all));
    EXPECT(memcmp(all + 7 * 20, a, 20) == 0 && memcmp(all + 3 * 20, a, 20) == 0, "export_all");
    a[1] |= 0x01; /* a pad bit of row 0 (L = 10: bits 10..15 are padding) */
    EXPECT_ERR(rsmi_ising_import(s, 0, a, 20), RSMI_ERROR_INVALID, "non-zero padding bits");
    printf("ok   export/import round trip\n");
    CHECK(rsmi_ising_free(s));
    CHECK(rsmi_ising_free(NULL));

    /* Global flips need h = 0. */
    CHECK(rsmi_ising_new(RSMI_DIM_1, 16, RSMI_LAYOUT_REPLICA, RSMI_HEAT_BATH, 1.0, 0.5, 1, 0, 0,
                         &s));
    EXPECT_ERR(rsmi_ising_global_flip(s), RSMI_ERROR_INVALID, "global spin flips need zero field");
    CHECK(rsmi_ising_free(s));

    /* Strip layout: 4 chains of 128x128. */
    CHECK(rsmi_ising_new(RSMI_DIM_2, 128, RSMI_LAYOUT_STRIP, RSMI_METROPOLIS, 2.0, 0.0, 1, 0, 0,
                         &s));
    size_t chains, sites, packed;
    CHECK(rsmi_ising_shape(s, &chains, &sites, &packed));
    EXPECT(chains == 4 && sites == 128 * 128 && packed == 128 * 16, "strip shape");
    CHECK(rsmi_ising_sweep(s, 5));
    CHECK(rsmi_ising_free(s));
    printf("ok   strip layout\n");

    /* Wolff: ordered start after import, then updates. */
    RsmiWolff *w = NULL;
    CHECK(rsmi_wolff_new(RSMI_DIM_2, 6, 2.0, 0.0, 3, 0, 0, &w));
    CHECK(rsmi_wolff_shape(w, &sites, &packed));
    EXPECT(sites == 36 && packed == 6, "wolff shape");
    uint8_t up[6];
    memset(up, 0xFC, sizeof up); /* six up spins, two pad bits clear */
    CHECK(rsmi_wolff_import(w, up, 6));
    int64_t we, wm;
    CHECK(rsmi_wolff_measure(w, &we, &wm));
    EXPECT(we == -72 && wm == 36, "wolff ordered %lld %lld", (long long)we, (long long)wm);
    uint64_t csites, clusters;
    CHECK(rsmi_wolff_update(w, 10, &csites));
    CHECK(rsmi_wolff_sweep(w, &clusters));
    EXPECT(csites >= 10 && clusters >= 1, "wolff updates");
    EXPECT_ERR(rsmi_wolff_update(w, 1, NULL), RSMI_ERROR_NULL, "cluster_sites");
    CHECK(rsmi_wolff_free(w));
    printf("ok   wolff\n");

    /* Dimers: a close packing before and after sweeps. */
    RsmiDimer *d = NULL;
    EXPECT_ERR(rsmi_dimer_new(7, 0.0, 1.0, RSMI_EXITS_HEAT_BATH, 1, 0, 0, &d), RSMI_ERROR_INVALID,
               "");
    CHECK(rsmi_dimer_new(8, 0.0, 1.0, RSMI_EXITS_MINIMAL_BOUNCE, 1, 0, 0, &d));
    uint64_t steps, per_sweep;
    EXPECT_ERR(rsmi_dimer_sweep(d, 1, &steps), RSMI_ERROR_INVALID, "rsmi_dimer_calibrate");
    CHECK(rsmi_dimer_calibrate(d, 100, &per_sweep));
    CHECK(rsmi_dimer_sweep(d, 10, &steps));
    size_t nl;
    CHECK(rsmi_dimer_links_len(d, &nl));
    EXPECT(nl == 128, "links len");
    uint8_t links[128];
    CHECK(rsmi_dimer_export_links(d, links, nl));
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            /* dimers touching (x, y): h(x,y), h(x-1,y), v(x,y), v(x,y-1) */
            int n = links[y * 8 + x] + links[y * 8 + (x + 7) % 8] + links[64 + y * 8 + x] +
                    links[64 + ((y + 7) % 8) * 8 + x];
            EXPECT(n == 1, "site (%d,%d) touches %d dimers", x, y, n);
        }
    int64_t wx, wy;
    CHECK(rsmi_dimer_winding(d, &wx, &wy));
    CHECK(rsmi_dimer_import_links(d, links, nl));
    links[0] ^= 1;
    EXPECT_ERR(rsmi_dimer_import_links(d, links, nl), RSMI_ERROR_INVALID, "");
    CHECK(rsmi_dimer_free(d));
    printf("ok   dimer: %llu worms per sweep, winding (%lld, %lld)\n",
           (unsigned long long)per_sweep, (long long)wx, (long long)wy);

    /* Rules: majority of an all-up lattice is all up; argmax is deterministic. */
    RsmiRule *r = NULL;
    const double maj[4] = {1, 1, 1, 1};
    EXPECT_ERR(rsmi_rule_new(RSMI_DIM_2, 2, maj, 3, 0.0, &r), RSMI_ERROR_INVALID,
               "buffer `weights` has length 3, expected 4");
    EXPECT_ERR(rsmi_rule_new(RSMI_DIM_2, 5, maj, 4, 0.0, &r), RSMI_ERROR_INVALID,
               "at most 16 sites");
    CHECK(rsmi_rule_new(RSMI_DIM_2, 2, maj, 4, 0.0, &r));
    RsmiStream *st = NULL;
    CHECK(rsmi_stream_new(1, 0, 0, &st));
    size_t cl;
    CHECK(rsmi_rule_coarse_len(r, 8, &cl));
    EXPECT(cl == 4, "coarse len %zu", cl);
    EXPECT_ERR(rsmi_rule_coarse_len(r, 9, &cl), RSMI_ERROR_INVALID, "block must divide the side");
    uint8_t fine[2 * 8], coarse[2 * 4];
    memset(fine, 0xFF, sizeof fine);
    CHECK(rsmi_rule_apply(r, fine, sizeof fine, 8, 2, RSMI_DRAW_ARGMAX, st, coarse, sizeof coarse));
    for (int i = 0; i < 8; i++) EXPECT(coarse[i] == 0xF0, "coarse byte %d = %02x", i, coarse[i]);
    EXPECT_ERR(rsmi_rule_apply(r, fine, sizeof fine, 8, 2, 5, st, coarse, sizeof coarse),
               RSMI_ERROR_INVALID, "draw must be");
    EXPECT_ERR(rsmi_rule_apply(r, fine, sizeof fine, 8, 2, RSMI_DRAW_SAMPLE, st, fine, 8),
               RSMI_ERROR_INVALID, "overlap");
    uint64_t words[3];
    CHECK(rsmi_stream_next(st, words, 3));
    CHECK(rsmi_stream_free(st));
    CHECK(rsmi_rule_free(r));
    printf("ok   rule and stream\n");
    printf("api: all checks passed\n");
    return 0;
}
