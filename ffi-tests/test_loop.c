/* Loop lifecycle and scheduling: docs/semantics.md items 1-24 (section A) and 45-47
   (section D), docs/api.md sections 3-4 (loop core).

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}
/* "Did not block", without a clock: poll hooks count the polls that may
   block (eddy_loop_set_poll_hooks wraps only those). */
static int blocking_polls;
static void count_blocking_poll(void *ud) {
  (void)ud;
  blocking_polls++;
}
static void ignore_poll_end(void *ud) { (void)ud; }
static void count_blocking_polls(eddy_loop_t *loop) {
  blocking_polls = 0;
  CHECK_OK(eddy_loop_set_poll_hooks(loop, count_blocking_poll, ignore_poll_end, NULL));
}
static void busy_wait(double s) {
  double t0 = now_s();
  while (now_s() - t0 < s) {
  }
}

/* Exception handler that records what it was given. */
static int hcount;
static int herr;
static char hmsg[512];
static void capture_handler(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  (void)loop;
  (void)ud;
  hcount++;
  herr = ctx->error;
  snprintf(hmsg, sizeof hmsg, "%s", ctx->message ? ctx->message : "(null)");
}
static void handler_reset(void) {
  hcount = 0;
  herr = 12345;
  hmsg[0] = '\0';
}

/* ------------------------------------------------- 1. same-iteration FIFO */

/* item 1 */
TEST(call_soon_runs_in_fifo_order_exactly_once_with_its_user_data) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  const char *tags = "abcdefghij";
  for (const char *p = tags; *p; p++) CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG(*p), NULL));
  CHECK_OK(eddy_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "abcdefghij");
  /* each ran exactly once: another iteration runs nothing */
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "abcdefghij");
  close_loop(loop);
}

/* item 1 */
TEST(call_soon_returns_a_handle_when_asked) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), &h));
  CHECK(h != NULL);
  CHECK_EQ(eddy_handle_cancelled(h), 0);
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "a");
  CHECK_EQ(eddy_handle_cancelled(h), 0);
  eddy_handle_release(h);
  close_loop(loop);
}

/* ------------------------------------------------------ 2. snapshot rule */

struct chain {
  eddy_loop_t *loop;
  char tag;      /* recorded when run */
  char next;     /* scheduled with call_soon when run, 0: none */
};
static void chain_cb(void *ud) {
  struct chain *c = ud;
  ev_add(c->tag);
  if (c->next) eddy_loop_call_soon(c->loop, rec_cb, TAG(c->next), NULL);
}

/* item 2 */
TEST(callback_scheduled_by_a_running_callback_runs_next_iteration) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct chain a = {loop, 'A', 'B'};
  CHECK_OK(eddy_loop_call_soon(loop, chain_cb, &a, NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('C'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "AC"); /* B was queued during the run phase: not in this snapshot */
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "ACB");
  close_loop(loop);
}

struct fut_setter {
  eddy_future_t *fut;
  char tag;
};
static void set_result_rec_cb(void *ud) {
  struct fut_setter *s = ud;
  ev_add(s->tag);
  eddy_future_set_result(s->fut, NULL, 1);
}
static void done_rec_cb(eddy_future_t *f, void *ud) {
  (void)f;
  ev_add((char)(intptr_t)ud);
}

/* item 2 */
TEST(done_callback_of_future_completed_in_a_callback_runs_next_iteration) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_future_add_done_callback(f, done_rec_cb, TAG('D')));
  struct fut_setter s = {f, 'A'};
  CHECK_OK(eddy_loop_call_soon(loop, set_result_rec_cb, &s, NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('C'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "AC");
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "ACD");
  eddy_future_release(f);
  close_loop(loop);
}

/* -------------------------------------------------- 3. phases of an iteration */

/* item 3 */
TEST(expired_timer_runs_after_callbacks_already_queued) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_later(loop, -5.0, rec_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "ba");
  close_loop(loop);
}

struct io_rec {
  eddy_loop_t *loop;
  int fd;
};
static void read_one_and_remove_cb(void *ud) {
  struct io_rec *r = ud;
  char c;
  if (read(r->fd, &c, 1) == 1) ev_add(c);
  eddy_loop_remove_reader(r->loop, r->fd);
}

/* item 3 */
TEST(io_callbacks_run_after_queued_callbacks_and_before_expired_timers) {
  ev_reset();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  CHECK_EQ(write(p[1], "r", 1), 1);
  eddy_loop_t *loop = new_loop();
  struct io_rec r = {loop, p[0]};
  CHECK_OK(eddy_loop_call_later(loop, -1.0, rec_cb, TAG('t'), NULL));
  CHECK_OK(eddy_loop_add_reader(loop, p[0], read_one_and_remove_cb, &r));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('s'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "srt");
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* ------------------------------------------------------------ 4. poll timeout */

struct repeat {
  eddy_loop_t *loop;
  int left;
  int runs;
};
static void repeat_cb(void *ud) {
  struct repeat *r = ud;
  r->runs++;
  if (--r->left > 0)
    eddy_loop_call_soon(r->loop, repeat_cb, r, NULL);
  else
    eddy_loop_stop(r->loop);
}

/* item 4 */
TEST(poll_does_not_block_while_the_ready_queue_is_non_empty) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_later(loop, 5.0, rec_cb, TAG('X'), NULL));
  struct repeat r = {loop, 10, 0};
  CHECK_OK(eddy_loop_call_soon(loop, repeat_cb, &r, NULL));
  count_blocking_polls(loop);
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(blocking_polls, 0);
  CHECK_EQ(r.runs, 10);
  CHECK_STR_EQ(ev, "");
  close_loop(loop);
}

/* item 4 */
TEST(poll_waits_until_the_earliest_timer_is_due) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_later(loop, 0.3, rec_cb, TAG('y'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.03, rec_cb, TAG('x'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.03, stop_cb, loop, NULL));
  double t0 = now_s();
  CHECK_OK(eddy_loop_run_forever(loop));
  double el = now_s() - t0;
  CHECK(el >= 0.029);
  CHECK_STR_EQ(ev, "x");
  close_loop(loop);
}

struct waker {
  eddy_loop_t *loop;
  double delay;
  double sent;
  double got;
  int rc;
};
static void woke_cb(void *ud) {
  struct waker *w = ud;
  w->got = now_s();
  ev_add('w');
  eddy_loop_stop(w->loop);
}
static void *waker_thread(void *p) {
  struct waker *w = p;
  sleep_s(w->delay);
  w->sent = now_s();
  w->rc = eddy_loop_call_soon_threadsafe(w->loop, woke_cb, w, NULL);
  return NULL;
}

/* item 4 */
TEST(loop_with_nothing_scheduled_blocks_until_woken) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct waker w = {loop, 0.05, 0, 0, 1};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, waker_thread, &w), 0);
  double t0 = now_s();
  int rc = eddy_loop_run_forever(loop);
  double el = now_s() - t0;
  pthread_join(th, NULL);
  CHECK_OK(rc);
  CHECK_OK(w.rc);
  CHECK(el >= 0.045);
  CHECK_STR_EQ(ev, "w");
  close_loop(loop);
}

/* item 4 (the timeout is capped: a far deadline must not break the poll) */
TEST(very_far_timer_deadline_does_not_break_polling) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_later(loop, 1e9, rec_cb, TAG('X'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 3 * 24 * 3600.0, rec_cb, TAG('Y'), NULL));
  struct waker w = {loop, 0.03, 0, 0, 1};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, waker_thread, &w), 0);
  double t0 = now_s();
  int rc = eddy_loop_run_forever(loop);
  double el = now_s() - t0;
  pthread_join(th, NULL);
  CHECK_OK(rc);
  CHECK_OK(w.rc);
  CHECK(el >= 0.025); /* it blocked, it did not spin through */
  CHECK_STR_EQ(ev, "w");
  close_loop(loop);
}

/* -------------------------------------- eddy's busy-poll interval (not asyncio) */

/* A chain of call_soon callbacks, one per iteration: callback 0 writes a byte
   into the pipe a reader watches, the last one stops the loop. */
struct busy_chain {
  eddy_loop_t *loop;
  int wfd;
  int n;
  int left;
  bool threadsafe; /* callback 0 also has another thread queue 'T' */
};
static void *queue_t_from_thread(void *ud) {
  CHECK_OK(eddy_loop_call_soon_threadsafe(ud, rec_cb, TAG('T'), NULL));
  return NULL;
}
static void busy_chain_cb(void *ud) {
  struct busy_chain *c = ud;
  int i = c->n - c->left;
  ev_add((char)('0' + i));
  if (i == 0) {
    CHECK_EQ(write(c->wfd, "r", 1), 1);
    if (c->threadsafe) {
      pthread_t t;
      CHECK_EQ(pthread_create(&t, NULL, queue_t_from_thread, c->loop), 0);
      CHECK_EQ(pthread_join(t, NULL), 0);
    }
  }
  if (--c->left > 0)
    CHECK_OK(eddy_loop_call_soon(c->loop, busy_chain_cb, c, NULL));
  else
    eddy_loop_stop(c->loop);
}

/* Runs a 6-callback chain with the given interval (and late poll or not),
   then one run_once; `ev` tells what ran in which order, the reader
   included ('r'). */
