/*
 * Helpers shared by eddy's C tests (ffi-tests/test_*.c): running the loop
 * (one iteration, for a while, until a condition holds), an event recorder,
 * fd and socket helpers, and the byte patterns the stream tests send.
 *
 * Each test file is its own binary, so everything here is `static inline`
 * (or a macro, or a file-scope static marked unused) and a file that does
 * not use a helper pays nothing for it. Helpers that only one test file
 * needs stay in that file.
 */
#ifndef EDDY_FFI_TESTS_TEST_UTIL_H
#define EDDY_FFI_TESTS_TEST_UTIL_H

#include <eddy.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------- the event recorder */

/* A char as callback user data. */
#define TAG(c) ((void *)(intptr_t)(c))

/* What happened, in order: one char per event (ev_add) or strings
   (ev_add_str). Always NUL-terminated, so CHECK_STR_EQ(ev, "...") works. */
static char ev[1024] __attribute__((unused));
static size_t nev __attribute__((unused));

static inline void ev_reset(void) {
  memset(ev, 0, sizeof ev);
  nev = 0;
}
static inline void ev_add(char c) {
  if (nev < sizeof ev - 1) ev[nev++] = c;
}
static inline size_t ev_count(char c) {
  size_t n = 0;
  for (size_t i = 0; i < nev; i++) n += ev[i] == c;
  return n;
}
/* Appends a string (cut off when ev is full). */
static inline void ev_add_str(const char *s) {
  size_t used = strlen(ev);
  snprintf(ev + used, sizeof ev - used, "%s", s);
  nev = strlen(ev);
}

/* Records its user data (a char, see TAG) as an event. */
static inline void rec_cb(void *ud) { ev_add((char)(intptr_t)ud); }

/* Records its user data (a string) as an event. */
static inline void mark_cb(void *ud) { ev_add_str((const char *)ud); }

/* ------------------------------------------------------------ log appenders */

/* Appends c to a NUL-terminated log of capacity cap holding *n chars. */
static inline void log_append_char(char *log, size_t cap, size_t *n, char c) {
  if (*n + 1 < cap) {
    log[(*n)++] = c;
    log[*n] = '\0';
  }
}

/* Appends a printf-formatted entry to a NUL-terminated log, after a comma
   when the log is not empty ("made,data(3),eof"). */
__attribute__((format(printf, 3, 4)))
static inline void log_append_fmt(char *log, size_t cap, const char *fmt, ...) {
  size_t n = strlen(log);
  if (n > 0 && n < cap - 1) log[n++] = ',';
  log[n] = '\0';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(log + n, cap - n, fmt, ap);
  va_end(ap);
}

/* --------------------------------------------------------- running the loop */

/* Stops the loop given as user data. */
static inline void stop_cb(void *ud) { eddy_loop_stop((eddy_loop_t *)ud); }

/* Runs exactly one iteration (stop requested first: the poll does not block;
   docs/semantics.md item 13). */
static inline int run_once(eddy_loop_t *loop) {
  int rc = eddy_loop_stop(loop);
  if (rc != 0) return rc;
  return eddy_loop_run_forever(loop);
}

/* Runs exactly the callbacks queued now (plus the stop callback queued after
   them) as one iteration: anything they schedule stays queued. */
static inline int run_one_iteration(eddy_loop_t *loop) {
  int rc = eddy_loop_call_soon(loop, stop_cb, loop, NULL);
  if (rc != 0) return rc;
  return eddy_loop_run_forever(loop);
}

/* A new event loop; fails the test when none can be made. */
static inline eddy_loop_t *new_loop(void) {
  eddy_loop_t *loop = NULL;
  CHECK_OK(eddy_new_event_loop(&loop));
  CHECK(loop != NULL);
  return loop;
}

static inline void close_loop(eddy_loop_t *loop) {
  CHECK_OK(eddy_loop_close(loop));
  eddy_loop_release(loop);
}

/* Runs the loop for about `seconds` (timers and I/O included); the stop
   timer is cancelled if something else stopped the loop first. Fails the
   test on an error, else returns 0 (so CHECK_OK(run_for(...)) is fine). */
static inline int run_for(eddy_loop_t *loop, double seconds) {
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_later(loop, seconds, stop_cb, loop, &h));
  CHECK_OK(eddy_loop_run_forever(loop));
  eddy_handle_cancel(h);
  eddy_handle_release(h);
  return 0;
}

/* --- run_until: a condition function, checked every millisecond --- */

typedef bool (*cond_fn)(void *arg);

