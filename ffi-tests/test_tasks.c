/* Tasks: docs/semantics.md items 34-38 (plus 33 for tasks and 14 for
 * run_until_complete), and docs/api.md's task rules (section 5 and section 12
 * "Tasks"). A task is a future driven by a step function, C's stand-in for a
 * coroutine.
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

/* Runs iterations until *counter >= want (at most 10). */
static int run_until_count(eddy_loop_t *loop, const int *counter, int want) {
  for (int i = 0; i < 10 && *counter < want; i++) {
    int rc = run_one_iteration(loop);
    if (rc != 0) return rc;
  }
  return *counter >= want ? 0 : -1;
}

#define MAXSTEPS 8

/* Shared state of one task's step function. */
struct st {
  int steps;
  eddy_future_t *task_arg[MAXSTEPS];
  int cancelling[MAXSTEPS];
  int cancelled_in_step[MAXSTEPS];
  int rc[MAXSTEPS];  /* a return code the step recorded */
  int rc2[MAXSTEPS]; /* another one */
  eddy_future_t *f;  /* what the step awaits */
  eddy_future_t *g;  /* a second thing to await */
  eddy_loop_t *other_loop;
  int64_t n;
  int awaited_rc;
  const char *tag;
};

static void st_init(struct st *s) { memset(s, 0, sizeof *s); }

static int record_step(struct st *s, eddy_future_t *task) {
  int i = s->steps++;
  if (i < MAXSTEPS) {
    s->task_arg[i] = task;
    s->cancelling[i] = eddy_task_cancelling(task);
    s->cancelled_in_step[i] = eddy_future_cancelled(task);
  }
  if (s->tag) ev_add_str(s->tag);
  return i;
}

/* Completes the task at its first step with (s, 5). */
static void step_complete(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i < MAXSTEPS) s->rc[i] = eddy_future_set_result(task, s, 5);
}

/* ---- 34: tasks start later --------------------------------------------- */

/* item 34 */
TEST(create_task_step_runs_on_next_iteration_not_synchronously) {
  ev[0] = '\0';
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  s.tag = "S";
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_call_soon(loop, mark_cb, "X", NULL));
  CHECK_OK(eddy_loop_create_task(loop, step_complete, &s, &t));
  CHECK(t != NULL);
  CHECK_EQ(s.steps, 0); /* not run inside create_task */
  CHECK_EQ(eddy_future_done(t), 0);
  CHECK_OK(eddy_loop_call_soon(loop, mark_cb, "Y", NULL));
  CHECK_OK(run_one_iteration(loop));
  /* The first step was scheduled with call_soon at creation. */
  CHECK_STR_EQ(ev, "XSY");
  CHECK_EQ(s.steps, 1);
  CHECK(s.task_arg[0] == t);
  CHECK_OK(s.rc[0]);
  CHECK_EQ(eddy_future_done(t), 1);
  void *p = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(t, &p, &n));
  CHECK(p == &s);
  CHECK_EQ(n, 5);
  CHECK(eddy_future_get_loop(t) == loop);
  eddy_future_release(t);
  close_loop(loop);
}

/* item 34 */
TEST(task_new_step_runs_on_next_iteration_not_synchronously) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_task_new(loop, step_complete, &s, &t));
  CHECK_EQ(s.steps, 0);
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  CHECK_EQ(eddy_future_done(t), 1);
  CHECK_OK(eddy_future_result(t, NULL, NULL));
  eddy_future_release(t);
  close_loop(loop);
}

/* ---- awaiting ----------------------------------------------------------- */

/* Awaits s->f, then completes with the awaited count + 1. */
static void step_await_then_add_one(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i == 0) {
    s->rc[0] = eddy_task_await(task, s->f);
    return;
  }
  int64_t n = 0;
  s->awaited_rc = eddy_future_result(s->f, NULL, &n);
  s->rc[i] = eddy_future_set_result(task, NULL, n + 1);
}

static eddy_future_t *g_complete_me;
static int g_steps_when_completed = -1;
static const int *g_steps_ptr;

