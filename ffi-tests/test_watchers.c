/* fd watchers: docs/semantics.md item 24, docs/api.md section 7 (add_reader/add_writer) and 12
   (level-triggered watchers, closed-loop rules).

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

static void timeout_cb(void *ud) {
  ev_add('T');
  eddy_loop_stop((eddy_loop_t *)ud);
}

/* A watcher's state: which loop and fd, what to record, how often it ran. */
struct w {
  eddy_loop_t *loop;
  int fd;
  char tag;
  int calls;
  int rm_rc; /* what remove_* returned inside the callback */
};

/* Counts and records, does not read: the fd stays readable. */
static void count_cb(void *ud) {
  struct w *w = ud;
  w->calls++;
  ev_add(w->tag);
}

/* Reads one byte and records it; stays registered. */
static void read_one_cb(void *ud) {
  struct w *w = ud;
  w->calls++;
  char c;
  ssize_t n = read(w->fd, &c, 1);
  if (n == 1) ev_add(c);
}

/* Reads one byte, records it, removes itself and stops the loop. */
static void read_remove_stop_cb(void *ud) {
  struct w *w = ud;
  w->calls++;
  char c;
  if (read(w->fd, &c, 1) == 1) ev_add(c);
  w->rm_rc = eddy_loop_remove_reader(w->loop, w->fd);
  eddy_loop_stop(w->loop);
}

/* Records, removes itself without reading. */
static void reader_remove_self_cb(void *ud) {
  struct w *w = ud;
  w->calls++;
  ev_add(w->tag);
  w->rm_rc = eddy_loop_remove_reader(w->loop, w->fd);
}

/* Records, removes itself (writer), stops. */
static void writer_remove_stop_cb(void *ud) {
  struct w *w = ud;
  w->calls++;
  ev_add(w->tag);
  w->rm_rc = eddy_loop_remove_writer(w->loop, w->fd);
  eddy_loop_stop(w->loop);
}

/* A call_soon chain that stops the loop after `left` iterations. */
struct ticker {
  eddy_loop_t *loop;
  int left;
};
static void tick_cb(void *ud) {
  struct ticker *t = ud;
  if (--t->left > 0)
    eddy_loop_call_soon(t->loop, tick_cb, t, NULL);
  else
    eddy_loop_stop(t->loop);
}

static int make_pipe(int p[2]) { return pipe2(p, O_CLOEXEC | O_NONBLOCK); }

static bool c_four_calls(void *a) { return ((struct w *)a)->calls >= 4; }

/* ------------------------------------------------------------ basic reader */

struct writer_job {
  int fd;
  const char *data;
};
static void write_data_cb(void *ud) {
  struct writer_job *j = ud;
  if (write(j->fd, j->data, strlen(j->data)) < 0) ev_add('E');
}

