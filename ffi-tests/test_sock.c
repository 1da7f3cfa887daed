/* The sock_* methods: docs/semantics.md items 133-138 (section Q) and 49 (the
   debug-mode non-blocking check); docs/api.md section 7 (sock_* and the results
   paragraph) and section 12 ("Results", "sock_sendfile").

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

/* Plain recv with a short wait (the data is on its way over loopback). */
static ssize_t recv_wait(int fd, void *buf, size_t len) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 2000) != 1) return -1;
  return recv(fd, buf, len, 0);
}

/* Writes a string to an fd from a timer. */
struct delayed_write {
  int fd;
  const char *data;
  int closes; /* close the fd instead of writing */
};
static void delayed_write_cb(void *ud) {
  struct delayed_write *w = ud;
  if (w->closes) {
    close(w->fd);
    w->fd = -1;
  } else {
    ssize_t n = write(w->fd, w->data, strlen(w->data));
    (void)n;
  }
}

/* ------------------------------------------------------------- sock_recv */

/* items 133, 134 */
TEST(sock_recv_waits_for_data_then_gives_buffer_and_length) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 100, &f));
  CHECK(f != NULL);
  CHECK_EQ(eddy_future_done(f), 0);
  struct delayed_write w = {sv[1], "hello", 0};
  CHECK_OK(eddy_loop_call_later(loop, 0.01, delayed_write_cb, &w, NULL));
  double t0 = harness_monotonic();
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK(harness_monotonic() - t0 >= 0.008);
  void *p = NULL;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK_EQ(n, 5);
  CHECK(p != NULL);
  CHECK(memcmp(p, "hello", 5) == 0);
  eddy_free(p);
  /* completing left nothing registered */
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* item 133: the syscall is tried first: data already there completes
   the future at once, and no watcher is registered */
TEST(sock_recv_with_data_ready_completes_at_once_without_registering) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  CHECK_EQ(write(sv[1], "hello", 5), 5);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 3, &f));
  CHECK_EQ(eddy_future_done(f), 1);
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  void *p = NULL;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK_EQ(n, 3);
  CHECK(memcmp(p, "hel", 3) == 0);
  eddy_free(p);
  eddy_future_release(f);
  /* the rest stays for the next call */
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 100, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  p = NULL;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK_EQ(n, 2);
  CHECK(memcmp(p, "lo", 2) == 0);
  eddy_free(p);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* item 134: b'' at EOF: n == 0 (ptr NULL), both when EOF is already
   there and when it arrives while waiting */
TEST(sock_recv_at_eof_gives_zero_length) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 64, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  struct delayed_write w = {sv[1], NULL, 1};
  CHECK_OK(eddy_loop_call_later(loop, 0.005, delayed_write_cb, &w, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = &p;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK_EQ(n, 0);
  CHECK(p == NULL);
  eddy_future_release(f);
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  /* EOF already there */
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 64, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  n = -1;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 0);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
}

/* item 134: sock_recv_into gives the count; the data is in the
   caller's buffer */