static void run_chain(double interval, bool threadsafe, bool late) {
  ev_reset();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, interval));
  CHECK_OK(eddy_loop_set_late_poll(loop, late));
  struct io_rec r = {loop, p[0]};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], read_one_and_remove_cb, &r));
  struct busy_chain c = {loop, p[1], 6, 6, threadsafe};
  CHECK_OK(eddy_loop_call_soon(loop, busy_chain_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_OK(eddy_loop_run_once(loop, 0.0));
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}
static void run_busy_chain(double interval, bool threadsafe) { run_chain(interval, threadsafe, false); }

/* Default 0: every iteration polls, so the reader runs in the iteration after
   the write, behind the callback queued before the poll (item 3). */
TEST(busy_poll_interval_zero_polls_every_iteration) {
  run_busy_chain(0.0, false);
  CHECK_STR_EQ(ev, "01r2345");
}

/* A long interval: after the run's first poll, the chain's iterations skip
   theirs; the fd is seen by the next poll (here run_once's). */
TEST(busy_poll_interval_defers_io_while_callbacks_keep_the_loop_busy) {
  run_busy_chain(3600.0, false);
  CHECK_STR_EQ(ev, "012345r");
}

/* Work from call_soon_threadsafe does not wait for a poll. */
TEST(busy_poll_interval_still_takes_threadsafe_work_every_iteration) {
  run_busy_chain(0.0, true);
  CHECK_STR_EQ(ev, "01Tr2345");
  run_busy_chain(3600.0, true);
  CHECK_STR_EQ(ev, "01T2345r");
}

/* The first iteration of run_forever polls: an fd ready before the run is
   seen at once, as without the interval. */
TEST(busy_poll_interval_first_iteration_of_a_run_polls) {
  ev_reset();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  CHECK_EQ(write(p[1], "r", 1), 1);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, 3600.0));
  struct io_rec r = {loop, p[0]};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], read_one_and_remove_cb, &r));
  struct busy_chain c = {loop, -1, 3, 3, false};
  c.left = 2; /* starts at '1': callback 0 would write */
  CHECK_OK(eddy_loop_call_soon(loop, busy_chain_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "1r2");
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

TEST(busy_poll_interval_rejects_null_negative_and_nan) {
  eddy_loop_t *loop = new_loop();
  CHECK_ERR(eddy_loop_set_busy_poll_interval(NULL, 0.001), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_busy_poll_interval(loop, -0.001), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_busy_poll_interval(loop, NAN), EDDY_EINVAL);
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, 0.0));
  close_loop(loop);
}

/* ------------------------------- eddy_loop_claim_iteration (eddy's, not asyncio) */

struct claim {
  eddy_loop_t *loop;
  int wfd;       /* claim_until_refused: the pipe a reader watches */
  int claimed;   /* iterations claimed */
};

static void claim_refused_after_stop_cb(void *ud) {
  eddy_loop_t *loop = ud;
  ev_add('s');
  eddy_loop_stop(loop);
  CHECK_EQ(eddy_loop_claim_iteration(loop, 1), 0);
}

/* Claims while nothing else waits, as a binding's drain would: one claim
   is granted, and each kind of waiting work makes the next one refused
   (a callback queued behind this one in the same iteration counts too). */
static void claim_checks_cb(void *ud) {
  struct claim *c = ud;
  eddy_loop_t *loop = c->loop;
  ev_add('a');
  CHECK_EQ(eddy_loop_claim_iteration(loop, 1), 1);
  /* another callback waiting */
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), NULL));
  CHECK_EQ(eddy_loop_claim_iteration(loop, 1), 0);
  CHECK_OK(eddy_loop_call_soon(loop, claim_refused_after_stop_cb, loop, NULL));
}
static void claim_refused_with_a_timer_cb(void *ud) {
  eddy_loop_t *loop = ud;
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_later(loop, 3600.0, rec_cb, TAG('x'), &h));
  CHECK_EQ(eddy_loop_claim_iteration(loop, 1), 0); /* due or not */
  CHECK_OK(eddy_handle_cancel(h));
  eddy_handle_release(h);
  ev_add('t');
}
static void *queue_w_from_thread(void *ud) {
  CHECK_OK(eddy_loop_call_soon_threadsafe(ud, rec_cb, TAG('w'), NULL));
  return NULL;
}
static void claim_refused_with_threadsafe_work_cb(void *ud) {
  eddy_loop_t *loop = ud;
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, queue_w_from_thread, loop), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK_EQ(eddy_loop_claim_iteration(loop, 1), 0);
  ev_add('h');
}

TEST(claim_iteration_is_granted_only_when_nothing_else_waits) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, 3600.0));
  struct claim c = {loop, -1, 0};
  CHECK_OK(eddy_loop_call_soon(loop, claim_checks_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "abs");
  CHECK_OK(eddy_loop_call_soon(loop, claim_refused_with_a_timer_cb, loop, NULL));
  CHECK_OK(eddy_loop_call_soon(loop, claim_refused_with_threadsafe_work_cb, loop, NULL));
  CHECK_OK(eddy_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "absth");
  CHECK_OK(run_once(loop)); /* w came from another thread during h */
  CHECK_STR_EQ(ev, "absthw");
  close_loop(loop);
}

static void claim_once_cb(void *ud) {
  struct claim *c = ud;
  c->claimed = eddy_loop_claim_iteration(c->loop, 1);
  eddy_loop_stop(c->loop);
}

/* Without a busy-poll interval every iteration polls, so none is granted;
   nor outside a run; NULL is refused. */
TEST(claim_iteration_needs_a_busy_poll_interval_and_a_running_loop) {
  eddy_loop_t *loop = new_loop();
  struct claim c = {loop, -1, -1};
  CHECK_OK(eddy_loop_call_soon(loop, claim_once_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(c.claimed, 0);
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, 3600.0));
  CHECK_EQ(eddy_loop_claim_iteration(loop, 1), 0);
  CHECK_OK(eddy_loop_call_soon(loop, claim_once_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(c.claimed, 1);
  CHECK_ERR(eddy_loop_claim_iteration(NULL, 1), EDDY_EINVAL);
  close_loop(loop);
}

/* Claims until refused, then writes to a watched pipe and queues 'B'. */
static void claim_until_refused_cb(void *ud) {
  struct claim *c = ud;
  ev_add('A');
  while (c->claimed < 100 && eddy_loop_claim_iteration(c->loop, 1) == 1) c->claimed++;
  CHECK_EQ(write(c->wfd, "r", 1), 1);
  CHECK_OK(eddy_loop_call_soon(c->loop, rec_cb, TAG('B'), NULL));
  CHECK_OK(eddy_loop_call_soon(c->loop, stop_cb, c->loop, NULL));
}

/* Claimed iterations count toward the busy-poll interval like the loop's
   own: with an interval of 1 ns, the clock is read at the 8th, the poll is
   found due and the claim refused; the next iteration then polls, so the
   reader runs in it (behind B, queued before that poll: item 3). With a
   long interval it would have waited for a later poll. */
TEST(claimed_iterations_still_let_the_loop_poll_within_the_interval) {
  ev_reset();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, 1e-9));
  struct io_rec r = {loop, p[0]};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], read_one_and_remove_cb, &r));
  struct claim c = {loop, p[1], 0};
  CHECK_OK(eddy_loop_call_soon(loop, claim_until_refused_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(c.claimed, 7);
  CHECK_STR_EQ(ev, "ABr");
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* A batch of 8 or more callbacks reads the clock at once: with an interval of
   1 ns the claim is refused; with an hour it is granted. */
static void claim_after_a_long_batch_cb(void *ud) {
  struct claim *c = ud;
  c->claimed = eddy_loop_claim_iteration(c->loop, 8);
  eddy_loop_stop(c->loop);
}

TEST(claim_iteration_reads_the_clock_after_a_long_batch) {
  eddy_loop_t *loop = new_loop();
  struct claim c = {loop, -1, -1};
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, 1e-9));
  CHECK_OK(eddy_loop_call_soon(loop, claim_after_a_long_batch_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(c.claimed, 0);
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, 3600.0));
  CHECK_OK(eddy_loop_call_soon(loop, claim_after_a_long_batch_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(c.claimed, 1);
  close_loop(loop);
}

/* A long batch refused for other work (a timer waits) still makes the poll
   due: with the late poll, the iteration's own poll then sees the pipe 'A'
   wrote, so the reader runs before 'B', which 'A' queued. Without the
   batch's count the poll would have been skipped, and 'r' would follow 'B'. */
static eddy_handle_t *waiting_timer;
static void claim_refused_but_poll_due_cb(void *ud) {
  struct claim *c = ud;
  ev_add('A');
  CHECK_EQ(write(c->wfd, "r", 1), 1);
  CHECK_OK(eddy_loop_call_later(c->loop, 3600.0, rec_cb, TAG('x'), &waiting_timer));
  CHECK_EQ(eddy_loop_claim_iteration(c->loop, 8), 0);
  CHECK_OK(eddy_loop_call_soon(c->loop, rec_cb, TAG('B'), NULL));
  CHECK_OK(eddy_loop_call_soon(c->loop, stop_cb, c->loop, NULL));
}
/* '0', then the claiming callback in the next iteration: its claim is not
   the run's first poll (which is always made). */
static void zero_then_claim_cb(void *ud) {
  struct claim *c = ud;
  ev_add('0');
  CHECK_OK(eddy_loop_call_soon(c->loop, claim_refused_but_poll_due_cb, c, NULL));
}

TEST(claim_iteration_counts_a_refused_batch_toward_the_poll) {
  ev_reset();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_busy_poll_interval(loop, 1e-9));
  CHECK_OK(eddy_loop_set_late_poll(loop, 1));
  struct io_rec r = {loop, p[0]};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], read_one_and_remove_cb, &r));
  struct claim c = {loop, p[1], 0};
  CHECK_OK(eddy_loop_call_soon(loop, zero_then_claim_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "0ArB");
  CHECK_OK(eddy_handle_cancel(waiting_timer));
  eddy_handle_release(waiting_timer);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* ------------------------------------------ eddy's late poll (not asyncio) */

/* Late poll: callback 0's write is seen by the poll that follows it in the
   same iteration, so the reader runs before callback 1, which 0 scheduled;
   polling first it runs behind 1 (the "01r2345" above). */
TEST(late_poll_sees_io_caused_by_the_iterations_callbacks_before_what_they_scheduled) {
  run_chain(0.0, false, true);
  CHECK_STR_EQ(ev, "0r12345");
  run_chain(0.0, false, false);
  CHECK_STR_EQ(ev, "01r2345");
}

static void queue_b_and_due_timer_cb(void *ud) {
  eddy_loop_t *loop = ud;
  ev_add('a');
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.0, rec_cb, TAG('t'), NULL));
}
static void queue_b_cb(void *ud) {
  eddy_loop_t *loop = ud;
  ev_add('a');
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), NULL));
}

