/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal blocking HTTP/1.1 client for the server tests: one request per
 * connection (Connection: close) to 127.0.0.1, the whole response read into
 * memory. It exists so the tests need no HTTP library.
 */
#ifndef CDNOPT_TEST_HTTP_CLIENT_H
#define CDNOPT_TEST_HTTP_CLIENT_H

#include <stddef.h>

/** A response; body is NUL-terminated. Free with http_response_free(). */
typedef struct http_response {
    int status;      /* status code, or -1 when the connection failed */
    char *headers;   /* raw header block, owned */
    char *body;      /* body, owned */
    size_t body_len; /* bytes in body */
} http_response;

/**
 * Send one request to 127.0.0.1:port.
 * @param headers extra header lines, each ending in "\r\n", or NULL.
 * @param body    request body or NULL; Content-Length is added when not NULL.
 */
http_response http_request(int port, const char *method, const char *path, const char *headers,
                           const char *body, size_t body_len);

/** Shorthand for a JSON POST with an optional bearer token. */
http_response http_post_json(int port, const char *path, const char *json, const char *token);

/** Value of a response header (case-insensitive name) copied into buf, or NULL. */
const char *http_header(const http_response *r, const char *name, char *buf, size_t size);

void http_response_free(http_response *r);

#endif