TEST(sock_recv_into_fills_the_buffer_and_gives_the_count) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  char buf[16];
  memset(buf, '.', sizeof buf);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv_into(loop, sv[0], buf, 4, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  struct delayed_write w = {sv[1], "abcdefgh", 0};
  CHECK_OK(eddy_loop_call_later(loop, 0.005, delayed_write_cb, &w, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = &p;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK_EQ(n, 4);
  CHECK(memcmp(buf, "abcd....", 8) == 0); /* no more than len bytes written */
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  eddy_future_release(f);
  /* data already there: done at once */
  CHECK_OK(eddy_loop_sock_recv_into(loop, sv[0], buf + 4, sizeof buf - 4, &f));
  CHECK_EQ(eddy_future_done(f), 1);
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 4);
  CHECK(memcmp(buf, "abcdefgh....", 12) == 0);
  eddy_future_release(f);
  /* EOF: 0 */
  close(sv[1]);
  CHECK_OK(eddy_loop_sock_recv_into(loop, sv[0], buf, sizeof buf, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 0);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
}

/* --------------------------------------------------- recvfrom / sendto */

/* item 134: sock_recvfrom gives (bytes, addr) */
TEST(sock_recvfrom_gives_the_datagram_and_the_sender_address) {
  eddy_loop_t *loop = new_loop();
  int rx = udp_socket(), tx = udp_socket();
  struct sockaddr_in to = loopback_addr(local_port(rx));
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recvfrom(loop, rx, 1024, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(sendto(tx, "datagram-1", 10, 0, (struct sockaddr *)&to, sizeof to), 10);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  eddy_datagram_msg_t *m = p;
  CHECK(m != NULL);
  CHECK_EQ(n, 10);
  CHECK_EQ(m->len, 10);
  CHECK(m->data == (uint8_t *)m + sizeof *m); /* one allocation */
  CHECK(memcmp(m->data, "datagram-1", 10) == 0);
  CHECK_EQ(m->addrlen, sizeof(struct sockaddr_in));
  const struct sockaddr_in *from = (const struct sockaddr_in *)&m->addr;
  CHECK_EQ(from->sin_family, AF_INET);
  CHECK_EQ(ntohl(from->sin_addr.s_addr), INADDR_LOOPBACK);
  CHECK_EQ(ntohs(from->sin_port), local_port(tx));
  eddy_free(m);
  eddy_future_release(f);
  CHECK_EQ(eddy_loop_remove_reader(loop, rx), 0);

  /* already queued, and longer than bufsize: truncated to bufsize, at once */
  CHECK_EQ(sendto(tx, "0123456789", 10, 0, (struct sockaddr *)&to, sizeof to), 10);
  struct pollfd pf = {rx, POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 2000), 1); /* wait until it is there */
  CHECK_OK(eddy_loop_sock_recvfrom(loop, rx, 4, &f));
  CHECK_EQ(eddy_future_done(f), 1);
  p = NULL;
  CHECK_OK(eddy_future_result(f, &p, &n));
  m = p;
  CHECK_EQ(n, 4);
  CHECK_EQ(m->len, 4);
  CHECK(memcmp(m->data, "0123", 4) == 0);
  eddy_free(m);
  eddy_future_release(f);
  close_loop(loop);
  close(rx);
  close(tx);
}

/* item 134: sock_recvfrom_into fills buffer and address */
TEST(sock_recvfrom_into_fills_buffer_and_sender_address) {
  eddy_loop_t *loop = new_loop();
  int rx = udp_socket(), tx = udp_socket();
  struct sockaddr_in to = loopback_addr(local_port(rx));
  char buf[32];
  memset(buf, 0, sizeof buf);
  struct sockaddr_storage from;
  memset(&from, 0xab, sizeof from);
  socklen_t fromlen = sizeof from;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recvfrom_into(loop, rx, buf, sizeof buf, (struct sockaddr *)&from, &fromlen, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(sendto(tx, "xyz", 3, 0, (struct sockaddr *)&to, sizeof to), 3);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 3);
  CHECK(memcmp(buf, "xyz", 3) == 0);
  CHECK_EQ(fromlen, sizeof(struct sockaddr_in));
  const struct sockaddr_in *sin = (const struct sockaddr_in *)&from;
  CHECK_EQ(sin->sin_family, AF_INET);
  CHECK_EQ(ntohs(sin->sin_port), local_port(tx));
  CHECK_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
  CHECK_EQ(eddy_loop_remove_reader(loop, rx), 0);
  eddy_future_release(f);

  /* addr and addrlen may both be NULL */
  CHECK_OK(eddy_loop_sock_recvfrom_into(loop, rx, buf, sizeof buf, NULL, NULL, &f));
  CHECK_EQ(sendto(tx, "pq", 2, 0, (struct sockaddr *)&to, sizeof to), 2);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 2);
  CHECK(memcmp(buf, "pq", 2) == 0);
  eddy_future_release(f);
  close_loop(loop);
  close(rx);
  close(tx);
}

/* item 134: sock_sendto returns the number of bytes sent */
TEST(sock_sendto_gives_the_byte_count_and_the_datagram_arrives) {
  eddy_loop_t *loop = new_loop();
  int rx = udp_socket(), tx = udp_socket();
  struct sockaddr_in to = loopback_addr(local_port(rx));
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendto(loop, tx, "sendto-data", 11, (struct sockaddr *)&to, sizeof to, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 11);
  eddy_future_release(f);
  char buf[32];
  struct sockaddr_in from;
  socklen_t flen = sizeof from;
  struct pollfd pf = {rx, POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 2000), 1);
  CHECK_EQ(recvfrom(rx, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 11);
  CHECK(memcmp(buf, "sendto-data", 11) == 0);
  CHECK_EQ(ntohs(from.sin_port), local_port(tx));
  CHECK_EQ(eddy_loop_remove_writer(loop, tx), 0);
  /* an empty datagram is a datagram */
  CHECK_OK(eddy_loop_sock_sendto(loop, tx, NULL, 0, (struct sockaddr *)&to, sizeof to, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 0);
  eddy_future_release(f);
  CHECK_EQ(poll(&pf, 1, 2000), 1);
  CHECK_EQ(recv(rx, buf, sizeof buf, 0), 0);
  close_loop(loop);
  close(rx);
  close(tx);
}

/* ----------------------------------------------------------- sock_sendall */

#define BIG (8u * 1024u * 1024u)

struct slow_reader {
  eddy_loop_t *loop;
  int fd;
  size_t got;
  size_t bad;     /* bytes that differ from the pattern */
  size_t budget;  /* bytes per tick */
  double period;  /* seconds between ticks */
  int ticks;
  uint8_t *chunk;
};
static void slow_read_cb(void *ud) {
  struct slow_reader *r = ud;
  r->ticks++;
  size_t left = r->budget;
  while (left > 0) {
    ssize_t n = recv(r->fd, r->chunk, left < 65536 ? left : 65536, 0);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) r->bad += r->chunk[i] != pattern(r->got + (size_t)i);
    r->got += (size_t)n;
    left -= (size_t)n;
  }
  if (r->got >= BIG)
    eddy_loop_stop(r->loop);
  else
    eddy_loop_call_later(r->loop, r->period, slow_read_cb, r, NULL);
}

static int timed_out;
static void timeout_cb(void *ud) {
  timed_out = 1;
  eddy_loop_stop((eddy_loop_t *)ud);
}

/* items 133, 134; issue 3: 8 MiB through sock_sendall to a slow reader
   arrive intact; the data is copied (the caller may reuse its buffer) */
TEST(sock_sendall_8_mib_to_a_slow_reader_arrives_intact) {
  timed_out = 0;
  eddy_loop_t *loop = new_loop();
  int sv[2];
  tcp_pair(sv);
  uint8_t *data = malloc(BIG);
  CHECK(data != NULL);
  for (size_t i = 0; i < BIG; i++) data[i] = pattern(i);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendall(loop, sv[0], data, BIG, &f));
  CHECK_EQ(eddy_future_done(f), 0); /* 8 MiB do not fit in the socket buffers */
  memset(data, 0, BIG);             /* sock_sendall copied what it could not send */
  free(data);
  struct slow_reader r = {loop, sv[1], 0, 0, 192 * 1024, 0.002, 0, malloc(65536)};
  CHECK(r.chunk != NULL);
  CHECK_OK(eddy_loop_call_later(loop, 0.002, slow_read_cb, &r, NULL));
  CHECK_OK(eddy_loop_call_later(loop, 20.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(timed_out, 0);
  CHECK_EQ(r.got, BIG);
  CHECK_EQ(r.bad, 0);
  CHECK(r.ticks > 4); /* the reader really was slow */
  CHECK_EQ(eddy_future_done(f), 1);
  void *p = &p;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK(p == NULL);
  CHECK_EQ(n, 0);
  /* nothing more arrives, nothing stays registered */
  char extra;
  CHECK_EQ(recv(sv[1], &extra, 1, 0), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_EQ(eddy_loop_remove_writer(loop, sv[0]), 0);
  free(r.chunk);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* item 134: sendall that fits completes with n 0; an error (peer gone)
   becomes the future's error */
TEST(sock_sendall_small_completes_and_a_closed_peer_is_an_error) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendall(loop, sv[0], "small", 5, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 0);
  eddy_future_release(f);
  char buf[8];
  CHECK_EQ(recv(sv[1], buf, sizeof buf, 0), 5);
  CHECK(memcmp(buf, "small", 5) == 0);
  close(sv[1]);
  CHECK_OK(eddy_loop_sock_sendall(loop, sv[0], "more", 4, &f));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f), EDDY_EPIPE); /* no SIGPIPE either */
  eddy_future_release(f);
  CHECK_EQ(eddy_loop_remove_writer(loop, sv[0]), 0);
  close_loop(loop);
  close(sv[0]);
}

/* item 133: cancelling a pending sock_sendall removes its writer */
TEST(cancelling_a_pending_sock_sendall_removes_the_writer) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  size_t len = 4u * 1024u * 1024u;
  uint8_t *data = calloc(1, len);
  CHECK(data != NULL);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendall(loop, sv[0], data, len, &f));
  free(data);
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_loop_remove_writer(loop, sv[0]), 0);
  CHECK_EQ(eddy_future_cancelled(f), 1);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* ----------------------------------------------------------- sock_connect */

