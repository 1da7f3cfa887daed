/* Connection establishment and loop.sendfile: docs/semantics.md items 101-108
   (section K), 58 (create_connection completes after connection_made) and
   139-141 (section R); docs/api.md section 6 (create_connection,
   connect_accepted_socket, sendfile) and section 12 ("Handed-over fds",
   "sock_sendfile / sendfile"). Servers are in test_server.c.

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "harness.h"

/* Here WAIT_UNTIL only runs the loop: on a timeout the test's own CHECK of
   the condition fails. */
#define WAIT_UNTIL(loop, cond, timeout) RUN_LOOP_UNTIL(loop, cond, timeout)
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

/* The port of an IPv4 or IPv6 address. */
static uint16_t addr_port(const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
  return ntohs(((const struct sockaddr_in *)a)->sin_port);
}

/* A TCP socket bound to 127.0.0.1 (port 0: ephemeral), listening when
   backlog >= 0. */
static int tcp_bound(uint16_t port, int backlog) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct sockaddr_in a = loopback_addr(port);
  CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  if (backlog >= 0) CHECK_EQ(listen(s, backlog), 0);
  return s;
}

/* Accepts every queued connection of `l` and closes it. */
static int drain_accept(int l) {
  CHECK_EQ(fcntl(l, F_SETFL, fcntl(l, F_GETFL) | O_NONBLOCK), 0);
  int n = 0;
  for (;;) {
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s < 0) return n;
    close(s);
    n++;
  }
}

/* The outcome of a call that may fail at once or through its future. */
static int outcome(eddy_loop_t *loop, int rc, eddy_future_t *f, void **ptr, int64_t *n) {
  if (rc != 0) return rc;
  CHECK(f != NULL);
  int run_rc = complete(loop, f);
  CHECK_EQ(eddy_future_done(f), 1);
  rc = eddy_future_result(f, ptr, n);
  CHECK_ERR(run_rc, rc);
  eddy_future_release(f);
  return rc;
}

/* --- a recording protocol --- */

struct conn {
  eddy_transport_t *t;
  int made, lost, lost_err;
  eddy_future_t *creating; /* the future that will carry this transport */
  int creating_done_at_made;
  uint8_t rx[1 << 16];
  size_t rxlen;
  bool echo;
};

static void conn_made(eddy_transport_t *t, void *ud) {
  struct conn *c = ud;
  c->t = t;
  c->made++;
  c->creating_done_at_made = c->creating ? eddy_future_done(c->creating) : -1;
}
static void conn_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  struct conn *c = ud;
  c->lost++;
  c->lost_err = err;
}
static void conn_data(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
  struct conn *c = ud;
  size_t room = sizeof c->rx - c->rxlen;
  size_t n = len < room ? len : room;
  memcpy(c->rx + c->rxlen, data, n);
  c->rxlen += n;
  if (c->echo) eddy_transport_write(t, data, len);
}
static const eddy_protocol_t conn_proto = {
    .connection_made = conn_made,
    .connection_lost = conn_lost,
    .data_received = conn_data,
};

/* A server-side echo for create_connection to talk to. */
struct srv {
  int nconns;
  struct conn conns[8];
};
static int factory(void *fud, const eddy_protocol_t **proto, void **ud) {
  struct srv *s = fud;
  if (s->nconns >= 8) return EDDY_ENOMEM;
  struct conn *c = &s->conns[s->nconns++];
  c->echo = true;
  *proto = &conn_proto;
  *ud = c;
  return 0;
}

static eddy_server_t *echo_server(eddy_loop_t *loop, struct srv *s, const char *host, uint16_t port) {
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_server(loop, factory, s, host, port, NULL, &f));
  void *p = NULL;
  CHECK_OK(outcome(loop, 0, f, &p, NULL));
  CHECK(p != NULL);
  eddy_server_t *server = p;
  eddy_server_retain(server);
  return server;
}

static uint16_t server_port(eddy_server_t *server) {
  int fd = -1;
  size_t n = 0;
  CHECK_OK(eddy_server_get_sockets(server, &fd, 1, &n));
  CHECK_EQ(n, 1);
  return sock_port(fd);
}

static void close_server(eddy_loop_t *loop, eddy_server_t *server) {
  CHECK_OK(eddy_server_close(server));
  eddy_server_close_clients(server);
  eddy_future_t *w = NULL;
  CHECK_OK(eddy_server_wait_closed(server, &w));
  CHECK_OK(outcome(loop, 0, w, NULL, NULL));
  eddy_server_release(server);
}

/* create_connection to host:port with `c`; returns the outcome, the
   transport in c->t. */
static int connect_to(eddy_loop_t *loop, struct conn *c, const char *host, uint16_t port,
                      const eddy_connection_options_t *o) {
  eddy_future_t *f = NULL;
  int rc = eddy_loop_create_connection(loop, &conn_proto, c, host, port, o, &f);
  if (rc != 0) return rc;
  CHECK(f != NULL);
  c->creating = f;
  void *p = NULL;
  rc = outcome(loop, 0, f, &p, NULL);
  c->creating = NULL;
  if (rc == 0) {
    CHECK(p != NULL);
    CHECK(p == c->t);
  }
  return rc;
}

static void close_transport(eddy_loop_t *loop, struct conn *c) {
  int lost = c->lost;
  CHECK_OK(eddy_transport_close(c->t));
  WAIT_UNTIL(loop, c->lost == lost + 1, 3.0);
  CHECK_EQ(c->lost, lost + 1);
}

static int transport_fd(eddy_transport_t *t) {
  int fd = -1;
  size_t len = sizeof fd;
  CHECK_OK(eddy_transport_get_extra_info(t, "socket", &fd, &len));
  CHECK_EQ(len, sizeof fd);
  return fd;
}

/* ===================================================== create_connection */

/* item 106: a refused connection fails the future with -ECONNREFUSED
   and a message naming the address ("Connect call failed ('127.0.0.1', N)") */
