/*
 * Helpers of the stress programs (stress/, `make stress`): process
 * figures (RSS, open fds, the fd limit), a loopback listener made before
 * fork(), and a blocking loopback connect. Programs, not tests: each prints
 * its figures and exits non-zero when a figure breaks its rule.
 */
#ifndef EDDY_STRESS_UTIL_H
#define EDDY_STRESS_UTIL_H

#include <eddy.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIE(...)                                                                                   \
  do {                                                                                             \
    fprintf(stderr, __VA_ARGS__);                                                                  \
    fputc('\n', stderr);                                                                           \
    exit(2);                                                                                       \
  } while (0)
#define MUST(e)                                                                                    \
  do {                                                                                             \
    int rc_ = (e);                                                                                 \
    if (rc_ != 0) DIE("%s:%d: %s returned %d %s", __FILE__, __LINE__, #e, rc_, eddy_err_name(rc_)); \
  } while (0)

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's resident set, in kB. */
static inline long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb;
}

/* How many fds this process has open. */
static inline int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n - 1; /* the directory's own fd */
}

/* Raises the soft fd limit to the hard one; returns the new soft limit. */
static inline long raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return (long)rl.rlim_cur;
}

static inline void set_nofile(long n) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = (rlim_t)n;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) DIE("setrlimit(%ld): %s", n, strerror(errno));
}

/* A listening socket on 127.0.0.1, any port; stores the port. */
static inline int listen_loopback(int backlog, uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sin;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&sin, &sl) != 0)
    DIE("listen on 127.0.0.1: %s", strerror(errno));
  *port = ntohs(sin.sin_port);
  return fd;
}

/* A blocking connect to 127.0.0.1:port; returns the fd or -errno. */
static inline int connect_loopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* The byte at offset `pos` of stream `id`. */
static inline uint8_t stream_byte(uint32_t id, uint64_t pos) {
  return (uint8_t)((pos ^ (pos >> 8) ^ (id * 2654435761u)) * 31u + 7u);
}

static void stop_loop_cb(void *ud) { eddy_loop_stop(ud); }

/* Runs `loop` until *done becomes true or `seconds` pass (checked every
   10 ms); returns *done. */
static inline bool run_until_flag(eddy_loop_t *loop, const volatile bool *done, double seconds) {
  double end = now_s() + seconds;
  while (!*done && now_s() < end) {
    eddy_handle_t *h = NULL;
    MUST(eddy_loop_call_later(loop, 0.01, stop_loop_cb, loop, &h));
    MUST(eddy_loop_run_forever(loop));
    eddy_handle_cancel(h);
    eddy_handle_release(h);
  }
  return *done;
}

/* --- an echo server (the parent's side of conns, churn and emfile) --- */

struct echo_stats {
  long made, lost, lost_with_error;
  long target;            /* `done` is set when this many connections were lost */
  volatile bool done;
  void (*on_made)(long made);
  void (*on_lost)(long lost);
};
static struct echo_stats echo;

static void echo_made(eddy_transport_t *t, void *ud) {
  (void)t;
  (void)ud;
  echo.made++;
  if (echo.on_made) echo.on_made(echo.made);
}
static void echo_data(eddy_transport_t *t, const uint8_t *d, size_t n, void *ud) {
  (void)ud;
  MUST(eddy_transport_write(t, d, n));
}
static void echo_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  (void)ud;
  echo.lost++;
  echo.lost_with_error += err != 0;
  if (echo.on_lost) echo.on_lost(echo.lost);
  if (echo.lost == echo.target) echo.done = true;
}
static const eddy_protocol_t echo_proto = {
    .connection_made = echo_made, .connection_lost = echo_lost, .data_received = echo_data};
static int echo_factory(void *fud, const eddy_protocol_t **p, void **ud) {
  (void)fud;
  *p = &echo_proto;
  *ud = NULL;
  return 0;
}

/* Serves `factory`'s protocol on the listening socket `lfd` (eddy takes it
   over). */