/* item 136: a refused connection fails with -ECONNREFUSED */
TEST(sock_connect_to_a_closed_port_fails_with_econnrefused) {
  eddy_loop_t *loop = new_loop();
  int tmp = tcp_socket();
  struct sockaddr_in a = loopback_addr(0);
  CHECK_EQ(bind(tmp, (struct sockaddr *)&a, sizeof a), 0);
  a = loopback_addr(local_port(tmp));
  close(tmp); /* nobody listens there now */
  int s = tcp_socket();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_connect(loop, s, (struct sockaddr *)&a, sizeof a, &f));
  int rc = eddy_loop_run_until_complete(loop, f);
  CHECK_ERR(rc, -ECONNREFUSED);
  CHECK_ERR(rc, EDDY_ECONNREFUSED);
  CHECK_EQ(eddy_future_cancelled(f), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, s), 0);
  eddy_future_release(f);
  close_loop(loop);
  close(s);
}

/* item 136: connecting to a listening socket succeeds (n 0); the peers
   see each other */
TEST(sock_connect_to_a_listening_socket_succeeds) {
  eddy_loop_t *loop = new_loop();
  int l = tcp_listener(true);
  struct sockaddr_in a = loopback_addr(local_port(l));
  int s = tcp_socket();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_connect(loop, s, (struct sockaddr *)&a, sizeof a, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = &p;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK(p == NULL);
  CHECK_EQ(n, 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, s), 0);
  struct sockaddr_in peer;
  socklen_t plen = sizeof peer;
  CHECK_EQ(getpeername(s, (struct sockaddr *)&peer, &plen), 0);
  CHECK_EQ(ntohs(peer.sin_port), local_port(l));
  /* the connection is real: data goes through */
  struct pollfd pf = {l, POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 2000), 1);
  int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  CHECK(c >= 0);
  CHECK_EQ(send(s, "ping", 4, 0), 4);
  char buf[8];
  CHECK_EQ(recv_wait(c, buf, sizeof buf), 4);
  CHECK(memcmp(buf, "ping", 4) == 0);
  eddy_future_release(f);
  close_loop(loop);
  close(c);
  close(s);
  close(l);
}

