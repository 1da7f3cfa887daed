/* Current-loop functions and policies: docs/semantics.md items 51-55; plus version
 * and error-code basics (docs/api.md sections 1 and 4).
 *
 * In these tests "item N" is docs/semantics.md item N.
 */
#include <eddy.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

/* What a callback saw while its loop ran. */
struct inside {
  eddy_loop_t *running;
  int get_rc;
  eddy_loop_t *got;
  int ran;
  int child_status; /* exit status of a forked child, -1 when not forked */
};

static void look_inside_cb(void *ud) {
  struct inside *in = ud;
  in->ran++;
  in->running = eddy_get_running_loop();
  in->got = NULL;
  in->get_rc = eddy_get_event_loop(&in->got);
  eddy_loop_stop(in->running);
}

/* ---- 51: get_running_loop ---------------------------------------------- */

/* item 51 */
TEST(get_running_loop_is_null_outside_and_the_loop_inside_a_callback) {
  CHECK(eddy_get_running_loop() == NULL);
  eddy_loop_t *loop = new_loop();
  CHECK(eddy_get_running_loop() == NULL); /* created, not running */
  struct inside in;
  memset(&in, 0, sizeof in);
  CHECK_OK(eddy_loop_call_soon(loop, look_inside_cb, &in, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(in.ran, 1);
  CHECK(in.running == loop);
  CHECK(eddy_get_running_loop() == NULL); /* again NULL once it returned */
  close_loop(loop);
}

static void fork_inside_cb(void *ud) {
  struct inside *in = ud;
  in->running = eddy_get_running_loop();
  pid_t pid = fork();
  if (pid == 0) {
    /* The child has no running loop, and no current loop either. */
    int bad = 0;
    if (eddy_get_running_loop() != NULL) bad |= 1;
    _exit(bad);
  }
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
    in->child_status = WEXITSTATUS(status);
  else
    in->child_status = 100;
  eddy_loop_stop(in->running);
}

/* item 51 */
TEST(get_running_loop_is_null_in_a_child_forked_from_a_callback) {
  eddy_loop_t *loop = new_loop();
  struct inside in;
  memset(&in, 0, sizeof in);
  in.child_status = -1;
  CHECK_OK(eddy_loop_call_soon(loop, fork_inside_cb, &in, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK(in.running == loop);
  CHECK_EQ(in.child_status, 0);
  close_loop(loop);
}

/* ---- 52, 53: get_event_loop ---------------------------------------------- */

/* item 53 */
TEST(get_event_loop_is_enoent_when_none_set_and_none_running) {
  eddy_loop_t *sentinel = (eddy_loop_t *)&sentinel;
  eddy_loop_t *got = sentinel;
  int before = count_fds();
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT);
  CHECK(got == sentinel); /* output untouched */
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT); /* still none: none was created */
  CHECK_EQ(count_fds(), before);
  CHECK(eddy_get_running_loop() == NULL);
  CHECK_ERR(eddy_get_event_loop(NULL), EDDY_EINVAL);
}

/* item 52 */
TEST(get_event_loop_returns_the_set_loop_and_set_null_clears) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_set_event_loop(loop));
  eddy_loop_t *got = NULL;
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK(got == loop);
  CHECK(eddy_get_running_loop() == NULL); /* set is not running */

  eddy_loop_t *other = new_loop();
  CHECK_OK(eddy_set_event_loop(other)); /* replaces */
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK(got == other);

  CHECK_OK(eddy_set_event_loop(NULL));
  got = NULL;
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT);
  CHECK(got == NULL);
  CHECK_EQ(eddy_loop_is_closed(loop), 0); /* we still hold our references */
  CHECK_EQ(eddy_loop_is_closed(other), 0);
  close_loop(loop);
  close_loop(other);
}

