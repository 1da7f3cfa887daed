/* Servers: docs/semantics.md items 89-100 (section J), 109-111 (section L, Unix
   servers and create_unix_connection), and the server half of docs/api.md section 6
   (create_server, create_unix_server, eddy_server_*), plus docs/api.md section 12
   ("Handed-over fds" for opts.socks, "Serve forever"). create_connection,
   connect_accepted_socket and loop.sendfile are in test_connection.c.

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* Here WAIT_UNTIL only runs the loop: on a timeout the test's own CHECK of
   the condition fails. */
#define WAIT_UNTIL(loop, cond, timeout) RUN_LOOP_UNTIL(loop, cond, timeout)
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

static int sockopt_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  CHECK_EQ(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

static int sock_family(int fd) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  return a.ss_family;
}

/* Whether this machine can bind ::1. */
static bool have_ipv6(void) {
  int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
  close(s);
  return ok;
}

/* A blocking connect to the loopback address of `family` at `port` (the
   kernel completes it from the listen queue, no accept needed). Returns the
   connected fd, made non-blocking, or -errno. */
static int client_connect(int family, uint16_t port) {
  int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  int rc;
  if (family == AF_INET6) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_loopback;
    rc = connect(s, (struct sockaddr *)&a, sizeof a);
  } else {
    struct sockaddr_in a = loopback_addr(port);
    rc = connect(s, (struct sockaddr *)&a, sizeof a);
  }
  if (rc != 0) {
    int e = errno;
    close(s);
    return -e;
  }
  CHECK_EQ(fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK), 0);
  return s;
}

static int unix_client_connect(const char *path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct sockaddr_un a = unix_addr(path);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    int e = errno;
    close(s);
    return -e;
  }
  CHECK_EQ(fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK), 0);
  return s;
}

/* A plain client socket and what it has received so far. */
struct client {
  int fd;
  uint8_t buf[1 << 16];
  size_t len;
  bool eof;
  int err; /* errno of a failed recv (ECONNRESET), 0: none */
};

/* Reads whatever is there without blocking; returns true once `want` bytes
   arrived or the stream ended. */
static bool client_read(struct client *c, size_t want) {
  while (!c->eof && c->err == 0 && c->len < sizeof c->buf) {
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
    if (n > 0) {
      c->len += (size_t)n;
    } else if (n == 0) {
      c->eof = true;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) c->err = errno;
      break;
    }
  }
  return c->len >= want || c->eof || c->err != 0;
}

static bool client_ended(struct client *c) {
  client_read(c, SIZE_MAX);
  return c->eof || c->err != 0;
}

/* --- a recording protocol, one `struct conn` per connection --- */

#define MAXC 16

struct srv;

struct conn {
  struct srv *srv;
  eddy_transport_t *t;
  int made, lost, lost_err, eofs;
  bool data_before_made;
  char log[32]; /* M made, D data (runs merged), E eof, L lost */
  size_t nlog;
  uint8_t rx[4096];
  size_t rxlen;
  bool echo;
};

struct srv {
  int calls;      /* factory calls */
  int refuse;     /* < 0: the factory refuses with this code */
  bool echo;
  int nconns, nmade, nlost;
  struct conn conns[MAXC];
  /* wait_closed futures to look at in connection_lost */
  eddy_future_t *watch;
  int watch_done_at_lost; /* eddy_future_done(watch) seen by the last connection_lost */
};

static void log_add(struct conn *c, char ch) {
  if (ch == 'D' && c->nlog > 0 && c->log[c->nlog - 1] == 'D') return;
  if (c->nlog < sizeof c->log - 1) c->log[c->nlog++] = ch;
}

static void conn_made(eddy_transport_t *t, void *ud) {
  struct conn *c = ud;
  c->t = t;
  c->made++;
  log_add(c, 'M');
  if (c->srv) c->srv->nmade++;
}

static void conn_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  struct conn *c = ud;
  c->lost++;
  c->lost_err = err;
  log_add(c, 'L');
  if (c->srv) {
    c->srv->nlost++;
    if (c->srv->watch) c->srv->watch_done_at_lost = eddy_future_done(c->srv->watch);
  }
}

static void conn_data(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
  struct conn *c = ud;
  if (c->made == 0) c->data_before_made = true;
  log_add(c, 'D');
  size_t room = sizeof c->rx - c->rxlen;
  size_t n = len < room ? len : room;
  memcpy(c->rx + c->rxlen, data, n);
  c->rxlen += n;
  if (c->echo) eddy_transport_write(t, data, len);
}

static bool conn_eof(eddy_transport_t *t, void *ud) {
  (void)t;
  struct conn *c = ud;
  c->eofs++;
  log_add(c, 'E');
  return false;
}

static const eddy_protocol_t conn_proto = {
    .connection_made = conn_made,
    .connection_lost = conn_lost,
    .data_received = conn_data,
    .eof_received = conn_eof,
};

static int factory(void *fud, const eddy_protocol_t **proto, void **ud) {
  struct srv *s = fud;
  s->calls++;
  if (s->refuse < 0) return s->refuse;
  if (s->nconns >= MAXC) return EDDY_ENOMEM;
  struct conn *c = &s->conns[s->nconns++];
  c->srv = s;
  c->echo = s->echo;
  *proto = &conn_proto;
  *ud = c;
  return 0;
}

/* Completes a create_server future: returns its result code, and the server
   (retained, so it outlives the future) in *out. */
static int server_from_future(eddy_loop_t *loop, eddy_future_t *f, eddy_server_t **out) {
  int run_rc = complete(loop, f);
  CHECK_EQ(eddy_future_done(f), 1);
  void *p = NULL;
  int rc = eddy_future_result(f, &p, NULL);
  CHECK_ERR(run_rc, rc); /* run_until_complete returns the outcome */
  if (rc == 0) {
    CHECK(p != NULL);
    *out = p;
    eddy_server_retain(*out);
  }
  eddy_future_release(f);
  return rc;
}

static eddy_server_t *start_server(eddy_loop_t *loop, struct srv *s, const char *host,
                                   const eddy_server_options_t *o) {
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_server(loop, factory, s, host, 0, o, &f));
  CHECK(f != NULL);
  eddy_server_t *server = NULL;
  CHECK_OK(server_from_future(loop, f, &server));
  return server;
}