/* item 136 over AF_UNIX: a path address */
TEST(sock_connect_unix_path_and_refused_unix_path) {
  eddy_loop_t *loop = new_loop();
  struct sockaddr_un un;
  memset(&un, 0, sizeof un);
  un.sun_family = AF_UNIX;
  snprintf(un.sun_path, sizeof un.sun_path, "/tmp/eddy-sock-test-%d", (int)getpid());
  unlink(un.sun_path);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(l >= 0);
  CHECK_EQ(bind(l, (struct sockaddr *)&un, sizeof un), 0);
  CHECK_EQ(listen(l, 4), 0);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_connect(loop, s, (struct sockaddr *)&un, sizeof un, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  eddy_future_release(f);
  close(s);
  close(l); /* the path stays but nobody listens: refused */
  s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK_OK(eddy_loop_sock_connect(loop, s, (struct sockaddr *)&un, sizeof un, &f));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f), EDDY_ECONNREFUSED);
  eddy_future_release(f);
  close(s);
  unlink(un.sun_path);
  close_loop(loop);
}

/* ------------------------------------------------------------ sock_accept */

/* item 137; issue 3: the accepted fd is non-blocking and close-on-exec */
TEST(sock_accept_returns_a_non_blocking_close_on_exec_fd) {
  eddy_loop_t *loop = new_loop();
  int l = tcp_listener(false);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_accept(loop, l, &f));
  CHECK_EQ(eddy_future_done(f), 0); /* nobody connected yet */
  int c = tcp_socket();
  struct sockaddr_in a = loopback_addr(local_port(l));
  int rc = connect(c, (struct sockaddr *)&a, sizeof a);
  CHECK(rc == 0 || errno == EINPROGRESS);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = &p;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK(p == NULL);
  CHECK(n >= 0);
  int s = (int)n;
  CHECK(fcntl(s, F_GETFL) & O_NONBLOCK);
  CHECK(fcntl(s, F_GETFD) & FD_CLOEXEC);
  CHECK_EQ(eddy_loop_remove_reader(loop, l), 0);
  /* it is the connection of c */
  struct sockaddr_in peer, mine;
  socklen_t plen = sizeof peer, mlen = sizeof mine;
  CHECK_EQ(getpeername(s, (struct sockaddr *)&peer, &plen), 0);
  CHECK_EQ(getsockname(c, (struct sockaddr *)&mine, &mlen), 0);
  CHECK_EQ(peer.sin_port, mine.sin_port);
  eddy_future_release(f);

  /* a connection already waiting: accepted at once */
  int c2 = tcp_socket();
  rc = connect(c2, (struct sockaddr *)&a, sizeof a);
  CHECK(rc == 0 || errno == EINPROGRESS);
  struct pollfd pf = {l, POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 2000), 1);
  CHECK_OK(eddy_loop_sock_accept(loop, l, &f));
  CHECK_EQ(eddy_future_done(f), 1);
  CHECK_OK(eddy_future_result(f, NULL, &n));
  int s2 = (int)n;
  CHECK(s2 >= 0 && s2 != s);
  CHECK(fcntl(s2, F_GETFL) & O_NONBLOCK);
  CHECK(fcntl(s2, F_GETFD) & FD_CLOEXEC);
  eddy_future_release(f);
  close_loop(loop);
  close(s);
  close(s2);
  close(c);
  close(c2);
  close(l);
}

/* ---------------------------------------------- cancellation, one waiter */

/* item 133: cancelling a pending sock_recv removes the waiter; data
   arriving later is not consumed */
TEST(cancelling_a_pending_sock_recv_removes_the_reader_and_consumes_nothing) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 64, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  CHECK_EQ(write(sv[1], "late", 4), 4);
  CHECK_OK(run_for(loop, 0.01));
  CHECK_EQ(eddy_future_cancelled(f), 1);
  char buf[8];
  CHECK_EQ(recv(sv[0], buf, sizeof buf, 0), 4);
  CHECK(memcmp(buf, "late", 4) == 0);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* item 133: the same for sock_recv_into (the caller's buffer is not
   written after the cancel) and sock_accept */
TEST(cancelling_pending_recv_into_and_accept_removes_their_readers) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  char buf[8];
  memset(buf, '.', sizeof buf);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv_into(loop, sv[0], buf, sizeof buf, &f));
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_OK(run_once(loop));
  CHECK_EQ(write(sv[1], "zz", 2), 2);
  CHECK_OK(run_for(loop, 0.01));
  CHECK(memcmp(buf, "........", 8) == 0);
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  eddy_future_release(f);

  int l = tcp_listener(true);
  CHECK_OK(eddy_loop_sock_accept(loop, l, &f));
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_loop_remove_reader(loop, l), 0);
  int c = tcp_socket();
  struct sockaddr_in a = loopback_addr(local_port(l));
  int rc = connect(c, (struct sockaddr *)&a, sizeof a);
  CHECK(rc == 0 || errno == EINPROGRESS);
  CHECK_OK(run_for(loop, 0.01));
  /* the connection is still waiting in the backlog */
  struct pollfd pf = {l, POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 2000), 1);
  int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  CHECK(s >= 0);
  eddy_future_release(f);
  close_loop(loop);
  close(s);
  close(c);
  close(l);
  close(sv[0]);
  close(sv[1]);
}