/* item 52 */
TEST(get_event_loop_inside_callback_returns_running_loop_not_the_set_one) {
  eddy_loop_t *set = new_loop(), *run = new_loop();
  CHECK(set != NULL && run != NULL);
  CHECK_OK(eddy_set_event_loop(set));
  struct inside in;
  memset(&in, 0, sizeof in);
  CHECK_OK(eddy_loop_call_soon(run, look_inside_cb, &in, NULL));
  CHECK_OK(eddy_loop_run_forever(run));
  CHECK_EQ(in.ran, 1);
  CHECK(in.running == run);
  CHECK_OK(in.get_rc);
  CHECK(in.got == run);
  eddy_loop_t *got = NULL;
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK(got == set); /* outside again: the set one */
  CHECK_OK(eddy_set_event_loop(NULL));
  close_loop(set);
  close_loop(run);
}

/* item 52 */
TEST(get_event_loop_inside_callback_returns_running_loop_when_none_set) {
  eddy_loop_t *run = new_loop();
  struct inside in;
  memset(&in, 0, sizeof in);
  CHECK_OK(eddy_loop_call_soon(run, look_inside_cb, &in, NULL));
  CHECK_OK(eddy_loop_run_forever(run));
  CHECK_OK(in.get_rc);
  CHECK(in.got == run);
  eddy_loop_t *got = NULL;
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT);
  close_loop(run);
}

/* ---- 54: set_event_loop keeps a reference; new_event_loop ---------------- */

static void count_and_stop_cb(void *ud) {
  int *ran = ud;
  ++*ran;
  eddy_loop_t *l = eddy_get_running_loop();
  if (l) eddy_loop_stop(l);
}

/* item 54 */
TEST(set_event_loop_keeps_a_reference_until_cleared) {
  int base = count_fds();
  CHECK(base > 0);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_set_event_loop(loop));
  eddy_loop_release(loop); /* our reference ends; the policy's remains */

  eddy_loop_t *got = NULL;
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK(got == loop);
  CHECK_EQ(eddy_loop_is_closed(got), 0);
  int ran = 0;
  CHECK_OK(eddy_loop_call_soon(got, count_and_stop_cb, &ran, NULL));
  CHECK_OK(eddy_loop_run_forever(got));
  CHECK_EQ(ran, 1);
  CHECK_EQ(eddy_loop_is_closed(got), 0);

  /* Clearing drops the last reference: the loop is closed and freed, and
   * none of its fds is left open. */
  CHECK_OK(eddy_set_event_loop(NULL));
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT);
  CHECK_EQ(count_fds(), base);
}

/* item 54 */
TEST(set_event_loop_replacing_the_last_reference_closes_the_old_loop) {
  int base = count_fds();
  eddy_loop_t *a = new_loop();
  CHECK_OK(eddy_set_event_loop(a));
  eddy_loop_release(a); /* the policy holds the only reference */
  int with_a = count_fds();
  eddy_loop_t *b = new_loop();
  int with_ab = count_fds();
  CHECK_OK(eddy_set_event_loop(b)); /* a's last reference goes: a closes */
  CHECK_EQ(count_fds(), base + (with_ab - with_a));
  eddy_loop_t *got = NULL;
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK(got == b);
  CHECK_OK(eddy_set_event_loop(NULL));
  CHECK_EQ(eddy_loop_is_closed(b), 0); /* we still hold b */
  close_loop(b);
  CHECK_EQ(count_fds(), base);
}

/* item 54 */
TEST(new_event_loop_returns_a_fresh_loop_each_call_and_does_not_make_it_current) {
  eddy_loop_t *a = NULL, *b = NULL;
  CHECK_OK(eddy_new_event_loop(&a));
  CHECK_OK(eddy_new_event_loop(&b));
  CHECK(a != NULL && b != NULL);
  CHECK(a != b);
  CHECK_EQ(eddy_loop_is_closed(a), 0);
  CHECK_EQ(eddy_loop_is_running(a), 0);
  eddy_loop_t *got = NULL;
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT);
  CHECK(eddy_get_running_loop() == NULL);
  CHECK_ERR(eddy_new_event_loop(NULL), EDDY_EINVAL);
  close_loop(a);
  close_loop(b);
}

/* ---- 55: policies ---------------------------------------------------------- */

