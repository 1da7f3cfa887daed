/* Connection storm against an echo server: TOTAL connections opened as
 * fast as one client thread can, each sending 1 byte, waiting for its echo
 * and closing, with at most WINDOW connections in flight (below the
 * servers' backlog of 1024, so no SYN is dropped and retried a second
 * later: the rate measures the server's accept path, not TCP's retry
 * timer). Plain epoll, no eddy.
 *
 *   connect_storm PORT TOTAL [WINDOW]     (WINDOW defaults to 256)
 *
 * Prints: connections=<n> seconds=<elapsed> conns_per_sec=<rate>
 */
#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT TOTAL [WINDOW]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long total = atol(argv[2]), window = argc > 3 ? atol(argv[3]) : 256;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int ep = epoll_create1(0);
    long opened = 0, done = 0, inflight = 0;
    double t0 = bench_now();
    struct epoll_event evs[256];
    while (done < total) {
        while (inflight < window && opened < total) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (fd < 0) {
                perror("socket");
                return 1;
            }
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
                perror("connect");
                return 1;
            }
            /* Writable once connected: the byte goes then. */
            struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            opened++;
            inflight++;
        }
        int k = epoll_wait(ep, evs, 256, 5000);
        if (k == 0) {
            fprintf(stderr, "connect_storm: no progress for 5 s (%ld of %ld done)\n", done, total);
            return 1;
        }
        for (int e = 0; e < k; e++) {
            int fd = evs[e].data.fd;
            if (evs[e].events & EPOLLOUT) {
                if (write(fd, "x", 1) != 1) {
                    perror("write");
                    return 1;
                }
                struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                continue;
            }
            char c;
            if (read(fd, &c, 1) != 1) {
                fprintf(stderr, "connect_storm: no echo\n");
                return 1;
            }
            close(fd);
            inflight--;
            done++;
        }
    }
    double el = bench_now() - t0;
    printf("connections=%ld seconds=%.3f conns_per_sec=%.0f\n", done, el, done / el);
    return 0;
}
