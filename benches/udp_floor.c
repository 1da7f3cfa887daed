/* UDP echo server with no event library: one nonblocking socket, a
 * blocking epoll_wait, then recvmmsg of up to 64 datagrams and one sendmmsg
 * of their echoes, until the socket is empty. It does the least user-space
 * work an echo server can do, so its CPU per datagram is the floor that any
 * library's server (eddy's, libuv's) stands on: what is left above it is all
 * a library could ever save. make bench runs it beside the UDP pair.
 *
 *   udp_floor [port]          (default 9999; SIGINT or SIGTERM stops it)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048

static volatile sig_atomic_t stop;

static void on_signal(int signum) {
    (void)signum;
    stop = 1;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 9999;
    /* sigaction without SA_RESTART: a signal ends epoll_wait with EINTR. */
    struct sigaction sa_sig = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa_sig, NULL);
    sigaction(SIGTERM, &sa_sig, NULL);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("udp_floor: bind");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    printf("udp floor on 127.0.0.1:%d\n", port);
    fflush(stdout);

    /* The headers are laid out once. A read changes only each used slot's
     * name length and (below) its iov_len, and the echoes go out through
     * the same headers, so only those two are reset per batch. */
    static char bufs[BATCH][SLOT];
    static struct sockaddr_storage names[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr msgs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){bufs[i], SLOT};
        msgs[i].msg_hdr = (struct msghdr){.msg_name = &names[i], .msg_namelen = sizeof names[i],
                                          .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    long echoed = 0;
    int used = 0;
    while (!stop) {
        if (epoll_wait(ep, &ev, 1, -1) < 0)
            continue;
        for (;;) {
            for (int i = 0; i < used; i++) {
                iov[i].iov_len = SLOT;
                msgs[i].msg_hdr.msg_namelen = sizeof names[i];
            }
            int n = recvmmsg(fd, msgs, BATCH, 0, NULL);
            used = n > 0 ? n : 0;
            if (n <= 0)
                break;
            for (int i = 0; i < n; i++)
                iov[i].iov_len = msgs[i].msg_len;
            /* A reply the kernel does not take is dropped, as UDP may. */
            for (int sent = 0; sent < n;) {
                int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
                if (k <= 0)
                    break;
                sent += k;
            }
            echoed += n;
            if (n < BATCH)
                break;
        }
    }
    fprintf(stderr, "udp_floor: %ld datagrams echoed\n", echoed);
    close(ep);
    close(fd);
    return 0;
}