static void complete_g_cb(void *ud) {
  (void)ud;
  g_steps_when_completed = *g_steps_ptr;
  eddy_future_set_result(g_complete_me, NULL, 41);
}

TEST(task_step_reruns_after_awaited_future_completes_and_reads_result) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  CHECK_OK(eddy_loop_create_future(loop, &s.f));
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_await_then_add_one, &s, &t));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  CHECK_OK(s.rc[0]);
  /* While the future is pending, the step does not run again. */
  CHECK_OK(run_one_iteration(loop));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  CHECK_EQ(eddy_future_done(t), 0);
  g_complete_me = s.f;
  g_steps_ptr = &s.steps;
  CHECK_OK(eddy_loop_call_later(loop, 0.01, complete_g_cb, NULL, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, t));
  CHECK_EQ(g_steps_when_completed, 1);
  CHECK_EQ(s.steps, 2);
  CHECK(s.task_arg[1] == t);
  CHECK_OK(s.awaited_rc);
  CHECK_OK(s.rc[1]);
  int64_t n = 0;
  CHECK_OK(eddy_future_result(t, NULL, &n));
  CHECK_EQ(n, 42);
  eddy_future_release(s.f);
  eddy_future_release(t);
  close_loop(loop);
}

/* Yields once, then completes. */
static void step_yield_once(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i == 0)
    s->rc[0] = eddy_task_yield(task);
  else
    s->rc[i] = eddy_future_set_result(task, NULL, i);
}

TEST(task_yield_runs_step_again_on_next_iteration) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_yield_once, &s, &t));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  CHECK_OK(s.rc[0]);
  CHECK_EQ(eddy_future_done(t), 0);
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 2);
  CHECK_OK(s.rc[1]);
  CHECK_EQ(eddy_future_done(t), 1);
  int64_t n = 0;
  CHECK_OK(eddy_future_result(t, NULL, &n));
  CHECK_EQ(n, 1);
  eddy_future_release(t);
  close_loop(loop);
}

static void step_do_nothing(eddy_future_t *task, void *ud) { record_step(ud, task); }

TEST(step_that_neither_completes_nor_awaits_fails_task_with_einvalstate) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_do_nothing, &s, &t));
  CHECK_ERR(eddy_loop_run_until_complete(loop, t), EDDY_EINVALSTATE);
  CHECK_EQ(s.steps, 1);
  CHECK_EQ(eddy_future_done(t), 1);
  CHECK_EQ(eddy_future_cancelled(t), 0);
  CHECK_ERR(eddy_future_result(t, NULL, NULL), EDDY_EINVALSTATE);
  /* It stays failed: no further step. */
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  eddy_future_release(t);
  close_loop(loop);
}

/* ---- 35: cancelling tasks ---------------------------------------------- */

/* First step awaits s->f; any later step records the awaited outcome and
 * cancels the task itself. */
static void step_await_then_cancel_self(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i == 0) {
    s->rc[0] = eddy_task_await(task, s->f);
    return;
  }
  s->awaited_rc = eddy_future_result(s->f, NULL, NULL);
  s->rc[i] = eddy_future_cancel(task);
}

/* item 35 */
TEST(cancel_task_awaiting_future_cancels_future_and_reruns_step_with_cancelling) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  CHECK_OK(eddy_loop_create_future(loop, &s.f));
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_await_then_cancel_self, &s, &t));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  CHECK_OK(s.rc[0]);
  CHECK_EQ(s.cancelling[0], 0);
  CHECK_EQ(eddy_task_cancelling(t), 0);

  CHECK_EQ(eddy_future_cancel(t), 1);
  /* The awaited future is cancelled; the task is not (yet). */
  CHECK_EQ(eddy_future_cancelled(s.f), 1);
  CHECK_EQ(eddy_future_cancelled(t), 0);
  CHECK_EQ(eddy_future_done(t), 0);
  CHECK_EQ(eddy_task_cancelling(t), 1);
  CHECK_EQ(s.steps, 1); /* the step is not run synchronously by cancel */

  CHECK_ERR(eddy_loop_run_until_complete(loop, t), EDDY_ECANCELED);
  CHECK_EQ(s.steps, 2);
  CHECK(s.cancelling[1] > 0);
  CHECK_EQ(s.cancelled_in_step[1], 0);
  CHECK_ERR(s.awaited_rc, EDDY_ECANCELED);
  CHECK_EQ(s.rc[1], 1); /* cancel on itself from inside its step returns 1 */
  CHECK_EQ(eddy_future_cancelled(t), 1);
  CHECK_EQ(eddy_future_done(t), 1);
  CHECK_ERR(eddy_future_result(t, NULL, NULL), EDDY_ECANCELED);
  eddy_future_release(s.f);
  eddy_future_release(t);
  close_loop(loop);
}