TEST(create_connection_to_closed_port_fails_econnrefused_with_address_in_message) {
  eddy_loop_t *loop = new_loop();
  int held = tcp_bound(0, -1); /* bound, not listening: the port refuses */
  uint16_t port = sock_port(held);
  static struct conn c;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &conn_proto, &c, "127.0.0.1", port, NULL, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_ERR(complete(loop, f), -ECONNREFUSED);
  CHECK_ERR(eddy_future_result(f, NULL, NULL), -ECONNREFUSED);
  const char *msg = eddy_future_error_message(f);
  CHECK(msg != NULL);
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
  if (strstr(msg, "127.0.0.1") == NULL || strstr(msg, portstr) == NULL)
    HARNESS_FAIL("message \"%s\" does not name 127.0.0.1 port %s", msg, portstr);
  eddy_future_release(f);
  CHECK_EQ(c.made, 0);
  CHECK_EQ(c.lost, 0);
  close(held);
  close_loop(loop);
}

/* items 106, 107: a local address that cannot be bound fails the future
   with asyncio's message naming the bind and the address; each failed step
   is one of the future's errors (eddy_future_error_count/_at), a refused
   connect's message is asyncio's "Connect call failed (...)" */
TEST(create_connection_errors_name_the_step_that_failed) {
  eddy_loop_t *loop = new_loop();
  int held = tcp_bound(0, -1); /* bound, not listening */
  uint16_t port = sock_port(held);
  static struct conn c;
  char want[128];
  /* the bind */
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.local_host = "127.0.0.1";
  o.local_port = port;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &conn_proto, &c, "127.0.0.1", port, &o, &f));
  CHECK_ERR(complete(loop, f), -EADDRINUSE);
  snprintf(want, sizeof want, "error while attempting to bind on address ('127.0.0.1', %u): address already in use",
           (unsigned)port);
  CHECK_STR_EQ(eddy_future_error_message(f), want);
  CHECK_EQ(eddy_future_error_count(f), 1);
  int code = 0;
  const char *msg = NULL;
  CHECK_OK(eddy_future_error_at(f, 0, &code, &msg));
  CHECK_EQ(code, -EADDRINUSE);
  CHECK_STR_EQ(msg, want);
  CHECK_ERR(eddy_future_error_at(f, 1, &code, &msg), EDDY_EINVAL);
  CHECK_ERR(eddy_future_error_at(f, 0, NULL, &msg), EDDY_EINVAL);
  CHECK_ERR(eddy_future_error_at(NULL, 0, &code, &msg), EDDY_EINVAL);
  CHECK_EQ(eddy_future_error_count(NULL), 0);
  eddy_future_release(f);
  /* the connect */
  CHECK_OK(eddy_loop_create_connection(loop, &conn_proto, &c, "127.0.0.1", port, NULL, &f));
  CHECK_ERR(complete(loop, f), -ECONNREFUSED);
  snprintf(want, sizeof want, "Connect call failed ('127.0.0.1', %u)", (unsigned)port);
  CHECK_STR_EQ(eddy_future_error_message(f), want);
  CHECK_EQ(eddy_future_error_count(f), 1);
  CHECK_OK(eddy_future_error_at(f, 0, &code, &msg));
  CHECK_EQ(code, -ECONNREFUSED);
  CHECK_STR_EQ(msg, want);
  eddy_future_release(f);
  /* a future that is not a connection's has none */
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_future_set_error(f, -EIO, NULL));
  CHECK_EQ(eddy_future_error_count(f), 0);
  CHECK_ERR(eddy_future_error_at(f, 0, &code, &msg), EDDY_EINVAL);
  CHECK_ERR(eddy_future_result(f, NULL, NULL), -EIO);
  eddy_future_release(f);
  CHECK_EQ(c.made, 0);
  close(held);
  close_loop(loop);
}

/* items 102, 58: a name is resolved off the loop (the future is not done
   inside the call) and the future completes only after connection_made ran;
   its value is the transport */
TEST(create_connection_to_localhost_resolves_and_completes_after_connection_made) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_t *server = echo_server(loop, &s, "127.0.0.1", 0);
  uint16_t port = server_port(server);
  static struct conn c;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &conn_proto, &c, "localhost", port, NULL, &f));
  c.creating = f;
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(c.made, 0);
  void *p = NULL;
  CHECK_OK(outcome(loop, 0, f, &p, NULL));
  c.creating = NULL;
  CHECK_EQ(c.made, 1);
  CHECK_EQ(c.creating_done_at_made, 0);
  CHECK(p == c.t);
  struct sockaddr_storage peer;
  size_t plen = sizeof peer;
  CHECK_OK(eddy_transport_get_extra_info(c.t, "peername", &peer, &plen));
  CHECK_EQ(peer.ss_family, AF_INET);
  CHECK_EQ(((struct sockaddr_in *)&peer)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  CHECK_EQ(addr_port(&peer), port);
  CHECK_OK(eddy_transport_write(c.t, "abc", 3));
  WAIT_UNTIL(loop, c.rxlen == 3, 3.0);
  CHECK_EQ(c.rxlen, 3);
  CHECK(memcmp(c.rx, "abc", 3) == 0);
  close_transport(loop, &c);
  CHECK_EQ(c.lost_err, 0);
  close_server(loop, server);
  close_loop(loop);
}

/* --- a host name with two addresses --- */

#define MULTI_NAME "multi.eddy.test"

/* In this forked test process only: a private mount namespace with a hosts
   file where MULTI_NAME has ::1 and 127.0.0.1. Fills `addrs` with what
   getaddrinfo gives for it (in order) and returns how many, or 0 when the
   namespace cannot be made here (not root, no CLONE_NEWNS). */
