/* Pipe transports: docs/semantics.md items 120-123 (section N) and 84 (the write
   pipe's flow control); docs/api.md sections 6 (connect_read_pipe,
   connect_write_pipe), 9 (the transport API) and 12 ("Handed-over fds").

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <termios.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"
#include "test_proto.h"

/* ------------------------------------------------------------------ helpers */

#define KIB 1024u

/* A close-on-exec pipe; both ends blocking (eddy makes its end
   non-blocking, item 120). */
static void make_pipe(int p[2]) { CHECK_EQ(pipe2(p, O_CLOEXEC), 0); }

static bool fd_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl != -1 && (fl & O_NONBLOCK) != 0;
}

static void set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  CHECK(fl != -1);
  CHECK_EQ(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static uint8_t pat(size_t i) { return (uint8_t)((i * 131u) + (i >> 9) + 3u); }

static uint8_t g_out[1024 * 1024];

static void out_pattern_init(void) {
  for (size_t i = 0; i < sizeof g_out; i++) g_out[i] = pat(i);
}

/* Reads a pipe's read end (non-blocking) through add_reader, checking the
   pattern, until EOF. */
struct drain {
  eddy_loop_t *loop;
  int fd;
  size_t total;
  size_t bad;
  int eof;
  bool active;
};

static void drain_cb(void *ud) {
  struct drain *d = ud;
  static uint8_t buf[64 * 1024];
  for (;;) {
    ssize_t n = read(d->fd, buf, sizeof buf);
    if (n > 0) {
      for (ssize_t i = 0; i < n; i++)
        if (buf[i] != pat(d->total + (size_t)i)) d->bad++;
      d->total += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    d->eof = 1;
    eddy_loop_remove_reader(d->loop, d->fd);
    d->active = false;
    return;
  }
}

static void drain_start(struct drain *d, eddy_loop_t *loop, int fd) {
  memset(d, 0, sizeof *d);
  d->loop = loop;
  d->fd = fd;
  d->active = true;
  set_nonblocking(fd);
  CHECK_OK(eddy_loop_add_reader(loop, fd, drain_cb, d));
}

static void drain_stop(struct drain *d) {
  if (d->active) eddy_loop_remove_reader(d->loop, d->fd);
  d->active = false;
}

static bool c_drain_eof(void *a) { return ((struct drain *)a)->eof != 0; }

/* connect_read_pipe / connect_write_pipe, checking item 120: not
   synchronous, connection_made before the future completes, fd made
   non-blocking. */
static eddy_transport_t *open_pipe(eddy_loop_t *loop, bool write_side, int fd, struct rec *r) {
  eddy_future_t *f = NULL;
  g_in_api = 1;
  int rc = write_side ? eddy_loop_connect_write_pipe(loop, &PLAIN, r, fd, &f)
                      : eddy_loop_connect_read_pipe(loop, &PLAIN, r, fd, &f);
  g_in_api = 0;
  CHECK_OK(rc);
  eddy_transport_t *t = rec_await_made(loop, r, f);
  CHECK(fd_nonblocking(fd));
  return t;
}

/* ================================================================ read pipes */

/* items 120, 121: connect_read_pipe: connection_made before the future
   completes; data arrives; EOF gives eof_received then connection_lost(0) */
TEST(read_pipe_delivers_data_then_eof_then_connection_lost) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.eof_ret = false;
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, false, p[0], &r);
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  CHECK_EQ(write(p[1], "hello", 5), 5);
  r.want = 5;
  CHECK(run_until(loop, c_want, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(5)");
  CHECK(memcmp(r.in, "hello", 5) == 0);
  close(p[1]);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,data(5),eof,lost(0)");
  CHECK_EQ(r.sync_violations, 0);
  /* eddy owned the fd and closed it */
  CHECK(!fd_is_open(p[0]));
  close_loop(loop);
}

/* item 121: the return value of eof_received is ignored on a read
   pipe: the transport closes either way */
TEST(read_pipe_eof_received_true_is_ignored_and_the_transport_closes) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  r.eof_ret = true;
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, false, p[0], &r);
  eddy_transport_retain(t);
  close(p[1]);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,eof,lost(0)");
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK(!fd_is_open(p[0]));
  eddy_transport_release(t);
  close_loop(loop);
}

/* item 121: data written just before the writer closes arrives, then
   EOF (data and EOF seen together) */
