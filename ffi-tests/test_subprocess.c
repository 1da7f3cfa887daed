/* Subprocesses: docs/semantics.md items 124-129 (section O), eddy's decision on
   item 128 (kill/terminate/send_signal return -ESRCH as soon as the child
   has been reaped), the "next iteration" rule, and the stdin pipe's flow
   control (items 57, 80, 81 through the pipe transport); docs/api.md sections 2
   (eddy_subprocess_protocol_t), 8 (subprocess_exec/shell and their
   options), 9 (subprocess transports) and 12 ("Handed-over fds": stdio fds
   stay the caller's; "Closed and finished objects").
   Every protocol callback is reached through the table's function
   pointers and logged as one character:
     M connection_made  X process_exited  0/1/2 pipe_connection_lost(fd)
     L connection_lost  P pause_writing   R resume_writing
   (pipe_data_received is counted and its data collected, not logged).

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

/* How many fds below 1000 this process has open (the harness's range). */
static int count_open_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 1000; fd++)
    if (fd_is_open(fd)) n++;
  return n;
}

/* The process's children that exist at all (zombies included), from
   /proc: pid is our child iff field 4 (ppid) is our pid. Returns how many;
   *zombies gets how many of them are zombies. */
static int count_children(int *zombies) {
  int n = 0, z = 0;
  DIR *d = opendir("/proc");
  CHECK(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0) continue;
    buf[len] = '\0';
    char *rp = strrchr(buf, ')');
    if (!rp) continue;
    char state = 0;
    int ppid = 0;
    if (sscanf(rp + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid == getpid()) {
      n++;
      if (state == 'Z') z++;
    }
  }
  closedir(d);
  if (zombies) *zombies = z;
  return n;
}

/* The pid is not a child of ours any more (reaped): waitpid says ECHILD,
   and /proc has no zombie of ours under that pid. */
static void check_reaped(int pid) {
  int st = 0;
  errno = 0;
  CHECK_EQ(waitpid(pid, &st, WNOHANG), -1);
  CHECK_EQ(errno, ECHILD);
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) { /* the pid was reused: it must not be our zombie */
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len > 0) {
      buf[len] = '\0';
      char *rp = strrchr(buf, ')');
      char state = 0;
      int ppid = 0;
      if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2) CHECK(!(ppid == getpid() && state == 'Z'));
    }
  }
}

/* ------------------------------------------------------------ the recorder */

#define MAX_LOG 256

struct prec {
  eddy_loop_t *loop;
  eddy_future_t *fut; /* the spawn future */
  eddy_process_t *p;  /* as given to connection_made */
  char log[MAX_LOG];
  size_t nlog;
  int made, exited, lost, lost_err, paused, resumed;
  int pcl[3], pcl_err[3];
  int exited_at_pcl[3]; /* process_exited count when pipe fd was lost */
  int fut_done_at_made;
  int rc_err_at_made; /* get_returncode's code in connection_made */
  int rc_at_exited, rc_err_at_exited;
  int kill_at_exited, term_at_exited, signal_at_exited; /* -ESRCH expected */
  int data_events;
  int data_before_made, data_after_lost, data_after_pcl, data_bad_fd;
  uint8_t *out[3];
  size_t outlen[3], outcap[3];
  bool retain; /* retain the process in connection_made */
  int in_call; /* set by the test around an API call */
  int sync_cbs; /* callbacks (other than pause/resume) seen inside a call */
};

static void rec_init(struct prec *r, eddy_loop_t *loop) {
  memset(r, 0, sizeof *r);
  r->loop = loop;
  r->fut_done_at_made = -1;
  r->rc_err_at_made = 1;
  r->rc_err_at_exited = 1;
  r->kill_at_exited = r->term_at_exited = r->signal_at_exited = 1;
}

static void rec_free(struct prec *r) {
  for (int i = 0; i < 3; i++) {
    free(r->out[i]);
    r->out[i] = NULL;
  }
}

static void rec_log(struct prec *r, char c) { log_append_char(r->log, sizeof r->log, &r->nlog, c); }

/* The output collected from fd 1 or 2 as a string (NUL-terminated copy). */
static const char *out_str(struct prec *r, int fd) {
  if (r->outcap[fd] < r->outlen[fd] + 1) {
    r->outcap[fd] = r->outlen[fd] + 1;
    r->out[fd] = realloc(r->out[fd], r->outcap[fd]);
    CHECK(r->out[fd] != NULL);
  }
  r->out[fd][r->outlen[fd]] = '\0';
  return (const char *)r->out[fd];
}

static void on_made(eddy_process_t *p, void *ud) {
  struct prec *r = ud;
  rec_log(r, 'M');
  r->made++;
  r->p = p;
  if (r->fut) r->fut_done_at_made = eddy_future_done(r->fut);
  int rc = 0;
  r->rc_err_at_made = eddy_process_get_returncode(p, &rc);
  if (r->retain) eddy_process_retain(p);
  if (r->in_call) r->sync_cbs++;
  poke();
}

static void on_exited(eddy_process_t *p, void *ud) {
  struct prec *r = ud;
  rec_log(r, 'X');
  r->exited++;
  r->rc_err_at_exited = eddy_process_get_returncode(p, &r->rc_at_exited);
  /* eddy's decision on item 128: -ESRCH as soon as the child is reaped */
  r->kill_at_exited = eddy_process_kill(p);
  r->term_at_exited = eddy_process_terminate(p);
  r->signal_at_exited = eddy_process_send_signal(p, SIGUSR1);
  if (r->in_call) r->sync_cbs++;
  poke();
}

static void on_pipe_lost(eddy_process_t *p, int fd, int err, void *ud) {
  struct prec *r = ud;
  (void)p;
  if (fd < 0 || fd > 2) {
    rec_log(r, '?');
  } else {
    rec_log(r, (char)('0' + fd));
    r->pcl[fd]++;
    r->pcl_err[fd] = err;
    r->exited_at_pcl[fd] = r->exited;
  }
  if (r->in_call) r->sync_cbs++;
  poke();
}

static void on_lost(eddy_process_t *p, int err, void *ud) {
  struct prec *r = ud;
  (void)p;
  rec_log(r, 'L');
  r->lost++;
  r->lost_err = err;
  if (r->in_call) r->sync_cbs++;
  poke();
}

static void on_pause(eddy_process_t *p, void *ud) {
  struct prec *r = ud;
  (void)p;
  rec_log(r, 'P');
  r->paused++;
  poke();
}

static void on_resume(eddy_process_t *p, void *ud) {
  struct prec *r = ud;
  (void)p;
  rec_log(r, 'R');
  r->resumed++;
  poke();
}

