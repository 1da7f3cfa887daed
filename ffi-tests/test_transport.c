/* Stream transports and protocols: docs/semantics.md items 56-88 (sections F, G,
   H, I); docs/api.md sections 2 (eddy_protocol_t), 6 (connect_accepted_socket,
   create_connection as a way to get transports) and 9 (the transport API).
   Servers themselves are tested in test_server.c.

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
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
#include "test_proto.h"

/* ------------------------------------------------------------------ helpers */

#define MIB (1024u * 1024u)

static uint16_t peer_port(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  CHECK_EQ(getpeername(fd, (struct sockaddr *)&a, &len), 0);
  return ntohs(a.sin_port);
}

/* Closes with SO_LINGER 0: the kernel sends RST. */
static void reset_close(int fd) {
  struct linger lg = {1, 0};
  CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  close(fd);
}

/* recv with a wait of up to 2 s; returns recv's result. */
static ssize_t recv_wait(int fd, void *buf, size_t len) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 2000) != 1) {
    errno = ETIMEDOUT;
    return -1;
  }
  return recv(fd, buf, len, 0);
}

/* Reads exactly `len` bytes (waiting up to 2 s for each piece). */
static void recv_exact(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = recv_wait(fd, (char *)buf + got, len - got);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    CHECK(n > 0);
    got += (size_t)n;
  }
}

/* Reads until EOF or an error; returns the byte count, *end 0 on EOF or
   the errno. */
static size_t drain_blocking(int fd, int *end) {
  static uint8_t buf[256 * 1024];
  size_t total = 0;
  for (;;) {
    ssize_t n = recv_wait(fd, buf, sizeof buf);
    if (n > 0) {
      total += (size_t)n;
    } else if (n == 0) {
      *end = 0;
      return total;
    } else if (errno == EAGAIN || errno == EINTR) {
      continue;
    } else {
      *end = errno;
      return total;
    }
  }
}

/* No data waiting on a non-blocking fd. */
static bool nothing_to_read(int fd) {
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && errno == EAGAIN;
}

/* ------------------------------------------------------------ the pattern */

/* Writes stream bytes [off, off+len) through eddy_transport_write. */
static int write_pattern(eddy_transport_t *t, size_t off, size_t len) {
  while (len > 0) {
    size_t n = len < PAT_CH ? len : PAT_CH;
    int rc = eddy_transport_write(t, g_block + off % PAT_P, n);
    if (rc != 0) return rc;
    off += n;
    len -= n;
  }
  return 0;
}

/* ------------------------------------------------- the peer's reader (sink) */

struct sink {
  eddy_loop_t *loop;
  int fd;
  size_t total;
  int eof;
  int err;
  bool pattern;
  size_t bad;
  bool active;
  size_t want;
};

static uint8_t g_sinkbuf[256 * 1024];

static void sink_cb(void *ud) {
  struct sink *s = ud;
  for (;;) {
    ssize_t n = recv(s->fd, g_sinkbuf, sizeof g_sinkbuf, 0);
    if (n > 0) {
      if (s->pattern && !pattern_ok(g_sinkbuf, (size_t)n, s->total)) s->bad++;
      s->total += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n == 0)
      s->eof = 1;
    else
      s->err = errno;
    eddy_loop_remove_reader(s->loop, s->fd);
    s->active = false;
    return;
  }
}

static void sink_start(struct sink *s, eddy_loop_t *loop, int fd, bool pattern) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->fd = fd;
  s->pattern = pattern;
  s->active = true;
  CHECK_OK(eddy_loop_add_reader(loop, fd, sink_cb, s));
}

static void sink_stop(struct sink *s) {
  if (s->active) eddy_loop_remove_reader(s->loop, s->fd);
  s->active = false;
}

static bool c_sink_want(void *a) {
  struct sink *s = a;
  return s->total >= s->want || s->eof || s->err;
}

static bool c_sink_end(void *a) {
  struct sink *s = a;
  return s->eof || s->err;
}

/* ---------------------------------------------------- exception recording */

struct exc {
  int calls;
  int err;
  eddy_transport_t *t;
};

static void exc_handler(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  (void)loop;
  struct exc *e = ud;
  e->calls++;
  e->err = ctx->error;
  e->t = ctx->transport;
}

static void install_exc(eddy_loop_t *loop, struct exc *e) {
  memset(e, 0, sizeof *e);
  CHECK_OK(eddy_loop_set_exception_handler(loop, exc_handler, e));
}

/* ------------------------------------------------------- getting transports */

enum kind { K_ACCEPTED_TCP, K_CLIENT_TCP, K_UNIX };

struct acceptor {
  eddy_loop_t *loop;
  int l;
  int fd;
  const char *early;
};

static void acceptor_cb(void *ud) {
  struct acceptor *a = ud;
  int fd = accept4(a->l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  a->fd = fd;
  if (a->early) {
    ssize_t n = send(fd, a->early, strlen(a->early), MSG_NOSIGNAL);
    (void)n;
  }
  eddy_loop_remove_reader(a->loop, a->l);
}

static bool c_accepted(void *p) { return ((struct acceptor *)p)->fd >= 0; }

/* Makes a transport of kind `k` for protocol `p`/`r`, and its peer's plain
   socket in *peer. `early`, when not NULL, is sent by the peer before the
   transport can exist (accepted kinds: before connect_accepted_socket;
   client: as soon as the listener accepts). Checks item 58: not
   synchronous, connection_made before the future completes. */
static eddy_transport_t *open_kind(eddy_loop_t *loop, enum kind k, const eddy_protocol_t *p, struct rec *r,
                                   int *peer, const char *early) {
  eddy_future_t *f = NULL;
  struct acceptor acc = {loop, -1, -1, early};
  int rc;
  if (k == K_CLIENT_TCP) {
    acc.l = tcp_listener(true);
    CHECK_OK(eddy_loop_add_reader(loop, acc.l, acceptor_cb, &acc));
    g_in_api = 1;
    rc = eddy_loop_create_connection(loop, p, r, "127.0.0.1", sock_port(acc.l), NULL, &f);
    g_in_api = 0;
    CHECK_OK(rc);
  } else {
    int sv[2];
    if (k == K_UNIX)
      unix_pair(sv);
    else
      tcp_pair(sv);
    if (early) CHECK_EQ(send(sv[0], early, strlen(early), MSG_NOSIGNAL), (ssize_t)strlen(early));
    *peer = sv[0];
    g_in_api = 1;
    rc = eddy_loop_connect_accepted_socket(loop, p, r, sv[1], NULL, &f);
    g_in_api = 0;
    CHECK_OK(rc);
  }
  eddy_transport_t *t = rec_await_made(loop, r, f);
  if (k == K_CLIENT_TCP) {
    CHECK(run_until(loop, c_accepted, &acc, 5.0));
    close(acc.l);
    *peer = acc.fd;
  }
  return t;
}

static int api_close(eddy_transport_t *t) {
  g_in_api = 1;
  int rc = eddy_transport_close(t);
  g_in_api = 0;
  return rc;
}

static int api_abort(eddy_transport_t *t) {
  g_in_api = 1;
  int rc = eddy_transport_abort(t);
  g_in_api = 0;
  return rc;
}

/* Fills the transport's buffer: peer not reading, limits out of the way. */
static void fill(eddy_transport_t *t, size_t len) {
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, 1 << 30, -1));
  CHECK_OK(write_pattern(t, 0, len));
  CHECK(eddy_transport_get_write_buffer_size(t) > 0);
}

/* ============================================== F: start-up (item 58) */

static void check_startup(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  CHECK_STR_EQ(r.log, "made");
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,lost(0)");
  CHECK_EQ(r.sync_violations, 0);
  close(peer);
  close_loop(loop);
}

/* item 58: connection_made runs later than the call, and before the
   future completes */
TEST(connect_accepted_socket_calls_connection_made_later_and_before_the_future) { check_startup(K_ACCEPTED_TCP); }

/* item 58 */
TEST(create_connection_completes_only_after_connection_made_ran) { check_startup(K_CLIENT_TCP); }

/* item 58 */
TEST(unix_accepted_socket_calls_connection_made_later_and_before_the_future) { check_startup(K_UNIX); }