/* Timers keep asyncio's place in both orders. One that a callback makes (or
   that falls due while the late poll's first phase runs) runs behind what
   that callback queued, as asyncio's next poll would find it: "a", then
   "abt". One already due when the iteration began runs in it, after its
   callbacks and ahead of what they queued: "at", then "atb". */
TEST(late_poll_keeps_timers_where_asyncio_runs_them) {
  for (int late = 0; late <= 1; late++) {
    ev_reset();
    eddy_loop_t *loop = new_loop();
    CHECK_OK(eddy_loop_set_late_poll(loop, late));
    CHECK_OK(eddy_loop_call_soon(loop, queue_b_and_due_timer_cb, loop, NULL));
    CHECK_OK(run_once(loop));
    CHECK_STR_EQ(ev, "a");
    CHECK_OK(run_once(loop));
    CHECK_STR_EQ(ev, "abt");

    ev_reset();
    CHECK_OK(eddy_loop_call_later(loop, 0.0, rec_cb, TAG('t'), NULL));
    CHECK_OK(eddy_loop_call_soon(loop, queue_b_cb, loop, NULL));
    usleep(1000); /* t is due before the iteration begins */
    CHECK_OK(run_once(loop));
    CHECK_STR_EQ(ev, "at");
    CHECK_OK(run_once(loop));
    CHECK_STR_EQ(ev, "atb");
    close_loop(loop);
  }
}

/* stop() in the late poll's first phase: the iteration still polls and runs
   its I/O, then run_forever returns; what it scheduled waits for the next run. */
static void write_queue_and_stop_cb(void *ud) {
  struct claim *c = ud;
  ev_add('s');
  CHECK_EQ(write(c->wfd, "r", 1), 1);
  CHECK_OK(eddy_loop_call_soon(c->loop, rec_cb, TAG('n'), NULL));
  eddy_loop_stop(c->loop);
}

TEST(late_poll_stop_finishes_the_iteration_and_keeps_what_it_scheduled) {
  ev_reset();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_late_poll(loop, 1));
  struct io_rec r = {loop, p[0]};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], read_one_and_remove_cb, &r));
  struct claim c = {loop, p[1], 0};
  CHECK_OK(eddy_loop_call_soon(loop, write_queue_and_stop_cb, &c, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "sr");
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "srn");
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

TEST(late_poll_rejects_null_and_can_be_turned_off) {
  CHECK_ERR(eddy_loop_set_late_poll(NULL, 1), EDDY_EINVAL);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_late_poll(loop, 1));
  CHECK_OK(eddy_loop_set_late_poll(loop, 0));
  close_loop(loop);
}

/* ----------------------------------------------- eddy's poll hooks (not asyncio) */

static void hook_before(void *ud) { ev_add(*(const char *)ud == 'x' ? '<' : '?'); }
static void hook_after(void *ud) { ev_add(*(const char *)ud == 'x' ? '>' : '?'); }

/* A poll that blocks (a timer 10 ms away) is wrapped by before and after, in
   that order; the non-blocking polls of iterations with callbacks ready are
   not. */
TEST(poll_hooks_wrap_only_polls_that_may_block) {
  ev_reset();
  static const char tag = 'x';
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_poll_hooks(loop, hook_before, hook_after, (void *)&tag));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "ab");
  CHECK_OK(eddy_loop_call_later(loop, 0.01, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "ab<>");
  /* Both NULL removes them. */
  CHECK_OK(eddy_loop_set_poll_hooks(loop, NULL, NULL, NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.01, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "ab<>");
  close_loop(loop);
}

TEST(poll_hooks_reject_null_loop_and_a_single_hook) {
  eddy_loop_t *loop = new_loop();
  CHECK_ERR(eddy_loop_set_poll_hooks(NULL, hook_before, hook_after, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_poll_hooks(loop, hook_before, NULL, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_poll_hooks(loop, NULL, hook_after, NULL), EDDY_EINVAL);
  close_loop(loop);
}

/* ------------------------------------------------------------- 5. timers due */

/* item 5 */
TEST(timers_run_in_ascending_deadline_order) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  /* The deadlines are ordered however slowly this runs (valgrind): the
     call_later before t is read fires before t + 0.02, the one after all
     of them after t + 0.04; c is scheduled before A and b. */
  CHECK_OK(eddy_loop_call_later(loop, 0.01, rec_cb, TAG('a'), NULL));
  double t = eddy_loop_time(loop);
  CHECK_OK(eddy_loop_call_at(loop, t + 0.04, rec_cb, TAG('c'), NULL));
  CHECK_OK(eddy_loop_call_at(loop, t + 0.02, rec_cb, TAG('A'), NULL));
  CHECK_OK(eddy_loop_call_at(loop, t + 0.03, rec_cb, TAG('b'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.05, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "aAbc");
  close_loop(loop);
}

struct fire_time {
  eddy_loop_t *loop;
  double when;
  double fired;
};
static void fire_time_cb(void *ud) {
  struct fire_time *f = ud;
  f->fired = eddy_loop_time(f->loop);
  eddy_loop_stop(f->loop);
}

/* item 5 */
TEST(timer_never_fires_before_its_deadline) {
  eddy_loop_t *loop = new_loop();
  double delays[] = {0.001, 0.005, 0.012, 0.02};
  for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
    struct fire_time f = {loop, 0, -1};
    eddy_handle_t *h = NULL;
    CHECK_OK(eddy_loop_call_later(loop, delays[i], fire_time_cb, &f, &h));
    CHECK_OK(eddy_handle_when(h, &f.when));
    CHECK_OK(eddy_loop_run_forever(loop));
    CHECK(f.fired >= f.when - 0.001); /* clock resolution allowance */
    CHECK(f.fired < f.when + 0.2);
    eddy_handle_release(h);
  }
  close_loop(loop);
}

/* ------------------------------------------ 6. equal deadlines (eddy: FIFO) */

/* item 6 (eddy's decision: FIFO) */
TEST(equal_deadlines_fire_in_scheduling_order) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  double when = eddy_loop_time(loop) + 0.01;
  const char *tags = "ABCDEFGHIJKLMNOPQRST";
  for (const char *p = tags; *p; p++) CHECK_OK(eddy_loop_call_at(loop, when, rec_cb, TAG(*p), NULL));
  CHECK_OK(eddy_loop_call_at(loop, when + 0.01, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "ABCDEFGHIJKLMNOPQRST");
  close_loop(loop);
}

/* item 6 (eddy's decision: FIFO; also for already expired equal deadlines) */
TEST(equal_past_deadlines_fire_in_scheduling_order) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  double when = eddy_loop_time(loop) - 1.0;
  const char *tags = "0123456789abcdefghij";
  for (const char *p = tags; *p; p++) CHECK_OK(eddy_loop_call_at(loop, when, rec_cb, TAG(*p), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "0123456789abcdefghij");
  close_loop(loop);
}

/* ------------------------------------------------------- 7. timer arguments */

/* item 7 */
TEST(call_later_and_call_at_reject_nan_and_null_callback) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_handle_t *h = NULL;
  CHECK_ERR(eddy_loop_call_later(loop, NAN, rec_cb, TAG('x'), &h), EDDY_EINVAL);
  CHECK(h == NULL);
  CHECK_ERR(eddy_loop_call_at(loop, NAN, rec_cb, TAG('y'), &h), EDDY_EINVAL);
  CHECK(h == NULL);
  CHECK_ERR(eddy_loop_call_later(loop, 0.0, NULL, TAG('z'), &h), EDDY_EINVAL);
  CHECK(h == NULL);
  CHECK_ERR(eddy_loop_call_at(loop, eddy_loop_time(loop), NULL, TAG('z'), &h), EDDY_EINVAL);
  CHECK(h == NULL);
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, ""); /* nothing was scheduled */
  close_loop(loop);
}

/* item 7 */
TEST(negative_delay_and_past_when_are_due_now) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_later(loop, -5.0, rec_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_at(loop, eddy_loop_time(loop) - 100.0, rec_cb, TAG('b'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.0, rec_cb, TAG('c'), NULL));
  CHECK_OK(eddy_loop_call_at(loop, -1.0, rec_cb, TAG('d'), NULL));
  count_blocking_polls(loop);
  CHECK_OK(run_once(loop));
  CHECK_EQ(blocking_polls, 0);
  /* ascending deadline order: d (-1) < b (t-100)?  Not necessarily; only check
     that all four ran in this first iteration. */
  CHECK_EQ(nev, 4);
  CHECK_EQ(ev_count('a'), 1);
  CHECK_EQ(ev_count('b'), 1);
  CHECK_EQ(ev_count('c'), 1);
  CHECK_EQ(ev_count('d'), 1);
  close_loop(loop);
}

/* --------------------------------------------- 8. handles returned, when() */

/* item 8 */
TEST(call_later_handle_when_is_loop_time_plus_delay) {
  eddy_loop_t *loop = new_loop();
  eddy_handle_t *h = NULL;
  double t0 = eddy_loop_time(loop);
  CHECK_OK(eddy_loop_call_later(loop, 0.5, rec_cb, TAG('x'), &h));
  double t1 = eddy_loop_time(loop);
  CHECK(h != NULL);
  double when = -1;
  CHECK_OK(eddy_handle_when(h, &when));
  /* when == time() + delay, time() read inside the call: between the two
     readings around it, within 1 ms */
  CHECK(when >= t0 + 0.5 - 1e-9);
  CHECK(when <= t1 + 0.5 + 0.001);
  CHECK_OK(eddy_handle_cancel(h));
  eddy_handle_release(h);
  close_loop(loop);
}

/* item 8 */
TEST(call_at_handle_when_is_the_absolute_time_given) {
  eddy_loop_t *loop = new_loop();
  eddy_handle_t *h = NULL;
  double at = eddy_loop_time(loop) + 1.25;
  CHECK_OK(eddy_loop_call_at(loop, at, rec_cb, TAG('x'), &h));
  double when = -1;
  CHECK_OK(eddy_handle_when(h, &when));
  CHECK_NEAR(when, at, 1e-9);
  eddy_handle_release(h);
  close_loop(loop);
}

/* item 8 */
TEST(call_soon_handle_has_no_when) {
  eddy_loop_t *loop = new_loop();
  eddy_handle_t *h = NULL, *ht = NULL;
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('x'), &h));
  CHECK_OK(eddy_loop_call_soon_threadsafe(loop, rec_cb, TAG('y'), &ht));
  double when = 42.0;
  CHECK_ERR(eddy_handle_when(h, &when), EDDY_EINVAL);
  CHECK(when == 42.0); /* outputs are written only on success */
  CHECK_ERR(eddy_handle_when(ht, &when), EDDY_EINVAL);
  CHECK(when == 42.0);
  eddy_handle_release(h);
  eddy_handle_release(ht);
  close_loop(loop);
}

