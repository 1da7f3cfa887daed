/* Embedding and observability (issue 16): eddy_loop_run_once,
   eddy_loop_backend_fd, eddy_loop_backend_timeout and eddy_loop_get_metrics,
   eddy's additions (asyncio has no public equivalent). */
#include <eddy.h>

#include <math.h>
#include <pthread.h>

#include "harness.h"
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

/* Whether `fd` is readable now (poll with a zero timeout). */
static bool readable_now(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  int rc = poll(&p, 1, 0);
  CHECK(rc >= 0);
  return rc == 1 && (p.revents & POLLIN);
}

static eddy_loop_metrics_t metrics(eddy_loop_t *loop) {
  eddy_loop_metrics_t m;
  memset(&m, 0, sizeof m);
  m.size = sizeof m;
  CHECK_OK(eddy_loop_get_metrics(loop, &m));
  CHECK_EQ(m.size, sizeof m);
  return m;
}

/* Drives the loop with run_once(0.01) until `*flag` is set (10 s at most). */
static void drive_until(eddy_loop_t *loop, const bool *flag) {
  double deadline = harness_monotonic() + 10.0;
  while (!*flag) {
    if (harness_monotonic() > deadline) HARNESS_FAIL("timed out driving the loop with run_once");
    CHECK(eddy_loop_run_once(loop, 0.01) >= 0);
  }
}

/* Runs run_once(0) until the backend fd is quiet (the first edges of a new
   connection, its writability for instance, are consumed). */
static void settle(eddy_loop_t *loop) {
  int fd = eddy_loop_backend_fd(loop);
  for (int i = 0; i < 100 && readable_now(fd); i++) CHECK(eddy_loop_run_once(loop, 0) >= 0);
  CHECK(!readable_now(fd));
}

/* An echo server's protocol. */
static void echo_data(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
  (void)ud;
  CHECK_OK(eddy_transport_write(t, data, len));
}
static const eddy_protocol_t echo_protocol = {.data_received = echo_data};
static int echo_factory(void *fud, const eddy_protocol_t **proto, void **ud) {
  (void)fud;
  *proto = &echo_protocol;
  *ud = NULL;
  return 0;
}

/* Records the loop time when it runs (user data: where). */
static eddy_loop_t *g_loop;
static double g_fired_at;
static void record_time_cb(void *ud) {
  rec_cb(ud);
  g_fired_at = eddy_loop_time(g_loop);
}

/* ------------------------------------------------------------ run_once(0) */

TEST(run_once_zero_runs_ready_callbacks_and_never_blocks) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  /* Nothing at all: returns 0 at once. */
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  /* A timer an hour away would block a waiting poll for an hour. */
  CHECK_OK(eddy_loop_call_later(loop, 3600, rec_cb, TAG('t'), NULL));
  for (const char *p = "abc"; *p; p++) CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG(*p), NULL));
  CHECK_EQ(eddy_loop_run_once(loop, 0), 1);
  CHECK_STR_EQ(ev, "abc");
  /* Only the timer is left: still does not block, still 1. */
  CHECK_EQ(eddy_loop_run_once(loop, 0), 1);
  CHECK_STR_EQ(ev, "abc");
  close_loop(loop);
}

TEST(run_once_with_a_positive_timeout_returns_before_a_later_timer) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_later(loop, 3600, rec_cb, TAG('t'), NULL));
  CHECK_EQ(eddy_loop_run_once(loop, 0.02), 1);
  CHECK_STR_EQ(ev, "");
  close_loop(loop);
}

/* ----------------------------------------------------------- run_once(-1) */