static void on_data(eddy_process_t *p, int fd, const uint8_t *data, size_t len, void *ud) {
  struct prec *r = ud;
  (void)p;
  r->data_events++;
  if (!r->made) r->data_before_made++;
  if (r->lost) r->data_after_lost++;
  if (fd != 1 && fd != 2) {
    r->data_bad_fd++;
    return;
  }
  if (r->pcl[fd]) r->data_after_pcl++;
  if (len == 0) r->data_bad_fd++; /* data is never empty */
  if (r->outlen[fd] + len + 1 > r->outcap[fd]) {
    size_t cap = r->outcap[fd] ? r->outcap[fd] : 4096;
    while (cap < r->outlen[fd] + len + 1) cap *= 2;
    uint8_t *n = realloc(r->out[fd], cap);
    if (!n) abort();
    r->out[fd] = n;
    r->outcap[fd] = cap;
  }
  memcpy(r->out[fd] + r->outlen[fd], data, len);
  r->outlen[fd] += len;
  if (r->in_call) r->sync_cbs++;
  poke();
}

static const eddy_subprocess_protocol_t proto = {
    .connection_made = on_made,
    .connection_lost = on_lost,
    .pause_writing = on_pause,
    .resume_writing = on_resume,
    .pipe_data_received = on_data,
    .pipe_connection_lost = on_pipe_lost,
    .process_exited = on_exited,
};

/* Waits for the spawn future and returns the process (borrowed). Checks
   item 125: connection_made ran first, with the pointer the future
   gives, while the future was still pending. */
static eddy_process_t *finish_spawn(eddy_loop_t *loop, struct prec *r, eddy_future_t *f) {
  CHECK(f != NULL);
  r->fut = f;
  CHECK_EQ(r->made, 0); /* never inside the call */
  eddy_handle_t *watchdog = NULL;
  CHECK_OK(eddy_loop_call_later(loop, 10.0, stop_cb, loop, &watchdog));
  int rc = eddy_loop_run_until_complete(loop, f);
  eddy_handle_cancel(watchdog);
  eddy_handle_release(watchdog);
  if (rc == EDDY_EINVALSTATE && !eddy_future_done(f)) HARNESS_FAIL("the spawn future is still pending after 10 s");
  CHECK_OK(rc);
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  CHECK(p != NULL);
  CHECK_EQ(r->made, 1);
  CHECK(p == (void *)r->p);
  CHECK_EQ(r->fut_done_at_made, 0);
  CHECK_EQ(r->log[0], 'M');
  r->fut = NULL;
  eddy_future_release(f);
  return (eddy_process_t *)p;
}

static eddy_process_t *spawn(eddy_loop_t *loop, struct prec *r, const char *const *argv,
                             const eddy_subprocess_options_t *o) {
  eddy_future_t *f = NULL;
  r->in_call = 1;
  int rc = eddy_loop_subprocess_exec(loop, &proto, r, argv, o, &f);
  r->in_call = 0;
  CHECK_OK(rc);
  return finish_spawn(loop, r, f);
}

static eddy_process_t *spawn_shell(eddy_loop_t *loop, struct prec *r, const char *cmd,
                                   const eddy_subprocess_options_t *o) {
  eddy_future_t *f = NULL;
  r->in_call = 1;
  int rc = eddy_loop_subprocess_shell(loop, &proto, r, cmd, o, &f);
  r->in_call = 0;
  CHECK_OK(rc);
  return finish_spawn(loop, r, f);
}

static void wait_lost(eddy_loop_t *loop, struct prec *r) { WAIT_UNTIL(loop, r->lost >= 1, 15.0); }

static int count_char(const char *s, char c) {
  int n = 0;
  for (; *s; s++)
    if (*s == c) n++;
  return n;
}

/* items 125, 126: the full order once connection_lost has run.
   `piped` lists the fds that were pipes ("012", "02", ...): each gets
   exactly one pipe_connection_lost (err 0), the others none; connection_made
   first; process_exited once; connection_lost once, last; data only between
   connection_made and connection_lost and never after its pipe was lost.
   The order between process_exited and pipe_connection_lost is not fixed
   (item 126) and not checked. */
static void check_order(struct prec *r, const char *piped) {
  CHECK_EQ(r->log[0], 'M');
  CHECK_EQ(count_char(r->log, 'M'), 1);
  CHECK_EQ(count_char(r->log, 'X'), 1);
  CHECK_EQ(r->exited, 1);
  CHECK_EQ(count_char(r->log, 'L'), 1);
  CHECK_EQ(r->log[r->nlog - 1], 'L');
  CHECK_EQ(r->lost_err, 0);
  CHECK_EQ(count_char(r->log, '?'), 0);
  for (int fd = 0; fd < 3; fd++) {
    int want = strchr(piped, '0' + fd) ? 1 : 0;
    if (r->pcl[fd] != want)
      HARNESS_FAIL("pipe_connection_lost(%d) ran %d times, want %d (log \"%s\")", fd, r->pcl[fd], want, r->log);
    CHECK_EQ(r->pcl_err[fd], 0);
  }
  CHECK_EQ(r->data_before_made, 0);
  CHECK_EQ(r->data_after_lost, 0);
  CHECK_EQ(r->data_after_pcl, 0);
  CHECK_EQ(r->data_bad_fd, 0);
  CHECK_EQ(r->sync_cbs, 0);
}

/* Reads an fd to EOF (with a deadline); returns the bytes read, -1 on
   timeout before EOF. */
static ssize_t read_to_eof(int fd, char *buf, size_t cap) {
  size_t n = 0;
  double deadline = harness_monotonic() + 5.0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (harness_monotonic() > deadline) return -1;
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t k = read(fd, buf + n, cap - 1 - n);
    if (k == 0) break;
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    n += (size_t)k;
    if (n + 1 >= cap) break;
  }
  buf[n] = '\0';
  return (ssize_t)n;
}

/* ------------------------------------------------------------ data through pipes */

/* items 125, 126, 123: `cat` echoes 1 MiB written to its stdin pipe
   (write, then write_eof) back through stdout, byte for byte, with the full
   callback order */
TEST(cat_echoes_one_mebibyte_from_stdin_to_stdout) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"cat", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  eddy_transport_t *in = eddy_process_get_pipe_transport(p, 0);
  CHECK(in != NULL);
  CHECK(eddy_process_get_pipe_transport(p, 1) != NULL);
  CHECK(eddy_process_get_pipe_transport(p, 2) != NULL);
  size_t n = 1 << 20;
  uint8_t *data = malloc(n);
  CHECK(data != NULL);
  for (size_t i = 0; i < n; i++) data[i] = pattern(i);
  CHECK_OK(eddy_transport_write(in, data, n));
  CHECK_EQ(eddy_transport_can_write_eof(in), 1);
  CHECK_OK(eddy_transport_write_eof(in));
  wait_lost(loop, &r);
  CHECK_EQ(r.outlen[1], n);
  CHECK(memcmp(r.out[1], data, n) == 0);
  CHECK_EQ(r.outlen[2], 0);
  CHECK_OK(r.rc_err_at_exited);
  CHECK_EQ(r.rc_at_exited, 0);
  check_order(&r, "012");
  free(data);
  rec_free(&r);
  close_loop(loop);
}

/* items 123, 126: closing the stdin pipe transport (instead of
   write_eof) also flushes it first and gives the child EOF */