static inline eddy_server_t *serve_on(eddy_loop_t *loop, int lfd, int backlog,
                                      eddy_protocol_factory_fn factory, eddy_future_t **sf) {
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.backlog = backlog; /* create_server listens again, with this backlog */
  o.socks = &lfd;
  o.nsocks = 1;
  MUST(eddy_loop_create_server(loop, factory, NULL, NULL, 0, &o, sf));
  MUST(eddy_loop_run_until_complete(loop, *sf));
  void *srv = NULL;
  MUST(eddy_future_result(*sf, &srv, NULL));
  return srv;
}

/* Closes the server and waits until it is closed. */
static inline void server_shutdown(eddy_loop_t *loop, eddy_server_t *srv, eddy_future_t *sf) {
  MUST(eddy_server_close(srv));
  eddy_future_t *wf = NULL;
  MUST(eddy_server_wait_closed(srv, &wf));
  MUST(eddy_loop_run_until_complete(loop, wf));
  eddy_future_release(wf);
  eddy_future_release(sf);
}

/* --- the parent's watch over its forked peer --- */

struct child_watch {
  int fds[2];
  eddy_loop_t *loop;
  volatile bool *flag; /* set 1 s after the child has gone */
};

static void child_watch_grace(void *ud) { *((struct child_watch *)ud)->flag = true; }

static void child_watch_readable(void *ud) {
  struct child_watch *w = ud;
  char c;
  if (read(w->fds[0], &c, 1) > 0) return;
  eddy_loop_remove_reader(w->loop, w->fds[0]);
  /* A moment for the connections the child closed as it exited. */
  MUST(eddy_loop_call_later(w->loop, 1.0, child_watch_grace, w, NULL));
}

/* Before fork(). */
static inline void child_watch_init(struct child_watch *w) {
  if (pipe(w->fds) != 0) DIE("pipe: %s", strerror(errno));
}

/* In the child: the write end stays open until it exits. */
static inline void child_watch_child(struct child_watch *w) { close(w->fds[0]); }

/* In the parent: sets *flag once the child has exited (its end of the pipe
   closed) and a second has passed. */
static inline void child_watch_start(struct child_watch *w, eddy_loop_t *loop, volatile bool *flag) {
  close(w->fds[1]);
  w->loop = loop;
  w->flag = flag;
  MUST(eddy_loop_add_reader(loop, w->fds[0], child_watch_readable, w));
}

static inline void child_watch_end(struct child_watch *w) {
  eddy_loop_remove_reader(w->loop, w->fds[0]);
  close(w->fds[0]);
}

/* --- the parent's echo server and its forked client --- */

struct echo_run {
  eddy_loop_t *loop;
  eddy_server_t *srv;
  eddy_future_t *sf;
  struct child_watch cw;
  pid_t pid;
};

/* Listens on 127.0.0.1, forks a child that exits with client(port), and
   serves echo_proto on a new loop of the parent's. echo.done is set once
   `target` connections were lost, or a second after the child exited. */
static inline void echo_run_start(struct echo_run *r, int backlog, long target,
                                  int (*client)(uint16_t port)) {
  uint16_t port;
  int lfd = listen_loopback(backlog, &port);
  child_watch_init(&r->cw);
  fflush(stdout);
  r->pid = fork();
  if (r->pid < 0) DIE("fork: %s", strerror(errno));
  if (r->pid == 0) {
    child_watch_child(&r->cw);
    close(lfd);
    _exit(client(port));
  }
  MUST(eddy_new_event_loop(&r->loop));
  child_watch_start(&r->cw, r->loop, &echo.done);
  echo.target = target;
  r->srv = serve_on(r->loop, lfd, backlog, echo_factory, &r->sf);
}

/* Closes the server and the loop and waits for the child; true when the
   child exited with 0. */
static inline bool echo_run_finish(struct echo_run *r) {
  child_watch_end(&r->cw);
  server_shutdown(r->loop, r->srv, r->sf);
  MUST(eddy_loop_close(r->loop));
  eddy_loop_release(r->loop);
  int status = 0;
  waitpid(r->pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#endif /* EDDY_STRESS_UTIL_H */