/* item 24 */
TEST(reader_is_called_when_the_pipe_becomes_readable) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, p[0], 'r', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], read_remove_stop_cb, &r));
  /* nothing to read: not called */
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_EQ(r.calls, 0);
  struct writer_job j = {p[1], "x"};
  CHECK_OK(eddy_loop_call_later(loop, 0.01, write_data_cb, &j, NULL));
  CHECK_OK(eddy_loop_call_later(loop, 1.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "x");
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.rm_rc, 1);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* item 24; docs/api.md section 12: watchers are level-triggered */
TEST(reader_that_does_not_read_is_called_again_every_iteration) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  CHECK_EQ(write(p[1], "x", 1), 1);
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, p[0], 'r', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], count_cb, &r));
  struct ticker t = {loop, 3};
  CHECK_OK(eddy_loop_call_soon(loop, tick_cb, &t, NULL));
  CHECK_OK(eddy_loop_call_later(loop, 1.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK(r.calls >= 3);
  CHECK(strchr(ev, 'T') == NULL);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 1);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* item 24; docs/api.md section 12: level-triggered, and not called once drained */
TEST(reader_reading_one_byte_per_call_gets_every_byte) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  CHECK_EQ(write(p[1], "abcd", 4), 4);
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, p[0], 'r', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], read_one_cb, &r));
  CHECK(run_until(loop, c_four_calls, &r, 5.0));
  CHECK_STR_EQ(ev, "abcd");
  /* three more iterations with the pipe empty */
  struct ticker t = {loop, 3};
  CHECK_OK(eddy_loop_call_soon(loop, tick_cb, &t, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(t.left, 0);
  CHECK_EQ(r.calls, 4); /* never called with the pipe empty */
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 1);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* item 24 */
TEST(reader_that_removes_itself_is_not_called_again) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  CHECK_EQ(write(p[1], "x", 1), 1);
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, p[0], 'r', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], reader_remove_self_cb, &r));
  struct ticker t = {loop, 4};
  CHECK_OK(eddy_loop_call_soon(loop, tick_cb, &t, NULL));
  CHECK_OK(eddy_loop_call_later(loop, 1.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "r");
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.rm_rc, 1);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* item 24 */
TEST(remove_reader_and_remove_writer_return_1_then_0) {
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, p[0], 'r', 0, 9}, wr = {loop, p[1], 'w', 0, 9};
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 0);
  CHECK_OK(eddy_loop_add_reader(loop, p[0], count_cb, &r));
  CHECK_OK(eddy_loop_add_writer(loop, p[1], count_cb, &wr));
  /* a reader is not a writer */
  CHECK_EQ(eddy_loop_remove_writer(loop, p[0]), 0);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[1]), 0);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 1);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 1);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 0);
  /* removed watchers never run */
  CHECK_EQ(write(p[1], "x", 1), 1);
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_EQ(r.calls, 0);
  CHECK_EQ(wr.calls, 0);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* item 24 */
TEST(add_reader_again_replaces_the_old_callback) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  CHECK_EQ(write(p[1], "x", 1), 1);
  eddy_loop_t *loop = new_loop();
  struct w a = {loop, p[0], 'a', 0, 9}, b = {loop, p[0], 'b', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], count_cb, &a));
  CHECK_OK(eddy_loop_add_reader(loop, p[0], count_cb, &b));
  struct ticker t = {loop, 3};
  CHECK_OK(eddy_loop_call_soon(loop, tick_cb, &t, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(a.calls, 0);
  CHECK(b.calls >= 1);
  /* one registration only */
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 1);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* item 24 */
TEST(add_writer_again_replaces_the_old_callback) {
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  eddy_loop_t *loop = new_loop();
  struct w a = {loop, p[1], 'a', 0, 9}, b = {loop, p[1], 'b', 0, 9};
  CHECK_OK(eddy_loop_add_writer(loop, p[1], count_cb, &a));
  CHECK_OK(eddy_loop_add_writer(loop, p[1], count_cb, &b));
  struct ticker t = {loop, 3};
  CHECK_OK(eddy_loop_call_soon(loop, tick_cb, &t, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(a.calls, 0);
  CHECK(b.calls >= 1);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 1);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 0);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

struct remover {
  eddy_loop_t *loop;
  int fd;
  struct w *replacement; /* NULL: remove; else add_reader with it */
  int rc;
};
static void remove_or_replace_cb(void *ud) {
  struct remover *r = ud;
  ev_add('A');
  if (r->replacement)
    r->rc = eddy_loop_add_reader(r->loop, r->fd, count_cb, r->replacement);
  else
    r->rc = eddy_loop_remove_reader(r->loop, r->fd);
}

/* item 24 (removing a reader cancels its handle already queued in this
   iteration; item 9) */
TEST(reader_removed_by_an_earlier_callback_of_the_same_iteration_does_not_run) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  CHECK_EQ(write(p[1], "x", 1), 1);
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, p[0], 'r', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], count_cb, &r));
  struct remover rm = {loop, p[0], NULL, 9};
  CHECK_OK(eddy_loop_call_soon(loop, remove_or_replace_cb, &rm, NULL));
  CHECK_OK(run_once(loop));
  CHECK_EQ(rm.rc, 1);
  CHECK_STR_EQ(ev, "A");
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "A");
  CHECK_EQ(r.calls, 0);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* item 24 (adding again cancels the old handle) */
