/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The test HTTP client: connect to loopback, write the request, read until the
 * server closes the connection, split headers from body.
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static char *read_all(int fd, size_t *len)
{
    size_t cap = 65536;
    char *buf = malloc(cap);
    *len = 0;
    ssize_t n;
    while (buf != NULL && (n = read(fd, buf + *len, cap - *len - 1)) > 0) {
        *len += (size_t)n;
        if (cap - *len < 4096) {
            cap *= 2;
            char *grown = realloc(buf, cap);
            if (grown == NULL)
                free(buf);
            buf = grown;
        }
    }
    if (buf != NULL)
        buf[*len] = '\0';
    return buf;
}

http_response http_request(int port, const char *method, const char *path, const char *headers,
                           const char *body, size_t body_len)
{
    http_response r = {.status = -1};
    int fd = connect_loopback(port);
    if (fd < 0)
        return r;

    char head[4096];
    int n =
        snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s",
                 method, path, headers != NULL ? headers : "");
    if (body != NULL)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", body_len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");

    /* A server may respond and close before reading a rejected body, so a failed
     * body write is not an error: the response is what the test checks. The
     * write side stays open, because libmicrohttpd drops a request whose client
     * half-closed before the response. */
    if (write_all(fd, head, (size_t)n) == 0 && body != NULL)
        write_all(fd, body, body_len);

    size_t len = 0;
    char *raw = read_all(fd, &len);
    close(fd);
    if (raw == NULL)
        return r;

    char *split = strstr(raw, "\r\n\r\n");
    if (split == NULL || sscanf(raw, "HTTP/1.1 %d", &r.status) != 1) {
        free(raw);
        return r;
    }
    *split = '\0';
    r.headers = raw;
    r.body_len = len - (size_t)(split + 4 - raw);
    r.body = malloc(r.body_len + 1);
    memcpy(r.body, split + 4, r.body_len);
    r.body[r.body_len] = '\0';
    return r;
}

http_response http_post_json(int port, const char *path, const char *json, const char *token)
{
    char headers[1024];
    int n = snprintf(headers, sizeof headers, "Content-Type: application/json\r\n");
    if (token != NULL)
        snprintf(headers + n, sizeof headers - (size_t)n, "Authorization: Bearer %s\r\n", token);
    return http_request(port, "POST", path, headers, json, strlen(json));
}

const char *http_header(const http_response *r, const char *name, char *buf, size_t size)
{
    if (r->headers == NULL)
        return NULL;
    size_t name_len = strlen(name);
    for (const char *line = strstr(r->headers, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, name_len) == 0 && start[name_len] == ':') {
            const char *value = start + name_len + 1;
            while (*value == ' ')
                value++;
            size_t len = strcspn(value, "\r\n");
            snprintf(buf, size, "%.*s", (int)len, value);
            return buf;
        }
    }
    return NULL;
}

void http_response_free(http_response *r)
{
    free(r->headers);
    free(r->body);
    r->headers = NULL;
    r->body = NULL;
}