/* item 135: a second concurrent sock_recv replaces the first one's
   waiter; the first never completes */
TEST(second_concurrent_sock_recv_replaces_the_first_waiter) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f1 = NULL, *f2 = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 64, &f1));
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 64, &f2));
  CHECK_EQ(write(sv[1], "x", 1), 1);
  CHECK_OK(eddy_loop_run_until_complete(loop, f2));
  void *p = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f2, &p, &n));
  CHECK_EQ(n, 1);
  CHECK(memcmp(p, "x", 1) == 0);
  eddy_free(p);
  /* more data: the first still does not complete, and nobody reads it */
  CHECK_EQ(write(sv[1], "y", 1), 1);
  CHECK_OK(run_for(loop, 0.02));
  CHECK_EQ(eddy_future_done(f1), 0);
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  char c;
  CHECK_EQ(recv(sv[0], &c, 1, 0), 1);
  CHECK_EQ(c, 'y');
  CHECK_EQ(eddy_future_cancel(f1), 1);
  CHECK_OK(run_once(loop));
  eddy_future_release(f1);
  eddy_future_release(f2);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* items 135 and 133: cancelling the replaced first recv must not remove
   the second one's waiter */
TEST(cancelling_the_replaced_recv_keeps_the_second_waiter) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f1 = NULL, *f2 = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 64, &f1));
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 64, &f2));
  CHECK_EQ(eddy_future_cancel(f1), 1);
  CHECK_OK(run_once(loop));
  CHECK_EQ(write(sv[1], "ok", 2), 2);
  CHECK_OK(eddy_loop_call_later(loop, 2.0, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, f2));
  void *p = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f2, &p, &n));
  CHECK_EQ(n, 2);
  CHECK(memcmp(p, "ok", 2) == 0);
  eddy_free(p);
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  eddy_future_release(f1);
  eddy_future_release(f2);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* items 133, 135: a sock_recv replaces a reader added with add_reader
   (one reader per fd), and leaves nothing registered when done */
static int user_reader_calls;
static void user_reader_cb(void *ud) {
  (void)ud;
  user_reader_calls++;
}
TEST(sock_recv_replaces_an_add_reader_callback_on_the_same_fd) {
  user_reader_calls = 0;
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  CHECK_OK(eddy_loop_add_reader(loop, sv[0], user_reader_cb, NULL));
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 8, &f));
  CHECK_EQ(write(sv[1], "d", 1), 1);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_EQ(user_reader_calls, 0);
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_free(p);
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* docs/api.md section 12 (Results): a pending sock_recv whose future the caller released:
   when data arrives, the buffer nobody can receive is not leaked (valgrind) */
TEST(releasing_a_pending_sock_recv_future_leaks_nothing) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 64, &f));
  eddy_future_release(f);
  CHECK_EQ(write(sv[1], "gone", 4), 4);
  CHECK_OK(run_for(loop, 0.01));
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* -------------------------------------------------- debug: blocking fds */

/* items 49, 133: in debug mode a blocking fd is EDDY_EINVAL for every
   sock_* method */