TEST(cat_gets_eof_when_stdin_transport_is_closed) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"cat", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  eddy_transport_t *in = eddy_process_get_pipe_transport(p, 0);
  CHECK(in != NULL);
  size_t n = 200000;
  uint8_t *data = malloc(n);
  CHECK(data != NULL);
  for (size_t i = 0; i < n; i++) data[i] = pattern(i * 3);
  CHECK_OK(eddy_transport_write(in, data, n));
  CHECK_OK(eddy_transport_close(in));
  CHECK_EQ(eddy_transport_is_closing(in), 1);
  wait_lost(loop, &r);
  CHECK_EQ(r.outlen[1], n);
  CHECK(memcmp(r.out[1], data, n) == 0);
  CHECK_EQ(r.rc_at_exited, 0);
  check_order(&r, "012");
  free(data);
  rec_free(&r);
  close_loop(loop);
}

/* items 57, 80, 81 via the stdin pipe: a 1 MiB write to `cat` goes
   above the pipe's 64 KiB high mark: the subprocess protocol's
   pause_writing runs once, inside the write; resume_writing once, when the
   child has drained it */
TEST(stdin_pipe_flow_control_reaches_the_subprocess_protocol) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"cat", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  eddy_transport_t *in = eddy_process_get_pipe_transport(p, 0);
  CHECK(in != NULL);
  size_t n = 1 << 20;
  uint8_t *data = malloc(n);
  CHECK(data != NULL);
  for (size_t i = 0; i < n; i++) data[i] = pattern(i);
  CHECK_OK(eddy_transport_write(in, data, n));
  CHECK(eddy_transport_get_write_buffer_size(in) > 65536);
  CHECK_EQ(r.paused, 1); /* synchronously, inside write */
  CHECK_EQ(r.resumed, 0);
  WAIT_UNTIL(loop, r.outlen[1] == n, 15.0);
  CHECK_EQ(eddy_transport_get_write_buffer_size(in), 0);
  CHECK_EQ(r.paused, 1);
  CHECK_EQ(r.resumed, 1);
  CHECK_STR_EQ(r.log, "MPR");
  CHECK(memcmp(r.out[1], data, n) == 0);
  CHECK_OK(eddy_transport_write_eof(in));
  wait_lost(loop, &r);
  check_order(&r, "012");
  free(data);
  rec_free(&r);
  close_loop(loop);
}

/* item 125 (Popen makes the pipes; only the parent's ends become
   non-blocking, in the pipe transports): the child's fds 0, 1 and 2 are
   blocking, as every program expects (`cat` with a non-blocking stdin
   fails with EAGAIN). Read from the child's own /proc/self/fdinfo. */
TEST(child_stdio_pipes_are_blocking) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"sh", "-c",
                        "grep '^flags' /proc/$$/fdinfo/0 /proc/$$/fdinfo/1 /proc/$$/fdinfo/2", NULL};
  spawn(loop, &r, argv, NULL);
  wait_lost(loop, &r);
  const char *out = out_str(&r, 1);
  for (int fd = 0; fd < 3; fd++) {
    char key[32];
    snprintf(key, sizeof key, "fdinfo/%d:flags:", fd);
    const char *at = strstr(out, key);
    if (!at) HARNESS_FAIL("no flags line for fd %d in \"%s\"", fd, out);
    unsigned long flags = strtoul(at + strlen(key), NULL, 8);
    if (flags & O_NONBLOCK) HARNESS_FAIL("the child's fd %d is O_NONBLOCK (flags 0%lo)", fd, flags);
  }
  check_order(&r, "012");
  rec_free(&r);
  close_loop(loop);
}

/* item 126: output arrives as pipe_data_received with fd 1 (stdout)
   and fd 2 (stderr); the whole order is as item 126 says */
TEST(callback_order_made_first_pipes_once_exited_once_lost_last) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"sh", "-c", "echo out; echo err >&2", NULL};
  spawn(loop, &r, argv, NULL);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "out\n");
  CHECK_STR_EQ(out_str(&r, 2), "err\n");
  check_order(&r, "012");
  /* nothing after connection_lost */
  for (int i = 0; i < 5; i++) run_once(loop);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.exited, 1);
  CHECK_EQ(r.data_after_lost, 0);
  rec_free(&r);
  close_loop(loop);
}

static int made_when_done = -1;
static void spawn_done(eddy_future_t *f, void *ud) {
  (void)f;
  made_when_done = ((struct prec *)ud)->made;
}

/* item 125: the spawn future completes only after connection_made ran
   (connection_made sees it pending; its done callback sees made == 1), and
   a child that writes at once still has its data delivered after
   connection_made */
TEST(spawn_future_completes_only_after_connection_made) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"echo", "early", NULL};
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_subprocess_exec(loop, &proto, &r, argv, NULL, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_OK(eddy_future_add_done_callback(f, spawn_done, &r));
  r.fut = f;
  harness_sleep(0.05); /* the child has written and exited by now */
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  run_once(loop); /* done callbacks are scheduled, not called */
  CHECK_EQ(made_when_done, 1);
  CHECK_EQ(r.fut_done_at_made, 0);
  eddy_future_release(f);
  r.fut = NULL;
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "early\n");
  check_order(&r, "012");
  rec_free(&r);
  close_loop(loop);
}

/* ------------------------------------------------------------ exit status */

/* item 127: `sh -c 'exit 3'`: get_returncode is EDDY_EINVALSTATE
   while running (in connection_made), 3 in process_exited and after */
TEST(exit_status_3_is_the_returncode) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  r.retain = true;
  const char *argv[] = {"sh", "-c", "exit 3", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  CHECK_ERR(r.rc_err_at_made, EDDY_EINVALSTATE);
  wait_lost(loop, &r);
  CHECK_OK(r.rc_err_at_exited);
  CHECK_EQ(r.rc_at_exited, 3);
  int rc = -1;
  CHECK_OK(eddy_process_get_returncode(p, &rc));
  CHECK_EQ(rc, 3);
  check_order(&r, "012");
  eddy_process_release(p);
  rec_free(&r);
  close_loop(loop);
}

/* items 127, 126: `sleep 10` killed: returncode -9, process_exited
   then (after the pipes) connection_lost; well before 10 s */
