/*
 * A seeded fuzzer of eddy API sequences (issue 14). Built with ASan+UBSan
 * (`make fuzz`), using only the public header.
 *
 *   api_seq FIRST COUNT   run seeds FIRST .. FIRST+COUNT-1, each in a forked
 *                         child; one `PASS seed N` / `FAIL seed N (...)` line
 *                         per seed, then `N passed, M failed`
 *   api_seq -s SEED       run one seed in this process (to reproduce, gdb)
 *
 * Per seed, a random sequence mixes: timers (call_later, call_at, cancel),
 * call_soon, call_soon_threadsafe from another thread, futures (set_result,
 * cancel, done callbacks), tasks (yield, await, cancel), stream transports
 * over socketpairs (connect_accepted_socket) and over TCP (create_server +
 * create_connection on 127.0.0.1:0) with writes, writelines, write_eof,
 * pause/resume reading, buffer limits, close and abort, children
 * (/bin/true, /bin/cat fed through its stdin pipe, kill), sock_sendall and
 * sock_recv on the fuzzer's own socketpairs, executor jobs, loop stops from
 * callbacks, and either a drain (everything finishes) or a loop close at a
 * random point.
 *
 * It checks: every callback runs at most once, and exactly once after a
 * drain; call_soon callbacks in FIFO order, threadsafe ones in the order one
 * thread queued them; timers by deadline then FIFO (a timer never runs
 * while an older timer with an earlier or equal deadline is pending); future
 * done callbacks in registration order; protocol callbacks in the order
 * connection_made, data_received*, eof_received, connection_lost, and
 * pause_writing/resume_writing alternating; stream bytes position-exact
 * (each byte is a function of its offset in the stream), and after
 * eof_received from a peer that closed gracefully, exactly the bytes it
 * wrote; cat's output equal to its input; nothing runs after
 * eddy_loop_close returned; close returns 0; no fd left open.
 *
 * Threads and the network make a run depend on timing, so a seed replays
 * the same operations but not always the same interleaving.
 */
#include <eddy.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

/* ------------------------------------------------------------ basics */

static unsigned long long cur_seed;
static int cur_line; /* the driver's step, for failure reports */

__attribute__((noreturn, format(printf, 2, 3))) static void fail_at(int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "FAIL seed %llu (step %d): fuzz/api_seq.c:%d: ", cur_seed, cur_line, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(3);
}
#define FAIL(...) fail_at(__LINE__, __VA_ARGS__)
#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c)) FAIL("%s", #c);                                                                      \
  } while (0)
#define CHECK_OK(e)                                                                                \
  do {                                                                                             \
    int rc_ = (e);                                                                                 \
    if (rc_ != 0) FAIL("%s returned %d %s", #e, rc_, eddy_err_name(rc_));                          \
  } while (0)

static uint64_t rng;
static uint64_t rnd(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ULL;
}
static unsigned below(unsigned n) { return n ? (unsigned)(rnd() % n) : 0; }
static bool chance(unsigned percent) { return below(100) < percent; }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The byte at offset `pos` of every stream: a shifted, dropped or repeated
   byte does not match. */
static uint8_t pattern(uint64_t pos) { return (uint8_t)((pos ^ (pos >> 8) ^ (pos >> 16)) * 31u + 7u); }

static uint8_t *pattern_buf(uint64_t from, size_t len) {
  uint8_t *b = malloc(len ? len : 1);
  CHECK(b != NULL);
  for (size_t i = 0; i < len; i++) b[i] = pattern(from + i);
  return b;
}

static void check_pattern(const uint8_t *data, size_t len, uint64_t from, const char *what) {
  for (size_t i = 0; i < len; i++)
    if (data[i] != pattern(from + i))
      FAIL("%s: byte %llu is %u, want %u", what, (unsigned long long)(from + i), data[i],
           pattern(from + i));
}

/* Open fds, as a bitmap of the first 1024. */
static void scan_fds(bool open[1024]) {
  memset(open, 0, 1024);
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd != dirfd(d) && fd < 1024) open[fd] = true;
  }
  closedir(d);
}

/* ------------------------------------------------------------ state */

static eddy_loop_t *loop;
static bool loop_closed;   /* eddy_loop_close returned */
static bool draining;      /* the end phase: no new random operations */
static int op_budget;      /* random operations callbacks may still start */

static void random_op(void);

/* Every callback goes through this first. */
static void in_callback(const char *what) {
  if (loop_closed) FAIL("%s ran after eddy_loop_close returned", what);
}

/* --- timers and call_soon --- */

#define MAXTIMERS 96
struct timer {
  eddy_handle_t *h;
  double when;
  unsigned seq;
  int fired;
  bool cancelled;
};
static struct timer timers[MAXTIMERS];
static int ntimers;

static void timer_cb(void *ud) {
  struct timer *t = ud;
  in_callback("a timer");
  if (t->cancelled) FAIL("timer %u ran after it was cancelled", t->seq);
  if (t->fired++) FAIL("timer %u ran twice", t->seq);
  for (int i = 0; i < ntimers; i++) {
    struct timer *o = &timers[i];
    if (o->seq < t->seq && !o->cancelled && !o->fired && o->when <= t->when)
      FAIL("timer %u (when %.6f) ran before older timer %u (when %.6f)", t->seq, t->when, o->seq,
           o->when);
  }
  if (!draining && op_budget > 0 && chance(30)) {
    op_budget--;
    random_op();
  }
  if (chance(5)) eddy_loop_stop(loop);
}