TEST(run_once_negative_blocks_until_the_next_timer_and_no_longer) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  g_loop = loop;
  double t0 = eddy_loop_time(loop);
  double when = t0 + 0.05;
  CHECK_OK(eddy_loop_call_at(loop, when, record_time_cb, TAG('a'), NULL));
  eddy_handle_t *far = NULL;
  CHECK_OK(eddy_loop_call_at(loop, t0 + 3600, rec_cb, TAG('z'), &far));
  /* The far timer keeps the loop alive: 1. */
  CHECK_EQ(eddy_loop_run_once(loop, -1), 1);
  double t1 = eddy_loop_time(loop);
  CHECK_STR_EQ(ev, "a");
  CHECK(g_fired_at >= when);
  /* No longer than the timer: generous, a loaded machine may be late. */
  CHECK(t1 - when < 1.0);
  /* With the far timer cancelled nothing is left: 0. */
  eddy_handle_cancel(far);
  eddy_handle_release(far);
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  close_loop(loop);
}

/* --------------------------------------------------------- the snapshot rule */

static eddy_loop_t *chain_loop;
static void chain_cb(void *ud) {
  rec_cb(ud);
  CHECK_OK(eddy_loop_call_soon(chain_loop, rec_cb, TAG('b'), NULL));
  CHECK_OK(eddy_loop_call_later(chain_loop, 0, rec_cb, TAG('c'), NULL));
}

TEST(callbacks_scheduled_during_an_iteration_wait_for_the_next) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  chain_loop = loop;
  CHECK_OK(eddy_loop_call_soon(loop, chain_cb, TAG('a'), NULL));
  CHECK_EQ(eddy_loop_run_once(loop, 0), 1);
  CHECK_STR_EQ(ev, "a");
  /* b (ready) and c (due timer) both ran in the next iteration. */
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  CHECK_STR_EQ(ev, "abc");
  close_loop(loop);
}

static void stop_and_record_cb(void *ud) {
  rec_cb(ud);
  CHECK_OK(eddy_loop_stop(chain_loop));
}

TEST(stop_during_run_once_ends_only_that_iteration) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  chain_loop = loop;
  CHECK_OK(eddy_loop_call_soon(loop, stop_and_record_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), NULL));
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  /* The rest of the snapshot ran, as under run_forever. */
  CHECK_STR_EQ(ev, "ab");
  /* The stop request does not outlive the iteration: a waiting run_once
     waits for the timer instead of returning at once. */
  CHECK_OK(eddy_loop_call_later(loop, 0.01, rec_cb, TAG('c'), NULL));
  CHECK_EQ(eddy_loop_run_once(loop, -1), 0);
  CHECK_STR_EQ(ev, "abc");
  close_loop(loop);
}

/* --------------------------------------------------------------- liveness */

TEST(run_once_returns_1_while_watchers_or_servers_could_make_progress) {
  eddy_loop_t *loop = new_loop();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  CHECK_OK(eddy_loop_add_reader(loop, p[0], rec_cb, TAG('r')));
  CHECK_EQ(eddy_loop_run_once(loop, 0), 1);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 1);
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  close(p[0]);
  close(p[1]);

  eddy_server_options_t opts;
  eddy_server_options_init(&opts);
  eddy_future_t *started = NULL;
  CHECK_OK(eddy_loop_create_server(loop, echo_factory, NULL, "127.0.0.1", 0, &opts, &started));
  bool done = false;
  while (!done) {
    CHECK(eddy_loop_run_once(loop, 0.01) >= 0);
    done = eddy_future_done(started);
  }
  void *server = NULL;
  CHECK_OK(eddy_future_result(started, &server, NULL));
  CHECK_EQ(eddy_loop_run_once(loop, 0), 1);
  CHECK_OK(eddy_server_close(server));
  eddy_future_release(started);
  /* The listening socket's fd leaves the poller once close has run. */
  for (int i = 0; i < 100 && eddy_loop_run_once(loop, 0) != 0; i++) {
  }
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  close_loop(loop);
}

/* -------------------------------------------- backend fd and backend timeout */

struct conn {
  eddy_transport_t *t;
  bool made, lost;
  size_t got;
};