TEST(read_pipe_data_followed_at_once_by_eof) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  CHECK_EQ(write(p[1], "bye", 3), 3);
  close(p[1]);
  eddy_transport_t *t = open_pipe(loop, false, p[0], &r);
  (void)t;
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(3),eof,lost(0)");
  close_loop(loop);
}

/* items 120, 123: can_write_eof is 0 on a read pipe, 1 on a write pipe */
TEST(can_write_eof_is_0_on_read_pipes_and_1_on_write_pipes) {
  eddy_loop_t *loop = new_loop();
  struct rec rr, rw;
  rec_init(&rr);
  rec_init(&rw);
  int a[2], b[2];
  make_pipe(a);
  make_pipe(b);
  eddy_transport_t *tr = open_pipe(loop, false, a[0], &rr);
  eddy_transport_t *tw = open_pipe(loop, true, b[1], &rw);
  CHECK_EQ(eddy_transport_can_write_eof(tr), 0);
  CHECK_EQ(eddy_transport_can_write_eof(tw), 1);
  /* a write pipe does not read */
  CHECK_EQ(eddy_transport_is_reading(tw), 0);
  CHECK_OK(eddy_transport_close(tr));
  CHECK_OK(eddy_transport_close(tw));
  CHECK(run_until(loop, c_lost, &rr, 2.0));
  CHECK(run_until(loop, c_lost, &rw, 2.0));
  CHECK_STR_EQ(rr.log, "made,lost(0)");
  CHECK_STR_EQ(rw.log, "made,lost(0)");
  close(a[1]);
  close(b[0]);
  close_loop(loop);
}

/* items 121, 74: pause/resume on a read pipe: idempotent, is_reading
   follows, data held back until resume */
TEST(read_pipe_pause_and_resume_reading) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, false, p[0], &r);
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_OK(eddy_transport_pause_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK_EQ(write(p[1], "abcd", 4), 4);
  run_for(loop, 0.03);
  CHECK_STR_EQ(r.log, "made");
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 1);
  r.want = 4;
  CHECK(run_until(loop, c_want, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(4)");
  CHECK_OK(eddy_transport_close(t));
  CHECK_OK(eddy_transport_pause_reading(t)); /* 0 on a closing transport */
  CHECK_OK(eddy_transport_resume_reading(t));
  CHECK_EQ(eddy_transport_is_reading(t), 0);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(4),lost(0)");
  close(p[1]);
  close_loop(loop);
}

/* item 120: "pipe" extra info is the fd (an int); ENOBUFS/ENOENT as for
   sockets */
TEST(read_pipe_extra_info_pipe_is_the_fd) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, false, p[0], &r);
  int fd = -1;
  size_t len = sizeof fd;
  CHECK_OK(eddy_transport_get_extra_info(t, "pipe", &fd, &len));
  CHECK_EQ(len, sizeof(int));
  CHECK_EQ(fd, p[0]);
  len = 1;
  CHECK_ERR(eddy_transport_get_extra_info(t, "pipe", &fd, &len), EDDY_ENOBUFS);
  CHECK_EQ(len, sizeof(int));
  char buf[128];
  len = sizeof buf;
  CHECK_ERR(eddy_transport_get_extra_info(t, "peername", buf, &len), EDDY_ENOENT);
  len = sizeof buf;
  CHECK_ERR(eddy_transport_get_extra_info(t, "nope", buf, &len), EDDY_ENOENT);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(p[1]);
  close_loop(loop);
}

/* items 121, 69: close on a read pipe: connection_lost(0) on the next
   iteration (never inside close), then the fd is closed */
TEST(read_pipe_close_gives_connection_lost_next_iteration_and_closes_the_fd) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, false, p[0], &r);
  CHECK_EQ(write(p[1], "x", 1), 1); /* never delivered: close stops reading */
  g_in_api = 1;
  int rc = eddy_transport_close(t);
  g_in_api = 0;
  CHECK_OK(rc);
  CHECK_EQ(r.lost, 0);
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_OK(run_once(loop));
  CHECK_EQ(r.lost, 1);
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  CHECK_EQ(r.sync_violations, 0);
  CHECK(!fd_is_open(p[0]));
  /* the reader is gone: writing to the pipe now fails with EPIPE */
  signal(SIGPIPE, SIG_IGN);
  CHECK_EQ(write(p[1], "x", 1), -1);
  CHECK_EQ(errno, EPIPE);
  close(p[1]);
  close_loop(loop);
}

