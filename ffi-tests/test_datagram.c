/* Datagram endpoints: docs/semantics.md items 112-119 (section M), the datagram
   flow control of items 78-84 (section H, item 84 "the same mixin"), and
   eddy's decision on item 118 (len + 8 per queued datagram, added and
   subtracted consistently); docs/api.md sections 2 (eddy_datagram_protocol_t),
   6 (create_datagram_endpoint, eddy_datagram_options_t), 9 (datagram
   transports) and 12 ("Handed-over fds", "Closed and finished objects").
   Every protocol callback is reached through the table's function
   pointers and recorded as one letter in a log:
     M connection_made  L connection_lost  D datagram_received
     E error_received   P pause_writing    R resume_writing

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

/* A UDP port on 127.0.0.1 nobody listens on (bound, then closed). */
static uint16_t closed_udp_port(void) {
  int s = udp_socket();
  uint16_t port = local_port(s);
  close(s);
  return port;
}

/* recvfrom with a short wait; -1 when nothing came. */
static ssize_t recv_wait(int fd, void *buf, size_t len, struct sockaddr_in *from) {
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, 2000) != 1) return -1;
  socklen_t fl = sizeof *from;
  return from ? recvfrom(fd, buf, len, 0, (struct sockaddr *)from, &fl) : recv(fd, buf, len, 0);
}

/* true when nothing is waiting on fd (after a short grace period). */
static bool nothing_to_read(int fd, int ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, ms) == 0;
}

static int socket_fd_of(eddy_datagram_t *d) {
  int fd = -1;
  size_t len = sizeof fd;
  CHECK_OK(eddy_datagram_get_extra_info(d, "socket", &fd, &len));
  CHECK_EQ(len, sizeof(int));
  CHECK(fd >= 0);
  return fd;
}

static struct sockaddr_storage extra_addr(eddy_datagram_t *d, const char *key, size_t *len_out) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  size_t len = sizeof ss;
  CHECK_OK(eddy_datagram_get_extra_info(d, key, &ss, &len));
  if (len_out) *len_out = len;
  return ss;
}

/* A temporary directory for AF_UNIX socket paths. */
struct tmpdir {
  char dir[64];
};
static void tmpdir_make(struct tmpdir *t) {
  strcpy(t->dir, "/tmp/eddy-dgram-XXXXXX");
  CHECK(mkdtemp(t->dir) != NULL);
}
static void tmpdir_path(const struct tmpdir *t, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", t->dir, name);
}
static void tmpdir_remove(const struct tmpdir *t, const char *const *names) {
  char p[128];
  for (size_t i = 0; names[i]; i++) {
    tmpdir_path(t, names[i], p, sizeof p);
    unlink(p);
  }
  CHECK_EQ(rmdir(t->dir), 0);
}

/* A plain AF_UNIX datagram socket bound to `path`, not read by the loop. */
static int unix_dgram_bound(const char *path) {
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct sockaddr_un a = unix_addr(path);
  CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  return s;
}

/* ------------------------------------------------------------ the recorder */

#define MAX_LOG 4096
#define MAX_KEEP 256

struct drec {
  eddy_loop_t *loop;
  eddy_future_t *fut; /* the creation future */
  eddy_datagram_t *d; /* as given to connection_made */
  char log[MAX_LOG];
  size_t nlog;
  int made, lost, lost_err, paused, resumed, nrecv;
  int fut_done_at_made;
  int in_call;   /* set by the test around an API call */
  int sync_cbs;  /* callbacks (other than pause/resume) seen inside a call */
  size_t size_at_pause, size_at_resume;
  /* the last datagram */
  uint8_t last[MAX_KEEP];
  size_t last_len;
  struct sockaddr_storage from;
  socklen_t fromlen;
  /* lengths of every datagram, in order of arrival */
  size_t lens[1024];
  int errs[64];
  int nerr;
  bool echo; /* send each datagram back to its sender */
  int echo_rc;
};

static void rec_init(struct drec *r, eddy_loop_t *loop) {
  memset(r, 0, sizeof *r);
  r->loop = loop;
  r->fut_done_at_made = -1;
}

static void rec_log(struct drec *r, char c) { log_append_char(r->log, sizeof r->log, &r->nlog, c); }

static void on_made(eddy_datagram_t *d, void *ud) {
  struct drec *r = ud;
  rec_log(r, 'M');
  r->made++;
  r->d = d;
  if (r->fut) r->fut_done_at_made = eddy_future_done(r->fut);
  if (r->in_call) r->sync_cbs++;
  poke();
}

static void on_lost(eddy_datagram_t *d, int err, void *ud) {
  struct drec *r = ud;
  (void)d;
  rec_log(r, 'L');
  r->lost++;
  r->lost_err = err;
  if (r->in_call) r->sync_cbs++;
  poke();
}

static void on_pause(eddy_datagram_t *d, void *ud) {
  struct drec *r = ud;
  rec_log(r, 'P');
  r->paused++;
  r->size_at_pause = eddy_datagram_get_write_buffer_size(d);
  poke();
}

static void on_resume(eddy_datagram_t *d, void *ud) {
  struct drec *r = ud;
  rec_log(r, 'R');
  r->resumed++;
  r->size_at_resume = eddy_datagram_get_write_buffer_size(d);
  poke();
}

static void on_datagram(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                        socklen_t addrlen, void *ud) {
  struct drec *r = ud;
  rec_log(r, 'D');
  if (r->nrecv < 1024) r->lens[r->nrecv] = len;
  r->nrecv++;
  r->last_len = len;
  memcpy(r->last, data, len < MAX_KEEP ? len : MAX_KEEP);
  r->fromlen = addrlen;
  memset(&r->from, 0, sizeof r->from);
  if (addr && addrlen <= sizeof r->from) memcpy(&r->from, addr, addrlen);
  if (r->in_call) r->sync_cbs++;
  if (r->echo) {
    int rc = eddy_datagram_sendto(d, data, len, addr, addrlen);
    if (rc != 0) r->echo_rc = rc;
  }
  poke();
}

static void on_error(eddy_datagram_t *d, int err, void *ud) {
  struct drec *r = ud;
  (void)d;
  rec_log(r, 'E');
  if (r->nerr < 64) r->errs[r->nerr] = err;
  r->nerr++;
  if (r->in_call) r->sync_cbs++;
  poke();
}

static const eddy_datagram_protocol_t proto = {
    .connection_made = on_made,
    .connection_lost = on_lost,
    .pause_writing = on_pause,
    .resume_writing = on_resume,
    .datagram_received = on_datagram,
    .error_received = on_error,
};

/* Creates an endpoint, runs the loop until it is made and returns it
   (borrowed). Checks the start-up order: connection_made ran first, with
   the same pointer the future gives, while the future was still pending. */
static eddy_datagram_t *open_endpoint_with(eddy_loop_t *loop, struct drec *r, const eddy_datagram_options_t *o,
                                           const eddy_datagram_protocol_t *pr) {
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_datagram_endpoint(loop, pr, r, o, &f));
  CHECK(f != NULL);
  r->fut = f;
  CHECK_EQ(r->made, 0); /* never inside the call */
  eddy_handle_t *watchdog = NULL;
  CHECK_OK(eddy_loop_call_later(loop, 5.0, stop_cb, loop, &watchdog));
  int rc = eddy_loop_run_until_complete(loop, f);
  eddy_handle_cancel(watchdog);
  eddy_handle_release(watchdog);
  if (rc == EDDY_EINVALSTATE && !eddy_future_done(f))
    HARNESS_FAIL("create_datagram_endpoint's future still pending after 5 s");
  CHECK_OK(rc);
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  CHECK(p != NULL);
  CHECK_EQ(r->made, 1);
  CHECK(p == (void *)r->d);
  CHECK_EQ(r->fut_done_at_made, 0);
  CHECK_EQ(r->log[0], 'M');
  r->fut = NULL;
  eddy_future_release(f);
  return (eddy_datagram_t *)p;
}

static eddy_datagram_t *open_endpoint(eddy_loop_t *loop, struct drec *r, const eddy_datagram_options_t *o) {
  return open_endpoint_with(loop, r, o, &proto);
}

/* Closes an endpoint and waits for its connection_lost. */
static void close_endpoint(eddy_loop_t *loop, struct drec *r, eddy_datagram_t *d) {
  CHECK_OK(eddy_datagram_close(d));
  WAIT_UNTIL(loop, r->lost == 1, 5.0);
}

static void sendto_ok(struct drec *r, eddy_datagram_t *d, const void *data, size_t len, const struct sockaddr *a,
                      socklen_t alen) {
  r->in_call = 1;
  int rc = eddy_datagram_sendto(d, data, len, a, alen);
  r->in_call = 0;
  CHECK_OK(rc);
}

/* ------------------------------------------------------------ addresses */

/* items 112, 115: local_addr only: bound to it (sockname), not
   connected; start-up order as for streams (connection_made before the
   future completes); a datagram arrives with its sender's address */
