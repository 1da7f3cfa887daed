/* The plain C other end of the bulk throughput pair (no event loop, blocking
 * sockets, so it loads eddy and libuv servers alike).
 *
 *   bulk_peer sink PORT             read until the server closes
 *   bulk_peer source PORT [BYTES]   write BYTES (default 1 GiB) in 64 KiB writes,
 *                                   shut down the write side, wait for the
 *                                   server to close
 *
 * Prints: bytes=<n> seconds=<from connect to the server's close>
 *         mib_per_sec=<rate> gbit_per_sec=<rate>
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define READ_BUF (256 * 1024)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "sink") != 0 && strcmp(argv[1], "source") != 0)) {
        fprintf(stderr, "usage: %s sink|source PORT [BYTES]\n", argv[0]);
        return 2;
    }
    int source = strcmp(argv[1], "source") == 0;
    long long total = argc > 3 ? atoll(argv[3]) : 1LL << 30;
    static char buf[READ_BUF];
    memset(buf, 'x', sizeof buf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    double t0 = now();
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        return 1;
    }
    long long bytes = 0;
    if (source) {
        while (bytes < total) {
            size_t n = total - bytes < CHUNK ? (size_t)(total - bytes) : CHUNK;
            ssize_t w = write(fd, buf, n);
            if (w <= 0) {
                perror("write");
                return 1;
            }
            bytes += w;
        }
        shutdown(fd, SHUT_WR);
        while (read(fd, buf, sizeof buf) > 0) {
        }
    } else {
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0)
            bytes += r;
        if (r < 0) {
            perror("read");
            return 1;
        }
        if (bytes != total) {
            fprintf(stderr, "got %lld bytes, want %lld\n", bytes, total);
            return 1;
        }
    }
    double el = now() - t0;
    close(fd);
    printf("bytes=%lld seconds=%.3f mib_per_sec=%.0f gbit_per_sec=%.2f\n", bytes, el, bytes / el / (1 << 20),
           bytes * 8 / el / 1e9);
    return 0;
}