/* ------------------------------------------------------- 9. cancel handles */

/* item 9 */
TEST(cancelled_handle_never_runs_and_cancel_is_idempotent) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_handle_t *h1 = NULL, *h2 = NULL, *h3 = NULL;
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), &h1));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), &h2));
  CHECK_OK(eddy_loop_call_later(loop, 0.0, rec_cb, TAG('c'), &h3));
  CHECK_EQ(eddy_handle_cancelled(h2), 0);
  CHECK_OK(eddy_handle_cancel(h2));
  CHECK_EQ(eddy_handle_cancelled(h2), 1);
  CHECK_OK(eddy_handle_cancel(h2));
  CHECK_EQ(eddy_handle_cancelled(h2), 1);
  CHECK_OK(eddy_handle_cancel(h3));
  CHECK_EQ(eddy_handle_cancelled(h3), 1);
  CHECK_OK(eddy_loop_call_later(loop, 0.02, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "a");
  CHECK_EQ(eddy_handle_cancelled(h1), 0);
  /* cancelling after it ran is harmless */
  CHECK_OK(eddy_handle_cancel(h1));
  eddy_handle_release(h1);
  eddy_handle_release(h2);
  eddy_handle_release(h3);
  close_loop(loop);
}

static eddy_handle_t *to_cancel;
static void cancel_other_cb(void *ud) {
  ev_add((char)(intptr_t)ud);
  eddy_handle_cancel(to_cancel);
}

/* item 9 */
TEST(cancelling_a_later_handle_of_the_current_snapshot_prevents_it) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_soon(loop, cancel_other_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('b'), &to_cancel));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('c'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "ac");
  CHECK_EQ(eddy_handle_cancelled(to_cancel), 1);
  eddy_handle_release(to_cancel);
  close_loop(loop);
}

/* item 9 */
TEST(cancelling_an_expired_timer_of_the_current_snapshot_prevents_it) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_soon(loop, cancel_other_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, -1.0, rec_cb, TAG('t'), &to_cancel));
  CHECK_OK(eddy_loop_call_later(loop, -0.5, rec_cb, TAG('u'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "au");
  eddy_handle_release(to_cancel);
  close_loop(loop);
}

/* ------------------------------------------- 10. mass-cancelled timers */

static int timer_hits[1000];
static void timer_hit_cb(void *ud) { timer_hits[(intptr_t)ud]++; }

/* item 10 */
TEST(many_cancelled_timers_leave_the_others_intact) {
  memset(timer_hits, 0, sizeof timer_hits);
  ev_reset();
  eddy_loop_t *loop = new_loop();
  static eddy_handle_t *hs[1000];
  for (int i = 0; i < 1000; i++)
    CHECK_OK(eddy_loop_call_later(loop, 0.001 + (i % 10) * 0.001, timer_hit_cb, TAG(i), &hs[i]));
  /* cancel 90 %: more than 100 timers and more than half cancelled */
  for (int i = 0; i < 1000; i++)
    if (i % 10 != 3) CHECK_OK(eddy_handle_cancel(hs[i]));
  /* plus far timers, all cancelled, and one that stops */
  for (int i = 0; i < 200; i++) {
    eddy_handle_t *h = NULL;
    CHECK_OK(eddy_loop_call_later(loop, 100.0 + i, rec_cb, TAG('X'), &h));
    CHECK_OK(eddy_handle_cancel(h));
    eddy_handle_release(h);
  }
  CHECK_OK(eddy_loop_call_later(loop, 0.03, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  int ran = 0, wrong = 0;
  for (int i = 0; i < 1000; i++) {
    if (i % 10 == 3) {
      ran += timer_hits[i] == 1;
      wrong += timer_hits[i] != 1;
    } else {
      wrong += timer_hits[i] != 0;
    }
  }
  CHECK_EQ(ran, 100);
  CHECK_EQ(wrong, 0);
  CHECK_STR_EQ(ev, "");
  for (int i = 0; i < 1000; i++) eddy_handle_release(hs[i]);
  close_loop(loop);
}

/* ----------------------------------------------------------- 11. loop.time */

/* item 11 */
TEST(loop_time_never_decreases) {
  eddy_loop_t *loop = new_loop();
  double prev = eddy_loop_time(loop);
  int decreased = 0;
  for (int i = 0; i < 20000; i++) {
    double t = eddy_loop_time(loop);
    if (t < prev) decreased++;
    prev = t;
  }
  CHECK_EQ(decreased, 0);
  close_loop(loop);
}

/* item 11 */
TEST(loop_time_advances_with_real_time) {
  eddy_loop_t *loop = new_loop();
  double t0 = eddy_loop_time(loop);
  sleep_s(0.02);
  double t1 = eddy_loop_time(loop);
  CHECK(t1 - t0 >= 0.019);
  close_loop(loop);
}

/* item 11: loop.time() is time.monotonic(), i.e. CLOCK_MONOTONIC */
TEST(loop_time_is_the_monotonic_clock) {
  eddy_loop_t *loop = new_loop();
  CHECK_NEAR(eddy_loop_time(loop), now_s(), 0.05);
  close_loop(loop);
}

struct time_in_cb {
  eddy_loop_t *loop;
  double t0, t1;
};
static void time_in_cb(void *ud) {
  struct time_in_cb *t = ud;
  t->t0 = eddy_loop_time(t->loop);
  busy_wait(0.005);
  t->t1 = eddy_loop_time(t->loop);
}

/* item 11 (docs/api.md section 12: time is read on every call, not cached per iteration) */
TEST(loop_time_is_read_on_every_call_inside_a_callback) {
  eddy_loop_t *loop = new_loop();
  struct time_in_cb t = {loop, 0, 0};
  CHECK_OK(eddy_loop_call_soon(loop, time_in_cb, &t, NULL));
  CHECK_OK(run_once(loop));
  CHECK(t.t1 - t.t0 >= 0.0045);
  close_loop(loop);
}

/* ----------------------------------------------------------------- 12. stop */

struct stopper {
  eddy_loop_t *loop;
};
static void stop_and_schedule_cb(void *ud) {
  struct stopper *s = ud;
  ev_add('A');
  eddy_loop_stop(s->loop);
  eddy_loop_call_soon(s->loop, rec_cb, TAG('C'), NULL);
}

/* item 12 */
TEST(stop_lets_the_snapshot_finish_and_keeps_new_callbacks_queued) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct stopper s = {loop};
  CHECK_OK(eddy_loop_call_soon(loop, stop_and_schedule_cb, &s, NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('B'), NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "AB");
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  /* the flag was cleared: the next run_forever runs C and then keeps running
     until the timer stops it */
  CHECK_OK(eddy_loop_call_later(loop, 0.02, rec_cb, TAG('D'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.02, stop_cb, loop, NULL));
  double t0 = now_s();
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK(now_s() - t0 >= 0.015);
  CHECK_STR_EQ(ev, "ABCD");
  close_loop(loop);
}

/* item 12 */
TEST(stop_outside_a_running_loop_returns_zero) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_stop(loop));
  CHECK_OK(eddy_loop_stop(loop));
  CHECK_OK(eddy_loop_run_forever(loop));
  close_loop(loop);
}

/* ------------------------------------------------- 13. stop before run_forever */

/* item 13 */
TEST(stop_before_run_forever_runs_exactly_one_iteration) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct chain a = {loop, 'a', 'b'};
  CHECK_OK(eddy_loop_call_soon(loop, chain_cb, &a, NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.1, rec_cb, TAG('t'), NULL));
  CHECK_OK(eddy_loop_stop(loop));
  count_blocking_polls(loop);
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(blocking_polls, 0); /* poll timeout 0, not the timer's 100 ms */
  CHECK_STR_EQ(ev, "a");
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  close_loop(loop);
}

/* item 13 */
TEST(stop_before_run_forever_with_nothing_scheduled_returns_at_once) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_stop(loop));
  count_blocking_polls(loop);
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(blocking_polls, 0);
  close_loop(loop);
}