static void check_no_early_data(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.eof_ret = false;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, "early");
  (void)t;
  CHECK(run_until(loop, c_data, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(5)");
  CHECK(memcmp(r.in, "early", 5) == 0);
  close(peer);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(5),eof,lost(0)");
  CHECK_EQ(r.sync_violations, 0);
  close_loop(loop);
}

/* items 56, 58: data the peer sent before the transport existed
   arrives after connection_made */
TEST(no_data_received_before_connection_made_server_side) { check_no_early_data(K_ACCEPTED_TCP); }

/* items 56, 58 */
TEST(no_data_received_before_connection_made_client_side) { check_no_early_data(K_CLIENT_TCP); }

/* =========================================== close paths (56, 69, 70, 61, 71) */

static void check_close_flushes(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  const size_t N = 4 * MIB;
  fill(t, N);
  size_t pending = eddy_transport_get_write_buffer_size(t);
  CHECK_OK(api_close(t));
  CHECK_EQ(r.lost, 0); /* never inside close() */
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), pending); /* not dropped */
  CHECK_OK(api_close(t)); /* idempotent */
  /* the peer is not reading: the flush cannot finish, so no connection_lost */
  run_for(loop, 0.03);
  CHECK_EQ(r.lost, 0);
  CHECK(eddy_transport_get_write_buffer_size(t) > 0);
  struct sink s;
  sink_start(&s, loop, peer, true);
  CHECK(run_until(loop, c_lost, &r, 10.0));
  CHECK(run_until(loop, c_sink_end, &s, 5.0));
  CHECK_EQ(s.total, N);
  CHECK_EQ(s.bad, 0);
  CHECK_EQ(s.eof, 1);
  run_for(loop, 0.02);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.lost_err, 0);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  CHECK_EQ(r.sync_violations, 0);
  /* closed but referenced: a state, not a dangling pointer (docs/api.md section 1 (4), item 59) */
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_ECLOSED);
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  int rc = eddy_transport_close(t);
  CHECK(rc == 0 || rc == EDDY_ECLOSED);
  run_once(loop);
  CHECK_EQ(r.lost, 1);
  sink_stop(&s);
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* items 56, 69: close() flushes the buffer first, then connection_lost(0)
   exactly once, never inside close() */
TEST(close_flushes_then_connection_lost_once_server_side) { check_close_flushes(K_ACCEPTED_TCP); }

/* items 56, 69 */
TEST(close_flushes_then_connection_lost_once_client_side) { check_close_flushes(K_CLIENT_TCP); }

/* items 56, 69 */
TEST(close_flushes_then_connection_lost_once_unix) { check_close_flushes(K_UNIX); }

static void check_close_empty(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  CHECK_OK(api_close(t));
  CHECK_EQ(r.lost, 0);
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_OK(run_once(loop));
  CHECK_EQ(r.lost, 1);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  run_for(loop, 0.02);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.sync_violations, 0);
  /* the socket was closed: the peer sees EOF */
  char c;
  CHECK_EQ(recv_wait(peer, &c, 1), 0);
  close(peer);
  close_loop(loop);
}

/* items 69, 59: with an empty buffer connection_lost(0) runs in the next
   iteration and the socket is closed */
TEST(close_with_empty_buffer_calls_connection_lost_next_iteration_server_side) {
  check_close_empty(K_ACCEPTED_TCP);
}

/* items 69, 59 */
TEST(close_with_empty_buffer_calls_connection_lost_next_iteration_client_side) { check_close_empty(K_CLIENT_TCP); }

static void check_abort(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  const size_t N = 4 * MIB;
  fill(t, N);
  CHECK_OK(api_abort(t));
  CHECK_EQ(r.lost, 0);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0); /* dropped at once */
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_ECLOSED);
  eddy_buf_t b = {"y", 1};
  CHECK_ERR(eddy_transport_writelines(t, &b, 1), EDDY_ECLOSED);
  CHECK_OK(api_abort(t));
  CHECK_OK(api_close(t));
  CHECK_EQ(r.lost, 0);
  CHECK_OK(run_once(loop));
  CHECK_EQ(r.lost, 1);
  run_for(loop, 0.02);
  CHECK_EQ(r.lost, 1);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  CHECK_EQ(r.sync_violations, 0);
  /* the peer gets less than was written, then the end of the stream */
  int end = -1;
  size_t got = drain_blocking(peer, &end);
  CHECK(got < N);
  CHECK(end == 0 || end == ECONNRESET);
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* items 56, 70: abort() drops the buffer (size 0 at once), is_closing,
   connection_lost(0) in the next iteration, exactly once */
TEST(abort_drops_buffer_and_calls_connection_lost_next_iteration_server_side) { check_abort(K_ACCEPTED_TCP); }

/* items 56, 70 */
TEST(abort_drops_buffer_and_calls_connection_lost_next_iteration_client_side) { check_abort(K_CLIENT_TCP); }

/* items 56, 70 */
TEST(abort_drops_buffer_and_calls_connection_lost_next_iteration_unix) { check_abort(K_UNIX); }

static void check_peer_reset(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct exc e;
  install_exc(loop, &e);
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  reset_close(peer);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.lost_err, EDDY_ECONNRESET);
  CHECK_EQ(r.eofs, 0);
  CHECK_STR_EQ(r.log, "made,lost(-104)");
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_ECLOSED);
  /* item 44: OS errors only reach connection_lost */
  CHECK_EQ(e.calls, 0);
  eddy_transport_release(t);
  close_loop(loop);
}

/* items 56, 71: a peer reset (SO_LINGER 0 close) gives
   connection_lost(-ECONNRESET) once, no eof_received */
TEST(peer_reset_gives_connection_lost_econnreset_server_side) { check_peer_reset(K_ACCEPTED_TCP); }

/* items 56, 71 */
TEST(peer_reset_gives_connection_lost_econnreset_client_side) { check_peer_reset(K_CLIENT_TCP); }

static void check_peer_eof_false(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.eof_ret = false;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  CHECK_EQ(send(peer, "hi", 2, 0), 2);
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,data(2),eof,lost(0)");
  CHECK(memcmp(r.in, "hi", 2) == 0);
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_ECLOSED);
  /* the transport closed its socket: the peer sees EOF */
  char c;
  CHECK_EQ(recv_wait(peer, &c, 1), 0);
  CHECK_EQ(r.sync_violations, 0);
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* items 56, 61: peer EOF, eof_received returns false: the transport
   closes and connection_lost(0) follows */
TEST(peer_eof_with_eof_received_false_closes_server_side) { check_peer_eof_false(K_ACCEPTED_TCP); }

/* items 56, 61 */
TEST(peer_eof_with_eof_received_false_closes_client_side) { check_peer_eof_false(K_CLIENT_TCP); }

/* items 56, 61 */
TEST(peer_eof_with_eof_received_false_closes_unix) { check_peer_eof_false(K_UNIX); }

static void check_peer_eof_true(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.eof_ret = true;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  CHECK(run_until(loop, c_eof, &r, 2.0));
  run_for(loop, 0.03);
  CHECK_STR_EQ(r.log, "made,eof");
  CHECK_EQ(r.lost, 0);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  CHECK_EQ(eddy_transport_is_reading(t), 0); /* eddy's decision for item 62 */
  /* the write side still works */
  CHECK_OK(eddy_transport_write(t, "reply", 5));
  char buf[8];
  recv_exact(peer, buf, 5);
  CHECK(memcmp(buf, "reply", 5) == 0);
  /* pause/resume after EOF do not bring eof_received back */
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  run_for(loop, 0.02);
  CHECK_EQ(r.eofs, 1);
  CHECK_EQ(r.lost, 0);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,eof,lost(0)");
  CHECK_EQ(recv_wait(peer, buf, 1), 0);
  CHECK_EQ(r.sync_violations, 0);
  close(peer);
  close_loop(loop);
}

/* items 61, 62: eof_received true keeps the connection half-open: the
   transport still writes and the peer receives it; is_reading is false */
TEST(peer_eof_with_eof_received_true_keeps_write_side_open_server_side) { check_peer_eof_true(K_ACCEPTED_TCP); }

/* items 61, 62 */
TEST(peer_eof_with_eof_received_true_keeps_write_side_open_client_side) { check_peer_eof_true(K_CLIENT_TCP); }

/* items 61, 62 */
TEST(peer_eof_with_eof_received_true_keeps_write_side_open_unix) { check_peer_eof_true(K_UNIX); }

