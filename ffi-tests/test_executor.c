/* Executors: docs/api.md section 4 (executor part) and 12 ("Codes": work submitted
   to a shut-down executor, a negative eddy_work_fn return), asyncio's
   run_in_executor / set_default_executor / shutdown_default_executor. */
#include <eddy.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
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

/* A piece of work that records where it ran and returns a value. */
struct job {
  pthread_t thread;   /* the thread the work ran on */
  atomic_int runs;    /* how often it ran */
  void *ret_ptr;      /* the value it stores */
  int64_t ret_n;
  int rc;             /* what it returns */
  sem_t *started;     /* posted when it starts (may be NULL) */
  sem_t *release;     /* waited for before returning (may be NULL) */
  sem_t *finished;    /* posted just before returning (may be NULL) */
  double sleep_s;     /* sleeps that long first */
};

static void job_init(struct job *j, void *ptr, int64_t n, int rc) {
  memset(j, 0, sizeof *j);
  atomic_init(&j->runs, 0);
  j->ret_ptr = ptr;
  j->ret_n = n;
  j->rc = rc;
}

static int job_fn(void *ud, void **ptr, int64_t *n) {
  struct job *j = ud;
  j->thread = pthread_self();
  atomic_fetch_add(&j->runs, 1);
  if (j->started) sem_post(j->started);
  if (j->sleep_s > 0) harness_sleep(j->sleep_s);
  if (j->release) sem_wait_for(j->release, 10.0);
  *ptr = j->ret_ptr;
  *n = j->ret_n;
  if (j->finished) sem_post(j->finished);
  return j->rc;
}

/* Records the thread a done callback runs on and how often it ran. */
struct done_rec {
  pthread_t thread;
  int calls;
  int done_at_call;
};
static void done_rec_cb(eddy_future_t *f, void *ud) {
  struct done_rec *d = ud;
  d->thread = pthread_self();
  d->calls++;
  d->done_at_call = eddy_future_done(f);
}

static int static_value = 1234; /* a pointer result nobody frees */

/* ------------------------------------------- run_in_executor: default pool */

/* docs/api.md section 4: the work runs on a worker thread; its (ptr, n) lands in the
   future on the loop's thread */
TEST(run_in_executor_default_runs_work_on_a_worker_and_delivers_on_the_loop_thread) {
  eddy_loop_t *loop = new_loop();
  struct job j;
  job_init(&j, &static_value, 42, 0);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, job_fn, &j, &f));
  CHECK(f != NULL);
  /* the value is handed over on the loop's thread: nothing is done before the
     loop runs, whatever the worker did meanwhile */
  harness_sleep(0.02);
  CHECK_EQ(eddy_future_done(f), 0);
  struct done_rec d = {0};
  CHECK_OK(eddy_future_add_done_callback(f, done_rec_cb, &d));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_EQ(atomic_load(&j.runs), 1);
  CHECK(!pthread_equal(j.thread, pthread_self()));
  void *p = NULL;
  int64_t n = -1;
  CHECK_OK(eddy_future_result(f, &p, &n));
  CHECK(p == &static_value);
  CHECK_EQ(n, 42);
  CHECK(eddy_future_get_loop(f) == loop);
  /* run_until_complete may return before the done callbacks ran */
  CHECK_OK(run_once(loop));
  CHECK_EQ(d.calls, 1);
  CHECK_EQ(d.done_at_call, 1);
  CHECK(pthread_equal(d.thread, pthread_self()));
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 4: an explicit pool from eddy_executor_new_thread_pool */
TEST(run_in_executor_with_a_thread_pool_runs_on_its_worker) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(2, &ex));
  CHECK(ex != NULL);
  struct job a, b;
  job_init(&a, NULL, 7, 0);
  job_init(&b, &static_value, -3, 0);
  eddy_future_t *fa = NULL, *fb = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &a, &fa));
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &b, &fb));
  CHECK_EQ(eddy_future_done(fa), 0);
  CHECK_EQ(eddy_future_done(fb), 0);
  CHECK_OK(eddy_loop_run_until_complete(loop, fa));
  CHECK_OK(eddy_loop_run_until_complete(loop, fb));
  CHECK(!pthread_equal(a.thread, pthread_self()));
  CHECK(!pthread_equal(b.thread, pthread_self()));
  void *p = &p;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(fa, &p, &n));
  CHECK(p == NULL);
  CHECK_EQ(n, 7);
  CHECK_OK(eddy_future_result(fb, &p, &n));
  CHECK(p == &static_value);
  CHECK_EQ(n, -3); /* a negative count is a value, not an error */
  CHECK_EQ(atomic_load(&a.runs), 1);
  CHECK_EQ(atomic_load(&b.runs), 1);
  eddy_future_release(fa);
  eddy_future_release(fb);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  eddy_executor_release(ex);
  close_loop(loop);
}

