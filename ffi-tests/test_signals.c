/* Unix signals: docs/semantics.md items 130-132 (section P); docs/api.md section 8
   (eddy_loop_add_signal_handler / eddy_loop_remove_signal_handler).

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
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

/* Runs until `*counter` reaches `want` (or 2 s pass). */
static int *wait_counter;
static int wait_want;
static eddy_loop_t *wait_loop;
static void poll_counter_cb(void *ud) {
  (void)ud;
  if (*wait_counter >= wait_want)
    eddy_loop_stop(wait_loop);
  else
    eddy_loop_call_later(wait_loop, 0.001, poll_counter_cb, NULL, NULL);
}
static int run_until_count(eddy_loop_t *loop, int *counter, int want) {
  wait_counter = counter;
  wait_want = want;
  wait_loop = loop;
  int rc = eddy_loop_call_soon(loop, poll_counter_cb, NULL, NULL);
  if (rc != 0) return rc;
  rc = eddy_loop_call_later(loop, 2.0, stop_cb, loop, NULL);
  if (rc != 0) return rc;
  return eddy_loop_run_forever(loop);
}

static void (*current_handler(int sig))(int) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  if (sigaction(sig, NULL, &sa) != 0) return (void (*)(int))(intptr_t)-2;
  return sa.sa_handler;
}

static void set_handler(int sig, void (*h)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = h;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  CHECK_EQ(sigaction(sig, &sa, NULL), 0);
}

/* A signal callback that counts, records the thread, whether it runs as an
   ordinary loop callback, and schedules a follow-up with call_soon. */
struct sig_rec {
  eddy_loop_t *loop;
  int calls;
  int call_soon_rc;
  int ran_in_loop;     /* eddy_get_running_loop() was this loop */
  int on_main_thread;  /* ran on the loop's thread */
  pthread_t main_thread;
  char tag;
};
static void sig_rec_cb(void *ud) {
  struct sig_rec *r = ud;
  r->calls++;
  ev_add(r->tag);
  r->ran_in_loop += eddy_get_running_loop() == r->loop;
  r->on_main_thread += pthread_equal(pthread_self(), r->main_thread) != 0;
  int rc = eddy_loop_call_soon(r->loop, rec_cb, TAG('+'), NULL);
  if (rc != 0) r->call_soon_rc = rc;
}
static void sig_rec_init(struct sig_rec *r, eddy_loop_t *loop, char tag) {
  memset(r, 0, sizeof *r);
  r->loop = loop;
  r->main_thread = pthread_self();
  r->tag = tag;
}

static volatile sig_atomic_t custom_hits;
static void custom_handler(int sig) {
  (void)sig;
  custom_hits++;
}

/* --------------------------------------------------------------- delivery */

/* item 131: two kills give two callbacks, run later on the loop as
   ordinary callbacks (never inside the signal handler) */
TEST(two_kills_of_sigusr1_give_two_callbacks_on_the_loop) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct sig_rec r;
  sig_rec_init(&r, loop, 'u');
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, sig_rec_cb, &r));
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  CHECK_EQ(r.calls, 0); /* not called in signal context */
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  CHECK_EQ(r.calls, 0);
  CHECK_OK(run_until_count(loop, &r.calls, 2));
  CHECK_OK(run_for(loop, 0.02)); /* and no third one */
  CHECK_EQ(r.calls, 2);
  CHECK_EQ(r.ran_in_loop, 2);
  CHECK_EQ(r.on_main_thread, 2);
  CHECK_OK(r.call_soon_rc);
  /* both follow-ups ran: "uu++" when both signals were read in one
     iteration, "u+u+" when the second came in a later one */
  CHECK(strcmp(ev, "uu++") == 0 || strcmp(ev, "u+u+") == 0);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 1);
  close_loop(loop);
}

/* item 131: each delivered signal gives one callback, also across
   iterations */
TEST(each_delivered_signal_gives_one_callback) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct sig_rec r;
  sig_rec_init(&r, loop, 'u');
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, sig_rec_cb, &r));
  for (int i = 1; i <= 5; i++) {
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    CHECK_OK(run_until_count(loop, &r.calls, i));
    CHECK_EQ(r.calls, i);
  }
  CHECK_OK(run_for(loop, 0.01));
  CHECK_EQ(r.calls, 5);
  close_loop(loop);
}

