/*
 * A careless or hostile C caller (issue 14): every misuse gets an error code,
 * never an abort, an over-read, or data taken from a transport.
 *
 * One test per defect of the issue (lengths past SSIZE_MAX, unallocatable
 * sizes, two threads running one loop, fds a transport owns, unbounded TLS
 * files, lying policies), the out-parameter rule (docs/api.md section 1, conventions: an
 * out-parameter is required unless its doc says it may be NULL), long Unix
 * socket paths, and a sweep over every export that takes a length or size.
 */
#include <limits.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "test_util.h"

/* ------------------------------------------------------------- helpers */

#define BIG ((size_t)SSIZE_MAX + 1)
#define TIB ((size_t)1 << 40)

/* A stream protocol that records what arrives. */
struct srec {
  eddy_transport_t *t;
  size_t nin;
  uint8_t in[4096];
  int lost;
  int err;
  /* Buffered mode: get_buffer hands out `gbuf` and claims `gbuf_claim`. */
  size_t gbuf_claim;
  struct {
    uint8_t gbuf[32];
    uint8_t canary[256];
  } area;
  size_t updated;
};

static void s_made(eddy_transport_t *t, void *ud) { ((struct srec *)ud)->t = t; }
static void s_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  struct srec *r = ud;
  r->lost++;
  r->err = err;
}
static void s_data(eddy_transport_t *t, const uint8_t *d, size_t n, void *ud) {
  (void)t;
  struct srec *r = ud;
  if (r->nin + n <= sizeof r->in) memcpy(r->in + r->nin, d, n);
  r->nin += n;
}
static int s_get_buffer(eddy_transport_t *t, size_t hint, void **buf, size_t *len, void *ud) {
  (void)t;
  (void)hint;
  struct srec *r = ud;
  *buf = r->area.gbuf;
  *len = r->gbuf_claim;
  return 0;
}
static void s_updated(eddy_transport_t *t, size_t n, void *ud) {
  (void)t;
  ((struct srec *)ud)->updated += n;
}

static const eddy_protocol_t SREC = {s_made, s_lost, NULL, NULL, s_data, NULL, NULL, NULL};
static const eddy_protocol_t SBUF = {s_made, s_lost, NULL, NULL, NULL, NULL, s_get_buffer, s_updated};

static bool c_lost(void *a) { return ((struct srec *)a)->lost > 0; }

/* A transport over one end of a Unix stream pair; sv[0] is the peer. */
static eddy_transport_t *transport_on_pair(eddy_loop_t *loop, const eddy_protocol_t *p, struct srec *r, int sv[2]) {
  unix_pair(sv);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, p, r, sv[1], NULL, &f));
  CHECK_OK(complete(loop, f));
  eddy_future_release(f);
  CHECK(r->t != NULL);
  return r->t;
}

static void close_transport(eddy_loop_t *loop, struct srec *r) {
  CHECK_OK(eddy_transport_close(r->t));
  CHECK(run_until(loop, c_lost, r, 5.0));
}

/* Everything the peer can read now (after a few loop iterations). */
static size_t drain(eddy_loop_t *loop, int fd, uint8_t *buf, size_t cap) {
  CHECK_OK(run_for(loop, 0.02));
  size_t n = 0;
  for (;;) {
    ssize_t k = recv(fd, buf + n, cap - n, MSG_DONTWAIT);
    if (k <= 0) break;
    n += (size_t)k;
    if (n == cap) break;
  }
  return n;
}

/* The peer `fd` received exactly `want` and the transport was never lost;
   then closes both. */
static void peer_got_exactly(eddy_loop_t *loop, struct srec *r, int fd, const char *want) {
  uint8_t got[64];
  CHECK_EQ(drain(loop, fd, got, sizeof got), strlen(want));
  CHECK(memcmp(got, want, strlen(want)) == 0);
  CHECK_EQ(r->lost, 0);
  close_transport(loop, r);
  close(fd);
}