/* docs/api.md section 12 (Codes): a negative return from an eddy_work_fn becomes the
   future's error */
TEST(negative_return_of_the_work_becomes_the_future_error) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  struct job j1, j2;
  job_init(&j1, &static_value, 5, EDDY_EIO);
  job_init(&j2, NULL, 0, -4999); /* a code eddy does not know is kept as is */
  eddy_future_t *f1 = NULL, *f2 = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &j1, &f1));
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, job_fn, &j2, &f2));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f1), EDDY_EIO);
  CHECK_ERR(eddy_loop_run_until_complete(loop, f2), -4999);
  void *p = NULL;
  int64_t n = 77;
  CHECK_ERR(eddy_future_result(f1, &p, &n), EDDY_EIO);
  CHECK(p == NULL); /* outputs are written only on success */
  CHECK_EQ(n, 77);
  CHECK_EQ(eddy_future_cancelled(f1), 0);
  CHECK_ERR(eddy_future_result(f2, NULL, NULL), -4999);
  eddy_future_release(f1);
  eddy_future_release(f2);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  eddy_executor_release(ex);
  close_loop(loop);
}

/* A positive return is success (only negative values are errors). */
TEST(positive_return_of_the_work_is_success) {
  eddy_loop_t *loop = new_loop();
  struct job j;
  job_init(&j, NULL, 9, 3);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, job_fn, &j, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 9);
  eddy_future_release(f);
  close_loop(loop);
}

/* ------------------------------------------------------------ cancellation */

/* docs/api.md section 4: cancelling the future of queued work keeps it from running */
TEST(cancelling_the_future_of_queued_work_keeps_it_from_running) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  sem_t started, release;
  sem_init(&started, 0, 0);
  sem_init(&release, 0, 0);
  struct job first, second;
  job_init(&first, NULL, 1, 0);
  first.started = &started;
  first.release = &release;
  job_init(&second, NULL, 2, 0);
  eddy_future_t *f1 = NULL, *f2 = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &first, &f1));
  CHECK_EQ(sem_wait_for(&started, 5.0), 0); /* the only worker is busy now */
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &second, &f2));
  struct done_rec d = {0};
  CHECK_OK(eddy_future_add_done_callback(f2, done_rec_cb, &d));
  CHECK_EQ(eddy_future_cancel(f2), 1);
  sem_post(&release);
  CHECK_OK(eddy_loop_run_until_complete(loop, f1));
  /* queued work still runs after shutdown: waiting for the pool means the
     queue was drained, so the second job had its chance */
  CHECK_OK(eddy_executor_shutdown(ex, true));
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_EQ(atomic_load(&first.runs), 1);
  CHECK_EQ(atomic_load(&second.runs), 0);
  CHECK_EQ(eddy_future_cancelled(f2), 1);
  CHECK_ERR(eddy_future_result(f2, NULL, NULL), EDDY_ECANCELED);
  CHECK_EQ(d.calls, 1);
  eddy_future_release(f1);
  eddy_future_release(f2);
  eddy_executor_release(ex);
  sem_destroy(&started);
  sem_destroy(&release);
  close_loop(loop);
}