/* item 63: after close() no data_received or eof_received, even for
   data that had already arrived */
TEST(no_data_received_after_close) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_EQ(send(peer, "late", 4, 0), 4);
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made");
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  close(peer);
  close_loop(loop);
}

/* items 63, 70: abort with data waiting: nothing is delivered */
TEST(no_data_received_after_abort) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_ACCEPTED_TCP, &PLAIN, &r, &peer, NULL);
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_EQ(send(peer, "late", 4, 0), 4);
  run_for(loop, 0.02);
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_OK(api_abort(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  close(peer);
  close_loop(loop);
}

/* ======================================================= G: write (64-73) */

/* items 64, 73: empty write and empty writelines are no-ops */
TEST(empty_write_is_a_noop) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_ACCEPTED_TCP, &PLAIN, &r, &peer, NULL);
  CHECK_OK(eddy_transport_write(t, "", 0));
  CHECK_OK(eddy_transport_writelines(t, NULL, 0));
  eddy_buf_t empties[2] = {{"", 0}, {"", 0}};
  CHECK_OK(eddy_transport_writelines(t, empties, 2));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  run_for(loop, 0.02);
  CHECK(nothing_to_read(peer));
  /* NULL data with a length is an argument error (docs/api.md section 1) */
  CHECK_ERR(eddy_transport_write(t, NULL, 3), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_writelines(t, NULL, 2), EDDY_EINVAL);
  CHECK_OK(eddy_transport_write(t, "z", 1));
  char c;
  recv_exact(peer, &c, 1);
  CHECK_EQ(c, 'z');
  CHECK_STR_EQ(r.log, "made");
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

/* items 65, 66: a small write goes out directly: nothing buffered, and
   the peer has it without the loop running */
TEST(small_write_is_sent_directly) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_ACCEPTED_TCP, &PLAIN, &r, &peer, NULL);
  CHECK_OK(eddy_transport_write(t, "hello", 5));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  char buf[8];
  recv_exact(peer, buf, 5);
  CHECK(memcmp(buf, "hello", 5) == 0);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

/* item 66: get_write_buffer_size counts exactly the user-space bytes:
   a further write while data is buffered adds its full length */
TEST(write_buffer_size_counts_buffered_bytes) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  fill(t, MIB);
  size_t s0 = eddy_transport_get_write_buffer_size(t);
  CHECK(s0 < MIB);
  CHECK_OK(eddy_transport_write(t, g_block, 1000));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), s0 + 1000);
  eddy_buf_t bufs[2] = {{g_block, 10}, {g_block, 20}};
  CHECK_OK(eddy_transport_writelines(t, bufs, 2));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), s0 + 1030);
  CHECK_OK(api_abort(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

static void check_write_after(enum kind k, bool use_abort) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  CHECK_OK(use_abort ? api_abort(t) : api_close(t));
  CHECK_ERR(eddy_transport_write(t, "nope", 4), EDDY_ECLOSED);
  eddy_buf_t b[2] = {{"ab", 2}, {"cd", 2}};
  CHECK_ERR(eddy_transport_writelines(t, b, 2), EDDY_ECLOSED);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_ERR(eddy_transport_write(t, "nope", 4), EDDY_ECLOSED);
  CHECK_ERR(eddy_transport_writelines(t, b, 2), EDDY_ECLOSED);
  /* nothing was sent */
  char c;
  CHECK_EQ(recv_wait(peer, &c, 1), 0);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* item 67 (eddy's decision): write after close() is EDDY_ECLOSED and
   sends nothing, before and after connection_lost */
TEST(write_after_close_is_eclosed) { check_write_after(K_ACCEPTED_TCP, false); }

/* item 67 (eddy's decision) */
TEST(write_after_abort_is_eclosed) { check_write_after(K_ACCEPTED_TCP, true); }

/* item 67 (eddy's decision) */
TEST(write_after_close_is_eclosed_client_side) { check_write_after(K_CLIENT_TCP, false); }

/* A protocol that writes after close(), from resume_writing (asyncio's
   SSLProtocol closes its paused transport and writes the rest of its
   output from resume_writing), and notes the write buffer's size when
   connection_lost runs. */
struct tail {
  struct rec r;
  size_t off, len; /* stream bytes resume_writing writes, if len > 0 */
  int rc, calls;
  size_t size_at_lost;
};

static void tail_init(struct tail *w, size_t off, size_t len) {
  rec_init(&w->r);
  w->off = off;
  w->len = len;
  w->rc = -1;
  w->calls = 0;
  w->size_at_lost = SIZE_MAX;
}

static void p_resume_tail(eddy_transport_t *t, void *ud) {
  struct tail *w = ud;
  p_resume(t, &w->r);
  w->calls++;
  if (w->len > 0) w->rc = write_pattern(t, w->off, w->len);
}

static void p_lost_size(eddy_transport_t *t, int err, void *ud) {
  struct tail *w = ud;
  w->size_at_lost = eddy_transport_get_write_buffer_size(t);
  p_lost(t, err, &w->r);
}

static const eddy_protocol_t TAIL = {
    .connection_made = p_made,
    .connection_lost = p_lost_size,
    .pause_writing = p_pause,
    .resume_writing = p_resume_tail,
    .data_received = p_data,
    .eof_received = p_eof,
};

static void check_write_while_flushing(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct tail w;
  tail_init(&w, 0, 0);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &TAIL, &w.r, &peer, NULL);
  eddy_transport_retain(t);
  const size_t N = 4 * MIB; /* more than the kernel takes (check_close_flushes) */
  fill(t, N);
  size_t s0 = eddy_transport_get_write_buffer_size(t);
  CHECK_OK(api_close(t));
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  /* taken while the buffer still flushes: stream bytes [N, N + 22) */
  CHECK_OK(write_pattern(t, N, 10));
  eddy_buf_t b[2] = {{g_block + (N + 10) % PAT_P, 5}, {g_block + (N + 15) % PAT_P, 7}};
  CHECK_OK(eddy_transport_writelines(t, b, 2));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), s0 + 22);
  /* the peer isn't reading yet: nothing drains, no connection_lost */
  run_for(loop, 0.02);
  CHECK_EQ(w.r.lost, 0);
  struct sink s;
  sink_start(&s, loop, peer, true);
  CHECK(run_until(loop, c_lost, &w.r, 5.0));
  CHECK_EQ(w.size_at_lost, 0);
  CHECK(run_until(loop, c_sink_end, &s, 5.0));
  CHECK_EQ(s.total, N + 22);
  CHECK_EQ(s.bad, 0);
  CHECK_EQ(s.eof, 1);
  CHECK_STR_EQ(w.r.log, "made,lost(0)");
  /* item 67 once connection_lost is recorded */
  CHECK_ERR(eddy_transport_write(t, "nope", 4), EDDY_ECLOSED);
  CHECK_ERR(eddy_transport_writelines(t, b, 2), EDDY_ECLOSED);
  sink_stop(&s);
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* item 68: a write after close() while data is still buffered is
   appended and flushed; connection_lost(0) comes once all of it is out;
   later writes fall under item 67 */
TEST(write_after_close_while_flushing_is_sent_before_connection_lost_unix) { check_write_while_flushing(K_UNIX); }

/* item 68 */
TEST(write_after_close_while_flushing_is_sent_before_connection_lost_tcp) {
  check_write_while_flushing(K_ACCEPTED_TCP);
}

/* items 68, 81: close() while paused by flow control, then resume_writing
   (called from the flush, possibly with the buffer already empty) writes
   the rest: it is sent before connection_lost */
TEST(write_from_resume_writing_after_close_is_sent_before_connection_lost) {
  eddy_loop_t *loop = new_loop();
  const size_t N = MIB;
  struct tail w;
  tail_init(&w, N, 10);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &TAIL, &w.r, &peer, NULL);
  CHECK_OK(write_pattern(t, 0, N));
  CHECK_EQ(w.r.pauses, 1);
  CHECK_OK(api_close(t));
  struct sink s;
  sink_start(&s, loop, peer, true);
  CHECK(run_until(loop, c_lost, &w.r, 5.0));
  CHECK_EQ(w.calls, 1);
  CHECK_OK(w.rc);
  CHECK_EQ(w.size_at_lost, 0);
  CHECK(run_until(loop, c_sink_end, &s, 5.0));
  CHECK_EQ(s.total, N + 10);
  CHECK_EQ(s.bad, 0);
  CHECK_EQ(s.eof, 1);
  CHECK_STR_EQ(w.r.log, "made,pause,resume,lost(0)");
  sink_stop(&s);
  close(peer);
  close_loop(loop);
}