/* A mapping of `len` bytes of 'x': a buffer with plenty of readable memory
   after it, which is what made an unchecked length send the caller's
   neighbouring memory. */
static uint8_t *xmap(size_t len) {
  uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(p != MAP_FAILED);
  memset(p, 'x', len);
  return p;
}

/* A file of `size` bytes (sparse: no disk used); the caller unlinks `path`. */
static int sparse_file(char path[64], off_t size) {
  snprintf(path, 64, "/tmp/eddy-misuse-XXXXXX");
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK_EQ(ftruncate(fd, size), 0);
  return fd;
}

/* =============================================== defect 1: lengths */

/* A length past SSIZE_MAX is EDDY_EINVAL before anything is read: the
   transport stays open and the peer gets nothing of the mapping. */
TEST(transport_write_past_ssize_max_is_einval_sends_nothing_and_keeps_the_transport) {
  eddy_loop_t *loop = new_loop();
  struct srec r = {0};
  int sv[2];
  eddy_transport_t *t = transport_on_pair(loop, &SREC, &r, sv);
  size_t maplen = 8u << 20;
  uint8_t *p = xmap(maplen);
  CHECK_ERR(eddy_transport_write(t, p, SIZE_MAX), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_write(t, p, BIG), EDDY_EINVAL);
  CHECK_ERR(eddy_transport_write(t, NULL, 1), EDDY_EINVAL);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  CHECK_OK(eddy_transport_write(t, "ok", 2));
  peer_got_exactly(loop, &r, sv[0], "ok");
  munmap(p, maplen);
  close_loop(loop);
}

/* Each buffer may fit while their sum wraps: EDDY_EINVAL, nothing sent. */
TEST(transport_writelines_whose_total_overflows_is_einval_and_sends_nothing) {
  eddy_loop_t *loop = new_loop();
  struct srec r = {0};
  int sv[2];
  eddy_transport_t *t = transport_on_pair(loop, &SREC, &r, sv);
  size_t maplen = 8u << 20;
  uint8_t *p = xmap(maplen);
  eddy_buf_t wrap[3] = {{p, SSIZE_MAX}, {p, SSIZE_MAX}, {p, 2}}; /* sums to 2^64 = 0 */
  CHECK_ERR(eddy_transport_writelines(t, wrap, 3), EDDY_EINVAL);
  eddy_buf_t big[2] = {{p, 16}, {p, SIZE_MAX}};
  CHECK_ERR(eddy_transport_writelines(t, big, 2), EDDY_EINVAL);
  eddy_buf_t over[2] = {{p, SSIZE_MAX}, {p, 1}}; /* SSIZE_MAX + 1 in all */
  CHECK_ERR(eddy_transport_writelines(t, over, 2), EDDY_EINVAL);
  /* A count of buffers whose array cannot fit in memory. */
  CHECK_ERR(eddy_transport_writelines(t, big, SIZE_MAX / 2), EDDY_EINVAL);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  eddy_buf_t ok[2] = {{"a", 1}, {"b", 1}};
  CHECK_OK(eddy_transport_writelines(t, ok, 2));
  peer_got_exactly(loop, &r, sv[0], "ab");
  munmap(p, maplen);
  close_loop(loop);
}

/* The sock_* functions check their lengths before the first syscall; the
   future out-parameter is left alone. */