/* docs/api.md section 4: work already running finishes and its result is dropped */
TEST(cancelling_running_work_lets_it_finish_and_drops_its_result) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  sem_t started, release, finished;
  sem_init(&started, 0, 0);
  sem_init(&release, 0, 0);
  sem_init(&finished, 0, 0);
  struct job j;
  job_init(&j, &static_value, 99, 0);
  j.started = &started;
  j.release = &release;
  j.finished = &finished;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &j, &f));
  struct done_rec d = {0};
  CHECK_OK(eddy_future_add_done_callback(f, done_rec_cb, &d));
  CHECK_EQ(sem_wait_for(&started, 5.0), 0);
  CHECK_EQ(eddy_future_cancel(f), 1);
  sem_post(&release);
  CHECK_EQ(sem_wait_for(&finished, 5.0), 0);
  CHECK_OK(eddy_executor_shutdown(ex, true)); /* the result is on its way */
  for (int i = 0; i < 4; i++) CHECK_OK(run_once(loop));
  CHECK_EQ(atomic_load(&j.runs), 1);
  CHECK_EQ(eddy_future_cancelled(f), 1);
  void *p = NULL;
  int64_t n = 0;
  CHECK_ERR(eddy_future_result(f, &p, &n), EDDY_ECANCELED);
  CHECK(p == NULL);
  CHECK_EQ(n, 0);
  CHECK_EQ(d.calls, 1); /* the late result did not complete it again */
  eddy_future_release(f);
  eddy_executor_release(ex);
  sem_destroy(&started);
  sem_destroy(&release);
  sem_destroy(&finished);
  close_loop(loop);
}

/* The caller may drop its future of pending work: the work still runs, and
   nothing leaks. */
TEST(releasing_the_future_of_pending_work_is_safe) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  struct job j;
  job_init(&j, NULL, 1, 0);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &j, &f));
  eddy_future_release(f);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  for (int i = 0; i < 3; i++) CHECK_OK(run_once(loop));
  CHECK_EQ(atomic_load(&j.runs), 1);
  eddy_executor_release(ex);
  close_loop(loop);
}

/* Closing the loop while work runs: the work finishes, its result has
   nowhere to go, and nothing crashes or leaks. */
TEST(closing_the_loop_while_work_runs_is_safe) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  sem_t started, release;
  sem_init(&started, 0, 0);
  sem_init(&release, 0, 0);
  struct job j;
  job_init(&j, NULL, 1, 0);
  j.started = &started;
  j.release = &release;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &j, &f));
  CHECK_EQ(sem_wait_for(&started, 5.0), 0);
  CHECK_OK(eddy_loop_close(loop));
  sem_post(&release);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  CHECK_EQ(atomic_load(&j.runs), 1);
  /* the late result was not delivered to the future of a closed loop */
  bool got_result = eddy_future_done(f) == 1 && eddy_future_result(f, NULL, NULL) == 0;
  CHECK(!got_result);
  eddy_future_release(f);
  eddy_executor_release(ex);
  eddy_loop_release(loop);
  sem_destroy(&started);
  sem_destroy(&release);
}

/* ----------------------------------------------------------------- shutdown */

/* docs/api.md section 12 (Codes): work submitted to a shut-down executor: EDDY_ECLOSED */
TEST(work_submitted_after_executor_shutdown_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(2, &ex));
  CHECK_OK(eddy_executor_shutdown(ex, false));
  struct job j;
  job_init(&j, NULL, 1, 0);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(loop, ex, job_fn, &j, &f), EDDY_ECLOSED);
  CHECK(f == NULL);
  /* shutting down again is harmless */
  CHECK_OK(eddy_executor_shutdown(ex, true));
  CHECK_ERR(eddy_loop_run_in_executor(loop, ex, job_fn, &j, &f), EDDY_ECLOSED);
  CHECK(f == NULL);
  for (int i = 0; i < 2; i++) CHECK_OK(run_once(loop));
  CHECK_EQ(atomic_load(&j.runs), 0);
  eddy_executor_release(ex);
  close_loop(loop);
}