static size_t server_sockets(eddy_server_t *server, int *fds, size_t cap) {
  size_t n = 12345;
  CHECK_OK(eddy_server_get_sockets(server, fds, cap, &n));
  return n;
}

/* The port of a server with one listening socket. */
static uint16_t server_port(eddy_server_t *server) {
  int fd = -1;
  CHECK_EQ(server_sockets(server, &fd, 1), 1);
  return sock_port(fd);
}

/* Closes the server and waits for wait_closed (every client must be gone). */
static void close_server(eddy_loop_t *loop, eddy_server_t *server) {
  CHECK_OK(eddy_server_close(server));
  eddy_future_t *w = NULL;
  CHECK_OK(eddy_server_wait_closed(server, &w));
  CHECK_OK(complete(loop, w));
  CHECK_OK(eddy_future_result(w, NULL, NULL));
  eddy_future_release(w);
  eddy_server_release(server);
}

/* Exception handler that records what it is given. */
struct exc {
  int calls;
  int last_err;
  char last_msg[256];
  eddy_server_t *last_server;
};
static void exc_handler(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  (void)loop;
  struct exc *e = ud;
  e->calls++;
  e->last_err = ctx->error;
  snprintf(e->last_msg, sizeof e->last_msg, "%s", ctx->message ? ctx->message : "(null)");
  e->last_server = ctx->server;
}

static void tmp_path(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "/tmp/eddy-test-server-%d-%s", (int)getpid(), name);
}

/* ================================================ create_server basics */

/* items 89, 93 (serving when create_server's future completes), 56, 58 */
TEST(create_server_on_loopback_port0_listens_accepts_and_echoes) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  s.echo = true;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  CHECK_EQ(eddy_server_is_serving(server), 1);
  CHECK(eddy_server_get_loop(server) == loop);

  int fds[4] = {-1, -1, -1, -1};
  CHECK_EQ(server_sockets(server, fds, 4), 1);
  int lfd = fds[0];
  CHECK(lfd >= 0);
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
  CHECK_EQ(a.sin_family, AF_INET);
  CHECK_EQ(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
  uint16_t port = ntohs(a.sin_port);
  CHECK(port != 0);
  CHECK_EQ(sockopt_int(lfd, SOL_SOCKET, SO_ACCEPTCONN), 1);
  CHECK_EQ(sockopt_int(lfd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  CHECK(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
  /* get_sockets with cap 0 still says how many there are */
  size_t n = 0;
  CHECK_OK(eddy_server_get_sockets(server, NULL, 0, &n));
  CHECK_EQ(n, 1);

  static struct client cl;
  cl.fd = client_connect(AF_INET, port);
  CHECK(cl.fd >= 0);
  CHECK_EQ(send(cl.fd, "hello", 5, 0), 5);
  WAIT_UNTIL(loop, client_read(&cl, 5), 3.0);
  CHECK_EQ(cl.len, 5);
  CHECK(memcmp(cl.buf, "hello", 5) == 0);
  CHECK_EQ(s.calls, 1);
  CHECK_EQ(s.conns[0].made, 1);
  CHECK(!s.conns[0].data_before_made);
  CHECK_STR_EQ(s.conns[0].log, "MD");
  CHECK_EQ(s.conns[0].rxlen, 5);

  /* the server side's peername is the client's own address */
  struct sockaddr_storage peer;
  size_t plen = sizeof peer;
  CHECK_OK(eddy_transport_get_extra_info(s.conns[0].t, "peername", &peer, &plen));
  struct sockaddr_in mine;
  socklen_t mlen = sizeof mine;
  CHECK_EQ(getsockname(cl.fd, (struct sockaddr *)&mine, &mlen), 0);
  CHECK_EQ(((struct sockaddr_in *)&peer)->sin_port, mine.sin_port);
  CHECK_EQ(((struct sockaddr_in *)&peer)->sin_addr.s_addr, mine.sin_addr.s_addr);

  /* client EOF: eof_received (false) then connection_lost(0) */
  close(cl.fd);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  CHECK_STR_EQ(s.conns[0].log, "MDEL");
  CHECK_EQ(s.conns[0].lost, 1);
  CHECK_EQ(s.conns[0].lost_err, 0);

  close_server(loop, server);
  close_loop(loop);
}

/* item 89: backlog 100 and SO_REUSEADDR by default, no SO_KEEPALIVE or
   SO_REUSEPORT; the listen backlog is read back with TCP_INFO (Linux reports
   a listener's backlog in tcpi_sacked) */
TEST(create_server_defaults_backlog_100_reuse_address_on) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  CHECK_EQ(o.backlog, 100);
  CHECK(o.reuse_address);
  CHECK(!o.reuse_port);
  CHECK(!o.keep_alive);
  CHECK(o.start_serving);
  CHECK(o.cleanup_socket);
  CHECK(o.socks == NULL);
  CHECK_EQ(o.nsocks, 0);
  CHECK(o.tls == NULL);
  /* NULL options: the same defaults */
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  int fd = -1;
  CHECK_EQ(server_sockets(server, &fd, 1), 1);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR) != 0, 1);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT), 0);
  struct tcp_info ti;
  memset(&ti, 0, sizeof ti);
  socklen_t tl = sizeof ti;
  CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
  CHECK_EQ(ti.tcpi_state, TCP_LISTEN);
  CHECK_EQ(ti.tcpi_sacked, 100);
  close_server(loop, server);
  close_loop(loop);
}

/* item 89: keep_alive sets SO_KEEPALIVE, reuse_port SO_REUSEPORT,
   reuse_address false leaves SO_REUSEADDR off, backlog is passed to listen */
TEST(create_server_options_set_keepalive_reuseport_and_backlog) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.keep_alive = true;
  o.reuse_port = true;
  o.reuse_address = false;
  o.backlog = 7;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", &o);
  int fd = -1;
  CHECK_EQ(server_sockets(server, &fd, 1), 1);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE) != 0, 1);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_REUSEPORT) != 0, 1);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR), 0);
  struct tcp_info ti;
  memset(&ti, 0, sizeof ti);
  socklen_t tl = sizeof ti;
  CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl), 0);
  CHECK_EQ(ti.tcpi_sacked, 7);
  close_server(loop, server);
  close_loop(loop);
}