static int multi_name_setup(struct sockaddr_storage addrs[4]) {
  if (unshare(CLONE_NEWNS) != 0) return 0;
  if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) return 0;
  char path[64];
  snprintf(path, sizeof path, "/tmp/eddy-test-hosts-%d", (int)getpid());
  FILE *fp = fopen(path, "we");
  CHECK(fp != NULL);
  fprintf(fp, "127.0.0.1 localhost\n::1 " MULTI_NAME "\n127.0.0.1 " MULTI_NAME "\n");
  fclose(fp);
  int rc = mount(path, "/etc/hosts", "none", MS_BIND, NULL);
  unlink(path);
  if (rc != 0) return 0;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(MULTI_NAME, "1", &hints, &res) != 0) return 0;
  int n = 0;
  for (struct addrinfo *ai = res; ai && n < 4; ai = ai->ai_next) {
    memset(&addrs[n], 0, sizeof addrs[n]);
    memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
    n++;
  }
  freeaddrinfo(res);
  return n;
}

/* A listening socket at `a`'s address and `port` (0: ephemeral); for IPv6
   V6ONLY. Returns -errno when the bind fails. */
static int listen_at(const struct sockaddr_storage *a, uint16_t port, int backlog) {
  int s = socket(a->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct sockaddr_storage b = *a;
  socklen_t len;
  if (b.ss_family == AF_INET6) {
    int one = 1;
    CHECK_EQ(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one), 0);
    ((struct sockaddr_in6 *)&b)->sin6_port = htons(port);
    len = sizeof(struct sockaddr_in6);
  } else {
    ((struct sockaddr_in *)&b)->sin_port = htons(port);
    len = sizeof(struct sockaddr_in);
  }
  if (bind(s, (struct sockaddr *)&b, len) != 0) {
    int e = errno;
    close(s);
    return -e;
  }
  CHECK_EQ(listen(s, backlog), 0);
  return s;
}

/* item 103: without happy eyeballs the resolved addresses are tried in
   getaddrinfo order; the first one refusing, the second one connects */
TEST(create_connection_tries_next_address_when_first_fails) {
  static struct sockaddr_storage addrs[4];
  int n = multi_name_setup(addrs);
  if (n < 2 || addrs[0].ss_family == addrs[1].ss_family) {
    fprintf(stderr, "note: skipped: cannot make a name with two addresses here (%d found)\n", n);
    return;
  }
  eddy_loop_t *loop = new_loop();
  /* listen on the second address only; the first refuses on that port */
  int l = listen_at(&addrs[1], 0, 8);
  CHECK(l >= 0);
  uint16_t port = sock_port(l);
  static struct conn c;
  CHECK_OK(connect_to(loop, &c, MULTI_NAME, port, NULL));
  CHECK_EQ(c.made, 1);
  struct sockaddr_storage peer;
  size_t plen = sizeof peer;
  CHECK_OK(eddy_transport_get_extra_info(c.t, "peername", &peer, &plen));
  CHECK_EQ(peer.ss_family, addrs[1].ss_family);
  CHECK_EQ(addr_port(&peer), port);
  close_transport(loop, &c);
  drain_accept(l);
  close(l);
  close_loop(loop);
}

/* item 104: with happy_eyeballs_delay the next attempt starts as soon as
   the previous one fails (well before the delay) */
TEST(happy_eyeballs_starts_next_attempt_when_previous_fails) {
  static struct sockaddr_storage addrs[4];
  int n = multi_name_setup(addrs);
  if (n < 2 || addrs[0].ss_family == addrs[1].ss_family) {
    fprintf(stderr, "note: skipped: cannot make a name with two addresses here (%d found)\n", n);
    return;
  }
  eddy_loop_t *loop = new_loop();
  int l = listen_at(&addrs[1], 0, 8);
  CHECK(l >= 0);
  uint16_t port = sock_port(l);
  static struct conn c;
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.happy_eyeballs_delay = 2.0;
  double t0 = harness_monotonic();
  CHECK_OK(connect_to(loop, &c, MULTI_NAME, port, &o));
  CHECK(harness_monotonic() - t0 < 1.0);
  struct sockaddr_storage peer;
  size_t plen = sizeof peer;
  CHECK_OK(eddy_transport_get_extra_info(c.t, "peername", &peer, &plen));
  CHECK_EQ(peer.ss_family, addrs[1].ss_family);
  close_transport(loop, &c);
  drain_accept(l);
  close(l);
  close_loop(loop);
}

/* item 104: with happy_eyeballs_delay d, when the first attempt hangs
   (its listener's queue is full, so the SYN is dropped) the second starts
   after d and wins; the hanging attempt is dropped (no fd left) */