/* docs/api.md section 4: shutdown(wait=true) returns after the queued work has finished */
TEST(executor_shutdown_wait_returns_after_queued_work_finished) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(2, &ex));
  enum { N = 6 };
  struct job j[N];
  eddy_future_t *f[N];
  for (int i = 0; i < N; i++) {
    job_init(&j[i], NULL, i, 0);
    j[i].sleep_s = 0.01;
    CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &j[i], &f[i]));
  }
  CHECK_OK(eddy_executor_shutdown(ex, true));
  for (int i = 0; i < N; i++) CHECK_EQ(atomic_load(&j[i].runs), 1);
  /* their results are still delivered */
  for (int i = 0; i < N; i++) {
    CHECK_OK(eddy_loop_run_until_complete(loop, f[i]));
    int64_t n = -1;
    CHECK_OK(eddy_future_result(f[i], NULL, &n));
    CHECK_EQ(n, i);
    eddy_future_release(f[i]);
  }
  eddy_executor_release(ex);
  close_loop(loop);
}

/* docs/api.md section 4: shutdown without waiting returns at once; queued work still runs */
TEST(executor_shutdown_without_wait_returns_at_once_and_queued_work_still_runs) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  sem_t started, release;
  sem_init(&started, 0, 0);
  sem_init(&release, 0, 0);
  struct job a, b;
  job_init(&a, NULL, 1, 0);
  a.started = &started;
  a.release = &release;
  job_init(&b, NULL, 2, 0);
  eddy_future_t *fa = NULL, *fb = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &a, &fa));
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &b, &fb));
  CHECK_EQ(sem_wait_for(&started, 5.0), 0);
  CHECK_OK(eddy_executor_shutdown(ex, false)); /* a is blocked: must not wait (job a waits for
     `release`, posted only after this returns) */
  sem_post(&release);
  CHECK_OK(eddy_loop_run_until_complete(loop, fa));
  CHECK_OK(eddy_loop_run_until_complete(loop, fb));
  int64_t n = 0;
  CHECK_OK(eddy_future_result(fb, NULL, &n));
  CHECK_EQ(n, 2);
  CHECK_EQ(atomic_load(&b.runs), 1);
  eddy_future_release(fa);
  eddy_future_release(fb);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  eddy_executor_release(ex);
  sem_destroy(&started);
  sem_destroy(&release);
  close_loop(loop);
}

/* ---------------------------------------------------------- default executor */

/* docs/api.md section 4: eddy_loop_set_default_executor is what a NULL executor means */
TEST(set_default_executor_is_used_for_a_null_executor) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex)); /* one worker: one thread */
  CHECK_OK(eddy_loop_set_default_executor(loop, ex));
  struct job a, b;
  job_init(&a, NULL, 1, 0);
  job_init(&b, NULL, 2, 0);
  eddy_future_t *fa = NULL, *fb = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &a, &fa));
  CHECK_OK(eddy_loop_run_until_complete(loop, fa));
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, job_fn, &b, &fb));
  CHECK_OK(eddy_loop_run_until_complete(loop, fb));
  CHECK(pthread_equal(a.thread, b.thread)); /* the pool's only worker */
  /* the pool shut down: default-executor work is refused, so the default is
     this pool */
  CHECK_OK(eddy_executor_shutdown(ex, true));
  eddy_future_t *fc = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(loop, NULL, job_fn, &b, &fc), EDDY_ECLOSED);
  CHECK(fc == NULL);
  eddy_future_release(fa);
  eddy_future_release(fb);
  eddy_executor_release(ex);
  close_loop(loop);
}

/* docs/api.md section 4: the loop keeps a reference to its default executor */
TEST(set_default_executor_keeps_a_reference) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  CHECK_OK(eddy_loop_set_default_executor(loop, ex));
  eddy_executor_release(ex); /* the loop's reference keeps it alive */
  struct job j;
  job_init(&j, NULL, 5, 0);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, job_fn, &j, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  int64_t n = 0;
  CHECK_OK(eddy_future_result(f, NULL, &n));
  CHECK_EQ(n, 5);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 4: shutdown_default_executor's future completes once the default
   executor's work finished; later default-executor work is EDDY_ECLOSED */