static void check_write_eof_half_close(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.eof_ret = false;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  CHECK_EQ(eddy_transport_can_write_eof(t), 1);
  CHECK_OK(eddy_transport_write(t, "abc", 3));
  CHECK_OK(eddy_transport_write_eof(t));
  CHECK_OK(eddy_transport_write_eof(t)); /* no-op the second time */
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_EPIPE);
  eddy_buf_t b = {"y", 1};
  CHECK_ERR(eddy_transport_writelines(t, &b, 1), EDDY_EPIPE);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  /* buffer was empty: shutdown(SHUT_WR) now; the peer sees the data then EOF */
  char buf[8];
  recv_exact(peer, buf, 3);
  CHECK(memcmp(buf, "abc", 3) == 0);
  CHECK_EQ(recv_wait(peer, buf, 1), 0);
  /* ... and can still send to us */
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  CHECK_EQ(send(peer, "xyz", 3, 0), 3);
  r.want = 3;
  CHECK(run_until(loop, c_want, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(3)");
  CHECK(memcmp(r.in, "xyz", 3) == 0);
  CHECK_EQ(r.lost, 0);
  /* then the peer half-closes too */
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(3),eof,lost(0)");
  /* after write_eof and connection loss both codes describe it (docs/api.md section 9) */
  int rc = eddy_transport_write(t, "x", 1);
  CHECK(rc == EDDY_EPIPE || rc == EDDY_ECLOSED);
  CHECK_EQ(r.sync_violations, 0);
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* items 64, 72, 73: write_eof: the peer sees EOF and can still send to
   us; write/writelines afterwards give EDDY_EPIPE (eddy's decision) */
TEST(write_eof_half_closes_and_later_writes_are_epipe_server_side) { check_write_eof_half_close(K_ACCEPTED_TCP); }

/* items 64, 72, 73 */
TEST(write_eof_half_closes_and_later_writes_are_epipe_client_side) { check_write_eof_half_close(K_CLIENT_TCP); }

/* items 64, 72, 73 */
TEST(write_eof_half_closes_and_later_writes_are_epipe_unix) { check_write_eof_half_close(K_UNIX); }

/* item 72: with data buffered, EOF goes out after the data */
TEST(write_eof_with_buffered_data_sends_eof_after_the_data) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.eof_ret = false;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_ACCEPTED_TCP, &PLAIN, &r, &peer, NULL);
  const size_t N = 4 * MIB;
  fill(t, N);
  size_t pending = eddy_transport_get_write_buffer_size(t);
  CHECK_OK(eddy_transport_write_eof(t));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), pending);
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_EPIPE);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  struct sink s;
  sink_start(&s, loop, peer, true);
  CHECK(run_until(loop, c_sink_end, &s, 10.0));
  CHECK_EQ(s.eof, 1);
  CHECK_EQ(s.total, N);
  CHECK_EQ(s.bad, 0);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  CHECK_EQ(r.lost, 0);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  sink_stop(&s);
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,eof,lost(0)");
  close(peer);
  close_loop(loop);
}

/* item 73: writelines gathers several buffers into the stream in order,
   small ones sent at once */
TEST(writelines_sends_buffers_in_order) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_ACCEPTED_TCP, &PLAIN, &r, &peer, NULL);
  eddy_buf_t bufs[4] = {{"one", 3}, {"", 0}, {"two", 3}, {"three", 5}};
  CHECK_OK(eddy_transport_writelines(t, bufs, 4));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  char buf[16];
  recv_exact(peer, buf, 11);
  CHECK(memcmp(buf, "onetwothree", 11) == 0);
  CHECK(nothing_to_read(peer));
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

/* items 73, 65: a large writelines keeps the unsent tail of every
   buffer, in order */
TEST(writelines_with_large_buffers_arrives_intact) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, 1 << 30, -1));
  /* stream bytes [0, 3*PAT_CH) as three buffers, then one more write */
  eddy_buf_t bufs[3];
  for (size_t i = 0; i < 3; i++) {
    bufs[i].base = g_block + (i * PAT_CH) % PAT_P;
    bufs[i].len = PAT_CH;
  }
  CHECK_OK(eddy_transport_writelines(t, bufs, 3));
  CHECK(eddy_transport_get_write_buffer_size(t) > 0);
  CHECK_OK(write_pattern(t, 3 * PAT_CH, 1000));
  CHECK_OK(api_close(t));
  struct sink s;
  sink_start(&s, loop, peer, true);
  CHECK(run_until(loop, c_sink_end, &s, 5.0));
  CHECK_EQ(s.total, 3 * PAT_CH + 1000);
  CHECK_EQ(s.bad, 0);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,lost(0)");
  sink_stop(&s);
  close(peer);
  close_loop(loop);
}

/* ================================================ G: reading (60, 62, 74) */

/* item 74: pause/resume are idempotent, is_reading reflects them, and
   data sent while paused arrives after resume */
TEST(pause_and_resume_reading_are_idempotent_and_hold_data_back) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_ACCEPTED_TCP, &PLAIN, &r, &peer, NULL);
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_EQ(send(peer, "abc", 3, 0), 3);
  run_for(loop, 0.03);
  CHECK_STR_EQ(r.log, "made");
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  r.want = 3;
  CHECK(run_until(loop, c_want, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(3)");
  CHECK(memcmp(r.in, "abc", 3) == 0);
  /* paused across an EOF too: nothing until resume */
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_EQ(send(peer, "de", 2, 0), 2);
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  run_for(loop, 0.03);
  CHECK_STR_EQ(r.log, "made,data(3)");
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(3),data(2),eof,lost(0)");
  close(peer);
  close_loop(loop);
}

/* item 74, docs/api.md section 12: pause_reading/resume_reading never fail on a closing
   transport (0), and is_reading is false there */
TEST(pause_and_resume_reading_return_0_on_a_closing_transport) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_OK(api_close(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* item 60: data_received gets non-empty chunks of at most 256 KiB */
TEST(data_received_chunks_are_nonempty_and_at_most_256k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.quiet_data = true;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  CHECK_OK(eddy_transport_pause_reading(t));
  /* let 1 MiB pile up on our side (the socket buffer may hold less) */
  int big = 4 * MIB;
  setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  size_t sent = 0;
  while (sent < MIB) {
    ssize_t n = send(peer, g_block + sent % PAT_P, PAT_CH, MSG_DONTWAIT);
    if (n <= 0) break;
    sent += (size_t)n;
  }
  CHECK(sent > 256 * 1024);
  CHECK_OK(eddy_transport_resume_reading(t));
  r.want = sent;
  CHECK(run_until(loop, c_want, &r, 2.0));
  CHECK_EQ(r.total_in, sent);
  CHECK(r.datas >= 2); /* more than 256 KiB cannot come in one chunk */
  CHECK(r.max_chunk <= 256 * 1024);
  CHECK_EQ(r.sync_violations, 0);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

/* ======================================================= extra info (75, 77) */

static void check_extra_info(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  struct sockaddr_storage ss;
  size_t len = sizeof ss;
  CHECK_OK(eddy_transport_get_extra_info(t, "peername", &ss, &len));
  CHECK_EQ(len, sizeof(struct sockaddr_in));
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  CHECK_EQ(sin->sin_family, AF_INET);
  CHECK_EQ(ntohs(sin->sin_port), sock_port(peer));
  CHECK_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
  len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  CHECK_OK(eddy_transport_get_extra_info(t, "sockname", &ss, &len));
  CHECK_EQ(len, sizeof(struct sockaddr_in));
  CHECK_EQ(sin->sin_family, AF_INET);
  CHECK_EQ(ntohs(sin->sin_port), peer_port(peer));
  CHECK_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
  /* "socket": the fd, as an int */
  int fd = -1;
  len = sizeof fd;
  CHECK_OK(eddy_transport_get_extra_info(t, "socket", &fd, &len));
  CHECK_EQ(len, sizeof(int));
  CHECK(fd >= 0);
  CHECK_EQ(sock_port(fd), peer_port(peer));
  CHECK_EQ(peer_port(fd), sock_port(peer));
  /* item 77: TCP_NODELAY is set on TCP transports */
  int nodelay = 0;
  socklen_t ol = sizeof nodelay;
  CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &ol), 0);
  CHECK(nodelay != 0);
  /* unknown and absent keys */
  len = sizeof ss;
  CHECK_ERR(eddy_transport_get_extra_info(t, "nope", &ss, &len), EDDY_ENOENT);
  len = sizeof ss;
  CHECK_ERR(eddy_transport_get_extra_info(t, "pipe", &ss, &len), EDDY_ENOENT);
  /* a buffer too small: ENOBUFS with the size needed */
  len = 2;
  CHECK_ERR(eddy_transport_get_extra_info(t, "peername", &ss, &len), EDDY_ENOBUFS);
  CHECK_EQ(len, sizeof(struct sockaddr_in));
  len = 1;
  CHECK_ERR(eddy_transport_get_extra_info(t, "socket", &fd, &len), EDDY_ENOBUFS);
  CHECK_EQ(len, sizeof(int));
  /* argument errors */
  len = sizeof ss;
  CHECK_ERR(eddy_transport_get_extra_info(t, NULL, &ss, &len), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_get_extra_info(t, "peername", &ss, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_get_extra_info(NULL, "peername", &ss, &len), EDDY_EINVAL);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

/* items 75, 77: peername/sockname as sockaddr bytes, socket as the fd,
   ENOENT/ENOBUFS; TCP_NODELAY set */
TEST(extra_info_and_tcp_nodelay_server_side) { check_extra_info(K_ACCEPTED_TCP); }

/* items 75, 77 */
TEST(extra_info_and_tcp_nodelay_client_side) { check_extra_info(K_CLIENT_TCP); }

/* item 75: a Unix transport's "socket" is its fd */
TEST(extra_info_socket_on_unix_transport) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  int fd = -1;
  size_t len = sizeof fd;
  CHECK_OK(eddy_transport_get_extra_info(t, "socket", &fd, &len));
  CHECK_EQ(len, sizeof(int));
  int type = 0, dom = 0;
  socklen_t ol = sizeof type;
  CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol), 0);
  CHECK_EQ(type, SOCK_STREAM);
  ol = sizeof dom;
  CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &ol), 0);
  CHECK_EQ(dom, AF_UNIX);
  /* it is the other end of the peer's socket: a byte written there arrives */
  CHECK_EQ(send(peer, "q", 1, 0), 1);
  r.want = 1;
  CHECK(run_until(loop, c_want, &r, 2.0));
  len = 0;
  CHECK_ERR(eddy_transport_get_extra_info(t, "nope", NULL, &len), EDDY_ENOENT);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