/* item 120: a socket works as a read pipe */
TEST(read_pipe_accepts_a_socket) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  eddy_transport_t *t = open_pipe(loop, false, sv[0], &r);
  (void)t;
  CHECK_EQ(write(sv[1], "sock", 4), 4);
  r.want = 4;
  CHECK(run_until(loop, c_want, &r, 2.0));
  close(sv[1]);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,data(4),eof,lost(0)");
  CHECK(!fd_is_open(sv[0]));
  close_loop(loop);
}

/* item 121: at most 256 KiB per data_received */
TEST(read_pipe_chunks_are_at_most_256k) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  CHECK(fcntl(p[1], F_SETPIPE_SZ, 1024 * 1024) >= 512 * 1024);
  CHECK_EQ(write(p[1], g_out, 512 * KIB), (ssize_t)(512 * KIB));
  eddy_transport_t *t = open_pipe(loop, false, p[0], &r);
  r.want = 512 * KIB;
  CHECK(run_until(loop, c_want, &r, 2.0));
  CHECK(r.datas >= 2);
  CHECK(r.max_chunk <= 256 * KIB);
  CHECK_EQ(r.sync_violations, 0);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  close(p[1]);
  close_loop(loop);
}

static void count_exc(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  (void)loop;
  (void)ctx;
  (*(int *)ud)++;
}

/* items 120, 121: a pty master (a character device) works as a read
   pipe; the hang-up (EIO once the slave closes) ends it with
   connection_lost(-EIO) and is not reported to the exception handler */
TEST(read_pipe_on_pty_master_hangup_gives_connection_lost_eio) {
  eddy_loop_t *loop = new_loop();
  int calls = 0;
  CHECK_OK(eddy_loop_set_exception_handler(loop, count_exc, &calls));
  struct rec r;
  rec_init(&r);
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  CHECK(m >= 0);
  CHECK_EQ(grantpt(m), 0);
  CHECK_EQ(unlockpt(m), 0);
  char *name = ptsname(m);
  CHECK(name != NULL);
  int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  CHECK(sl >= 0);
  eddy_transport_t *t = open_pipe(loop, false, m, &r);
  (void)t;
  CHECK_EQ(write(sl, "tty", 3), 3);
  r.want = 3;
  CHECK(run_until(loop, c_want, &r, 2.0));
  CHECK(memcmp(r.in, "tty", 3) == 0);
  close(sl);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,data(3),lost(-5)");
  CHECK_EQ(calls, 0);
  CHECK(!fd_is_open(m));
  close_loop(loop);
}

/* A pty: *m the master, *sl the slave in raw mode (no echo, no line
   editing), both close-on-exec. */
static void open_raw_pty(int *m, int *sl) {
  *m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  CHECK(*m >= 0);
  CHECK_EQ(grantpt(*m), 0);
  CHECK_EQ(unlockpt(*m), 0);
  char *name = ptsname(*m);
  CHECK(name != NULL);
  *sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  CHECK(*sl >= 0);
  struct termios tio;
  CHECK_EQ(tcgetattr(*sl, &tio), 0);
  cfmakeraw(&tio);
  CHECK_EQ(tcsetattr(*sl, TCSANOW, &tio), 0);
}

/* ================================================================ write pipes */

/* items 120, 123: writes to a write pipe arrive; writelines too; small
   writes are sent at once */
TEST(write_pipe_writes_arrive) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, true, p[1], &r);
  CHECK_OK(eddy_transport_write(t, "hello ", 6));
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  eddy_buf_t bufs[3] = {{"pipe", 4}, {"", 0}, {" world", 6}};
  CHECK_OK(eddy_transport_writelines(t, bufs, 3));
  CHECK_OK(eddy_transport_write(t, "", 0));
  char buf[32];
  ssize_t got = 0;
  while (got < 16) {
    ssize_t n = read(p[0], buf + got, sizeof buf - (size_t)got);
    CHECK(n > 0);
    got += n;
  }
  CHECK_EQ(got, 16);
  CHECK(memcmp(buf, "hello pipe world", 16) == 0);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,lost(0)");
  /* eddy closed the write end: the reader sees EOF */
  CHECK_EQ(read(p[0], buf, 1), 0);
  close(p[0]);
  close_loop(loop);
}

/* item 120: "pipe" is the write fd */
TEST(write_pipe_extra_info_pipe_is_the_fd_and_fd_is_closed_after) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, true, p[1], &r);
  int fd = -1;
  size_t len = sizeof fd;
  CHECK_OK(eddy_transport_get_extra_info(t, "pipe", &fd, &len));
  CHECK_EQ(len, sizeof(int));
  CHECK_EQ(fd, p[1]);
  char buf[64];
  len = sizeof buf;
  CHECK_ERR(eddy_transport_get_extra_info(t, "sockname", buf, &len), EDDY_ENOENT);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK(!fd_is_open(p[1]));
  close(p[0]);
  close_loop(loop);
}