/* item 90: host NULL binds every address getaddrinfo gives (0.0.0.0 and
   ::), the IPv6 socket with IPV6_V6ONLY=1, each family with its own
   ephemeral port; both serve */
TEST(create_server_host_null_binds_every_family_v6only_each_serving) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  s.echo = true;
  eddy_server_t *server = start_server(loop, &s, NULL, NULL);
  int fds[8];
  size_t n = server_sockets(server, fds, 8);
  bool v6 = have_ipv6();
  CHECK_EQ(n, v6 ? 2 : 1);
  int v4fd = -1, v6fd = -1;
  for (size_t i = 0; i < n; i++) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    CHECK_EQ(getsockname(fds[i], (struct sockaddr *)&a, &len), 0);
    if (a.ss_family == AF_INET) {
      CHECK_EQ(v4fd, -1);
      v4fd = fds[i];
      CHECK_EQ(((struct sockaddr_in *)&a)->sin_addr.s_addr, htonl(INADDR_ANY));
    } else {
      CHECK_EQ(a.ss_family, AF_INET6);
      CHECK_EQ(v6fd, -1);
      v6fd = fds[i];
      CHECK(memcmp(&((struct sockaddr_in6 *)&a)->sin6_addr, &in6addr_any, sizeof in6addr_any) == 0);
      CHECK_EQ(sockopt_int(fds[i], IPPROTO_IPV6, IPV6_V6ONLY), 1);
    }
    CHECK(sock_port(fds[i]) != 0);
    CHECK_EQ(sockopt_int(fds[i], SOL_SOCKET, SO_ACCEPTCONN), 1);
  }
  CHECK(v4fd >= 0);
  static struct client c4, c6;
  c4.fd = client_connect(AF_INET, sock_port(v4fd));
  CHECK(c4.fd >= 0);
  CHECK_EQ(send(c4.fd, "four", 4, 0), 4);
  if (v6) {
    c6.fd = client_connect(AF_INET6, sock_port(v6fd));
    CHECK(c6.fd >= 0);
    CHECK_EQ(send(c6.fd, "six", 3, 0), 3);
  }
  WAIT_UNTIL(loop, client_read(&c4, 4) && (!v6 || client_read(&c6, 3)), 3.0);
  CHECK_EQ(c4.len, 4);
  CHECK(memcmp(c4.buf, "four", 4) == 0);
  if (v6) {
    CHECK_EQ(c6.len, 3);
    CHECK(memcmp(c6.buf, "six", 3) == 0);
  } else {
    fprintf(stderr, "note: no IPv6 here; only the AF_INET socket was checked\n");
  }
  CHECK_EQ(s.nmade, v6 ? 2 : 1);
  close(c4.fd);
  if (v6) close(c6.fd);
  WAIT_UNTIL(loop, s.nlost == s.nmade, 3.0);
  close_server(loop, server);
  close_loop(loop);
}

/* item 91: binding a port someone listens on fails with EADDRINUSE */
TEST(create_server_on_port_in_use_fails_with_eaddrinuse) {
  eddy_loop_t *loop = new_loop();
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(l >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ(listen(l, 4), 0);
  static struct srv s;
  eddy_future_t *f = NULL;
  int rc = eddy_loop_create_server(loop, factory, &s, "127.0.0.1", sock_port(l), NULL, &f);
  if (rc == 0) {
    eddy_server_t *server = NULL;
    rc = server_from_future(loop, f, &server);
    if (rc == 0) eddy_server_release(server);
  }
  CHECK_ERR(rc, EDDY_EADDRINUSE);
  close(l);
  close_loop(loop);
}

/* ============================================= start_serving and factory */

/* item 93: with start_serving false nothing listens (a connect is
   refused, the factory is not called) until start_serving, which is
   idempotent */
TEST(start_serving_false_listens_only_after_start_serving) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  s.echo = true;
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.start_serving = false;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", &o);
  CHECK_EQ(eddy_server_is_serving(server), 0);
  int fd = -1;
  CHECK_EQ(server_sockets(server, &fd, 1), 1); /* bound, not listening */
  uint16_t port = sock_port(fd);
  CHECK(port != 0);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
  CHECK_ERR(client_connect(AF_INET, port), -ECONNREFUSED);
  CHECK_OK(run_for(loop, 0.02));
  CHECK_EQ(s.calls, 0);
  CHECK_EQ(eddy_server_is_serving(server), 0);

  CHECK_OK(eddy_server_start_serving(server));
  CHECK_EQ(eddy_server_is_serving(server), 1);
  CHECK_OK(eddy_server_start_serving(server));
  CHECK_EQ(eddy_server_is_serving(server), 1);
  CHECK_EQ(server_sockets(server, &fd, 1), 1);
  CHECK_EQ(sock_port(fd), port);

  static struct client cl;
  cl.fd = client_connect(AF_INET, port);
  CHECK(cl.fd >= 0);
  CHECK_EQ(send(cl.fd, "x", 1, 0), 1);
  WAIT_UNTIL(loop, client_read(&cl, 1), 3.0);
  CHECK_EQ(cl.len, 1);
  CHECK_EQ(s.calls, 1); /* one accept, one factory call: start_serving twice did not double the watcher */
  CHECK_EQ(s.nmade, 1);
  close(cl.fd);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  close_server(loop, server);
  close_loop(loop);
}

/* docs/api.md section 2 (eddy_protocol_factory_fn): a negative return refuses the
   connection: it is closed (the peer sees EOF or a reset), connection_made
   never runs, and the server goes on serving */
TEST(factory_returning_error_refuses_connection_and_server_goes_on) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  s.echo = true;
  s.refuse = EDDY_EPERM;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  uint16_t port = server_port(server);
  static struct client a, b;
  a.fd = client_connect(AF_INET, port);
  CHECK(a.fd >= 0);
  WAIT_UNTIL(loop, s.calls == 1 && client_ended(&a), 3.0);
  CHECK_EQ(s.calls, 1);
  CHECK(a.eof || a.err == ECONNRESET);
  CHECK_EQ(a.len, 0);
  CHECK_OK(run_for(loop, 0.01));
  CHECK_EQ(s.nmade, 0);
  CHECK_EQ(s.nconns, 0);
  CHECK_EQ(eddy_server_is_serving(server), 1);

  s.refuse = 0;
  b.fd = client_connect(AF_INET, port);
  CHECK(b.fd >= 0);
  CHECK_EQ(send(b.fd, "ok", 2, 0), 2);
  WAIT_UNTIL(loop, client_read(&b, 2), 3.0);
  CHECK_EQ(b.len, 2);
  CHECK_EQ(s.calls, 2);
  CHECK_EQ(s.nmade, 1);
  close(a.fd);
  close(b.fd);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  close_server(loop, server);
  close_loop(loop);
}