TEST(shutdown_default_executor_completes_after_its_work_and_refuses_later_work) {
  eddy_loop_t *loop = new_loop();
  struct job j;
  job_init(&j, &static_value, 1, 0);
  j.sleep_s = 0.03;
  eddy_future_t *fw = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, job_fn, &j, &fw));
  eddy_future_t *fs = NULL;
  CHECK_OK(eddy_loop_shutdown_default_executor(loop, &fs));
  CHECK(fs != NULL);
  CHECK_EQ(eddy_future_done(fs), 0); /* work is still running */
  CHECK_OK(eddy_loop_run_until_complete(loop, fs));
  CHECK_EQ(atomic_load(&j.runs), 1);
  CHECK_OK(eddy_loop_run_until_complete(loop, fw)); /* its result still lands */
  void *p = NULL;
  CHECK_OK(eddy_future_result(fw, &p, NULL));
  CHECK(p == &static_value);
  struct job k;
  job_init(&k, NULL, 1, 0);
  eddy_future_t *fk = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(loop, NULL, job_fn, &k, &fk), EDDY_ECLOSED);
  CHECK(fk == NULL);
  /* an explicit pool still works */
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &k, &fk));
  CHECK_OK(eddy_loop_run_until_complete(loop, fk));
  CHECK_EQ(atomic_load(&k.runs), 1);
  eddy_future_release(fk);
  eddy_future_release(fw);
  eddy_future_release(fs);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  eddy_executor_release(ex);
  close_loop(loop);
}

/* docs/api.md section 4: with no default executor made yet, the future still completes;
   out may be NULL */
TEST(shutdown_default_executor_without_one_completes_and_accepts_null_out) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *fs = NULL;
  CHECK_OK(eddy_loop_shutdown_default_executor(loop, &fs));
  CHECK_OK(eddy_loop_run_until_complete(loop, fs));
  eddy_future_release(fs);
  struct job k;
  job_init(&k, NULL, 1, 0);
  eddy_future_t *fk = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(loop, NULL, job_fn, &k, &fk), EDDY_ECLOSED);
  CHECK(fk == NULL);

  eddy_loop_t *loop2 = new_loop();
  CHECK_OK(eddy_loop_run_in_executor(loop2, NULL, job_fn, &k, &fk));
  CHECK_OK(eddy_loop_run_until_complete(loop2, fk));
  eddy_future_release(fk);
  CHECK_OK(eddy_loop_shutdown_default_executor(loop2, NULL));
  harness_sleep(0.02);
  for (int i = 0; i < 3; i++) CHECK_OK(run_once(loop2));
  fk = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(loop2, NULL, job_fn, &k, &fk), EDDY_ECLOSED);
  CHECK(fk == NULL);
  close_loop(loop2);
  close_loop(loop);
}

/* shutdown_default_executor shuts down a default set with
   set_default_executor too (asyncio calls its shutdown(wait=True)) */
TEST(shutdown_default_executor_shuts_down_the_set_default_executor) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(2, &ex));
  CHECK_OK(eddy_loop_set_default_executor(loop, ex));
  eddy_future_t *fs = NULL;
  CHECK_OK(eddy_loop_shutdown_default_executor(loop, &fs));
  CHECK_OK(eddy_loop_run_until_complete(loop, fs));
  struct job k;
  job_init(&k, NULL, 1, 0);
  eddy_future_t *fk = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(loop, ex, job_fn, &k, &fk), EDDY_ECLOSED);
  CHECK(fk == NULL);
  eddy_future_release(fs);
  eddy_executor_release(ex);
  close_loop(loop);
}

/* docs/api.md section 4: eddy_loop_close shuts the default executor down */
TEST(loop_close_shuts_the_default_executor_down) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  CHECK_OK(eddy_loop_set_default_executor(loop, ex));
  close_loop(loop);
  eddy_loop_t *other = new_loop();
  struct job k;
  job_init(&k, NULL, 1, 0);
  eddy_future_t *fk = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(other, ex, job_fn, &k, &fk), EDDY_ECLOSED);
  CHECK(fk == NULL);
  eddy_executor_release(ex);
  close_loop(other);
}

/* ---------------------------------------------------------- retain/release */

/* docs/api.md sections 1 and 4: retain/release pair; the last release shuts the pool down
   without waiting, and work already queued still completes */