static void check_write_pipe_flush(bool use_write_eof) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, true, p[1], &r);
  eddy_transport_retain(t);
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, 1 << 30, -1));
  const size_t N = sizeof g_out; /* 1 MiB: more than the pipe holds */
  const size_t TAIL = 10;          /* written after close or write_eof */
  CHECK_OK(eddy_transport_write(t, g_out, N - TAIL));
  CHECK(eddy_transport_get_write_buffer_size(t) > 0);
  g_in_api = 1;
  int rc = use_write_eof ? eddy_transport_write_eof(t) : eddy_transport_close(t);
  g_in_api = 0;
  CHECK_OK(rc);
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  /* item 68: close() still takes writes while it flushes; write_eof does
     not (item 64) */
  rc = eddy_transport_write(t, g_out + N - TAIL, TAIL);
  if (use_write_eof) {
    CHECK_ERR(rc, EDDY_EPIPE);
  } else {
    CHECK_OK(rc);
  }
  const size_t sent = use_write_eof ? N - TAIL : N;
  CHECK_EQ(r.lost, 0);
  /* the reader isn't reading yet: no connection_lost */
  run_for(loop, 0.03);
  CHECK_EQ(r.lost, 0);
  struct drain d;
  drain_start(&d, loop, p[0]);
  CHECK(run_until(loop, c_drain_eof, &d, 5.0));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_EQ(d.total, sent);
  CHECK_EQ(d.bad, 0);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  CHECK_EQ(r.sync_violations, 0);
  CHECK(!fd_is_open(p[1]));
  drain_stop(&d);
  eddy_transport_release(t);
  close(p[0]);
  close_loop(loop);
}

/* item 123: write_eof on a write pipe flushes, then the pipe closes and
   connection_lost(0) follows */
TEST(write_pipe_write_eof_flushes_then_connection_lost) { check_write_pipe_flush(true); }

/* items 123, 68: close flushes too, with what was written after it */
TEST(write_pipe_close_flushes_then_connection_lost) { check_write_pipe_flush(false); }

/* items 123, 70: abort drops the buffer; connection_lost(0) next
   iteration */
TEST(write_pipe_abort_drops_buffer) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, true, p[1], &r);
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, 1 << 30, -1));
  CHECK_OK(eddy_transport_write(t, g_out, sizeof g_out));
  CHECK(eddy_transport_get_write_buffer_size(t) > 0);
  g_in_api = 1;
  int rc = eddy_transport_abort(t);
  g_in_api = 0;
  CHECK_OK(rc);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  CHECK_EQ(r.lost, 0);
  CHECK_OK(run_once(loop));
  CHECK_EQ(r.lost, 1);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  CHECK(!fd_is_open(p[1]));
  /* the reader gets what the kernel had, less than was written, then EOF */
  struct drain d;
  drain_start(&d, loop, p[0]);
  CHECK(run_until(loop, c_drain_eof, &d, 2.0));
  CHECK(d.total < sizeof g_out);
  CHECK_EQ(d.bad, 0);
  drain_stop(&d);
  close(p[0]);
  close_loop(loop);
}

/* item 123 with eddy's decision for 67: writes after close (with nothing
   buffered) or abort are EDDY_ECLOSED, after write_eof EDDY_EPIPE; nothing
   is sent */
TEST(write_pipe_write_after_close_abort_or_write_eof_fails) {
  eddy_loop_t *loop = new_loop();
  int p[3][2];
  struct rec r[3];
  eddy_transport_t *t[3];
  for (int i = 0; i < 3; i++) {
    make_pipe(p[i]);
    rec_init(&r[i]);
    t[i] = open_pipe(loop, true, p[i][1], &r[i]);
    eddy_transport_retain(t[i]);
  }
  CHECK_OK(eddy_transport_close(t[0]));
  CHECK_OK(eddy_transport_abort(t[1]));
  CHECK_OK(eddy_transport_write_eof(t[2]));
  CHECK_ERR(eddy_transport_write(t[0], "x", 1), EDDY_ECLOSED);
  CHECK_ERR(eddy_transport_write(t[1], "x", 1), EDDY_ECLOSED);
  CHECK_ERR(eddy_transport_write(t[2], "x", 1), EDDY_EPIPE);
  eddy_buf_t b = {"y", 1};
  CHECK_ERR(eddy_transport_writelines(t[0], &b, 1), EDDY_ECLOSED);
  CHECK_ERR(eddy_transport_writelines(t[2], &b, 1), EDDY_EPIPE);
  for (int i = 0; i < 3; i++) CHECK(run_until(loop, c_lost, &r[i], 2.0));
  for (int i = 0; i < 3; i++) {
    CHECK_STR_EQ(r[i].log, "made,lost(0)");
    int rc = eddy_transport_write(t[i], "x", 1);
    CHECK(rc == EDDY_ECLOSED || (i == 2 && rc == EDDY_EPIPE));
    char c;
    CHECK_EQ(read(p[i][0], &c, 1), 0); /* nothing sent, then EOF */
    eddy_transport_release(t[i]);
    close(p[i][0]);
  }
  close_loop(loop);
}