TEST(debug_mode_rejects_blocking_sockets_with_einval) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_debug(loop, true));
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(u >= 0);
  int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(t >= 0);
  int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in any = loopback_addr(0);
  CHECK_EQ(bind(lst, (struct sockaddr *)&any, sizeof any), 0);
  CHECK_EQ(listen(lst, 1), 0);
  struct sockaddr_in to = loopback_addr(local_port(lst));
  char file_name[] = "/tmp/eddy-sock-XXXXXX";
  int file = mkstemp(file_name);
  CHECK(file >= 0);
  unlink(file_name);
  CHECK_EQ(write(file, "abc", 3), 3);
  char buf[8];
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  eddy_future_t *f = NULL;
  CHECK_EQ(write(sv[1], "data", 4), 4); /* even with data ready */
  CHECK_ERR(eddy_loop_sock_recv(loop, sv[0], 8, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom(loop, u, 8, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom_into(loop, u, buf, sizeof buf, (struct sockaddr *)&ss, &sl, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendall(loop, sv[0], "x", 1, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendto(loop, u, "x", 1, (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_connect(loop, t, (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_accept(loop, lst, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, sv[0], file, 0, 0, true, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  /* nothing was consumed or sent */
  CHECK_EQ(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), 4);
  CHECK_EQ(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), -1);
  /* outside debug mode the check is not made: data ready is received */
  CHECK_OK(eddy_loop_set_debug(loop, false));
  CHECK_EQ(write(sv[1], "more", 4), 4);
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 8, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK_EQ(n, 4);
  eddy_free(p);
  eddy_future_release(f);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
  close(u);
  close(t);
  close(lst);
  close(file);
}

/* ---------------------------------------------------------- sock_sendfile */

#define FILE_SIZE (1u << 20)

static int pattern_file(size_t size) {
  char name[] = "/tmp/eddy-sendfile-XXXXXX";
  int fd = mkstemp(name);
  CHECK(fd >= 0);
  unlink(name);
  uint8_t *buf = malloc(size);
  CHECK(buf != NULL);
  for (size_t i = 0; i < size; i++) buf[i] = pattern(i);
  size_t off = 0;
  while (off < size) {
    ssize_t n = write(fd, buf + off, size - off);
    CHECK(n > 0);
    off += (size_t)n;
  }
  free(buf);
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  return fd;
}

/* Reads everything from fd as the loop runs, checking it against
   pattern(base + i). */
struct sink {
  eddy_loop_t *loop;
  int fd;
  size_t base;
  size_t got;
  size_t want;
  size_t bad;
  uint8_t chunk[65536];
};
static void sink_cb(void *ud) {
  struct sink *s = ud;
  for (;;) {
    ssize_t n = recv(s->fd, s->chunk, sizeof s->chunk, 0);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) s->bad += s->chunk[i] != pattern(s->base + s->got + (size_t)i);
    s->got += (size_t)n;
  }
  if (s->got >= s->want) eddy_loop_stop(s->loop);
}

/* item 138: the whole file arrives intact; n is the byte count; the
   file position is left at offset + n */
TEST(sock_sendfile_of_a_1_mib_file_arrives_intact) {
  timed_out = 0;
  eddy_loop_t *loop = new_loop();
  int sv[2];
  tcp_pair(sv);
  int file = pattern_file(FILE_SIZE);
  struct sink *s = calloc(1, sizeof *s);
  CHECK(s != NULL);
  *s = (struct sink){loop, sv[1], 0, 0, FILE_SIZE, 0, {0}};
  CHECK_OK(eddy_loop_add_reader(loop, sv[1], sink_cb, s));
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendfile(loop, sv[0], file, 0, 0, false, &f));
  CHECK_OK(eddy_loop_call_later(loop, 10.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(timed_out, 0);
  if (!eddy_future_done(f)) CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, FILE_SIZE);
  CHECK_EQ(s->got, FILE_SIZE);
  CHECK_EQ(s->bad, 0);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), FILE_SIZE);
  CHECK_EQ(eddy_loop_remove_writer(loop, sv[0]), 0);
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[1]), 1);
  eddy_future_release(f);
  free(s);
  close_loop(loop);
  close(file);
  close(sv[0]);
  close(sv[1]);
}

/* A TCP pair whose buffers hold little: a sendfile of FILE_SIZE waits. */
static void small_tcp_pair(int sv[2]) {
  tcp_pair(sv);
  int n = 16384;
  CHECK_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &n, sizeof n), 0);
  CHECK_EQ(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &n, sizeof n), 0);
}

/* item 138: a sock_sendfile that is cancelled midway leaves the file
   position at offset + the bytes sent (asyncio's
   _sock_sendfile_update_filepos), which the peer can count */
TEST(sock_sendfile_cancelled_midway_leaves_the_position_after_what_was_sent) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  small_tcp_pair(sv);
  int file = pattern_file(FILE_SIZE);
  CHECK_EQ(lseek(file, 777, SEEK_SET), 777); /* the position is not the offset */
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendfile(loop, sv[0], file, 10, 0, false, &f));
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_future_done(f), 0); /* the peer reads nothing */
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_EQ(eddy_future_cancelled(f), 1);
  /* everything the kernel took reaches the peer, then EOF */
  CHECK_EQ(shutdown(sv[0], SHUT_WR), 0);
  size_t got = 0;
  static uint8_t buf[65536];
  for (;;) {
    ssize_t r = recv_wait(sv[1], buf, sizeof buf);
    CHECK(r >= 0);
    if (r <= 0) break;
    got += (size_t)r;
  }
  CHECK(got > 0);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), (off_t)(10 + got));
  eddy_future_release(f);
  close_loop(loop);
  close(file);
  close(sv[0]);
  close(sv[1]);
}

/* item 138: a sock_sendfile that fails midway (the peer went away after
   reading 1024 bytes) leaves the position after what was sent too, as
   asyncio does (test_sendfile_close_peer_in_the_middle_of_receiving) */
TEST(sock_sendfile_failing_midway_leaves_the_position_after_what_was_sent) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  small_tcp_pair(sv);
  int file = pattern_file(FILE_SIZE);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendfile(loop, sv[0], file, 0, 0, false, &f));
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_future_done(f), 0);
  uint8_t buf[1024];
  size_t got = 0;
  while (got < sizeof buf) {
    ssize_t r = recv_wait(sv[1], buf + got, sizeof buf - got);
    CHECK(r > 0);
    got += (size_t)r;
  }
  close(sv[1]); /* with data unread: the kernel resets the connection */
  if (!eddy_future_done(f)) eddy_loop_run_until_complete(loop, f);
  int rc = eddy_future_result(f, NULL, NULL);
  CHECK(rc == -EPIPE || rc == -ECONNRESET);
  off_t pos = lseek(file, 0, SEEK_CUR);
  CHECK(pos >= 1024);
  CHECK(pos < (off_t)FILE_SIZE);
  eddy_future_release(f);
  close_loop(loop);
  close(file);
  close(sv[0]);
}

