/* Load client for echo servers: N connections doing ping-pong with
 * messages of S bytes (send one, wait for its full echo, repeat), plain
 * epoll, no eddy, so it loads eddy and libuv servers alike.
 *
 *   echo_load PORT CONNECTIONS SIZE SECONDS [MAX_MESSAGES]
 *
 * Prints: messages=<total> seconds=<elapsed> msgs_per_sec=<rate>
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    size_t sent, got;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS SIZE SECONDS [MAX_MESSAGES]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    size_t size = (size_t)atol(argv[3]);
    double seconds = atof(argv[4]);
    long max = argc > 5 ? atol(argv[5]) : -1;
    char *msg = malloc(size), *buf = malloc(size > 65536 ? size : 65536);
    memset(msg, 'x', size);
    int ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)n, sizeof *conns);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("connect");
            return 1;
        }
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    long total = 0;
    double t0 = now(), deadline = t0 + seconds;
    for (int i = 0; i < n; i++) {
        if (write(conns[i].fd, msg, size) != (ssize_t)size) {
            perror("write");
            return 1;
        }
    }
    struct epoll_event evs[256];
    while (now() < deadline && (max < 0 || total < max)) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < k; e++) {
            struct conn *c = evs[e].data.ptr;
            ssize_t r = read(c->fd, buf, size - c->got);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                fprintf(stderr, "server closed a connection\n");
                return 1;
            }
            c->got += (size_t)r;
            if (c->got == size) {
                c->got = 0;
                total++;
                size_t off = 0;
                while (off < size) {
                    ssize_t w = write(c->fd, msg + off, size - off);
                    if (w < 0) {
                        perror("write");
                        return 1;
                    }
                    off += (size_t)w;
                }
            }
        }
    }
    double el = now() - t0;
    printf("messages=%ld seconds=%.3f msgs_per_sec=%.0f\n", total, el, total / el);
    for (int i = 0; i < n; i++)
        close(conns[i].fd);
    free(conns);
    free(msg);
    free(buf);
    return 0;
}