TEST(local_addr_binds_the_socket_and_receives_with_sender_address) {
  eddy_loop_t *loop = new_loop();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  o.local_port = 0;
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);

  size_t len = 0;
  struct sockaddr_storage ss = extra_addr(d, "sockname", &len);
  CHECK_EQ(len, sizeof(struct sockaddr_in));
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  CHECK_EQ(sin->sin_family, AF_INET);
  CHECK_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
  CHECK(ntohs(sin->sin_port) != 0);
  int fd = socket_fd_of(d);
  CHECK_EQ(local_port(fd), ntohs(sin->sin_port));
  int type = 0;
  socklen_t tl = sizeof type;
  CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl), 0);
  CHECK_EQ(type, SOCK_DGRAM);
  CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  /* not connected */
  len = sizeof ss;
  CHECK_ERR(eddy_datagram_get_extra_info(d, "peername", &ss, &len), EDDY_ENOENT);
  len = sizeof ss;
  CHECK_ERR(eddy_datagram_get_extra_info(d, "no-such-key", &ss, &len), EDDY_ENOENT);
  /* a buffer too small: ENOBUFS and the size needed */
  char small[4];
  len = sizeof small;
  CHECK_ERR(eddy_datagram_get_extra_info(d, "sockname", small, &len), EDDY_ENOBUFS);
  CHECK_EQ(len, sizeof(struct sockaddr_in));

  int peer = udp_socket();
  struct sockaddr_in to = loopback_addr(ntohs(sin->sin_port));
  CHECK_EQ(sendto(peer, "hello", 5, 0, (struct sockaddr *)&to, sizeof to), 5);
  WAIT_UNTIL(loop, r.nrecv == 1, 5.0);
  CHECK_EQ(r.last_len, 5);
  CHECK(memcmp(r.last, "hello", 5) == 0);
  CHECK_EQ(r.fromlen, sizeof(struct sockaddr_in));
  struct sockaddr_in *from = (struct sockaddr_in *)&r.from;
  CHECK_EQ(from->sin_family, AF_INET);
  CHECK_EQ(ntohl(from->sin_addr.s_addr), INADDR_LOOPBACK);
  CHECK_EQ(ntohs(from->sin_port), local_port(peer));
  /* and back to that address */
  sendto_ok(&r, d, "back", 4, (struct sockaddr *)&r.from, r.fromlen);
  char buf[16];
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 4);
  CHECK(memcmp(buf, "back", 4) == 0);

  close_endpoint(loop, &r, d);
  CHECK_STR_EQ(r.log, "MDL");
  CHECK_EQ(r.lost_err, 0);
  CHECK_EQ(r.sync_cbs, 0);
  close(peer);
  close_loop(loop);
}

/* item 113: remote_addr: connected, "peername" set; sendto with a NULL
   address goes to the peer, so does one equal to the remote address, and
   any other address is EDDY_EINVAL (nothing sent) */
TEST(remote_addr_connects_and_sendto_enforces_the_peer_address) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  int other = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.remote_host = "127.0.0.1";
  o.remote_port = local_port(peer);
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);

  size_t len = 0;
  struct sockaddr_storage ss = extra_addr(d, "peername", &len);
  CHECK_EQ(len, sizeof(struct sockaddr_in));
  struct sockaddr_in *pn = (struct sockaddr_in *)&ss;
  CHECK_EQ(pn->sin_family, AF_INET);
  CHECK_EQ(ntohl(pn->sin_addr.s_addr), INADDR_LOOPBACK);
  CHECK_EQ(ntohs(pn->sin_port), local_port(peer));
  /* the socket itself is connected to the peer */
  int fd = socket_fd_of(d);
  struct sockaddr_in kp;
  socklen_t kl = sizeof kp;
  CHECK_EQ(getpeername(fd, (struct sockaddr *)&kp, &kl), 0);
  CHECK_EQ(ntohs(kp.sin_port), local_port(peer));
  /* connect() autobinds: sockname is a real port */
  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  uint16_t my_port = ntohs(((struct sockaddr_in *)&sn)->sin_port);
  CHECK(my_port != 0);

  char buf[32];
  struct sockaddr_in from;
  sendto_ok(&r, d, "one", 3, NULL, 0);
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, &from), 3);
  CHECK(memcmp(buf, "one", 3) == 0);
  CHECK_EQ(ntohs(from.sin_port), my_port);
  struct sockaddr_in same = loopback_addr(local_port(peer));
  sendto_ok(&r, d, "two", 3, (struct sockaddr *)&same, sizeof same);
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 3);
  CHECK(memcmp(buf, "two", 3) == 0);
  struct sockaddr_in diff = loopback_addr(local_port(other));
  CHECK_ERR(eddy_datagram_sendto(d, "three", 5, (struct sockaddr *)&diff, sizeof diff), EDDY_EINVAL);
  CHECK(nothing_to_read(other, 50));
  CHECK(nothing_to_read(peer, 0));
  /* the peer's datagrams arrive */
  struct sockaddr_in me = loopback_addr(my_port);
  CHECK_EQ(sendto(peer, "reply", 5, 0, (struct sockaddr *)&me, sizeof me), 5);
  WAIT_UNTIL(loop, r.nrecv == 1, 5.0);
  CHECK_EQ(r.last_len, 5);
  CHECK(memcmp(r.last, "reply", 5) == 0);
  CHECK_EQ(ntohs(((struct sockaddr_in *)&r.from)->sin_port), local_port(peer));
  CHECK_EQ(eddy_datagram_is_closing(d), 0);

  close_endpoint(loop, &r, d);
  CHECK_STR_EQ(r.log, "MDL");
  CHECK_EQ(r.sync_cbs, 0);
  close(peer);
  close(other);
  close_loop(loop);
}

/* items 112, 113: local and remote address together: bound to the
   local one (127.0.0.2 here, so the bind is visible) and connected to the
   remote one */
TEST(local_and_remote_addr_bind_then_connect) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.2";
  o.local_port = 0;
  o.remote_host = "127.0.0.1";
  o.remote_port = local_port(peer);
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  struct sockaddr_in *s = (struct sockaddr_in *)&sn;
  CHECK_EQ(s->sin_family, AF_INET);
  CHECK_EQ(ntohl(s->sin_addr.s_addr), 0x7f000002u);
  struct sockaddr_storage pn = extra_addr(d, "peername", NULL);
  CHECK_EQ(ntohs(((struct sockaddr_in *)&pn)->sin_port), local_port(peer));
  sendto_ok(&r, d, "x", 1, NULL, 0);
  char buf[8];
  struct sockaddr_in from;
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, &from), 1);
  CHECK_EQ(ntohl(from.sin_addr.s_addr), 0x7f000002u);
  CHECK_EQ(ntohs(from.sin_port), ntohs(s->sin_port));
  close_endpoint(loop, &r, d);
  close(peer);
  close_loop(loop);
}

/* item 112: host names are resolved (off the loop): "localhost" with
   family AF_INET gives 127.0.0.1 */
TEST(remote_host_name_is_resolved) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.family = AF_INET;
  o.remote_host = "localhost";
  o.remote_port = local_port(peer);
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  struct sockaddr_storage pn = extra_addr(d, "peername", NULL);
  struct sockaddr_in *p = (struct sockaddr_in *)&pn;
  CHECK_EQ(p->sin_family, AF_INET);
  CHECK_EQ(ntohl(p->sin_addr.s_addr), INADDR_LOOPBACK);
  sendto_ok(&r, d, "hi", 2, NULL, 0);
  char buf[8];
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 2);
  close_endpoint(loop, &r, d);
  close(peer);
  close_loop(loop);
}

/* item 114: allow_broadcast sets SO_BROADCAST; with remote_addr the
   socket is not connected (no "peername") but sendto still enforces the
   address: NULL goes there, another address is EDDY_EINVAL */
TEST(allow_broadcast_sets_so_broadcast_and_leaves_socket_unconnected) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  int other = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.remote_host = "127.0.0.1";
  o.remote_port = local_port(peer);
  o.allow_broadcast = true;
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  int fd = socket_fd_of(d);
  int v = 0;
  socklen_t vl = sizeof v;
  CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_BROADCAST, &v, &vl), 0);
  CHECK(v != 0);
  struct sockaddr_storage ss;
  size_t len = sizeof ss;
  CHECK_ERR(eddy_datagram_get_extra_info(d, "peername", &ss, &len), EDDY_ENOENT);
  struct sockaddr_in kp;
  socklen_t kl = sizeof kp;
  CHECK_EQ(getpeername(fd, (struct sockaddr *)&kp, &kl), -1);
  CHECK_EQ(errno, ENOTCONN);

  sendto_ok(&r, d, "bcast", 5, NULL, 0);
  char buf[16];
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 5);
  CHECK(memcmp(buf, "bcast", 5) == 0);
  struct sockaddr_in same = loopback_addr(local_port(peer));
  sendto_ok(&r, d, "again", 5, (struct sockaddr *)&same, sizeof same);
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 5);
  struct sockaddr_in diff = loopback_addr(local_port(other));
  CHECK_ERR(eddy_datagram_sendto(d, "no", 2, (struct sockaddr *)&diff, sizeof diff), EDDY_EINVAL);
  CHECK(nothing_to_read(other, 50));
  close_endpoint(loop, &r, d);
  close(peer);
  close(other);
  close_loop(loop);
}

/* item 114: reuse_port sets SO_REUSEPORT (and it is off by default) */
TEST(reuse_port_sets_so_reuseport) {
  eddy_loop_t *loop = new_loop();
  for (int want = 0; want <= 1; want++) {
    struct drec r;
    rec_init(&r, loop);
    eddy_datagram_options_t o;
    eddy_datagram_options_init(&o);
    o.local_host = "127.0.0.1";
    o.reuse_port = want;
    eddy_datagram_t *d = open_endpoint(loop, &r, &o);
    int fd = socket_fd_of(d);
    int v = -1;
    socklen_t vl = sizeof v;
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &vl), 0);
    CHECK_EQ(v != 0, want);
    vl = sizeof v;
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_BROADCAST, &v, &vl), 0);
    CHECK_EQ(v, 0); /* allow_broadcast is off by default */
    close_endpoint(loop, &r, d);
  }
  close_loop(loop);
}

/* items 112, 116: family only: an unbound, unconnected socket; sendto
   needs an address (none: EDDY_EINVAL, C's translation of asyncio's
   TypeError) and works with one */