TEST(executor_retain_release_and_last_release_lets_queued_work_finish) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  eddy_executor_retain(ex);
  eddy_executor_release(ex);
  /* one reference left: still usable */
  sem_t started, release;
  sem_init(&started, 0, 0);
  sem_init(&release, 0, 0);
  struct job a, b;
  job_init(&a, NULL, 1, 0);
  a.started = &started;
  a.release = &release;
  job_init(&b, NULL, 2, 0);
  eddy_future_t *fa = NULL, *fb = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &a, &fa));
  CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &b, &fb));
  CHECK_EQ(sem_wait_for(&started, 5.0), 0);
  eddy_executor_release(ex); /* the last reference: must not wait (job a waits for
     `release`, posted only after this returns) */
  sem_post(&release);
  CHECK_OK(eddy_loop_run_until_complete(loop, fa));
  CHECK_OK(eddy_loop_run_until_complete(loop, fb));
  int64_t n = 0;
  CHECK_OK(eddy_future_result(fb, NULL, &n));
  CHECK_EQ(n, 2);
  eddy_executor_retain(NULL);
  eddy_executor_release(NULL);
  eddy_future_release(fa);
  eddy_future_release(fb);
  sem_destroy(&started);
  sem_destroy(&release);
  close_loop(loop);
}

/* docs/api.md section 1 (Threads): the executor's own functions are thread-safe: a pool
   made and fed from another thread serves this loop */
struct foreign_pool {
  eddy_executor_t *ex;
  int rc_new, rc_shutdown;
};
static void *foreign_pool_thread(void *p) {
  struct foreign_pool *fp = p;
  fp->rc_new = eddy_executor_new_thread_pool(3, &fp->ex);
  eddy_executor_retain(fp->ex);
  eddy_executor_release(fp->ex);
  return NULL;
}
static void *foreign_shutdown_thread(void *p) {
  struct foreign_pool *fp = p;
  fp->rc_shutdown = eddy_executor_shutdown(fp->ex, true);
  eddy_executor_release(fp->ex);
  return NULL;
}
TEST(executor_functions_work_from_any_thread) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_debug(loop, true));
  struct foreign_pool fp = {NULL, 1, 1};
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, foreign_pool_thread, &fp), 0);
  pthread_join(th, NULL);
  CHECK_OK(fp.rc_new);
  struct job j;
  job_init(&j, NULL, 11, 0);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, fp.ex, job_fn, &j, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_EQ(pthread_create(&th, NULL, foreign_shutdown_thread, &fp), 0);
  pthread_join(th, NULL);
  CHECK_OK(fp.rc_shutdown);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 4: max_workers bounds the pool: with 2 workers, at most 2 jobs run
   at once; 0 means the default size */
static atomic_int conc_now, conc_max;
static int conc_fn(void *ud, void **p, int64_t *n) {
  (void)ud;
  (void)p;
  int now = atomic_fetch_add(&conc_now, 1) + 1;
  int m = atomic_load(&conc_max);
  while (now > m && !atomic_compare_exchange_weak(&conc_max, &m, now)) {
  }
  harness_sleep(0.01);
  atomic_fetch_sub(&conc_now, 1);
  *n = 1;
  return 0;
}
TEST(thread_pool_runs_at_most_max_workers_jobs_at_once) {
  atomic_store(&conc_now, 0);
  atomic_store(&conc_max, 0);
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(2, &ex));
  enum { N = 8 };
  eddy_future_t *f[N];
  for (int i = 0; i < N; i++) CHECK_OK(eddy_loop_run_in_executor(loop, ex, conc_fn, NULL, &f[i]));
  for (int i = 0; i < N; i++) {
    CHECK_OK(eddy_loop_run_until_complete(loop, f[i]));
    eddy_future_release(f[i]);
  }
  CHECK(atomic_load(&conc_max) <= 2);
  CHECK(atomic_load(&conc_max) >= 1);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  eddy_executor_release(ex);

  /* 0: min(32, cpus + 4) workers, so at least 4 can run at once */
  atomic_store(&conc_max, 0);
  CHECK_OK(eddy_executor_new_thread_pool(0, &ex));
  sem_t started, release;
  sem_init(&started, 0, 0);
  sem_init(&release, 0, 0);
  struct job j[4];
  eddy_future_t *g[4];
  for (int i = 0; i < 4; i++) {
    job_init(&j[i], NULL, i, 0);
    j[i].started = &started;
    j[i].release = &release;
    CHECK_OK(eddy_loop_run_in_executor(loop, ex, job_fn, &j[i], &g[i]));
  }
  for (int i = 0; i < 4; i++) CHECK_EQ(sem_wait_for(&started, 5.0), 0); /* all 4 at once */
  for (int i = 0; i < 4; i++) sem_post(&release);
  for (int i = 0; i < 4; i++) {
    CHECK_OK(eddy_loop_run_until_complete(loop, g[i]));
    eddy_future_release(g[i]);
  }
  CHECK_OK(eddy_executor_shutdown(ex, true));
  eddy_executor_release(ex);
  sem_destroy(&started);
  sem_destroy(&release);
  close_loop(loop);
}

