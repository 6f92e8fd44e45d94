/* Unit tests for common/: CRC32C (RFC 3720 B.4 vectors), murmur2 (Kafka UtilsTest vectors),
 * varints, the sticky reader, JSON strings and base64 (RFC 4648 section 10 vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rl.h"

static void test_crc32c_vectors(void **state)
{
    (void)state;
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    memset(ones, 0xff, sizeof ones);
    for (int i = 0; i < 32; i++)
        inc[i] = (uint8_t)i;
    assert_int_equal(rl_crc32c(0, zeros, 32), 0x8A9136AAu);
    assert_int_equal(rl_crc32c(0, ones, 32), 0x62A8AB43u);
    assert_int_equal(rl_crc32c(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(rl_crc32c(0, "123456789", 9), 0xE3069283u);
    /* Incremental equals one shot. */
    uint32_t c = rl_crc32c(0, "12345", 5);
    assert_int_equal(rl_crc32c(c, "6789", 4), 0xE3069283u);
    assert_int_equal(rl_crc32(0, "123456789", 9), 0xCBF43926u);
}

static void test_murmur2_kafka(void **state)
{
    (void)state;
    struct {
        const char *s;
        int32_t h;
    } cases[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal((int32_t)rl_murmur2(cases[i].s, strlen(cases[i].s)), cases[i].h);
}

static void test_varint_roundtrip(void **state)
{
    (void)state;
    int64_t vals[] = {0, 1, -1, 63, -64, 64, 300, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    rl_buf b = RL_BUF_INIT;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        rl_buf_put_varlong(&b, vals[i]);
    rl_reader rd = rl_reader_make(rl_buf_slice(&b));
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        assert_true(rl_get_varlong(&rd) == vals[i]);
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
    rl_buf_free(&b);
}

static void test_reader_sticky(void **state)
{
    (void)state;
    uint8_t bytes[5] = {1, 2, 3, 4, 5};
    rl_reader rd = rl_reader_make(rl_slice_make(bytes, 5));
    assert_int_equal(rl_get_u32le(&rd), 0x04030201u);
    assert_int_equal(rl_get_u16le(&rd), 0); /* short: error, zero */
    assert_true(rd.err);
    assert_int_equal(rl_get_u8(&rd), 0); /* sticks even though one byte is left */
    uint8_t lenenc[3] = {252, 0x34, 0x12};
    rd = rl_reader_make(rl_slice_make(lenenc, 3));
    assert_int_equal(rl_get_lenenc(&rd), 0x1234);
    uint8_t bad = 251;
    rd = rl_reader_make(rl_slice_make(&bad, 1));
    rl_get_lenenc(&rd);
    assert_true(rd.err);
}

static void test_json_and_base64(void **state)
{
    (void)state;
    rl_buf b = RL_BUF_INIT;
    rl_buf_json_str(&b, "a\"b\\c\n\x01\xf0\x9f\x98\x80\xff", 12);
    assert_string_equal(rl_buf_cstr(&b), "\"a\\\"b\\\\c\\n\\u0001\xf0\x9f\x98\x80\\u00ff\"");
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        rl_buf_reset(&b);
        rl_buf_base64(&b, in[i], strlen(in[i]));
        assert_string_equal(rl_buf_cstr(&b), out[i]);
    }
    rl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),   cmocka_unit_test(test_murmur2_kafka),
        cmocka_unit_test(test_varint_roundtrip), cmocka_unit_test(test_reader_sticky),
        cmocka_unit_test(test_json_and_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