TEST(family_only_creates_an_unbound_socket) {
  eddy_loop_t *loop = new_loop();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.family = AF_INET;
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  int fd = socket_fd_of(d);
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  CHECK_EQ(a.sin_family, AF_INET);
  CHECK_EQ(ntohs(a.sin_port), 0); /* not bound */
  CHECK_EQ(a.sin_addr.s_addr, htonl(INADDR_ANY));
  struct sockaddr_storage ss;
  size_t len = sizeof ss;
  CHECK_ERR(eddy_datagram_get_extra_info(d, "peername", &ss, &len), EDDY_ENOENT);
  CHECK_ERR(eddy_datagram_sendto(d, "x", 1, NULL, 0), EDDY_EINVAL);
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  int peer = udp_socket();
  struct sockaddr_in to = loopback_addr(local_port(peer));
  sendto_ok(&r, d, "addr", 4, (struct sockaddr *)&to, sizeof to);
  char buf[8];
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 4);
  run_once(loop);
  CHECK_EQ(r.lost, 0);
  CHECK_EQ(r.nerr, 0);
  close_endpoint(loop, &r, d);
  close(peer);
  close_loop(loop);
}

/* item 112: neither address and family 0: EDDY_EINVAL, nothing made
   (also with NULL options, which mean all defaults) */
TEST(no_address_and_no_family_is_einval) {
  eddy_loop_t *loop = new_loop();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  CHECK_EQ(o.sock, -1);
  CHECK_EQ(o.family, 0);
  CHECK(o.local_host == NULL && o.remote_host == NULL);
  CHECK(!o.reuse_port && !o.allow_broadcast);
  eddy_future_t *f = (eddy_future_t *)&r; /* must stay untouched */
  CHECK_ERR(eddy_loop_create_datagram_endpoint(loop, &proto, &r, &o, &f), EDDY_EINVAL);
  CHECK(f == (eddy_future_t *)&r);
  CHECK_ERR(eddy_loop_create_datagram_endpoint(loop, &proto, &r, NULL, &f), EDDY_EINVAL);
  run_once(loop);
  CHECK_EQ(r.made, 0);
  close_loop(loop);
}

/* item 112, docs/api.md section 12 "Handed-over fds": a pre-made UDP socket is used
   as is (made non-blocking) and belongs to eddy after success: closing the
   endpoint closes it */
TEST(sock_option_uses_the_given_socket_and_eddy_owns_it) {
  eddy_loop_t *loop = new_loop();
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* blocking */
  CHECK(s >= 0);
  struct sockaddr_in a = loopback_addr(0);
  CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  uint16_t port = local_port(s);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.sock = s;
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  CHECK_EQ(socket_fd_of(d), s);
  CHECK((fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  CHECK_EQ(ntohs(((struct sockaddr_in *)&sn)->sin_port), port);
  int peer = udp_socket();
  struct sockaddr_in to = loopback_addr(port);
  CHECK_EQ(sendto(peer, "via-sock", 8, 0, (struct sockaddr *)&to, sizeof to), 8);
  WAIT_UNTIL(loop, r.nrecv == 1, 5.0);
  CHECK(memcmp(r.last, "via-sock", 8) == 0);
  close_endpoint(loop, &r, d);
  CHECK(!fd_is_open(s)); /* eddy closed it */
  close(peer);
  close_loop(loop);
}

/* item 112: a connected pre-made socket: the endpoint is connected
   ("peername" from the socket; sendto NULL goes to the peer) */
TEST(sock_option_with_connected_socket_reports_peername) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  int s = udp_socket();
  struct sockaddr_in to = loopback_addr(local_port(peer));
  CHECK_EQ(connect(s, (struct sockaddr *)&to, sizeof to), 0);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.sock = s;
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  struct sockaddr_storage pn = extra_addr(d, "peername", NULL);
  CHECK_EQ(ntohs(((struct sockaddr_in *)&pn)->sin_port), local_port(peer));
  sendto_ok(&r, d, "p", 1, NULL, 0);
  char buf[4];
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 1);
  close_endpoint(loop, &r, d);
  CHECK(!fd_is_open(s));
  close(peer);
  close_loop(loop);
}

/* item 112, docs/api.md section 12: sock with any other option is EDDY_EINVAL and the
   fd stays the caller's (open, untouched) */
TEST(sock_option_with_any_other_option_is_einval_and_fd_stays_open) {
  eddy_loop_t *loop = new_loop();
  int s = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  for (int which = 0; which < 7; which++) {
    eddy_datagram_options_t o;
    eddy_datagram_options_init(&o);
    o.sock = s;
    switch (which) {
      case 0: o.local_host = "127.0.0.1"; break;
      case 1: o.local_port = 1234; break;
      case 2: o.remote_host = "127.0.0.1"; break;
      case 3: o.remote_port = 1234; break;
      case 4: o.family = AF_INET; break;
      case 5: o.reuse_port = true; break;
      case 6: o.allow_broadcast = true; break;
    }
    eddy_future_t *f = NULL;
    int rc = eddy_loop_create_datagram_endpoint(loop, &proto, &r, &o, &f);
    if (rc != EDDY_EINVAL) {
      eddy_future_release(f);
      HARNESS_FAIL("option %d with sock: got %d %s, want EDDY_EINVAL", which, rc, eddy_err_name(rc));
    }
    CHECK(fd_is_open(s));
  }
  run_once(loop);
  CHECK_EQ(r.made, 0);
  /* still a usable socket of the caller's */
  int peer = udp_socket();
  struct sockaddr_in to = loopback_addr(local_port(peer));
  CHECK_EQ(sendto(s, "mine", 4, 0, (struct sockaddr *)&to, sizeof to), 4);
  char buf[8];
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 4);
  close(s);
  close(peer);
  close_loop(loop);
}

/* item 112: a SOCK_STREAM sock is EDDY_EINVAL; the fd stays open */
TEST(sock_option_with_stream_socket_is_einval) {
  eddy_loop_t *loop = new_loop();
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.sock = s;
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_create_datagram_endpoint(loop, &proto, &r, &o, &f), EDDY_EINVAL);
  CHECK(fd_is_open(s));
  run_once(loop);
  CHECK_EQ(r.made, 0);
  close(s);
  close_loop(loop);
}

/* item 112 (AF_UNIX addresses are paths): local path bound, remote
   path connected; datagrams both ways carry the path addresses; a stale
   socket file at the local path is replaced, as asyncio does */
TEST(unix_datagram_endpoints_bind_local_path_and_connect_remote_path) {
  eddy_loop_t *loop = new_loop();
  struct tmpdir td;
  tmpdir_make(&td);
  char srv[128], cli[128];
  tmpdir_path(&td, "srv", srv, sizeof srv);
  tmpdir_path(&td, "cli", cli, sizeof cli);
  /* a stale socket file where the server binds */
  close(unix_dgram_bound(srv));
  struct stat st;
  CHECK_EQ(stat(srv, &st), 0);

  struct drec rs, rc;
  rec_init(&rs, loop);
  rec_init(&rc, loop);
  rs.echo = true;
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.family = AF_UNIX;
  o.local_host = srv;
  eddy_datagram_t *ds = open_endpoint(loop, &rs, &o);
  eddy_datagram_options_init(&o);
  o.family = AF_UNIX;
  o.local_host = cli;
  o.remote_host = srv;
  eddy_datagram_t *dc = open_endpoint(loop, &rc, &o);

  size_t len = 0;
  struct sockaddr_storage ss = extra_addr(ds, "sockname", &len);
  struct sockaddr_un *un = (struct sockaddr_un *)&ss;
  CHECK_EQ(un->sun_family, AF_UNIX);
  CHECK_STR_EQ(un->sun_path, srv);
  ss = extra_addr(dc, "peername", &len);
  CHECK_EQ(un->sun_family, AF_UNIX);
  CHECK_STR_EQ(un->sun_path, srv);
  ss = extra_addr(dc, "sockname", &len);
  CHECK_STR_EQ(un->sun_path, cli);
  int fd = socket_fd_of(dc);
  int type = 0;
  socklen_t tl = sizeof type;
  CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl), 0);
  CHECK_EQ(type, SOCK_DGRAM);

  sendto_ok(&rc, dc, "ping", 4, NULL, 0);
  WAIT_UNTIL(loop, rc.nrecv == 1, 5.0);
  CHECK_EQ(rs.nrecv, 1);
  CHECK_EQ(rs.echo_rc, 0);
  CHECK_EQ(rs.last_len, 4);
  CHECK_EQ(((struct sockaddr_un *)&rs.from)->sun_family, AF_UNIX);
  CHECK_STR_EQ(((struct sockaddr_un *)&rs.from)->sun_path, cli);
  CHECK_EQ(rc.last_len, 4);
  CHECK(memcmp(rc.last, "ping", 4) == 0);
  CHECK_STR_EQ(((struct sockaddr_un *)&rc.from)->sun_path, srv);
  /* a different path on the connected endpoint: EINVAL */
  struct sockaddr_un bad;
  memset(&bad, 0, sizeof bad);
  bad.sun_family = AF_UNIX;
  snprintf(bad.sun_path, sizeof bad.sun_path, "%s/elsewhere", td.dir);
  CHECK_ERR(eddy_datagram_sendto(dc, "x", 1, (struct sockaddr *)&bad, sizeof bad), EDDY_EINVAL);

  close_endpoint(loop, &rc, dc);
  close_endpoint(loop, &rs, ds);
  CHECK_STR_EQ(rs.log, "MDL");
  CHECK_STR_EQ(rc.log, "MDL");
  const char *names[] = {"srv", "cli", NULL};
  tmpdir_remove(&td, names);
  close_loop(loop);
}

/* The receive batch is kept between reads: a slot that last held a
   short sender address (an unnamed AF_UNIX socket: none at all) must
   take a long one whole on the next read. */