static void c_made(eddy_transport_t *t, void *ud) {
  struct conn *c = ud;
  c->t = t;
  c->made = true;
}
static void c_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  (void)err;
  ((struct conn *)ud)->lost = true;
}
static void c_data(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
  (void)t;
  (void)data;
  ((struct conn *)ud)->got += len;
}
static const eddy_protocol_t conn_protocol = {
    .connection_made = c_made,
    .connection_lost = c_lost,
    .data_received = c_data,
};

TEST(backend_fd_turns_readable_when_a_peer_writes_and_stays_so_until_run_once) {
  int before = count_fds();
  eddy_loop_t *loop = new_loop();
  int fd = eddy_loop_backend_fd(loop);
  CHECK(fd >= 0);
  CHECK_EQ(eddy_loop_backend_fd(loop), fd);
  CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);

  int sv[2];
  tcp_pair(sv);
  struct conn c = {0};
  eddy_future_t *made = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &conn_protocol, &c, sv[1], NULL, &made));
  drive_until(loop, &c.made);
  eddy_future_release(made);
  settle(loop);

  /* Ready callbacks do not make the fd readable: the timeout says 0. */
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('x'), NULL));
  CHECK(!readable_now(fd));
  CHECK_EQ(eddy_loop_backend_timeout(loop), 0.0);
  CHECK_EQ(eddy_loop_run_once(loop, 0), 1);
  CHECK_EQ(eddy_loop_backend_timeout(loop), -1.0);

  eddy_loop_metrics_t m0 = metrics(loop);
  CHECK_EQ(write(sv[0], "hello", 5), 5);
  struct pollfd p = {fd, POLLIN, 0};
  CHECK_EQ(poll(&p, 1, 5000), 1);
  /* Level on the outside: readable until an iteration takes the event. */
  CHECK(readable_now(fd));
  CHECK(readable_now(fd));
  CHECK_EQ(c.got, 0);
  CHECK_EQ(eddy_loop_run_once(loop, 0), 1);
  CHECK_EQ(c.got, 5);
  CHECK(!readable_now(fd));
  eddy_loop_metrics_t m1 = metrics(loop);
  CHECK_EQ(m1.events - m0.events, 1);
  CHECK_EQ(m1.iterations - m0.iterations, 1);
  CHECK_EQ(m1.io_handles, 1);

  close(sv[0]);
  drive_until(loop, &c.lost);
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  close_loop(loop);
  CHECK_EQ(count_fds(), before);
}

/* backend_timeout is the time from its own clock reading to `when`: between
   the readings taken just before and just after the call (give or take the
   nanosecond its conversion may round). */
static void check_timeout_to(eddy_loop_t *loop, double when) {
  double before = eddy_loop_time(loop);
  double t = eddy_loop_backend_timeout(loop);
  double after = eddy_loop_time(loop);
  CHECK(t >= when - after - 1e-6 && t <= when - before + 1e-6);
}

TEST(backend_timeout_follows_the_timer_heap) {
  eddy_loop_t *loop = new_loop();
  CHECK_EQ(eddy_loop_backend_timeout(loop), -1.0);
  double ten = eddy_loop_time(loop) + 10;
  CHECK_OK(eddy_loop_call_at(loop, ten, rec_cb, TAG('a'), NULL));
  check_timeout_to(loop, ten);
  double five = eddy_loop_time(loop) + 5;
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_at(loop, five, rec_cb, TAG('b'), &h));
  check_timeout_to(loop, five);
  /* A cancelled head of the heap no longer counts. */
  eddy_handle_cancel(h);
  eddy_handle_release(h);
  check_timeout_to(loop, ten);
  /* A timer that is due: 0. */
  CHECK_OK(eddy_loop_call_at(loop, eddy_loop_time(loop) - 1, rec_cb, TAG('c'), NULL));
  CHECK_EQ(eddy_loop_backend_timeout(loop), 0.0);
  ev_reset();
  CHECK_EQ(eddy_loop_run_once(loop, 0), 1);
  CHECK_STR_EQ(ev, "c");
  check_timeout_to(loop, ten);
  CHECK(isnan(eddy_loop_backend_timeout(NULL)));
  close_loop(loop);
}