TEST(happy_eyeballs_starts_next_attempt_after_delay_when_first_hangs) {
  static struct sockaddr_storage addrs[4];
  int n = multi_name_setup(addrs);
  if (n < 2 || addrs[0].ss_family == addrs[1].ss_family) {
    fprintf(stderr, "note: skipped: cannot make a name with two addresses here (%d found)\n", n);
    return;
  }
  eddy_loop_t *loop = new_loop();
  /* first address: a listener whose queue (backlog 0: one connection) is
     full; second address: the same port, accepting */
  int hang = -1, ok = -1;
  uint16_t port = 0;
  for (int tries = 0; tries < 20 && ok < 0; tries++) {
    if (hang >= 0) close(hang);
    hang = listen_at(&addrs[0], 0, 0);
    CHECK(hang >= 0);
    port = sock_port(hang);
    ok = listen_at(&addrs[1], port, 8);
  }
  CHECK(ok >= 0);
  /* fill the queue */
  int filler = socket(addrs[0].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(filler >= 0);
  struct sockaddr_storage a0 = addrs[0];
  socklen_t a0len;
  if (a0.ss_family == AF_INET6) {
    ((struct sockaddr_in6 *)&a0)->sin6_port = htons(port);
    a0len = sizeof(struct sockaddr_in6);
  } else {
    ((struct sockaddr_in *)&a0)->sin_port = htons(port);
    a0len = sizeof(struct sockaddr_in);
  }
  CHECK_EQ(connect(filler, (struct sockaddr *)&a0, a0len), 0);
  /* check that the next connect to the first address hangs */
  int probe = socket(addrs[0].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(probe >= 0);
  int prc = connect(probe, (struct sockaddr *)&a0, a0len);
  CHECK(prc == -1 && errno == EINPROGRESS);
  struct pollfd pp = {probe, POLLOUT, 0};
  bool hangs = poll(&pp, 1, 100) == 0;
  close(probe);
  if (!hangs) {
    fprintf(stderr, "note: skipped: a full listen queue does not hold connects here\n");
    close(filler);
    close(hang);
    close(ok);
    close_loop(loop);
    return;
  }
  int fds_before = count_sockets();
  static struct conn c;
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.happy_eyeballs_delay = 0.1;
  double t0 = harness_monotonic();
  CHECK_OK(connect_to(loop, &c, MULTI_NAME, port, &o));
  double took = harness_monotonic() - t0;
  CHECK(took >= 0.09);
  CHECK(took < 1.0);
  struct sockaddr_storage peer;
  size_t plen = sizeof peer;
  CHECK_OK(eddy_transport_get_extra_info(c.t, "peername", &peer, &plen));
  CHECK_EQ(peer.ss_family, addrs[1].ss_family);
  CHECK_EQ(addr_port(&peer), port);
  CHECK_OK(run_for(loop, 0.01));
  CHECK_EQ(count_sockets(), fds_before + 1); /* the winner only: the hanging attempt is closed */
  close_transport(loop, &c);
  CHECK_EQ(count_sockets(), fds_before);
  close(filler);
  drain_accept(hang);
  drain_accept(ok);
  close(hang);
  close(ok);
  close_loop(loop);
}

/* item 104: happy_eyeballs_delay >= 0 (0 included) still connects to a
   single address */
TEST(happy_eyeballs_delay_set_connects_to_single_address) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_t *server = echo_server(loop, &s, "127.0.0.1", 0);
  uint16_t port = server_port(server);
  double delays[2] = {0.0, 0.25};
  for (int i = 0; i < 2; i++) {
    static struct conn c;
    memset(&c, 0, sizeof c);
    eddy_connection_options_t o;
    eddy_connection_options_init(&o);
    o.happy_eyeballs_delay = delays[i];
    CHECK_OK(connect_to(loop, &c, "127.0.0.1", port, &o));
    CHECK_EQ(c.made, 1);
    CHECK_OK(eddy_transport_write(c.t, "he", 2));
    WAIT_UNTIL(loop, c.rxlen == 2, 3.0);
    CHECK_EQ(c.rxlen, 2);
    close_transport(loop, &c);
  }
  close_server(loop, server);
  close_loop(loop);
}

/* item 107: local_host/local_port bind the client socket first */
TEST(create_connection_local_addr_binds_client_socket) {
  eddy_loop_t *loop = new_loop();
  static struct srv s;
  eddy_server_t *server = echo_server(loop, &s, "127.0.0.1", 0);
  uint16_t port = server_port(server);
  int tmp = tcp_bound(0, -1);
  uint16_t local = sock_port(tmp);
  close(tmp);
  static struct conn c;
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.local_host = "127.0.0.1";
  o.local_port = local;
  CHECK_OK(connect_to(loop, &c, "127.0.0.1", port, &o));
  int fd = transport_fd(c.t);
  CHECK_EQ(sock_port(fd), local);
  struct sockaddr_storage me;
  size_t len = sizeof me;
  CHECK_OK(eddy_transport_get_extra_info(c.t, "sockname", &me, &len));
  CHECK_EQ(addr_port(&me), local);
  WAIT_UNTIL(loop, s.nconns == 1 && s.conns[0].made == 1, 3.0);
  CHECK_EQ(s.nconns, 1);
  struct sockaddr_storage peer;
  size_t plen = sizeof peer;
  CHECK_OK(eddy_transport_get_extra_info(s.conns[0].t, "peername", &peer, &plen));
  CHECK_EQ(addr_port(&peer), local);
  close_transport(loop, &c);
  close_server(loop, server);
  close_loop(loop);
}

/* item 107: a local address of another family than the remote one
   fails the connection ("no matching local address") and leaves no fd */
TEST(create_connection_local_addr_of_other_family_fails) {
  eddy_loop_t *loop = new_loop();
  int l = tcp_bound(0, 8);
  uint16_t port = sock_port(l);
  int fds_before = count_sockets();
  static struct conn c;
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.local_host = "::1";
  int rc = connect_to(loop, &c, "127.0.0.1", port, &o);
  CHECK(rc < 0);
  CHECK_EQ(c.made, 0);
  CHECK_OK(run_for(loop, 0.005));
  CHECK_EQ(count_sockets(), fds_before);
  drain_accept(l);
  close(l);
  close_loop(loop);
}

/* docs/api.md section 6 (opts.sock), 12 ("Handed-over fds"): an already connected socket
   becomes the transport's, and is closed with it */
TEST(create_connection_with_connected_sock_uses_it) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  tcp_pair(sv);
  static struct conn c;
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.sock = sv[0];
  CHECK_OK(connect_to(loop, &c, NULL, 0, &o));
  CHECK_EQ(c.made, 1);
  CHECK_EQ(transport_fd(c.t), sv[0]);
  CHECK_OK(eddy_transport_write(c.t, "out", 3));
  CHECK_EQ(write(sv[1], "in", 2), 2);
  WAIT_UNTIL(loop, c.rxlen == 2, 3.0);
  CHECK_EQ(c.rxlen, 2);
  CHECK(memcmp(c.rx, "in", 2) == 0);
  char buf[8];
  struct pollfd p = {sv[1], POLLIN, 0};
  CHECK_EQ(poll(&p, 1, 2000), 1);
  CHECK_EQ(read(sv[1], buf, sizeof buf), 3);
  CHECK(memcmp(buf, "out", 3) == 0);
  close_transport(loop, &c);
  CHECK(!fd_is_open(sv[0]));
  close(sv[1]);
  close_loop(loop);
}