/* item 122: the reader goes away with nothing pending:
   connection_lost(0) without any write */
TEST(write_pipe_reader_gone_with_nothing_pending_gives_connection_lost_0) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, true, p[1], &r);
  eddy_transport_retain(t);
  close(p[0]);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_STR_EQ(r.log, "made,lost(0)");
  CHECK_EQ(eddy_transport_is_closing(t), 1);
  CHECK_ERR(eddy_transport_write(t, "x", 1), EDDY_ECLOSED);
  CHECK(!fd_is_open(p[1]));
  eddy_transport_release(t);
  close_loop(loop);
}

/* item 122: the reader goes away while data is buffered:
   connection_lost(EDDY_EPIPE); no SIGPIPE kills us */
TEST(write_pipe_reader_gone_with_data_pending_gives_epipe) {
  signal(SIGPIPE, SIG_DFL);
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, true, p[1], &r);
  CHECK_OK(eddy_transport_set_write_buffer_limits(t, 1 << 30, -1));
  CHECK_OK(eddy_transport_write(t, g_out, sizeof g_out));
  CHECK(eddy_transport_get_write_buffer_size(t) > 0);
  close(p[0]);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.lost_err, EDDY_EPIPE);
  CHECK_STR_EQ(r.log, "made,lost(-32)");
  CHECK(!fd_is_open(p[1]));
  close_loop(loop);
}

/* item 122: a write straight into a pipe whose reader is gone fails
   (EPIPE) without SIGPIPE, and connection_lost follows with the error */
TEST(write_pipe_direct_write_after_reader_gone_fails_without_sigpipe) {
  signal(SIGPIPE, SIG_DFL);
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, true, p[1], &r);
  eddy_transport_retain(t);
  close(p[0]);
  /* before the loop notices: the write itself hits EPIPE */
  int rc = eddy_transport_write(t, "x", 1);
  CHECK_EQ(rc, EDDY_EPIPE);
  CHECK(run_until(loop, c_lost, &r, 2.0));
  run_for(loop, 0.02);
  CHECK_EQ(r.lost, 1);
  CHECK_EQ(r.lost_err, EDDY_EPIPE);
  eddy_transport_release(t);
  close_loop(loop);
}

/* items 84, 78, 80, 81: the write pipe uses the same flow control:
   defaults (16384, 65536); pause once above high, resume once at <= low */
TEST(write_pipe_flow_control_pauses_and_resumes_once) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, true, p[1], &r);
  size_t low = 0, high = 0;
  CHECK_OK(eddy_transport_get_write_buffer_limits(t, &low, &high));
  CHECK_EQ(low, 16384);
  CHECK_EQ(high, 65536);
  size_t off = 0;
  while (off < sizeof g_out) {
    CHECK_OK(eddy_transport_write(t, g_out + off, 4096));
    off += 4096;
    CHECK_EQ(r.pauses, eddy_transport_get_write_buffer_size(t) > 65536 ? 1 : 0);
    if (r.pauses) break;
  }
  CHECK_EQ(r.pauses, 1);
  CHECK_OK(eddy_transport_write(t, g_out + off, 4096));
  off += 4096;
  CHECK_EQ(r.pauses, 1);
  run_for(loop, 0.02);
  CHECK_EQ(r.resumes, 0);
  struct drain d;
  drain_start(&d, loop, p[0]);
  CHECK(run_until(loop, c_resumed, &r, 2.0));
  CHECK(eddy_transport_get_write_buffer_size(t) <= 16384);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_drain_eof, &d, 2.0));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_EQ(d.total, off);
  CHECK_EQ(d.bad, 0);
  CHECK_STR_EQ(r.log, "made,pause,resume,lost(0)");
  drain_stop(&d);
  close(p[0]);
  close_loop(loop);
}