/* Step 0 awaits f; step 1 (cancelled) ignores it and awaits g; step 2 cancels
 * itself. */
static void step_ignore_cancel_once(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i == 0)
    s->rc[0] = eddy_task_await(task, s->f);
  else if (i == 1)
    s->rc[1] = eddy_task_await(task, s->g);
  else
    s->rc[i] = eddy_future_cancel(task);
}

/* item 35 */
TEST(cancelled_stays_0_until_the_step_cancels_itself) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  CHECK_OK(eddy_loop_create_future(loop, &s.f));
  CHECK_OK(eddy_loop_create_future(loop, &s.g));
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_ignore_cancel_once, &s, &t));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  CHECK_EQ(eddy_future_cancel(t), 1);
  CHECK_OK(run_until_count(loop, &s.steps, 2));
  CHECK(s.cancelling[1] > 0);
  CHECK_OK(s.rc[1]); /* a cancelled task may await something else */
  CHECK_OK(run_one_iteration(loop));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 2);
  CHECK_EQ(eddy_future_cancelled(t), 0);
  CHECK_EQ(eddy_future_done(t), 0);
  CHECK_EQ(eddy_future_cancelled(s.g), 0); /* the new await is not cancelled */
  CHECK_OK(eddy_future_set_result(s.g, NULL, 0));
  CHECK_ERR(eddy_loop_run_until_complete(loop, t), EDDY_ECANCELED);
  CHECK_EQ(s.steps, 3);
  CHECK_EQ(s.rc[2], 1);
  CHECK_EQ(s.cancelled_in_step[2], 0);
  CHECK_EQ(eddy_future_cancelled(t), 1);
  eddy_future_release(s.f);
  eddy_future_release(s.g);
  eddy_future_release(t);
  close_loop(loop);
}

/* Step 0 awaits f; step 1 completes with a result despite cancellation. */
static void step_swallow_cancel(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i == 0)
    s->rc[0] = eddy_task_await(task, s->f);
  else
    s->rc[i] = eddy_future_set_result(task, NULL, 99);
}

/* item 35 */
TEST(cancelled_task_whose_step_sets_a_result_ends_with_that_result) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  CHECK_OK(eddy_loop_create_future(loop, &s.f));
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_swallow_cancel, &s, &t));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(eddy_future_cancel(t), 1);
  CHECK_OK(eddy_loop_run_until_complete(loop, t));
  CHECK_EQ(s.steps, 2);
  CHECK(s.cancelling[1] > 0);
  CHECK_OK(s.rc[1]);
  CHECK_EQ(eddy_future_cancelled(t), 0);
  int64_t n = 0;
  CHECK_OK(eddy_future_result(t, NULL, &n));
  CHECK_EQ(n, 99);
  eddy_future_release(s.f);
  eddy_future_release(t);
  close_loop(loop);
}

/* Cancels itself when cancelling, else completes. */
static void step_cancel_self_if_cancelling(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (eddy_task_cancelling(task) > 0)
    s->rc[i] = eddy_future_cancel(task);
  else
    s->rc[i] = eddy_future_set_result(task, NULL, 0);
}