TEST(closed_and_null_loops_give_errors) {
  eddy_loop_t *loop = new_loop();
  CHECK_ERR(eddy_loop_run_once(loop, NAN), EDDY_EINVAL);
  CHECK_OK(eddy_loop_close(loop));
  CHECK_ERR(eddy_loop_run_once(loop, 0), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_backend_fd(loop), EDDY_ECLOSED);
  CHECK(isnan(eddy_loop_backend_timeout(loop)));
  /* The counters stay readable after close. */
  eddy_loop_metrics_t m = metrics(loop);
  CHECK_EQ(m.iterations, 0);
  eddy_loop_release(loop);
  CHECK_ERR(eddy_loop_run_once(NULL, 0), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_backend_fd(NULL), EDDY_EINVAL);
}

/* ---------------------------------------- a poll()-driven echo server */

/* One round of the foreign loop: poll the backend fd and `extra` for as
   long as the loop allows, run an iteration when the backend fd is readable
   or the timeout expired. Returns the revents of `extra`. */
static short foreign_poll(eddy_loop_t *loop, int extra) {
  double t = eddy_loop_backend_timeout(loop);
  /* Capped: a backend fd that failed to wake us must fail the test, not
     hang it. */
  int ms = t < 0 ? 1000 : (int)(t * 1000 + 0.999);
  if (ms > 1000) ms = 1000;
  struct pollfd p[2] = {{eddy_loop_backend_fd(loop), POLLIN, 0}, {extra, POLLIN, 0}};
  int n = poll(p, extra >= 0 ? 2 : 1, ms);
  CHECK(n >= 0);
  if (p[0].revents || (t >= 0 && n == 0)) CHECK(eddy_loop_run_once(loop, 0) >= 0);
  return extra >= 0 ? p[1].revents : 0;
}

TEST(a_poll_driven_loop_serves_1000_echo_round_trips_and_shuts_down_cleanly) {
  int before = count_fds();
  eddy_loop_t *loop = new_loop();
  eddy_server_options_t opts;
  eddy_server_options_init(&opts);
  eddy_future_t *started = NULL;
  CHECK_OK(eddy_loop_create_server(loop, echo_factory, NULL, "127.0.0.1", 0, &opts, &started));
  double deadline = harness_monotonic() + 10.0;
  while (!eddy_future_done(started) && harness_monotonic() < deadline) foreign_poll(loop, -1);
  void *server = NULL;
  CHECK_OK(eddy_future_result(started, &server, NULL));
  eddy_server_retain(server);
  eddy_future_release(started);
  int lfd;
  size_t nfds = 0;
  CHECK_OK(eddy_server_get_sockets(server, &lfd, 1, &nfds));
  CHECK_EQ(nfds, 1);

  /* A blocking client: the kernel completes the handshake before eddy
     accepts. */
  int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(cfd >= 0);
  struct sockaddr_in a = loopback_addr(sock_port(lfd));
  CHECK_EQ(connect(cfd, (struct sockaddr *)&a, sizeof a), 0);

  eddy_loop_metrics_t m0 = metrics(loop);
  enum { ROUNDS = 1000, SIZE = 64 };
  char msg[SIZE], back[SIZE];
  size_t got = 0;
  int rounds = 0;
  deadline = harness_monotonic() + 30.0;
  memset(msg, 'a', SIZE);
  CHECK_EQ(write(cfd, msg, SIZE), SIZE);
  while (rounds < ROUNDS) {
    if (harness_monotonic() > deadline) HARNESS_FAIL("only %d round trips", rounds);
    if (!(foreign_poll(loop, cfd) & POLLIN)) continue;
    ssize_t n = recv(cfd, back + got, SIZE - got, MSG_DONTWAIT);
    CHECK(n > 0);
    got += (size_t)n;
    if (got < SIZE) continue;
    CHECK(memcmp(back, msg, SIZE) == 0);
    got = 0;
    if (++rounds < ROUNDS) {
      memset(msg, 'a' + rounds % 26, SIZE);
      CHECK_EQ(write(cfd, msg, SIZE), SIZE);
    }
  }
  eddy_loop_metrics_t m1 = metrics(loop);
  /* At least one data_received and one read event per round trip. */
  CHECK(m1.callbacks - m0.callbacks >= ROUNDS);
  CHECK(m1.events - m0.events >= ROUNDS);

  /* Shut down: the client leaves, the server closes, its wait_closed
     future completes under the same foreign loop. */
  close(cfd);
  CHECK_OK(eddy_server_close(server));
  eddy_future_t *closed = NULL;
  CHECK_OK(eddy_server_wait_closed(server, &closed));
  deadline = harness_monotonic() + 10.0;
  while (!eddy_future_done(closed) && harness_monotonic() < deadline) foreign_poll(loop, -1);
  CHECK(eddy_future_done(closed));
  eddy_future_release(closed);
  eddy_server_release(server);
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  close_loop(loop);
  CHECK_EQ(count_fds(), before);
}