TEST(sock_calls_past_ssize_max_are_einval_and_touch_nothing) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  unix_pair(sv);
  int u = udp_socket();
  struct sockaddr_in to = loopback_addr(sock_port(u));
  size_t maplen = 1u << 20;
  uint8_t *p = xmap(maplen);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_sock_sendall(loop, sv[0], p, SIZE_MAX, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendall(loop, sv[0], p, BIG, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recv_into(loop, sv[1], p, SIZE_MAX, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recv_into(loop, sv[1], p, BIG, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom_into(loop, u, p, SIZE_MAX, NULL, NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendto(loop, u, p, SIZE_MAX, (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendto(loop, u, p, BIG, (struct sockaddr *)&to, sizeof to, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recv(loop, sv[1], SIZE_MAX, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_recvfrom(loop, u, SIZE_MAX, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  /* Nothing reached either peer. */
  char b[16];
  CHECK_EQ(recv(sv[1], b, sizeof b, MSG_DONTWAIT), -1);
  CHECK_EQ(errno, EAGAIN);
  CHECK_EQ(recv(u, b, sizeof b, MSG_DONTWAIT), -1);
  CHECK_EQ(errno, EAGAIN);
  /* And the fds still work. */
  CHECK_OK(eddy_loop_sock_sendall(loop, sv[0], "hi", 2, &f));
  CHECK_OK(complete(loop, f));
  eddy_future_release(f);
  CHECK_EQ(recv(sv[1], b, sizeof b, MSG_DONTWAIT), 2);
  munmap(p, maplen);
  close(u);
  close(sv[0]);
  close(sv[1]);
  close_loop(loop);
}

static void d_made(eddy_datagram_t *d, void *ud) { *(eddy_datagram_t **)ud = d; }
static void d_lost(eddy_datagram_t *d, int err, void *ud) {
  (void)d;
  (void)err;
  *(eddy_datagram_t **)ud = NULL;
}
static const eddy_datagram_protocol_t DNOP = {d_made, d_lost, NULL, NULL, NULL, NULL};
static bool c_dgone(void *a) { return *(eddy_datagram_t **)a == NULL; }

static int server_factory(void *fud, const eddy_protocol_t **proto, void **ud) {
  *proto = &SREC;
  *ud = fud;
  return 0;
}

static eddy_server_t *tcp_server(eddy_loop_t *loop, struct srec *r) {
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_server(loop, server_factory, r, "127.0.0.1", 0, NULL, &f));
  CHECK_OK(complete(loop, f));
  void *s = NULL;
  CHECK_OK(eddy_future_result(f, &s, NULL));
  eddy_server_retain(s);
  eddy_future_release(f);
  return s;
}

static void close_server(eddy_loop_t *loop, eddy_server_t *s) {
  CHECK_OK(eddy_server_close(s));
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_server_wait_closed(s, &f));
  CHECK_OK(complete(loop, f));
  eddy_future_release(f);
  eddy_server_release(s);
}

/* The sweep: every other export with a size_t length or count (grep the
   header for size_t) refuses one past what memory can hold. */
TEST(sweep_every_length_and_count_argument_past_memory_is_einval) {
  eddy_loop_t *loop = new_loop();
  size_t maplen = 1u << 20;
  uint8_t *p = xmap(maplen);
  char path[64];
  int file = sparse_file(path, 4096);
  unlink(path);

  /* eddy_datagram_sendto */
  eddy_datagram_t *d = NULL;
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_datagram_endpoint(loop, &DNOP, &d, &o, &f));
  CHECK_OK(complete(loop, f));
  eddy_future_release(f);
  CHECK(d != NULL);
  struct sockaddr_in to = loopback_addr(9);
  CHECK_ERR(eddy_datagram_sendto(d, p, SIZE_MAX, (struct sockaddr *)&to, sizeof to), EDDY_EINVAL);
  CHECK_ERR(eddy_datagram_sendto(d, p, BIG, (struct sockaddr *)&to, sizeof to), EDDY_EINVAL);
  CHECK_EQ(eddy_datagram_is_closing(d), 0);
  CHECK_EQ(eddy_datagram_get_write_buffer_size(d), 0);
  CHECK_OK(eddy_datagram_close(d));
  CHECK(run_until(loop, c_dgone, &d, 5.0));
  f = NULL;

  /* eddy_loop_sock_sendfile and eddy_loop_sendfile: an end past INT64_MAX */
  int sv[2];
  struct srec r = {0};
  eddy_transport_t *t = transport_on_pair(loop, &SREC, &r, sv);
  int tv[2];
  unix_pair(tv);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, tv[0], file, 1, SIZE_MAX, true, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, tv[0], file, 1, (size_t)INT64_MAX, true, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sendfile(loop, t, file, 1, SIZE_MAX, true, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_sendfile(loop, t, file, 1, (size_t)INT64_MAX, true, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  close_transport(loop, &r);
  close(sv[0]);
  close(tv[0]);
  close(tv[1]);

  /* eddy_server_get_sockets (cap) and the server options' nsocks */
  struct srec sr = {0};
  eddy_server_t *s = tcp_server(loop, &sr);
  int fds[4];
  size_t n = 0;
  CHECK_ERR(eddy_server_get_sockets(s, fds, SIZE_MAX, &n), EDDY_EINVAL);
  CHECK_OK(eddy_server_get_sockets(s, fds, 4, &n));
  CHECK_EQ(n, 1);
  close_server(loop, s);
  eddy_server_options_t so;
  eddy_server_options_init(&so);
  so.socks = fds;
  so.nsocks = SIZE_MAX;
  CHECK_ERR(eddy_loop_create_server(loop, server_factory, &sr, NULL, 0, &so, &f), EDDY_EINVAL);
  CHECK(f == NULL);

  /* eddy_tls_config_set_alpn_protocols (count) */
  eddy_tls_config_t *c = NULL;
  CHECK_OK(eddy_tls_config_new_client(&c));
  const char *protos[1] = {"h2"};
  CHECK_ERR(eddy_tls_config_set_alpn_protocols(c, protos, SIZE_MAX), EDDY_EINVAL);
  CHECK_OK(eddy_tls_config_set_alpn_protocols(c, protos, 1));
  eddy_tls_config_release(c);

  close(file);
  munmap(p, maplen);
  close_loop(loop);
}

/* A BufferedProtocol whose get_buffer claims more than memory holds is a
   protocol error (connection_lost(EDDY_EINVAL)); nothing is read past the
   buffer it really gave. */
TEST(get_buffer_claiming_past_ssize_max_is_a_protocol_error_and_nothing_overruns) {
  eddy_loop_t *loop = new_loop();
  struct srec r = {0};
  r.gbuf_claim = SIZE_MAX;
  memset(r.area.canary, 0xA5, sizeof r.area.canary);
  int sv[2];
  unix_pair(sv);
  uint8_t data[200];
  memset(data, 'z', sizeof data);
  CHECK_EQ(send(sv[0], data, sizeof data, 0), (ssize_t)sizeof data);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &SBUF, &r, sv[1], NULL, &f));
  CHECK_OK(complete(loop, f));
  eddy_future_release(f);
  CHECK(run_until(loop, c_lost, &r, 5.0));
  CHECK_ERR(r.err, EDDY_EINVAL);
  CHECK_EQ(r.updated, 0);
  for (size_t i = 0; i < sizeof r.area.canary; i++) CHECK_EQ(r.area.canary[i], 0xA5);
  close(sv[0]);
  close_loop(loop);
}

/* ====================================== defect 2: unallocatable sizes */

/* 1 TiB cannot be allocated here (heuristic overcommit): -ENOMEM, no
   abort, and the fd still works afterwards. */
TEST(sock_recvfrom_and_recv_of_1_tib_are_enomem_not_an_abort) {
  eddy_loop_t *loop = new_loop();
  int u = udp_socket();
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_sock_recvfrom(loop, u, TIB, &f), EDDY_ENOMEM);
  CHECK_ERR(eddy_loop_sock_recv(loop, u, TIB, &f), EDDY_ENOMEM);
  CHECK(f == NULL);
  struct sockaddr_in self = loopback_addr(sock_port(u));
  CHECK_EQ(sendto(u, "dgram", 5, 0, (struct sockaddr *)&self, sizeof self), 5);
  CHECK_OK(eddy_loop_sock_recvfrom(loop, u, 64, &f));
  CHECK_OK(complete(loop, f));
  void *msg = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, &msg, &n));
  CHECK_EQ(n, 5);
  CHECK(memcmp(((eddy_datagram_msg_t *)msg)->data, "dgram", 5) == 0);
  eddy_free(msg);
  eddy_future_release(f);
  close(u);
  close_loop(loop);
}

/* ================================= defect 3: two threads, one loop */

#define RACE_RUNS 2000

struct racer {
  eddy_loop_t *loop;
  eddy_future_t *done; /* already completed */
  int *arrived;        /* both threads of a try count themselves here */
  bool forever;
  int rc;
};

/* Always queued again, once per iteration; stops a run_forever every 20th
   iteration, so that a run lasts long enough for the other thread to try
   to enter it. Only the thread running the loop touches `ticks`. */
static unsigned ticks;
static void perpetual_stop(void *ud) {
  eddy_loop_t *loop = ud;
  if (++ticks % 20 == 0) CHECK_OK(eddy_loop_stop(loop));
  CHECK_OK(eddy_loop_call_soon(loop, perpetual_stop, loop, NULL));
}

/* One try: spins a while for the other thread to start too, so that both
   reach the entry together, and goes on alone when the other is not
   running (a loaded machine, valgrind's one thread at a time). */
static void *race_once(void *arg) {
  struct racer *r = arg;
  __atomic_add_fetch(r->arrived, 1, __ATOMIC_SEQ_CST);
  for (int spins = 0; spins < 1000000 && __atomic_load_n(r->arrived, __ATOMIC_SEQ_CST) < 2; spins++) {
  }
  r->rc = r->forever ? eddy_loop_run_forever(r->loop) : eddy_loop_run_until_complete(r->loop, r->done);
  return NULL;
}

/* Entering a run is one atomic step: of two threads trying to run one loop
   together, 2,000 times, each try either runs the loop or gets
   EDDY_ERUNNING; never a panic (before: "RefCell already borrowed",
   EDDY_EPANIC, or an abort). */
TEST(two_threads_racing_to_run_one_loop_2000_times_never_panic) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *done = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &done));
  CHECK_OK(eddy_future_set_result(done, NULL, 7));
  CHECK_OK(eddy_loop_call_soon(loop, perpetual_stop, loop, NULL));
  int refused = 0;
  for (int i = 0; i < RACE_RUNS; i++) {
    int arrived = 0;
    struct racer a = {loop, done, &arrived, true, 1};
    struct racer b = {loop, done, &arrived, (i & 1) != 0, 1};
    pthread_t ta, tb;
    CHECK_OK(pthread_create(&ta, NULL, race_once, &a));
    CHECK_OK(pthread_create(&tb, NULL, race_once, &b));
    CHECK_OK(pthread_join(ta, NULL));
    CHECK_OK(pthread_join(tb, NULL));
    if (a.rc != 0 && a.rc != EDDY_ERUNNING) HARNESS_FAIL("try %d: thread A got %s", i, eddy_err_name(a.rc));
    if (b.rc != 0 && b.rc != EDDY_ERUNNING) HARNESS_FAIL("try %d: thread B got %s", i, eddy_err_name(b.rc));
    CHECK(a.rc == 0 || b.rc == 0);
    refused += (a.rc == EDDY_ERUNNING) + (b.rc == EDDY_ERUNNING);
  }
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  printf("# %d of %d tries refused with EDDY_ERUNNING\n", refused, 2 * RACE_RUNS);
  eddy_future_release(done);
  close_loop(loop);
}