/* ====================================== set_protocol / get_protocol (76, 59) */

/* items 76, 59: get_protocol gives what was set; switching from a plain
   to a buffered protocol inside data_received takes effect for the next
   event (the read path is chosen again), connection_lost goes to the new
   protocol; after connection_lost get_protocol gives NULL */
TEST(set_protocol_plain_to_buffered_takes_effect_for_the_next_event) {
  eddy_loop_t *loop = new_loop();
  struct rec r1, r2;
  rec_init(&r1);
  rec_init(&r2);
  r2.eof_ret = false;
  r2.gbuf_len = 64;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_ACCEPTED_TCP, &PLAIN, &r1, &peer, NULL);
  eddy_transport_retain(t);
  const eddy_protocol_t *p = NULL;
  void *ud = NULL;
  CHECK_OK(eddy_transport_get_protocol(t, &p, &ud));
  CHECK(p == &PLAIN);
  CHECK(ud == &r1);
  r1.switch_proto = &BUFFERED;
  r1.switch_ud = &r2;
  CHECK_EQ(send(peer, "aaa", 3, 0), 3);
  r1.want = 3;
  CHECK(run_until(loop, c_want, &r1, 2.0));
  CHECK_OK(r1.switch_rc);
  CHECK_OK(eddy_transport_get_protocol(t, &p, &ud));
  CHECK(p == &BUFFERED);
  CHECK(ud == &r2);
  CHECK_EQ(send(peer, "bbbb", 4, 0), 4);
  r2.want = 4;
  CHECK(run_until(loop, c_want, &r2, 2.0));
  CHECK(memcmp(r2.in, "bbbb", 4) == 0);
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  CHECK(run_until(loop, c_lost, &r2, 2.0));
  CHECK_STR_EQ(r1.log, "made,data(3)");
  CHECK_STR_EQ(r2.log, "gb(0),bu(4),gb(0),eof,lost(0)");
  p = &PLAIN;
  ud = &r1;
  CHECK_OK(eddy_transport_get_protocol(t, &p, &ud));
  CHECK(p == NULL);
  CHECK(ud == NULL);
  CHECK_ERR(eddy_transport_set_protocol(t, &PLAIN, &r1), EDDY_ECLOSED);
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* item 76: buffered to plain, from inside buffer_updated */
TEST(set_protocol_buffered_to_plain_takes_effect_for_the_next_event) {
  eddy_loop_t *loop = new_loop();
  struct rec r1, r2;
  rec_init(&r1);
  rec_init(&r2);
  r1.gbuf_len = 64;
  r2.eof_ret = false;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &BUFFERED, &r1, &peer, NULL);
  r1.switch_proto = &PLAIN;
  r1.switch_ud = &r2;
  CHECK_EQ(send(peer, "aaa", 3, 0), 3);
  r1.want = 3;
  CHECK(run_until(loop, c_want, &r1, 2.0));
  CHECK_OK(r1.switch_rc);
  const eddy_protocol_t *p = NULL;
  void *ud = NULL;
  CHECK_OK(eddy_transport_get_protocol(t, &p, &ud));
  CHECK(p == &PLAIN);
  CHECK(ud == &r2);
  CHECK_EQ(send(peer, "bbbb", 4, 0), 4);
  r2.want = 4;
  CHECK(run_until(loop, c_want, &r2, 2.0));
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  CHECK(run_until(loop, c_lost, &r2, 2.0));
  CHECK_STR_EQ(r1.log, "made,gb(0),bu(3)");
  CHECK_STR_EQ(r2.log, "data(4),eof,lost(0)");
  CHECK(memcmp(r2.in, "bbbb", 4) == 0);
  close(peer);
  close_loop(loop);
}

/* docs/api.md section 1: set_protocol/get_protocol argument checks; either output may be NULL */
TEST(set_protocol_rejects_null_and_get_protocol_outputs_are_optional) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  CHECK_ERR(eddy_transport_set_protocol(t, NULL, &r), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_set_protocol(NULL, &PLAIN, &r), EDDY_EINVAL);
  void *ud = NULL;
  CHECK_OK(eddy_transport_get_protocol(t, NULL, &ud));
  CHECK(ud == &r);
  const eddy_protocol_t *p = NULL;
  CHECK_OK(eddy_transport_get_protocol(t, &p, NULL));
  CHECK(p == &PLAIN);
  /* the protocol is unchanged by the failed calls */
  CHECK_EQ(send(peer, "k", 1, 0), 1);
  r.want = 1;
  CHECK(run_until(loop, c_want, &r, 2.0));
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(1),lost(0)");
  close(peer);
  close_loop(loop);
}

/* ===================================================== I: buffered (85-87) */

static void check_buffered_10(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.gbuf_len = 10;
  r.eof_ret = false;
  int sv[2];
  if (k == K_UNIX)
    unix_pair(sv);
  else
    tcp_pair(sv);
  CHECK_EQ(send(sv[0], "0123456789abcdef", 16, 0), 16);
  CHECK_EQ(shutdown(sv[0], SHUT_WR), 0);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &BUFFERED, &r, sv[1], NULL, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  eddy_future_release(f);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,gb(0),bu(10),gb(0),bu(6),gb(0),eof,lost(0)");
  CHECK_EQ(r.nin, 16);
  CHECK(memcmp(r.in, "0123456789abcdef", 16) == 0);
  CHECK_EQ(r.datas, 0);
  CHECK_EQ(r.sync_violations, 0);
  close(sv[0]);
  close_loop(loop);
}

/* items 56, 85, 86: a 10-byte buffer and 16 bytes sent give
   gb,bu(10),gb,bu(6),gb,eof, then connection_lost; sizehint 0 = no hint;
   data_received is never called */