/* item 35 */
TEST(task_cancelled_before_first_step_runs_step_once_with_cancelling) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_cancel_self_if_cancelling, &s, &t));
  CHECK_EQ(eddy_future_cancel(t), 1);
  CHECK_EQ(s.steps, 0);
  CHECK_EQ(eddy_task_cancelling(t), 1);
  CHECK_EQ(eddy_future_cancelled(t), 0);
  CHECK_EQ(eddy_future_done(t), 0);
  CHECK_ERR(eddy_loop_run_until_complete(loop, t), EDDY_ECANCELED);
  CHECK_EQ(s.steps, 1); /* exactly once */
  CHECK(s.cancelling[0] > 0);
  CHECK_EQ(s.rc[0], 1);
  CHECK_EQ(eddy_future_cancelled(t), 1);
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  eddy_future_release(t);
  close_loop(loop);
}

/* item 35 */
TEST(cancel_on_done_task_returns_0) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_complete, &s, &t));
  CHECK_OK(eddy_loop_run_until_complete(loop, t));
  CHECK_EQ(eddy_future_cancel(t), 0);
  CHECK_EQ(eddy_future_cancelled(t), 0);
  CHECK_EQ(eddy_task_cancelling(t), 0);
  CHECK_OK(eddy_future_result(t, NULL, NULL));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1); /* cancel did not run the step again */
  eddy_future_release(t);
  close_loop(loop);
}

/* ---- 36: manual results ------------------------------------------------- */

/* Step 0 awaits f; step 1 fails the task with -EIO and records the codes. */
static void step_await_then_fail(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i == 0) {
    s->rc[0] = eddy_task_await(task, s->f);
    return;
  }
  char msg[32];
  snprintf(msg, sizeof msg, "step failed");
  s->rc[i] = eddy_future_set_error(task, -EIO, msg);
  memset(msg, 'Q', sizeof msg - 1); /* the message was copied */
  /* Once done, a second completion is refused even inside the step. */
  s->rc2[i] = eddy_future_set_result(task, NULL, 1);
}

/* item 36 */
TEST(set_result_or_error_on_task_outside_step_is_invalid_state_inside_completes) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  CHECK_OK(eddy_loop_create_future(loop, &s.f));
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_await_then_fail, &s, &t));
  /* Before the first step. */
  CHECK_ERR(eddy_future_set_result(t, NULL, 1), EDDY_EINVALSTATE);
  CHECK_ERR(eddy_future_set_error(t, -EIO, "outside"), EDDY_EINVALSTATE);
  CHECK_EQ(eddy_future_done(t), 0);
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  /* While awaiting. */
  CHECK_ERR(eddy_future_set_result(t, NULL, 1), EDDY_EINVALSTATE);
  CHECK_ERR(eddy_future_set_error(t, -EIO, NULL), EDDY_EINVALSTATE);
  CHECK_EQ(eddy_future_done(t), 0);
  CHECK_OK(eddy_future_set_result(s.f, NULL, 0));
  CHECK_ERR(eddy_loop_run_until_complete(loop, t), -EIO);
  CHECK_EQ(s.steps, 2);
  CHECK_OK(s.rc[1]);
  CHECK_ERR(s.rc2[1], EDDY_EINVALSTATE);
  CHECK_ERR(eddy_future_result(t, NULL, NULL), -EIO);
  CHECK_STR_EQ(eddy_future_error_message(t), "step failed");
  /* After it is done, still refused. */
  CHECK_ERR(eddy_future_set_result(t, NULL, 1), EDDY_EINVALSTATE);
  eddy_future_release(s.f);
  eddy_future_release(t);
  close_loop(loop);
}

/* ---- is_task, await rules, cancelling ---------------------------------- */

TEST(future_is_task_distinguishes_tasks_from_plain_futures) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL, *t2 = NULL, *f = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_complete, &s, &t));
  CHECK_OK(eddy_task_new(loop, step_complete, &s, &t2));
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_EQ(eddy_future_is_task(t), 1);
  CHECK_EQ(eddy_future_is_task(t2), 1);
  CHECK_EQ(eddy_future_is_task(f), 0);
  CHECK_ERR(eddy_future_is_task(NULL), EDDY_EINVAL);
  CHECK_OK(eddy_loop_run_until_complete(loop, t));
  CHECK_OK(eddy_loop_run_until_complete(loop, t2));
  CHECK_EQ(eddy_future_is_task(t), 1); /* still a task when done */
  eddy_future_release(t);
  eddy_future_release(t2);
  eddy_future_release(f);
  close_loop(loop);
}