struct waiter {
  eddy_loop_t *loop;
  cond_fn cond;
  void *arg;
  double deadline;
  eddy_handle_t *h;
};

static inline void waiter_tick(void *ud) {
  struct waiter *w = ud;
  eddy_handle_release(w->h);
  w->h = NULL;
  if (w->cond(w->arg) || harness_monotonic() > w->deadline) {
    eddy_loop_stop(w->loop);
    return;
  }
  if (eddy_loop_call_later(w->loop, 0.001, waiter_tick, w, &w->h) != 0) eddy_loop_stop(w->loop);
}

/* Runs the loop until cond(arg) holds (checked every millisecond) or
   `timeout` seconds pass; returns cond(arg). */
static inline bool run_until(eddy_loop_t *loop, cond_fn cond, void *arg, double timeout) {
  if (cond(arg)) return true;
  struct waiter w = {loop, cond, arg, harness_monotonic() + timeout, NULL};
  CHECK_OK(eddy_loop_call_soon(loop, waiter_tick, &w, &w.h));
  CHECK_OK(eddy_loop_run_forever(loop));
  if (w.h) {
    eddy_handle_cancel(w.h);
    eddy_handle_release(w.h);
  }
  return cond(arg);
}

/* --- WAIT_UNTIL: a condition expression, checked after every step() --- */

/* The loop step() is running, or NULL. */
static inline eddy_loop_t **waiting_loop(void) {
  static eddy_loop_t *loop;
  return &loop;
}

/* Called by every protocol callback of a recorder: while WAIT_UNTIL runs the
   loop, this stops it, so the condition is checked again right after the
   iteration that changed it. */
static inline void poke(void) {
  eddy_loop_t *loop = *waiting_loop();
  if (loop) eddy_loop_stop(loop);
}

/* Runs the loop for at most ~10 ms (less when a callback pokes). */
static inline void step(eddy_loop_t *loop) {
  eddy_handle_t *h = NULL;
  CHECK_OK(eddy_loop_call_later(loop, 0.01, stop_cb, loop, &h));
  *waiting_loop() = loop;
  CHECK_OK(eddy_loop_run_forever(loop));
  *waiting_loop() = NULL;
  eddy_handle_cancel(h);
  eddy_handle_release(h);
}

/* Runs the loop in step()s until `cond` holds; fails the test when it does
   not within `timeout` seconds. A file whose tests check the condition
   themselves defines WAIT_UNTIL as RUN_LOOP_UNTIL before including this
   header. */
#ifndef WAIT_UNTIL
#define WAIT_UNTIL(loop, cond, timeout)                                        \
  do {                                                                         \
    double wait_deadline_ = harness_monotonic() + (timeout);                   \
    while (!(cond)) {                                                          \
      if (harness_monotonic() > wait_deadline_)                                \
        HARNESS_FAIL("timed out after %gs waiting for %s", (double)(timeout),  \
                     #cond);                                                   \
      step(loop);                                                              \
    }                                                                          \
  } while (0)
#endif

/* Runs the loop in 2 ms slices until `cond` holds or `timeout` s passed (a
   timeout is no failure by itself). */
#define RUN_LOOP_UNTIL(loop, cond, timeout)                                    \
  do {                                                                         \
    double wait_deadline_ = harness_monotonic() + (timeout);                   \
    while (!(cond) && harness_monotonic() < wait_deadline_)                    \
      CHECK_OK(run_for((loop), 0.002));                                        \
  } while (0)

/* run_until_complete, but failing the test (instead of hanging until the
   harness timeout) when the future is still pending after 10 s. */
static inline int complete_at(eddy_loop_t *loop, eddy_future_t *f, int line) {
  CHECK(f != NULL);
  RUN_LOOP_UNTIL(loop, eddy_future_done(f), 10.0);
  if (!eddy_future_done(f)) HARNESS_FAIL("future awaited at line %d still pending after 10 s", line);
  return eddy_loop_run_until_complete(loop, f);
}
#define complete(loop, f) complete_at((loop), (f), __LINE__)

/* Waits on a semaphore at most `seconds` (a stuck library must fail the test,
   not hang it until the harness timeout). Returns 0 when posted. */
static inline int sem_wait_for(sem_t *s, double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ns = (long long)ts.tv_nsec + (long long)(seconds * 1e9);
  ts.tv_sec += (time_t)(ns / 1000000000LL);
  ts.tv_nsec = (long)(ns % 1000000000LL);
  int rc;
  while ((rc = sem_timedwait(s, &ts)) == -1 && errno == EINTR) {
  }
  return rc;
}

/* ---------------------------------------------------------------------- fds */

static inline bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* How many fds below 1000 this process has open (valgrind's own fds are
   ~1024+). */
static inline int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.' && atoi(e->d_name) < 1000) n++;
  closedir(d);
  return n - 1; /* the directory's own fd */
}