/* item 101: no host and no sock, host with sock, or a non-stream sock
   are EDDY_EINVAL; a rejected sock stays the caller's */
TEST(create_connection_argument_errors_are_einval_and_sock_stays_open) {
  eddy_loop_t *loop = new_loop();
  static struct conn c;
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_create_connection(loop, &conn_proto, &c, NULL, 80, NULL, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  CHECK_ERR(eddy_loop_create_connection(loop, &conn_proto, &c, NULL, 0, &o, &f), EDDY_EINVAL);
  int sv[2];
  tcp_pair(sv);
  o.sock = sv[0];
  CHECK_ERR(eddy_loop_create_connection(loop, &conn_proto, &c, "127.0.0.1", 80, &o, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK(fd_is_open(sv[0]));
  int d = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(d >= 0);
  o.sock = d;
  int rc = eddy_loop_create_connection(loop, &conn_proto, &c, NULL, 0, &o, &f);
  CHECK_ERR(outcome(loop, rc, f, NULL, NULL), EDDY_EINVAL);
  CHECK(fd_is_open(d));
  CHECK_OK(run_for(loop, 0.005));
  CHECK_EQ(c.made, 0);
  close(d);
  close(sv[0]);
  close(sv[1]);
  close_loop(loop);
}

/* A 127.0.0.1 listener whose queue (of one) is full: a further connect()
   stays pending. `*filler` is the connection that fills it. */
static int full_listener(int *filler) {
  int l = tcp_bound(0, 0);
  *filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(*filler >= 0);
  struct sockaddr_in a = loopback_addr(sock_port(l));
  CHECK_EQ(connect(*filler, (struct sockaddr *)&a, sizeof a), 0);
  return l;
}

static void close_full_listener(int l, int filler) {
  close(filler);
  drain_accept(l);
  close(l);
}

/* Cancelling create_connection before it ran, and while its connect is
   pending (the listener's queue is full), leaves no fd open and never calls
   connection_made */
TEST(cancelling_create_connection_while_connecting_leaves_no_fd) {
  eddy_loop_t *loop = new_loop();
  int filler;
  int l = full_listener(&filler);
  uint16_t port = sock_port(l);
  int fds_before = count_sockets();
  static struct conn c;

  /* cancelled at once */
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &conn_proto, &c, "127.0.0.1", port, NULL, &f));
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_OK(run_for(loop, 0.02));
  CHECK_EQ(eddy_future_cancelled(f), 1);
  eddy_future_release(f);
  CHECK_EQ(count_sockets(), fds_before);

  /* cancelled while connect() is in progress */
  CHECK_OK(eddy_loop_create_connection(loop, &conn_proto, &c, "127.0.0.1", port, NULL, &f));
  CHECK_OK(run_for(loop, 0.05));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(count_sockets(), fds_before + 1); /* the connecting socket */
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_OK(run_for(loop, 0.02));
  CHECK_EQ(eddy_future_cancelled(f), 1);
  CHECK_ERR(eddy_future_result(f, NULL, NULL), EDDY_ECANCELED);
  eddy_future_release(f);
  CHECK_EQ(count_sockets(), fds_before);
  CHECK_EQ(c.made, 0);
  CHECK_EQ(c.lost, 0);
  close_full_listener(l, filler);
  close_loop(loop);
}

/* Closing the loop while create_connection's connect() is pending (the
   listener's queue is full) closes the connecting socket: the future stays
   pending, and nothing of the attempt outlives the loop. */
TEST(closing_the_loop_while_create_connection_connects_leaves_no_fd) {
  eddy_loop_t *loop = new_loop();
  int filler;
  int l = full_listener(&filler);
  uint16_t port = sock_port(l);
  int fds_before = count_sockets();
  static struct conn c;

  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &conn_proto, &c, "127.0.0.1", port, NULL, &f));
  CHECK_OK(run_for(loop, 0.05));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(count_sockets(), fds_before + 1); /* the connecting socket */
  close_loop(loop);
  CHECK_EQ(count_sockets(), fds_before);
  CHECK_EQ(eddy_future_done(f), 0);
  eddy_future_release(f);
  CHECK_EQ(count_sockets(), fds_before);
  CHECK_EQ(c.made, 0);
  CHECK_EQ(c.lost, 0);
  close_full_listener(l, filler);
}

/* =============================================== connect_accepted_socket */

/* item 108: connect_accepted_socket needs SOCK_STREAM: a datagram
   socket is EDDY_EINVAL and stays the caller's (open) */
TEST(connect_accepted_socket_on_datagram_socket_is_einval_and_fd_stays_open) {
  eddy_loop_t *loop = new_loop();
  static struct conn c;
  int d = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(d >= 0);
  eddy_future_t *f = NULL;
  int rc = eddy_loop_connect_accepted_socket(loop, &conn_proto, &c, d, NULL, &f);
  CHECK_ERR(outcome(loop, rc, f, NULL, NULL), EDDY_EINVAL);
  CHECK(fd_is_open(d));
  CHECK_EQ(c.made, 0);
  close(d);
  close_loop(loop);
}

/* items 108, 58: connect_accepted_socket on an accepted TCP socket makes
   a transport (eddy owns the fd), its future completing after
   connection_made */