/* ------------------------------------------------------ errors: NULL, closed */

/* docs/api.md section 1: NULL or invalid arguments are EDDY_EINVAL, outputs untouched */
TEST(null_arguments_to_executor_functions_are_einval) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_ERR(eddy_executor_new_thread_pool(2, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_executor_shutdown(NULL, true), EDDY_EINVAL);
  CHECK_ERR(eddy_executor_shutdown(NULL, false), EDDY_EINVAL);
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  struct job j;
  job_init(&j, NULL, 1, 0);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(NULL, ex, job_fn, &j, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_run_in_executor(NULL, NULL, job_fn, &j, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_run_in_executor(loop, ex, NULL, &j, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_run_in_executor(loop, NULL, NULL, &j, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK_ERR(eddy_loop_set_default_executor(NULL, ex), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_set_default_executor(loop, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_shutdown_default_executor(NULL, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  eddy_executor_retain(NULL);
  eddy_executor_release(NULL);
  /* nothing ran, and the pool still works */
  CHECK_OK(eddy_executor_shutdown(ex, true));
  CHECK_EQ(atomic_load(&j.runs), 0);
  eddy_executor_release(ex);
  close_loop(loop);
}

/* docs/api.md sections 1 and 4: calls on a closed loop are EDDY_ECLOSED */
TEST(executor_calls_on_a_closed_loop_are_eclosed) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  CHECK_OK(eddy_loop_close(loop));
  struct job j;
  job_init(&j, NULL, 1, 0);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_run_in_executor(loop, ex, job_fn, &j, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_run_in_executor(loop, NULL, job_fn, &j, &f), EDDY_ECLOSED);
  CHECK(f == NULL);
  CHECK_ERR(eddy_loop_set_default_executor(loop, ex), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_shutdown_default_executor(loop, &f), EDDY_ECLOSED);
  CHECK(f == NULL);
  /* the pool is not affected by the loop */
  CHECK_OK(eddy_executor_shutdown(ex, true));
  CHECK_EQ(atomic_load(&j.runs), 0);
  eddy_executor_release(ex);
  eddy_loop_release(loop);
}

/* docs/api.md section 1 (Threads): in debug mode run_in_executor from a foreign thread
   while the loop runs is EDDY_EWRONGTHREAD */
struct foreign_submit {
  eddy_loop_t *loop;
  struct job *j;
  eddy_future_t *f;
  int rc;
};
static void *foreign_submit_thread(void *p) {
  struct foreign_submit *s = p;
  s->rc = eddy_loop_run_in_executor(s->loop, NULL, job_fn, s->j, &s->f);
  return NULL;
}
static void spawn_submit_cb(void *ud) {
  pthread_t th;
  if (pthread_create(&th, NULL, foreign_submit_thread, ud) == 0) pthread_join(th, NULL);
}
TEST(debug_mode_run_in_executor_from_a_foreign_thread_is_ewrongthread) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_debug(loop, true));
  struct job j;
  job_init(&j, NULL, 1, 0);
  struct foreign_submit s = {loop, &j, NULL, 1};
  CHECK_OK(eddy_loop_call_soon(loop, spawn_submit_cb, &s, NULL));
  CHECK_OK(run_once(loop));
  CHECK_ERR(s.rc, EDDY_EWRONGTHREAD);
  CHECK(s.f == NULL);
  CHECK_EQ(atomic_load(&j.runs), 0);
  close_loop(loop);
}

/* ------------------------------------------------------------------- stress */

#define STRESS_JOBS 10000
#define STRESS_WORKERS 4

static atomic_int stress_runs[STRESS_JOBS];
static int stress_delivered[STRESS_JOBS];
static int stress_total;
static int stress_wrong_value;
static int stress_off_thread;
static pthread_t stress_loop_thread;
static eddy_loop_t *stress_loop;

static int stress_fn(void *ud, void **p, int64_t *n) {
  intptr_t id = (intptr_t)ud;
  atomic_fetch_add(&stress_runs[id], 1);
  *p = (void *)(intptr_t)(id + 1); /* a marker, never dereferenced */
  *n = (int64_t)id * 3;
  return 0;
}

static void stress_done(eddy_future_t *f, void *ud) {
  intptr_t id = (intptr_t)ud;
  void *p = NULL;
  int64_t n = -1;
  if (eddy_future_result(f, &p, &n) != 0 || n != (int64_t)id * 3 || p != (void *)(intptr_t)(id + 1))
    stress_wrong_value++;
  if (!pthread_equal(pthread_self(), stress_loop_thread)) stress_off_thread++;
  stress_delivered[id]++;
  if (++stress_total == STRESS_JOBS) eddy_loop_stop(stress_loop);
}

static int stress_timed_out;
static void stress_timeout_cb(void *ud) {
  stress_timed_out = 1;
  eddy_loop_stop((eddy_loop_t *)ud);
}

/* docs/api.md section 4 (issue 3): 10,000 jobs on a 4-thread pool, each result delivered
   exactly once, on the loop's thread */
TEST(stress_10000_jobs_on_4_threads_each_result_delivered_exactly_once) {
  for (int i = 0; i < STRESS_JOBS; i++) {
    atomic_init(&stress_runs[i], 0);
    stress_delivered[i] = 0;
  }
  stress_total = 0;
  stress_wrong_value = 0;
  stress_off_thread = 0;
  stress_timed_out = 0;
  stress_loop_thread = pthread_self();
  eddy_loop_t *loop = new_loop();
  stress_loop = loop;
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(STRESS_WORKERS, &ex));
  eddy_future_t **futs = calloc(STRESS_JOBS, sizeof *futs);
  CHECK(futs != NULL);
  /* the first half is submitted before the loop runs, the second half while
     it runs, so deliveries and submissions interleave */
  for (intptr_t i = 0; i < STRESS_JOBS / 2; i++) {
    CHECK_OK(eddy_loop_run_in_executor(loop, ex, stress_fn, (void *)i, &futs[i]));
    CHECK_OK(eddy_future_add_done_callback(futs[i], stress_done, (void *)i));
  }
  CHECK_OK(eddy_loop_call_later(loop, 25.0, stress_timeout_cb, loop, NULL));
  for (intptr_t i = STRESS_JOBS / 2; i < STRESS_JOBS; i += 500) {
    /* a batch of 500 per iteration */
    for (intptr_t k = i; k < i + 500; k++) {
      CHECK_OK(eddy_loop_run_in_executor(loop, ex, stress_fn, (void *)k, &futs[k]));
      CHECK_OK(eddy_future_add_done_callback(futs[k], stress_done, (void *)k));
    }
    CHECK_OK(run_once(loop));
  }
  if (stress_total < STRESS_JOBS) CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(stress_timed_out, 0);
  CHECK_EQ(stress_total, STRESS_JOBS);
  /* nothing more arrives */
  CHECK_OK(eddy_executor_shutdown(ex, true));
  for (int i = 0; i < 3; i++) CHECK_OK(run_once(loop));
  CHECK_EQ(stress_total, STRESS_JOBS);
  int bad_runs = 0, bad_deliveries = 0;
  for (int i = 0; i < STRESS_JOBS; i++) {
    bad_runs += atomic_load(&stress_runs[i]) != 1;
    bad_deliveries += stress_delivered[i] != 1;
  }
  CHECK_EQ(bad_runs, 0);
  CHECK_EQ(bad_deliveries, 0);
  CHECK_EQ(stress_wrong_value, 0);
  CHECK_EQ(stress_off_thread, 0);
  for (int i = 0; i < STRESS_JOBS; i++) eddy_future_release(futs[i]);
  free(futs);
  eddy_executor_release(ex);
  close_loop(loop);
}

