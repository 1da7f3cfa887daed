/* Futures: docs/semantics.md items 26-33 (and 19 for create_future on a closed loop),
 * and every eddy_future_* function of docs/api.md section 5.
 *
 * In these tests "item N" is docs/semantics.md item N.
 */
#include <eddy.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "test_util.h"

/* ---- helpers ---------------------------------------------------------- */

/* A done callback that records its user data (a string) and which future. */
static eddy_future_t *seen_futs[16];
static int nseen;

static void done_mark(eddy_future_t *f, void *ud) {
  if (nseen < 16) seen_futs[nseen++] = f;
  ev_add_str((const char *)ud);
}

static void done_mark2(eddy_future_t *f, void *ud) {
  (void)f;
  ev_add_str("[");
  ev_add_str((const char *)ud);
  ev_add_str("]");
}

static void reset_all(void) {
  ev_reset();
  nseen = 0;
  memset(seen_futs, 0, sizeof seen_futs);
}

/* ---- 26: done callbacks never run synchronously ----------------------- */

/* item 26 */
TEST(done_callbacks_not_run_by_set_result_but_next_iteration_in_order) {
  reset_all();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK(f != NULL);
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, "a"));
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, "b"));
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, "c"));
  CHECK_OK(eddy_loop_call_soon(loop, mark_cb, "X", NULL));
  CHECK_OK(eddy_future_set_result(f, NULL, 7));
  /* Nothing ran inside set_result. */
  CHECK_STR_EQ(ev, "");
  CHECK_EQ(nseen, 0);
  CHECK_OK(eddy_loop_call_soon(loop, mark_cb, "Y", NULL));
  CHECK_OK(run_one_iteration(loop));
  /* Scheduled with call_soon at set_result time, in registration order. */
  CHECK_STR_EQ(ev, "XabcY");
  CHECK_EQ(nseen, 3);
  CHECK(seen_futs[0] == f && seen_futs[1] == f && seen_futs[2] == f);
  /* The list was cleared: another iteration runs nothing again. */
  CHECK_OK(run_one_iteration(loop));
  CHECK_STR_EQ(ev, "XabcY");
  eddy_future_release(f);
  close_loop(loop);
}

/* item 26 */
TEST(done_callbacks_not_run_by_set_error_or_cancel) {
  reset_all();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *fe = NULL, *fc = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &fe));
  CHECK_OK(eddy_loop_create_future(loop, &fc));
  CHECK_OK(eddy_future_add_done_callback(fe, done_mark, "e1"));
  CHECK_OK(eddy_future_add_done_callback(fe, done_mark, "e2"));
  CHECK_OK(eddy_future_add_done_callback(fc, done_mark, "c1"));
  CHECK_OK(eddy_future_add_done_callback(fc, done_mark, "c2"));
  CHECK_OK(eddy_future_set_error(fe, -EIO, "io"));
  CHECK_EQ(eddy_future_cancel(fc), 1);
  CHECK_STR_EQ(ev, "");
  CHECK_OK(run_one_iteration(loop));
  CHECK_STR_EQ(ev, "e1e2c1c2");
  CHECK_EQ(eddy_future_result(fe, NULL, NULL), -EIO); /* retrieve it */
  eddy_future_release(fe);
  eddy_future_release(fc);
  close_loop(loop);
}

static eddy_future_t *g_fut;

static void complete_g_fut_cb(void *ud) {
  ev_add_str((const char *)ud);
  eddy_future_set_result(g_fut, NULL, 1);
}

/* item 26 */
TEST(done_callbacks_of_future_completed_in_callback_run_next_iteration) {
  reset_all();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_create_future(loop, &g_fut));
  CHECK_OK(eddy_future_add_done_callback(g_fut, done_mark, "d"));
  CHECK_OK(eddy_loop_call_soon(loop, complete_g_fut_cb, "1", NULL));
  CHECK_OK(eddy_loop_call_soon(loop, mark_cb, "2", NULL));
  CHECK_OK(run_one_iteration(loop));
  /* The done callback was scheduled during this iteration: not run yet. */
  CHECK_STR_EQ(ev, "12");
  CHECK_EQ(eddy_future_done(g_fut), 1);
  CHECK_OK(run_one_iteration(loop));
  CHECK_STR_EQ(ev, "12d");
  eddy_future_release(g_fut);
  close_loop(loop);
}

/* ---- 27: add_done_callback on a done future ---------------------------- */

