/*
 * charset.c - conversion of non-UTF-8 column character sets to UTF-8 for the change events.
 * The converters are created on first use and cached per decoder (dec->charsets).
 */
#include "reader/binlog_int.h"

void binlog__charsets_free(binlog_decoder_t *dec)
{
    (void)dec; /* no converter is cached yet */
}