/* item 94: one read-ready event accepts at most `backlog` connections;
   the rest are accepted on a later iteration */
TEST(accept_batch_is_limited_to_backlog_per_iteration) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.backlog = 2; /* the kernel queues backlog + 1 = 3 */
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", &o);
  uint16_t port = server_port(server);
  CHECK_OK(run_for(loop, 0.005));
  int c[3];
  for (int i = 0; i < 3; i++) {
    c[i] = client_connect(AF_INET, port);
    CHECK(c[i] >= 0);
  }
  int iterations = 0;
  while (s.calls == 0 && iterations < 1000) {
    CHECK_OK(run_once(loop));
    iterations++;
  }
  CHECK_EQ(s.calls, 2);
  WAIT_UNTIL(loop, s.nmade == 3, 3.0);
  CHECK_EQ(s.calls, 3);
  for (int i = 0; i < 3; i++) close(c[i]);
  WAIT_UNTIL(loop, s.nlost == 3, 3.0);
  close_server(loop, server);
  close_loop(loop);
}

/* ========================================== close, wait_closed, clients */

/* items 97, 98: close stops listening (new connects refused, sockets
   gone) and leaves existing connections working; wait_closed, asked before
   and after close, stays pending until the last client's connection_lost */
TEST(server_close_keeps_clients_and_wait_closed_waits_for_last_client) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  s.echo = true;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  uint16_t port = server_port(server);
  static struct client c1, c2;
  c1.fd = client_connect(AF_INET, port);
  c2.fd = client_connect(AF_INET, port);
  CHECK(c1.fd >= 0 && c2.fd >= 0);
  WAIT_UNTIL(loop, s.nmade == 2, 3.0);
  CHECK_EQ(s.nmade, 2);

  eddy_future_t *before = NULL;
  CHECK_OK(eddy_server_wait_closed(server, &before));
  CHECK_OK(run_for(loop, 0.01));
  CHECK_EQ(eddy_future_done(before), 0); /* not closed yet */

  int lfd = -1;
  CHECK_EQ(server_sockets(server, &lfd, 1), 1);
  CHECK_OK(eddy_server_close(server));
  CHECK_EQ(eddy_server_is_serving(server), 0);
  CHECK_EQ(server_sockets(server, NULL, 0), 0);
  CHECK(!fd_is_open(lfd));
  CHECK_ERR(client_connect(AF_INET, port), -ECONNREFUSED);

  eddy_future_t *after = NULL;
  CHECK_OK(eddy_server_wait_closed(server, &after));
  s.watch = after;
  CHECK_OK(run_for(loop, 0.02));
  CHECK_EQ(eddy_future_done(before), 0);
  CHECK_EQ(eddy_future_done(after), 0);

  /* the existing connections still work */
  CHECK_EQ(send(c1.fd, "one", 3, 0), 3);
  CHECK_EQ(send(c2.fd, "two", 3, 0), 3);
  WAIT_UNTIL(loop, client_read(&c1, 3) && client_read(&c2, 3), 3.0);
  CHECK_EQ(c1.len, 3);
  CHECK_EQ(c2.len, 3);
  CHECK(memcmp(c1.buf, "one", 3) == 0);
  CHECK(memcmp(c2.buf, "two", 3) == 0);
  CHECK_EQ(s.calls, 2);

  close(c1.fd);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  CHECK_OK(run_for(loop, 0.01));
  CHECK_EQ(eddy_future_done(before), 0);
  CHECK_EQ(eddy_future_done(after), 0);

  close(c2.fd);
  WAIT_UNTIL(loop, eddy_future_done(before) && eddy_future_done(after), 3.0);
  CHECK_EQ(s.nlost, 2);
  CHECK_EQ(s.watch_done_at_lost, 0); /* still pending inside the last connection_lost */
  CHECK_EQ(eddy_future_done(before), 1);
  CHECK_EQ(eddy_future_done(after), 1);
  CHECK_OK(eddy_future_result(before, NULL, NULL));
  CHECK_OK(eddy_future_result(after, NULL, NULL));
  CHECK_EQ(eddy_future_cancelled(after), 0);
  eddy_future_release(before);
  eddy_future_release(after);
  eddy_server_release(server);
  close_loop(loop);
}

/* item 98, other order: every client gone first, then close: wait_closed
   completes only after close */
TEST(wait_closed_with_clients_gone_completes_after_close) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  uint16_t port = server_port(server);
  int c = client_connect(AF_INET, port);
  CHECK(c >= 0);
  WAIT_UNTIL(loop, s.nmade == 1, 3.0);
  close(c);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  CHECK_EQ(s.nlost, 1);
  eddy_future_t *w = NULL;
  CHECK_OK(eddy_server_wait_closed(server, &w));
  CHECK_OK(run_for(loop, 0.02));
  CHECK_EQ(eddy_future_done(w), 0); /* serving, no clients: not done */
  CHECK_OK(eddy_server_close(server));
  WAIT_UNTIL(loop, eddy_future_done(w), 1.0);
  CHECK_EQ(eddy_future_done(w), 1);
  CHECK_OK(eddy_future_result(w, NULL, NULL));
  eddy_future_release(w);
  /* asked again once everything is over: completes too */
  CHECK_OK(eddy_server_wait_closed(server, &w));
  CHECK_OK(complete(loop, w));
  CHECK_OK(eddy_future_result(w, NULL, NULL));
  eddy_future_release(w);
  eddy_server_release(server);
  close_loop(loop);
}

/* item 97: close is idempotent; start_serving and serve_forever on a
   closed server fail with EDDY_ECLOSED */
