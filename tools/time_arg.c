/*
 * time_arg.c - the TIME arguments of `rowlog tail --from` and `rowlog offsets --time`.
 *
 * Accepted forms:
 *   RFC 3339 section 5.6 date-time: 2026-11-23T10:00:00Z, 2026-11-23T10:00:00.250+01:00
 *     ('t' / 'z' in either case, a space instead of 'T' as section 5.6's note allows);
 *     a date alone (2026-11-23) is midnight UTC; fractions beyond milliseconds are cut.
 *   relative to now: -N followed by ms, s, m, h or d (-10m is ten minutes ago).
 * Civil dates are converted without the C library's time zone machinery (the days-from-civil
 * algorithm of the proleptic Gregorian calendar, as RFC 3339 specifies).
 */
#include "tools/tools.h"

#include <errno.h>

/* Days since 1970-01-01 of the civil date y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly n digits at *s; returns -1 when not digits. */
static int digits(const char **s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *s += n;
    return v;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int parse_relative(const char *s, int64_t now_ms, int64_t *out)
{
    uint64_t n = 0;
    const char *c = s + 1;
    if (*c < '0' || *c > '9')
        return -EINVAL;
    while (*c >= '0' && *c <= '9') {
        if (n > 1000000000000ull)
            return -EINVAL;
        n = n * 10 + (uint64_t)(*c - '0');
        c++;
    }
    uint64_t unit;
    if (strcmp(c, "ms") == 0)
        unit = 1;
    else if (strcmp(c, "s") == 0)
        unit = 1000;
    else if (strcmp(c, "m") == 0)
        unit = 60000;
    else if (strcmp(c, "h") == 0)
        unit = 3600000;
    else if (strcmp(c, "d") == 0)
        unit = 86400000;
    else
        return -EINVAL;
    if (n > (uint64_t)now_ms / unit) /* before the epoch: no record is that old */
        return -EINVAL;
    *out = now_ms - (int64_t)(n * unit);
    return 0;
}

int tool_parse_time(const char *s, int64_t now_ms, int64_t *out_ms)
{
    if (!s || !*s)
        return -EINVAL;
    if (s[0] == '-')
        return parse_relative(s, now_ms, out_ms);
    const char *c = s;
    int y = digits(&c, 4);
    if (y < 0 || *c++ != '-')
        return -EINVAL;
    int mo = digits(&c, 2);
    if (mo < 1 || mo > 12 || *c++ != '-')
        return -EINVAL;
    int d = digits(&c, 2);
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return -EINVAL;
    int64_t ms = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000;
    if (*c == '\0') {
        *out_ms = ms;
        return 0;
    }
    if (*c != 'T' && *c != 't' && *c != ' ')
        return -EINVAL;
    c++;
    int h = digits(&c, 2);
    if (h < 0 || h > 23 || *c++ != ':')
        return -EINVAL;
    int mi = digits(&c, 2);
    if (mi < 0 || mi > 59 || *c++ != ':')
        return -EINVAL;
    int sec = digits(&c, 2);
    if (sec < 0 || sec > 60) /* 60: a leap second, counted as the next second */
        return -EINVAL;
    ms += ((int64_t)h * 3600 + mi * 60 + sec) * 1000;
    if (*c == '.') {
        c++;
        if (*c < '0' || *c > '9')
            return -EINVAL;
        int64_t scale = 100;
        for (; *c >= '0' && *c <= '9'; c++) {
            ms += (*c - '0') * scale;
            scale /= 10;
        }
    }
    if (*c == 'Z' || *c == 'z') {
        c++;
    } else if (*c == '+' || *c == '-') {
        int sign = *c == '-' ? -1 : 1;
        c++;
        int oh = digits(&c, 2);
        if (oh < 0 || oh > 23 || *c++ != ':')
            return -EINVAL;
        int om = digits(&c, 2);
        if (om < 0 || om > 59)
            return -EINVAL;
        /* local = UTC + offset, so UTC = local - offset (RFC 3339 section 4.2). */
        ms -= sign * ((int64_t)oh * 3600 + om * 60) * 1000;
    } else {
        return -EINVAL; /* RFC 3339 requires the offset: no guessing of a local zone */
    }
    if (*c != '\0' || ms < 0)
        return -EINVAL;
    *out_ms = ms;
    return 0;
}