struct counts {
  int get, set, made;
  eddy_loop_t *last_set;
  eddy_loop_t *last_made;
  eddy_policy_t def; /* the default policy, to delegate to */
};

static int my_get(void *ud, eddy_loop_t **out) {
  struct counts *c = ud;
  c->get++;
  return c->def.get_event_loop(c->def.ud, out);
}

static int my_set(void *ud, eddy_loop_t *loop) {
  struct counts *c = ud;
  c->set++;
  c->last_set = loop;
  return c->def.set_event_loop(c->def.ud, loop);
}

static int my_new(void *ud, eddy_loop_t **out) {
  struct counts *c = ud;
  c->made++;
  int rc = c->def.new_event_loop(c->def.ud, out);
  if (rc == 0) c->last_made = *out;
  return rc;
}

/* item 55 */
TEST(custom_policy_is_used_by_new_get_and_set_event_loop) {
  struct counts c;
  memset(&c, 0, sizeof c);
  CHECK_OK(eddy_get_event_loop_policy(&c.def));
  CHECK(c.def.get_event_loop != NULL);
  CHECK(c.def.set_event_loop != NULL);
  CHECK(c.def.new_event_loop != NULL);

  eddy_policy_t mine = {my_get, my_set, my_new, &c};
  CHECK_OK(eddy_set_event_loop_policy(&mine));
  eddy_policy_t p;
  memset(&p, 0, sizeof p);
  CHECK_OK(eddy_get_event_loop_policy(&p));
  CHECK(p.get_event_loop == my_get);
  CHECK(p.set_event_loop == my_set);
  CHECK(p.new_event_loop == my_new);
  CHECK(p.ud == &c);

  eddy_loop_t *loop = new_loop();
  CHECK_EQ(c.made, 1);
  CHECK(loop != NULL);
  CHECK(loop == c.last_made);

  eddy_loop_t *got = NULL;
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT);
  CHECK_EQ(c.get, 1);

  CHECK_OK(eddy_set_event_loop(loop));
  CHECK_EQ(c.set, 1);
  CHECK(c.last_set == loop);
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK_EQ(c.get, 2);
  CHECK(got == loop);

  /* Inside a running loop: the running loop. */
  struct inside in;
  memset(&in, 0, sizeof in);
  eddy_loop_t *run = new_loop();
  CHECK_EQ(c.made, 2);
  CHECK_OK(eddy_loop_call_soon(run, look_inside_cb, &in, NULL));
  CHECK_OK(eddy_loop_run_forever(run));
  CHECK_OK(in.get_rc);
  CHECK(in.got == run);

  CHECK_OK(eddy_set_event_loop(NULL));
  CHECK_EQ(c.set, 2);
  CHECK(c.last_set == NULL);
  CHECK_EQ(c.made, 2);
  close_loop(run);
  close_loop(loop);
  CHECK_OK(eddy_set_event_loop_policy(NULL));
}

/* item 55 */
TEST(set_event_loop_policy_null_restores_default) {
  struct counts c;
  memset(&c, 0, sizeof c);
  CHECK_OK(eddy_get_event_loop_policy(&c.def));
  eddy_policy_t mine = {my_get, my_set, my_new, &c};
  CHECK_OK(eddy_set_event_loop_policy(&mine));
  CHECK_OK(eddy_set_event_loop_policy(NULL));

  eddy_policy_t p;
  memset(&p, 0, sizeof p);
  CHECK_OK(eddy_get_event_loop_policy(&p));
  CHECK(p.get_event_loop != NULL && p.set_event_loop != NULL && p.new_event_loop != NULL);
  CHECK(p.get_event_loop != my_get);
  CHECK(p.set_event_loop != my_set);
  CHECK(p.new_event_loop != my_new);

  /* The module functions no longer reach the custom policy. */
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_set_event_loop(loop));
  eddy_loop_t *got = NULL;
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK(got == loop);
  CHECK_EQ(c.made + c.get + c.set, 0);

  /* The returned functions behave as the default: they see the same current
   * loop and make loops that are not current. */
  got = NULL;
  CHECK_OK(p.get_event_loop(p.ud, &got));
  CHECK(got == loop);
  CHECK_OK(p.set_event_loop(p.ud, NULL));
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT);
  CHECK_ERR(p.get_event_loop(p.ud, &got), EDDY_ENOENT);
  eddy_loop_t *made = NULL;
  CHECK_OK(p.new_event_loop(p.ud, &made));
  CHECK(made != NULL && made != loop);
  CHECK_ERR(eddy_get_event_loop(&got), EDDY_ENOENT);
  CHECK_OK(p.set_event_loop(p.ud, made));
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK(got == made);
  CHECK_OK(eddy_set_event_loop(NULL));
  CHECK_EQ(c.made + c.get + c.set, 0);

  close_loop(made);
  close_loop(loop);
}