/* Tries the invalid awaits, then completes. rc[0]: await itself, rc2[0]:
 * await a future of another loop, rc[1]: await NULL. */
static void step_bad_awaits(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  s->rc[0] = eddy_task_await(task, task);
  s->rc2[0] = eddy_task_await(task, s->g);
  s->rc[1] = eddy_task_await(task, NULL);
  s->rc2[1] = eddy_future_set_result(task, NULL, i);
}

TEST(task_await_outside_step_on_itself_or_foreign_future_is_rejected) {
  eddy_loop_t *loop = new_loop(), *other = new_loop();
  CHECK(loop != NULL && other != NULL);
  struct st s;
  st_init(&s);
  CHECK_OK(eddy_loop_create_future(loop, &s.f));
  CHECK_OK(eddy_loop_create_future(other, &s.g));
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_bad_awaits, &s, &t));
  /* Outside its step. */
  CHECK_ERR(eddy_task_await(t, s.f), EDDY_EINVALSTATE);
  CHECK_ERR(eddy_task_await(NULL, s.f), EDDY_EINVAL);
  CHECK_OK(eddy_loop_run_until_complete(loop, t));
  CHECK_EQ(s.steps, 1);
  CHECK_ERR(s.rc[0], EDDY_EINVAL);
  CHECK_ERR(s.rc2[0], EDDY_EINVAL);
  CHECK_ERR(s.rc[1], EDDY_EINVAL);
  CHECK_OK(s.rc2[1]);
  CHECK_OK(eddy_future_result(t, NULL, NULL));
  /* Nothing is left awaiting f or g: completing them runs no step. */
  CHECK_OK(eddy_future_set_result(s.f, NULL, 0));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  /* A plain future is not a task. */
  CHECK_ERR(eddy_task_await(s.f, s.g), EDDY_EINVAL);
  eddy_future_release(s.f);
  eddy_future_release(s.g);
  eddy_future_release(t);
  close_loop(loop);
  close_loop(other);
}

TEST(task_cancelling_on_plain_future_is_einval_and_0_on_fresh_task) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL, *f = NULL;
  CHECK_OK(eddy_loop_create_future(loop, &f));
  CHECK_OK(eddy_loop_create_task(loop, step_complete, &s, &t));
  CHECK_ERR(eddy_task_cancelling(f), EDDY_EINVAL);
  CHECK_ERR(eddy_task_cancelling(NULL), EDDY_EINVAL);
  CHECK_EQ(eddy_task_cancelling(t), 0);
  CHECK_ERR(eddy_task_yield(f), EDDY_EINVAL);
  CHECK_OK(eddy_loop_run_until_complete(loop, t));
  CHECK_EQ(s.cancelling[0], 0);
  eddy_future_release(f);
  eddy_future_release(t);
  close_loop(loop);
}

/* ---- 38: task factory -------------------------------------------------- */

struct fac {
  int calls;
  eddy_loop_t *loop;
  eddy_task_step_fn step;
  void *step_ud;
  eddy_future_t *made;
  int fail;
};

static int my_factory(eddy_loop_t *loop, eddy_task_step_fn step, void *step_ud, eddy_future_t **out,
                      void *factory_ud) {
  struct fac *fc = factory_ud;
  fc->calls++;
  fc->loop = loop;
  fc->step = step;
  fc->step_ud = step_ud;
  if (fc->fail) return fc->fail;
  int rc = eddy_task_new(loop, step, step_ud, out);
  if (rc == 0) fc->made = *out;
  return rc;
}