/* ------------------------------------------------------ 14. run_until_complete */

struct ruc_setter {
  eddy_loop_t *loop;
  eddy_future_t *fut;
  int mode; /* 0 result, 1 error, 2 cancel */
  int rc;
};
static void after_cb(void *ud) {
  eddy_loop_t *loop = ud;
  ev_add('x');
  eddy_loop_call_soon(loop, rec_cb, TAG('y'), NULL);
}
static void ruc_set_cb(void *ud) {
  struct ruc_setter *s = ud;
  ev_add('s');
  if (s->mode == 0)
    s->rc = eddy_future_set_result(s->fut, TAG('r'), 42);
  else if (s->mode == 1)
    s->rc = eddy_future_set_error(s->fut, EDDY_EIO, "boom");
  else
    s->rc = eddy_future_cancel(s->fut);
  eddy_loop_call_soon(s->loop, after_cb, s->loop, NULL);
}

/* item 14 */
TEST(run_until_complete_returns_zero_on_result_and_stops_after_that_iteration) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  struct ruc_setter s = {loop, f, 0, 1};
  CHECK_OK(eddy_loop_call_soon(loop, ruc_set_cb, &s, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(s.rc);
  /* iteration 1: s (completes, schedules the stop callback, then x);
     iteration 2: stop callback, x (same snapshot, still runs); y stays queued */
  CHECK_STR_EQ(ev, "sx");
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  CHECK_EQ(eddy_future_done(f), 1);
  void *ptr = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, &ptr, &n));
  CHECK(ptr == TAG('r'));
  CHECK_EQ(n, 42);
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "sxy");
  eddy_future_release(f);
  close_loop(loop);
}

/* item 14 */
TEST(run_until_complete_returns_the_future_error) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  struct ruc_setter s = {loop, f, 1, 1};
  CHECK_OK(eddy_loop_call_soon(loop, ruc_set_cb, &s, NULL));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f), EDDY_EIO);
  CHECK_OK(s.rc);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  eddy_future_release(f);
  close_loop(loop);
}

/* item 14 */
TEST(run_until_complete_of_a_cancelled_future_returns_ecanceled) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  struct ruc_setter s = {loop, f, 2, 0};
  CHECK_OK(eddy_loop_call_soon(loop, ruc_set_cb, &s, NULL));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f), EDDY_ECANCELED);
  CHECK_EQ(s.rc, 1);
  eddy_future_release(f);
  close_loop(loop);
}

/* item 14 */
TEST(run_until_complete_of_an_already_done_future_returns_its_outcome) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL, *g = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_loop_create_future(loop, &g));
  CHECK_OK(eddy_future_set_result(f, NULL, 5));
  CHECK_OK(eddy_future_set_error(g, EDDY_ENOENT, NULL));
  count_blocking_polls(loop);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_ERR(eddy_loop_run_until_complete(loop, g), EDDY_ENOENT);
  CHECK_EQ(blocking_polls, 0);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  eddy_future_release(f);
  eddy_future_release(g);
  close_loop(loop);
}

static int step_runs;
static void step_result(eddy_future_t *task, void *ud) {
  (void)ud;
  step_runs++;
  ev_add('T');
  eddy_future_set_result(task, NULL, 7);
}
static void step_error(eddy_future_t *task, void *ud) {
  (void)ud;
  step_runs++;
  eddy_future_set_error(task, EDDY_ENOENT, "no such thing");
}

/* item 14 (a task stands in for the wrapped coroutine) */
TEST(run_until_complete_drives_a_task_to_its_result) {
  ev_reset();
  step_runs = 0;
  eddy_loop_t *loop = new_loop();
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_result, NULL, &t));
  CHECK_EQ(step_runs, 0); /* not run synchronously */
  CHECK_OK(eddy_loop_run_until_complete(loop, t));
  CHECK_EQ(step_runs, 1);
  int64_t n = 0;
  CHECK_OK(eddy_future_result(t, NULL, &n));
  CHECK_EQ(n, 7);
  eddy_future_release(t);

  CHECK_OK(eddy_loop_create_task(loop, step_error, NULL, &t));
  CHECK_ERR(eddy_loop_run_until_complete(loop, t), EDDY_ENOENT);
  CHECK_EQ(step_runs, 2);
  eddy_future_release(t);
  close_loop(loop);
}

/* ------------------------------------------- 15. run_until_complete edge cases */

/* item 15 */
TEST(run_until_complete_when_loop_stops_first_returns_einvalstate) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f), EDDY_EINVALSTATE);
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  /* the future can still complete and be waited for afterwards */
  struct ruc_setter s = {loop, f, 0, 1};
  CHECK_OK(eddy_loop_call_later(loop, 0.01, ruc_set_cb, &s, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(s.rc);
  eddy_future_release(f);
  close_loop(loop);
}

/* item 15 */
TEST(run_until_complete_with_a_future_of_another_loop_is_einval) {
  ev_reset();
  eddy_loop_t *loop = new_loop(), *other = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(other, &f));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), NULL));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f), EDDY_EINVAL);
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  eddy_future_release(f);
  close_loop(other);
  close_loop(loop);
}

/* ------------------------------------------------------------ 16. re-entrancy */

struct reent {
  eddy_loop_t *loop, *other;
  eddy_future_t *fut, *ofut;
  int rf, ruc, orf, oruc;
  eddy_loop_t *running_after;
};
static void reenter_cb(void *ud) {
  struct reent *r = ud;
  r->rf = eddy_loop_run_forever(r->loop);
  r->ruc = eddy_loop_run_until_complete(r->loop, r->fut);
  r->orf = eddy_loop_run_forever(r->other);
  r->oruc = eddy_loop_run_until_complete(r->other, r->ofut);
  r->running_after = eddy_get_running_loop();
  ev_add('r');
}