/* item 27 */
TEST(add_done_callback_on_done_future_is_scheduled_not_called) {
  reset_all();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL, *fc = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_loop_create_future(loop, &fc));
  CHECK_OK(eddy_future_set_result(f, NULL, 1));
  CHECK_EQ(eddy_future_cancel(fc), 1);
  CHECK_OK(eddy_loop_call_soon(loop, mark_cb, "X", NULL));
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, "a"));
  CHECK_OK(eddy_future_add_done_callback(fc, done_mark, "b"));
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, "c"));
  CHECK_STR_EQ(ev, "");
  CHECK_OK(eddy_loop_call_soon(loop, mark_cb, "Y", NULL));
  CHECK_OK(run_one_iteration(loop));
  CHECK_STR_EQ(ev, "XabcY");
  CHECK(seen_futs[0] == f && seen_futs[1] == fc && seen_futs[2] == f);
  eddy_future_release(f);
  eddy_future_release(fc);
  close_loop(loop);
}

/* ---- 28: remove_done_callback ------------------------------------------ */

/* item 28 */
TEST(remove_done_callback_removes_all_equal_entries_and_returns_count) {
  reset_all();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  static char ud1[] = "1", ud2[] = "2";
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, ud1));  /* removed */
  CHECK_OK(eddy_future_add_done_callback(f, done_mark2, ud1)); /* other fn */
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, ud1));  /* removed */
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, ud2));  /* other ud */
  CHECK_EQ(eddy_future_remove_done_callback(f, done_mark, ud1), 2);
  CHECK_EQ(eddy_future_remove_done_callback(f, done_mark, ud1), 0);
  CHECK_OK(eddy_future_set_result(f, NULL, 0));
  CHECK_OK(run_one_iteration(loop));
  CHECK_STR_EQ(ev, "[1]2");
  /* On a done future the list is empty. */
  CHECK_EQ(eddy_future_remove_done_callback(f, done_mark2, ud1), 0);
  eddy_future_release(f);
  close_loop(loop);
}

/* ---- 29: setting a result twice ---------------------------------------- */

/* item 29 */
TEST(set_result_or_set_error_on_done_future_is_invalid_state) {
  reset_all();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL, *fe = NULL, *fc = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_loop_create_future(loop, &fe));
  CHECK_OK(eddy_loop_create_future(loop, &fc));
  int x = 0, y = 0;

  CHECK_OK(eddy_future_set_result(f, &x, 5));
  CHECK_ERR(eddy_future_set_result(f, &y, 6), EDDY_EINVALSTATE);
  CHECK_ERR(eddy_future_set_error(f, -EIO, "no"), EDDY_EINVALSTATE);
  void *p = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, &p, &n)); /* first result kept */
  CHECK(p == &x);
  CHECK_EQ(n, 5);

  CHECK_OK(eddy_future_set_error(fe, -EPIPE, "first"));
  CHECK_ERR(eddy_future_set_error(fe, -EIO, "second"), EDDY_EINVALSTATE);
  CHECK_ERR(eddy_future_set_result(fe, &y, 6), EDDY_EINVALSTATE);
  CHECK_EQ(eddy_future_result(fe, NULL, NULL), -EPIPE);
  CHECK_STR_EQ(eddy_future_error_message(fe), "first");

  CHECK_EQ(eddy_future_cancel(fc), 1);
  CHECK_ERR(eddy_future_set_result(fc, &y, 6), EDDY_EINVALSTATE);
  CHECK_ERR(eddy_future_set_error(fc, -EIO, NULL), EDDY_EINVALSTATE);
  CHECK_EQ(eddy_future_cancelled(fc), 1);
  CHECK_ERR(eddy_future_result(fc, NULL, NULL), EDDY_ECANCELED);

  eddy_future_release(f);
  eddy_future_release(fe);
  eddy_future_release(fc);
  close_loop(loop);
}

/* ---- 30: reading a future ---------------------------------------------- */

/* item 30 */
TEST(result_on_pending_future_is_invalid_state_and_writes_nothing) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_EQ(eddy_future_cancelled(f), 0);
  int sentinel = 0;
  void *p = &sentinel;
  int64_t n = 99;
  CHECK_ERR(eddy_future_result(f, &p, &n), EDDY_EINVALSTATE);
  CHECK(p == &sentinel); /* outputs are written only on success */
  CHECK_EQ(n, 99);
  CHECK(eddy_future_error_message(f) == NULL);
  eddy_future_release(f);
  close_loop(loop);
}