TEST(reader_replaced_by_an_earlier_callback_of_the_same_iteration_does_not_run) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  CHECK_EQ(write(p[1], "x", 1), 1);
  eddy_loop_t *loop = new_loop();
  struct w old = {loop, p[0], 'o', 0, 9}, neu = {loop, p[0], 'n', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], count_cb, &old));
  struct remover rm = {loop, p[0], &neu, 9};
  CHECK_OK(eddy_loop_call_soon(loop, remove_or_replace_cb, &rm, NULL));
  CHECK_OK(run_once(loop));
  CHECK_OK(rm.rc);
  CHECK_STR_EQ(ev, "A");
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "An");
  CHECK_EQ(old.calls, 0);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 1);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* ------------------------------------------------------------------- writer */

/* item 24 */
TEST(writer_is_called_on_a_writable_pipe) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  eddy_loop_t *loop = new_loop();
  struct w wr = {loop, p[1], 'w', 0, 9};
  CHECK_OK(eddy_loop_add_writer(loop, p[1], writer_remove_stop_cb, &wr));
  CHECK_OK(eddy_loop_call_later(loop, 1.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "w");
  CHECK_EQ(wr.calls, 1);
  CHECK_EQ(wr.rm_rc, 1);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 0);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

struct drain {
  int fd;
};
static void drain_cb(void *ud) {
  struct drain *d = ud;
  char buf[4096];
  while (read(d->fd, buf, sizeof buf) > 0) {
  }
  ev_add('d');
}

/* item 24 */
TEST(writer_is_not_called_while_the_pipe_is_full) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  char buf[4096];
  memset(buf, 'z', sizeof buf);
  while (write(p[1], buf, sizeof buf) > 0) {
  }
  CHECK_EQ(errno, EAGAIN);
  eddy_loop_t *loop = new_loop();
  struct w wr = {loop, p[1], 'w', 0, 9};
  CHECK_OK(eddy_loop_add_writer(loop, p[1], writer_remove_stop_cb, &wr));
  struct drain d = {p[0]};
  CHECK_OK(eddy_loop_call_later(loop, 0.02, drain_cb, &d, NULL));
  CHECK_OK(eddy_loop_call_later(loop, 1.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "dw");
  CHECK_EQ(wr.calls, 1);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}

/* --------------------------------------------- reader before writer, one fd */

struct rw {
  eddy_loop_t *loop;
  int fd;
};
static void rw_marker_cb(void *ud) {
  struct rw *s = ud;
  ev_add('n');
  eddy_loop_stop(s->loop);
}
static void rw_reader_cb(void *ud) {
  struct rw *s = ud;
  ev_add('R');
  eddy_loop_remove_reader(s->loop, s->fd);
  /* runs in the next iteration: if W comes after it, W was not in R's iteration */
  eddy_loop_call_soon(s->loop, rw_marker_cb, s, NULL);
}
static void rw_writer_cb(void *ud) {
  struct rw *s = ud;
  ev_add('W');
  eddy_loop_remove_writer(s->loop, s->fd);
}