TEST(killed_sleep_gives_minus_9_and_connection_lost_follows) {
  eddy_loop_t *loop = new_loop();
  double t0 = harness_monotonic();
  struct prec r;
  rec_init(&r, loop);
  r.retain = true;
  const char *argv[] = {"sleep", "10", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  int rc = 0;
  CHECK_ERR(eddy_process_get_returncode(p, &rc), EDDY_EINVALSTATE);
  CHECK_EQ(eddy_process_is_closing(p), 0);
  r.in_call = 1;
  CHECK_OK(eddy_process_kill(p));
  r.in_call = 0;
  wait_lost(loop, &r);
  CHECK(harness_monotonic() - t0 < 5.0);
  CHECK_EQ(r.rc_at_exited, -9);
  CHECK_OK(eddy_process_get_returncode(p, &rc));
  CHECK_EQ(rc, -9);
  check_order(&r, "012");
  eddy_process_release(p);
  rec_free(&r);
  close_loop(loop);
}

/* items 127, 128: terminate sends SIGTERM (-15); send_signal sends the
   given signal (SIGUSR1 ends `sleep`: -SIGUSR1); send_signal(0) to a running
   child is 0 */
TEST(terminate_gives_minus_15_and_send_signal_delivers_its_signal) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"sleep", "10", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  CHECK_OK(eddy_process_send_signal(p, 0));
  CHECK_OK(eddy_process_terminate(p));
  wait_lost(loop, &r);
  CHECK_EQ(r.rc_at_exited, -15);
  check_order(&r, "012");
  rec_free(&r);

  rec_init(&r, loop);
  p = spawn(loop, &r, argv, NULL);
  CHECK_OK(eddy_process_send_signal(p, SIGUSR1));
  wait_lost(loop, &r);
  CHECK_EQ(r.rc_at_exited, -SIGUSR1);
  check_order(&r, "012");
  rec_free(&r);
  close_loop(loop);
}

/* item 128 (eddy's decision: uvloop's rule): kill, terminate and
   send_signal return -ESRCH as soon as the child has been reaped (already
   inside process_exited), and after connection_lost; is_closing is 1 then */
TEST(signals_after_the_child_was_reaped_return_esrch) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  r.retain = true;
  const char *argv[] = {"sh", "-c", "exit 0", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  wait_lost(loop, &r);
  CHECK_ERR(r.kill_at_exited, -ESRCH);
  CHECK_ERR(r.term_at_exited, -ESRCH);
  CHECK_ERR(r.signal_at_exited, -ESRCH);
  CHECK_ERR(eddy_process_kill(p), -ESRCH);
  CHECK_ERR(eddy_process_terminate(p), -ESRCH);
  CHECK_ERR(eddy_process_send_signal(p, SIGTERM), -ESRCH);
  CHECK_ERR(eddy_process_send_signal(p, 0), -ESRCH);
  CHECK_EQ(eddy_process_is_closing(p), 1);
  CHECK_EQ(eddy_process_get_pid(p) > 0, 1);
  int rc = -1;
  CHECK_OK(eddy_process_get_returncode(p, &rc));
  CHECK_EQ(rc, 0);
  check_order(&r, "012");
  eddy_process_release(p);
  rec_free(&r);
  close_loop(loop);
}

/* item 129: close() of a running child closes the pipes and kills it:
   is_closing 1 at once, nothing called back inside close(), then
   process_exited with -9, every pipe_connection_lost and connection_lost
   last */
TEST(close_of_a_running_child_kills_it_and_callbacks_follow) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  r.retain = true;
  const char *argv[] = {"sleep", "10", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  r.in_call = 1;
  CHECK_OK(eddy_process_close(p));
  r.in_call = 0;
  CHECK_EQ(eddy_process_is_closing(p), 1);
  CHECK_STR_EQ(r.log, "M");
  wait_lost(loop, &r);
  CHECK_EQ(r.rc_at_exited, -9);
  CHECK_EQ(eddy_process_is_closing(p), 1);
  check_order(&r, "012");
  int rc = eddy_process_close(p); /* again, once finished: nothing happens */
  CHECK(rc == 0 || rc == EDDY_ECLOSED);
  run_once(loop);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.exited, 1);
  eddy_process_release(p);
  rec_free(&r);
  close_loop(loop);
}

/* item 129: close() after the child exited kills nothing (returncode
   stays the exit code) */
TEST(close_after_exit_keeps_the_exit_code) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  r.retain = true;
  const char *argv[] = {"sh", "-c", "exit 7", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  WAIT_UNTIL(loop, r.exited == 1, 10.0);
  CHECK_OK(eddy_process_close(p));
  wait_lost(loop, &r);
  int rc = 0;
  CHECK_OK(eddy_process_get_returncode(p, &rc));
  CHECK_EQ(rc, 7);
  check_order(&r, "012");
  eddy_process_release(p);
  rec_free(&r);
  close_loop(loop);
}

/* item 126, issue 5: 50 concurrent children, all reaped: each gets
   its own callbacks and exit code, and afterwards no child of ours is left
   in /proc (zombie or not) and waitpid says ECHILD for every pid */
TEST(fifty_concurrent_children_all_reaped_with_no_zombie_left) {
  eddy_loop_t *loop = new_loop();
  enum { N = 50 };
  struct prec *r = calloc(N, sizeof *r);
  eddy_future_t **f = calloc(N, sizeof *f);
  int *pid = calloc(N, sizeof *pid);
  eddy_process_t **procs = calloc(N, sizeof *procs);
  char cmd[N][32];
  CHECK(r && f && pid && procs);
  for (int i = 0; i < N; i++) {
    rec_init(&r[i], loop);
    r[i].retain = true; /* early ones may finish while later futures are awaited */
    snprintf(cmd[i], sizeof cmd[i], "sleep 0.05; exit %d", i % 7);
    const char *argv[] = {"sh", "-c", cmd[i], NULL};
    CHECK_OK(eddy_loop_subprocess_exec(loop, &proto, &r[i], argv, NULL, &f[i]));
    r[i].fut = f[i];
  }
  for (int i = 0; i < N; i++) {
    CHECK_OK(eddy_loop_run_until_complete(loop, f[i]));
    void *p = NULL;
    CHECK_OK(eddy_future_result(f[i], &p, NULL));
    CHECK(p == (void *)r[i].p);
    CHECK_EQ(r[i].fut_done_at_made, 0);
    procs[i] = p;
    pid[i] = eddy_process_get_pid(p);
    CHECK(pid[i] > 0);
    r[i].fut = NULL;
    eddy_future_release(f[i]);
  }
  for (int i = 0; i < N; i++)
    for (int j = 0; j < i; j++) CHECK(pid[i] != pid[j]);
  int done = 0;
  double deadline = harness_monotonic() + 60.0;
  while (done < N) {
    if (harness_monotonic() > deadline) HARNESS_FAIL("only %d of %d children finished", done, N);
    step(loop);
    done = 0;
    for (int i = 0; i < N; i++) done += r[i].lost;
  }
  for (int i = 0; i < N; i++) {
    check_order(&r[i], "012");
    CHECK_EQ(r[i].rc_at_exited, i % 7);
    check_reaped(pid[i]);
    rec_free(&r[i]);
    eddy_process_release(procs[i]);
  }
  int zombies = -1;
  CHECK_EQ(count_children(&zombies), 0);
  CHECK_EQ(zombies, 0);
  free(r);
  free(f);
  free(pid);
  free(procs);
  close_loop(loop);
}

/* Issue 5 / item 126: a child still running when the loop closes is killed
   and reaped (no zombie), without calling back */
TEST(loop_close_kills_and_reaps_a_running_child_without_calling_back) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"sleep", "10", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  int pid = eddy_process_get_pid(p);
  close_loop(loop);
  CHECK_EQ(r.exited, 0);
  CHECK_EQ(r.lost, 0);
  check_reaped(pid);
  int zombies = -1;
  CHECK_EQ(count_children(&zombies), 0);
  rec_free(&r);
}