/* ------------------------------------------------------------ re-entrancy */

static int inner_rc;
static eddy_loop_t *inner_target;
static void run_once_inside_cb(void *ud) {
  (void)ud;
  inner_rc = eddy_loop_run_once(inner_target, 0);
}

TEST(run_once_inside_a_callback_and_on_a_running_loop_is_refused) {
  eddy_loop_t *loop = new_loop();
  eddy_loop_t *other = new_loop();
  /* From a callback of run_once. */
  inner_target = loop;
  inner_rc = 1;
  CHECK_OK(eddy_loop_call_soon(loop, run_once_inside_cb, NULL, NULL));
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  CHECK_ERR(inner_rc, EDDY_ERUNNING);
  /* From a callback of run_forever. */
  inner_rc = 1;
  CHECK_OK(eddy_loop_call_soon(loop, run_once_inside_cb, NULL, NULL));
  CHECK_OK(run_one_iteration(loop));
  CHECK_ERR(inner_rc, EDDY_ERUNNING);
  /* Another loop, while this one runs in the same thread. */
  inner_target = other;
  inner_rc = 1;
  CHECK_OK(eddy_loop_call_soon(loop, run_once_inside_cb, NULL, NULL));
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  CHECK_ERR(inner_rc, EDDY_ERUNNING);
  /* Refused calls ran nothing and left the loops usable. */
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  CHECK_EQ(eddy_loop_run_once(other, 0), 0);
  close_loop(other);
  close_loop(loop);
}

struct thread_call {
  eddy_loop_t *loop;
  int rc;
};

static void *run_once_in_thread(void *arg) {
  struct thread_call *tc = arg;
  tc->rc = eddy_loop_run_once(tc->loop, 0);
  return NULL;
}

static int thread_run_once(eddy_loop_t *loop) {
  struct thread_call tc = {loop, 12345};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, run_once_in_thread, &tc), 0);
  CHECK_EQ(pthread_join(th, NULL), 0);
  return tc.rc;
}

static sem_t in_callback, may_return;
static void block_cb(void *ud) {
  (void)ud;
  sem_post(&in_callback);
  CHECK_EQ(sem_wait_for(&may_return, 10), 0);
}

static void *run_forever_in_thread(void *arg) {
  eddy_loop_t *loop = arg;
  CHECK_OK(eddy_loop_call_soon(loop, block_cb, NULL, NULL));
  CHECK_OK(eddy_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  return NULL;
}

TEST(run_once_from_the_wrong_thread_is_refused) {
  /* Bound to the first thread that called run_once. */
  eddy_loop_t *loop = new_loop();
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  CHECK_ERR(thread_run_once(loop), EDDY_EWRONGTHREAD);
  CHECK_EQ(eddy_loop_run_once(loop, 0), 0);
  close_loop(loop);

  /* A loop first driven by another thread refuses this one. */
  loop = new_loop();
  CHECK_EQ(thread_run_once(loop), 0);
  CHECK_ERR(eddy_loop_run_once(loop, 0), EDDY_EWRONGTHREAD);
  close_loop(loop);

  /* A loop running (run_forever) in another thread. */
  loop = new_loop();
  CHECK_EQ(sem_init(&in_callback, 0, 0), 0);
  CHECK_EQ(sem_init(&may_return, 0, 0), 0);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, run_forever_in_thread, loop), 0);
  CHECK_EQ(sem_wait_for(&in_callback, 10), 0);
  int rc = eddy_loop_run_once(loop, 0);
  sem_post(&may_return);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_ERR(rc, EDDY_EWRONGTHREAD);
  sem_destroy(&in_callback);
  sem_destroy(&may_return);
  close_loop(loop);
}