/* item 30 */
TEST(result_returns_pointer_and_count_and_outputs_may_be_null) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  int x = 0;
  CHECK_OK(eddy_future_set_result(f, &x, -12345678901LL));
  CHECK_EQ(eddy_future_done(f), 1);
  CHECK_EQ(eddy_future_cancelled(f), 0);
  void *p = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK(p == &x);
  CHECK_EQ(n, -12345678901LL);
  CHECK_OK(eddy_future_result(f, NULL, NULL));
  p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  CHECK(p == &x);
  n = 0;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, -12345678901LL);
  CHECK(eddy_future_error_message(f) == NULL);
  eddy_future_release(f);
  close_loop(loop);
}

/* item 30 */
TEST(result_on_cancelled_future_is_ecanceled) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_EQ(eddy_future_cancel(f), 1);
  int sentinel = 0;
  void *p = &sentinel;
  int64_t n = 3;
  CHECK_ERR(eddy_future_result(f, &p, &n), EDDY_ECANCELED);
  CHECK(p == &sentinel);
  CHECK_EQ(n, 3);
  CHECK(eddy_future_error_message(f) == NULL);
  eddy_future_release(f);
  close_loop(loop);
}

/* item 30 */
TEST(result_on_failed_future_returns_error_and_message_is_a_copy) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL, *g = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_loop_create_future(loop, &g));
  char msg[64];
  snprintf(msg, sizeof msg, "connection went away");
  CHECK_OK(eddy_future_set_error(f, EDDY_ECONNRESET, msg));
  memset(msg, 'Z', sizeof msg - 1); /* prove the library copied it */
  msg[sizeof msg - 1] = '\0';
  CHECK_EQ(eddy_future_done(f), 1);
  CHECK_EQ(eddy_future_cancelled(f), 0);
  int sentinel = 0;
  void *p = &sentinel;
  int64_t n = 4;
  CHECK_ERR(eddy_future_result(f, &p, &n), EDDY_ECONNRESET);
  CHECK(p == &sentinel);
  CHECK_EQ(n, 4);
  const char *m = eddy_future_error_message(f);
  CHECK(m != NULL);
  CHECK_STR_EQ(m, "connection went away");
  /* Reading again gives the same error. */
  CHECK_ERR(eddy_future_result(f, NULL, NULL), EDDY_ECONNRESET);

  /* A NULL message: no message. */
  CHECK_OK(eddy_future_set_error(g, -ETIMEDOUT, NULL));
  CHECK_ERR(eddy_future_result(g, NULL, NULL), -ETIMEDOUT);
  CHECK(eddy_future_error_message(g) == NULL);
  eddy_future_release(f);
  eddy_future_release(g);
  close_loop(loop);
}

/* ---- 31: cancel -------------------------------------------------------- */

/* item 31 */
TEST(cancel_returns_1_then_0_and_cancelled_implies_done) {
  reset_all();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL, *r = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_loop_create_future(loop, &r));
  CHECK_OK(eddy_future_add_done_callback(f, done_mark, "c"));
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_EQ(eddy_future_cancelled(f), 1);
  CHECK_EQ(eddy_future_done(f), 1);
  CHECK_STR_EQ(ev, ""); /* cancel schedules, does not call */
  CHECK_EQ(eddy_future_cancel(f), 0);
  CHECK_EQ(eddy_future_cancelled(f), 1);
  CHECK_OK(run_one_iteration(loop));
  CHECK_STR_EQ(ev, "c"); /* once, though cancel was called twice */
  CHECK_OK(run_one_iteration(loop));
  CHECK_STR_EQ(ev, "c");

  /* A future with a result cannot be cancelled. */
  CHECK_OK(eddy_future_set_result(r, NULL, 1));
  CHECK_EQ(eddy_future_cancel(r), 0);
  CHECK_EQ(eddy_future_cancelled(r), 0);
  CHECK_OK(eddy_future_result(r, NULL, NULL));
  eddy_future_release(f);
  eddy_future_release(r);
  close_loop(loop);
}

/* ---- 32: set_error argument rules -------------------------------------- */

/* item 32 */
TEST(set_error_with_non_negative_code_is_einval_and_leaves_future_pending) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_ERR(eddy_future_set_error(f, 0, "zero"), EDDY_EINVAL);
  CHECK_ERR(eddy_future_set_error(f, 5, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_future_set_error(f, EIO, "positive errno"), EDDY_EINVAL);
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_ERR(eddy_future_result(f, NULL, NULL), EDDY_EINVALSTATE);
  CHECK_OK(eddy_future_set_error(f, -EIO, NULL));
  CHECK_ERR(eddy_future_result(f, NULL, NULL), -EIO);
  eddy_future_release(f);
  close_loop(loop);
}