/* ------------------------------------------------------------ options */

/* Parses `ls /proc/self/fd` output: fills present[fd] for fd < cap; returns
   the largest fd listed. */
static int parse_fd_list(const char *s, bool *present, int cap) {
  int maxfd = -1;
  while (*s) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s) {
      s++;
      continue;
    }
    if (v >= 0 && v < cap) present[v] = true;
    if (v > maxfd) maxfd = (int)v;
    s = end;
  }
  return maxfd;
}

/* Lists the child's fds (`ls /proc/self/fd`) spawned with options o. */
static void list_child_fds_with(eddy_loop_t *loop, const eddy_subprocess_options_t *o, bool *present,
                                int cap, int *maxfd) {
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"ls", "/proc/self/fd", NULL};
  spawn(loop, &r, argv, o);
  wait_lost(loop, &r);
  CHECK_EQ(r.rc_at_exited, 0);
  CHECK_STR_EQ(out_str(&r, 2), "");
  memset(present, 0, (size_t)cap * sizeof *present);
  *maxfd = parse_fd_list(out_str(&r, 1), present, cap);
  check_order(&r, "012");
  rec_free(&r);
}

/* Lists the child's fds with close_fds as given. */
static void list_child_fds(eddy_loop_t *loop, bool close_fds, bool *present, int cap, int *maxfd) {
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.close_fds = close_fds;
  list_child_fds_with(loop, &o, present, cap, maxfd);
}

/* item 124 (Popen's close_fds), issue 5: with close_fds true (the
   default) no fd of the parent reaches the child, not even one without
   O_CLOEXEC; with close_fds false that one does. fd 100 is used so that
   ls's own directory fd (the lowest free number, 3) cannot be mistaken for
   it. */
TEST(no_parent_fd_leaks_into_the_child_unless_close_fds_is_false) {
  eddy_loop_t *loop = new_loop();
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  CHECK(o.close_fds);
  CHECK_EQ(o.stdin_fd, EDDY_SUBPROCESS_PIPE);
  CHECK_EQ(o.stdout_fd, EDDY_SUBPROCESS_PIPE);
  CHECK_EQ(o.stderr_fd, EDDY_SUBPROCESS_PIPE);
  CHECK(o.cwd == NULL && o.env == NULL && !o.start_new_session);
  int nul = open("/dev/null", O_RDONLY); /* deliberately no O_CLOEXEC */
  CHECK(nul >= 0);
  CHECK_EQ(dup2(nul, 100), 100);
  close(nul);
  CHECK_EQ(fcntl(100, F_GETFD) & FD_CLOEXEC, 0);
  bool present[256];
  int maxfd = -1;
  list_child_fds(loop, true, present, 256, &maxfd);
  CHECK(present[0] && present[1] && present[2]);
  CHECK(!present[100]);
  CHECK(maxfd <= 3); /* 0, 1, 2 and ls's own directory fd */
  list_child_fds(loop, false, present, 256, &maxfd);
  CHECK(present[0] && present[1] && present[2]);
  CHECK(present[100]);
  close(100);
  close_loop(loop);
}

/* Opens /dev/null at exactly `fd`, close-on-exec or not. */
static void devnull_at(int fd, bool cloexec) {
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(nul >= 0);
  CHECK_EQ(dup3(nul, fd, cloexec ? O_CLOEXEC : 0), fd);
  close(nul);
}

/* Popen's pass_fds: a passed fd reaches the child at its own number even
   when it is O_CLOEXEC and close_fds is true, while a close-on-exec fd and
   an inheritable fd that are not passed do not; with close_fds false the
   passed fd still arrives and the inheritable one now does too. The
   parent's fd keeps FD_CLOEXEC and stays open. fds 100-102 keep clear of
   ls's own directory fd (3). */
TEST(pass_fds_reach_the_child_at_their_numbers_whatever_close_fds_says) {
  eddy_loop_t *loop = new_loop();
  devnull_at(100, false);
  devnull_at(101, true);
  devnull_at(102, true);
  int pass[] = {101};
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  CHECK(o.pass_fds == NULL);
  CHECK_EQ(o.npass_fds, 0);
  o.pass_fds = pass;
  o.npass_fds = 1;
  bool present[256];
  int maxfd = -1;
  list_child_fds_with(loop, &o, present, 256, &maxfd);
  CHECK(present[0] && present[1] && present[2]);
  CHECK(present[101]);
  CHECK(!present[100]);
  CHECK(!present[102]);
  CHECK(maxfd == 101);
  CHECK(fd_is_open(101));
  CHECK(fcntl(101, F_GETFD) & FD_CLOEXEC);
  o.close_fds = false;
  list_child_fds_with(loop, &o, present, 256, &maxfd);
  CHECK(present[101]);
  CHECK(present[100]);
  CHECK(!present[102]);
  CHECK(fcntl(101, F_GETFD) & FD_CLOEXEC);
  CHECK_EQ(fcntl(100, F_GETFD) & FD_CLOEXEC, 0);
  close(100);
  close(101);
  close(102);
  close_loop(loop);
}

/* docs/api.md section 8: stdout DEVNULL: no pipe for fd 1 (get_pipe_transport NULL), no
   fd-1 data, pipe_connection_lost only for 0 and 2 */
TEST(stdout_devnull_discards_output_and_has_no_pipe) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.stdout_fd = EDDY_SUBPROCESS_DEVNULL;
  const char *argv[] = {"sh", "-c", "echo hidden; echo shown >&2", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, &o);
  CHECK(eddy_process_get_pipe_transport(p, 0) != NULL);
  CHECK(eddy_process_get_pipe_transport(p, 1) == NULL);
  CHECK(eddy_process_get_pipe_transport(p, 2) != NULL);
  wait_lost(loop, &r);
  CHECK_EQ(r.outlen[1], 0);
  CHECK_STR_EQ(out_str(&r, 2), "shown\n");
  CHECK_EQ(r.rc_at_exited, 0);
  check_order(&r, "02");
  rec_free(&r);
  close_loop(loop);
}

/* docs/api.md section 8: stdin DEVNULL: the child reads EOF at once; no stdin pipe */
TEST(stdin_devnull_gives_the_child_eof) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.stdin_fd = EDDY_SUBPROCESS_DEVNULL;
  const char *argv[] = {"sh", "-c", "cat; echo done", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, &o);
  CHECK(eddy_process_get_pipe_transport(p, 0) == NULL);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "done\n");
  check_order(&r, "12");
  rec_free(&r);
  close_loop(loop);
}

/* docs/api.md section 8: stdout INHERIT: the child writes to the parent's own fd 1 (here a
   pipe of the test's, put on fd 1 while spawning) */