/* item 55 */
TEST(policy_with_a_null_member_is_einval_and_changes_nothing) {
  struct counts c;
  memset(&c, 0, sizeof c);
  CHECK_OK(eddy_get_event_loop_policy(&c.def));
  eddy_policy_t bad1 = {NULL, my_set, my_new, &c};
  eddy_policy_t bad2 = {my_get, NULL, my_new, &c};
  eddy_policy_t bad3 = {my_get, my_set, NULL, &c};
  CHECK_ERR(eddy_set_event_loop_policy(&bad1), EDDY_EINVAL);
  CHECK_ERR(eddy_set_event_loop_policy(&bad2), EDDY_EINVAL);
  CHECK_ERR(eddy_set_event_loop_policy(&bad3), EDDY_EINVAL);
  eddy_policy_t p;
  memset(&p, 0, sizeof p);
  CHECK_OK(eddy_get_event_loop_policy(&p));
  CHECK(p.get_event_loop == c.def.get_event_loop);
  CHECK(p.set_event_loop == c.def.set_event_loop);
  CHECK(p.new_event_loop == c.def.new_event_loop);
  CHECK(p.ud == c.def.ud);
  eddy_loop_t *loop = new_loop();
  CHECK_EQ(c.made, 0);
  CHECK_ERR(eddy_get_event_loop_policy(NULL), EDDY_EINVAL);
  close_loop(loop);
}

/* ---- the current loop is per thread --------------------------------------- */

struct thread_result {
  int rc_before;
  eddy_loop_t *got_before;
  eddy_loop_t *running;
  int rc_own_set, rc_own_get;
  eddy_loop_t *own, *got_own;
  int rc_after_clear;
};

static void *thread_main(void *arg) {
  struct thread_result *r = arg;
  r->got_before = (eddy_loop_t *)r; /* sentinel */
  r->rc_before = eddy_get_event_loop(&r->got_before);
  r->running = eddy_get_running_loop();
  if (eddy_new_event_loop(&r->own) == 0) {
    r->rc_own_set = eddy_set_event_loop(r->own);
    r->rc_own_get = eddy_get_event_loop(&r->got_own);
    eddy_set_event_loop(NULL);
    eddy_loop_t *dummy = NULL;
    r->rc_after_clear = eddy_get_event_loop(&dummy);
    eddy_loop_close(r->own);
    eddy_loop_release(r->own);
  }
  return NULL;
}

/* item 53 */
TEST(event_loop_set_in_main_thread_is_not_seen_by_another_thread) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_set_event_loop(loop));
  struct thread_result r;
  memset(&r, 0, sizeof r);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, thread_main, &r), 0);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_ERR(r.rc_before, EDDY_ENOENT);
  CHECK(r.got_before == (eddy_loop_t *)&r);
  CHECK(r.running == NULL);
  CHECK(r.own != NULL);
  CHECK_OK(r.rc_own_set);
  CHECK_OK(r.rc_own_get);
  CHECK(r.got_own == r.own);
  CHECK_ERR(r.rc_after_clear, EDDY_ENOENT);
  /* The main thread's loop is untouched by the thread's set/clear. */
  eddy_loop_t *got = NULL;
  CHECK_OK(eddy_get_event_loop(&got));
  CHECK(got == loop);
  CHECK_OK(eddy_set_event_loop(NULL));
  close_loop(loop);
}