/* ================================ defect 4: fds a transport owns */

static void never_cb(void *ud) { (void)ud; HARNESS_FAIL("a watcher on a transport's fd ran"); }

static bool c_1000(void *a) { return ((struct srec *)a)->nin >= 1000; }

/* While a transport owns an fd (reading paused, 1,000 bytes waiting), every
   sock_* call and every watcher call on it is -EBUSY, and the transport
   later receives all 1,000 bytes. */
TEST(sock_calls_and_watchers_on_a_transports_fd_are_ebusy_and_take_nothing) {
  eddy_loop_t *loop = new_loop();
  struct srec r = {0};
  int sv[2];
  eddy_transport_t *t = transport_on_pair(loop, &SREC, &r, sv);
  CHECK_OK(eddy_transport_pause_reading(t));
  uint8_t out[1000];
  for (size_t i = 0; i < sizeof out; i++) out[i] = pattern(i);
  CHECK_EQ(send(sv[0], out, sizeof out, 0), 1000);
  CHECK_OK(run_for(loop, 0.01));
  int fd = sv[1];
  eddy_future_t *f = NULL;
  uint8_t buf[16];
  struct sockaddr_un peer = unix_addr("/nonexistent/eddy");
  CHECK_ERR(eddy_loop_sock_recv(loop, fd, 5, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_sock_recv_into(loop, fd, buf, sizeof buf, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_sock_recvfrom(loop, fd, 5, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_sock_recvfrom_into(loop, fd, buf, sizeof buf, NULL, NULL, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_sock_sendall(loop, fd, "x", 1, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_sock_sendto(loop, fd, "x", 1, (struct sockaddr *)&peer, sizeof peer, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_sock_connect(loop, fd, (struct sockaddr *)&peer, sizeof peer, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_sock_accept(loop, fd, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_sock_sendfile(loop, fd, 0, 0, 0, true, &f), EDDY_EBUSY);
  CHECK(f == NULL);
  CHECK_ERR(eddy_loop_add_reader(loop, fd, never_cb, NULL), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_add_writer(loop, fd, never_cb, NULL), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_remove_reader(loop, fd), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_remove_writer(loop, fd), EDDY_EBUSY);
  /* Nothing reached the peer, the transport is untouched. */
  CHECK_EQ(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), -1);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  CHECK_EQ(r.nin, 0);
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK(run_until(loop, c_1000, &r, 5.0));
  CHECK_EQ(r.nin, 1000);
  CHECK(memcmp(r.in, out, 1000) == 0);
  close_transport(loop, &r);
  close(sv[0]);
  close_loop(loop);
}

/* The same for a server's listening socket and a datagram endpoint's. */
TEST(sock_calls_on_a_servers_or_datagram_endpoints_fd_are_ebusy) {
  eddy_loop_t *loop = new_loop();
  struct srec sr = {0};
  eddy_server_t *s = tcp_server(loop, &sr);
  int lfd = -1;
  size_t n = 0;
  CHECK_OK(eddy_server_get_sockets(s, &lfd, 1, &n));
  CHECK_EQ(n, 1);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_sock_accept(loop, lfd, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_add_reader(loop, lfd, never_cb, NULL), EDDY_EBUSY);
  CHECK_EQ(eddy_server_is_serving(s), 1);
  close_server(loop, s);

  eddy_datagram_t *d = NULL;
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.local_host = "127.0.0.1";
  CHECK_OK(eddy_loop_create_datagram_endpoint(loop, &DNOP, &d, &o, &f));
  CHECK_OK(complete(loop, f));
  eddy_future_release(f);
  f = NULL;
  int dfd = -1;
  size_t len = sizeof dfd;
  CHECK_OK(eddy_datagram_get_extra_info(d, "socket", &dfd, &len));
  CHECK_ERR(eddy_loop_sock_recvfrom(loop, dfd, 64, &f), EDDY_EBUSY);
  CHECK_ERR(eddy_loop_add_reader(loop, dfd, never_cb, NULL), EDDY_EBUSY);
  CHECK(f == NULL);
  CHECK_OK(eddy_datagram_close(d));
  CHECK(run_until(loop, c_dgone, &d, 5.0));
  close_loop(loop);
}

/* =================================== defect 5: TLS files without bound */

/* PEM loaders read regular files of at most 4 MiB: /dev/zero and a FIFO
   are EDDY_EINVAL (at once: no read, no wait for a writer), a 64 MiB
   sparse file is EDDY_EFBIG. */
TEST(tls_pem_loaders_refuse_devices_fifos_and_files_past_4_mib) {
  char big[64];
  close(sparse_file(big, (off_t)64 << 20));
  char fifo[64];
  snprintf(fifo, sizeof fifo, "/tmp/eddy-misuse-fifo-%d", (int)getpid());
  CHECK_EQ(mkfifo(fifo, 0600), 0);
  eddy_tls_config_t *c = NULL;
  CHECK_OK(eddy_tls_config_new_client(&c));
  CHECK_ERR(eddy_tls_config_load_verify_locations(c, "/dev/zero"), EDDY_EINVAL);
  CHECK_ERR(eddy_tls_config_load_verify_locations(c, fifo), EDDY_EINVAL);
  CHECK_ERR(eddy_tls_config_load_verify_locations(c, big), EDDY_EFBIG);
  CHECK_ERR(eddy_tls_config_set_certificate(c, "/dev/zero", "/dev/zero"), EDDY_EINVAL);
  CHECK_ERR(eddy_tls_config_set_certificate(c, big, big), EDDY_EFBIG);
  eddy_tls_config_release(c);
  eddy_tls_config_t *s = NULL;
  CHECK_ERR(eddy_tls_config_new_server("/dev/zero", "/dev/zero", &s), EDDY_EINVAL);
  CHECK_ERR(eddy_tls_config_new_server(big, big, &s), EDDY_EFBIG);
  CHECK(s == NULL);
  unlink(big);
  unlink(fifo);
}

/* ====================================== defect 6: policies that lie */

static eddy_loop_t *made_loop;
static int lying_new(void *ud, eddy_loop_t **out) {
  (void)ud;
  (void)out;
  return 0;
}
static int lying_get(void *ud, eddy_loop_t **out) {
  (void)ud;
  *out = NULL;
  return 0;
}
static int honest_set(void *ud, eddy_loop_t *loop) {
  (void)ud;
  (void)loop;
  return 0;
}

/* A policy that returns 0 without storing a loop gives EDDY_EINVAL, and the
   caller's pointer keeps what it held (the library never reports success
   with an uninitialised pointer). */
TEST(a_policy_returning_0_without_a_loop_is_einval_and_out_is_untouched) {
  eddy_policy_t lie = {lying_get, honest_set, lying_new, NULL};
  CHECK_OK(eddy_set_event_loop_policy(&lie));
  eddy_loop_t *sentinel = (eddy_loop_t *)&made_loop;
  eddy_loop_t *out = sentinel;
  int rc_new = eddy_new_event_loop(&out);
  eddy_loop_t *out_new = out;
  out = sentinel;
  int rc_get = eddy_get_event_loop(&out);
  eddy_loop_t *out_get = out;
  CHECK_OK(eddy_set_event_loop_policy(NULL));
  CHECK_ERR(rc_new, EDDY_EINVAL);
  CHECK(out_new == sentinel);
  CHECK_ERR(rc_get, EDDY_EINVAL);
  CHECK(out_get == sentinel);
  /* The default policy is back and works. */
  eddy_loop_t *loop = new_loop();
  close_loop(loop);
}

/* ============================================= the out-parameter rule */

static int work_ran;
static int count_work(void *ud, void **p, int64_t *n) {
  (void)ud;
  (void)p;
  (void)n;
  __atomic_add_fetch(&work_ran, 1, __ATOMIC_SEQ_CST);
  return 0;
}

static void p_noop(eddy_process_t *p, void *ud) {
  (void)p;
  (void)ud;
}
static void p_lost(eddy_process_t *p, int err, void *ud) {
  (void)p;
  (void)err;
  *(int *)ud = 1;
}
static bool c_flag(void *a) { return *(int *)a != 0; }

/* Out-parameters the header does not call optional are required: NULL is
   EDDY_EINVAL and nothing is done. */
TEST(null_required_out_parameters_are_einval_and_nothing_is_done) {
  eddy_loop_t *loop = new_loop();
  /* run_in_executor: the work never runs. */
  CHECK_ERR(eddy_loop_run_in_executor(loop, NULL, count_work, NULL, NULL), EDDY_EINVAL);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_shutdown_default_executor(loop, &f));
  CHECK_OK(complete(loop, f));
  eddy_future_release(f);
  CHECK_EQ(__atomic_load_n(&work_ran, __ATOMIC_SEQ_CST), 0);

  /* A server's get_sockets (n), wait_closed and serve_forever. */
  struct srec sr = {0};
  eddy_server_t *s = tcp_server(loop, &sr);
  int fds[2];
  CHECK_ERR(eddy_server_get_sockets(s, fds, 2, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_server_wait_closed(s, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_server_serve_forever(s, NULL), EDDY_EINVAL);
  CHECK_EQ(eddy_server_is_serving(s), 1);
  size_t n = 0;
  CHECK_OK(eddy_server_get_sockets(s, NULL, 0, &n)); /* fds NULL with cap 0: the count */
  CHECK_EQ(n, 1);
  close_server(loop, s);

  /* get_returncode(p, NULL) is EINVAL while the child runs, not EINVALSTATE. */
  eddy_subprocess_protocol_t proto = {p_noop, p_lost, NULL, NULL, NULL, NULL, NULL};
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.stdin_fd = o.stdout_fd = o.stderr_fd = EDDY_SUBPROCESS_DEVNULL;
  const char *const argv[] = {"/bin/sleep", "30", NULL};
  int gone = 0;
  CHECK_OK(eddy_loop_subprocess_exec(loop, &proto, &gone, argv, &o, &f));
  CHECK_OK(complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_future_release(f);
  CHECK_ERR(eddy_process_get_returncode(p, NULL), EDDY_EINVAL);
  int rc = 0;
  CHECK_ERR(eddy_process_get_returncode(p, &rc), EDDY_EINVALSTATE);
  CHECK_OK(eddy_process_kill(p));
  CHECK(run_until(loop, c_flag, &gone, 10.0));
  close_loop(loop);
}

/* ======================================= Unix socket paths too long */

/* An error from the call or from its future. */
static int outcome(eddy_loop_t *loop, int rc, eddy_future_t *f) {
  if (rc != 0) return rc;
  rc = complete(loop, f);
  eddy_future_release(f);
  return rc;
}

/* A path longer than sun_path is -ENAMETOOLONG, not -EIO, and a stale
   socket the long path names is left in place. */
TEST(unix_socket_paths_too_long_are_enametoolong_and_remove_nothing) {
  eddy_loop_t *loop = new_loop();
  char dir[] = "/tmp/eddy-misuse-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char sock_path[64];
  snprintf(sock_path, sizeof sock_path, "%s/s", dir);
  int u = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = unix_addr(sock_path);
  CHECK_EQ(bind(u, (struct sockaddr *)&a, sizeof a), 0);
  close(u); /* a stale socket file */
  /* The same file, named by a path past sizeof(sun_path). */
  char longp[512];
  int k = snprintf(longp, sizeof longp, "%s", dir);
  while (k < 300) k += snprintf(longp + k, sizeof longp - k, "/.");
  snprintf(longp + k, sizeof longp - k, "/s");

  struct srec sr = {0};
  eddy_future_t *f = NULL;
  CHECK_ERR(outcome(loop, eddy_loop_create_unix_server(loop, server_factory, &sr, longp, NULL, &f), f), EDDY_ENAMETOOLONG);
  struct stat st;
  CHECK_EQ(stat(sock_path, &st), 0); /* still there */
  f = NULL;
  CHECK_ERR(outcome(loop, eddy_loop_create_unix_connection(loop, &SREC, &sr, longp, NULL, &f), f), EDDY_ENAMETOOLONG);
  eddy_datagram_t *d = NULL;
  eddy_datagram_options_t o;
  eddy_datagram_options_init(&o);
  o.family = AF_UNIX;
  o.local_host = longp;
  f = NULL;
  CHECK_ERR(outcome(loop, eddy_loop_create_datagram_endpoint(loop, &DNOP, &d, &o, &f), f), EDDY_ENAMETOOLONG);
  CHECK_EQ(stat(sock_path, &st), 0);
  CHECK(d == NULL);
  unlink(sock_path);
  rmdir(dir);
  close_loop(loop);
}