TEST(connect_accepted_socket_makes_transport_after_connection_made) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  tcp_pair(sv);
  static struct conn c;
  c.echo = true;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &conn_proto, &c, sv[1], NULL, &f));
  c.creating = f;
  CHECK_EQ(c.made, 0);
  void *p = NULL;
  CHECK_OK(outcome(loop, 0, f, &p, NULL));
  CHECK_EQ(c.made, 1);
  CHECK_EQ(c.creating_done_at_made, 0);
  CHECK(p == c.t);
  CHECK_EQ(transport_fd(c.t), sv[1]);
  struct sockaddr_storage peer;
  size_t plen = sizeof peer;
  CHECK_OK(eddy_transport_get_extra_info(c.t, "peername", &peer, &plen));
  CHECK_EQ(addr_port(&peer), sock_port(sv[0]));
  CHECK_EQ(write(sv[0], "echo", 4), 4);
  WAIT_UNTIL(loop, c.rxlen == 4, 3.0);
  char buf[8];
  struct pollfd pf = {sv[0], POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 2000), 1);
  CHECK_EQ(read(sv[0], buf, sizeof buf), 4);
  CHECK(memcmp(buf, "echo", 4) == 0);
  close_transport(loop, &c);
  CHECK(!fd_is_open(sv[1]));
  close(sv[0]);
  close_loop(loop);
}

/* Item 58's start-up order when the peer wrote (and closed) before the
   socket was handed over: connection_made, then the future's done
   callbacks, and only then data_received, eof_received and
   connection_lost, as asyncio's reader starts after the waiter is
   resolved. A caller awaiting the future must see its transport before
   any data. */
static void order_made(eddy_transport_t *t, void *ud) { (void)t, (void)ud, ev_add('M'); }
static void order_data(eddy_transport_t *t, const uint8_t *d, size_t n, void *ud) {
  (void)t, (void)d, (void)n, (void)ud;
  ev_add('D');
}
static bool order_eof(eddy_transport_t *t, void *ud) { return (void)t, (void)ud, ev_add('E'), false; }
static void order_lost(eddy_transport_t *t, int err, void *ud) { (void)t, (void)err, (void)ud, ev_add('L'); }
static void order_done(eddy_future_t *f, void *ud) { (void)f, (void)ud, ev_add('F'); }
static const eddy_protocol_t order_proto = {
    .connection_made = order_made,
    .data_received = order_data,
    .eof_received = order_eof,
    .connection_lost = order_lost,
};

TEST(connect_accepted_socket_resolves_its_future_before_data_already_waiting) {
  for (int kind = 0; kind < 2; kind++) { /* 0: data only; 1: data, then the peer closes */
    eddy_loop_t *loop = new_loop();
    ev_reset();
    int sv[2];
    tcp_pair(sv);
    CHECK_EQ(write(sv[0], "early", 5), 5);
    if (kind == 1) close(sv[0]);
    eddy_future_t *f = NULL;
    CHECK_OK(eddy_loop_connect_accepted_socket(loop, &order_proto, NULL, sv[1], NULL, &f));
    CHECK_OK(eddy_future_add_done_callback(f, order_done, NULL));
    RUN_LOOP_UNTIL(loop, ev_count(kind == 1 ? 'L' : 'D') == 1, 3.0);
    CHECK_STR_EQ(ev, kind == 1 ? "MFDEL" : "MFD");
    eddy_future_release(f);
    if (kind == 0) close(sv[0]);
    close_loop(loop);
  }
}

/* ============================================================= sendfile */

/* A TCP pair whose sv[0] becomes a transport for `c` (sv[1] stays the
   test's). `small`: both kernel buffers shrunk to 16 KiB, so that writes
   back up into the transport's buffer early. */
static void transport_on_pair(eddy_loop_t *loop, struct conn *c, int sv[2], bool small) {
  tcp_pair(sv);
  if (small) {
    int n = 16384;
    CHECK_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &n, sizeof n), 0);
    CHECK_EQ(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &n, sizeof n), 0);
  }
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &conn_proto, c, sv[0], NULL, &f));
  CHECK_OK(outcome(loop, 0, f, NULL, NULL));
}

/* transport_on_pair with small socket buffers and 1 MiB written: most of
   it is still in the transport's buffer (the peer is not reading). */
static void buffered_transport_on_pair(eddy_loop_t *loop, struct conn *c, int sv[2]) {
  transport_on_pair(loop, c, sv, true);
  static const uint8_t zeros[1024 * 1024];
  CHECK_OK(eddy_transport_write(c->t, zeros, sizeof zeros));
  CHECK(eddy_transport_get_write_buffer_size(c->t) > 0);
}

/* An unlinked temporary file holding `size` bytes of pattern(). */
static int pattern_file(size_t size) {
  char path[] = "/tmp/eddy-test-sendfile-XXXXXX";
  int fd = mkostemp(path, O_CLOEXEC);
  CHECK(fd >= 0);
  unlink(path);
  uint8_t *buf = malloc(size);
  CHECK(buf != NULL);
  for (size_t i = 0; i < size; i++) buf[i] = pattern(i);
  CHECK_EQ(write(fd, buf, size), (ssize_t)size);
  free(buf);
  CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
  return fd;
}

/* Collects everything arriving on a plain socket through a loop reader. */
struct sink {
  int fd;
  uint8_t *buf;
  size_t len, cap;
  bool eof;
};
static void sink_cb(void *ud) {
  struct sink *s = ud;
  for (;;) {
    if (s->len == s->cap) {
      s->cap = s->cap ? s->cap * 2 : 65536;
      s->buf = realloc(s->buf, s->cap);
      CHECK(s->buf != NULL);
    }
    ssize_t n = recv(s->fd, s->buf + s->len, s->cap - s->len, MSG_DONTWAIT);
    if (n > 0) {
      s->len += (size_t)n;
      continue;
    }
    if (n == 0) {
      s->eof = true;
      eddy_loop_remove_reader(eddy_get_running_loop(), s->fd);
    }
    return;
  }
}

/* items 139, 140, 64: loop.sendfile on a TCP transport sends the file
   after what earlier writes buffered, returns the count and leaves the file
   position after it (docs/api.md section 12); write/writelines during it are EDDY_EBUSY;
   reading resumes afterwards */
