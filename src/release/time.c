/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timestamps of the releases and schedule files, through the series module's civil
 * time helpers. These files take the one form the release model fixes,
 * "YYYY-MM-DD HH:MM:SS" ('T' also accepted), while the series reader also accepts
 * a date alone or a time without seconds.
 */
#include "cdnopt/release.h"

#include <string.h>

int cdnopt_release_parse_time(const char *text, int64_t *out)
{
    if (text == NULL || strlen(text) != 19)
        return CDNOPT_EPARSE;
    return cdnopt_civil_parse(text, out, NULL) == CDNOPT_OK ? 0 : CDNOPT_EPARSE;
}

void cdnopt_release_format_time(int64_t t, char *buf, size_t buf_size)
{
    cdnopt_civil_format(t, buf, buf_size);
}