TEST(server_close_is_idempotent_and_closed_server_cannot_serve) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  CHECK_OK(eddy_server_close(server));
  CHECK_OK(eddy_server_close(server));
  CHECK_EQ(eddy_server_is_serving(server), 0);
  CHECK_EQ(server_sockets(server, NULL, 0), 0);
  CHECK_ERR(eddy_server_start_serving(server), EDDY_ECLOSED);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_server_serve_forever(server, &f), EDDY_ECLOSED);
  CHECK(f == NULL);
  CHECK_EQ(eddy_server_is_serving(server), 0);
  CHECK_OK(run_for(loop, 0.005));
  CHECK_OK(eddy_server_close(server));
  close_server(loop, server);
  close_loop(loop);
}

/* item 100: close_clients calls close() on every client: each gets
   connection_lost(0) after its buffered data went out; the server keeps
   listening */
TEST(close_clients_closes_every_client_after_flushing) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  uint16_t port = server_port(server);
  static struct client c[3];
  for (int i = 0; i < 3; i++) {
    c[i].fd = client_connect(AF_INET, port);
    CHECK(c[i].fd >= 0);
  }
  WAIT_UNTIL(loop, s.nmade == 3, 3.0);
  CHECK_EQ(s.nmade, 3);
  for (int i = 0; i < 3; i++) CHECK_OK(eddy_transport_write(s.conns[i].t, "bye", 3));
  CHECK_OK(eddy_server_close_clients(server));
  for (int i = 0; i < 3; i++) CHECK_EQ(eddy_transport_is_closing(s.conns[i].t), 1);
  CHECK_EQ(s.nlost, 0); /* never inside the call */
  WAIT_UNTIL(loop, s.nlost == 3, 3.0);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(s.conns[i].lost, 1);
    CHECK_EQ(s.conns[i].lost_err, 0);
    CHECK_STR_EQ(s.conns[i].log, "ML");
  }
  for (int i = 0; i < 3; i++) {
    WAIT_UNTIL(loop, client_ended(&c[i]), 3.0);
    CHECK(c[i].eof);
    CHECK_EQ(c[i].len, 3);
    CHECK(memcmp(c[i].buf, "bye", 3) == 0);
    close(c[i].fd);
  }
  CHECK_EQ(eddy_server_is_serving(server), 1);
  /* still accepting */
  int d = client_connect(AF_INET, port);
  CHECK(d >= 0);
  WAIT_UNTIL(loop, s.nmade == 4, 3.0);
  CHECK_EQ(s.nmade, 4);
  close(d);
  WAIT_UNTIL(loop, s.nlost == 4, 3.0);
  close_server(loop, server);
  close_loop(loop);
}

/* items 100, 70: abort_clients calls abort() on every client: buffered
   data is dropped at once and connection_lost(0) follows on the next
   iteration; wait_closed of a closed server then completes */
TEST(abort_clients_aborts_every_client_dropping_buffers) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  uint16_t port = server_port(server);
  int c[2];
  for (int i = 0; i < 2; i++) {
    c[i] = client_connect(AF_INET, port);
    CHECK(c[i] >= 0);
  }
  WAIT_UNTIL(loop, s.nmade == 2, 3.0);
  CHECK_EQ(s.nmade, 2);
  /* the clients do not read: fill the socket buffers so data stays queued */
  size_t big = 8u << 20;
  uint8_t *data = calloc(1, big);
  CHECK(data != NULL);
  for (int i = 0; i < 2; i++) {
    eddy_transport_set_write_buffer_limits(s.conns[i].t, (int64_t)big * 2, -1);
    CHECK_OK(eddy_transport_write(s.conns[i].t, data, big));
    CHECK(eddy_transport_get_write_buffer_size(s.conns[i].t) > 0);
  }
  free(data);
  eddy_future_t *w = NULL;
  CHECK_OK(eddy_server_close(server));
  CHECK_OK(eddy_server_wait_closed(server, &w));
  CHECK_OK(eddy_server_abort_clients(server));
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(eddy_transport_get_write_buffer_size(s.conns[i].t), 0);
    CHECK_EQ(eddy_transport_is_closing(s.conns[i].t), 1);
  }
  CHECK_EQ(s.nlost, 0);
  CHECK_OK(run_once(loop));
  CHECK_EQ(s.nlost, 2);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(s.conns[i].lost_err, 0);
    CHECK_STR_EQ(s.conns[i].log, "ML");
  }
  CHECK_OK(complete(loop, w));
  CHECK_OK(eddy_future_result(w, NULL, NULL));
  eddy_future_release(w);
  for (int i = 0; i < 2; i++) close(c[i]);
  eddy_server_release(server);
  close_loop(loop);
}

/* ======================================================== serve_forever */

/* item 99, docs/api.md section 12 "Serve forever": serve_forever starts serving; a
   second one is EDDY_EBUSY; cancelling its future closes the server and the
   future ends cancelled within one iteration */
TEST(serve_forever_starts_serving_and_cancel_closes_server) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.start_serving = false;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", &o);
  CHECK_EQ(eddy_server_is_serving(server), 0);
  uint16_t port = server_port(server);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_server_serve_forever(server, &f));
  CHECK(f != NULL);
  CHECK_EQ(eddy_server_is_serving(server), 1);
  eddy_future_t *g = NULL;
  CHECK_ERR(eddy_server_serve_forever(server, &g), EDDY_EBUSY);
  CHECK(g == NULL);

  int c = client_connect(AF_INET, port);
  CHECK(c >= 0);
  WAIT_UNTIL(loop, s.nmade == 1, 3.0);
  CHECK_EQ(s.nmade, 1);
  CHECK_EQ(eddy_future_done(f), 0);

  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_future_done(f), 1);
  CHECK_EQ(eddy_future_cancelled(f), 1);
  CHECK_ERR(eddy_future_result(f, NULL, NULL), EDDY_ECANCELED);
  CHECK_EQ(eddy_server_is_serving(server), 0);
  CHECK_EQ(server_sockets(server, NULL, 0), 0);
  CHECK_ERR(client_connect(AF_INET, port), -ECONNREFUSED);
  /* closed now */
  CHECK_ERR(eddy_server_serve_forever(server, &g), EDDY_ECLOSED);
  CHECK_ERR(eddy_server_start_serving(server), EDDY_ECLOSED);
  eddy_future_release(f);
  /* the client connection outlived the server */
  CHECK_EQ(s.nlost, 0);
  close(c);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  close_server(loop, server);
  close_loop(loop);
}