TEST(stdout_inherit_writes_to_the_parents_stdout) {
  eddy_loop_t *loop = new_loop();
  int pfd[2];
  CHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
  fflush(stdout);
  int saved = dup(1);
  CHECK(saved >= 0);
  CHECK_EQ(dup2(pfd[1], 1), 1);
  struct prec r;
  rec_init(&r, loop);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.stdout_fd = EDDY_SUBPROCESS_INHERIT;
  const char *argv[] = {"echo", "inherited", NULL};
  eddy_future_t *f = NULL;
  int rc = eddy_loop_subprocess_exec(loop, &proto, &r, argv, &o, &f);
  /* the child has its copy of fd 1 now: put ours back */
  CHECK_EQ(dup2(saved, 1), 1);
  close(saved);
  close(pfd[1]);
  CHECK_OK(rc);
  eddy_process_t *p = finish_spawn(loop, &r, f);
  CHECK(eddy_process_get_pipe_transport(p, 1) == NULL);
  wait_lost(loop, &r);
  char buf[64];
  CHECK_EQ(read_to_eof(pfd[0], buf, sizeof buf), 10);
  CHECK_STR_EQ(buf, "inherited\n");
  CHECK_EQ(r.outlen[1], 0);
  check_order(&r, "02");
  close(pfd[0]);
  rec_free(&r);
  close_loop(loop);
}

/* docs/api.md sections 8 and 12 ("Subprocess stdio fds stay the caller's"): stdout to an fd
   of the caller's (a pipe): the child's output lands there; the fd stays
   open and the caller's; eddy keeps no copy (EOF once the caller closes its
   write end and the child is gone) */
TEST(stdout_to_a_caller_fd_writes_into_it_and_the_fd_stays_the_callers) {
  eddy_loop_t *loop = new_loop();
  int pfd[2];
  CHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
  struct prec r;
  rec_init(&r, loop);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.stdout_fd = pfd[1];
  const char *argv[] = {"echo", "viafd", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, &o);
  CHECK(eddy_process_get_pipe_transport(p, 1) == NULL);
  CHECK(fd_is_open(pfd[1]));
  wait_lost(loop, &r);
  CHECK(fd_is_open(pfd[1]));
  close(pfd[1]);
  char buf[64];
  CHECK_EQ(read_to_eof(pfd[0], buf, sizeof buf), 6);
  CHECK_STR_EQ(buf, "viafd\n");
  CHECK_EQ(r.outlen[1], 0);
  check_order(&r, "02");
  close(pfd[0]);
  rec_free(&r);
  close_loop(loop);
}

/* docs/api.md section 8: stderr STDOUT merges stderr into the stdout pipe: both lines on
   fd 1, nothing on fd 2, no fd-2 pipe */
TEST(stderr_stdout_merges_stderr_into_the_stdout_pipe) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.stderr_fd = EDDY_SUBPROCESS_STDOUT;
  const char *argv[] = {"sh", "-c", "echo out; echo err 1>&2", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, &o);
  CHECK(eddy_process_get_pipe_transport(p, 1) != NULL);
  CHECK(eddy_process_get_pipe_transport(p, 2) == NULL);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "out\nerr\n");
  CHECK_EQ(r.outlen[2], 0);
  check_order(&r, "01");
  rec_free(&r);
  close_loop(loop);
}

/* docs/api.md section 8: cwd: the child runs in that directory */
TEST(cwd_runs_the_child_in_that_directory) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.cwd = "/tmp";
  const char *argv[] = {"pwd", NULL};
  spawn(loop, &r, argv, &o);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "/tmp\n");
  CHECK_EQ(r.rc_at_exited, 0);
  check_order(&r, "012");
  rec_free(&r);
  close_loop(loop);
}

/* docs/api.md section 8: env replaces the whole environment (the child sees exactly
   FOO=bar); NULL inherits the parent's */
TEST(env_replaces_the_environment_and_null_inherits) {
  eddy_loop_t *loop = new_loop();
  const char *env[] = {"FOO=bar", NULL};
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.env = env;
  struct prec r;
  rec_init(&r, loop);
  const char *argv_sh[] = {"sh", "-c", "echo $FOO", NULL};
  spawn(loop, &r, argv_sh, &o);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "bar\n");
  rec_free(&r);

  rec_init(&r, loop);
  const char *argv_env[] = {"env", NULL};
  spawn(loop, &r, argv_env, &o);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "FOO=bar\n");
  check_order(&r, "012");
  rec_free(&r);

  CHECK_EQ(setenv("EDDY_SUBPROCESS_TEST_MARK", "inherited-value", 1), 0);
  rec_init(&r, loop);
  spawn(loop, &r, (const char *[]){"sh", "-c", "echo $EDDY_SUBPROCESS_TEST_MARK", NULL}, NULL);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "inherited-value\n");
  rec_free(&r);
  close_loop(loop);
}

/* Reads the child's session id from its own /proc/<pid>/stat (field 6). */
static void child_session(eddy_loop_t *loop, bool new_session, int *pid, long *sid, long *pgrp) {
  struct prec r;
  rec_init(&r, loop);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.start_new_session = new_session;
  const char *argv[] = {"sh", "-c", "cat /proc/$$/stat", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, &o);
  *pid = eddy_process_get_pid(p);
  wait_lost(loop, &r);
  const char *s = out_str(&r, 1);
  const char *rp = strrchr(s, ')');
  CHECK(rp != NULL);
  char state;
  long ppid;
  CHECK_EQ(sscanf(rp + 1, " %c %ld %ld %ld", &state, &ppid, pgrp, sid), 4);
  CHECK_EQ(ppid, getpid());
  CHECK_EQ(strtol(s, NULL, 10), *pid); /* that stat was the child's own */
  check_order(&r, "012");
  rec_free(&r);
}

/* docs/api.md section 8: start_new_session: the child leads a new session (sid == its pid,
   unlike ours); without it, it shares our session */
TEST(start_new_session_gives_the_child_its_own_session) {
  eddy_loop_t *loop = new_loop();
  int pid = 0;
  long sid = 0, pgrp = 0;
  child_session(loop, true, &pid, &sid, &pgrp);
  CHECK_EQ(sid, pid);
  CHECK_EQ(pgrp, pid);
  CHECK(sid != getsid(0));
  child_session(loop, false, &pid, &sid, &pgrp);
  CHECK_EQ(sid, getsid(0));
  CHECK(sid != pid);
  close_loop(loop);
}

/* docs/api.md section 8: subprocess_shell runs the command with /bin/sh -c */
TEST(subprocess_shell_runs_the_command_with_sh) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  spawn_shell(loop, &r, "echo $((6*7)); echo abc | tr a-z A-Z; exit 5", NULL);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "42\nABC\n");
  CHECK_EQ(r.rc_at_exited, 5);
  check_order(&r, "012");
  rec_free(&r);
  /* with options too */
  rec_init(&r, loop);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.stderr_fd = EDDY_SUBPROCESS_STDOUT;
  o.cwd = "/";
  spawn_shell(loop, &r, "pwd; echo e >&2", &o);
  wait_lost(loop, &r);
  CHECK_STR_EQ(out_str(&r, 1), "/\ne\n");
  check_order(&r, "01");
  rec_free(&r);
  close_loop(loop);
}

