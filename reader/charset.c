/*
 * charset.c - per-decoder conversion state (struct binlog_charsets, rows_int.h): the
 * converters of non-UTF-8 column character sets to UTF-8 and the scratch buffers of MySQL
 * binary JSON. Created on first use and cached per decoder (dec->charsets).
 */
#include "reader/rows_int.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>

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
