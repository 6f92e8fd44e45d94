/* logfill DIR: writes a small log with rowlog's log store (topic "t", one partition, three
 * committed batches of JSON records) for the `rowlog log check` CLI test. */
#include <stdio.h>

#include "log/log.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: logfill DIR\n");
        return 2;
    }
    log_store_t *store;
    rl_err err = {0};
    log_store_opts opts = {.compression = LOG_COMPRESSION_NONE};
    if (log_store_open(&store, argv[1], &opts, &err) != 0) {
        fprintf(stderr, "logfill: %s\n", err.msg);
        return 1;
    }
    char key[32], val[64];
    for (int b = 0; b < 3; b++) {
        for (int i = 0; i < 10; i++) {
            int n = b * 10 + i;
            snprintf(key, sizeof key, "{\"id\":%d}", n);
            snprintf(val, sizeof val, "{\"after\":{\"id\":%d,\"v\":\"value %d\"}}", n, n);
            if (log_store_append(store, rl_slice_str("t"), rl_slice_str(key), rl_slice_str(val),
                                 1700000000000 + n, &err) != 0)
                goto fail;
        }
        if (log_store_commit(store, rl_slice_str("checkpoint"), &err) != 0)
            goto fail;
    }
    log_store_close(store);
    return 0;
fail:
    fprintf(stderr, "logfill: %s\n", err.msg);
    log_store_close(store);
    return 1;
}
