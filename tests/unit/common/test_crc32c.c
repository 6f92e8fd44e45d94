/* Unit tests for rl_crc32c's implementations (common/rl.c): the hardware path (SSE4.2 on
 * x86-64, ARMv8 CRC32 on aarch64) and the slicing-by-8 table path against a bit-at-a-time
 * reference written from the definition (RFC 3720 B.4: reflected, poly 0x82F63B78, initial
 * and final inversion), on every length 0..1024 at every alignment 0..15, across the 3-stream
 * block boundaries, on several MiB, split at random points; plus the published check values.
 *
 * The test includes common/rl.c itself (STYLE rule 24) to reach the static implementations,
 * so it links libdeflate and pthreads rather than rowlog_common. Random data: the seed is
 * printed; set RL_TEST_SEED to replay one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rl.c"

/* The bitwise definition: independent of both implementations under test. */
static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng_next();
}

/* The implementations this machine can run: the table one always, the hardware one when the
 * CPU has the instruction (reported, so a run on a CPU without it is visible in the log). */
struct impl {
    const char *name;
    crc32c_fn fn;
};
static size_t impls_get(struct impl out[3])
{
    size_t k = 0;
    pthread_once(&crc32c_once, crc32c_init);
    out[k++] = (struct impl){"sw", crc32c_sw};
#ifdef CRC32C_HAVE_SSE42
    if (__builtin_cpu_supports("sse4.2"))
        out[k++] = (struct impl){"sse4.2", crc32c_sse42};
    else
        print_message("no SSE4.2 on this CPU: hardware path not tested\n");
#endif
#ifdef CRC32C_HAVE_ARMV8
    out[k++] = (struct impl){"armv8", crc32c_armv8};
#endif
    out[k++] = (struct impl){"rl_crc32c", rl_crc32c};
    return k;
}