TEST(sendfile_sends_file_after_earlier_writes_and_reading_resumes) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  static struct conn c;
  transport_on_pair(loop, &c, sv, true);
  CHECK_EQ(c.made, 1);
  eddy_transport_t *t = c.t;

  size_t pre = 512 * 1024, fsize = 1024 * 1024;
  uint8_t *pred = malloc(pre);
  CHECK(pred != NULL);
  for (size_t i = 0; i < pre; i++) pred[i] = (uint8_t)(0xA5 ^ (i * 7));
  CHECK_OK(eddy_transport_write(t, "HEAD", 4));
  CHECK_OK(eddy_transport_write(t, pred, pre));
  CHECK(eddy_transport_get_write_buffer_size(t) > 0);

  int file = pattern_file(fsize);
  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_sendfile(loop, t, file, 0, 0, false, &sf));
  CHECK(sf != NULL);
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_EBUSY);
  eddy_buf_t bufs[1] = {{"y", 1}};
  CHECK_ERR(eddy_transport_writelines(t, bufs, 1), EDDY_EBUSY);

  static struct sink sk;
  sk.fd = sv[1];
  CHECK_OK(eddy_loop_add_reader(loop, sv[1], sink_cb, &sk));
  CHECK_OK(run_once(loop));
  if (!eddy_future_done(sf)) {
    CHECK_EQ(eddy_transport_is_reading(t), 0); /* item 140 */
    CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_EBUSY);
  }
  int64_t n = -1;
  CHECK_OK(outcome(loop, 0, sf, NULL, &n));
  CHECK_EQ(n, (int64_t)fsize);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), (off_t)fsize);
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  CHECK_OK(eddy_transport_write(t, "TAIL", 4));

  size_t total = 4 + pre + fsize + 4;
  WAIT_UNTIL(loop, sk.len >= total, 10.0);
  CHECK_EQ(sk.len, total);
  CHECK(memcmp(sk.buf, "HEAD", 4) == 0);
  CHECK(memcmp(sk.buf + 4, pred, pre) == 0);
  size_t bad = SIZE_MAX;
  for (size_t i = 0; i < fsize; i++)
    if (sk.buf[4 + pre + i] != pattern(i)) {
      bad = i;
      break;
    }
  CHECK_EQ(bad, SIZE_MAX);
  CHECK(memcmp(sk.buf + 4 + pre + fsize, "TAIL", 4) == 0);

  /* reading works again */
  CHECK_EQ(send(sv[1], "ping", 4, 0), 4);
  WAIT_UNTIL(loop, c.rxlen == 4, 3.0);
  CHECK_EQ(c.rxlen, 4);
  CHECK(memcmp(c.rx, "ping", 4) == 0);

  eddy_loop_remove_reader(loop, sv[1]);
  close_transport(loop, &c);
  free(pred);
  free(sk.buf);
  close(file);
  close(sv[1]);
  close_loop(loop);
}

/* item 139, docs/api.md section 12: an offset and a count send just that slice (with
   fallback allowed), and the file position ends at offset + count */
TEST(sendfile_with_offset_and_count_sends_that_slice) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  static struct conn c;
  transport_on_pair(loop, &c, sv, false);
  int file = pattern_file(100000);
  static struct sink sk;
  sk.fd = sv[1];
  CHECK_OK(eddy_loop_add_reader(loop, sv[1], sink_cb, &sk));
  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_sendfile(loop, c.t, file, 1000, 50000, true, &sf));
  int64_t n = -1;
  CHECK_OK(outcome(loop, 0, sf, NULL, &n));
  CHECK_EQ(n, 50000);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 51000);
  WAIT_UNTIL(loop, sk.len >= 50000, 5.0);
  CHECK_EQ(sk.len, 50000);
  size_t bad = SIZE_MAX;
  for (size_t i = 0; i < 50000; i++)
    if (sk.buf[i] != pattern(1000 + i)) {
      bad = i;
      break;
    }
  CHECK_EQ(bad, SIZE_MAX);
  eddy_loop_remove_reader(loop, sv[1]);
  close_transport(loop, &c);
  free(sk.buf);
  close(file);
  close(sv[1]);
  close_loop(loop);
}

/* item 139: pipes do not support sendfile: EDDY_ENOTSUP */
TEST(sendfile_on_pipe_transport_is_enotsup) {
  eddy_loop_t *loop = new_loop();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
  static struct conn c;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_connect_write_pipe(loop, &conn_proto, &c, p[1], &f));
  CHECK_OK(outcome(loop, 0, f, NULL, NULL));
  CHECK_EQ(c.made, 1);
  int file = pattern_file(1000);
  eddy_future_t *sf = NULL;
  int rc = eddy_loop_sendfile(loop, c.t, file, 0, 0, true, &sf);
  CHECK_ERR(outcome(loop, rc, sf, NULL, NULL), EDDY_ENOTSUP);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 0);
  /* the transport is unharmed */
  CHECK_OK(eddy_transport_write(c.t, "ok", 2));
  char buf[4];
  CHECK_EQ(read(p[0], buf, sizeof buf), 2);
  close_transport(loop, &c);
  close(file);
  close(p[0]);
  close_loop(loop);
}

/* item 139: a closing transport ("Transport is closing"), and one whose
   connection is lost, are EDDY_ECLOSED */
TEST(sendfile_on_closing_or_closed_transport_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  static struct conn c;
  transport_on_pair(loop, &c, sv, false);
  eddy_transport_t *t = c.t;
  eddy_transport_retain(t);
  int file = pattern_file(1000);
  CHECK_OK(eddy_transport_close(t));
  eddy_future_t *sf = NULL;
  int rc = eddy_loop_sendfile(loop, t, file, 0, 0, true, &sf);
  CHECK_ERR(outcome(loop, rc, sf, NULL, NULL), EDDY_ECLOSED);
  WAIT_UNTIL(loop, c.lost == 1, 3.0);
  CHECK_EQ(c.lost, 1);
  sf = NULL;
  rc = eddy_loop_sendfile(loop, t, file, 0, 0, true, &sf);
  CHECK_ERR(outcome(loop, rc, sf, NULL, NULL), EDDY_ECLOSED);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 0);
  eddy_transport_release(t);
  char buf[8];
  struct pollfd pf = {sv[1], POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 2000), 1);
  CHECK_EQ(read(sv[1], buf, sizeof buf), 0); /* nothing was sent */
  close(file);
  close(sv[1]);
  close_loop(loop);
}