TEST(buffered_protocol_with_10_byte_buffer_tcp) { check_buffered_10(K_ACCEPTED_TCP); }

/* items 56, 85, 86 */
TEST(buffered_protocol_with_10_byte_buffer_unix) { check_buffered_10(K_UNIX); }

/* items 86, 61: buffered protocol with eof_received true keeps writing */
TEST(buffered_protocol_eof_received_true_keeps_write_side_open) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.gbuf_len = 64;
  r.eof_ret = true;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &BUFFERED, &r, &peer, NULL);
  CHECK_EQ(send(peer, "hey", 3, 0), 3);
  CHECK_EQ(shutdown(peer, SHUT_WR), 0);
  CHECK(run_until(loop, c_eof, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,gb(0),bu(3),gb(0),eof");
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_OK(eddy_transport_write(t, "ok", 2));
  char buf[4];
  recv_exact(peer, buf, 2);
  CHECK(memcmp(buf, "ok", 2) == 0);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,gb(0),bu(3),gb(0),eof,lost(0)");
  close(peer);
  close_loop(loop);
}

static void check_get_buffer_failure(int gb_ret, size_t gbuf_len) {
  eddy_loop_t *loop = new_loop();
  struct exc e;
  install_exc(loop, &e);
  struct rec r;
  rec_init(&r);
  r.gb_ret = gb_ret;
  r.gbuf_len = gbuf_len;
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &BUFFERED, &r, &peer, NULL);
  eddy_transport_retain(t);
  CHECK_EQ(send(peer, "data", 4, 0), 4);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_EQ(r.gbs, 1);
  CHECK_EQ(r.bus, 0);
  CHECK_EQ(r.datas, 0);
  CHECK_EQ(r.eofs, 0);
  CHECK_EQ(r.lost, 1);
  CHECK(r.lost_err < 0);
  if (gb_ret != 0) CHECK_EQ(r.lost_err, gb_ret);
  char want[64];
  snprintf(want, sizeof want, "made,gb(0),lost(%d)", r.lost_err);
  CHECK_STR_EQ(r.log, want);
  /* a protocol failure is reported to the exception handler (item 87) */
  CHECK_EQ(e.calls, 1);
  CHECK(e.t == t);
  CHECK_EQ(e.err, r.lost_err);
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  eddy_transport_release(t);
  close(peer);
  close_loop(loop);
}

/* item 87: get_buffer returning a negative code is fatal: exception
   handler, then connection_lost with that code */
TEST(buffered_get_buffer_error_is_fatal) { check_get_buffer_failure(EDDY_ENOMEM, 10); }

/* item 87, docs/api.md section 12: a zero-length buffer is fatal too */
TEST(buffered_get_buffer_zero_length_is_fatal) { check_get_buffer_failure(0, 0); }

/* ===================================================== H: flow control (78-84) */

static void check_default_limits(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  size_t low = 1, high = 1;
  CHECK_OK(eddy_transport_get_write_buffer_limits(t, &low, &high));
  CHECK_EQ(low, 16384);
  CHECK_EQ(high, 65536);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

/* item 78: default limits (low 16384, high 65536) */
TEST(default_write_buffer_limits_server_side) { check_default_limits(K_ACCEPTED_TCP); }

/* item 78 */
TEST(default_write_buffer_limits_client_side) { check_default_limits(K_CLIENT_TCP); }

/* item 78 */
TEST(default_write_buffer_limits_unix) { check_default_limits(K_UNIX); }

/* item 79: set_write_buffer_limits derives the missing limit as asyncio
   does and rejects high < low or negative values other than -1 */
TEST(set_write_buffer_limits_rules) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  size_t low = 0, high = 0;
#define LIMITS(h, l, wl, wh)                                                                                           \
  do {                                                                                                                 \
    CHECK_OK(eddy_transport_set_write_buffer_limits(t, (h), (l)));                                                     \
    CHECK_OK(eddy_transport_get_write_buffer_limits(t, &low, &high));                                                  \
    CHECK_EQ(low, (wl));                                                                                               \
    CHECK_EQ(high, (wh));                                                                                              \
  } while (0)
  LIMITS(100, -1, 25, 100);      /* only high: low = high / 4 */
  LIMITS(-1, 100, 100, 400);     /* only low: high = 4 * low */
  LIMITS(0, -1, 0, 0);           /* high 0 */
  LIMITS(-1, 0, 0, 0);           /* low 0: high 0 */
  LIMITS(-1, -1, 16384, 65536);  /* defaults */
  LIMITS(1000, 300, 300, 1000);  /* both */
  LIMITS(500, 500, 500, 500);    /* equal is fine */
  LIMITS(101, -1, 25, 101);      /* floor division */
  /* high < low: EINVAL, limits unchanged */
  CHECK_ERR(eddy_transport_set_write_buffer_limits(t, 10, 20), EDDY_EINVAL);
  CHECK_OK(eddy_transport_get_write_buffer_limits(t, &low, &high));
  CHECK_EQ(low, 25);
  CHECK_EQ(high, 101);
  /* only low given, but above the default high is still fine: high = 4*low */
  LIMITS(-1, 100000, 100000, 400000);
  /* explicit high below an explicit low */
  CHECK_ERR(eddy_transport_set_write_buffer_limits(t, 100, 101), EDDY_EINVAL);
  /* negative values other than -1 */
  CHECK_ERR(eddy_transport_set_write_buffer_limits(t, -2, -1), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_set_write_buffer_limits(t, 100, -5), EDDY_EINVAL);
  CHECK_OK(eddy_transport_get_write_buffer_limits(t, &low, &high));
  CHECK_EQ(low, 100000);
  CHECK_EQ(high, 400000);
  CHECK_ERR(eddy_transport_set_write_buffer_limits(NULL, -1, -1), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_get_write_buffer_limits(NULL, &low, &high), EDDY_EINVAL);
#undef LIMITS
  CHECK_EQ(r.pauses, 0);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(peer);
  close_loop(loop);
}

static void check_pause_resume(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  size_t written = 0;
  const size_t CH = 4096;
  /* write with the peer not reading until the buffer goes above high */
  while (written < 16 * MIB) {
    CHECK_OK(write_pattern(t, written, CH));
    written += CH;
    size_t size = eddy_transport_get_write_buffer_size(t);
    /* synchronous, exactly when the size goes strictly above high */
    CHECK_EQ(r.pauses, size > 65536 ? 1 : 0);
    if (r.pauses) break;
  }
  CHECK_EQ(r.pauses, 1);
  CHECK(r.size_at_pause > 65536);
  CHECK(r.size_at_pause <= 65536 + CH);
  /* more writes while paused: no second pause_writing */
  for (int i = 0; i < 20; i++) {
    CHECK_OK(write_pattern(t, written, CH));
    written += CH;
  }
  CHECK_EQ(r.pauses, 1);
  run_for(loop, 0.02);
  CHECK_EQ(r.resumes, 0);
  CHECK_STR_EQ(r.log, "made,pause");
  /* the peer reads: resume_writing once the buffer is down to <= low */
  struct sink s;
  sink_start(&s, loop, peer, true);
  CHECK(run_until(loop, c_resumed, &r, 5.0));
  CHECK_EQ(r.resumes, 1);
  CHECK(r.size_at_resume <= 16384);
  /* drain everything */
  s.want = written;
  CHECK(run_until(loop, c_sink_want, &s, 5.0));
  CHECK_EQ(s.total, written);
  CHECK_EQ(s.bad, 0);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  CHECK_EQ(r.pauses, 1);
  CHECK_EQ(r.resumes, 1);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,pause,resume,lost(0)");
  sink_stop(&s);
  close(peer);
  close_loop(loop);
}

/* items 57, 80, 81: pause_writing exactly once, inside write(), when the
   buffer goes above high; resume_writing exactly once when it drains to
   <= low */
TEST(pause_writing_above_high_and_resume_writing_at_low_server_side) { check_pause_resume(K_ACCEPTED_TCP); }

/* items 57, 80, 81 */
TEST(pause_writing_above_high_and_resume_writing_at_low_client_side) { check_pause_resume(K_CLIENT_TCP); }

/* items 57, 80, 81 */
TEST(pause_writing_above_high_and_resume_writing_at_low_unix) { check_pause_resume(K_UNIX); }