/* ---- 33: unretrieved errors -------------------------------------------- */

struct report {
  int count;
  char message[256];
  int error;
  eddy_future_t *future;
  eddy_loop_t *loop;
  void *ud;
};

static void record_handler(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  struct report *r = ud;
  r->count++;
  r->loop = loop;
  r->ud = ud;
  r->error = ctx->error;
  r->future = ctx->future;
  snprintf(r->message, sizeof r->message, "%s", ctx->message ? ctx->message : "(null)");
}

/* item 33 */
TEST(unretrieved_future_error_is_reported_after_last_release) {
  eddy_loop_t *loop = new_loop();
  struct report rep;
  memset(&rep, 0, sizeof rep);
  CHECK_OK(eddy_loop_set_exception_handler(loop, record_handler, &rep));
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_future_set_error(f, EDDY_ECONNRESET, "reset by peer"));
  eddy_future_retain(f);
  eddy_future_release(f); /* not the last reference */
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(rep.count, 0);
  eddy_future_release(f); /* the last reference */
  CHECK_EQ(rep.count, 0); /* reported on a later loop iteration, not inside release */
  CHECK_OK(run_one_iteration(loop));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(rep.count, 1);
  const char *want = "Future exception was never retrieved";
  CHECK(strncmp(rep.message, want, strlen(want)) == 0);
  CHECK_EQ(rep.error, EDDY_ECONNRESET);
  CHECK(rep.loop == loop);
  CHECK(rep.ud == &rep);
  close_loop(loop);
}

/* item 33 */
TEST(retrieved_error_result_and_cancellation_are_not_reported) {
  eddy_loop_t *loop = new_loop();
  struct report rep;
  memset(&rep, 0, sizeof rep);
  CHECK_OK(eddy_loop_set_exception_handler(loop, record_handler, &rep));
  eddy_future_t *fe = NULL, *fr = NULL, *fc = NULL, *fp = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &fe));
  CHECK_OK(eddy_loop_create_future(loop, &fr));
  CHECK_OK(eddy_loop_create_future(loop, &fc));
  CHECK_OK(eddy_loop_create_future(loop, &fp));
  CHECK_OK(eddy_future_set_error(fe, -EIO, "read it"));
  CHECK_ERR(eddy_future_result(fe, NULL, NULL), -EIO); /* retrieved */
  CHECK_OK(eddy_future_set_result(fr, NULL, 1));
  CHECK_EQ(eddy_future_cancel(fc), 1);
  eddy_future_release(fe);
  eddy_future_release(fr);
  eddy_future_release(fc);
  eddy_future_release(fp); /* pending plain future: nothing to report */
  CHECK_OK(run_one_iteration(loop));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(rep.count, 0);
  close_loop(loop);
}

/* ---- run_until_complete with futures (item 14) -------------------- */

struct completer {
  eddy_future_t *f;
  int mode; /* 0 result, 1 error, 2 cancel */
};

static void complete_later_cb(void *ud) {
  struct completer *c = ud;
  if (c->mode == 0)
    eddy_future_set_result(c->f, c, 77);
  else if (c->mode == 1)
    eddy_future_set_error(c->f, -EPIPE, "broken");
  else
    eddy_future_cancel(c->f);
}

static int run_with_completion(int mode, eddy_future_t **fout, eddy_loop_t *loop) {
  static struct completer c;
  eddy_future_t *f = NULL;
  int rc = eddy_loop_create_future(loop, &f);
  if (rc != 0) return 1000 + rc;
  c.f = f;
  c.mode = mode;
  rc = eddy_loop_call_later(loop, 0.01, complete_later_cb, &c, NULL);
  if (rc != 0) return 2000 + rc;
  rc = eddy_loop_run_until_complete(loop, f);
  *fout = f;
  return rc;
}

/* item 14 */
TEST(run_until_complete_returns_0_for_future_result_from_call_later) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  double t0 = harness_monotonic();
  CHECK_OK(run_with_completion(0, &f, loop));
  CHECK(harness_monotonic() - t0 >= 0.009);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  CHECK_EQ(eddy_future_done(f), 1);
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 77);
  eddy_future_release(f);
  close_loop(loop);
}

/* item 14 */
TEST(run_until_complete_returns_future_error_from_call_later) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_ERR(run_with_completion(1, &f, loop), -EPIPE);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  CHECK_ERR(eddy_future_result(f, NULL, NULL), -EPIPE);
  CHECK_STR_EQ(eddy_future_error_message(f), "broken");
  eddy_future_release(f);
  close_loop(loop);
}