/* How many sockets this process has open among its fds below 1000 (the
   loop's own epoll and eventfd fds, made lazily, are not counted). */
static inline int count_sockets(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || atoi(e->d_name) >= 1000) continue; /* valgrind's own fds are ~1024+ */
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", atoi(e->d_name));
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len <= 0) continue;
    target[len] = '\0';
    if (strncmp(target, "socket:", 7) == 0) n++;
  }
  closedir(d);
  return n;
}

/* ------------------------------------------------------------------ sockets */

/* 127.0.0.1:port. */
static inline struct sockaddr_in loopback_addr(uint16_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/* The AF_UNIX address of `path`, which must fit (the test fails if not). */
static inline struct sockaddr_un unix_addr(const char *path) {
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  size_t n = strlen(path);
  CHECK(n < sizeof a.sun_path);
  memcpy(a.sun_path, path, n);
  return a;
}

/* The local port of an IPv4 or IPv6 socket. */
static inline uint16_t sock_port(int fd) {
  struct sockaddr_storage a;
  socklen_t len = sizeof a;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  if (a.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
  CHECK_EQ(a.ss_family, AF_INET);
  return ntohs(((struct sockaddr_in *)&a)->sin_port);
}
static inline uint16_t local_port(int fd) { return sock_port(fd); }

/* A non-blocking close-on-exec TCP socket. */
static inline int tcp_socket(void) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  return s;
}

/* A listening TCP socket on 127.0.0.1 (ephemeral port; non-blocking;
   close-on-exec only when asked). */
static inline int tcp_listener(bool cloexec) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | (cloexec ? SOCK_CLOEXEC : 0), 0);
  CHECK(l >= 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = loopback_addr(0);
  CHECK_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ(listen(l, 16), 0);
  return l;
}

/* A connected non-blocking close-on-exec TCP pair over 127.0.0.1, made
   without the loop: sv[0] the connecting side, sv[1] the accepted side. */
static inline void tcp_pair(int sv[2]) {
  int l = tcp_listener(true);
  int c = tcp_socket();
  struct sockaddr_in a = loopback_addr(sock_port(l));
  int rc = connect(c, (struct sockaddr *)&a, sizeof a);
  CHECK(rc == 0 || errno == EINPROGRESS);
  struct pollfd p = {l, POLLIN, 0};
  CHECK_EQ(poll(&p, 1, 5000), 1);
  int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  CHECK(s >= 0);
  struct pollfd q = {c, POLLOUT, 0};
  CHECK_EQ(poll(&q, 1, 5000), 1);
  close(l);
  sv[0] = c;
  sv[1] = s;
}

/* A non-blocking close-on-exec AF_UNIX stream pair. */
static inline void unix_pair(int sv[2]) {
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* A plain non-blocking UDP socket bound to 127.0.0.1, made without the
   loop. */
static inline int udp_socket(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct sockaddr_in a = loopback_addr(0);
  CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  return s;
}

/* ------------------------------------------------------------- the patterns */

/* Byte i of a test file or stream. */
static inline uint8_t pattern(size_t i) { return (uint8_t)(((i ^ (i >> 8) ^ (i >> 16)) * 131u) + 7u); }

/* Byte i of a long stream is g_block[i % PAT_P] (call pattern_init first);
   g_block repeats the period so that any PAT_CH bytes from any offset are
   contiguous. */
#define PAT_P 65521u
#define PAT_CH (256u * 1024u)
static uint8_t g_block[PAT_P + PAT_CH] __attribute__((unused));

static inline void pattern_init(void) {
  for (size_t j = 0; j < sizeof g_block; j++) {
    size_t i = j % PAT_P;
    g_block[j] = (uint8_t)(i * 131u + (i >> 8) + 7u);
  }
}

/* Whether data holds stream bytes [off, off+len). */
static inline bool pattern_ok(const uint8_t *data, size_t len, size_t off) {
  while (len > 0) {
    size_t o = off % PAT_P;
    size_t n = sizeof g_block - o;
    if (n > len) n = len;
    if (memcmp(data, g_block + o, n) != 0) return false;
    data += n;
    len -= n;
    off += n;
  }
  return true;
}

#endif /* EDDY_FFI_TESTS_TEST_UTIL_H */
