/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target of the request body parsers of the service that can be called without
 * HTTP: serve_release_csv_items() (a text/csv body of releases), serve_parse_body() (a
 * JSON body) and serve_parse_time(). The first input byte picks the parser, and the
 * rest is the body. A parser that fails must have set an error response.
 *
 * NOTE: the samples parsers and the JSON release checks are static functions of
 * routes_data.c and routes_release.c that only a running server reaches, so this
 * target does not cover them.
 */
#include "serve-impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request whose body is a NUL-terminated copy of the input, as server.c keeps it. */
static bool request_init(serve_request *req, const uint8_t *data, size_t size)
{
    memset(req, 0, sizeof *req);
    req->body = cdnopt_malloc(size + 1);
    if (req->body == NULL)
        return false;
    memcpy(req->body, data, size);
    req->body[size] = '\0';
    req->body_len = size;
    req->body_cap = size + 1;
    return true;
}

static void expect_error_response(const serve_request *req, const char *parser)
{
    if (req->status < 400 || req->response == NULL) {
        fprintf(stderr, "%s failed with status %d and no error body\n", parser, req->status);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    serve_request req;
    if (!request_init(&req, data + 1, size - 1))
        return 0;

    switch (data[0] % 3) {
    case 0: {
        size_t *lines = NULL;
        json_t *items = serve_release_csv_items(&req, &lines);
        if (items == NULL)
            expect_error_response(&req, "serve_release_csv_items");
        else if (json_array_size(items) == 0)
            abort();
        json_decref(items);
        cdnopt_free(lines);
        break;
    }
    case 1: {
        json_t *root = serve_parse_body(&req);
        if (root == NULL)
            expect_error_response(&req, "serve_parse_body");
        json_decref(root);
        break;
    }
    default: {
        int64_t t = 0;
        (void)serve_parse_time(req.body, &t);
        break;
    }
    }
    cdnopt_free(req.response);
    cdnopt_free(req.body);
    return 0;
}