/* ------------------------------------------------------------ accessors */

/* item 127: get_pid is the child's pid (as `echo $$` in it says);
   extra info "pid" gives it too; get_pipe_transport gives the pipes of
   fds 0-2 only */
TEST(get_pid_and_pipe_transports_and_extra_info) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  r.retain = true;
  const char *argv[] = {"sh", "-c", "echo $$", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  int pid = eddy_process_get_pid(p);
  CHECK(pid > 0);
  int xpid = 0;
  size_t len = sizeof xpid;
  CHECK_OK(eddy_process_get_extra_info(p, "pid", &xpid, &len));
  CHECK_EQ(len, sizeof(int));
  CHECK_EQ(xpid, pid);
  char small[2];
  len = sizeof small;
  CHECK_ERR(eddy_process_get_extra_info(p, "pid", small, &len), EDDY_ENOBUFS);
  CHECK_EQ(len, sizeof(int));
  len = sizeof xpid;
  CHECK_ERR(eddy_process_get_extra_info(p, "no-such-key", &xpid, &len), EDDY_ENOENT);
  eddy_transport_t *t0 = eddy_process_get_pipe_transport(p, 0);
  eddy_transport_t *t1 = eddy_process_get_pipe_transport(p, 1);
  eddy_transport_t *t2 = eddy_process_get_pipe_transport(p, 2);
  CHECK(t0 && t1 && t2);
  CHECK(t0 != t1 && t1 != t2 && t0 != t2);
  CHECK(eddy_process_get_pipe_transport(p, 3) == NULL);
  CHECK(eddy_process_get_pipe_transport(p, -1) == NULL);
  CHECK_EQ(eddy_transport_can_write_eof(t0), 1);
  int pipefd = -1;
  len = sizeof pipefd;
  CHECK_OK(eddy_transport_get_extra_info(t1, "pipe", &pipefd, &len));
  CHECK(pipefd >= 0);
  struct stat st;
  CHECK_EQ(fstat(pipefd, &st), 0);
  CHECK(S_ISFIFO(st.st_mode));
  CHECK((fcntl(pipefd, F_GETFL) & O_NONBLOCK) != 0);
  CHECK((fcntl(pipefd, F_GETFD) & FD_CLOEXEC) != 0);
  ino_t pipe_ino = st.st_ino;
  wait_lost(loop, &r);
  char want[32];
  snprintf(want, sizeof want, "%d\n", pid);
  CHECK_STR_EQ(out_str(&r, 1), want);
  /* the pipe is closed (its number may only be reused by something else) */
  CHECK(fstat(pipefd, &st) != 0 || st.st_ino != pipe_ino);
  CHECK_EQ(eddy_process_get_pid(p), pid); /* still answers once finished */
  check_order(&r, "012");
  eddy_process_release(p);
  rec_free(&r);
  close_loop(loop);
}

/* item 126: the stdin pipe is reported lost when the child closes its
   end, while the child still runs */
TEST(stdin_pipe_lost_is_reported_when_the_child_closes_its_stdin) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"sh", "-c", "exec 0<&-; sleep 0.5", NULL};
  spawn(loop, &r, argv, NULL);
  WAIT_UNTIL(loop, r.pcl[0] == 1, 10.0);
  CHECK_EQ(r.exited, 0);
  CHECK_EQ(r.exited_at_pcl[0], 0);
  wait_lost(loop, &r);
  check_order(&r, "012");
  rec_free(&r);
  close_loop(loop);
}

/* ------------------------------------------------------------ spawn failures */

static void check_spawn_fails_with(eddy_loop_t *loop, const char *const *argv,
                                   const eddy_subprocess_options_t *o, int want) {
  int fds_before = count_open_fds();
  struct prec r;
  rec_init(&r, loop);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_subprocess_exec(loop, &proto, &r, argv, o, &f));
  CHECK(f != NULL);
  int rc = eddy_loop_run_until_complete(loop, f);
  CHECK_ERR(rc, want);
  CHECK_ERR(eddy_future_result(f, NULL, NULL), want);
  eddy_future_release(f);
  for (int i = 0; i < 3; i++) run_once(loop);
  CHECK_EQ(r.made, 0);
  CHECK_STR_EQ(r.log, "");
  CHECK_EQ(count_open_fds(), fds_before); /* no pipe end left open */
  int zombies = -1;
  CHECK_EQ(count_children(&zombies), 0); /* no zombie (no child at all) */
  errno = 0;
  CHECK_EQ(waitpid(-1, NULL, WNOHANG), -1);
  CHECK_EQ(errno, ECHILD);
}

static void check_spawn_fails(eddy_loop_t *loop, const char *const *argv, const char *cwd, int want) {
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.cwd = cwd;
  check_spawn_fails_with(loop, argv, &o, want);
}

/* item 124 (a spawn failure is FileNotFoundError), issue 5: a missing
   program fails the future with -ENOENT; no fd, no zombie left */
TEST(spawn_of_a_missing_program_fails_the_future_with_enoent_and_leaks_nothing) {
  eddy_loop_t *loop = new_loop();
  const char *a1[] = {"eddy-no-such-program-xyz", NULL};
  check_spawn_fails(loop, a1, NULL, -ENOENT);
  const char *a2[] = {"/nonexistent-dir/eddy-prog", "arg", NULL};
  check_spawn_fails(loop, a2, NULL, -ENOENT);
  /* the loop still spawns fine afterwards */
  struct prec r;
  rec_init(&r, loop);
  const char *ok[] = {"sh", "-c", "exit 0", NULL};
  spawn(loop, &r, ok, NULL);
  wait_lost(loop, &r);
  rec_free(&r);
  close_loop(loop);
}

/* Issue 5: a cwd that does not exist fails the future with -ENOENT; no fd,
   no zombie left */
TEST(spawn_with_a_missing_cwd_fails_the_future_with_enoent) {
  eddy_loop_t *loop = new_loop();
  const char *argv[] = {"pwd", NULL};
  check_spawn_fails(loop, argv, "/nonexistent-dir-eddy-test", -ENOENT);
  close_loop(loop);
}

/* Popen's OSError(EBADF) for a pass_fds entry that is not open: the parent
   checks before it makes any pipe, so the future fails with EDDY_EBADF, no
   child runs and no fd is left open; the open fd listed beside it is
   untouched. */
TEST(pass_fds_with_a_closed_fd_fails_the_future_with_ebadf_and_leaks_nothing) {
  eddy_loop_t *loop = new_loop();
  int open_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(open_fd >= 0);
  int closed_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(closed_fd >= 0);
  close(closed_fd);
  int pass[] = {open_fd, closed_fd};
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.pass_fds = pass;
  o.npass_fds = 2;
  const char *argv[] = {"true", NULL};
  check_spawn_fails_with(loop, argv, &o, EDDY_EBADF);
  CHECK(fd_is_open(open_fd));
  CHECK(fcntl(open_fd, F_GETFD) & FD_CLOEXEC);
  close(open_fd);
  close_loop(loop);
}