/* item 16 */
TEST(running_a_loop_inside_a_callback_is_erunning) {
  ev_reset();
  eddy_loop_t *loop = new_loop(), *other = new_loop();
  struct reent r = {loop, other, NULL, NULL, 1, 1, 1, 1, NULL};
  CHECK_OK(eddy_loop_create_future(loop, &r.fut));
  CHECK_OK(eddy_loop_create_future(other, &r.ofut));
  CHECK_OK(eddy_future_set_result(r.fut, NULL, 0));
  CHECK_OK(eddy_future_set_result(r.ofut, NULL, 0));
  CHECK_OK(eddy_loop_call_soon(other, rec_cb, TAG('o'), NULL));
  CHECK_OK(eddy_loop_call_soon(loop, reenter_cb, &r, NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_soon(loop, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_ERR(r.rf, EDDY_ERUNNING);
  CHECK_ERR(r.ruc, EDDY_ERUNNING);
  CHECK_ERR(r.orf, EDDY_ERUNNING);
  CHECK_ERR(r.oruc, EDDY_ERUNNING);
  CHECK(r.running_after == loop);
  CHECK_STR_EQ(ev, "ra"); /* the other loop's callback did not run */
  CHECK_EQ(eddy_loop_is_running(other), 0);
  CHECK(eddy_get_running_loop() == NULL);
  /* both loops still work */
  CHECK_OK(run_once(other));
  CHECK_STR_EQ(ev, "rao");
  CHECK_OK(eddy_loop_run_until_complete(loop, r.fut));
  eddy_future_release(r.fut);
  eddy_future_release(r.ofut);
  close_loop(other);
  close_loop(loop);
}

/* ------------------------------------------------ 17. close on a running loop */

struct closer {
  eddy_loop_t *loop;
  int rc;
  int closed;
};
static void close_inside_cb(void *ud) {
  struct closer *c = ud;
  c->rc = eddy_loop_close(c->loop);
  c->closed = eddy_loop_is_closed(c->loop);
  ev_add('c');
}

/* item 17 */
TEST(close_inside_a_callback_is_erunning_and_the_loop_keeps_working) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct closer c = {loop, 1, -1};
  CHECK_OK(eddy_loop_call_soon(loop, close_inside_cb, &c, NULL));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.01, rec_cb, TAG('t'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.01, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_ERR(c.rc, EDDY_ERUNNING);
  CHECK_EQ(c.closed, 0);
  CHECK_STR_EQ(ev, "cat");
  CHECK_EQ(eddy_loop_is_closed(loop), 0);
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(eddy_loop_is_closed(loop), 1);
  eddy_loop_release(loop);
}

/* --------------------------------------------------------------- 18. close */

/* item 18 */
TEST(close_is_idempotent) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(eddy_loop_is_closed(loop), 1);
  CHECK_OK(eddy_loop_close(loop));
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(eddy_loop_is_closed(loop), 1);
  eddy_loop_release(loop);
}

/* item 18 */
TEST(close_drops_pending_callbacks_which_never_run) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('s'), NULL));
  CHECK_OK(eddy_loop_call_soon_threadsafe(loop, rec_cb, TAG('t'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.0, rec_cb, TAG('l'), &h));
  CHECK_OK(eddy_loop_call_at(loop, eddy_loop_time(loop) - 1, rec_cb, TAG('a'), NULL));
  CHECK_OK(eddy_loop_close(loop));
  CHECK_ERR(eddy_loop_run_forever(loop), EDDY_ECLOSED);
  eddy_loop_release(loop);
  CHECK_STR_EQ(ev, "");
  /* a handle outlives its loop: closed is a state, not a dangling pointer */
  CHECK_OK(eddy_handle_cancel(h));
  CHECK_EQ(eddy_handle_cancelled(h), 1);
  eddy_handle_release(h);
  CHECK_STR_EQ(ev, "");
}

/* item 18 (docs/api.md section 4: afterwards no fd of the loop is left open) */
TEST(close_leaves_no_fd_of_the_loop_open) {
  int base = count_fds();
  CHECK(base > 0);
  eddy_loop_t *loop = new_loop();
  /* exercise the poller, the timer path and the self-pipe */
  CHECK_OK(eddy_loop_call_later(loop, 0.005, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_call_soon_threadsafe(loop, rec_cb, TAG('t'), NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(count_fds(), base);
  eddy_loop_release(loop);
  CHECK_EQ(count_fds(), base);
}

/* What a binding lends the loop as `ud` (a callback's or a protocol's data)
   it may free once close returns: close calls none of them, and nothing
   done afterwards with the loop's futures, handles and transports calls
   them either. Each `ud` here is heap memory freed right after close, so a
   late call also shows under valgrind as a read of freed memory. */
static void lent_cb(void *ud) { ev_add(*(char *)ud); }
static void lent_done_cb(eddy_future_t *f, void *ud) {
  (void)f;
  ev_add(*(char *)ud);
}
static void lent_made(eddy_transport_t *t, void *ud) {
  (void)t;
  ev_add(*(char *)ud);
}
static void lent_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  (void)err;
  ev_add(*(char *)ud);
}
static void lent_data(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
  (void)t;
  (void)data;
  (void)len;
  ev_add(*(char *)ud);
}
static bool lent_eof(eddy_transport_t *t, void *ud) {
  (void)t;
  ev_add(*(char *)ud);
  return false;
}
static const eddy_protocol_t lent_proto = {
    .connection_made = lent_made,
    .connection_lost = lent_lost,
    .data_received = lent_data,
    .eof_received = lent_eof,
};

static char *lent_tag(char c) {
  char *p = malloc(1);
  CHECK(p != NULL);
  *p = c;
  return p;
}

/* item 18 (docs/api.md section 4: close drops without calling back) */
TEST(close_calls_nothing_it_was_lent_and_nothing_calls_it_afterwards) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  int sv[2], tv[2];
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
  tcp_pair(tv);
  char *made = lent_tag('m');
  char *tags[6];
  const char *names = "fdrtTx";
  for (int i = 0; i < 6; i++) tags[i] = lent_tag(names[i]);

  /* a connection, made before close: its protocol data is lent too */
  eddy_future_t *conn = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &lent_proto, made, tv[0], NULL, &conn));
  WAIT_UNTIL(loop, eddy_future_done(conn), 10.0);
  CHECK_STR_EQ(ev, "m");
  void *tp = NULL;
  CHECK_OK(eddy_future_result(conn, &tp, NULL));
  eddy_transport_t *t = tp;
  eddy_transport_retain(t);
  *made = 'T';  /* from here on its callbacks must not run */

  eddy_future_t *f = NULL, *recv = NULL;
  eddy_handle_t *timer = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_future_add_done_callback(f, lent_done_cb, tags[0]));
  CHECK_OK(eddy_loop_sock_recv(loop, sv[0], 16, &recv));
  CHECK_OK(eddy_future_add_done_callback(recv, lent_done_cb, tags[1]));
  CHECK_OK(eddy_loop_add_reader(loop, sv[1], lent_cb, tags[2]));
  CHECK_OK(eddy_loop_call_later(loop, 3600, lent_cb, tags[3], &timer));
  CHECK_OK(eddy_loop_call_soon(loop, lent_cb, tags[4], NULL));
  CHECK_OK(eddy_loop_call_soon_threadsafe(loop, lent_cb, tags[5], NULL));
  CHECK_STR_EQ(ev, "m");

  CHECK_OK(eddy_loop_close(loop));
  CHECK_STR_EQ(ev, "m");
  free(made);
  for (int i = 0; i < 6; i++) free(tags[i]);

  /* everything a caller may still do with the closed loop's objects */
  CHECK_EQ(send(sv[1], "x", 1, 0), 1);
  CHECK_EQ(send(tv[1], "x", 1, 0), 1);
  CHECK_OK(eddy_future_set_result(f, NULL, 0));
  CHECK_EQ(eddy_future_cancel(recv), 1);
  CHECK_EQ(eddy_future_cancel(conn), 0);
  CHECK_OK(eddy_handle_cancel(timer));
  CHECK_ERR(eddy_transport_write(t, "y", 1), EDDY_ECLOSED);
  CHECK_OK(eddy_transport_close(t));
  CHECK_OK(eddy_transport_abort(t));
  CHECK_ERR(eddy_loop_run_forever(loop), EDDY_ECLOSED);
  eddy_handle_release(timer);
  eddy_future_release(f);
  eddy_future_release(recv);
  eddy_future_release(conn);
  eddy_transport_release(t);
  eddy_loop_release(loop);
  CHECK_STR_EQ(ev, "m");
  close(sv[0]);
  close(sv[1]);
  close(tv[1]);
}

/* ------------------------------------------------------- 19. after close() */

static void never_step(eddy_future_t *task, void *ud) {
  (void)ud;
  ev_add('T');
  eddy_future_set_result(task, NULL, 0);
}

/* item 19 */
TEST(closed_loop_refuses_scheduling_with_eclosed) {
  ev_reset();
  int p[2];
  CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  eddy_loop_t *loop = new_loop();
  eddy_future_t *pending = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &pending));
  CHECK_OK(eddy_loop_close(loop));

  eddy_handle_t *h = NULL;
  CHECK_ERR(eddy_loop_call_soon(loop, rec_cb, TAG('s'), &h), EDDY_ECLOSED);
  CHECK(h == NULL);
  CHECK_ERR(eddy_loop_call_later(loop, 0.0, rec_cb, TAG('l'), &h), EDDY_ECLOSED);
  CHECK(h == NULL);
  CHECK_ERR(eddy_loop_call_at(loop, 0.0, rec_cb, TAG('a'), &h), EDDY_ECLOSED);
  CHECK(h == NULL);
  CHECK_ERR(eddy_loop_call_soon_threadsafe(loop, rec_cb, TAG('t'), &h), EDDY_ECLOSED);
  CHECK(h == NULL);
  CHECK_ERR(eddy_loop_run_forever(loop), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_run_until_complete(loop, pending), EDDY_ECLOSED);
  eddy_future_t *t = NULL;
  CHECK_ERR(eddy_loop_create_task(loop, never_step, NULL, &t), EDDY_ECLOSED);
  CHECK(t == NULL);
  CHECK_ERR(eddy_loop_add_reader(loop, p[0], rec_cb, TAG('r')), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_add_writer(loop, p[1], rec_cb, TAG('w')), EDDY_ECLOSED);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 0);
  /* create_future is not checked and succeeds */
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK(f != NULL);
  CHECK_EQ(eddy_future_done(f), 0);
  eddy_future_release(f);
  CHECK_STR_EQ(ev, "");
  eddy_future_release(pending);
  eddy_loop_release(loop);
  close(p[0]);
  close(p[1]);
}

/* ------------------------------------------- 20. is_running, is_closed, running loop */

struct observe {
  eddy_loop_t *loop;
  int running, closed;
  eddy_loop_t *current;
};
static void observe_cb(void *ud) {
  struct observe *o = ud;
  o->running = eddy_loop_is_running(o->loop);
  o->closed = eddy_loop_is_closed(o->loop);
  o->current = eddy_get_running_loop();
}

