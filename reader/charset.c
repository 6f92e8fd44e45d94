/*
 * charset.c - character sets of text columns, and the per-decoder conversion state (struct
 * binlog_charsets, rows_int.h): converters of non-UTF-8 character sets to UTF-8 (iconv, opened
 * once per decoder and character set, reused for every value) and the scratch buffers of
 * MySQL binary JSON. Created on first use and cached per decoder (dec->charsets).
 *
 * Collation ids: mysql-server strings/ctype-*.cc (CHARSET_INFO number fields, as listed by
 * information_schema.COLLATIONS: ids 1-99 and the Unicode ranges 101-124 utf16, 128-159 ucs2,
 * 160-183 utf32, 192-223 utf8mb3, 224-247 utf8mb4, 248-250 gb18030, 255-323 utf8mb4_0900);
 * MariaDB strings/ctype-*.c adds 576-767 (utf8mb3/utf8mb4/ucs2/utf16/utf32 *_mysql561 and
 * *_520 collations), 1024 + id (the NO PAD twin of collation id) and 2048-3327 (the UCA 14.0
 * collations, 256 ids per charset: utf8mb3, utf8mb4, ucs2, utf16, utf32).
 * MySQL's ucs2, utf16 and utf32 are big-endian; utf16le is little-endian. MySQL's sjis maps
 * 0x5C and 0x7E to ASCII (strings/ctype-sjis.cc), as glibc's CP932 does and its SHIFT_JIS
 * does not (yen sign, overline), so sjis converts through CP932.
 */
#include "reader/rows_int.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>

/* Character sets; iconv names from glibc's gconv-modules. NULL: no converter (the value keeps
 * its bytes, see binlog__put_charset_text). */
static const struct {
    const char *name; /* MySQL name */
    const char *iconv;
} charsets[BINLOG_CS_COUNT] = {
    [BINLOG_CS_UNKNOWN] = {"unknown", NULL},
    [BINLOG_CS_UTF8] = {"utf8mb4", NULL},
    [BINLOG_CS_BINARY] = {"binary", NULL},
    [BINLOG_CS_LATIN1] = {"latin1", NULL},
    [BINLOG_CS_BIG5] = {"big5", "BIG5"},
    [BINLOG_CS_DEC8] = {"dec8", "DEC-MCS"},
    [BINLOG_CS_CP850] = {"cp850", "CP850"},
    [BINLOG_CS_HP8] = {"hp8", "HP-ROMAN8"},
    [BINLOG_CS_KOI8R] = {"koi8r", "KOI8-R"},
    [BINLOG_CS_LATIN2] = {"latin2", "ISO-8859-2"},
    [BINLOG_CS_SWE7] = {"swe7", "ISO646-SE"},
    [BINLOG_CS_ASCII] = {"ascii", "ASCII"},
    [BINLOG_CS_UJIS] = {"ujis", "EUC-JP"},
    [BINLOG_CS_SJIS] = {"sjis", "CP932"},
    [BINLOG_CS_HEBREW] = {"hebrew", "ISO-8859-8"},
    [BINLOG_CS_TIS620] = {"tis620", "TIS-620"},
    [BINLOG_CS_EUCKR] = {"euckr", "EUC-KR"},
    [BINLOG_CS_KOI8U] = {"koi8u", "KOI8-U"},
    [BINLOG_CS_GB2312] = {"gb2312", "EUC-CN"},
    [BINLOG_CS_GREEK] = {"greek", "ISO-8859-7"},
    [BINLOG_CS_CP1250] = {"cp1250", "CP1250"},
    [BINLOG_CS_GBK] = {"gbk", "GBK"},
    [BINLOG_CS_LATIN5] = {"latin5", "ISO-8859-9"},
    [BINLOG_CS_ARMSCII8] = {"armscii8", "ARMSCII-8"},
    [BINLOG_CS_UCS2] = {"ucs2", "UCS-2BE"},
    [BINLOG_CS_CP866] = {"cp866", "CP866"},
    [BINLOG_CS_KEYBCS2] = {"keybcs2", NULL},
    [BINLOG_CS_MACCE] = {"macce", "MAC-CENTRALEUROPE"},
    [BINLOG_CS_MACROMAN] = {"macroman", "MACINTOSH"},
    [BINLOG_CS_CP852] = {"cp852", "CP852"},
    [BINLOG_CS_LATIN7] = {"latin7", "ISO-8859-13"},
    [BINLOG_CS_CP1251] = {"cp1251", "CP1251"},
    [BINLOG_CS_UTF16] = {"utf16", "UTF-16BE"},
    [BINLOG_CS_UTF16LE] = {"utf16le", "UTF-16LE"},
    [BINLOG_CS_CP1256] = {"cp1256", "CP1256"},
    [BINLOG_CS_CP1257] = {"cp1257", "CP1257"},
    [BINLOG_CS_UTF32] = {"utf32", "UTF-32BE"},
    [BINLOG_CS_GEOSTD8] = {"geostd8", "GEORGIAN-PS"},
    [BINLOG_CS_CP932] = {"cp932", "CP932"},
    [BINLOG_CS_EUCJPMS] = {"eucjpms", "EUC-JP-MS"},
    [BINLOG_CS_GB18030] = {"gb18030", "GB18030"},
};