static void op_timer(void) {
  if (ntimers == MAXTIMERS) return;
  struct timer *t = &timers[ntimers];
  t->seq = (unsigned)ntimers;
  double delay = below(4) == 0 ? 0.0 : (double)below(30) / 1000.0;
  if (chance(10)) delay = -0.001;
  if (chance(50)) {
    CHECK_OK(eddy_loop_call_later(loop, delay, timer_cb, t, &t->h));
  } else {
    /* The same deadline again, sometimes: equal deadlines run FIFO. */
    double when = ntimers > 0 && chance(30) ? timers[below((unsigned)ntimers)].when
                                            : eddy_loop_time(loop) + delay;
    CHECK_OK(eddy_loop_call_at(loop, when, timer_cb, t, &t->h));
  }
  CHECK_OK(eddy_handle_when(t->h, &t->when));
  ntimers++;
}

static void op_cancel_timer(void) {
  if (ntimers == 0) return;
  struct timer *t = &timers[below((unsigned)ntimers)];
  if (t->fired || t->cancelled) return;
  CHECK_OK(eddy_handle_cancel(t->h));
  CHECK(eddy_handle_cancelled(t->h) == 1);
  t->cancelled = true;
}

#define MAXSOON 256
struct soon {
  eddy_handle_t *h;
  int fired;
  bool cancelled;
};
static struct soon soons[MAXSOON];
static int nsoon;
static int soon_last = -1; /* index of the last call_soon callback that ran */

static void soon_cb(void *ud) {
  struct soon *s = ud;
  in_callback("a call_soon callback");
  int idx = (int)(s - soons);
  if (s->cancelled) FAIL("call_soon %d ran after it was cancelled", idx);
  if (s->fired++) FAIL("call_soon %d ran twice", idx);
  for (int i = soon_last + 1; i < idx; i++)
    if (!soons[i].cancelled && !soons[i].fired) FAIL("call_soon %d ran before %d (FIFO)", idx, i);
  soon_last = idx;
  if (!draining && op_budget > 0 && chance(20)) {
    op_budget--;
    random_op();
  }
  if (chance(5)) eddy_loop_stop(loop);
}

static void op_soon(void) {
  if (nsoon == MAXSOON) return;
  struct soon *s = &soons[nsoon++];
  CHECK_OK(eddy_loop_call_soon(loop, soon_cb, s, &s->h));
  if (chance(10)) {
    CHECK_OK(eddy_handle_cancel(s->h));
    s->cancelled = true;
  }
}

/* --- call_soon_threadsafe from another thread --- */

#define NTS 64
struct ts {
  atomic_int fired;
  atomic_bool accepted;
};
static struct ts tss[NTS];
static atomic_int ts_last = -1;
static pthread_t ts_thread;
static bool ts_started;
static unsigned ts_pause_us;

static void ts_cb(void *ud) {
  struct ts *s = ud;
  in_callback("a call_soon_threadsafe callback");
  int idx = (int)(s - tss);
  if (atomic_fetch_add(&s->fired, 1)) FAIL("threadsafe callback %d ran twice", idx);
  if (idx <= atomic_load(&ts_last)) FAIL("threadsafe callback %d ran after %d", idx, atomic_load(&ts_last));
  atomic_store(&ts_last, idx);
}

static void *ts_main(void *arg) {
  (void)arg;
  for (int i = 0; i < NTS; i++) {
    int rc = eddy_loop_call_soon_threadsafe(loop, ts_cb, &tss[i], NULL);
    if (rc == 0)
      atomic_store(&tss[i].accepted, true);
    else if (rc != EDDY_ECLOSED)
      FAIL("call_soon_threadsafe returned %d %s", rc, eddy_err_name(rc));
    if (i % 8 == 7) usleep(ts_pause_us);
  }
  return NULL;
}

static void op_start_thread(void) {
  if (ts_started) return;
  ts_pause_us = below(3000);
  CHECK(pthread_create(&ts_thread, NULL, ts_main, NULL) == 0);
  ts_started = true;
}

/* --- futures --- */

#define MAXFUT 32
#define MAXDONE 6
struct fut {
  eddy_future_t *f;
  int ncb;
  int fired[MAXDONE];
  int order; /* done callbacks that ran so far */
  bool resolved; /* the fuzzer set its result or cancelled it */
  int64_t value;
};
static struct fut futs[MAXFUT];
static int nfut;

struct done_ref {
  struct fut *fu;
  int k;
};
static struct done_ref done_refs[MAXFUT][MAXDONE];

static void fut_done_cb(eddy_future_t *f, void *ud) {
  struct done_ref *r = ud;
  struct fut *fu = r->fu;
  in_callback("a future done callback");
  CHECK(f == fu->f);
  if (fu->fired[r->k]++) FAIL("done callback %d of future %d ran twice", r->k, (int)(fu - futs));
  if (fu->order != r->k)
    FAIL("done callback %d of future %d ran as number %d", r->k, (int)(fu - futs), fu->order);
  fu->order++;
  CHECK(eddy_future_done(f) == 1);
  int64_t n = 0;
  int rc = eddy_future_result(f, NULL, &n);
  if (eddy_future_cancelled(f)) {
    CHECK(rc == EDDY_ECANCELED);
  } else {
    CHECK_OK(rc);
    CHECK(n == fu->value);
  }
}

static void op_future(void) {
  if (nfut == MAXFUT) return;
  struct fut *fu = &futs[nfut];
  CHECK_OK(eddy_loop_create_future(loop, &fu->f));
  nfut++;
}

static void op_future_add_cb(void) {
  if (nfut == 0) return;
  struct fut *fu = &futs[below((unsigned)nfut)];
  if (fu->ncb == MAXDONE) return;
  struct done_ref *r = &done_refs[fu - futs][fu->ncb];
  r->fu = fu;
  r->k = fu->ncb;
  CHECK_OK(eddy_future_add_done_callback(fu->f, fut_done_cb, r));
  fu->ncb++;
}