TEST(sender_address_is_whole_after_a_shorter_one_in_the_same_slot) {
  eddy_loop_t *loop = new_loop();
  struct tmpdir td;
  tmpdir_make(&td);
  char srv[128], cli[128];
  tmpdir_path(&td, "srv", srv, sizeof srv);
  tmpdir_path(&td, "a-longer-client-path", cli, sizeof cli);
  struct drec rs;
  rec_init(&rs, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.family = AF_UNIX;
  o.local_host = srv;
  eddy_datagram_t *ds = open_endpoint(loop, &rs, &o);
  struct sockaddr_un to = unix_addr(srv);

  int unnamed = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(unnamed >= 0);
  CHECK_EQ(sendto(unnamed, "a", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
  WAIT_UNTIL(loop, rs.nrecv == 1, 5.0);
  CHECK(rs.fromlen <= (socklen_t)sizeof(sa_family_t)); /* Linux: 0, no name */

  int named = unix_dgram_bound(cli);
  CHECK_EQ(sendto(named, "b", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
  WAIT_UNTIL(loop, rs.nrecv == 2, 5.0);
  CHECK_EQ(rs.fromlen, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(cli) + 1));
  CHECK_STR_EQ(((struct sockaddr_un *)&rs.from)->sun_path, cli);

  close(unnamed);
  close(named);
  close_endpoint(loop, &rs, ds);
  const char *names[] = {"srv", "a-longer-client-path", NULL};
  tmpdir_remove(&td, names);
  close_loop(loop);
}

/* ------------------------------------------------------------ traffic */

#define N_DGRAMS 1000
#define WINDOW 64

struct flood {
  struct drec r;
  eddy_datagram_t *d;
  int sent, received, dups, bad, send_err;
  unsigned char seen[N_DGRAMS];
};

static void flood_send_next(struct flood *fl) {
  char msg[32];
  int n = snprintf(msg, sizeof msg, "seq:%d", fl->sent);
  int rc = eddy_datagram_sendto(fl->d, msg, (size_t)n, NULL, 0);
  if (rc != 0) fl->send_err = rc;
  fl->sent++;
}

static void flood_received(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                           socklen_t addrlen, void *ud) {
  struct flood *fl = ud;
  (void)d;
  (void)addr;
  (void)addrlen;
  char msg[32];
  int seq = -1;
  if (len < sizeof msg) {
    memcpy(msg, data, len);
    msg[len] = '\0';
    if (sscanf(msg, "seq:%d", &seq) != 1) seq = -1;
  }
  if (seq < 0 || seq >= N_DGRAMS) {
    fl->bad++;
  } else if (fl->seen[seq]) {
    fl->dups++;
  } else {
    fl->seen[seq] = 1;
    fl->received++;
  }
  if (fl->sent < N_DGRAMS) flood_send_next(fl);
  poke();
}

static void flood_made(eddy_datagram_t *d, void *ud) { on_made(d, &((struct flood *)ud)->r); }
static void flood_lost(eddy_datagram_t *d, int err, void *ud) { on_lost(d, err, &((struct flood *)ud)->r); }
static void flood_error(eddy_datagram_t *d, int err, void *ud) { on_error(d, err, &((struct flood *)ud)->r); }

/* items 115, 117: 1000 datagrams through a local echo endpoint, at most
   64 in flight: every one comes back exactly once */
TEST(thousand_datagrams_through_an_echo_endpoint_all_accounted_for) {
  eddy_loop_t *loop = new_loop();
  struct drec echo;
  rec_init(&echo, loop);
  echo.echo = true;
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_datagram_t *de = open_endpoint(loop, &echo, &o);
  struct sockaddr_storage sn = extra_addr(de, "sockname", NULL);

  static struct flood fl;
  memset(&fl, 0, sizeof fl);
  rec_init(&fl.r, loop);
  static const eddy_datagram_protocol_t flood_proto = {
      .connection_made = flood_made,
      .connection_lost = flood_lost,
      .datagram_received = flood_received,
      .error_received = flood_error,
  };
  eddy_datagram_options_init(&o);
  o.remote_host = "127.0.0.1";
  o.remote_port = ntohs(((struct sockaddr_in *)&sn)->sin_port);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_datagram_endpoint(loop, &flood_proto, &fl, &o, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_future_release(f);
  fl.d = p;
  CHECK(fl.d != NULL && fl.d == fl.r.d);

  for (int i = 0; i < WINDOW; i++) flood_send_next(&fl);
  WAIT_UNTIL(loop, fl.received == N_DGRAMS || fl.send_err != 0, 30.0);
  CHECK_OK(fl.send_err);
  CHECK_EQ(fl.sent, N_DGRAMS);
  CHECK_EQ(fl.received, N_DGRAMS);
  CHECK_EQ(fl.dups, 0);
  CHECK_EQ(fl.bad, 0);
  CHECK_EQ(echo.nrecv, N_DGRAMS);
  CHECK_EQ(echo.echo_rc, 0);
  CHECK_EQ(echo.nerr, 0);
  CHECK_EQ(fl.r.nerr, 0);
  CHECK_OK(eddy_datagram_close(fl.d));
  WAIT_UNTIL(loop, fl.r.lost == 1, 5.0);
  close_endpoint(loop, &echo, de);
  close_loop(loop);
}

/* items 117, 115: an empty datagram is sent (the peer gets a 0-byte
   datagram) and one received arrives as datagram_received with len 0 */
TEST(empty_datagram_is_sent_and_received_with_len_0) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  o.remote_host = "127.0.0.1";
  o.remote_port = local_port(peer);
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  sendto_ok(&r, d, NULL, 0, NULL, 0);
  sendto_ok(&r, d, "", 0, NULL, 0);
  char buf[8];
  struct sockaddr_in from;
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, &from), 0);
  CHECK_EQ(from.sin_family, AF_INET); /* a real datagram, not an error */
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, &from), 0);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 0);

  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  CHECK_EQ(sendto(peer, "", 0, 0, (struct sockaddr *)&sn, sizeof(struct sockaddr_in)), 0);
  WAIT_UNTIL(loop, r.nrecv == 1, 5.0);
  CHECK_EQ(r.last_len, 0);
  CHECK_EQ(ntohs(((struct sockaddr_in *)&r.from)->sin_port), local_port(peer));
  CHECK_EQ(r.nerr, 0);
  CHECK_EQ(r.lost, 0);
  close_endpoint(loop, &r, d);
  CHECK_STR_EQ(r.log, "MDL");
  close(peer);
  close_loop(loop);
}

static void big_received(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                         socklen_t addrlen, void *ud) {
  struct drec *r = ud;
  bool ok = true;
  for (size_t i = 0; i < len; i++)
    if (data[i] != (uint8_t)(i * 7 + 3)) ok = false;
  on_datagram(d, data, len, addr, addrlen, ud);
  if (!ok) r->echo_rc = -1;
}

/* item 115: one recvfrom of up to 256 KiB per read: a 65000-byte
   datagram arrives whole */
TEST(large_datagram_arrives_whole) {
  eddy_loop_t *loop = new_loop();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_protocol_t pr = proto;
  pr.datagram_received = big_received;
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_datagram_endpoint(loop, &pr, &r, &o, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_future_release(f);
  eddy_datagram_t *d = p;
  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  int peer = udp_socket();
  int sz = 1 << 20;
  setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  size_t n = 65000;
  uint8_t *big = malloc(n);
  CHECK(big != NULL);
  for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i * 7 + 3);
  CHECK_EQ(sendto(peer, big, n, 0, (struct sockaddr *)&sn, sizeof(struct sockaddr_in)), (ssize_t)n);
  free(big);
  WAIT_UNTIL(loop, r.nrecv == 1, 5.0);
  CHECK_EQ(r.last_len, n);
  CHECK_EQ(r.echo_rc, 0);
  close_endpoint(loop, &r, d);
  close(peer);
  close_loop(loop);
}

/* ------------------------------------------------------------ errors */

/* item 116: ICMP port unreachable on a connected endpoint:
   error_received(ECONNREFUSED), not inside sendto; the endpoint stays open
   and sendto keeps working */
TEST(error_received_econnrefused_on_connected_endpoint_to_closed_port) {
  eddy_loop_t *loop = new_loop();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.remote_host = "127.0.0.1";
  o.remote_port = closed_udp_port();
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  sendto_ok(&r, d, "first", 5, NULL, 0);
  CHECK_EQ(r.nerr, 0); /* never synchronously */
  run_once(loop);
  sendto_ok(&r, d, "second", 6, NULL, 0);
  WAIT_UNTIL(loop, r.nerr >= 1, 5.0);
  CHECK_ERR(r.errs[0], EDDY_ECONNREFUSED);
  CHECK_EQ(r.sync_cbs, 0);
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  CHECK_EQ(r.lost, 0);
  /* still open: sendto works and further errors keep coming as errors */
  for (int i = 0; i < 3; i++) {
    sendto_ok(&r, d, "more", 4, NULL, 0);
    run_once(loop);
  }
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  CHECK_EQ(r.lost, 0);
  for (int i = 0; i < r.nerr && i < 64; i++) CHECK_ERR(r.errs[i], EDDY_ECONNREFUSED);
  close_endpoint(loop, &r, d);
  CHECK_EQ(r.lost_err, 0);
  CHECK_EQ(r.log[0], 'M');
  CHECK_EQ(r.log[r.nlog - 1], 'L');
  CHECK_EQ(r.sync_cbs, 0);
  close_loop(loop);
}

/* item 116: a 70,000-byte datagram: sendto returns 0,
   error_received(EMSGSIZE) follows (next iteration, not inside sendto),
   the endpoint stays open and the next datagram goes out */