/* ---------------------------------------------------------------- metrics */

static eddy_loop_t *metrics_loop;
static uint64_t seen_callbacks[8];
static size_t nseen;
static void read_metrics_cb(void *ud) {
  (void)ud;
  seen_callbacks[nseen++] = metrics(metrics_loop).callbacks;
}

TEST(metrics_count_callbacks_and_iterations_exactly) {
  eddy_loop_t *loop = new_loop();
  eddy_loop_metrics_t m0 = metrics(loop);
  CHECK_EQ(m0.iterations, 0);
  CHECK_EQ(m0.callbacks, 0);
  enum { N = 7 };
  for (int i = 0; i < N; i++) CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('n'), NULL));
  /* A cancelled handle does not run, and is not counted. */
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('x'), &h));
  eddy_handle_cancel(h);
  eddy_handle_release(h);
  CHECK_OK(eddy_loop_run_once(loop, 0));
  eddy_loop_metrics_t m1 = metrics(loop);
  CHECK_EQ(m1.callbacks - m0.callbacks, N);
  CHECK_EQ(m1.iterations - m0.iterations, 1);
  CHECK_EQ(m1.events - m0.events, 0);

  /* Timers: scheduled, then counted as callbacks when they run. */
  for (int i = 0; i < 3; i++) CHECK_OK(eddy_loop_call_later(loop, -1, rec_cb, TAG('t'), NULL));
  eddy_loop_metrics_t m2 = metrics(loop);
  CHECK_EQ(m2.timers_scheduled - m1.timers_scheduled, 3);
  CHECK_OK(eddy_loop_run_once(loop, 0));
  eddy_loop_metrics_t m3 = metrics(loop);
  CHECK_EQ(m3.callbacks - m2.callbacks, 3);
  CHECK_EQ(m3.iterations - m2.iterations, 1);

  /* Readable from callbacks while the loop runs: each sees itself counted. */
  metrics_loop = loop;
  nseen = 0;
  for (int i = 0; i < 3; i++) CHECK_OK(eddy_loop_call_soon(loop, read_metrics_cb, NULL, NULL));
  CHECK_OK(eddy_loop_run_once(loop, 0));
  CHECK_EQ(nseen, 3);
  CHECK_EQ(seen_callbacks[0], m3.callbacks + 1);
  CHECK_EQ(seen_callbacks[1], m3.callbacks + 2);
  CHECK_EQ(seen_callbacks[2], m3.callbacks + 3);

  /* run_forever's iterations count the same way: stop first = exactly one. */
  eddy_loop_metrics_t m4 = metrics(loop);
  CHECK_OK(run_once(loop));
  CHECK_EQ(metrics(loop).iterations - m4.iterations, 1);
  close_loop(loop);
}