static void op_future_resolve(void) {
  if (nfut == 0) return;
  struct fut *fu = &futs[below((unsigned)nfut)];
  /* A task awaiting the future cancels it when the task is cancelled. */
  bool was_done = eddy_future_done(fu->f) == 1;
  CHECK(was_done || !fu->resolved);
  if (chance(40)) {
    CHECK(eddy_future_cancel(fu->f) == (was_done ? 0 : 1));
  } else {
    int64_t v = (int64_t)below(1000000);
    int rc = eddy_future_set_result(fu->f, NULL, v);
    if (was_done) {
      CHECK(rc == EDDY_EINVALSTATE);
      return;
    }
    CHECK_OK(rc);
    fu->value = v;
  }
  fu->resolved = true;
}

/* --- tasks --- */

#define MAXTASK 16
struct task {
  eddy_future_t *f;
  int steps, yields;
  bool done_cb_fired, ended;
  struct fut *awaiting;
};
static struct task tasks[MAXTASK];
static int ntask;

static void task_step(eddy_future_t *task, void *ud) {
  struct task *t = ud;
  in_callback("a task step");
  if (t->ended) FAIL("task %d stepped after it ended", (int)(t - tasks));
  t->steps++;
  if (eddy_task_cancelling(task) > 0) {
    CHECK(eddy_future_cancel(task) == 1);
    t->ended = true;
    return;
  }
  if (t->steps <= t->yields) {
    CHECK_OK(eddy_task_yield(task));
    return;
  }
  if (t->awaiting == NULL && nfut > 0 && chance(50)) {
    struct fut *fu = &futs[below((unsigned)nfut)];
    if (!fu->resolved) {
      t->awaiting = fu;
      CHECK_OK(eddy_task_await(task, fu->f));
      return;
    }
  }
  CHECK_OK(eddy_future_set_result(task, NULL, t->steps));
  t->ended = true;
}

static void task_done_cb(eddy_future_t *f, void *ud) {
  struct task *t = ud;
  in_callback("a task done callback");
  CHECK(f == t->f);
  if (t->done_cb_fired) FAIL("task %d's done callback ran twice", (int)(t - tasks));
  t->done_cb_fired = true;
  if (!t->ended) FAIL("task %d done before its step ended it", (int)(t - tasks));
}

static void op_task(void) {
  if (ntask == MAXTASK) return;
  struct task *t = &tasks[ntask];
  t->yields = (int)below(4);
  CHECK_OK(eddy_loop_create_task(loop, task_step, t, &t->f));
  CHECK(eddy_future_is_task(t->f) == 1);
  CHECK_OK(eddy_future_add_done_callback(t->f, task_done_cb, t));
  ntask++;
}

static void op_task_cancel(void) {
  if (ntask == 0) return;
  struct task *t = &tasks[below((unsigned)ntask)];
  int rc = eddy_future_cancel(t->f);
  CHECK(rc == 0 || rc == 1);
  if (rc == 0) CHECK(t->ended);
}

/* --- stream endpoints --- */

#define MAXEP 48
struct ep {
  eddy_transport_t *t; /* between connection_made and connection_lost */
  struct ep *peer;
  bool tcp_client, tcp_server;
  uint8_t hdr[4]; /* a TCP server side first reads its client's index */
  int hdr_have;
  int made, lost, eofs;
  int lost_err;
  bool writes_paused;
  bool read_paused, wrote_eof, closed, aborted, write_failed;
  bool keep_open_on_eof;
  uint64_t sent, recvd;
};
static struct ep eps[MAXEP];
static int nep;
static eddy_future_t *ep_futs[MAXEP];
static int nep_futs;

static bool ep_live(const struct ep *e) { return e->made && !e->lost; }
/* Not closing: an endpoint whose eof_received returned false closes itself. */
static bool ep_can_write(const struct ep *e) {
  return ep_live(e) && !e->wrote_eof && !e->closed && !e->aborted && !e->write_failed &&
         eddy_transport_is_closing(e->t) == 0;
}
/* The peer ended its writing side in a way that delivers all it wrote. */
static bool ep_ended_gracefully(const struct ep *e) {
  return (e->wrote_eof || e->closed) && !e->aborted && !e->write_failed && e->lost_err == 0;
}

static void ep_made(eddy_transport_t *t, void *ud) {
  struct ep *e = ud;
  in_callback("connection_made");
  if (e->made++) FAIL("ep %d: connection_made twice", (int)(e - eps));
  e->t = t;
  e->keep_open_on_eof = chance(30);
  if (e->tcp_client) {
    uint32_t idx = (uint32_t)(e - eps);
    CHECK_OK(eddy_transport_write(t, &idx, sizeof idx));
  }
}

static void ep_data(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
  struct ep *e = ud;
  in_callback("data_received");
  int i = (int)(e - eps);
  CHECK(t == e->t);
  if (!e->made || e->eofs || e->lost) FAIL("ep %d: data_received out of order", i);
  if (len == 0) FAIL("ep %d: data_received with 0 bytes", i);
  if (e->read_paused) FAIL("ep %d: data_received while reading is paused", i);
  if (e->closed || e->aborted) FAIL("ep %d: data_received after close/abort", i);
  while (e->tcp_server && e->hdr_have < 4 && len > 0) {
    e->hdr[e->hdr_have++] = *data++;
    len--;
    if (e->hdr_have == 4) {
      uint32_t idx;
      memcpy(&idx, e->hdr, 4);
      CHECK(idx < (uint32_t)nep && eps[idx].tcp_client && eps[idx].peer == NULL);
      e->peer = &eps[idx];
      eps[idx].peer = e;
    }
  }
  check_pattern(data, len, e->recvd, "stream data");
  e->recvd += len;
  if (e->peer && e->recvd > e->peer->sent) FAIL("ep %d received more than its peer wrote", i);
}