/* item 139: a transport closing with data still buffered takes writes
   (item 68) but no file: EDDY_ECLOSED, the file position unmoved */
TEST(sendfile_on_a_transport_closing_with_data_buffered_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  static struct conn c;
  buffered_transport_on_pair(loop, &c, sv);
  int file = pattern_file(1000);
  CHECK_OK(eddy_transport_close(c.t));
  eddy_future_t *sf = NULL;
  int rc = eddy_loop_sendfile(loop, c.t, file, 0, 0, true, &sf);
  CHECK_ERR(outcome(loop, rc, sf, NULL, NULL), EDDY_ECLOSED);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 0);
  CHECK_OK(eddy_transport_abort(c.t));
  WAIT_UNTIL(loop, c.lost == 1, 3.0);
  CHECK_EQ(c.lost, 1);
  close(file);
  close(sv[1]);
  close_loop(loop);
}

/* The bytes of /proc/self/environ: a file sendfile(2) refuses (EINVAL) that
   pread(2) reads, so it takes the read-and-send fallback. (Not
   /proc/self/cmdline: valgrind replaces that one with a regular file.) */
static size_t environ_bytes(uint8_t *buf, size_t cap) {
  int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  ssize_t n = pread(fd, buf, cap, 0);
  CHECK(n > 0);
  close(fd);
  return (size_t)n;
}

/* item 139 (asyncio's SendfileNotAvailableError): a file sendfile(2)
   cannot serve goes by reading and sending when fallback is allowed, and
   fails with EDDY_ENOTSUP when it is not, with nothing sent */
TEST(sendfile_falls_back_to_read_and_send_for_a_file_sendfile_refuses) {
  static uint8_t want[65536];
  size_t len = environ_bytes(want, sizeof want);
  eddy_loop_t *loop = new_loop();
  int sv[2];
  static struct conn c;
  transport_on_pair(loop, &c, sv, false);
  int file = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
  CHECK(file >= 0);
  static struct sink sk;
  sk.fd = sv[1];
  CHECK_OK(eddy_loop_add_reader(loop, sv[1], sink_cb, &sk));

  eddy_future_t *sf = NULL;
  int rc = eddy_loop_sendfile(loop, c.t, file, 0, sizeof want, false, &sf);
  CHECK_ERR(outcome(loop, rc, sf, NULL, NULL), EDDY_ENOTSUP);
  CHECK_EQ(eddy_transport_is_reading(c.t), 1);

  sf = NULL;
  CHECK_OK(eddy_loop_sendfile(loop, c.t, file, 0, sizeof want, true, &sf));
  int64_t n = -1;
  CHECK_OK(outcome(loop, 0, sf, NULL, &n));
  CHECK_EQ(n, (int64_t)len);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), (off_t)len);
  WAIT_UNTIL(loop, sk.len >= len, 5.0);
  CHECK_EQ(sk.len, len);
  CHECK(memcmp(sk.buf, want, len) == 0);

  eddy_loop_remove_reader(loop, sv[1]);
  close_transport(loop, &c);
  free(sk.buf);
  close(file);
  close(sv[1]);
  close_loop(loop);
}

/* A sendfile waiting for earlier writes to drain fails with EDDY_ECLOSED
   when the transport is aborted, instead of staying pending */
TEST(sendfile_waiting_for_the_buffer_fails_when_the_transport_is_aborted) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  static struct conn c;
  buffered_transport_on_pair(loop, &c, sv);
  int file = pattern_file(4096);
  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_sendfile(loop, c.t, file, 0, 0, true, &sf));
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_future_done(sf), 0);
  CHECK_OK(eddy_transport_abort(c.t));
  CHECK_ERR(outcome(loop, 0, sf, NULL, NULL), EDDY_ECLOSED);
  WAIT_UNTIL(loop, c.lost == 1, 3.0);
  CHECK_EQ(c.lost, 1);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 0);
  close(file);
  close(sv[1]);
  close_loop(loop);
}

/* A sendfile(2) blocked on a full socket stops when the transport is
   aborted: the future fails with EDDY_ECLOSED, the file position is left
   after what was sent (item 138, as asyncio), and the operation's watch on
   the fd goes before the fd is closed (the loop closes clean, no fd left) */
TEST(sendfile_in_progress_stops_when_the_transport_is_aborted) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  static struct conn c;
  transport_on_pair(loop, &c, sv, true);
  int file = pattern_file(4 * 1024 * 1024);
  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_sendfile(loop, c.t, file, 0, 0, false, &sf));
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_future_done(sf), 0); /* the peer reads nothing */
  CHECK_OK(eddy_transport_abort(c.t));
  CHECK_ERR(outcome(loop, 0, sf, NULL, NULL), EDDY_ECLOSED);
  off_t pos = lseek(file, 0, SEEK_CUR);
  CHECK(pos > 0);
  CHECK(pos < 4 * 1024 * 1024);
  WAIT_UNTIL(loop, c.lost == 1, 3.0);
  CHECK_EQ(c.lost, 1);
  /* a new socket may now get the old fd's number: nothing writes to it */
  int sv2[2];
  tcp_pair(sv2);
  CHECK_OK(run_once(loop));
  char buf[16];
  CHECK_EQ(recv(sv2[1], buf, sizeof buf, MSG_DONTWAIT), -1);
  CHECK_EQ(errno, EAGAIN);
  close(sv2[0]);
  close(sv2[1]);
  close(file);
  close(sv[1]);
  close_loop(loop);
}