/* A program that is not executable: -EACCES (the errno of execve) */
TEST(spawn_of_a_non_executable_file_fails_with_eacces) {
  eddy_loop_t *loop = new_loop();
  char path[] = "/tmp/eddy-noexec-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  CHECK_EQ(chmod(path, 0600), 0);
  const char *argv[] = {path, NULL}; /* no x bit: EACCES, for root too */
  check_spawn_fails(loop, argv, NULL, -EACCES);
  unlink(path);
  close_loop(loop);
}

/* ------------------------------------------------------------ arguments */

/* pass_fds arguments that are wrong before any fd is looked at are refused
   by the call itself and spawn nothing: NULL with a count and a count too
   large for memory (EDDY_EINVAL, the rule for every array), a negative fd
   (Popen's ValueError, so EDDY_EINVAL), more than 2^20 fds (EDDY_E2BIG, as
   for argv and env). */
TEST(pass_fds_null_negative_or_too_many_are_refused_by_the_call) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"true", NULL};
  eddy_future_t *f = NULL;
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.npass_fds = 1;
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, argv, &o, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_subprocess_shell(loop, &proto, &r, "true", &o, &f), EDDY_EINVAL);
  int one = 0;
  o.pass_fds = &one;
  o.npass_fds = SIZE_MAX;
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, argv, &o, &f), EDDY_EINVAL);
  int neg[] = {0, -1};
  o.pass_fds = neg;
  o.npass_fds = 2;
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, argv, &o, &f), EDDY_EINVAL);
  size_t many = ((size_t)1 << 20) + 1;
  int *zeros = calloc(many, sizeof *zeros);
  CHECK(zeros != NULL);
  o.pass_fds = zeros;
  o.npass_fds = many;
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, argv, &o, &f), EDDY_E2BIG);
  free(zeros);
  CHECK(f == NULL);
  run_once(loop);
  CHECK_EQ(r.made, 0);
  CHECK_EQ(count_children(NULL), 0);
  rec_free(&r);
  close_loop(loop);
}

/* docs/semantics.md "Reading them as C", 124 (ValueError -> EDDY_EINVAL): NULL and
   invalid arguments are EDDY_EINVAL and spawn nothing; NULL handles to
   retain/release are no-ops */
TEST(null_and_invalid_arguments_are_einval) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"true", NULL};
  const char *empty[] = {NULL};
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_subprocess_exec(NULL, &proto, &r, argv, NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_subprocess_exec(loop, NULL, &r, argv, NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, NULL, NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, empty, NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_subprocess_shell(NULL, &proto, &r, "true", NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_subprocess_shell(loop, NULL, &r, "true", NULL, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_subprocess_shell(loop, &proto, &r, NULL, NULL, &f), EDDY_EINVAL);
  eddy_subprocess_options_t o;
  eddy_subprocess_options_init(&o);
  o.stdin_fd = EDDY_SUBPROCESS_STDOUT; /* STDOUT is for stderr only */
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, argv, &o, &f), EDDY_EINVAL);
  eddy_subprocess_options_init(&o);
  o.stdout_fd = EDDY_SUBPROCESS_STDOUT;
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, argv, &o, &f), EDDY_EINVAL);
  eddy_subprocess_options_init(&o);
  o.stderr_fd = -99; /* no such mode */
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, argv, &o, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  eddy_subprocess_options_init(NULL); /* no crash */
  run_once(loop);
  CHECK_EQ(r.made, 0);
  CHECK_EQ(count_children(NULL), 0); /* nothing was spawned */

  int rc = 0;
  size_t len = sizeof rc;
  CHECK_ERR(eddy_process_get_pid(NULL), EDDY_EINVAL);
  CHECK(eddy_process_get_pipe_transport(NULL, 1) == NULL);
  CHECK_ERR(eddy_process_get_returncode(NULL, &rc), EDDY_EINVAL);
  CHECK_ERR(eddy_process_kill(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_process_terminate(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_process_send_signal(NULL, SIGTERM), EDDY_EINVAL);
  CHECK_ERR(eddy_process_close(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_process_is_closing(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_process_get_extra_info(NULL, "pid", &rc, &len), EDDY_EINVAL);
  eddy_process_retain(NULL);
  eddy_process_release(NULL);

  /* on a live process */
  r.retain = true;
  const char *sleeper[] = {"sleep", "10", NULL};
  eddy_process_t *p = spawn(loop, &r, sleeper, NULL);
  CHECK_ERR(eddy_process_send_signal(p, 100000), EDDY_EINVAL); /* no such signal */
  CHECK_ERR(eddy_process_get_extra_info(p, NULL, &rc, &len), EDDY_EINVAL);
  CHECK_ERR(eddy_process_get_extra_info(p, "pid", &rc, NULL), EDDY_EINVAL);
  CHECK_EQ(eddy_process_is_closing(p), 0);
  CHECK_OK(eddy_process_kill(p));
  wait_lost(loop, &r);
  CHECK_ERR(eddy_process_get_returncode(p, NULL), EDDY_EINVAL);
  check_order(&r, "012");
  eddy_process_release(p);
  rec_free(&r);
  /* the out-parameter is not one of the optional ("may be NULL") ones */
  struct prec r2;
  rec_init(&r2, loop);
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r2, argv, NULL, NULL), EDDY_EINVAL);
  run_once(loop);
  CHECK_EQ(r2.made, 0);
  close_loop(loop);
}

/* docs/api.md sections 8/12: subprocess_exec on a closed loop is EDDY_ECLOSED and spawns
   nothing */
TEST(spawn_on_a_closed_loop_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  struct prec r;
  rec_init(&r, loop);
  const char *argv[] = {"true", NULL};
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_subprocess_exec(loop, &proto, &r, argv, NULL, &f), EDDY_ECLOSED);
  CHECK_ERR(eddy_loop_subprocess_shell(loop, &proto, &r, "true", NULL, &f), EDDY_ECLOSED);
  CHECK_EQ(count_children(NULL), 0);
  eddy_loop_release(loop);
}

/* docs/api.md section 1 (ownership 2, 3): a process retained in connection_made stays a
   valid object after connection_lost and after the loop is closed, until
   released (valgrind checks the accesses) */
TEST(retained_process_outlives_connection_lost_and_loop_close) {
  eddy_loop_t *loop = new_loop();
  struct prec r;
  rec_init(&r, loop);
  r.retain = true;
  const char *argv[] = {"sh", "-c", "exit 2", NULL};
  eddy_process_t *p = spawn(loop, &r, argv, NULL);
  wait_lost(loop, &r);
  close_loop(loop);
  int rc = -1;
  CHECK_OK(eddy_process_get_returncode(p, &rc));
  CHECK_EQ(rc, 2);
  CHECK_EQ(eddy_process_is_closing(p), 1);
  CHECK_ERR(eddy_process_kill(p), -ESRCH);
  CHECK(eddy_process_get_pipe_transport(p, 1) == NULL);
  eddy_process_release(p);
  rec_free(&r);
}