/* item 97: close cancels a pending serve_forever */
TEST(server_close_cancels_pending_serve_forever) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_server_serve_forever(server, &f));
  CHECK_OK(run_for(loop, 0.005));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_OK(eddy_server_close(server));
  WAIT_UNTIL(loop, eddy_future_done(f), 1.0);
  CHECK_EQ(eddy_future_cancelled(f), 1);
  eddy_future_release(f);
  close_server(loop, server);
  close_loop(loop);
}

/* docs/api.md section 6 (release: "a serving server keeps serving until closed") and 1
   (ownership): with every reference dropped, the server still accepts; the
   loop's close closes its listening socket (the harness checks the fd) */
TEST(released_server_keeps_serving_until_loop_closes) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_server(loop, factory, &s, "127.0.0.1", 0, NULL, &f));
  CHECK_OK(complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_server_t *server = p;
  /* retain/release pairs are balanced, and the future's own reference is
     enough while it lives */
  eddy_server_retain(server);
  eddy_server_retain(server);
  eddy_server_release(server);
  eddy_server_release(server);
  CHECK_EQ(eddy_server_is_serving(server), 1);
  CHECK(eddy_server_get_loop(server) == loop);
  uint16_t port = server_port(server);
  int lfd = -1;
  CHECK_EQ(server_sockets(server, &lfd, 1), 1);
  eddy_future_release(f); /* the last reference */
  server = NULL;
  int c = client_connect(AF_INET, port);
  CHECK(c >= 0);
  WAIT_UNTIL(loop, s.nmade == 1, 3.0);
  CHECK_EQ(s.calls, 1);
  CHECK_EQ(s.nmade, 1);
  CHECK(fd_is_open(lfd));
  close(c);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  close_loop(loop);
}

/* ============================================================ opts.socks */

static int bound_tcp_socket(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

/* docs/api.md section 12 "Handed-over fds": a socket in opts.socks is listened on and
   belongs to eddy: closed when the server closes */
TEST(server_on_given_socket_uses_and_owns_it) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  s.echo = true;
  int fd = bound_tcp_socket();
  uint16_t port = sock_port(fd);
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.socks = &fd;
  o.nsocks = 1;
  eddy_server_t *server = start_server(loop, &s, NULL, &o);
  int got[4];
  CHECK_EQ(server_sockets(server, got, 4), 1);
  CHECK_EQ(got[0], fd);
  CHECK_EQ(eddy_server_is_serving(server), 1);
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
  CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
  static struct client cl;
  cl.fd = client_connect(AF_INET, port);
  CHECK(cl.fd >= 0);
  CHECK_EQ(send(cl.fd, "sock", 4, 0), 4);
  WAIT_UNTIL(loop, client_read(&cl, 4), 3.0);
  CHECK_EQ(cl.len, 4);
  CHECK(memcmp(cl.buf, "sock", 4) == 0);
  CHECK_OK(eddy_server_close(server));
  CHECK(!fd_is_open(fd));
  close(cl.fd);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  close_server(loop, server);
  close_loop(loop);
}

/* item 92 (host together with sock: ValueError), docs/api.md section 12: on failure
   the fd stays the caller's, open */
TEST(server_with_host_and_socks_is_einval_and_fd_stays_open) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  int fd = bound_tcp_socket();
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.socks = &fd;
  o.nsocks = 1;
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_create_server(loop, factory, &s, "127.0.0.1", 0, &o, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK(fd_is_open(fd));
  CHECK_EQ(sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
  close(fd);
  close_loop(loop);
}

/* item 92: a non-stream socket in opts.socks is EDDY_EINVAL; the fd
   stays the caller's */
TEST(server_with_datagram_sock_is_einval_and_fd_stays_open) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.socks = &fd;
  o.nsocks = 1;
  eddy_future_t *f = NULL;
  int rc = eddy_loop_create_server(loop, factory, &s, NULL, 0, &o, &f);
  if (rc == 0) {
    eddy_server_t *server = NULL;
    rc = server_from_future(loop, f, &server);
    if (rc == 0) eddy_server_release(server);
  }
  CHECK_ERR(rc, EDDY_EINVAL);
  CHECK(fd_is_open(fd));
  close(fd);
  close_loop(loop);
}

/* ================================================================ EMFILE */

struct ticker {
  eddy_loop_t *loop;
  int ticks;
  bool stop;
};
static void tick_cb(void *ud) {
  struct ticker *t = ud;
  t->ticks++;
  if (!t->stop) eddy_loop_call_later(t->loop, 0.05, tick_cb, t, NULL);
}