/* item 38 */
TEST(get_task_factory_returns_null_for_default_and_what_was_set) {
  eddy_loop_t *loop = new_loop();
  struct fac fc;
  memset(&fc, 0, sizeof fc);
  eddy_task_factory_fn fn = my_factory;
  void *ud = &fc;
  CHECK_OK(eddy_loop_get_task_factory(loop, &fn, &ud));
  CHECK(fn == NULL);
  CHECK_OK(eddy_loop_set_task_factory(loop, my_factory, &fc));
  fn = NULL;
  ud = NULL;
  CHECK_OK(eddy_loop_get_task_factory(loop, &fn, &ud));
  CHECK(fn == my_factory);
  CHECK(ud == &fc);
  CHECK_OK(eddy_loop_set_task_factory(loop, NULL, NULL));
  fn = my_factory;
  CHECK_OK(eddy_loop_get_task_factory(loop, &fn, &ud));
  CHECK(fn == NULL);
  CHECK_ERR(eddy_loop_set_task_factory(NULL, my_factory, &fc), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_get_task_factory(NULL, &fn, &ud), EDDY_EINVAL);
  CHECK_EQ(fc.calls, 0);
  close_loop(loop);
}

/* item 38 */
TEST(create_task_goes_through_factory_and_task_new_bypasses_it) {
  eddy_loop_t *loop = new_loop();
  struct fac fc;
  memset(&fc, 0, sizeof fc);
  struct st s1, s2;
  st_init(&s1);
  st_init(&s2);
  CHECK_OK(eddy_loop_set_task_factory(loop, my_factory, &fc));
  eddy_future_t *t = NULL, *t2 = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_complete, &s1, &t));
  CHECK_EQ(fc.calls, 1);
  CHECK(fc.loop == loop);
  CHECK(fc.step == step_complete);
  CHECK(fc.step_ud == &s1);
  CHECK(t != NULL);
  CHECK(t == fc.made); /* create_task hands back the factory's task */
  CHECK_EQ(eddy_future_is_task(t), 1);

  CHECK_OK(eddy_task_new(loop, step_complete, &s2, &t2));
  CHECK_EQ(fc.calls, 1); /* bypassed */

  CHECK_OK(eddy_loop_run_until_complete(loop, t));
  CHECK_OK(eddy_loop_run_until_complete(loop, t2));
  CHECK_EQ(s1.steps, 1);
  CHECK_EQ(s2.steps, 1);
  eddy_future_release(t);
  eddy_future_release(t2);

  /* Back to the default: the factory is no longer called. */
  CHECK_OK(eddy_loop_set_task_factory(loop, NULL, NULL));
  eddy_future_t *t3 = NULL;
  struct st s3;
  st_init(&s3);
  CHECK_OK(eddy_loop_create_task(loop, step_complete, &s3, &t3));
  CHECK_EQ(fc.calls, 1);
  CHECK_OK(eddy_loop_run_until_complete(loop, t3));
  CHECK_EQ(s3.steps, 1);
  eddy_future_release(t3);
  close_loop(loop);
}

/* item 38 */
TEST(create_task_returns_the_task_factory_error) {
  eddy_loop_t *loop = new_loop();
  struct fac fc;
  memset(&fc, 0, sizeof fc);
  fc.fail = -EPERM;
  struct st s;
  st_init(&s);
  CHECK_OK(eddy_loop_set_task_factory(loop, my_factory, &fc));
  eddy_future_t *t = (eddy_future_t *)&fc; /* sentinel */
  CHECK_ERR(eddy_loop_create_task(loop, step_complete, &s, &t), -EPERM);
  CHECK_EQ(fc.calls, 1);
  CHECK(t == (eddy_future_t *)&fc); /* not written on failure */
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 0);
  close_loop(loop);
}

/* ---- 37 and 33: reports to the exception handler ----------------------- */

struct report {
  int count;
  char message[256];
  int error;
  eddy_future_t *future;
};

static void record_handler(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  (void)loop;
  struct report *r = ud;
  r->count++;
  r->error = ctx->error;
  r->future = ctx->future;
  snprintf(r->message, sizeof r->message, "%s", ctx->message ? ctx->message : "(null)");
}

static void step_await_forever(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i < MAXSTEPS) s->rc[i] = eddy_task_await(task, s->f);
}

