/* Holds N idle connections open to a server, for the server's RSS per
 * connection. Each connection first does one 1-byte echo round trip, so
 * the server has accepted it and run its protocol's callbacks; then all
 * sit idle.
 *
 *   idle_client PORT N
 *
 * Prints "ready connections=N" once all are open and answered, then waits
 * until stdin reaches EOF (or a signal ends it); closing exits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT N\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[2]);
    int *fds = calloc((size_t)n, sizeof *fds);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0) {
            perror("socket");
            return 1;
        }
        if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("connect");
            return 1;
        }
        char c = 'x';
        if (write(fds[i], &c, 1) != 1 || read(fds[i], &c, 1) != 1) {
            fprintf(stderr, "no echo on connection %d\n", i);
            return 1;
        }
    }
    printf("ready connections=%d\n", n);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    return 0;
}