/* item 131: two signals, two callbacks, in delivery order */
TEST(different_signals_run_their_own_callbacks_in_delivery_order) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct sig_rec a, b;
  sig_rec_init(&a, loop, 'a');
  sig_rec_init(&b, loop, 'b');
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, sig_rec_cb, &a));
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR2, sig_rec_cb, &b));
  CHECK_EQ(kill(getpid(), SIGUSR2), 0);
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  int total = 0;
  for (int i = 0; i < 200 && a.calls + b.calls < 2; i++) CHECK_OK(run_for(loop, 0.001));
  total = a.calls + b.calls;
  CHECK_EQ(total, 2);
  CHECK_EQ(a.calls, 1);
  CHECK_EQ(b.calls, 1);
  CHECK(strchr(ev, 'b') < strchr(ev, 'a'));
  close_loop(loop);
}

/* item 131: a signal wakes a loop blocked in poll with nothing else to
   do (the self-pipe) */
static void *kill_later_thread(void *p) {
  (void)p;
  harness_sleep(0.03);
  kill(getpid(), SIGUSR1);
  return NULL;
}
static void stop_on_signal_cb(void *ud) {
  ev_add('s');
  eddy_loop_stop((eddy_loop_t *)ud);
}
TEST(a_signal_wakes_a_loop_blocked_in_poll) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, stop_on_signal_cb, loop));
  CHECK_OK(eddy_loop_call_later(loop, 5.0, stop_cb, loop, NULL)); /* safety */
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, kill_later_thread, NULL), 0);
  double t0 = harness_monotonic();
  CHECK_OK(eddy_loop_run_forever(loop));
  double el = harness_monotonic() - t0;
  pthread_join(th, NULL);
  CHECK_STR_EQ(ev, "s");
  CHECK(el >= 0.02);
  CHECK(el < 2.0);
  close_loop(loop);
}

/* item 131: SA_RESTART is set on the installed handler */
TEST(installed_handler_has_sa_restart) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, rec_cb, TAG('x')));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  CHECK_EQ(sigaction(SIGUSR1, NULL, &sa), 0);
  CHECK(sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
  CHECK(sa.sa_flags & SA_RESTART);
  close_loop(loop);
}

/* item 131: adding a handler for the same signal again replaces it */
TEST(adding_again_replaces_the_callback) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct sig_rec a, b;
  sig_rec_init(&a, loop, 'a');
  sig_rec_init(&b, loop, 'b');
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, sig_rec_cb, &a));
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, sig_rec_cb, &b));
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  CHECK_OK(run_until_count(loop, &b.calls, 1));
  CHECK_OK(run_for(loop, 0.01));
  CHECK_EQ(a.calls, 0);
  CHECK_EQ(b.calls, 1);
  /* one removal removes it: it was replaced, not stacked */
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 1);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 0);
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  close_loop(loop);
}

/* item 131: a callback may remove its own handler */
static eddy_loop_t *self_remove_loop;
static int self_remove_calls, self_remove_rc;
static void self_remove_cb(void *ud) {
  (void)ud;
  self_remove_calls++;
  self_remove_rc = eddy_loop_remove_signal_handler(self_remove_loop, SIGUSR2);
}
TEST(a_signal_callback_can_remove_its_own_handler) {
  eddy_loop_t *loop = new_loop();
  set_handler(SIGUSR2, SIG_IGN, 0); /* so a later SIGUSR2 is harmless */
  self_remove_loop = loop;
  self_remove_calls = 0;
  self_remove_rc = -1;
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR2, self_remove_cb, NULL));
  CHECK_EQ(kill(getpid(), SIGUSR2), 0);
  CHECK_OK(run_until_count(loop, &self_remove_calls, 1));
  CHECK_EQ(self_remove_rc, 1);
  CHECK(current_handler(SIGUSR2) == SIG_IGN);
  CHECK_EQ(kill(getpid(), SIGUSR2), 0);
  CHECK_OK(run_for(loop, 0.02));
  CHECK_EQ(self_remove_calls, 1);
  close_loop(loop);
}

/* ------------------------------------------------------ argument errors */

/* item 130: SIGKILL, SIGSTOP and invalid numbers are EDDY_EINVAL */
TEST(add_signal_handler_rejects_sigkill_sigstop_and_invalid_numbers) {
  eddy_loop_t *loop = new_loop();
  int bad[] = {SIGKILL, SIGSTOP, 0, -1, 1000, SIGRTMAX + 1, 65536};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_ERR(eddy_loop_add_signal_handler(loop, bad[i], rec_cb, TAG('x')), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_signal_handler(loop, SIGUSR1, NULL, TAG('x')), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_signal_handler(NULL, SIGUSR1, rec_cb, TAG('x')), EDDY_EINVAL);
  /* nothing was installed */
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 0);
  /* real-time signals are valid (SIGRTMAX - 1: valgrind keeps SIGRTMAX
     for itself) */
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGRTMIN, rec_cb, TAG('r')));
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGRTMAX - 1, rec_cb, TAG('R')));
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGRTMIN), 1);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGRTMAX - 1), 1);
  close_loop(loop);
}