static bool ep_eof(eddy_transport_t *t, void *ud) {
  struct ep *e = ud;
  in_callback("eof_received");
  int i = (int)(e - eps);
  CHECK(t == e->t);
  if (!e->made || e->eofs++ || e->lost) FAIL("ep %d: eof_received out of order", i);
  if (e->read_paused) FAIL("ep %d: eof_received while reading is paused", i);
  if (e->peer && ep_ended_gracefully(e->peer) && e->recvd != e->peer->sent)
    FAIL("ep %d: eof after %llu bytes, its peer wrote %llu", i, (unsigned long long)e->recvd,
         (unsigned long long)e->peer->sent);
  return e->keep_open_on_eof;
}

static void ep_lost(eddy_transport_t *t, int err, void *ud) {
  struct ep *e = ud;
  in_callback("connection_lost");
  CHECK(t == e->t);
  if (!e->made || e->lost++) FAIL("ep %d: connection_lost out of order", (int)(e - eps));
  e->lost_err = err;
  e->t = NULL;
}

static void ep_pause_writing(eddy_transport_t *t, void *ud) {
  struct ep *e = ud;
  in_callback("pause_writing");
  CHECK(t == e->t);
  if (e->writes_paused) FAIL("ep %d: pause_writing twice in a row", (int)(e - eps));
  e->writes_paused = true;
}

static void ep_resume_writing(eddy_transport_t *t, void *ud) {
  struct ep *e = ud;
  in_callback("resume_writing");
  CHECK(t == e->t);
  if (!e->writes_paused) FAIL("ep %d: resume_writing without pause_writing", (int)(e - eps));
  e->writes_paused = false;
}

static const eddy_protocol_t ep_proto = {
    .connection_made = ep_made,
    .connection_lost = ep_lost,
    .pause_writing = ep_pause_writing,
    .resume_writing = ep_resume_writing,
    .data_received = ep_data,
    .eof_received = ep_eof,
};

static struct ep *new_ep(void) { return nep < MAXEP ? &eps[nep++] : NULL; }

static void keep_future(eddy_future_t *f) {
  CHECK(nep_futs < MAXEP);
  ep_futs[nep_futs++] = f;
}

static void op_socketpair(void) {
  if (nep + 2 > MAXEP || nep_futs + 2 > MAXEP) return;
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  struct ep *a = new_ep(), *b = new_ep();
  a->peer = b;
  b->peer = a;
  for (int k = 0; k < 2; k++) {
    eddy_future_t *f = NULL;
    CHECK_OK(eddy_loop_connect_accepted_socket(loop, &ep_proto, k ? b : a, sv[k], NULL, &f));
    keep_future(f);
  }
}

/* --- the TCP server --- */

static eddy_server_t *server;
static eddy_future_t *server_fut;
static uint16_t server_port;
static bool server_closed;

static int server_factory(void *fud, const eddy_protocol_t **proto, void **ud) {
  (void)fud;
  in_callback("the protocol factory");
  struct ep *e = new_ep();
  if (e == NULL) return -ENOMEM; /* refused: the connection is closed */
  e->tcp_server = true;
  *proto = &ep_proto;
  *ud = e;
  return 0;
}

static void start_server(void) {
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  CHECK_OK(eddy_loop_create_server(loop, server_factory, NULL, "127.0.0.1", 0, &o, &server_fut));
  CHECK_OK(eddy_loop_run_until_complete(loop, server_fut));
  void *p = NULL;
  CHECK_OK(eddy_future_result(server_fut, &p, NULL));
  server = p;
  int fd = -1;
  size_t n = 0;
  CHECK_OK(eddy_server_get_sockets(server, &fd, 1, &n));
  CHECK(n == 1);
  struct sockaddr_in sin;
  socklen_t sl = sizeof sin;
  CHECK(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
  server_port = ntohs(sin.sin_port);
}

static void op_tcp_connect(void) {
  if (server == NULL || nep + 2 > MAXEP || nep_futs + 1 > MAXEP) return;
  struct ep *c = new_ep();
  c->tcp_client = true;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &ep_proto, c, "127.0.0.1", server_port, NULL, &f));
  keep_future(f);
}

static void op_server_close(void) {
  if (server == NULL || server_closed) return;
  CHECK_OK(eddy_server_close(server));
  server_closed = true;
}

/* --- operations on a live endpoint --- */

static struct ep *pick_live_ep(void) {
  if (nep == 0) return NULL;
  struct ep *e = &eps[below((unsigned)nep)];
  return ep_live(e) ? e : NULL;
}

static void ep_write(struct ep *e, bool lines) {
  size_t len = 1 + below(1u << below(18));
  uint8_t *buf = pattern_buf(e->sent, len);
  int rc;
  if (lines && len >= 3) {
    size_t a = below((unsigned)len), b = a + below((unsigned)(len - a));
    eddy_buf_t bufs[3] = {{buf, a}, {buf + a, b - a}, {buf + b, len - b}};
    rc = eddy_transport_writelines(e->t, bufs, 3);
  } else {
    rc = eddy_transport_write(e->t, buf, len);
  }
  free(buf); /* eddy must have copied what it did not send */
  if (rc == 0) {
    e->sent += len;
  } else if (rc < 0 && e->peer && (e->peer->aborted || e->peer->closed || e->peer->lost)) {
    e->write_failed = true; /* the peer went away: a send error is allowed */
  } else {
    FAIL("ep %d: write of %zu bytes returned %d %s", (int)(e - eps), len, rc, eddy_err_name(rc));
  }
}