/* item 3 (phase 4) and 24: for a ready fd, the reader runs before the writer */
TEST(reader_runs_before_writer_for_the_same_fd_in_one_iteration) {
  ev_reset();
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  CHECK_EQ(write(sv[1], "x", 1), 1); /* sv[0]: readable and writable */
  eddy_loop_t *loop = new_loop();
  struct rw s = {loop, sv[0]};
  /* registered writer first, so the order is not registration order */
  CHECK_OK(eddy_loop_add_writer(loop, sv[0], rw_writer_cb, &s));
  CHECK_OK(eddy_loop_add_reader(loop, sv[0], rw_reader_cb, &s));
  CHECK_OK(eddy_loop_call_later(loop, 1.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "RWn");
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* item 24 (one reader and one writer per fd, independent) */
TEST(removing_the_reader_keeps_the_writer_of_the_same_fd) {
  ev_reset();
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  CHECK_EQ(write(sv[1], "x", 1), 1);
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, sv[0], 'r', 0, 9}, wr = {loop, sv[0], 'w', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, sv[0], count_cb, &r));
  CHECK_OK(eddy_loop_add_writer(loop, sv[0], writer_remove_stop_cb, &wr));
  CHECK_EQ(eddy_loop_remove_reader(loop, sv[0]), 1);
  CHECK_OK(eddy_loop_call_later(loop, 1.0, timeout_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "w");
  CHECK_EQ(r.calls, 0);
  CHECK_EQ(wr.rm_rc, 1);
  /* and the other way round */
  ev_reset();
  struct w r2 = {loop, sv[0], 'r', 0, 9}, wr2 = {loop, sv[0], 'w', 0, 9};
  CHECK_OK(eddy_loop_add_writer(loop, sv[0], count_cb, &wr2));
  CHECK_OK(eddy_loop_add_reader(loop, sv[0], read_remove_stop_cb, &r2));
  CHECK_EQ(eddy_loop_remove_writer(loop, sv[0]), 1);
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_STR_EQ(ev, "x");
  CHECK_EQ(wr2.calls, 0);
  CHECK_EQ(r2.rm_rc, 1);
  close_loop(loop);
  close(sv[0]);
  close(sv[1]);
}

/* ------------------------------------------------------------- bad fds */

/* item 24 (ValueError -> EDDY_EINVAL) */
TEST(add_reader_and_add_writer_with_negative_fd_are_einval) {
  eddy_loop_t *loop = new_loop();
  CHECK_ERR(eddy_loop_add_reader(loop, -1, rec_cb, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_writer(loop, -1, rec_cb, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_reader(loop, -42, rec_cb, NULL), EDDY_EINVAL);
  close_loop(loop);
}

/* item 24 (OSError(EBADF) -> -EBADF) */
TEST(add_reader_with_a_closed_fd_is_ebadf_and_registers_nothing) {
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  int closed_r = p[0], closed_w = p[1];
  close(p[0]);
  close(p[1]);
  CHECK(!fd_is_open(12345));
  eddy_loop_t *loop = new_loop();
  int rc = eddy_loop_add_reader(loop, 12345, rec_cb, NULL);
  CHECK(rc < 0);
  CHECK_ERR(rc, EDDY_EBADF);
  CHECK_ERR(eddy_loop_add_writer(loop, 12345, rec_cb, NULL), EDDY_EBADF);
  /* the loop's own fds may have taken the closed numbers: use ones that are
     still closed */
  if (!fd_is_open(closed_r)) CHECK_ERR(eddy_loop_add_reader(loop, closed_r, rec_cb, NULL), EDDY_EBADF);
  if (!fd_is_open(closed_w)) CHECK_ERR(eddy_loop_add_writer(loop, closed_w, rec_cb, NULL), EDDY_EBADF);
  CHECK_EQ(eddy_loop_remove_reader(loop, 12345), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, 12345), 0);
  CHECK_OK(run_once(loop));
  close_loop(loop);
}

/* item 24 (epoll refuses regular files: OSError(EPERM) -> -EPERM) */
TEST(add_reader_on_a_regular_file_is_eperm) {
  char path[] = "/tmp/eddy-watchers-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  eddy_loop_t *loop = new_loop();
  CHECK_ERR(eddy_loop_add_reader(loop, fd, rec_cb, NULL), EDDY_EPERM);
  CHECK_ERR(eddy_loop_add_writer(loop, fd, rec_cb, NULL), EDDY_EPERM);
  CHECK_EQ(eddy_loop_remove_reader(loop, fd), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, fd), 0);
  CHECK_OK(run_once(loop));
  close_loop(loop);
  CHECK(fd_is_open(fd)); /* the user's fd is left alone */
  close(fd);
}

/* item 24 (selectors ignore the OSError of unregistering a closed fd) */
TEST(fd_closed_by_the_user_while_registered_can_still_be_removed) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, p[0], 'r', 0, 9}, wr = {loop, p[1], 'w', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], count_cb, &r));
  CHECK_OK(eddy_loop_add_writer(loop, p[1], count_cb, &wr));
  int rfd = p[0], wfd = p[1];
  close(p[0]);
  close(p[1]);
  CHECK_OK(eddy_loop_call_later(loop, 0.01, stop_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_EQ(r.calls, 0);
  CHECK_EQ(wr.calls, 0);
  CHECK_EQ(eddy_loop_remove_reader(loop, rfd), 1);
  CHECK_EQ(eddy_loop_remove_writer(loop, wfd), 1);
  CHECK_EQ(eddy_loop_remove_reader(loop, rfd), 0);
  /* the loop still works */
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), NULL));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "a");
  close_loop(loop);
}