/* item 132: remove_signal_handler of an invalid number is EDDY_EINVAL;
   NULL loop too */
TEST(remove_signal_handler_rejects_invalid_numbers) {
  eddy_loop_t *loop = new_loop();
  CHECK_ERR(eddy_loop_remove_signal_handler(loop, 0), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_remove_signal_handler(loop, -1), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_remove_signal_handler(loop, 1000), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_remove_signal_handler(NULL, SIGUSR1), EDDY_EINVAL);
  close_loop(loop);
}

/* item 132 (asyncio's _check_signal accepts every valid signal, so
   removing SIGKILL, which never has a handler, returns False: 0) */
TEST(remove_signal_handler_of_sigkill_returns_zero) {
  eddy_loop_t *loop = new_loop();
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGKILL), 0);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGSTOP), 0);
  close_loop(loop);
}

/* item 130 (check order): an invalid number is EDDY_EINVAL even on a
   closed loop; a closed loop is EDDY_ECLOSED for a valid signal */
TEST(add_signal_handler_on_a_closed_loop_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  CHECK_ERR(eddy_loop_add_signal_handler(loop, SIGUSR1, rec_cb, TAG('x')), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_add_signal_handler(loop, 0, rec_cb, TAG('x')), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_signal_handler(loop, 1000, rec_cb, TAG('x')), EDDY_EINVAL);
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  /* nothing to remove on a closed loop */
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 0);
  eddy_loop_release(loop);
}

/* item 130 (check order: the closed-loop check, 4, comes before the
   SIGKILL/SIGSTOP check, 6) */
TEST(sigkill_on_a_closed_loop_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  CHECK_ERR(eddy_loop_add_signal_handler(loop, SIGKILL, rec_cb, TAG('x')), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_add_signal_handler(loop, SIGSTOP, rec_cb, TAG('x')), EDDY_ECLOSED);
  eddy_loop_release(loop);
}

/* --------------------------------------------- removal and dispositions */

/* item 132: remove returns 1 then 0 and restores SIG_DFL */
TEST(remove_signal_handler_returns_1_then_0_and_restores_the_default) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 0);
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, rec_cb, TAG('x')));
  CHECK(current_handler(SIGUSR1) != SIG_DFL);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 1);
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 0);
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  CHECK_OK(run_for(loop, 0.005));
  CHECK_STR_EQ(ev, "");
  close_loop(loop);
}

/* item 132 (eddy: the previous disposition, not just SIG_DFL, comes
   back): SIG_IGN before stays SIG_IGN after; a signal after removal is
   ignored and gives no callback */
TEST(remove_signal_handler_restores_a_previous_sig_ign) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  set_handler(SIGUSR2, SIG_IGN, 0);
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR2, rec_cb, TAG('x')));
  CHECK(current_handler(SIGUSR2) != SIG_IGN);
  CHECK_EQ(kill(getpid(), SIGUSR2), 0);
  CHECK_OK(run_for(loop, 0.01));
  CHECK_STR_EQ(ev, "x");
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR2), 1);
  CHECK(current_handler(SIGUSR2) == SIG_IGN);
  CHECK_EQ(kill(getpid(), SIGUSR2), 0); /* ignored */
  CHECK_OK(run_for(loop, 0.01));
  CHECK_STR_EQ(ev, "x");
  close_loop(loop);
}

/* item 132 (eddy): a custom handler installed before comes back, and
   handles the signal again */
TEST(remove_signal_handler_restores_a_previous_custom_handler) {
  ev_reset();
  custom_hits = 0;
  eddy_loop_t *loop = new_loop();
  set_handler(SIGUSR1, custom_handler, SA_RESTART);
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, rec_cb, TAG('x')));
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  CHECK_OK(run_for(loop, 0.01));
  CHECK_EQ(custom_hits, 0); /* eddy's handler replaced it */
  CHECK_STR_EQ(ev, "x");
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 1);
  CHECK(current_handler(SIGUSR1) == custom_handler);
  CHECK_EQ(kill(getpid(), SIGUSR1), 0);
  CHECK_EQ(custom_hits, 1);
  CHECK_OK(run_for(loop, 0.01));
  CHECK_STR_EQ(ev, "x");
  close_loop(loop);
}