static void op_ep(void) {
  struct ep *e = pick_live_ep();
  if (e == NULL) return;
  switch (below(10)) {
  case 0: case 1: case 2:
    if (ep_can_write(e)) ep_write(e, false);
    break;
  case 3:
    if (ep_can_write(e)) ep_write(e, true);
    break;
  case 4:
    if (ep_can_write(e) && eddy_transport_can_write_eof(e->t) == 1) {
      CHECK_OK(eddy_transport_write_eof(e->t));
      e->wrote_eof = true;
    }
    break;
  case 5:
    if (!e->closed && !e->aborted) {
      CHECK_OK(eddy_transport_pause_reading(e->t));
      e->read_paused = true;
    }
    break;
  case 6:
    CHECK_OK(eddy_transport_resume_reading(e->t));
    e->read_paused = false;
    break;
  case 7:
    if (!e->closed && !e->aborted) {
      CHECK_OK(eddy_transport_set_write_buffer_limits(e->t, 1 + below(65536), -1));
    }
    break;
  case 8:
    if (chance(70)) {
      CHECK_OK(eddy_transport_close(e->t));
      e->closed = true;
    } else {
      CHECK_OK(eddy_transport_abort(e->t));
      e->aborted = true;
    }
    break;
  default:
    if (ep_can_write(e)) ep_write(e, chance(50));
    break;
  }
}

/* --- children --- */

#define MAXCHILD 4
struct child {
  eddy_process_t *p;
  eddy_future_t *f;
  bool cat, killed;
  int made, exited, lost, pipe_lost[3];
  uint64_t fed, out;
};
static struct child children[MAXCHILD];
static int nchild;

static void ch_made(eddy_process_t *p, void *ud) {
  struct child *c = ud;
  in_callback("subprocess connection_made");
  if (c->made++) FAIL("child %d: connection_made twice", (int)(c - children));
  c->p = p;
  if (!c->cat) return;
  eddy_transport_t *in = eddy_process_get_pipe_transport(p, 0);
  CHECK(in != NULL);
  size_t len = below(200000);
  uint8_t *buf = pattern_buf(0, len);
  CHECK_OK(eddy_transport_write(in, buf, len));
  free(buf);
  c->fed = len;
  CHECK_OK(eddy_transport_write_eof(in));
}

static void ch_data(eddy_process_t *p, int fd, const uint8_t *data, size_t len, void *ud) {
  struct child *c = ud;
  in_callback("pipe_data_received");
  CHECK(p == c->p);
  if (fd != 1) FAIL("child %d wrote %zu bytes to fd %d", (int)(c - children), len, fd);
  if (c->pipe_lost[1] || c->lost) FAIL("child %d: pipe data after its pipe was lost", (int)(c - children));
  check_pattern(data, len, c->out, "cat's output");
  c->out += len;
}

static void ch_pipe_lost(eddy_process_t *p, int fd, int err, void *ud) {
  struct child *c = ud;
  (void)err;
  in_callback("pipe_connection_lost");
  CHECK(p == c->p && fd >= 0 && fd <= 2);
  if (c->pipe_lost[fd]++) FAIL("child %d: pipe %d lost twice", (int)(c - children), fd);
}

static void ch_exited(eddy_process_t *p, void *ud) {
  struct child *c = ud;
  in_callback("process_exited");
  CHECK(p == c->p);
  if (c->exited++ || c->lost) FAIL("child %d: process_exited out of order", (int)(c - children));
  int rc = 0;
  CHECK_OK(eddy_process_get_returncode(p, &rc));
  if (!c->killed && rc != 0) FAIL("child %d exited with %d", (int)(c - children), rc);
}

static void ch_lost(eddy_process_t *p, int err, void *ud) {
  struct child *c = ud;
  (void)err;
  in_callback("subprocess connection_lost");
  CHECK(p == c->p);
  int i = (int)(c - children);
  if (!c->exited || c->lost++) FAIL("child %d: connection_lost before process_exited or twice", i);
  for (int fd = 0; fd < 3; fd++)
    if (c->pipe_lost[fd] != 1) FAIL("child %d: connection_lost before pipe %d was lost", i, fd);
  if (c->cat && !c->killed && c->out != c->fed)
    FAIL("child %d: cat wrote %llu bytes, it was fed %llu", i, (unsigned long long)c->out,
         (unsigned long long)c->fed);
  c->p = NULL;
}

static const eddy_subprocess_protocol_t ch_proto = {
    .connection_made = ch_made,
    .connection_lost = ch_lost,
    .pipe_data_received = ch_data,
    .pipe_connection_lost = ch_pipe_lost,
    .process_exited = ch_exited,
};

static void op_child(void) {
  if (nchild == MAXCHILD) return;
  struct child *c = &children[nchild++];
  c->cat = chance(60);
  const char *argv_cat[] = {"/bin/cat", NULL}, *argv_true[] = {"/bin/true", NULL};
  CHECK_OK(eddy_loop_subprocess_exec(loop, &ch_proto, c, c->cat ? argv_cat : argv_true, NULL, &c->f));
}

static void op_child_kill(void) {
  if (nchild == 0) return;
  struct child *c = &children[below((unsigned)nchild)];
  if (c->p == NULL || c->exited) return;
  int rc = eddy_process_kill(c->p);
  CHECK(rc == 0 || rc == -ESRCH);
  c->killed = true;
}

/* --- sock_* on the fuzzer's own socketpairs --- */

#define MAXRAW 4
struct raw {
  int fd[2];
  uint64_t sent, recvd;
  eddy_future_t *send_f, *recv_f;
  uint8_t *send_buf;
  int send_done, recv_done; /* done callbacks seen, per future */
  int sends, recvs;         /* futures made */
};
static struct raw raws[MAXRAW];
static int nraw;