/* item 138: offset 10, count 5000: 5000 bytes from offset 10 arrive,
   and the file position is 5010 */
TEST(sock_sendfile_offset_10_count_5000_leaves_the_position_at_5010) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  int file = pattern_file(FILE_SIZE);
  CHECK_EQ(lseek(file, 777, SEEK_SET), 777); /* the position is not the offset */
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendfile(loop, sv[0], file, 10, 5000, true, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 5000);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 5010);
  uint8_t buf[6000];
  size_t got = 0;
  while (got < 5000) {
    ssize_t r = recv_wait(sv[1], buf + got, sizeof buf - got);
    CHECK(r > 0);
    got += (size_t)r;
  }
  CHECK_EQ(got, 5000);
  size_t bad = 0;
  for (size_t i = 0; i < 5000; i++) bad += buf[i] != pattern(10 + i);
  CHECK_EQ(bad, 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, sv[0]), 0);
  eddy_future_release(f);
  close_loop(loop);
  close(file);
  close(sv[0]);
  close(sv[1]);
}

/* item 138: count past the end sends what there is; offset at or past
   the end sends nothing (n 0) */
TEST(sock_sendfile_stops_at_end_of_file) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  int file = pattern_file(1000);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendfile(loop, sv[0], file, 900, 5000, false, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 100);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 1000);
  eddy_future_release(f);
  uint8_t buf[200];
  CHECK_EQ(recv_wait(sv[1], buf, sizeof buf), 100);
  CHECK_EQ(buf[0], pattern(900));
  CHECK_EQ(buf[99], pattern(999));
  CHECK_OK(eddy_loop_sock_sendfile(loop, sv[0], file, 1000, 0, false, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 0);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 1000);
  eddy_future_release(f);
  close_loop(loop);
  close(file);
  close(sv[0]);
  close(sv[1]);
}

/* item 138: a socket that is not SOCK_STREAM is EDDY_EINVAL, with or
   without fallback; a negative offset is EDDY_EINVAL */
TEST(sock_sendfile_rejects_non_stream_sockets_and_negative_offsets) {
  eddy_loop_t *loop = new_loop();
  int u = udp_socket();
  struct sockaddr_in self = loopback_addr(local_port(u));
  CHECK_EQ(connect(u, (struct sockaddr *)&self, sizeof self), 0);
  int file = pattern_file(100);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_sock_sendfile(loop, u, file, 0, 0, true, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, u, file, 0, 10, false, &f), EDDY_EINVAL);
  int sv[2];
  unix_pair(sv);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, sv[0], file, -1, 10, true, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, sv[0], file, -1, 0, false, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 0);
  char b;
  CHECK_EQ(recv(sv[1], &b, 1, MSG_DONTWAIT), -1); /* nothing was sent */
  CHECK_EQ(recv(u, &b, 1, MSG_DONTWAIT), -1);
  close_loop(loop);
  close(file);
  close(u);
  close(sv[0]);
  close(sv[1]);
}

/* -------------------------------------------------- NULL, invalid, closed */