/* Collation ids 1-99 (mysql-server and MariaDB agree on these). */
static const uint8_t low_ids[100] = {
    [1] = BINLOG_CS_BIG5,      [2] = BINLOG_CS_LATIN2,    [3] = BINLOG_CS_DEC8,
    [4] = BINLOG_CS_CP850,     [5] = BINLOG_CS_LATIN1,    [6] = BINLOG_CS_HP8,
    [7] = BINLOG_CS_KOI8R,     [8] = BINLOG_CS_LATIN1,    [9] = BINLOG_CS_LATIN2,
    [10] = BINLOG_CS_SWE7,     [11] = BINLOG_CS_ASCII,    [12] = BINLOG_CS_UJIS,
    [13] = BINLOG_CS_SJIS,     [14] = BINLOG_CS_CP1251,   [15] = BINLOG_CS_LATIN1,
    [16] = BINLOG_CS_HEBREW,   [18] = BINLOG_CS_TIS620,   [19] = BINLOG_CS_EUCKR,
    [20] = BINLOG_CS_LATIN7,   [21] = BINLOG_CS_LATIN2,   [22] = BINLOG_CS_KOI8U,
    [23] = BINLOG_CS_CP1251,   [24] = BINLOG_CS_GB2312,   [25] = BINLOG_CS_GREEK,
    [26] = BINLOG_CS_CP1250,   [27] = BINLOG_CS_LATIN2,   [28] = BINLOG_CS_GBK,
    [29] = BINLOG_CS_CP1257,   [30] = BINLOG_CS_LATIN5,   [31] = BINLOG_CS_LATIN1,
    [32] = BINLOG_CS_ARMSCII8, [33] = BINLOG_CS_UTF8,     [34] = BINLOG_CS_CP1250,
    [35] = BINLOG_CS_UCS2,     [36] = BINLOG_CS_CP866,    [37] = BINLOG_CS_KEYBCS2,
    [38] = BINLOG_CS_MACCE,    [39] = BINLOG_CS_MACROMAN, [40] = BINLOG_CS_CP852,
    [41] = BINLOG_CS_LATIN7,   [42] = BINLOG_CS_LATIN7,   [43] = BINLOG_CS_MACCE,
    [44] = BINLOG_CS_CP1250,   [45] = BINLOG_CS_UTF8,     [46] = BINLOG_CS_UTF8,
    [47] = BINLOG_CS_LATIN1,   [48] = BINLOG_CS_LATIN1,   [49] = BINLOG_CS_LATIN1,
    [50] = BINLOG_CS_CP1251,   [51] = BINLOG_CS_CP1251,   [52] = BINLOG_CS_CP1251,
    [53] = BINLOG_CS_MACROMAN, [54] = BINLOG_CS_UTF16,    [55] = BINLOG_CS_UTF16,
    [56] = BINLOG_CS_UTF16LE,  [57] = BINLOG_CS_CP1256,   [58] = BINLOG_CS_CP1257,
    [59] = BINLOG_CS_CP1257,   [60] = BINLOG_CS_UTF32,    [61] = BINLOG_CS_UTF32,
    [62] = BINLOG_CS_UTF16LE,  [63] = BINLOG_CS_BINARY,   [64] = BINLOG_CS_ARMSCII8,
    [65] = BINLOG_CS_ASCII,    [66] = BINLOG_CS_CP1250,   [67] = BINLOG_CS_CP1256,
    [68] = BINLOG_CS_CP866,    [69] = BINLOG_CS_DEC8,     [70] = BINLOG_CS_GREEK,
    [71] = BINLOG_CS_HEBREW,   [72] = BINLOG_CS_HP8,      [73] = BINLOG_CS_KEYBCS2,
    [74] = BINLOG_CS_KOI8R,    [75] = BINLOG_CS_KOI8U,    [76] = BINLOG_CS_UTF8,
    [77] = BINLOG_CS_LATIN2,   [78] = BINLOG_CS_LATIN5,   [79] = BINLOG_CS_LATIN7,
    [80] = BINLOG_CS_CP850,    [81] = BINLOG_CS_CP852,    [82] = BINLOG_CS_SWE7,
    [83] = BINLOG_CS_UTF8,     [84] = BINLOG_CS_BIG5,     [85] = BINLOG_CS_EUCKR,
    [86] = BINLOG_CS_GB2312,   [87] = BINLOG_CS_GBK,      [88] = BINLOG_CS_SJIS,
    [89] = BINLOG_CS_TIS620,   [90] = BINLOG_CS_UCS2,     [91] = BINLOG_CS_UJIS,
    [92] = BINLOG_CS_GEOSTD8,  [93] = BINLOG_CS_GEOSTD8,  [94] = BINLOG_CS_LATIN1,
    [95] = BINLOG_CS_CP932,    [96] = BINLOG_CS_CP932,    [97] = BINLOG_CS_EUCJPMS,
    [98] = BINLOG_CS_EUCJPMS,  [99] = BINLOG_CS_CP1250,
};