static void raw_send_done(eddy_future_t *f, void *ud) {
  struct raw *r = ud;
  in_callback("sock_sendall's done callback");
  CHECK(f == r->send_f);
  r->send_done++;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  free(r->send_buf);
  r->send_buf = NULL;
  eddy_future_release(f);
  r->send_f = NULL;
}

static void raw_recv_done(eddy_future_t *f, void *ud) {
  struct raw *r = ud;
  in_callback("sock_recv's done callback");
  CHECK(f == r->recv_f);
  r->recv_done++;
  void *p = NULL;
  int64_t n = 0;
  int rc = eddy_future_result(f, &p, &n);
  if (rc == 0) {
    CHECK(n > 0 && p != NULL); /* the fuzzer never shuts a raw pair down */
    check_pattern(p, (size_t)n, r->recvd, "sock_recv data");
    r->recvd += (uint64_t)n;
    CHECK(r->recvd <= r->sent + (r->send_f ? 1u << 20 : 0));
    eddy_free(p);
  } else {
    CHECK(rc == EDDY_ECANCELED);
  }
  eddy_future_release(f);
  r->recv_f = NULL;
}

static void op_raw(void) {
  if (nraw < MAXRAW && (nraw == 0 || chance(20))) {
    struct raw *r = &raws[nraw++];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, r->fd) == 0);
    return;
  }
  if (nraw == 0) return;
  struct raw *r = &raws[below((unsigned)nraw)];
  if (chance(50)) {
    if (r->send_f) return;
    size_t len = 1 + below(1u << below(19));
    r->send_buf = pattern_buf(r->sent, len);
    CHECK_OK(eddy_loop_sock_sendall(loop, r->fd[0], r->send_buf, len, &r->send_f));
    r->sent += len;
    r->sends++;
    CHECK_OK(eddy_future_add_done_callback(r->send_f, raw_send_done, r));
  } else if (r->recv_f == NULL) {
    CHECK_OK(eddy_loop_sock_recv(loop, r->fd[1], 1 + below(1u << below(18)), &r->recv_f));
    r->recvs++;
    CHECK_OK(eddy_future_add_done_callback(r->recv_f, raw_recv_done, r));
  } else if (chance(20)) {
    eddy_future_cancel(r->recv_f);
  }
}

/* --- executor jobs --- */

#define MAXJOB 24
struct job {
  eddy_future_t *f;
  int64_t x;
  unsigned sleep_us;
  atomic_int ran;
  int done;
  bool cancelled;
};
static struct job jobs[MAXJOB];
static int njob;

static int job_work(void *ud, void **ptr, int64_t *n) {
  struct job *j = ud;
  if (atomic_fetch_add(&j->ran, 1)) FAIL("executor job %d ran twice", (int)(j - jobs));
  if (j->sleep_us) usleep(j->sleep_us);
  *ptr = j;
  *n = j->x * 3;
  return 0;
}

static void job_done(eddy_future_t *f, void *ud) {
  struct job *j = ud;
  in_callback("an executor job's done callback");
  CHECK(f == j->f);
  if (j->done++) FAIL("job %d's done callback ran twice", (int)(j - jobs));
  void *p = NULL;
  int64_t n = 0;
  int rc = eddy_future_result(f, &p, &n);
  if (rc == EDDY_ECANCELED) {
    CHECK(j->cancelled);
  } else {
    CHECK_OK(rc);
    CHECK(p == j && n == j->x * 3);
  }
}

static void op_job(void) {
  if (njob == MAXJOB) return;
  struct job *j = &jobs[njob++];
  j->x = (int64_t)below(1u << 30);
  j->sleep_us = chance(50) ? below(5000) : 0;
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, job_work, j, &j->f));
  CHECK_OK(eddy_future_add_done_callback(j->f, job_done, j));
  if (chance(15)) j->cancelled = eddy_future_cancel(j->f) == 1;
}

/* ------------------------------------------------------------ driving */

static int handler_calls;
static void exc_handler(eddy_loop_t *l, const eddy_error_context_t *ctx, void *ud) {
  (void)l;
  (void)ctx;
  (void)ud;
  handler_calls++; /* connection resets and the like: allowed */
}

static void random_op(void) {
  switch (below(20)) {
  case 0: case 1: op_timer(); break;
  case 2: op_cancel_timer(); break;
  case 3: case 4: op_soon(); break;
  case 5: op_start_thread(); break;
  case 6: op_future(); break;
  case 7: op_future_add_cb(); break;
  case 8: op_future_resolve(); break;
  case 9: op_task(); break;
  case 10: op_task_cancel(); break;
  case 11: op_socketpair(); break;
  case 12: op_tcp_connect(); break;
  case 13: case 14: op_ep(); break;
  case 15: op_child(); break;
  case 16: if (chance(20)) op_child_kill(); else op_ep(); break;
  case 17: op_raw(); break;
  case 18: op_job(); break;
  default: if (chance(10)) op_server_close(); else op_raw(); break;
  }
}

static void stop_cb(void *ud) { eddy_loop_stop(ud); }

/* Runs the loop once (stop first: one iteration) or for up to `max_ms`. */
static void run_some(unsigned max_ms) {
  if (max_ms == 0) {
    CHECK_OK(eddy_loop_stop(loop));
    CHECK_OK(eddy_loop_run_forever(loop));
    return;
  }
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_later(loop, (double)max_ms / 1000.0, stop_cb, loop, &h));
  CHECK_OK(eddy_loop_run_forever(loop));
  eddy_handle_cancel(h);
  eddy_handle_release(h);
}

typedef bool (*cond_fn)(void);