/* docs/api.md section 1: NULL or invalid arguments are EDDY_EINVAL; outputs untouched */
TEST(null_and_invalid_arguments_to_sock_functions_are_einval) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  int u = udp_socket();
  struct sockaddr_in to = loopback_addr(9);
  char buf[8];
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int file = pattern_file(10);
  eddy_future_t *f = NULL;
  /* NULL loop */
  CHECK_ERR(eddy_loop_sock_recv(NULL, sv[0], 8, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recv_into(NULL, sv[0], buf, sizeof buf, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom(NULL, u, 8, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom_into(NULL, u, buf, sizeof buf, (struct sockaddr *)&ss, &sl, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendall(NULL, sv[0], "x", 1, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendto(NULL, u, "x", 1, (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_connect(NULL, sv[0], (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_accept(NULL, sv[0], &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendfile(NULL, sv[0], file, 0, 0, true, &f), EDDY_EINVAL);
  /* negative fds */
  CHECK_ERR(eddy_loop_sock_recv(loop, -1, 8, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recv_into(loop, -1, buf, sizeof buf, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom(loop, -1, 8, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom_into(loop, -1, buf, sizeof buf, NULL, NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendall(loop, -1, "x", 1, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendto(loop, -1, "x", 1, (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_connect(loop, -1, (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_accept(loop, -1, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, sv[0], -1, 0, 0, true, &f), EDDY_EINVAL);
  /* NULL buffers and addresses */
  CHECK_ERR(eddy_loop_sock_recv_into(loop, sv[0], NULL, 8, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom_into(loop, u, NULL, 8, NULL, NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendall(loop, sv[0], NULL, 1, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendto(loop, u, NULL, 1, (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendto(loop, u, "x", 1, NULL, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendto(loop, u, "x", 1, (struct sockaddr *)&to, 0, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_connect(loop, sv[0], NULL, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_connect(loop, sv[0], (struct sockaddr *)&to, 0, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_connect(loop, sv[0], (struct sockaddr *)&to, (socklen_t)sizeof(struct sockaddr_storage) + 1,
                                   &f),
            EDDY_EINVAL);
  CHECK(f == NULL);
  /* nothing was registered by the failed calls */
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, sv[0]), 0);
  CHECK_EQ(eddy_loop_remove_reader(loop, u), 0);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
  close(u);
  close(file);
}

/* docs/api.md section 1: a negative socket fd is an invalid argument for sock_sendfile
   too (EDDY_EINVAL, as for every other sock_* method) */
TEST(sock_sendfile_with_a_negative_socket_fd_is_einval) {
  eddy_loop_t *loop = new_loop();
  int file = pattern_file(10);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_sock_sendfile(loop, -1, file, 0, 0, true, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, -1, file, 0, 0, false, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  close_loop(loop);
  close(file);
}

/* docs/api.md sections 1 and 4: sock_* on a closed loop are EDDY_ECLOSED */
TEST(sock_calls_on_a_closed_loop_are_eclosed) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  int sv[2];
  unix_pair(sv);
  int u = udp_socket();
  struct sockaddr_in to = loopback_addr(local_port(u));
  int file = pattern_file(10);
  char buf[8];
  eddy_future_t *f = NULL;
  CHECK_EQ(write(sv[1], "data", 4), 4);
  CHECK_ERR(eddy_loop_sock_recv(loop, sv[0], 8, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_sock_recv_into(loop, sv[0], buf, sizeof buf, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_sock_recvfrom(loop, u, 8, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_sock_recvfrom_into(loop, u, buf, sizeof buf, NULL, NULL, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_sock_sendall(loop, sv[0], "x", 1, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_sock_sendto(loop, u, "x", 1, (struct sockaddr *)&to, sizeof to, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_sock_connect(loop, sv[0], (struct sockaddr *)&to, sizeof to, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_sock_accept(loop, sv[0], &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, sv[0], file, 0, 0, true, &f), EDDY_ECLOSED);
  CHECK(f == NULL);
  /* nothing was consumed or sent */
  CHECK_EQ(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), 4);
  CHECK_EQ(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), -1);
  CHECK_EQ(recv(u, buf, sizeof buf, MSG_DONTWAIT), -1);
  eddy_loop_release(loop);
  close(sv[0]);
  close(sv[1]);
  close(u);
  close(file);
}

/* item 133: a pending operation on a loop that is then closed: the
   waiter goes away with the loop; the fd is the caller's and stays open */
TEST(loop_close_with_a_pending_sock_recv_leaves_the_fd_to_the_caller) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 8, &f));
  CHECK_OK(eddy_loop_close(loop));
  CHECK(fcntl(sv[0], F_GETFD) >= 0); /* still open */
  CHECK_EQ(write(sv[1], "k", 1), 1);
  char c;
  CHECK_EQ(recv(sv[0], &c, 1, 0), 1);
  CHECK_EQ(c, 'k');
  eddy_future_release(f);
  eddy_loop_release(loop);
  close(sv[0]);
  close(sv[1]);
}

/* Errors other than EAGAIN are the future's error (a recv on a fd that is
   not a socket: -ENOTSOCK) */
TEST(sock_recv_on_a_non_socket_fails_with_its_errno) {
  eddy_loop_t *loop = new_loop();
  int p[2];
  CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  CHECK_EQ(write(p[1], "z", 1), 1);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_recv(loop, p[0], 8, &f));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f), EDDY_ENOTSOCK);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  eddy_future_release(f);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* item 138 (asyncio's SendfileNotAvailableError): /proc/self/environ
   is a file sendfile(2) refuses with EINVAL (not /proc/self/cmdline, which
   valgrind replaces with a regular file); with fallback the bytes go by
   read and send, without it the call fails with EDDY_ENOTSUP, nothing sent
   and the file position untouched */
TEST(sock_sendfile_reads_and_sends_a_file_sendfile_refuses_only_with_fallback) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  tcp_pair(sv);
  int file = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
  CHECK(file >= 0);
  static uint8_t want[65536], got[65536];
  ssize_t len = pread(file, want, sizeof want, 0);
  CHECK(len > 0);

  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_sock_sendfile(loop, sv[0], file, 0, sizeof want, false, &f));
  if (!eddy_future_done(f)) CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_ERR(eddy_future_result(f, NULL, NULL), EDDY_ENOTSUP);
  eddy_future_release(f);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 0);
  CHECK_EQ(recv(sv[1], got, sizeof got, MSG_DONTWAIT), -1);

  f = NULL;
  CHECK_OK(eddy_loop_sock_sendfile(loop, sv[0], file, 0, sizeof want, true, &f));
  if (!eddy_future_done(f)) CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  eddy_future_release(f);
  CHECK_EQ(n, len);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), len);
  size_t have = 0;
  while (have < (size_t)len) {
    ssize_t r = recv(sv[1], got + have, sizeof got - have, 0);
    CHECK(r > 0);
    have += (size_t)r;
  }
  CHECK_EQ(have, (size_t)len);
  CHECK(memcmp(got, want, (size_t)len) == 0);
  close(file);
  close(sv[0]);
  close(sv[1]);
  close_loop(loop);
}