/* item 20 */
TEST(is_running_and_get_running_loop_only_inside_run_forever) {
  eddy_loop_t *loop = new_loop();
  CHECK(eddy_get_running_loop() == NULL);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  CHECK_EQ(eddy_loop_is_closed(loop), 0);
  struct observe o = {loop, -1, -1, NULL};
  CHECK_OK(eddy_loop_call_soon(loop, observe_cb, &o, NULL));
  CHECK_OK(run_once(loop));
  CHECK_EQ(o.running, 1);
  CHECK_EQ(o.closed, 0);
  CHECK(o.current == loop);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  CHECK(eddy_get_running_loop() == NULL);
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(eddy_loop_is_closed(loop), 1);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  eddy_loop_release(loop);
}

struct observe_fut {
  struct observe o;
  eddy_future_t *f;
};
static void observe_and_finish_cb(void *ud) {
  struct observe_fut *of = ud;
  observe_cb(&of->o);
  eddy_future_set_result(of->f, NULL, 0);
}

/* item 20 */
TEST(is_running_inside_run_until_complete) {
  eddy_loop_t *loop = new_loop();
  struct observe_fut of = {{loop, -1, -1, NULL}, NULL};
  CHECK_OK(eddy_loop_create_future(loop, &of.f));
  CHECK_OK(eddy_loop_call_later(loop, 0.005, observe_and_finish_cb, &of, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, of.f));
  CHECK_EQ(of.o.running, 1);
  CHECK(of.o.current == loop);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  CHECK(eddy_get_running_loop() == NULL);
  eddy_future_release(of.f);
  close_loop(loop);
}

/* ----------------------------------------------------- 21. call_soon_threadsafe */

/* item 21 */
TEST(call_soon_threadsafe_wakes_a_loop_blocked_on_a_long_timer) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_call_later(loop, 5.0, rec_cb, TAG('X'), NULL));
  struct waker w = {loop, 0.03, 0, 0, 1};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, waker_thread, &w), 0);
  int rc = eddy_loop_run_forever(loop);
  pthread_join(th, NULL);
  CHECK_OK(rc);
  CHECK_OK(w.rc);
  CHECK_STR_EQ(ev, "w");
  close_loop(loop);
}

#define TS_THREADS 4
#define TS_PER_THREAD 250
static int ts_hits[TS_THREADS * TS_PER_THREAD];
static int ts_total;
static int ts_timed_out;
struct ts_arg {
  eddy_loop_t *loop;
  int base;
  int fails;
};
static eddy_loop_t *ts_loop;
static void ts_hit_cb(void *ud) {
  ts_hits[(intptr_t)ud]++;
  if (++ts_total == TS_THREADS * TS_PER_THREAD) eddy_loop_stop(ts_loop);
}
static void ts_timeout_cb(void *ud) {
  ts_timed_out = 1;
  eddy_loop_stop((eddy_loop_t *)ud);
}
static void *ts_thread(void *p) {
  struct ts_arg *a = p;
  for (int i = 0; i < TS_PER_THREAD; i++) {
    eddy_handle_t *h = NULL;
    /* every other call asks for a handle, to exercise both paths */
    int rc = eddy_loop_call_soon_threadsafe(a->loop, ts_hit_cb, TAG(a->base + i), (i & 1) ? &h : NULL);
    if (rc != 0) a->fails++;
    if (h) eddy_handle_release(h);
  }
  return NULL;
}

/* item 21 */
TEST(call_soon_threadsafe_from_four_threads_runs_each_callback_exactly_once) {
  memset(ts_hits, 0, sizeof ts_hits);
  ts_total = 0;
  ts_timed_out = 0;
  eddy_loop_t *loop = new_loop();
  ts_loop = loop;
  CHECK_OK(eddy_loop_call_later(loop, 3.0, ts_timeout_cb, loop, NULL));
  pthread_t th[TS_THREADS];
  struct ts_arg args[TS_THREADS];
  for (int i = 0; i < TS_THREADS; i++) {
    args[i] = (struct ts_arg){loop, i * TS_PER_THREAD, 0};
    CHECK_EQ(pthread_create(&th[i], NULL, ts_thread, &args[i]), 0);
  }
  int rc = eddy_loop_run_forever(loop);
  for (int i = 0; i < TS_THREADS; i++) pthread_join(th[i], NULL);
  CHECK_OK(rc);
  for (int i = 0; i < TS_THREADS; i++) CHECK_EQ(args[i].fails, 0);
  CHECK_EQ(ts_timed_out, 0);
  /* nothing more is pending */
  CHECK_OK(run_once(loop));
  CHECK_EQ(ts_total, TS_THREADS * TS_PER_THREAD);
  int bad = 0;
  for (int i = 0; i < TS_THREADS * TS_PER_THREAD; i++) bad += ts_hits[i] != 1;
  CHECK_EQ(bad, 0);
  close_loop(loop);
}

struct ts_closed {
  eddy_loop_t *loop;
  int rc;
  eddy_handle_t *h;
};
static void *ts_closed_thread(void *p) {
  struct ts_closed *c = p;
  c->rc = eddy_loop_call_soon_threadsafe(c->loop, rec_cb, TAG('x'), &c->h);
  return NULL;
}

/* item 21 */
TEST(call_soon_threadsafe_after_close_is_eclosed) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  eddy_handle_t *h = NULL;
  CHECK_ERR(eddy_loop_call_soon_threadsafe(loop, rec_cb, TAG('y'), &h), EDDY_ECLOSED);
  CHECK(h == NULL);
  struct ts_closed c = {loop, 0, NULL};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, ts_closed_thread, &c), 0);
  pthread_join(th, NULL);
  CHECK_ERR(c.rc, EDDY_ECLOSED);
  CHECK(c.h == NULL);
  eddy_loop_release(loop);
  CHECK_STR_EQ(ev, "");
}

/* --------------------------- 22 and 47: plain calls from another thread */

struct foreign {
  eddy_loop_t *loop;
  double when;
  int rs, rl, ra, rts;
  eddy_handle_t *hs, *hl, *ha, *hts;
};
static void *foreign_calls_thread(void *p) {
  struct foreign *f = p;
  f->rs = eddy_loop_call_soon(f->loop, rec_cb, TAG('s'), &f->hs);
  f->rl = eddy_loop_call_later(f->loop, 0.0, rec_cb, TAG('l'), &f->hl);
  f->ra = eddy_loop_call_at(f->loop, f->when, rec_cb, TAG('a'), &f->ha);
  f->rts = eddy_loop_call_soon_threadsafe(f->loop, rec_cb, TAG('t'), &f->hts);
  return NULL;
}
/* Runs in the loop's thread: the loop is running, and this callback waits for
   the foreign thread, so the foreign calls do not race with the loop. */
static void spawn_foreign_and_join_cb(void *ud) {
  struct foreign *f = ud;
  pthread_t th;
  if (pthread_create(&th, NULL, foreign_calls_thread, f) == 0) pthread_join(th, NULL);
}
static void foreign_init(struct foreign *f, eddy_loop_t *loop) {
  memset(f, 0, sizeof *f);
  f->loop = loop;
  f->when = eddy_loop_time(loop) - 0.001;
  f->rs = f->rl = f->ra = f->rts = 1;
}
static void foreign_release(struct foreign *f) {
  eddy_handle_release(f->hs);
  eddy_handle_release(f->hl);
  eddy_handle_release(f->ha);
  eddy_handle_release(f->hts);
}

/* item 47 */
TEST(debug_mode_rejects_non_threadsafe_calls_from_a_foreign_thread_while_running) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_debug(loop, true));
  struct foreign f;
  foreign_init(&f, loop);
  CHECK_OK(eddy_loop_call_soon(loop, spawn_foreign_and_join_cb, &f, NULL));
  CHECK_OK(run_once(loop));
  CHECK_ERR(f.rs, EDDY_EWRONGTHREAD);
  CHECK_ERR(f.rl, EDDY_EWRONGTHREAD);
  CHECK_ERR(f.ra, EDDY_EWRONGTHREAD);
  CHECK(f.hs == NULL);
  CHECK(f.hl == NULL);
  CHECK(f.ha == NULL);
  CHECK_OK(f.rts); /* call_soon_threadsafe is never checked */
  CHECK(f.hts != NULL);
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "t");
  foreign_release(&f);
  close_loop(loop);
}

/* item 47 (no check outside debug mode); item 22 (plain call_soon
   from another thread is accepted; eddy is free to wake the loop or not) */
TEST(non_debug_mode_accepts_non_threadsafe_calls_from_a_foreign_thread) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_EQ(eddy_loop_get_debug(loop), 0);
  struct foreign f;
  foreign_init(&f, loop);
  CHECK_OK(eddy_loop_call_soon(loop, spawn_foreign_and_join_cb, &f, NULL));
  CHECK_OK(run_once(loop));
  CHECK_OK(f.rs);
  CHECK_OK(f.rl);
  CHECK_OK(f.ra);
  CHECK_OK(f.rts);
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_EQ(nev, 4);
  CHECK_EQ(ev_count('s'), 1);
  CHECK_EQ(ev_count('l'), 1);
  CHECK_EQ(ev_count('a'), 1);
  CHECK_EQ(ev_count('t'), 1);
  /* s and t were queued with call_soon semantics in that order */
  CHECK(strchr(ev, 's') < strchr(ev, 't'));
  foreign_release(&f);
  close_loop(loop);
}