/* Runs the loop until cond() holds; fails after `timeout` seconds. */
static void run_until(cond_fn cond, double timeout, const char *what) {
  double end = now_s() + timeout;
  while (!cond()) {
    if (now_s() > end) {
      for (int i = 0; i < nraw; i++)
        fprintf(stderr, "raw %d: sent %llu (%d sendall, %s), received %llu (%d recv, %s)\n", i,
                (unsigned long long)raws[i].sent, raws[i].sends, raws[i].send_f ? "pending" : "done",
                (unsigned long long)raws[i].recvd, raws[i].recvs, raws[i].recv_f ? "pending" : "done");
      for (int i = 0; i < nep; i++) {
        struct ep *e = &eps[i];
        fprintf(stderr,
                "ep %d%s: peer %d made %d eof %d lost %d(%d) sent %llu recvd %llu%s%s%s%s%s%s\n", i,
                e->tcp_client ? " tcp client" : e->tcp_server ? " tcp server" : "",
                e->peer ? (int)(e->peer - eps) : -1, e->made, e->eofs, e->lost, e->lost_err,
                (unsigned long long)e->sent, (unsigned long long)e->recvd,
                e->read_paused ? " read-paused" : "", e->wrote_eof ? " wrote-eof" : "",
                e->closed ? " closed" : "", e->aborted ? " aborted" : "",
                e->write_failed ? " write-failed" : "", e->writes_paused ? " writes-paused" : "");
      }
      FAIL("drain: %s did not happen within %.0f s", what, timeout);
    }
    run_some(2);
  }
}

/* Ends the writing side of every live endpoint and lets it read, including
   those whose connection_made came late; true once each got its EOF (or
   was closed). */
static bool streams_settled(void) {
  bool settled = true;
  for (int i = 0; i < nep; i++) {
    struct ep *e = &eps[i];
    if (!ep_live(e)) continue;
    CHECK_OK(eddy_transport_resume_reading(e->t));
    e->read_paused = false;
    if (ep_can_write(e) && eddy_transport_can_write_eof(e->t) == 1) {
      CHECK_OK(eddy_transport_write_eof(e->t));
      e->wrote_eof = true;
    }
    if (!e->eofs && !e->closed && !e->aborted) settled = false;
  }
  if (!settled) return false;
  for (int i = 0; i < nep_futs; i++)
    if (!eddy_future_done(ep_futs[i])) return false;
  return true;
}

static bool streams_lost(void) {
  for (int i = 0; i < nep; i++)
    if (ep_live(&eps[i])) return false;
  return true;
}

static bool raws_drained(void) {
  bool drained = true;
  for (int i = 0; i < nraw; i++) {
    struct raw *r = &raws[i];
    if (r->recvd < r->sent && r->recv_f == NULL) {
      CHECK_OK(eddy_loop_sock_recv(loop, r->fd[1], 1 << 16, &r->recv_f));
      r->recvs++;
      CHECK_OK(eddy_future_add_done_callback(r->recv_f, raw_recv_done, r));
    } else if (r->recvd == r->sent && r->recv_f && !eddy_future_cancelled(r->recv_f)) {
      CHECK(eddy_future_cancel(r->recv_f) == 1); /* nothing more will come */
    }
    drained = drained && r->recvd == r->sent && !r->send_f && !r->recv_f;
  }
  return drained;
}

static bool callbacks_done(void) {
  for (int i = 0; i < ntimers; i++)
    if (!timers[i].cancelled && !timers[i].fired) return false;
  for (int i = 0; i < nsoon; i++)
    if (!soons[i].cancelled && !soons[i].fired) return false;
  for (int i = 0; i < NTS; i++)
    if (atomic_load(&tss[i].accepted) && !atomic_load(&tss[i].fired)) return false;
  for (int i = 0; i < nfut; i++)
    if (futs[i].order < futs[i].ncb) return false;
  for (int i = 0; i < ntask; i++)
    if (!tasks[i].done_cb_fired) return false;
  for (int i = 0; i < njob; i++)
    if (!jobs[i].done) return false;
  for (int i = 0; i < nchild; i++)
    if (!children[i].lost) return false;
  return true;
}

/* The end of a drained seed: everything finishes, exactly once. */
static void drain(void) {
  draining = true;
  if (ts_started) {
    pthread_join(ts_thread, NULL);
    ts_started = false;
  }
  run_until(streams_settled, 20, "eof on every stream");
  for (int i = 0; i < nep; i++)
    if (ep_live(&eps[i]) && !eps[i].closed && !eps[i].aborted) {
      CHECK_OK(eddy_transport_close(eps[i].t));
      eps[i].closed = true;
    }
  run_until(streams_lost, 20, "connection_lost on every stream");
  for (int i = 0; i < nfut; i++)
    if (eddy_future_done(futs[i].f) == 0) {
      CHECK(eddy_future_cancel(futs[i].f) == 1);
      futs[i].resolved = true;
    }
  run_until(raws_drained, 20, "sock_recv of every byte sock_sendall sent");
  run_until(callbacks_done, 20, "every callback");
  for (int i = 0; i < nep; i++)
    if (eps[i].made != eps[i].lost) FAIL("ep %d: made %d, lost %d", i, eps[i].made, eps[i].lost);
  if (server) {
    op_server_close();
    eddy_future_t *w = NULL;
    CHECK_OK(eddy_server_wait_closed(server, &w));
    CHECK_OK(eddy_loop_run_until_complete(loop, w));
    eddy_future_release(w);
  }
}