/* ----------------------------------------------------------- closed loop */

/* items 19 and 24 */
TEST(watchers_on_a_closed_loop) {
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  CHECK_ERR(eddy_loop_add_reader(loop, p[0], rec_cb, NULL), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_add_writer(loop, p[1], rec_cb, NULL), EDDY_ECLOSED);
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 0);
  eddy_loop_release(loop);
  close(p[0]);
  close(p[1]);
}

/* items 18 and 24: close drops watchers, never calls them, and leaves
   the user's fds open */
TEST(close_with_registered_watchers_leaves_the_user_fds_open) {
  ev_reset();
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  CHECK_EQ(write(p[1], "x", 1), 1);
  int base = count_fds();
  eddy_loop_t *loop = new_loop();
  struct w r = {loop, p[0], 'r', 0, 9}, wr = {loop, p[1], 'w', 0, 9};
  CHECK_OK(eddy_loop_add_reader(loop, p[0], count_cb, &r));
  CHECK_OK(eddy_loop_add_writer(loop, p[1], count_cb, &wr));
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 0);
  eddy_loop_release(loop);
  CHECK_EQ(r.calls, 0);
  CHECK_EQ(wr.calls, 0);
  CHECK(fd_is_open(p[0]));
  CHECK(fd_is_open(p[1]));
  CHECK_EQ(count_fds(), base);
  char c = 0;
  CHECK_EQ(read(p[0], &c, 1), 1);
  CHECK_EQ(c, 'x');
  close(p[0]);
  close(p[1]);
}

/* ---------------------------------------------------------- NULL arguments */

/* docs/api.md section 1: NULL callback or loop is EDDY_EINVAL */
TEST(watcher_functions_reject_null_arguments) {
  int p[2];
  CHECK_EQ(make_pipe(p), 0);
  eddy_loop_t *loop = new_loop();
  CHECK_ERR(eddy_loop_add_reader(loop, p[0], NULL, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_writer(loop, p[1], NULL, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_reader(NULL, p[0], rec_cb, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_add_writer(NULL, p[1], rec_cb, NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_remove_reader(NULL, p[0]), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_remove_writer(NULL, p[1]), EDDY_EINVAL);
  /* nothing got registered */
  CHECK_EQ(eddy_loop_remove_reader(loop, p[0]), 0);
  CHECK_EQ(eddy_loop_remove_writer(loop, p[1]), 0);
  close_loop(loop);
  close(p[0]);
  close(p[1]);
}