TEST(oversized_datagram_gives_error_received_emsgsize_and_endpoint_stays_open) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.remote_host = "127.0.0.1";
  o.remote_port = local_port(peer);
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  size_t n = 70000;
  char *big = calloc(1, n);
  CHECK(big != NULL);
  r.in_call = 1;
  int rc = eddy_datagram_sendto(d, big, n, NULL, 0);
  r.in_call = 0;
  free(big);
  CHECK_OK(rc);
  CHECK_EQ(r.nerr, 0);
  run_once(loop);
  CHECK_EQ(r.nerr, 1);
  CHECK_ERR(r.errs[0], EDDY_EMSGSIZE);
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 0); /* not queued */
  sendto_ok(&r, d, "small", 5, NULL, 0);
  char buf[16];
  CHECK_EQ(recv_wait(peer, buf, sizeof buf, NULL), 5);
  CHECK(memcmp(buf, "small", 5) == 0);
  CHECK(nothing_to_read(peer, 20)); /* the big one never went */
  run_once(loop);
  CHECK_EQ(r.lost, 0);
  CHECK_EQ(r.nerr, 1);
  close_endpoint(loop, &r, d);
  CHECK_STR_EQ(r.log, "MEL");
  CHECK_EQ(r.sync_cbs, 0);
  close(peer);
  close_loop(loop);
}

/* ------------------------------------------------ queueing and flow control

   Over loopback UDP a send never blocks (the kernel hands each datagram to
   the receiver at once and drops it there when the receiver is full), so
   queueing is made deterministic with an AF_UNIX datagram socket whose
   receiver (a plain socket of the test's) is not read: the kernel takes at
   most net.unix.max_dgram_qlen datagrams, then sendto meets EAGAIN. */

struct unix_sink {
  struct tmpdir td;
  char path[128];
  int rx;
  size_t lens[4096];
  int n;
};

static void sink_open(struct unix_sink *s) {
  tmpdir_make(&s->td);
  tmpdir_path(&s->td, "sink", s->path, sizeof s->path);
  s->rx = unix_dgram_bound(s->path);
  s->n = 0;
}

/* Reads every datagram waiting at the sink; returns how many. */
static int sink_drain(struct unix_sink *s) {
  static uint8_t buf[70000];
  int got = 0;
  for (;;) {
    ssize_t n = recv(s->rx, buf, sizeof buf, 0);
    if (n < 0) break;
    if (s->n < 4096) s->lens[s->n] = (size_t)n;
    s->n++;
    got++;
  }
  return got;
}

static void sink_close(struct unix_sink *s) {
  close(s->rx);
  const char *names[] = {"sink", NULL};
  tmpdir_remove(&s->td, names);
}

static eddy_datagram_t *open_unix_client(eddy_loop_t *loop, struct drec *r, const char *path) {
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.family = AF_UNIX;
  o.remote_host = path;
  return open_endpoint(loop, r, &o);
}

/* Sends 100-byte datagrams until one is queued; returns how many went to
   the kernel directly (the queued one not counted). */
static int fill_until_queued(struct drec *r, eddy_datagram_t *d) {
  char msg[100];
  memset(msg, 'q', sizeof msg);
  for (int i = 0; i < 10000; i++) {
    sendto_ok(r, d, msg, sizeof msg, NULL, 0);
    if (eddy_datagram_get_write_buffer_size(d) > 0) return i;
  }
  HARNESS_FAIL("sendto never queued (10000 datagrams went straight out)");
}

/* items 118, 117 (eddy's decision on 118): a datagram is queued only on
   EAGAIN; each queued one counts len + 8; the size is the exact sum while
   queued and drops back to 0 as the queue drains, every datagram delivered
   in order */
TEST(write_buffer_size_counts_len_plus_8_per_queued_datagram) {
  eddy_loop_t *loop = new_loop();
  struct unix_sink s;
  sink_open(&s);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_unix_client(loop, &r, s.path);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 0);
  /* a small send buffer on the endpoint's own socket */
  int fd = socket_fd_of(d);
  int sz = 4096;
  CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
  int direct = fill_until_queued(&r, d);
  CHECK(direct > 0);
  size_t expect = 100 + 8;
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), expect);
  static const size_t more[] = {0, 1, 50, 1000, 7, 0, 300};
  char payload[1000];
  memset(payload, 'm', sizeof payload);
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
    sendto_ok(&r, d, payload, more[i], NULL, 0);
    expect += more[i] + 8;
    CHECK_EQ(eddy_datagram_get_write_buffer_size(d), expect);
  }
  CHECK_EQ(r.paused, 0); /* far below 64 KiB */
  /* nothing of the queue reached the kernel yet */
  CHECK_EQ(sink_drain(&s), direct);
  /* drain: the size falls back to 0 and every datagram arrives in order */
  WAIT_UNTIL(loop, (sink_drain(&s), eddy_datagram_get_write_buffer_size(d) == 0), 5.0);
  harness_sleep(0.01);
  sink_drain(&s);
  int total = direct + 1 + (int)(sizeof more / sizeof more[0]);
  CHECK_EQ(s.n, total);
  CHECK_EQ(s.lens[direct], 100);
  for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) CHECK_EQ(s.lens[direct + 1 + i], more[i]);
  CHECK_EQ(r.nerr, 0);
  CHECK_EQ(r.lost, 0);
  /* queue again after draining: the accounting starts from 0 */
  s.n = 0;
  direct = fill_until_queued(&r, d);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 108);
  WAIT_UNTIL(loop, (sink_drain(&s), eddy_datagram_get_write_buffer_size(d) == 0), 5.0);
  close_endpoint(loop, &r, d);
  CHECK_STR_EQ(r.log, "ML");
  sink_close(&s);
  close_loop(loop);
}

/* Queues 4096-byte datagrams until the size passes 64 KiB, checking that
   pause_writing comes exactly (synchronously) in the sendto that takes the
   size strictly above high = 65536, and only once. */
static int fill_until_paused(struct drec *r, eddy_datagram_t *d) {
  int sent = fill_until_queued(r, d);
  (void)sent;
  static char chunk[4096];
  memset(chunk, 'c', sizeof chunk);
  int queued = 1;
  for (int i = 0; i < 100; i++) {
    size_t before = eddy_datagram_get_write_buffer_size(d);
    CHECK_EQ(r->paused, 0);
    sendto_ok(r, d, chunk, sizeof chunk, NULL, 0);
    queued++;
    size_t after = eddy_datagram_get_write_buffer_size(d);
    CHECK_EQ(after, before + sizeof chunk + 8);
    if (after > 65536) {
      CHECK_EQ(r->paused, 1);
      CHECK_EQ(r->size_at_pause, after);
      /* once per paused period */
      sendto_ok(r, d, chunk, sizeof chunk, NULL, 0);
      queued++;
      CHECK_EQ(r->paused, 1);
      return queued;
    }
  }
  HARNESS_FAIL("the buffer never passed 64 KiB");
}

/* items 118, 84, 80, 81, 57: datagram flow control with the default
   limits (64 KiB / 16 KiB): pause_writing once, synchronously, when the
   size goes strictly above 65536; resume_writing once when it drops to
   <= 16384 while draining; every datagram delivered */
TEST(pause_writing_and_resume_writing_around_the_default_limits) {
  eddy_loop_t *loop = new_loop();
  struct unix_sink s;
  sink_open(&s);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_unix_client(loop, &r, s.path);
  int queued = fill_until_paused(&r, d);
  CHECK_EQ(r.resumed, 0);
  int direct = sink_drain(&s);
  WAIT_UNTIL(loop, (sink_drain(&s), eddy_datagram_get_write_buffer_size(d) == 0), 5.0);
  harness_sleep(0.01);
  sink_drain(&s);
  CHECK_EQ(r.paused, 1);
  CHECK_EQ(r.resumed, 1);
  CHECK(r.size_at_resume <= 16384);
  CHECK_STR_EQ(r.log, "MPR");
  CHECK_EQ(s.n, direct + queued);
  CHECK_EQ(r.sync_cbs, 0);
  close_endpoint(loop, &r, d);
  CHECK_STR_EQ(r.log, "MPRL");
  sink_close(&s);
  close_loop(loop);
}

/* item 119: close() with datagrams queued: connection_lost waits for
   the flush and every queued datagram is delivered first; sendto after
   close is EDDY_ECLOSED (header: "EDDY_ECLOSED once closing"); close is
   idempotent */
TEST(close_with_queued_datagrams_flushes_them_before_connection_lost) {
  eddy_loop_t *loop = new_loop();
  struct unix_sink s;
  sink_open(&s);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_unix_client(loop, &r, s.path);
  eddy_datagram_retain(d);
  int direct = fill_until_queued(&r, d);
  sendto_ok(&r, d, "tail", 4, NULL, 0);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 108 + 12);
  r.in_call = 1;
  CHECK_OK(eddy_datagram_close(d));
  r.in_call = 0;
  CHECK_EQ(eddy_datagram_is_closing(d), 1);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 108 + 12); /* close keeps the queue */
  CHECK_ERR(eddy_datagram_sendto(d, "late", 4, NULL, 0), EDDY_ECLOSED);
  CHECK_OK(eddy_datagram_close(d)); /* idempotent */
  for (int i = 0; i < 5; i++) run_once(loop);
  CHECK_EQ(r.lost, 0); /* not before the flush */
  WAIT_UNTIL(loop, (sink_drain(&s), r.lost == 1), 5.0);
  harness_sleep(0.01);
  sink_drain(&s);
  CHECK_EQ(s.n, direct + 2);
  CHECK_EQ(s.lens[direct], 100);
  CHECK_EQ(s.lens[direct + 1], 4);
  CHECK_EQ(r.lost_err, 0);
  CHECK_EQ(r.sync_cbs, 0);
  CHECK_STR_EQ(r.log, "ML");
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 0);
  eddy_datagram_release(d);
  sink_close(&s);
  close_loop(loop);
}

/* items 81, 84, 119: closed while paused: the queue is flushed, and
   resume_writing still comes when it drains to <= low, before
   connection_lost (item 81 has no exception for a closing transport;
   asyncio's _sendto_ready calls _maybe_resume_protocol before
   _call_connection_lost) */