/* item 37 */
TEST(task_pending_when_loop_closes_reports_destroyed_but_pending) {
  eddy_loop_t *loop = new_loop();
  struct report rep;
  memset(&rep, 0, sizeof rep);
  CHECK_OK(eddy_loop_set_exception_handler(loop, record_handler, &rep));
  struct st s;
  st_init(&s);
  CHECK_OK(eddy_loop_create_future(loop, &s.f));
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_await_forever, &s, &t));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  CHECK_OK(s.rc[0]);
  CHECK_EQ(rep.count, 0);
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(rep.count, 1);
  const char *want = "Task was destroyed but it is pending!";
  CHECK(strncmp(rep.message, want, strlen(want)) == 0);
  CHECK(rep.future == t);
  CHECK_EQ(s.steps, 1); /* close does not run the step */
  eddy_future_release(t);
  eddy_future_release(s.f);
  CHECK_EQ(rep.count, 1); /* reported once */
  eddy_loop_release(loop);
}

static void step_fail(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i < MAXSTEPS) s->rc[i] = eddy_future_set_error(task, -EIO, "nobody reads this");
}

/* item 33 */
TEST(task_error_never_retrieved_is_reported_as_task_exception) {
  eddy_loop_t *loop = new_loop();
  struct report rep;
  memset(&rep, 0, sizeof rep);
  CHECK_OK(eddy_loop_set_exception_handler(loop, record_handler, &rep));
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_fail, &s, &t));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 1);
  CHECK_OK(s.rc[0]);
  CHECK_EQ(eddy_future_done(t), 1);
  CHECK_EQ(rep.count, 0);
  eddy_future_release(t);
  CHECK_OK(run_one_iteration(loop));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(rep.count, 1);
  const char *want = "Task exception was never retrieved";
  CHECK(strncmp(rep.message, want, strlen(want)) == 0);
  CHECK_EQ(rep.error, -EIO);
  close_loop(loop);
}

/* item 33 */
TEST(task_error_read_by_run_until_complete_is_not_reported) {
  eddy_loop_t *loop = new_loop();
  struct report rep;
  memset(&rep, 0, sizeof rep);
  CHECK_OK(eddy_loop_set_exception_handler(loop, record_handler, &rep));
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_fail, &s, &t));
  CHECK_ERR(eddy_loop_run_until_complete(loop, t), -EIO);
  eddy_future_release(t);
  CHECK_OK(run_one_iteration(loop));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(rep.count, 0);
  close_loop(loop);
}

/* ---- 14: run_until_complete(task) --------------------------------------- */

/* item 14 */
TEST(run_until_complete_task_returns_its_outcome) {
  eddy_loop_t *loop = new_loop();
  struct st s1, s2, s3;
  st_init(&s1);
  st_init(&s2);
  st_init(&s3);
  eddy_future_t *t1 = NULL, *t2 = NULL, *t3 = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_complete, &s1, &t1));
  CHECK_OK(eddy_loop_create_task(loop, step_fail, &s2, &t2));
  CHECK_OK(eddy_loop_create_task(loop, step_cancel_self_if_cancelling, &s3, &t3));
  CHECK_EQ(eddy_future_cancel(t3), 1);
  CHECK_OK(eddy_loop_run_until_complete(loop, t1));
  CHECK_ERR(eddy_loop_run_until_complete(loop, t2), -EIO);
  CHECK_ERR(eddy_loop_run_until_complete(loop, t3), EDDY_ECANCELED);
  int64_t n = 0;
  CHECK_OK(eddy_future_result(t1, NULL, &n));
  CHECK_EQ(n, 5);
  CHECK_EQ(eddy_loop_is_running(loop), 0);
  eddy_future_release(t1);
  eddy_future_release(t2);
  eddy_future_release(t3);
  close_loop(loop);
}

/* ---- shutdown_asyncgens: cancels pending tasks -------------------------- */

static eddy_future_t *g_shutdown_fut;
static int g_shutdown_done_when_g_completed = -1;
static eddy_future_t *g_late;

static void complete_late_cb(void *ud) {
  (void)ud;
  g_shutdown_done_when_g_completed = eddy_future_done(g_shutdown_fut);
  eddy_future_set_result(g_late, NULL, 0);
}