static void release_all(void) {
  for (int i = 0; i < ntimers; i++) eddy_handle_release(timers[i].h);
  for (int i = 0; i < nsoon; i++) eddy_handle_release(soons[i].h);
  for (int i = 0; i < nfut; i++) eddy_future_release(futs[i].f);
  for (int i = 0; i < ntask; i++) eddy_future_release(tasks[i].f);
  for (int i = 0; i < nep_futs; i++) {
    /* A refused connection's error is expected: read it, so that the
       future does not report it as never retrieved. */
    if (eddy_future_done(ep_futs[i]) == 1) eddy_future_result(ep_futs[i], NULL, NULL);
    eddy_future_release(ep_futs[i]);
  }
  for (int i = 0; i < nchild; i++) eddy_future_release(children[i].f);
  for (int i = 0; i < njob; i++) eddy_future_release(jobs[i].f);
  for (int i = 0; i < nraw; i++) {
    /* A sock_recv that completed after its callbacks were dropped (loop
       closed early) still holds its buffer: the caller's to free. */
    void *p = NULL;
    if (raws[i].recv_f && eddy_future_done(raws[i].recv_f) == 1 &&
        eddy_future_result(raws[i].recv_f, &p, NULL) == 0)
      eddy_free(p);
    eddy_future_release(raws[i].send_f);
    eddy_future_release(raws[i].recv_f);
    free(raws[i].send_buf);
    close(raws[i].fd[0]);
    close(raws[i].fd[1]);
  }
  eddy_future_release(server_fut);
}


static void run_seed(unsigned long long seed) {
  static bool fds_before[1024], fds_after[1024];
  cur_seed = seed;
  rng = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
  if (rng == 0) rng = 1;
  signal(SIGPIPE, SIG_IGN);
  scan_fds(fds_before);

  CHECK_OK(eddy_new_event_loop(&loop));
  CHECK_OK(eddy_loop_set_exception_handler(loop, exc_handler, NULL));
  if (chance(70)) start_server();
  bool abrupt = chance(25);
  int steps = 40 + (int)below(160);
  op_budget = 60;
  for (cur_line = 0; cur_line < steps; cur_line++) {
    random_op();
    if (chance(35)) run_some(chance(50) ? 0 : below(6));
  }
  if (abrupt) {
    run_some(below(4));
    /* Close at a random point: what is pending never runs. */
    CHECK_OK(eddy_loop_close(loop));
    loop_closed = true;
    if (ts_started) pthread_join(ts_thread, NULL);
    for (int i = 0; i < NTS; i++)
      if (!atomic_load(&tss[i].accepted) && atomic_load(&tss[i].fired))
        FAIL("a refused threadsafe callback %d ran", i);
  } else {
    drain();
    CHECK_OK(eddy_loop_close(loop));
    loop_closed = true;
  }
  release_all();
  eddy_loop_release(loop);

  scan_fds(fds_after);
  for (int fd = 0; fd < 1024; fd++)
    if (fds_after[fd] && !fds_before[fd]) {
      char path[64], target[256] = "?";
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(path, target, sizeof target - 1);
      if (n > 0) target[n] = '\0';
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      char where[96] = "";
      if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        struct sockaddr_storage ps;
        socklen_t psl = sizeof ps;
        int peer_port = getpeername(fd, (struct sockaddr *)&ps, &psl) == 0 && ps.ss_family == AF_INET
                            ? ntohs(((struct sockaddr_in *)&ps)->sin_port) : -1;
        snprintf(where, sizeof where, ", family %d, port %d, peer port %d (server port %u)",
                 ss.ss_family,
                 ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port) : -1,
                 peer_port, server_port);
      }
      FAIL("fd %d (%s%s) is still open at the end (%s)", fd, target, where,
           abrupt ? "closed early" : "drained");
    }
}

/* Runs one seed in a child with a time limit; returns 0 when it passed. */
static int fork_seed(unsigned long long seed, double timeout, char *why, size_t whylen) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    run_seed(seed);
    fflush(NULL);
#ifdef __SANITIZE_ADDRESS__
    /* _exit skips the leak check LeakSanitizer runs at exit. */
    if (__lsan_do_recoverable_leak_check()) _exit(1);
#endif
    _exit(0);
  }
  setpgid(pid, pid);
  double end = now_s() + timeout;
  int status = 0;
  bool timed_out = false;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (!timed_out && now_s() > end) {
      timed_out = true;
      kill(-pid, SIGKILL);
    }
    usleep(2000);
  }
  kill(-pid, SIGKILL); /* children a closed-early seed left running */
  if (timed_out) return snprintf(why, whylen, "timed out after %.0f s", timeout), 1;
  if (WIFSIGNALED(status))
    return snprintf(why, whylen, "killed by signal %d, %s", WTERMSIG(status), strsignal(WTERMSIG(status))), 1;
  switch (WEXITSTATUS(status)) {
  case 0: return 0;
  case 3: snprintf(why, whylen, "failed check"); return 1;
  case 1: snprintf(why, whylen, "a sanitizer reported errors"); return 1;
  default: snprintf(why, whylen, "exit code %d", WEXITSTATUS(status)); return 1;
  }
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "-s") == 0) {
    run_seed(strtoull(argv[2], NULL, 10));
    printf("PASS seed %s\n", argv[2]);
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: %s FIRST COUNT | -s SEED\n", argv[0]);
    return 2;
  }
  unsigned long long first = strtoull(argv[1], NULL, 10), count = strtoull(argv[2], NULL, 10);
  int passed = 0, failed = 0;
  for (unsigned long long s = first; s < first + count; s++) {
    char why[128] = "";
    if (fork_seed(s, 60, why, sizeof why) == 0) {
      printf("PASS seed %llu\n", s);
      passed++;
    } else {
      printf("FAIL seed %llu (%s; reproduce: %s -s %llu)\n", s, why, argv[0], s);
      failed++;
    }
    fflush(stdout);
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