static const uint8_t uca_cs[5] = {BINLOG_CS_UTF8, BINLOG_CS_UTF8, BINLOG_CS_UCS2, BINLOG_CS_UTF16,
                                  BINLOG_CS_UTF32};

int binlog__charset_of(uint32_t collation)
{
    if (collation >= 1024 && collation < 2048)
        collation -= 1024; /* MariaDB NO PAD twin */
    if (collation < 100)
        return low_ids[collation];
    if (collation >= 101 && collation <= 124)
        return BINLOG_CS_UTF16;
    if (collation >= 128 && collation <= 151)
        return BINLOG_CS_UCS2;
    if (collation == 159)
        return BINLOG_CS_UCS2;
    if (collation >= 160 && collation <= 183)
        return BINLOG_CS_UTF32;
    if ((collation >= 192 && collation <= 215) || collation == 223)
        return BINLOG_CS_UTF8;
    if (collation >= 224 && collation <= 247)
        return BINLOG_CS_UTF8;
    if (collation >= 248 && collation <= 250)
        return BINLOG_CS_GB18030;
    if (collation >= 255 && collation <= 323)
        return BINLOG_CS_UTF8; /* MySQL 8 utf8mb4_*_0900_* */
    if (collation >= 576 && collation <= 767) {
        static const uint8_t maria[6] = {BINLOG_CS_UTF8,  BINLOG_CS_UTF8,    BINLOG_CS_UCS2,
                                         BINLOG_CS_UTF16, BINLOG_CS_UNKNOWN, BINLOG_CS_UTF32};
        return maria[(collation - 576) / 32];
    }
    if (collation >= 2048 && collation < 2048 + 5 * 256)
        return uca_cs[(collation - 2048) / 256];
    return BINLOG_CS_UNKNOWN;
}

const char *binlog__charset_name(int cs)
{
    return cs >= 0 && cs < BINLOG_CS_COUNT ? charsets[cs].name : "unknown";
}

/* The value's original bytes, for a consumer to convert: {"_bytes_base64":"...",
 * "_charset":"name"} (docs/events.md). */