/* item 14 */
TEST(run_until_complete_returns_ecanceled_for_future_cancelled_from_call_later) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_ERR(run_with_completion(2, &f, loop), EDDY_ECANCELED);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  CHECK_EQ(eddy_future_cancelled(f), 1);
  eddy_future_release(f);
  close_loop(loop);
}

/* ---- get_loop, retain/release ------------------------------------------ */

TEST(future_get_loop_returns_its_loop) {
  eddy_loop_t *a = new_loop(), *b = new_loop();
  CHECK(a != NULL && b != NULL && a != b);
  eddy_future_t *fa = NULL, *fb = NULL;
  CHECK_OK(eddy_loop_create_future(a, &fa));
  CHECK_OK(eddy_loop_create_future(b, &fb));
  CHECK(fa != fb);
  CHECK(eddy_future_get_loop(fa) == a);
  CHECK(eddy_future_get_loop(fb) == b);
  CHECK_OK(eddy_future_set_result(fa, NULL, 0));
  CHECK(eddy_future_get_loop(fa) == a); /* still, once done */
  eddy_future_release(fa);
  eddy_future_release(fb);
  close_loop(a);
  close_loop(b);
}

TEST(future_retain_keeps_it_alive_past_a_release) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  eddy_future_retain(f);
  eddy_future_retain(f);
  eddy_future_release(f);
  eddy_future_release(f);
  /* One reference (the original) is left: the future is usable. */
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_OK(eddy_future_set_result(f, NULL, 8));
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 8);
  eddy_future_release(f);
  eddy_future_release(NULL); /* accepted */
  eddy_future_retain(NULL);
  close_loop(loop);
}

static int64_t seen_n;
static int seen_rc = 12345;

static void read_result_cb(eddy_future_t *f, void *ud) {
  (void)ud;
  seen_rc = eddy_future_result(f, NULL, &seen_n);
  ev_add_str("r");
}

TEST(future_is_valid_in_done_callback_after_caller_released_it) {
  reset_all();
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_future_add_done_callback(f, read_result_cb, NULL));
  CHECK_OK(eddy_future_set_result(f, NULL, 31));
  eddy_future_release(f); /* the scheduled callback keeps it alive */
  CHECK_OK(run_one_iteration(loop));
  CHECK_STR_EQ(ev, "r");
  CHECK_OK(seen_rc);
  CHECK_EQ(seen_n, 31);
  close_loop(loop);
}

/* ---- 19: create_future on a closed loop -------------------------------- */

/* item 19 */
TEST(create_future_on_closed_loop_succeeds) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(eddy_loop_is_closed(loop), 1);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK(f != NULL);
  CHECK(eddy_future_get_loop(f) == loop);
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_OK(eddy_future_set_result(f, NULL, 2));
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 2);
  eddy_future_release(f);
  eddy_loop_release(loop);
}

/* ---- NULL arguments ---------------------------------------------------- */

TEST(future_functions_reject_null_with_einval) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = (eddy_future_t *)&f; /* sentinel: must stay untouched */
  eddy_future_t *const sentinel = f;
  CHECK_ERR(eddy_loop_create_future(NULL, &f), EDDY_EINVAL);
  CHECK(f == sentinel);
  CHECK_ERR(eddy_loop_create_future(loop, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_future_set_result(NULL, NULL, 0), EDDY_EINVAL);
  CHECK_ERR(eddy_future_set_error(NULL, -EIO, "x"), EDDY_EINVAL);
  CHECK_ERR(eddy_future_cancel(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_future_done(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_future_cancelled(NULL), EDDY_EINVAL);
  void *p = NULL;
  int64_t n = 0;
  CHECK_ERR(eddy_future_result(NULL, &p, &n), EDDY_EINVAL);
  CHECK(eddy_future_error_message(NULL) == NULL);
  CHECK_ERR(eddy_future_add_done_callback(NULL, done_mark, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_future_remove_done_callback(NULL, done_mark, NULL), EDDY_EINVAL);
  CHECK(eddy_future_get_loop(NULL) == NULL);

  eddy_future_t *g = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &g));
  CHECK_ERR(eddy_future_add_done_callback(g, NULL, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_future_remove_done_callback(g, NULL, NULL), EDDY_EINVAL);
  CHECK_EQ(eddy_future_done(g), 0);
  eddy_future_release(g);
  close_loop(loop);
}