/* ======================================================== handed-over fds */

/* items 120, 122: a tty slave as a write pipe (asyncio's test_bidirectional_pty)
   is readable when input arrives, which says nothing about a reader going
   away (asyncio watches that on pipes and sockets only): the transport
   stays open and keeps writing */
TEST(write_pipe_on_a_pty_stays_open_when_input_arrives) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int m, sl;
  open_raw_pty(&m, &sl);
  int wfd = dup(sl);
  CHECK(wfd >= 0);
  eddy_transport_t *t = open_pipe(loop, true, wfd, &r);
  CHECK_EQ(write(m, "a", 1), 1);
  struct pollfd p = {sl, POLLIN, 0};
  CHECK_EQ(poll(&p, 1, 2000), 1); /* the input is there: eddy sees it next */
  CHECK_OK(run_once(loop));
  CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  CHECK_OK(eddy_transport_write(t, "xy", 2));
  char buf[2];
  size_t got = 0;
  while (got < 2) {
    ssize_t n = read(m, buf + got, 2 - got);
    CHECK(n > 0);
    got += (size_t)n;
  }
  CHECK(memcmp(buf, "xy", 2) == 0);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &r, 2.0));
  CHECK_STR_EQ(r.log, "made,lost(0)");
  close(sl);
  close(m);
  close_loop(loop);
}

/* item 120, docs/api.md section 12: a regular file is refused with EDDY_EINVAL for
   both kinds, and the fd stays the caller's (still open, blocking mode
   untouched) */
TEST(regular_file_is_einval_and_the_fd_stays_open) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  char path[] = "/tmp/eddy-pipes-XXXXXX";
  int fd = mkostemp(path, O_CLOEXEC);
  CHECK(fd >= 0);
  unlink(path);
  CHECK_EQ(write(fd, "data", 4), 4);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_connect_read_pipe(loop, &PLAIN, &r, fd, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK(fd_is_open(fd));
  CHECK_ERR(eddy_loop_connect_write_pipe(loop, &PLAIN, &r, fd, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK(fd_is_open(fd));
  run_for(loop, 0.01);
  CHECK_EQ(r.made, 0);
  CHECK_STR_EQ(r.log, "");
  close(fd);
  close_loop(loop);
}

/* docs/api.md sections 1, 12: argument errors leave the fd open */
TEST(pipe_argument_errors_leave_the_fd_open) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_connect_read_pipe(loop, NULL, &r, p[0], &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_connect_write_pipe(loop, NULL, &r, p[1], &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_connect_read_pipe(NULL, &PLAIN, &r, p[0], &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_connect_read_pipe(loop, &PLAIN, &r, -1, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_connect_write_pipe(loop, &PLAIN, &r, -1, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  CHECK(fd_is_open(p[0]));
  CHECK(fd_is_open(p[1]));
  close(p[0]);
  close(p[1]);
  close_loop(loop);
}

/* docs/api.md section 4 (close), 12: a pipe transport still open when the loop closes is
   closed without callbacks, and its fd too */
TEST(loop_close_closes_open_pipe_transports_without_callbacks) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  eddy_transport_t *t = open_pipe(loop, false, p[0], &r);
  (void)t;
  CHECK_OK(eddy_loop_close(loop));
  CHECK_EQ(r.lost, 0);
  CHECK(!fd_is_open(p[0]));
  eddy_loop_release(loop);
  close(p[1]);
}

__attribute__((constructor)) static void pipes_tests_init(void) { out_pattern_init(); }

/* docs/api.md section 1: `out` of connect_read_pipe/connect_write_pipe is not marked "may be
   NULL", so NULL is an argument error and the fd stays the caller's */
TEST(connect_pipe_with_null_out_is_einval) {
  eddy_loop_t *loop = new_loop();
  struct rec r;
  rec_init(&r);
  int p[2];
  make_pipe(p);
  CHECK_ERR(eddy_loop_connect_read_pipe(loop, &PLAIN, &r, p[0], NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_connect_write_pipe(loop, &PLAIN, &r, p[1], NULL), EDDY_EINVAL);
  run_for(loop, 0.01);
  CHECK_EQ(r.made, 0);
  CHECK(fd_is_open(p[0]));
  CHECK(fd_is_open(p[1]));
  close(p[0]);
  close(p[1]);
  close_loop(loop);
}