static void test_check_values(void **state)
{
    (void)state;
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    struct impl im[3];
    size_t ni = impls_get(im);
    for (size_t i = 0; i < ni; i++) {
        print_message("checking %s\n", im[i].name);
        /* RFC 3720 B.4 */
        assert_int_equal(im[i].fn(0, zeros, 32), 0x8A9136AAu);
        assert_int_equal(im[i].fn(0, ones, 32), 0x62A8AB43u);
        assert_int_equal(im[i].fn(0, inc, 32), 0x46DD794Eu);
        assert_int_equal(im[i].fn(0, dec, 32), 0x113FDB5Cu);
        /* The catalogue check value (CRC-32/ISCSI). */
        assert_int_equal(im[i].fn(0, "123456789", 9), 0xE3069283u);
        assert_int_equal(im[i].fn(0, "", 0), 0u);
        assert_int_equal(im[i].fn(0x12345678u, "", 0), 0x12345678u);
    }
    /* The reference itself passes the same vectors, so it is a fair oracle below. */
    assert_int_equal(ref_crc32c(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(ref_crc32c(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
}

/* Every length 0..1024 (crosses the 3 x 256 short-block step at 768) at every start
 * alignment 0..15, with a nonzero incoming crc as a continuation would have. */
static void test_lengths_alignments(void **state)
{
    (void)state;
    enum { MAXLEN = 1024, MAXALIGN = 16 };
    uint8_t *raw = malloc(MAXLEN + MAXALIGN + 64);
    assert_non_null(raw);
    /* Start from a 64-byte boundary so "alignment a" means p % 8 == a % 8 and p % 16 == a. */
    uint8_t *base = (uint8_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    struct impl im[3];
    size_t ni = impls_get(im);
    for (size_t a = 0; a < MAXALIGN; a++) {
        fill_random(base + a, MAXLEN);
        uint32_t seed = (uint32_t)rng_next();
        for (size_t len = 0; len <= MAXLEN; len++) {
            uint32_t want0 = ref_crc32c(0, base + a, len);
            uint32_t want1 = ref_crc32c(seed, base + a, len);
            for (size_t i = 0; i < ni; i++) {
                uint32_t got0 = im[i].fn(0, base + a, len);
                uint32_t got1 = im[i].fn(seed, base + a, len);
                if (got0 != want0 || got1 != want1)
                    fail_msg("%s: len %zu align %zu: got %08x/%08x want %08x/%08x", im[i].name,
                             len, a, got0, got1, want0, want1);
            }
        }
    }
    free(raw);
}

/* Lengths around the 3 x 8 KiB long-block step and its multiples, at odd alignments. */
static void test_long_block_edges(void **state)
{
    (void)state;
    size_t step = 3 * CRC32C_LONG;
    size_t max = 3 * step + 64;
    uint8_t *raw = malloc(max + 16);
    assert_non_null(raw);
    fill_random(raw, max + 16);
    struct impl im[3];
    size_t ni = impls_get(im);
    for (size_t mult = 1; mult <= 3; mult++)
        for (size_t d = 0; d <= 16; d++)
            for (size_t a = 0; a < 16; a += 5) {
                size_t len = mult * step + d - 8;
                uint32_t want = ref_crc32c(0, raw + a, len);
                for (size_t i = 0; i < ni; i++) {
                    uint32_t got = im[i].fn(0, raw + a, len);
                    if (got != want)
                        fail_msg("%s: len %zu align %zu: got %08x want %08x", im[i].name, len,
                                 a, got, want);
                }
            }
    free(raw);
}

/* Several MiB one shot, and the same bytes fed in pieces cut at random points (pieces of
 * every size class: bytes, sub-block, multi-block) equal the one-shot CRC. */
static void test_large_and_incremental(void **state)
{
    (void)state;
    size_t n = ((size_t)5 << 20) + 13;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    fill_random(buf, n);
    uint32_t want = ref_crc32c(0, buf, n);
    struct impl im[3];
    size_t ni = impls_get(im);
    for (size_t i = 0; i < ni; i++) {
        uint32_t got = im[i].fn(0, buf, n);
        if (got != want)
            fail_msg("%s: %zu bytes: got %08x want %08x", im[i].name, n, got, want);
        for (int round = 0; round < 8; round++) {
            uint32_t c = 0;
            size_t off = 0;
            while (off < n) {
                size_t maxpiece = (size_t)1 << (rng_next() % 18); /* 1 B .. 128 KiB */
                size_t piece = (size_t)(rng_next() % (maxpiece + 1));
                if (piece > n - off)
                    piece = n - off;
                c = im[i].fn(c, buf + off, piece);
                off += piece;
            }
            if (c != want)
                fail_msg("%s: incremental round %d: got %08x want %08x", im[i].name, round, c,
                         want);
        }
    }
    free(buf);
}

/* The joining operator: crc32c_shift by a table for n zeros equals feeding n zero bytes. */
static void test_shift_tables(void **state)
{
    (void)state;
    static const uint8_t zeros[CRC32C_LONG];
    pthread_once(&crc32c_once, crc32c_init);
    for (int t = 0; t < 64; t++) {
        uint32_t r = t < 32 ? (uint32_t)1 << t : (uint32_t)rng_next();
        /* ref_crc32c inverts in and out; undo both to feed the raw register. */
        uint32_t want_long = ~ref_crc32c(~r, zeros, CRC32C_LONG);
        uint32_t want_short = ~ref_crc32c(~r, zeros, CRC32C_SHORT);
        assert_int_equal(crc32c_shift(crc32c_long_shift, r), want_long);
        assert_int_equal(crc32c_shift(crc32c_short_shift, r), want_short);
    }
}

int main(void)
{
    const char *env = getenv("RL_TEST_SEED");
    rng_state = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    printf("test_crc32c: RL_TEST_SEED=%llu\n", (unsigned long long)rng_state);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_values),      cmocka_unit_test(test_lengths_alignments),
        cmocka_unit_test(test_long_block_edges),  cmocka_unit_test(test_large_and_incremental),
        cmocka_unit_test(test_shift_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