/* item 47 (no check when the loop is not running) */
TEST(debug_mode_accepts_calls_from_a_foreign_thread_while_not_running) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_debug(loop, true));
  struct foreign f;
  foreign_init(&f, loop);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, foreign_calls_thread, &f), 0);
  pthread_join(th, NULL);
  CHECK_OK(f.rs);
  CHECK_OK(f.rl);
  CHECK_OK(f.ra);
  CHECK_OK(f.rts);
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_EQ(nev, 4);
  CHECK_EQ(ev_count('s'), 1);
  CHECK_EQ(ev_count('l'), 1);
  CHECK_EQ(ev_count('a'), 1);
  CHECK_EQ(ev_count('t'), 1);
  foreign_release(&f);
  close_loop(loop);
}

/* -------------------------------------------------------- 45, 46. debug mode */

/* item 45 */
TEST(set_debug_and_get_debug) {
  eddy_loop_t *loop = new_loop();
  CHECK_EQ(eddy_loop_get_debug(loop), 0);
  CHECK_OK(eddy_loop_set_debug(loop, true));
  CHECK_EQ(eddy_loop_get_debug(loop), 1);
  CHECK_OK(eddy_loop_set_debug(loop, false));
  CHECK_EQ(eddy_loop_get_debug(loop), 0);
  /* debug mode is per loop */
  eddy_loop_t *other = new_loop();
  CHECK_OK(eddy_loop_set_debug(loop, true));
  CHECK_EQ(eddy_loop_get_debug(other), 0);
  close_loop(other);
  close_loop(loop);
}

static void busy_20ms_cb(void *ud) {
  (void)ud;
  ev_add('b');
  busy_wait(0.02);
}

/* item 46 */
TEST(debug_mode_reports_a_slow_callback_to_the_exception_handler) {
  ev_reset();
  handler_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_exception_handler(loop, capture_handler, NULL));
  CHECK_OK(eddy_loop_set_debug(loop, true));
  CHECK_OK(eddy_loop_set_slow_callback_duration(loop, 0.01));
  CHECK_OK(eddy_loop_call_soon(loop, busy_20ms_cb, NULL, NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "b");
  CHECK_EQ(hcount, 1);
  CHECK(strncmp(hmsg, "Executing", 9) == 0);
  CHECK_EQ(herr, 0);
  close_loop(loop);
}

/* item 46 */
TEST(debug_mode_reports_a_slow_timer_callback_too) {
  ev_reset();
  handler_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_exception_handler(loop, capture_handler, NULL));
  CHECK_OK(eddy_loop_set_debug(loop, true));
  CHECK_OK(eddy_loop_set_slow_callback_duration(loop, 0.01));
  CHECK_OK(eddy_loop_call_later(loop, 0.001, busy_20ms_cb, NULL, NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.005, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "b");
  CHECK_EQ(hcount, 1);
  CHECK(strncmp(hmsg, "Executing", 9) == 0);
  CHECK_EQ(herr, 0);
  close_loop(loop);
}

/* item 46 */
TEST(slow_callback_is_not_reported_outside_debug_mode) {
  ev_reset();
  handler_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_exception_handler(loop, capture_handler, NULL));
  CHECK_OK(eddy_loop_set_slow_callback_duration(loop, 0.01));
  CHECK_OK(eddy_loop_call_soon(loop, busy_20ms_cb, NULL, NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "b");
  CHECK_EQ(hcount, 0);
  close_loop(loop);
}

/* item 46 (default threshold 0.1 s; a fast callback is not reported) */
TEST(callbacks_under_the_threshold_are_not_reported) {
  ev_reset();
  handler_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_exception_handler(loop, capture_handler, NULL));
  CHECK_OK(eddy_loop_set_debug(loop, true));
  /* default threshold is 0.1 s: 20 ms is not slow */
  CHECK_OK(eddy_loop_call_soon(loop, busy_20ms_cb, NULL, NULL));
  CHECK_OK(run_once(loop));
  CHECK_EQ(hcount, 0);
  /* with 10 ms, a callback that returns at once is not slow */
  CHECK_OK(eddy_loop_set_slow_callback_duration(loop, 0.01));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('f'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "bf");
  CHECK_EQ(hcount, 0);
  close_loop(loop);
}

/* item 46 */
TEST(set_slow_callback_duration_rejects_negative_and_nan) {
  eddy_loop_t *loop = new_loop();
  CHECK_ERR(eddy_loop_set_slow_callback_duration(loop, -0.5), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_slow_callback_duration(loop, NAN), EDDY_EINVAL);
  CHECK_OK(eddy_loop_set_slow_callback_duration(loop, 0.5));
  CHECK_OK(eddy_loop_set_slow_callback_duration(loop, 0.0));
  close_loop(loop);
}

/* -------------------------------------------------------- retain / release */

/* docs/api.md section 4: eddy_loop_retain/release; release of the last reference closes */
TEST(loop_release_of_the_last_reference_closes_the_loop) {
  ev_reset();
  int base = count_fds();
  CHECK(base > 0);
  eddy_loop_t *loop = new_loop();
  eddy_loop_retain(loop);
  eddy_loop_release(loop);
  /* one reference is left: the loop is still open and works */
  CHECK_EQ(eddy_loop_is_closed(loop), 0);
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "a");
  /* a pending callback, a timer and a thread-safe call are dropped by the
     implicit close */
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('x'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.0, rec_cb, TAG('y'), NULL));
  CHECK_OK(eddy_loop_call_soon_threadsafe(loop, rec_cb, TAG('z'), NULL));
  eddy_loop_release(loop); /* last reference, without eddy_loop_close */
  CHECK_EQ(count_fds(), base);
  CHECK_STR_EQ(ev, "a");
}

/* docs/api.md section 4 */
TEST(loop_retained_extra_reference_observes_close) {
  eddy_loop_t *loop = new_loop();
  eddy_loop_t *extra = loop;
  eddy_loop_retain(extra);
  close_loop(loop);
  /* the extra reference keeps the object valid, in the closed state */
  CHECK_EQ(eddy_loop_is_closed(extra), 1);
  CHECK_EQ(eddy_loop_is_running(extra), 0);
  CHECK_ERR(eddy_loop_call_soon(extra, rec_cb, TAG('x'), NULL), EDDY_ECLOSED);
  eddy_loop_release(extra);
}

/* docs/api.md section 4 */
TEST(handle_retain_keeps_it_valid_after_it_ran) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_later(loop, 0.0, rec_cb, TAG('a'), &h));
  eddy_handle_retain(h);
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "a");
  eddy_handle_release(h);
  /* still referenced once */
  CHECK_EQ(eddy_handle_cancelled(h), 0);
  double when = -1;
  CHECK_OK(eddy_handle_when(h, &when));
  CHECK(when > 0);
  close_loop(loop);
  CHECK_EQ(eddy_handle_cancelled(h), 0);
  eddy_handle_release(h);
}

/* ---------------------------------------------------------- NULL arguments */

/* docs/api.md section 1: a NULL argument returns EDDY_EINVAL, never crashes */
TEST(null_arguments_to_loop_functions_are_einval) {
  ev_reset();
  CHECK_ERR(eddy_new_event_loop(NULL), EDDY_EINVAL);
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  eddy_handle_t *h = NULL;
  double when = 0;

  CHECK_ERR(eddy_loop_run_forever(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_run_until_complete(NULL, f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_run_until_complete(loop, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_stop(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_close(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_is_running(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_is_closed(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_debug(NULL, true), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_get_debug(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_slow_callback_duration(NULL, 0.1), EDDY_EINVAL);
  (void)eddy_loop_time(NULL); /* must not crash */

  CHECK_ERR(eddy_loop_call_soon(NULL, rec_cb, TAG('a'), &h), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_call_soon(loop, NULL, TAG('a'), &h), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_call_soon_threadsafe(NULL, rec_cb, TAG('b'), &h), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_call_soon_threadsafe(loop, NULL, TAG('b'), &h), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_call_later(NULL, 0.0, rec_cb, TAG('c'), &h), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_call_later(loop, 0.0, NULL, TAG('c'), &h), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_call_at(NULL, 0.0, rec_cb, TAG('d'), &h), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_call_at(loop, 0.0, NULL, TAG('d'), &h), EDDY_EINVAL);
  CHECK(h == NULL);

  CHECK_ERR(eddy_handle_cancel(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_handle_cancelled(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_handle_when(NULL, &when), EDDY_EINVAL);
  CHECK_OK(eddy_loop_call_later(loop, 10.0, rec_cb, TAG('e'), &h));
  CHECK_ERR(eddy_handle_when(h, NULL), EDDY_EINVAL);
  eddy_handle_retain(NULL);
  eddy_handle_release(NULL);
  eddy_loop_retain(NULL);
  eddy_loop_release(NULL);

  CHECK_ERR(eddy_loop_add_reader(NULL, 0, rec_cb, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_writer(NULL, 1, rec_cb, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_remove_reader(NULL, 0), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_remove_writer(NULL, 1), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_exception_handler(NULL, capture_handler, NULL), EDDY_EINVAL);

  /* the loop is intact and nothing was scheduled by the failed calls */
  CHECK_OK(eddy_handle_cancel(h));
  eddy_handle_release(h);
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "");
  eddy_future_release(f);
  close_loop(loop);
}