/* item 80: "strictly above": a buffer of exactly high bytes does not
   pause; one more byte does */
TEST(pause_writing_fires_only_strictly_above_high) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  fill(t, MIB);
  size_t s0 = eddy_transport_get_write_buffer_size(t);
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, (int64_t)s0 + 10, -1));
  CHECK_EQ(r.pauses, 0);
  CHECK_OK(eddy_transport_write(t, g_block, 10));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), s0 + 10);
  CHECK_EQ(r.pauses, 0);
  CHECK_OK(eddy_transport_write(t, g_block, 1));
  CHECK_EQ(r.pauses, 1);
  CHECK_EQ(r.size_at_pause, s0 + 11);
  CHECK_OK(eddy_transport_write(t, g_block, 1));
  CHECK_EQ(r.pauses, 1);
  CHECK_OK(api_abort(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,pause,lost(0)");
  close(peer);
  close_loop(loop);
}

/* item 82: lowering the limits below the buffered size pauses at once;
   raising them never resumes; resume comes from the next drain */
TEST(set_write_buffer_limits_can_pause_but_never_resumes) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  const size_t N = MIB;
  fill(t, N);
  size_t s0 = eddy_transport_get_write_buffer_size(t);
  CHECK(s0 > 100);
  CHECK_EQ(r.pauses, 0);
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, 100, -1));
  CHECK_EQ(r.pauses, 1); /* at once, inside the call */
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, 100, -1));
  CHECK_EQ(r.pauses, 1);
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, 1 << 30, -1));
  CHECK_EQ(r.resumes, 0); /* never from set_write_buffer_limits */
  run_for(loop, 0.02);
  CHECK_EQ(r.resumes, 0); /* the peer isn't reading: no drain, no resume */
  struct sink s;
  sink_start(&s, loop, peer, true);
  CHECK(run_until(loop, c_resumed, &r, 5.0));
  CHECK_EQ(r.resumes, 1);
  CHECK_OK(api_close(t));
  CHECK(run_until(loop, c_lost, &r, 5.0));
  CHECK(run_until(loop, c_sink_end, &s, 5.0));
  CHECK_EQ(s.total, N);
  CHECK_EQ(s.bad, 0);
  CHECK_STR_EQ(r.log, "made,pause,resume,lost(0)");
  sink_stop(&s);
  close(peer);
  close_loop(loop);
}

/* item 70: abort while paused: connection_lost, never resume_writing */
TEST(abort_while_paused_never_resumes_writing) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_ACCEPTED_TCP, &PLAIN, &r, &peer, NULL);
  /* Write until the buffer goes above high: how much the kernel takes
     first depends on the socket buffers' autotuning. */
  size_t written = 0;
  while (r.pauses == 0 && written < 256 * MIB) {
    CHECK_OK(write_pattern(t, written, MIB));
    written += MIB;
  }
  CHECK_EQ(r.pauses, 1);
  CHECK_OK(api_abort(t));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  CHECK_EQ(r.resumes, 0);
  struct sink s;
  sink_start(&s, loop, peer, false);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK(run_until(loop, c_sink_end, &s, 5.0));
  run_for(loop, 0.02);
  CHECK_EQ(r.resumes, 0);
  CHECK_STR_EQ(r.log, "made,pause,lost(0)");
  CHECK(s.total < written);
  sink_stop(&s);
  close(peer);
  close_loop(loop);
}

/* items 69, 81: close while paused: the drain resumes writing (the
   buffer falls to low on the way) and connection_lost(0) follows the flush */
TEST(close_while_paused_flushes_everything) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  const size_t N = 2 * MIB;
  CHECK_OK(write_pattern(t, 0, N));
  CHECK_EQ(r.pauses, 1);
  CHECK_OK(api_close(t));
  struct sink s;
  sink_start(&s, loop, peer, true);
  CHECK(run_until(loop, c_lost, &r, 5.0));
  CHECK(run_until(loop, c_sink_end, &s, 5.0));
  CHECK_EQ(s.total, N);
  CHECK_EQ(s.bad, 0);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.lost_err, 0);
  CHECK_STR_EQ(r.log, "made,pause,resume,lost(0)");
  sink_stop(&s);
  close(peer);
  close_loop(loop);
}

/* ====================== peer vanishing mid-write (71; no SIGPIPE, no crash) */

static void check_peer_vanishes(enum kind k) {
  eddy_loop_t *loop = new_loop();
  struct exc e;
  install_exc(loop, &e);
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, k, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  fill(t, 4 * MIB);
  /* the peer goes away with our data unread (the kernel sends RST) */
  close(peer);
  CHECK(run_until(loop, c_lost, &r, 5.0));
  run_for(loop, 0.02);
  CHECK_EQ(r.lost, 1);
  CHECK(r.lost_err == EDDY_EPIPE || r.lost_err == EDDY_ECONNRESET);
  CHECK_EQ(r.datas, 0);
  CHECK_EQ(r.resumes, 0);
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_ECLOSED);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  CHECK_EQ(e.calls, 0); /* item 44: OS errors are not reported */
  eddy_transport_release(t);
  close_loop(loop);
}

/* items 71, 44: the peer closes while we have buffered data:
   connection_lost(-EPIPE or -ECONNRESET), once; no SIGPIPE */
TEST(peer_vanishing_mid_write_gives_connection_lost_error_server_side) { check_peer_vanishes(K_ACCEPTED_TCP); }

/* items 71, 44 */
TEST(peer_vanishing_mid_write_gives_connection_lost_error_client_side) { check_peer_vanishes(K_CLIENT_TCP); }

/* items 71, 44 */
TEST(peer_vanishing_mid_write_gives_connection_lost_error_unix) {
  /* AF_UNIX: the peer's close may be seen first as EOF (eof_received returns
     false, the close then fails to flush) or as a reset: either way
     connection_lost gets an error */
  eddy_loop_t *loop = new_loop();
  struct exc e;
  install_exc(loop, &e);
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  fill(t, 2 * MIB);
  close(peer);
  CHECK(run_until(loop, c_lost, &r, 5.0));
  run_for(loop, 0.02);
  CHECK_EQ(r.lost, 1);
  CHECK(r.lost_err == EDDY_EPIPE || r.lost_err == EDDY_ECONNRESET);
  CHECK(r.eofs <= 1);
  CHECK_EQ(e.calls, 0);
  (void)t;
  close_loop(loop);
}

/* =========================================== 64 MiB through a paused reader */

struct xfer {
  eddy_loop_t *loop;
  eddy_transport_t *t;
  size_t total, sent, expect, received, next_pause; /* total: to send; expect: to receive */
  int wpaused, wpauses, wresumes, rpauses, eof, lost, lost_err, bad, eof_sent, made;
  eddy_handle_t *timer;
};

static void x_pump(struct xfer *x) {
  while (!x->wpaused && x->sent < x->total) {
    size_t n = x->total - x->sent;
    if (n > PAT_CH) n = PAT_CH;
    size_t off = x->sent;
    x->sent += n; /* before write: pause_writing may run inside it */
    if (eddy_transport_write(x->t, g_block + off % PAT_P, n) != 0) {
      x->bad++;
      return;
    }
  }
  if (x->sent == x->total && !x->eof_sent) {
    x->eof_sent = 1;
    if (eddy_transport_write_eof(x->t) != 0) x->bad++;
  }
}

static void x_made(eddy_transport_t *t, void *ud) {
  struct xfer *x = ud;
  x->t = t;
  x->made++;
}
static void x_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  struct xfer *x = ud;
  x->lost++;
  x->lost_err = err;
  if (x->timer) {
    eddy_handle_cancel(x->timer);
    eddy_handle_release(x->timer);
    x->timer = NULL;
  }
}
static void x_pause(eddy_transport_t *t, void *ud) {
  (void)t;
  struct xfer *x = ud;
  if (x->wpaused) x->bad++;
  x->wpaused = 1;
  x->wpauses++;
}
static void x_resume(eddy_transport_t *t, void *ud) {
  (void)t;
  struct xfer *x = ud;
  if (!x->wpaused) x->bad++;
  x->wpaused = 0;
  x->wresumes++;
  x_pump(x); /* item 81: writing from inside resume_writing */
}
static void x_resume_reading(void *ud) {
  struct xfer *x = ud;
  eddy_handle_release(x->timer);
  x->timer = NULL;
  if (eddy_transport_resume_reading(x->t) != 0) x->bad++;
}
static void x_data(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
  struct xfer *x = ud;
  if (x->timer || len == 0 || len > 256 * 1024) x->bad++; /* nothing while paused */
  if (!pattern_ok(data, len, x->received)) x->bad++;
  x->received += len;
  if (x->received >= x->next_pause && x->received < x->expect) {
    x->next_pause += MIB;
    x->rpauses++;
    if (eddy_transport_pause_reading(t) != 0) x->bad++;
    if (eddy_loop_call_later(x->loop, 0.002, x_resume_reading, x, &x->timer) != 0) x->bad++;
  }
}
static bool x_eof(eddy_transport_t *t, void *ud) {
  (void)t;
  struct xfer *x = ud;
  x->eof++;
  return true;
}