/* valgrind preloads its own libraries into the program it runs. */
static bool under_valgrind(void) {
  const char *p = getenv("LD_PRELOAD");
  return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* item 95: accept() failing with EMFILE is reported to the exception
   handler ("... out of system resource", EDDY_EMFILE), accepting backs off
   (the handler is called a few times, not on every iteration, and timers
   keep running), and once fds are free again the server accepts the queued
   clients within ACCEPT_RETRY_DELAY (1 s) plus slack.
   Under valgrind the limit is virtual: the kernel's accept succeeds and
   valgrind closes the new fd and reports EMFILE, so the clients queued
   during the shortage are gone; there only the client arriving after the
   fds were freed is checked. */
TEST(accept_emfile_backs_off_reports_and_accepts_again_when_fds_free) {
  eddy_loop_t *loop = new_loop();
  static struct exc e;
  CHECK_OK(eddy_loop_set_exception_handler(loop, exc_handler, &e));
  static struct srv s;
  s.echo = true;
  eddy_server_t *server = start_server(loop, &s, "127.0.0.1", NULL);
  uint16_t port = server_port(server);
  CHECK_OK(run_for(loop, 0.005));

  /* everything this test needs later is made before the limit drops */
  int cl[4];
  for (int i = 0; i < 4; i++) {
    cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(cl[i] >= 0);
  }
  int fill[5];
  for (int i = 0; i < 5; i++) {
    fill[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fill[i] >= 0);
  }
  int low = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free fd */
  CHECK(low >= 0);
  close(low);
  struct rlimit old;
  CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  struct rlimit lim = old;
  lim.rlim_cur = (rlim_t)low; /* no new fd can be made now */
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
  CHECK_EQ(open("/dev/null", O_RDONLY | O_CLOEXEC), -1);
  CHECK_EQ(errno, EMFILE);

  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(connect(cl[0], (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ(connect(cl[1], (struct sockaddr *)&a, sizeof a), 0);

  static struct ticker tk;
  tk.loop = loop;
  CHECK_OK(eddy_loop_call_later(loop, 0.05, tick_cb, &tk, NULL));
  CHECK_OK(run_for(loop, 0.6));
  CHECK_EQ(connect(cl[2], (struct sockaddr *)&a, sizeof a), 0); /* clients keep coming */
  CHECK_OK(run_for(loop, 0.6));

  CHECK(e.calls >= 1);
  CHECK(e.calls <= 3);
  CHECK_ERR(e.last_err, EDDY_EMFILE);
  CHECK(strstr(e.last_msg, "out of system resource") != NULL);
  CHECK_EQ(s.nmade, 0);
  CHECK(tk.ticks >= 15); /* the loop kept running its timers */

  /* free fds: the server accepts again */
  for (int i = 0; i < 5; i++) close(fill[i]);
  CHECK_EQ(connect(cl[3], (struct sockaddr *)&a, sizeof a), 0);
  bool vg = under_valgrind();
  int want = vg ? 1 : 4;
  double t0 = harness_monotonic();
  WAIT_UNTIL(loop, s.nmade >= want, 2.5);
  double took = harness_monotonic() - t0;
  if (vg)
    CHECK(s.nmade >= want);
  else
    CHECK_EQ(s.nmade, want);
  CHECK(took <= 1.5);
  int calls_then = e.calls;
  CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);

  static struct client r[4];
  for (int i = 0; i < 4; i++) {
    r[i].fd = cl[i];
    CHECK_EQ(fcntl(cl[i], F_SETFL, fcntl(cl[i], F_GETFL) | O_NONBLOCK), 0);
  }
  int first = vg ? 3 : 0;
  for (int i = first; i < 4; i++) CHECK_EQ(send(cl[i], "hi", 2, 0), 2);
  WAIT_UNTIL(loop, client_read(&r[0], first > 0 ? 0 : 2) && client_read(&r[1], first > 1 ? 0 : 2) &&
                       client_read(&r[2], first > 2 ? 0 : 2) && client_read(&r[3], 2),
             3.0);
  for (int i = first; i < 4; i++) {
    CHECK_EQ(r[i].len, 2);
    CHECK(memcmp(r[i].buf, "hi", 2) == 0);
  }
  CHECK_EQ(e.calls, calls_then);
  tk.stop = true;
  for (int i = 0; i < 4; i++) close(cl[i]);
  WAIT_UNTIL(loop, s.nlost == s.nmade, 3.0);
  CHECK_OK(run_for(loop, 0.06)); /* the ticker's last timer */
  close_server(loop, server);
  close_loop(loop);
}

/* ========================================================== Unix servers */

static eddy_server_t *start_unix_server(eddy_loop_t *loop, struct srv *s, const char *path,
                                        const eddy_server_options_t *o) {
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_unix_server(loop, factory, s, path, o, &f));
  eddy_server_t *server = NULL;
  CHECK_OK(server_from_future(loop, f, &server));
  return server;
}

/* A socket file left behind at `path` (bound, then closed). */
static void make_stale_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_un a = unix_addr(path);
  CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  close(fd);
  struct stat st;
  CHECK_EQ(stat(path, &st), 0);
  CHECK(S_ISSOCK(st.st_mode));
}

/* items 110, 111, 109: a stale socket file is removed before bind; the
   server serves (create_unix_connection connects and echoes); with
   cleanup_socket (the default) close unlinks the path */
TEST(unix_server_replaces_stale_socket_serves_and_unlinks_on_close) {
  eddy_loop_t *loop = new_loop();
  char path[108];
  tmp_path(path, sizeof path, "stale.sock");
  unlink(path);
  make_stale_socket(path);
  static struct srv s;
  s.echo = true;
  eddy_server_t *server = start_unix_server(loop, &s, path, NULL);
  CHECK_EQ(eddy_server_is_serving(server), 1);
  int lfd = -1;
  CHECK_EQ(server_sockets(server, &lfd, 1), 1);
  CHECK_EQ(sock_family(lfd), AF_UNIX);
  CHECK_EQ(sockopt_int(lfd, SOL_SOCKET, SO_ACCEPTCONN), 1);

  static struct conn cc;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_unix_connection(loop, &conn_proto, &cc, path, NULL, &f));
  CHECK_OK(complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_future_release(f);
  CHECK(p != NULL);
  CHECK(p == cc.t);
  CHECK_EQ(cc.made, 1);
  CHECK_OK(eddy_transport_write(cc.t, "unix", 4));
  WAIT_UNTIL(loop, cc.rxlen == 4, 3.0);
  CHECK_EQ(cc.rxlen, 4);
  CHECK(memcmp(cc.rx, "unix", 4) == 0);
  CHECK_EQ(s.nmade, 1);
  int cfd = -1;
  size_t len = sizeof cfd;
  CHECK_OK(eddy_transport_get_extra_info(cc.t, "socket", &cfd, &len));
  CHECK_EQ(sock_family(cfd), AF_UNIX);

  CHECK_OK(eddy_server_close(server));
  struct stat st;
  CHECK_EQ(stat(path, &st), -1);
  CHECK_EQ(errno, ENOENT);
  CHECK_OK(eddy_transport_close(cc.t));
  WAIT_UNTIL(loop, cc.lost == 1 && s.nlost == 1, 3.0);
  CHECK_EQ(cc.lost, 1);
  close_server(loop, server);
  close_loop(loop);
}

/* item 110: a path that is not a socket is EDDY_EADDRINUSE (directly or
   as the future's error), and the file is left alone */
TEST(unix_server_on_regular_file_is_eaddrinuse_and_file_stays) {
  eddy_loop_t *loop = new_loop();
  char path[108];
  tmp_path(path, sizeof path, "regular");
  unlink(path);
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, "keep", 4), 4);
  close(fd);
  static struct srv s;
  eddy_future_t *f = NULL;
  int rc = eddy_loop_create_unix_server(loop, factory, &s, path, NULL, &f);
  if (rc == 0) {
    eddy_server_t *server = NULL;
    rc = server_from_future(loop, f, &server);
    if (rc == 0) eddy_server_release(server);
  }
  CHECK_ERR(rc, EDDY_EADDRINUSE);
  struct stat st;
  CHECK_EQ(stat(path, &st), 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK_EQ(st.st_size, 4);
  CHECK_EQ(unlink(path), 0);
  close_loop(loop);
}