TEST(idle_time_grows_across_a_50ms_sleep_by_at_most_the_elapsed_time) {
  eddy_loop_t *loop = new_loop();
  /* The sleep is a 50 ms poll: run_once's timeout, counted from the poll's
     start, so that time the test loses before the poll (preempted on a
     loaded machine) cannot shorten it. Without a timer, and with a far
     one (then the clock reading taken for the poll timeout starts the
     idle span). */
  for (int with_timer = 0; with_timer < 2; with_timer++) {
    eddy_handle_t *far = NULL;
    if (with_timer) CHECK_OK(eddy_loop_call_later(loop, 3600, rec_cb, TAG('z'), &far));
    eddy_loop_metrics_t m0 = metrics(loop);
    double t0 = eddy_loop_time(loop);
    CHECK_EQ(eddy_loop_run_once(loop, 0.05), with_timer);
    double t1 = eddy_loop_time(loop);
    double idle = metrics(loop).idle_time - m0.idle_time;
    if (!(idle >= 0.04 && idle <= t1 - t0))
      HARNESS_FAIL("idle_time grew by %.4f s over %.4f s of loop time", idle, t1 - t0);
    eddy_handle_cancel(far);
    eddy_handle_release(far);
  }
  eddy_loop_metrics_t m1 = metrics(loop);
  /* A poll that does not wait adds no idle time. */
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), NULL));
  CHECK_OK(eddy_loop_run_once(loop, -1));
  CHECK(metrics(loop).idle_time == m1.idle_time);
  close_loop(loop);
}

TEST(a_smaller_size_fills_only_the_leading_fields) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, -1, rec_cb, TAG('b'), NULL));
  CHECK_OK(eddy_loop_run_once(loop, 0));
  eddy_loop_metrics_t full = metrics(loop);
  CHECK_EQ(full.iterations, 1);
  CHECK_EQ(full.callbacks, 2);

  /* Up to `events`: iterations and events written, the rest untouched. */
  eddy_loop_metrics_t m;
  memset(&m, 0xAB, sizeof m);
  eddy_loop_metrics_t untouched = m;
  m.size = offsetof(eddy_loop_metrics_t, callbacks);
  CHECK_OK(eddy_loop_get_metrics(loop, &m));
  CHECK_EQ(m.size, offsetof(eddy_loop_metrics_t, callbacks));
  CHECK_EQ(m.iterations, full.iterations);
  CHECK_EQ(m.events, full.events);
  CHECK(memcmp(&m.callbacks, &untouched.callbacks,
               sizeof m - offsetof(eddy_loop_metrics_t, callbacks)) == 0);

  /* A size ending inside a field leaves that field alone. */
  memset(&m, 0xAB, sizeof m);
  m.size = offsetof(eddy_loop_metrics_t, events) + 4;
  CHECK_OK(eddy_loop_get_metrics(loop, &m));
  CHECK_EQ(m.iterations, full.iterations);
  CHECK(memcmp(&m.events, &untouched.events, sizeof m - offsetof(eddy_loop_metrics_t, events)) == 0);

  /* Only `size`: nothing else written. */
  memset(&m, 0xAB, sizeof m);
  m.size = sizeof(size_t);
  CHECK_OK(eddy_loop_get_metrics(loop, &m));
  CHECK(memcmp(&m.iterations, &untouched.iterations,
               sizeof m - offsetof(eddy_loop_metrics_t, iterations)) == 0);

  /* A caller built against a later, larger struct: its extra field stays. */
  struct {
    eddy_loop_metrics_t m;
    uint64_t later;
  } bigger;
  memset(&bigger, 0xAB, sizeof bigger);
  bigger.m.size = sizeof bigger;
  CHECK_OK(eddy_loop_get_metrics(loop, &bigger.m));
  CHECK_EQ(bigger.m.callbacks, full.callbacks);
  CHECK_EQ(bigger.later, 0xABABABABABABABABull);

  /* Too small for `size` itself, or NULL: EDDY_EINVAL, nothing written. */
  memset(&m, 0xAB, sizeof m);
  m.size = sizeof(size_t) - 1;
  CHECK_ERR(eddy_loop_get_metrics(loop, &m), EDDY_EINVAL);
  CHECK_EQ(m.iterations, untouched.iterations);
  m.size = 0;
  CHECK_ERR(eddy_loop_get_metrics(loop, &m), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_get_metrics(loop, NULL), EDDY_EINVAL);
  m.size = sizeof m;
  CHECK_ERR(eddy_loop_get_metrics(NULL, &m), EDDY_EINVAL);
  close_loop(loop);
}