TEST(close_while_paused_gives_resume_writing_before_connection_lost) {
  eddy_loop_t *loop = new_loop();
  struct unix_sink s;
  sink_open(&s);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_unix_client(loop, &r, s.path);
  int queued = fill_until_paused(&r, d);
  CHECK_OK(eddy_datagram_close(d));
  int direct = sink_drain(&s);
  WAIT_UNTIL(loop, (sink_drain(&s), r.lost == 1), 5.0);
  harness_sleep(0.01);
  sink_drain(&s);
  CHECK_EQ(s.n, direct + queued);
  CHECK_EQ(r.resumed, 1);
  CHECK(r.size_at_resume <= 16384);
  CHECK_STR_EQ(r.log, "MPRL");
  sink_close(&s);
  close_loop(loop);
}

/* items 119, 70, 84: abort() drops the queue at once (size 0),
   is_closing is 1, connection_lost(0) comes in the next iteration (not
   inside abort); a paused protocol never gets resume_writing; the queued
   datagrams never reach the peer */
TEST(abort_drops_queued_datagrams_and_connection_lost_follows_next_iteration) {
  eddy_loop_t *loop = new_loop();
  struct unix_sink s;
  sink_open(&s);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_unix_client(loop, &r, s.path);
  eddy_datagram_retain(d);
  fill_until_paused(&r, d);
  r.in_call = 1;
  CHECK_OK(eddy_datagram_abort(d));
  r.in_call = 0;
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 0);
  CHECK_EQ(eddy_datagram_is_closing(d), 1);
  CHECK_EQ(r.lost, 0);
  CHECK_OK(run_once(loop));
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.lost_err, 0);
  int direct = sink_drain(&s);
  for (int i = 0; i < 3; i++) {
    step(loop);
    sink_drain(&s);
  }
  CHECK_EQ(s.n, direct); /* nothing of the queue went out */
  int rc = eddy_datagram_abort(d); /* again: nothing more happens */
  CHECK(rc == 0 || rc == EDDY_ECLOSED);
  rc = eddy_datagram_close(d);
  CHECK(rc == 0 || rc == EDDY_ECLOSED);
  run_once(loop);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.resumed, 0);
  CHECK_STR_EQ(r.log, "MPL");
  CHECK_EQ(r.sync_cbs, 0);
  eddy_datagram_release(d);
  sink_close(&s);
  close_loop(loop);
}

/* ------------------------------------------------------------ lifecycle */

/* item 119 and eddy's "next iteration" rule; docs/api.md section 12 "Closed and
   finished objects": close() with an empty queue: is_closing at once,
   connection_lost(0) in the next iteration, never inside close(); after
   it, sendto is EDDY_ECLOSED, the protocol is gone, the socket closed; a
   retained endpoint stays a valid object */
TEST(close_gives_connection_lost_next_iteration_then_sendto_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.remote_host = "127.0.0.1";
  o.remote_port = local_port(peer);
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  eddy_datagram_retain(d);
  int fd = socket_fd_of(d);
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  r.in_call = 1;
  CHECK_OK(eddy_datagram_close(d));
  r.in_call = 0;
  CHECK_EQ(r.lost, 0);
  CHECK_EQ(eddy_datagram_is_closing(d), 1);
  CHECK_ERR(eddy_datagram_sendto(d, "x", 1, NULL, 0), EDDY_ECLOSED);
  CHECK_OK(run_once(loop));
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.lost_err, 0);
  CHECK_STR_EQ(r.log, "ML");
  CHECK_EQ(r.sync_cbs, 0);
  CHECK(!fd_is_open(fd));
  /* finished: still a valid object */
  CHECK_EQ(eddy_datagram_is_closing(d), 1);
  CHECK_ERR(eddy_datagram_sendto(d, "x", 1, NULL, 0), EDDY_ECLOSED);
  const eddy_datagram_protocol_t *pp = &proto;
  void *pud = &r;
  CHECK_OK(eddy_datagram_get_protocol(d, &pp, &pud));
  CHECK(pp == NULL);
  CHECK(pud == NULL);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 0);
  int rc = eddy_datagram_close(d);
  CHECK(rc == 0 || rc == EDDY_ECLOSED);
  run_once(loop);
  CHECK_EQ(r.lost, 1); /* once */
  CHECK(nothing_to_read(peer, 20));
  eddy_datagram_release(d);
  close(peer);
  close_loop(loop);
}

/* item 119: a datagram that arrives after close() is not delivered */
TEST(no_datagram_received_after_close) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  CHECK_EQ(sendto(peer, "late", 4, 0, (struct sockaddr *)&sn, sizeof(struct sockaddr_in)), 4);
  harness_sleep(0.01); /* it is in the socket's queue now */
  CHECK_OK(eddy_datagram_close(d));
  WAIT_UNTIL(loop, r.lost == 1, 5.0);
  CHECK_EQ(r.nrecv, 0);
  CHECK_STR_EQ(r.log, "ML");
  close(peer);
  close_loop(loop);
}

static void b_made(eddy_datagram_t *d, void *ud) { on_made(d, ud); }
static void b_lost(eddy_datagram_t *d, int err, void *ud) { on_lost(d, err, ud); }
static void b_datagram(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                       socklen_t addrlen, void *ud) {
  on_datagram(d, data, len, addr, addrlen, ud);
}

/* item 76 (as for streams), 59: set_protocol switches the callbacks
   for the next event (datagrams and connection_lost go to the new one);
   get_protocol gives the table pointer and data last set, NULL/NULL after
   connection_lost; set_protocol then is EDDY_ECLOSED */