/* item 111: cleanup_socket false leaves the socket file after close */
TEST(unix_server_cleanup_socket_false_leaves_path) {
  eddy_loop_t *loop = new_loop();
  char path[108];
  tmp_path(path, sizeof path, "keep.sock");
  unlink(path);
  static struct srv s;
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.cleanup_socket = false;
  eddy_server_t *server = start_unix_server(loop, &s, path, &o);
  int c = unix_client_connect(path);
  CHECK(c >= 0);
  WAIT_UNTIL(loop, s.nmade == 1, 3.0);
  CHECK_EQ(s.nmade, 1);
  close(c);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  close_server(loop, server);
  struct stat st;
  CHECK_EQ(stat(path, &st), 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK_EQ(unlink(path), 0);
  close_loop(loop);
}

/* item 111: cleanup only unlinks the path if it is still the socket
   the server bound (same inode) */
TEST(unix_server_cleanup_leaves_a_path_replaced_since_bind) {
  eddy_loop_t *loop = new_loop();
  char path[108];
  tmp_path(path, sizeof path, "replaced.sock");
  unlink(path);
  static struct srv s;
  eddy_server_t *server = start_unix_server(loop, &s, path, NULL);
  CHECK_EQ(unlink(path), 0);
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  close(fd);
  close_server(loop, server);
  struct stat st;
  CHECK_EQ(stat(path, &st), 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK_EQ(unlink(path), 0);
  close_loop(loop);
}

/* item 109: create_unix_connection to a path nobody serves fails
   (ENOENT for a missing file, ECONNREFUSED for a dead socket) and leaves no
   fd open */
TEST(unix_connection_to_missing_or_dead_path_fails) {
  eddy_loop_t *loop = new_loop();
  char path[108];
  tmp_path(path, sizeof path, "missing.sock");
  unlink(path);
  static struct conn cc;
  for (int round = 0; round < 2; round++) {
    if (round == 1) make_stale_socket(path);
    eddy_future_t *f = NULL;
    int rc = eddy_loop_create_unix_connection(loop, &conn_proto, &cc, path, NULL, &f);
    if (rc == 0) {
      int run_rc = complete(loop, f);
      rc = eddy_future_result(f, NULL, NULL);
      CHECK_ERR(run_rc, rc);
      eddy_future_release(f);
    }
    CHECK_ERR(rc, round == 0 ? -ENOENT : -ECONNREFUSED);
  }
  CHECK_OK(run_for(loop, 0.005));
  CHECK_EQ(cc.made, 0);
  CHECK_EQ(cc.lost, 0);
  CHECK_EQ(unlink(path), 0);
  close_loop(loop);
}

/* item 109: path and sock together, or neither, are EDDY_EINVAL */
TEST(unix_connection_argument_errors_are_einval) {
  eddy_loop_t *loop = new_loop();
  static struct conn cc;
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.sock = sv[0];
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_create_unix_connection(loop, &conn_proto, &cc, "/tmp/x.sock", &o, &f), EDDY_EINVAL);
  CHECK(fd_is_open(sv[0]));
  CHECK_ERR(eddy_loop_create_unix_connection(loop, &conn_proto, &cc, NULL, NULL, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  /* sock alone: a transport on it */
  CHECK_OK(eddy_loop_create_unix_connection(loop, &conn_proto, &cc, NULL, &o, &f));
  CHECK_OK(complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_future_release(f);
  CHECK(p == cc.t);
  CHECK_EQ(write(sv[1], "pair", 4), 4);
  WAIT_UNTIL(loop, cc.rxlen == 4, 3.0);
  CHECK_EQ(cc.rxlen, 4);
  CHECK_OK(eddy_transport_close(cc.t));
  WAIT_UNTIL(loop, cc.lost == 1, 3.0);
  CHECK(!fd_is_open(sv[0]));
  close(sv[1]);
  close_loop(loop);
}

/* items 90, 102: a host name is resolved (off the loop) and every
   address it gives is bound */
TEST(create_server_with_host_name_binds_its_addresses) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  s.echo = true;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_server(loop, factory, &s, "localhost", 0, NULL, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  eddy_server_t *server = NULL;
  CHECK_OK(server_from_future(loop, f, &server));
  int fds[8];
  size_t n = server_sockets(server, fds, 8);
  CHECK(n >= 1);
  int v4 = -1;
  for (size_t i = 0; i < n; i++) {
    CHECK_EQ(sockopt_int(fds[i], SOL_SOCKET, SO_ACCEPTCONN), 1);
    if (sock_family(fds[i]) == AF_INET) v4 = fds[i];
  }
  CHECK(v4 >= 0); /* localhost has 127.0.0.1 */
  static struct client cl;
  cl.fd = client_connect(AF_INET, sock_port(v4));
  CHECK(cl.fd >= 0);
  CHECK_EQ(send(cl.fd, "name", 4, 0), 4);
  WAIT_UNTIL(loop, client_read(&cl, 4), 3.0);
  CHECK_EQ(cl.len, 4);
  close(cl.fd);
  WAIT_UNTIL(loop, s.nlost == 1, 3.0);
  close_server(loop, server);
  close_loop(loop);
}

/* docs/api.md section 10: a server's TLS must be a server configuration: a client one
   is EDDY_EINVAL, for create_server and create_unix_server, and nothing is
   bound (TLS servers themselves are tested in test_tls.c) */
TEST(create_server_with_a_client_tls_config_is_einval) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_tls_config_t *client = NULL;
  CHECK_OK(eddy_tls_config_new_client(&client));
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.tls = client;
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_create_server(loop, factory, &s, "127.0.0.1", 0, &o, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  char path[108];
  tmp_path(path, sizeof path, "tls.sock");
  unlink(path);
  CHECK_ERR(eddy_loop_create_unix_server(loop, factory, &s, path, &o, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  struct stat st;
  CHECK_EQ(stat(path, &st), -1); /* nothing was bound */
  eddy_tls_config_release(client);
  close_loop(loop);
}
