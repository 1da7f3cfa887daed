/* A fixed number of HTTP/1.1 keep-alive requests (GET /) over C
 * connections, each connection sending its next request once the whole
 * response (headers and Content-Length bytes) is in: a deterministic
 * request count where wrk's is time-based, for counting the server's
 * instructions per request. Plain epoll, no eddy.
 *
 *   http_load PORT CONNECTIONS REQUESTS
 *
 * Prints: requests=<n> seconds=<elapsed> requests_per_sec=<rate>
 */
#include "bench_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

struct conn {
    int fd;
    size_t got;
    char buf[4096];
};

/* The length of the complete response at the start of c->buf, or 0. */
static size_t response_len(const struct conn *c) {
    const char *end = memmem(c->buf, c->got, "\r\n\r\n", 4);
    if (!end)
        return 0;
    const char *cl = memmem(c->buf, (size_t)(end - c->buf), "Content-Length:", 15);
    size_t need = (size_t)(end + 4 - c->buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
    return c->got >= need ? need : 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS REQUESTS\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    long total = atol(argv[3]), sent = 0, done = 0;
    int ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)n, sizeof *conns);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("connect");
            return 1;
        }
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    double t0 = bench_now();
    for (int i = 0; i < n && sent < total; i++, sent++)
        if (write(conns[i].fd, request, sizeof request - 1) < 0) {
            perror("write");
            return 1;
        }
    struct epoll_event evs[256];
    while (done < total) {
        int k = epoll_wait(ep, evs, 256, 5000);
        if (k == 0) {
            fprintf(stderr, "http_load: no response for 5 s\n");
            return 1;
        }
        for (int e = 0; e < k; e++) {
            struct conn *c = evs[e].data.ptr;
            ssize_t r = read(c->fd, c->buf + c->got, sizeof c->buf - c->got);
            if (r <= 0) {
                fprintf(stderr, "http_load: server closed a connection\n");
                return 1;
            }
            c->got += (size_t)r;
            size_t len = response_len(c);
            if (len == 0)
                continue;
            memmove(c->buf, c->buf + len, c->got - len);
            c->got -= len;
            done++;
            if (sent < total) {
                sent++;
                if (write(c->fd, request, sizeof request - 1) < 0) {
                    perror("write");
                    return 1;
                }
            }
        }
    }
    double el = bench_now() - t0;
    printf("requests=%ld seconds=%.3f requests_per_sec=%.0f\n", done, el, done / el);
    for (int i = 0; i < n; i++)
        close(conns[i].fd);
    free(conns);
    return 0;
}