static const eddy_protocol_t XPROTO = {
    .connection_made = x_made,
    .connection_lost = x_lost,
    .pause_writing = x_pause,
    .resume_writing = x_resume,
    .data_received = x_data,
    .eof_received = x_eof,
};

struct xpair {
  struct xfer *a, *b;
};
static bool c_x_done(void *p) {
  struct xpair *xp = p;
  return (xp->a->eof && xp->b->eof) || xp->a->lost || xp->b->lost || xp->a->bad || xp->b->bad;
}
static bool c_x_data(void *p) {
  struct xpair *xp = p;
  return (xp->a->received == xp->a->expect && xp->b->received == xp->b->expect) || xp->a->lost || xp->b->lost ||
         xp->a->bad || xp->b->bad;
}
static bool c_x_lost(void *p) {
  struct xpair *xp = p;
  return xp->a->lost && xp->b->lost;
}

/* items 60, 74, 80, 81: 64 MiB each way between a client-side and a
   server-side transport, each reader pausing for 2 ms after every MiB,
   arrives intact; both ways flow control pauses and resumes the writers */
TEST(transfer_64mib_both_ways_through_paused_readers_arrives_intact) {
  eddy_loop_t *loop = new_loop();
  struct xfer a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.loop = b.loop = loop;
  a.total = b.total = 64 * (size_t)MIB;
  a.expect = b.expect = 64 * (size_t)MIB;
  a.next_pause = b.next_pause = MIB;
  int l = tcp_listener(true);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &XPROTO, &a, "127.0.0.1", sock_port(l), NULL, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  eddy_future_release(f);
  struct pollfd p = {l, POLLIN, 0};
  CHECK_EQ(poll(&p, 1, 5000), 1);
  int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  CHECK(fd >= 0);
  close(l);
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &XPROTO, &b, fd, NULL, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  eddy_future_release(f);
  CHECK_EQ(a.made, 1);
  CHECK_EQ(b.made, 1);
  x_pump(&a);
  x_pump(&b);
  struct xpair xp = {&a, &b};
  run_until(loop, c_x_data, &xp, 20.0);
  run_until(loop, c_x_done, &xp, 2.0);
  CHECK_EQ(a.bad, 0);
  CHECK_EQ(b.bad, 0);
  CHECK_EQ(a.sent, a.total);
  CHECK_EQ(b.sent, b.total);
  CHECK_EQ(a.received, b.total);
  CHECK_EQ(b.received, a.total);
  CHECK_EQ(a.lost, 0);
  CHECK_EQ(b.lost, 0);
  CHECK_EQ(a.received, b.total);
  CHECK_EQ(b.received, a.total);
  CHECK_EQ(a.eof, 1);
  CHECK_EQ(b.eof, 1);
  CHECK_EQ(a.rpauses, 63);
  CHECK_EQ(b.rpauses, 63);
  CHECK(a.wpauses >= 1);
  CHECK(b.wpauses >= 1);
  CHECK_EQ(a.wresumes, a.wpauses);
  CHECK_EQ(b.wresumes, b.wpauses);
  CHECK_OK(eddy_transport_close(a.t));
  CHECK_OK(eddy_transport_close(b.t));
  CHECK(run_until(loop, c_x_lost, &xp, 5.0));
  CHECK_EQ(a.lost, 1);
  CHECK_EQ(b.lost, 1);
  CHECK_EQ(a.lost_err, 0);
  CHECK_EQ(b.lost_err, 0);
  close_loop(loop);
}

/* items 60, 74: 64 MiB one way over a Unix socket through a paused reader */
TEST(transfer_64mib_over_unix_socket_through_paused_reader_arrives_intact) {
  eddy_loop_t *loop = new_loop();
  struct xfer a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.loop = b.loop = loop;
  a.total = 64 * (size_t)MIB; /* a sends, b receives */
  b.expect = a.total;
  b.next_pause = MIB;
  a.next_pause = MIB;
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &XPROTO, &a, sv[0], NULL, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  eddy_future_release(f);
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &XPROTO, &b, sv[1], NULL, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  eddy_future_release(f);
  x_pump(&a);
  x_pump(&b); /* only write_eof */
  struct xpair xp = {&a, &b};
  run_until(loop, c_x_data, &xp, 20.0);
  run_until(loop, c_x_done, &xp, 2.0);
  CHECK_EQ(a.bad, 0);
  CHECK_EQ(b.bad, 0);
  CHECK_EQ(b.received, a.total);
  CHECK_EQ(b.eof, 1);
  CHECK_EQ(a.eof, 1);
  CHECK_EQ(a.received, 0);
  CHECK_EQ(b.rpauses, 63);
  CHECK(a.wpauses >= 1);
  CHECK_EQ(a.wresumes, a.wpauses);
  CHECK_OK(eddy_transport_close(a.t));
  CHECK_OK(eddy_transport_close(b.t));
  CHECK(run_until(loop, c_x_lost, &xp, 5.0));
  CHECK_EQ(a.lost_err, 0);
  CHECK_EQ(b.lost_err, 0);
  close_loop(loop);
}

/* ========================================== retain/release, NULL arguments */

/* docs/api.md section 1 (2)-(4): a retained transport outlives connection_lost as a closed
   object; NULL transports are argument errors, never crashes */
TEST(retained_transport_is_closed_after_connection_lost_and_null_is_einval) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int peer = -1;
  eddy_transport_t *t = open_kind(loop, K_UNIX, &PLAIN, &r, &peer, NULL);
  eddy_transport_retain(t);
  eddy_transport_retain(t);
  close(peer);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,eof,lost(0)");
  eddy_transport_release(t);
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_ECLOSED);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  int rc = eddy_transport_write_eof(t);
  CHECK(rc == 0 || rc == EDDY_ECLOSED);
  rc = eddy_transport_abort(t);
  CHECK(rc == 0 || rc == EDDY_ECLOSED);
  run_for(loop, 0.01);
  CHECK_EQ(r.lost, 1);
  eddy_transport_release(t);
  eddy_transport_release(NULL);
  eddy_transport_retain(NULL);
  CHECK_ERR(eddy_transport_close(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_abort(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_write(NULL, "x", 1), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_write_eof(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_pause_reading(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_resume_reading(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_get_protocol(NULL, NULL, NULL), EDDY_EINVAL);
  CHECK_EQ(eddy_transport_get_write_buffer_size(NULL), 0);
  close_loop(loop);
}

/* docs/api.md sections 6/12: connect_accepted_socket argument errors leave the fd with the
   caller */
TEST(connect_accepted_socket_failure_leaves_the_fd_open) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int sv[2];
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_connect_accepted_socket(loop, NULL, &r, sv[1], NULL, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK(fcntl(sv[1], F_GETFD) != -1);
  /* a datagram socket is not a stream */
  int u = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(u >= 0);
  CHECK_ERR(eddy_loop_connect_accepted_socket(loop, &PLAIN, &r, u, NULL, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK(fcntl(u, F_GETFD) != -1);
  run_for(loop, 0.01);
  CHECK_EQ(r.made, 0);
  close(u);
  /* a negative fd is an invalid argument (as sock_* and add_reader treat it) */
  CHECK_ERR(eddy_loop_connect_accepted_socket(loop, &PLAIN, &r, -1, NULL, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  close(sv[0]);
  close(sv[1]);
  close_loop(loop);
}

/* one-time setup for the pattern */
__attribute__((constructor)) static void transport_tests_init(void) { pattern_init(); }
