/*
 * http_get.c - the one HTTP client call of the rowlog tools: GET a URL from rowlogd's HTTP
 * endpoint (`/v1/offsets`, `/v1/status`, ...) with libcurl's easy interface.
 *
 * The body is collected into an rl_buf up to a cap (a status or offsets answer is small; a
 * larger body means the URL does not point at rowlogd). Redirects are not followed and no
 * proxy from the environment is used: the tools talk to one daemon on a known address, and a
 * proxy in http_proxy would silently send the request elsewhere.
 */
#include "tools/tools.h"

#include <errno.h>
#include <stdlib.h>

#include <curl/curl.h>

typedef struct http_sink {
    rl_buf *body;
    size_t max;
    bool too_big;
} http_sink;

static size_t http_write_cb(char *p, size_t size, size_t nmemb, void *opaque)
{
    http_sink *sink = opaque;
    size_t n = size * nmemb; /* curl guarantees size == 1 */
    if (sink->body->len + n > sink->max) {
        sink->too_big = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    rl_buf_append(sink->body, p, n);
    return rl_buf_ok(sink->body) ? n : 0;
}

static int http_request(bool post, const char *url, int timeout_ms, size_t max_body,
                        long *status, rl_buf *body, rl_err *err)
{
    if (!url || !*url)
        return rl_err_set(err, RL_ECONFIG, "empty URL");
    if (max_body == 0)
        max_body = TOOL_HTTP_MAX_BODY;
    /* curl_global_init is not thread-safe before libcurl 7.84; the tools call this from the
     * main thread only (tools.h). Repeated calls are reference counted by libcurl. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return rl_err_set(err, -ENOMEM, "%s %s: cannot initialise libcurl", post ? "POST" : "GET",
                          url);
    const char *M = post ? "POST" : "GET";
    int rc = 0;
    char why[CURL_ERROR_SIZE] = "";
    size_t start_len = body->len;
    http_sink sink = {body, start_len + max_body, false};
    CURL *h = curl_easy_init();
    if (!h) {
        rc = rl_err_set(err, -ENOMEM, "%s %s: out of memory", M, url);
        goto out;
    }
    if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK) {
        rc = rl_err_set(err, RL_ECONFIG, "bad URL '%s'", url);
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, why);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     (long)(timeout_ms > 0 ? timeout_ms : TOOL_DEFAULT_TIMEOUT_MS));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "rowlog-cli");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode c = curl_easy_perform(h);
    if (c != CURLE_OK) {
        body->len = start_len;
        if (sink.too_big)
            rc =
                rl_err_set(err, RL_ETOOBIG, "%s %s: response body above %zu bytes", M, url, max_body);
        else if (!rl_buf_ok(body))
            rc = rl_err_set(err, -ENOMEM, "%s %s: out of memory", M, url);
        else if (c == CURLE_OPERATION_TIMEDOUT)
            rc = rl_err_set(err, -ETIMEDOUT, "%s %s: no answer within %d ms", M, url, timeout_ms);
        else if (c == CURLE_COULDNT_CONNECT)
            rc = rl_err_set(err, -ECONNREFUSED, "%s %s: %s", M, url,
                            why[0] ? why : curl_easy_strerror(c));
        else
            rc =
                rl_err_set(err, RL_EPROTO, "%s %s: %s", M, url, why[0] ? why : curl_easy_strerror(c));
        goto out;
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    *status = code;
out:
    if (h)
        curl_easy_cleanup(h);
    curl_global_cleanup();
    return rc;
}

int tool_http_get(const char *url, int timeout_ms, size_t max_body, long *status, rl_buf *body,
                  rl_err *err)
{
    return http_request(false, url, timeout_ms, max_body, status, body, err);
}

int tool_http_post(const char *url, int timeout_ms, size_t max_body, long *status, rl_buf *body,
                   rl_err *err)
{
    return http_request(true, url, timeout_ms, max_body, status, body, err);
}