static void put_bytes_object(rl_buf *b, int cs, const uint8_t *p, size_t n)
{
    rl_buf_puts(b, "{\"_bytes_base64\":\"");
    rl_buf_base64(b, p, n);
    rl_buf_puts(b, "\",\"_charset\":\"");
    rl_buf_puts(b, charsets[cs].name);
    rl_buf_puts(b, "\"}");
}

int binlog__put_charset_text(binlog_decoder_t *dec, rl_buf *b, int cs, const uint8_t *p, size_t n)
{
    if (cs <= BINLOG_CS_UTF8 || cs >= BINLOG_CS_COUNT) {
        rl_buf_json_str(b, p, n);
        return 0;
    }
    if (cs == BINLOG_CS_BINARY) {
        rl_buf_putc(b, '"');
        rl_buf_base64(b, p, n);
        rl_buf_putc(b, '"');
        return 0;
    }
    if (cs == BINLOG_CS_LATIN1) {
        binlog__json_latin1(b, p, n);
        return 0;
    }
    if (cs != BINLOG_CS_UCS2 && cs != BINLOG_CS_UTF16 && cs != BINLOG_CS_UTF16LE &&
        cs != BINLOG_CS_UTF32 && cs != BINLOG_CS_SWE7) {
        /* ASCII-compatible charsets: pure ASCII needs no converter. */
        size_t i = 0;
        while (i < n && p[i] < 0x80)
            i++;
        if (i == n) {
            rl_buf_json_str(b, p, n);
            return 0;
        }
    }
    struct binlog_charsets *st = binlog__charsets_get(dec);
    if (!st)
        return -ENOMEM;
    if (!st->cd[cs] && !st->cd_failed[cs] && charsets[cs].iconv) {
        iconv_t cd = iconv_open("UTF-8", charsets[cs].iconv);
        if (cd == (iconv_t)-1)
            st->cd_failed[cs] = true;
        else
            st->cd[cs] = (void *)cd;
    }
    if (!st->cd[cs]) {
        put_bytes_object(b, cs, p, n);
        return 0;
    }
    iconv_t cd = (iconv_t)st->cd[cs];
    /* Every input byte becomes at most 4 bytes of UTF-8 (2-byte units of ucs2/utf16 at most 3,
     * surrogate pairs and utf32 units 4). */
    if (n > (SIZE_MAX - 16) / 4 || rl_buf_reserve(&st->conv, n * 4 + 16) != 0)
        return -ENOMEM;
    iconv(cd, NULL, NULL, NULL, NULL);
    char *in = (char *)(uintptr_t)p, *out = (char *)st->conv.p;
    size_t inleft = n, outleft = st->conv.cap;
    size_t r = iconv(cd, &in, &inleft, &out, &outleft);
    if (r == (size_t)-1 || inleft != 0 || r != 0) {
        /* Not convertible (invalid or incomplete sequence, or a character iconv had to
         * approximate): keep the bytes. */
        put_bytes_object(b, cs, p, n);
        return 0;
    }
    rl_buf_json_str(b, st->conv.p, st->conv.cap - outleft);
    return 0;
}

struct binlog_charsets *binlog__charsets_get(binlog_decoder_t *dec)
{
    if (dec->charsets)
        return dec->charsets;
    struct binlog_charsets *cs = calloc(1, sizeof *cs);
    if (!cs)
        return NULL;
    for (size_t i = 0; i < sizeof cs->cd / sizeof cs->cd[0]; i++)
        cs->cd[i] = NULL;
    dec->charsets = cs;
    return cs;
}

void binlog__charsets_free(binlog_decoder_t *dec)
{
    struct binlog_charsets *cs = dec->charsets;
    if (!cs)
        return;
    for (size_t i = 0; i < sizeof cs->cd / sizeof cs->cd[0]; i++)
        if (cs->cd[i])
            iconv_close((iconv_t)cs->cd[i]);
    rl_buf_free(&cs->conv);
    rl_buf_free(&cs->json);
    rl_buf_free(&cs->jtext);
    free(cs->nodes);
    free(cs->jbefore);
    free(cs);
    dec->charsets = NULL;
}