/* ---- version and error codes -------------------------------------------- */

TEST(version_matches_the_header_macros) {
  CHECK_EQ(eddy_version(), EDDY_VERSION_HEX);
  const char *s = eddy_version_string();
  CHECK(s != NULL);
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", (int)EDDY_VERSION_MAJOR, (int)EDDY_VERSION_MINOR,
           (int)EDDY_VERSION_PATCH);
  CHECK_STR_EQ(s, want);
}

TEST(strerror_and_err_name_never_return_null) {
  const int codes[] = {0,
                       EDDY_EINVAL,
                       EDDY_EAGAIN,
                       EDDY_ENOENT,
                       EDDY_ECANCELED,
                       EDDY_ECONNRESET,
                       EDDY_ECLOSED,
                       EDDY_ERUNNING,
                       EDDY_EINVALSTATE,
                       EDDY_EWRONGTHREAD,
                       EDDY_EPANIC,
                       EDDY_ETLS,
                       -EIO,
                       -EPIPE,
                       -ETIMEDOUT,
                       -EPERM,
                       12345,
                       -12345,
                       -4999,
                       INT_MIN,
                       INT_MAX};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const char *e = eddy_strerror(codes[i]);
    const char *n = eddy_err_name(codes[i]);
    if (e == NULL || n == NULL) fprintf(stderr, "NULL for code %d\n", codes[i]);
    CHECK(e != NULL);
    CHECK(n != NULL);
  }
  CHECK(eddy_strerror(EDDY_EINVAL)[0] != '\0');
  CHECK(eddy_strerror(EDDY_EINVALSTATE)[0] != '\0');
}

TEST(err_name_gives_the_macro_name) {
  CHECK_STR_EQ(eddy_err_name(EDDY_EINVAL), "EDDY_EINVAL");
  CHECK_STR_EQ(eddy_err_name(EDDY_EAGAIN), "EDDY_EAGAIN");
  CHECK_STR_EQ(eddy_err_name(EDDY_ENOENT), "EDDY_ENOENT");
  CHECK_STR_EQ(eddy_err_name(EDDY_ECONNRESET), "EDDY_ECONNRESET");
  CHECK_STR_EQ(eddy_err_name(EDDY_ECLOSED), "EDDY_ECLOSED");
  CHECK_STR_EQ(eddy_err_name(EDDY_EINVALSTATE), "EDDY_EINVALSTATE");
  CHECK_STR_EQ(eddy_err_name(EDDY_ERUNNING), "EDDY_ERUNNING");
  /* Different codes, different names. */
  CHECK(strcmp(eddy_err_name(EDDY_ECLOSED), eddy_err_name(EDDY_EINVAL)) != 0);
}

TEST(system_codes_are_negative_errno_and_library_codes_below_minus_4000) {
  CHECK_EQ(EDDY_EAGAIN, -EAGAIN);
  CHECK_EQ(EDDY_EINVAL, -EINVAL);
  CHECK_EQ(EDDY_ENOENT, -ENOENT);
  CHECK_EQ(EDDY_ECONNRESET, -ECONNRESET);
  CHECK(EDDY_ECLOSED < -4000);
  CHECK(EDDY_ERUNNING < -4000);
  CHECK(EDDY_EINVALSTATE < -4000);
  CHECK(EDDY_EWRONGTHREAD < -4000);
  CHECK(EDDY_EPANIC < -4000);
  CHECK(EDDY_ETLS < -4000);
  /* All distinct. */
  const int lib[] = {EDDY_ECLOSED, EDDY_ERUNNING, EDDY_EINVALSTATE, EDDY_EWRONGTHREAD, EDDY_EPANIC, EDDY_ETLS};
  for (size_t i = 0; i < 6; i++)
    for (size_t j = i + 1; j < 6; j++) CHECK(lib[i] != lib[j]);
}