/* Step 0 awaits f; when cancelled, awaits g once (a slow cleanup), then
 * cancels itself. */
static void step_slow_cleanup(eddy_future_t *task, void *ud) {
  struct st *s = ud;
  int i = record_step(s, task);
  if (i == 0)
    s->rc[0] = eddy_task_await(task, s->f);
  else if (i == 1)
    s->rc[1] = eddy_task_await(task, s->g);
  else
    s->rc[i] = eddy_future_cancel(task);
}

TEST(shutdown_asyncgens_cancels_pending_tasks_and_completes_when_all_done) {
  eddy_loop_t *loop = new_loop();
  struct st a, b;
  st_init(&a);
  st_init(&b);
  CHECK_OK(eddy_loop_create_future(loop, &a.f));
  CHECK_OK(eddy_loop_create_future(loop, &b.f));
  CHECK_OK(eddy_loop_create_future(loop, &b.g));
  eddy_future_t *ta = NULL, *tb = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_await_then_cancel_self, &a, &ta));
  CHECK_OK(eddy_loop_create_task(loop, step_slow_cleanup, &b, &tb));
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(a.steps, 1);
  CHECK_EQ(b.steps, 1);

  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_shutdown_asyncgens(loop, &sf));
  CHECK(sf != NULL);
  CHECK_EQ(eddy_future_done(sf), 0);
  g_shutdown_fut = sf;
  g_late = b.g;
  CHECK_OK(eddy_loop_call_later(loop, 0.02, complete_late_cb, NULL, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, sf));
  /* Not complete while task b was still cleaning up. */
  CHECK_EQ(g_shutdown_done_when_g_completed, 0);
  CHECK_EQ(a.steps, 2);
  CHECK(a.cancelling[1] > 0);
  CHECK_EQ(b.steps, 3);
  CHECK(b.cancelling[1] > 0);
  CHECK(b.cancelling[2] > 0);
  CHECK_EQ(eddy_future_cancelled(ta), 1);
  CHECK_EQ(eddy_future_cancelled(tb), 1);
  CHECK_EQ(eddy_future_done(sf), 1);
  CHECK_OK(eddy_future_result(sf, NULL, NULL));
  eddy_future_release(sf);
  eddy_future_release(ta);
  eddy_future_release(tb);
  eddy_future_release(a.f);
  eddy_future_release(b.f);
  eddy_future_release(b.g);
  close_loop(loop);
}

TEST(shutdown_asyncgens_completes_immediately_without_pending_tasks) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_OK(eddy_loop_create_task(loop, step_complete, &s, &t));
  CHECK_OK(eddy_loop_run_until_complete(loop, t)); /* done tasks don't count */
  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_shutdown_asyncgens(loop, &sf));
  CHECK(sf != NULL);
  CHECK_EQ(eddy_future_done(sf), 1);
  CHECK_OK(eddy_future_result(sf, NULL, NULL));
  CHECK_OK(eddy_loop_run_until_complete(loop, sf));
  CHECK_EQ(s.steps, 1);
  CHECK_EQ(eddy_future_cancelled(t), 0);
  eddy_future_release(sf);
  eddy_future_release(t);
  close_loop(loop);
}

TEST(task_functions_reject_null_with_einval) {
  eddy_loop_t *loop = new_loop();
  struct st s;
  st_init(&s);
  eddy_future_t *t = NULL;
  CHECK_ERR(eddy_loop_create_task(NULL, step_complete, &s, &t), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_create_task(loop, NULL, &s, &t), EDDY_EINVAL);
  CHECK_ERR(eddy_task_new(NULL, step_complete, &s, &t), EDDY_EINVAL);
  CHECK_ERR(eddy_task_new(loop, NULL, &s, &t), EDDY_EINVAL);
  CHECK_ERR(eddy_task_yield(NULL), EDDY_EINVAL);
  CHECK(t == NULL);
  CHECK_ERR(eddy_loop_shutdown_asyncgens(NULL, &t), EDDY_EINVAL);
  CHECK_OK(run_one_iteration(loop));
  CHECK_EQ(s.steps, 0);
  close_loop(loop);
}