TEST(set_protocol_switches_callbacks_and_get_protocol_reports_them) {
  eddy_loop_t *loop = new_loop();
  int peer = udp_socket();
  struct drec a, b;
  rec_init(&a, loop);
  rec_init(&b, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_datagram_t *d = open_endpoint(loop, &a, &o);
  eddy_datagram_retain(d);
  const eddy_datagram_protocol_t *pp = NULL;
  void *pud = NULL;
  CHECK_OK(eddy_datagram_get_protocol(d, &pp, &pud));
  CHECK(pp == &proto);
  CHECK(pud == &a);
  static const eddy_datagram_protocol_t proto_b = {
      .connection_made = b_made,
      .connection_lost = b_lost,
      .datagram_received = b_datagram,
  };
  CHECK_OK(eddy_datagram_set_protocol(d, &proto_b, &b));
  CHECK_OK(eddy_datagram_get_protocol(d, &pp, &pud));
  CHECK(pp == &proto_b);
  CHECK(pud == &b);
  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  CHECK_EQ(sendto(peer, "to-b", 4, 0, (struct sockaddr *)&sn, sizeof(struct sockaddr_in)), 4);
  WAIT_UNTIL(loop, b.nrecv == 1, 5.0);
  CHECK_EQ(a.nrecv, 0);
  CHECK(memcmp(b.last, "to-b", 4) == 0);
  CHECK_OK(eddy_datagram_close(d));
  WAIT_UNTIL(loop, b.lost == 1, 5.0);
  CHECK_EQ(a.lost, 0);
  CHECK_STR_EQ(a.log, "M");
  CHECK_STR_EQ(b.log, "DL");
  CHECK_EQ(b.made, 0); /* set_protocol does not call connection_made */
  CHECK_OK(eddy_datagram_get_protocol(d, &pp, &pud));
  CHECK(pp == NULL && pud == NULL);
  CHECK_ERR(eddy_datagram_set_protocol(d, &proto, &a), EDDY_ECLOSED);
  eddy_datagram_release(d);
  close(peer);
  close_loop(loop);
}

static int retain_made_calls;
static eddy_datagram_t *retained;
static void retain_in_made(eddy_datagram_t *d, void *ud) {
  (void)ud;
  retain_made_calls++;
  eddy_datagram_retain(d);
  retained = d;
}

/* docs/api.md section 1 (ownership 2, 3): an endpoint retained in connection_made stays a
   valid (closed) object after connection_lost and the loop's close until
   released; calls on it return EDDY_ECLOSED or neutral values (valgrind
   checks the accesses) */
TEST(retained_endpoint_outlives_connection_lost_and_loop_close) {
  eddy_loop_t *loop = new_loop();
  static const eddy_datagram_protocol_t p = {.connection_made = retain_in_made};
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_datagram_endpoint(loop, &p, NULL, &o, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  eddy_future_release(f);
  CHECK_EQ(retain_made_calls, 1);
  eddy_datagram_t *d = retained;
  eddy_datagram_retain(d); /* a second reference, paired below */
  eddy_datagram_release(d);
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  CHECK_OK(eddy_datagram_close(d));
  for (int i = 0; i < 3; i++) run_once(loop);
  close_loop(loop);
  CHECK_EQ(eddy_datagram_is_closing(d), 1);
  CHECK_ERR(eddy_datagram_sendto(d, "x", 1, NULL, 0), EDDY_ECLOSED);
  size_t len = 16;
  char buf[16];
  int rc = eddy_datagram_get_extra_info(d, "sockname", buf, &len);
  CHECK(rc == EDDY_ENOENT || rc == EDDY_ECLOSED);
  eddy_datagram_release(d);
}

/* item 119: an endpoint still open when the loop closes is closed
   without calling back, and its socket is closed (harness fd check) */
TEST(loop_close_closes_open_endpoint_without_calling_back) {
  eddy_loop_t *loop = new_loop();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  int fd = socket_fd_of(d);
  close_loop(loop);
  CHECK_EQ(r.lost, 0);
  CHECK(!fd_is_open(fd));
}

/* docs/semantics.md "Reading them as C": NULL and invalid arguments are
   EDDY_EINVAL, never a crash; NULL handles to retain/release are no-ops */
TEST(null_arguments_are_einval) {
  eddy_loop_t *loop = new_loop();
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_create_datagram_endpoint(NULL, &proto, &r, &o, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_create_datagram_endpoint(loop, NULL, &r, &o, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  eddy_datagram_options_init(NULL); /* no crash */

  CHECK_ERR(eddy_datagram_sendto(NULL, "x", 1, NULL, 0), EDDY_EINVAL);
  CHECK_ERR(eddy_datagram_abort(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_datagram_close(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_datagram_is_closing(NULL), EDDY_EINVAL);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(NULL), 0);
  size_t len = 16;
  char buf[16];
  CHECK_ERR(eddy_datagram_get_extra_info(NULL, "sockname", buf, &len), EDDY_EINVAL);
  CHECK_ERR(eddy_datagram_set_protocol(NULL, &proto, &r), EDDY_EINVAL);
  const eddy_datagram_protocol_t *pp = NULL;
  void *pud = NULL;
  CHECK_ERR(eddy_datagram_get_protocol(NULL, &pp, &pud), EDDY_EINVAL);
  eddy_datagram_retain(NULL);
  eddy_datagram_release(NULL);

  eddy_datagram_t *d = open_endpoint(loop, &r, &o);
  CHECK_ERR(eddy_datagram_sendto(d, NULL, 5, NULL, 0), EDDY_EINVAL); /* data NULL with len > 0 */
  struct sockaddr_in to = loopback_addr(9);
  CHECK_ERR(eddy_datagram_sendto(d, "x", 1, (struct sockaddr *)&to, 3), EDDY_EINVAL); /* short addrlen */
  CHECK_ERR(eddy_datagram_get_extra_info(d, NULL, buf, &len), EDDY_EINVAL);
  CHECK_ERR(eddy_datagram_get_extra_info(d, "sockname", buf, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_datagram_set_protocol(d, NULL, &r), EDDY_EINVAL);
  /* the endpoint is unharmed */
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  CHECK_OK(eddy_datagram_get_protocol(d, &pp, &pud));
  CHECK(pp == &proto && pud == &r);
  run_once(loop);
  CHECK_EQ(r.nerr, 0);
  CHECK_EQ(r.lost, 0);
  close_endpoint(loop, &r, d);
  CHECK_STR_EQ(r.log, "ML");
  /* the out-parameter is not one of the optional ("may be NULL") ones */
  struct drec r2;
  rec_init(&r2, loop);
  CHECK_ERR(eddy_loop_create_datagram_endpoint(loop, &proto, &r2, &o, NULL), EDDY_EINVAL);
  run_once(loop);
  CHECK_EQ(r2.made, 0);
  close_loop(loop);
}

/* docs/api.md section 1 (errors): create_datagram_endpoint on a closed loop: EDDY_ECLOSED */
TEST(create_on_closed_loop_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_create_datagram_endpoint(loop, &proto, &r, &o, &f), EDDY_ECLOSED);
  eddy_loop_release(loop);
}

/* ------------------------------------------- batched receiving and sending

   eddy reads a burst of datagrams with one recvmmsg and flushes its queue
   with sendmmsg; what the protocol sees must not change: one
   datagram_received per datagram, in order, each whole; queued datagrams
   leave in order; a datagram the kernel refuses is reported and the rest
   still go. */

static char payload_scratch[64];
static const size_t *burst_lens;
static int burst_count;

static uint8_t burst_byte(int i, size_t j) { return (uint8_t)(i * 31 + j * 7 + 1); }

/* Checks datagram number nrecv against burst_lens and its byte pattern;
   the first mismatch goes to echo_rc as -(1 + its index). */
static void burst_received(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                           socklen_t addrlen, void *ud) {
  struct drec *r = ud;
  int i = r->nrecv;
  bool ok = i < burst_count && len == burst_lens[i];
  for (size_t j = 0; ok && j < len; j++)
    if (data[j] != burst_byte(i, j)) ok = false;
  on_datagram(d, data, len, addr, addrlen, ud);
  if (!ok && r->echo_rc == 0) r->echo_rc = -(1 + i);
}

/* An endpoint bound to `local` (family 0: 127.0.0.1, any port; AF_UNIX: a
   path) with the recorder's protocol but `received` as its
   datagram_received. */
static eddy_datagram_t *open_receiving_with(eddy_loop_t *loop, struct drec *r, int family, const char *local,
                                            void (*received)(eddy_datagram_t *, const uint8_t *, size_t,
                                                             const struct sockaddr *, socklen_t, void *)) {
  eddy_datagram_protocol_t pr = proto;
  pr.datagram_received = received;
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.family = family;
  o.local_host = local;
  return open_endpoint_with(loop, r, &o, &pr);
}

/* Sends burst_lens' datagrams with the burst pattern from fd (blocking
   sends on a plain socket). */
static void send_burst(int fd, const struct sockaddr *to, socklen_t tolen) {
  static uint8_t buf[200000];
  for (int i = 0; i < burst_count; i++) {
    for (size_t j = 0; j < burst_lens[i]; j++) buf[j] = burst_byte(i, j);
    CHECK_EQ(sendto(fd, buf, burst_lens[i], 0, to, tolen), (ssize_t)burst_lens[i]);
  }
}

/* item 115, 117: 100 datagrams of mixed sizes (0 bytes, MTU-sized, a
   65,507-byte one: the largest IPv4 UDP payload) queued before the loop
   reads: one datagram_received each, in order, byte-exact, all from the
   sender's address; and more than one arrives in the first iteration (one
   recvmmsg where asyncio makes one recvfrom per iteration) */
TEST(burst_of_100_queued_udp_datagrams_arrives_in_order_whole_one_callback_each) {
  static size_t lens[100];
  static const size_t cycle[] = {0, 1, 17, 512, 1472, 0, 3000, 9000};
  for (int i = 0; i < 100; i++) lens[i] = cycle[i % 8];
  lens[40] = 65507;
  lens[73] = 32768;
  burst_lens = lens;
  burst_count = 100;
  eddy_loop_t *loop = new_loop();
  CHECK(loop != NULL);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_receiving_with(loop, &r, 0, "127.0.0.1", burst_received);
  int rcv = 4 << 20; /* room for the whole burst in the kernel */
  CHECK_EQ(setsockopt(socket_fd_of(d), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv), 0);
  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  int peer = udp_socket();
  send_burst(peer, (struct sockaddr *)&sn, sizeof(struct sockaddr_in));
  run_once(loop);
  CHECK(r.nrecv > 1);
  WAIT_UNTIL(loop, r.nrecv >= 100, 5.0);
  CHECK_EQ(r.echo_rc, 0);
  CHECK_EQ(r.nrecv, 100);
  CHECK_EQ(ntohs(((struct sockaddr_in *)&r.from)->sin_port), local_port(peer));
  CHECK_EQ(r.nerr, 0);
  run_once(loop);
  CHECK_EQ(r.nrecv, 100); /* nothing twice */
  close_endpoint(loop, &r, d);
  close(peer);
  close_loop(loop);
}

/* item 115: AF_UNIX datagrams may exceed a UDP receive slot (64 KiB):
   a burst with 200,000-, 100,000- and 70,000-byte datagrams among small
   and empty ones arrives whole and in order */
TEST(burst_of_unix_datagrams_larger_than_64_kib_arrives_whole_and_in_order) {
  static const size_t lens[] = {0, 200000, 5, 100000, 1, 70000, 0, 3};
  burst_lens = lens;
  burst_count = 8;
  eddy_loop_t *loop = new_loop();
  CHECK(loop != NULL);
  struct tmpdir td;
  tmpdir_make(&td);
  char path[128];
  tmpdir_path(&td, "ep", path, sizeof path);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_receiving_with(loop, &r, AF_UNIX, path, burst_received);
  int peer = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(peer >= 0);
  int snd = 2 << 20; /* the whole burst charged to the sender at once */
  CHECK_EQ(setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd), 0);
  struct sockaddr_un to = unix_addr(path);
  send_burst(peer, (struct sockaddr *)&to, sizeof to);
  run_once(loop);
  CHECK(r.nrecv > 1);
  WAIT_UNTIL(loop, r.nrecv >= 8, 5.0);
  CHECK_EQ(r.echo_rc, 0);
  CHECK_EQ(r.nrecv, 8);
  CHECK_EQ(r.nerr, 0);
  close_endpoint(loop, &r, d);
  close(peer);
  const char *names[] = {"ep", NULL};
  tmpdir_remove(&td, names);
  close_loop(loop);
}

/* An unbound AF_UNIX endpoint that sends to any path. */
static eddy_datagram_t *open_unix_unconnected(eddy_loop_t *loop, struct drec *r) {
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.family = AF_UNIX;
  return open_endpoint(loop, r, &o);
}

/* Sends 100-byte datagrams to `to` until one is queued; returns how many
   went to the kernel directly. */
static int fill_to_until_queued(struct drec *r, eddy_datagram_t *d, const struct sockaddr_un *to) {
  char msg[100];
  memset(msg, 'q', sizeof msg);
  for (int i = 0; i < 10000; i++) {
    sendto_ok(r, d, msg, sizeof msg, (const struct sockaddr *)to, sizeof *to);
    if (eddy_datagram_get_write_buffer_size(d) > 0) return i;
  }
  HARNESS_FAIL("sendto never queued (10000 datagrams went straight out)");
}

/* item 117, 118: once one sendto meets EAGAIN (sink A full), the
   datagrams to B, C and A behind it are queued, none reaches the kernel
   early, and when A drains the queue leaves in order: each sink gets its
   datagrams in the order they were sent; the size falls back to 0 */
TEST(queued_datagrams_to_several_addresses_are_flushed_in_order) {
  eddy_loop_t *loop = new_loop();
  CHECK(loop != NULL);
  struct unix_sink a, b, c;
  sink_open(&a);
  sink_open(&b);
  sink_open(&c);
  struct sockaddr_un aa = unix_addr(a.path), ba = unix_addr(b.path), ca = unix_addr(c.path);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_unix_unconnected(loop, &r);
  int direct = fill_to_until_queued(&r, d, &aa);
  CHECK(direct > 0);
  size_t expect = 100 + 8;
  char payload[64];
  memset(payload, 'p', sizeof payload);
  for (size_t k = 0; k < 8; k++) {
    sendto_ok(&r, d, payload, 10 + k, (struct sockaddr *)&ba, sizeof ba);
    sendto_ok(&r, d, payload, 20 + k, (struct sockaddr *)&ca, sizeof ca);
    sendto_ok(&r, d, payload, 30 + k, (struct sockaddr *)&aa, sizeof aa);
    expect += 10 + k + 20 + k + 30 + k + 3 * 8;
  }
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), expect);
  CHECK_EQ(sink_drain(&b), 0);
  CHECK_EQ(sink_drain(&c), 0);
  WAIT_UNTIL(loop, (sink_drain(&a), eddy_datagram_get_write_buffer_size(d) == 0), 5.0);
  harness_sleep(0.01);
  sink_drain(&a);
  sink_drain(&b);
  sink_drain(&c);
  CHECK_EQ(b.n, 8);
  CHECK_EQ(c.n, 8);
  CHECK_EQ(a.n, direct + 1 + 8);
  CHECK_EQ(a.lens[direct], 100);
  for (int k = 0; k < 8; k++) {
    CHECK_EQ(b.lens[k], (size_t)(10 + k));
    CHECK_EQ(c.lens[k], (size_t)(20 + k));
    CHECK_EQ(a.lens[direct + 1 + k], (size_t)(30 + k));
  }
  CHECK_EQ(r.nerr, 0);
  close_endpoint(loop, &r, d);
  CHECK_STR_EQ(r.log, "ML");
  sink_close(&a);
  sink_close(&b);
  sink_close(&c);
  close_loop(loop);
}

/* item 116: in a flushed queue, a datagram larger than the socket's
   send buffer (EMSGSIZE) gives one error_received(EMSGSIZE) and is
   dropped; the datagrams before and after it still arrive, in order, and
   the endpoint stays open */
TEST(a_refused_datagram_in_a_flushed_queue_gives_error_received_and_the_rest_still_go) {
  eddy_loop_t *loop = new_loop();
  CHECK(loop != NULL);
  struct unix_sink a, b;
  sink_open(&a);
  sink_open(&b);
  struct sockaddr_un aa = unix_addr(a.path), ba = unix_addr(b.path);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_unix_unconnected(loop, &r);
  int snd = 65536; /* the kernel doubles it: 128 KiB */
  CHECK_EQ(setsockopt(socket_fd_of(d), SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd), 0);
  int direct = fill_to_until_queued(&r, d, &aa);
  size_t big_len = 300000;
  char *big = calloc(1, big_len);
  CHECK(big != NULL);
  sendto_ok(&r, d, "x", 1, (struct sockaddr *)&ba, sizeof ba);
  sendto_ok(&r, d, big, big_len, (struct sockaddr *)&ba, sizeof ba);
  sendto_ok(&r, d, "yy", 2, (struct sockaddr *)&ba, sizeof ba);
  sendto_ok(&r, d, "zzz", 3, (struct sockaddr *)&aa, sizeof aa);
  free(big);
  CHECK_EQ(r.nerr, 0);
  WAIT_UNTIL(loop, (sink_drain(&a), eddy_datagram_get_write_buffer_size(d) == 0), 5.0);
  harness_sleep(0.01);
  sink_drain(&a);
  sink_drain(&b);
  CHECK_EQ(r.nerr, 1);
  CHECK_ERR(r.errs[0], EDDY_EMSGSIZE);
  CHECK_EQ(b.n, 2);
  CHECK_EQ(b.lens[0], 1);
  CHECK_EQ(b.lens[1], 2);
  CHECK_EQ(a.n, direct + 2);
  CHECK_EQ(a.lens[direct + 1], 3);
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  CHECK_EQ(r.lost, 0);
  sendto_ok(&r, d, "again", 5, (struct sockaddr *)&ba, sizeof ba);
  CHECK_EQ(recv_wait(b.rx, payload_scratch, sizeof payload_scratch, NULL), 5);
  CHECK_EQ(r.sync_cbs, 0);
  close_endpoint(loop, &r, d);
  sink_close(&a);
  sink_close(&b);
  close_loop(loop);
}

/* Echoes each datagram; closes the endpoint in the 10th datagram_received. */
static void echo_then_close_at_10(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                                  socklen_t addrlen, void *ud) {
  struct drec *r = ud;
  on_datagram(d, data, len, addr, addrlen, ud);
  int rc = eddy_datagram_sendto(d, data, len, addr, addrlen);
  if (rc != 0) r->echo_rc = rc;
  if (r->nrecv == 10) CHECK_OK(eddy_datagram_close(d));
}

/* item 115, 117, 119: replies sent from datagram_received while a
   burst is delivered all go out, in order, byte-exact, also the ones sent
   just before close() in the same burst; after close() no datagram is
   delivered, and connection_lost comes after the replies left */
TEST(replies_sent_during_a_burst_arrive_in_order_even_when_close_follows) {
  static size_t lens[20];
  for (int i = 0; i < 20; i++) lens[i] = (size_t)(i * 13 % 200);
  burst_lens = lens;
  burst_count = 20;
  eddy_loop_t *loop = new_loop();
  CHECK(loop != NULL);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_receiving_with(loop, &r, 0, "127.0.0.1", echo_then_close_at_10);
  struct sockaddr_storage sn = extra_addr(d, "sockname", NULL);
  int peer = udp_socket();
  send_burst(peer, (struct sockaddr *)&sn, sizeof(struct sockaddr_in));
  WAIT_UNTIL(loop, r.lost == 1, 5.0);
  CHECK_EQ(r.nrecv, 10);
  CHECK_EQ(r.echo_rc, 0);
  uint8_t buf[256];
  for (int i = 0; i < 10; i++) {
    ssize_t n = recv_wait(peer, buf, sizeof buf, NULL);
    CHECK_EQ(n, (ssize_t)lens[i]);
    for (size_t j = 0; j < lens[i]; j++) CHECK_EQ(buf[j], burst_byte(i, j));
  }
  CHECK(nothing_to_read(peer, 20));
  CHECK_EQ(r.log[r.nlog - 1], 'L');
  CHECK_EQ(r.nerr, 0);
  close(peer);
  close_loop(loop);
}

/* A plain socket's datagrams as they are read: their lengths, in order. */
struct peer_reader {
  int fd, n;
  size_t lens[64];
};

static void peer_read_all(struct peer_reader *p) {
  uint8_t buf[256];
  ssize_t n;
  while ((n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT)) >= 0) {
    if (p->n < 64) p->lens[p->n] = (size_t)n;
    p->n++;
  }
}

/* Echoes each datagram; closes the endpoint in the 4th datagram_received. */
static void echo_then_close_at_4(eddy_datagram_t *d, const uint8_t *data, size_t len, const struct sockaddr *addr,
                                 socklen_t addrlen, void *ud) {
  struct drec *r = ud;
  on_datagram(d, data, len, addr, addrlen, ud);
  int rc = eddy_datagram_sendto(d, data, len, addr, addrlen);
  if (rc != 0) r->echo_rc = rc;
  if (r->nrecv == 4) CHECK_OK(eddy_datagram_close(d));
}

/* item 117, 119: replies sent during a burst that find the peer full
   (EAGAIN) are queued, and a close() in the same burst waits for them:
   they arrive once the peer reads, then connection_lost */
TEST(replies_of_a_burst_that_meet_eagain_are_queued_and_close_waits_for_them) {
  static const size_t lens[] = {3, 0, 40, 7};
  burst_lens = lens;
  burst_count = 4;
  FILE *f = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
  CHECK(f != NULL);
  int qlen = 0;
  CHECK_EQ(fscanf(f, "%d", &qlen), 1);
  fclose(f);
  eddy_loop_t *loop = new_loop();
  CHECK(loop != NULL);
  struct tmpdir td;
  tmpdir_make(&td);
  char ep_path[128], peer_path[128];
  tmpdir_path(&td, "ep", ep_path, sizeof ep_path);
  tmpdir_path(&td, "peer", peer_path, sizeof peer_path);
  struct drec r;
  rec_init(&r, loop);
  eddy_datagram_t *d = open_receiving_with(loop, &r, AF_UNIX, ep_path, echo_then_close_at_4);
  int peer = unix_dgram_bound(peer_path);
  struct sockaddr_un pa = unix_addr(peer_path), ea = unix_addr(ep_path);
  /* the peer's queue full of the endpoint's own datagrams (so that the
     peer reading them makes the endpoint writable again) */
  char fill[100];
  memset(fill, 'f', sizeof fill);
  for (int i = 0; i <= qlen; i++) sendto_ok(&r, d, fill, sizeof fill, (struct sockaddr *)&pa, sizeof pa);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 0);
  send_burst(peer, (struct sockaddr *)&ea, sizeof ea);
  WAIT_UNTIL(loop, r.nrecv == 4, 5.0);
  CHECK_EQ(r.echo_rc, 0);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 3 + 0 + 40 + 7 + 4 * 8);
  CHECK_EQ(r.lost, 0); /* close() waits for the queued replies */
  struct peer_reader rd = {.fd = peer};
  WAIT_UNTIL(loop, (peer_read_all(&rd), r.lost == 1), 5.0);
  peer_read_all(&rd);
  CHECK_EQ(rd.n, qlen + 1 + 4);
  for (int i = 0; i < 4; i++) CHECK_EQ(rd.lens[qlen + 1 + i], lens[i]);
  CHECK_EQ(r.nerr, 0);
  CHECK_EQ(r.log[r.nlog - 1], 'L');
  close(peer);
  const char *names[] = {"ep", "peer", NULL};
  tmpdir_remove(&td, names);
  close_loop(loop);
}