/* item 132 (eddy): replacing the callback keeps the disposition saved
   by the first add (the restored one is the original, not eddy's own) */
TEST(adding_twice_then_removing_restores_the_original_disposition) {
  eddy_loop_t *loop = new_loop();
  set_handler(SIGUSR2, SIG_IGN, 0);
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR2, rec_cb, TAG('a')));
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR2, rec_cb, TAG('b')));
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR2), 1);
  CHECK(current_handler(SIGUSR2) == SIG_IGN);
  close_loop(loop);
}

/* docs/api.md section 8; issue 3: a handler added on a loop that is then closed leaves
   the default disposition back (and a previous SIG_IGN back as SIG_IGN) */
TEST(closing_the_loop_restores_the_previous_dispositions) {
  eddy_loop_t *loop = new_loop();
  set_handler(SIGUSR2, SIG_IGN, 0);
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, rec_cb, TAG('x')));
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR2, rec_cb, TAG('y')));
  CHECK(current_handler(SIGUSR1) != SIG_DFL);
  CHECK(current_handler(SIGUSR2) != SIG_IGN);
  CHECK_OK(eddy_loop_close(loop));
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  CHECK(current_handler(SIGUSR2) == SIG_IGN);
  /* the handlers are gone with the loop */
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 0);
  eddy_loop_release(loop);
}

/* docs/api.md section 4 (release of the last reference closes): the same when the loop
   is only released */
TEST(releasing_the_loop_restores_the_default_disposition) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, rec_cb, TAG('x')));
  CHECK(current_handler(SIGUSR1) != SIG_DFL);
  eddy_loop_release(loop);
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
}

/* docs/api.md sections 4 and 12 (Loop): no fd of the loop (the self-pipe) is left open
   after close */
TEST(no_fd_is_left_open_after_close) {
  int base = count_fds();
  CHECK(base > 0);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, rec_cb, TAG('x')));
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR2, rec_cb, TAG('y')));
  CHECK(count_fds() > base);
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR2), 1);
  close_loop(loop);
  CHECK_EQ(count_fds(), base);
  /* a second loop, handler removed before close */
  loop = new_loop();
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR1, rec_cb, TAG('x')));
  CHECK_EQ(eddy_loop_remove_signal_handler(loop, SIGUSR1), 1);
  close_loop(loop);
  CHECK_EQ(count_fds(), base);
}

/* item 131: a signal delivered before close whose callback never ran is
   dropped with the loop (no callback after close, no crash) */
TEST(signal_pending_at_close_is_dropped) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  set_handler(SIGUSR2, SIG_IGN, 0);
  CHECK_OK(eddy_loop_add_signal_handler(loop, SIGUSR2, rec_cb, TAG('x')));
  CHECK_EQ(kill(getpid(), SIGUSR2), 0);
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(kill(getpid(), SIGUSR2), 0); /* ignored again */
  eddy_loop_t *other = new_loop();
  CHECK_OK(run_for(other, 0.01));
  CHECK_STR_EQ(ev, "");
  close_loop(other);
  eddy_loop_release(loop);
}

/* docs/api.md section 1 (Threads): in debug mode a call from a foreign thread while the
   loop runs is EDDY_EWRONGTHREAD */
struct foreign_sig {
  eddy_loop_t *loop;
  int add_rc, remove_rc;
};
static void *foreign_sig_thread(void *p) {
  struct foreign_sig *s = p;
  s->add_rc = eddy_loop_add_signal_handler(s->loop, SIGUSR1, rec_cb, TAG('f'));
  s->remove_rc = eddy_loop_remove_signal_handler(s->loop, SIGUSR1);
  return NULL;
}
static void spawn_foreign_sig_cb(void *ud) {
  pthread_t th;
  if (pthread_create(&th, NULL, foreign_sig_thread, ud) == 0) pthread_join(th, NULL);
}
TEST(debug_mode_signal_calls_from_a_foreign_thread_are_ewrongthread) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_set_debug(loop, true));
  struct foreign_sig s = {loop, 1, 1};
  CHECK_OK(eddy_loop_call_soon(loop, spawn_foreign_sig_cb, &s, NULL));
  CHECK_OK(run_once(loop));
  CHECK_ERR(s.add_rc, EDDY_EWRONGTHREAD);
  CHECK_ERR(s.remove_rc, EDDY_EWRONGTHREAD);
  CHECK(current_handler(SIGUSR1) == SIG_DFL);
  close_loop(loop);
}
