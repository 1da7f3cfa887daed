/* Load client for UDP echo servers: S sockets, each connected to the
 * server with one datagram of SIZE bytes in flight (send, wait for the
 * echo, send the next), plain epoll, no eddy, so it loads eddy and libuv
 * servers alike. A datagram lost on the way (UDP may drop) is sent again
 * after 50 ms of silence on that socket; `resent` counts those.
 *
 *   udp_load PORT SOCKETS SIZE SECONDS [MAX_DATAGRAMS]
 *
 * Prints: datagrams=<echoes received> seconds=<elapsed> dgrams_per_sec=<rate> resent=<n>
 */
#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s PORT SOCKETS SIZE SECONDS [MAX_DATAGRAMS]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    size_t size = (size_t)atol(argv[3]);
    double seconds = atof(argv[4]);
    long max = argc > 5 ? atol(argv[5]) : -1;
    char *msg = calloc(1, size + 1), *buf = malloc(65536);
    memset(msg, 'u', size);
    int ep = epoll_create1(0);
    int *fds = calloc((size_t)n, sizeof *fds);
    double *sent_at = calloc((size_t)n, sizeof *sent_at);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("socket/connect");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    long total = 0, resent = 0, refused = 0;
    double t0 = bench_now(), deadline = t0 + seconds;
    for (int i = 0; i < n; i++) {
        send(fds[i], msg, size, 0);
        sent_at[i] = t0;
    }
    struct epoll_event evs[256];
    while (max < 0 || total < max) {
        double t = bench_now();
        if (t >= deadline)
            break;
        int k = epoll_wait(ep, evs, 256, 10);
        for (int e = 0; e < k; e++) {
            int i = (int)evs[e].data.u32;
            for (;;) {
                ssize_t r = recv(fds[i], buf, 65536, 0);
                if (r < 0) {
                    if (errno == ECONNREFUSED && ++refused > 1000) {
                        fprintf(stderr, "udp_load: nothing listens on port %d\n", port);
                        return 1;
                    }
                    break;
                }
                total++;
                send(fds[i], msg, size, 0);
                sent_at[i] = bench_now();
            }
        }
        if (k == 0) {
            t = bench_now();
            for (int i = 0; i < n; i++)
                if (t - sent_at[i] > 0.05) {
                    send(fds[i], msg, size, 0);
                    sent_at[i] = t;
                    resent++;
                }
        }
    }
    double el = bench_now() - t0;
    printf("datagrams=%ld seconds=%.3f dgrams_per_sec=%.0f resent=%ld\n", total, el, total / el, resent);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    free(sent_at);
    free(msg);
    free(buf);
    return 0;
}
