/* Test runner for eddy's C tests: see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#define HARNESS_MAX_TESTS 4096
/* Child exit statuses the parent recognises. */
#define HARNESS_EXIT_CHECK 86 /* a CHECK failed */
#define HARNESS_EXIT_FDS 87   /* the test leaked fds */
#define HARNESS_EXIT_LEAK 88  /* LeakSanitizer found a leak */
/* Only fds below this are compared: valgrind keeps its own at ~1024+. */
#define HARNESS_FD_LIMIT 1000

struct harness_test {
  const char *name;
  harness_test_fn fn;
  int line;
  int seq;
};

static struct harness_test tests[HARNESS_MAX_TESTS];
static int ntests;
static const char *current_test = "";
static volatile sig_atomic_t child_pgid;

void harness_register(const char *name, harness_test_fn fn, int line) {
  if (ntests == HARNESS_MAX_TESTS) {
    fprintf(stderr, "harness: too many tests\n");
    _exit(2);
  }
  tests[ntests].name = name;
  tests[ntests].fn = fn;
  tests[ntests].line = line;
  tests[ntests].seq = ntests;
  ntests++;
}

const char *harness_current_test(void) { return current_test; }

void harness_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "FAIL %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(HARNESS_EXIT_CHECK);
}

double harness_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void harness_sleep(double seconds) {
  if (!(seconds > 0))
    return;
  struct timespec ts;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

/* --- fd leak detection ------------------------------------------------- */

/* Marks in `open` every fd < HARNESS_FD_LIMIT that is open, except the one
   used to read /proc/self/fd. */
static void scan_fds(bool open[HARNESS_FD_LIMIT]) {
  memset(open, 0, HARNESS_FD_LIMIT * sizeof(bool));
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) {
    fprintf(stderr, "harness: cannot open /proc/self/fd: %s\n", strerror(errno));
    return;
  }
  int self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    long fd = strtol(e->d_name, NULL, 10);
    if (fd != self && fd >= 0 && fd < HARNESS_FD_LIMIT)
      open[fd] = true;
  }
  closedir(d);
}

/* Returns the number of fds open now that were not open in `before`, and
   reports each on stderr. */
static int report_leaked_fds(const bool before[HARNESS_FD_LIMIT]) {
  static bool after[HARNESS_FD_LIMIT];
  int leaked = 0;
  scan_fds(after);
  for (int fd = 0; fd < HARNESS_FD_LIMIT; fd++) {
    if (!after[fd] || before[fd])
      continue;
    char path[64], target[PATH_MAX];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
      n = 0;
    target[n] = '\0';
    if (leaked == 0)
      fprintf(stderr, "FAIL %s: fds opened by the test are still open:", current_test);
    fprintf(stderr, " %d -> %s;", fd, n > 0 ? target : "?");
    leaked++;
  }
  if (leaked)
    fputc('\n', stderr);
  return leaked;
}

/* Runs one test in this process; returns 0, or exits on a failed check. */
static int run_body(const struct harness_test *t) {
  static bool before[HARNESS_FD_LIMIT];
  current_test = t->name;
  scan_fds(before);
  t->fn();
  fflush(stdout);
  int leaked = report_leaked_fds(before);
  current_test = "";
  return leaked ? HARNESS_EXIT_FDS : 0;
}

/* --- running tests in children ----------------------------------------- */

static void forward_signal(int sig) {
  if (child_pgid > 0)
    kill(-(pid_t)child_pgid, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

static double test_timeout(void) {
  const char *s = getenv("EDDY_TEST_TIMEOUT");
  if (s != NULL && *s) {
    char *end;
    double v = strtod(s, &end);
    if (end != s && v > 0)
      return v;
  }
  return 30.0;
}

/* valgrind preloads its own libraries into the program it runs. */
static bool under_valgrind(void) {
  const char *p = getenv("LD_PRELOAD");
  return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* Runs `t` in a forked child; writes the failure reason into `why` and
   returns false when it fails. */
static bool run_forked(const struct harness_test *t, double timeout, char *why, size_t whylen) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(why, whylen, "fork failed: %s", strerror(errno));
    return false;
  }
  if (pid == 0) {
    setpgid(0, 0); /* so a timeout also kills the test's own children */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    int rc = run_body(t);
    fflush(NULL);
#ifdef __SANITIZE_ADDRESS__
    /* _exit skips the leak check LeakSanitizer runs at exit. */
    if (rc == 0 && __lsan_do_recoverable_leak_check())
      rc = HARNESS_EXIT_LEAK;
#endif
    _exit(rc);
  }
  setpgid(pid, pid); /* both sides, to win the race */
  child_pgid = pid;

  double deadline = harness_monotonic() + timeout;
  int status = 0;
  bool timed_out = false;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      break;
    if (r < 0 && errno != EINTR) {
      snprintf(why, whylen, "waitpid failed: %s", strerror(errno));
      child_pgid = 0;
      return false;
    }
    if (!timed_out && harness_monotonic() >= deadline) {
      timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
    harness_sleep(0.002);
  }
  /* Whatever the test left running in its process group goes too. */
  kill(-pid, SIGKILL);
  child_pgid = 0;

  if (timed_out) {
    snprintf(why, whylen, "timed out after %gs", timeout);
    return false;
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    snprintf(why, whylen, "killed by signal %d, %s", sig, strsignal(sig));
    return false;
  }
  if (WIFEXITED(status)) {
    switch (WEXITSTATUS(status)) {
    case 0:
      return true;
    case HARNESS_EXIT_CHECK:
      snprintf(why, whylen, "failed check");
      return false;
    case HARNESS_EXIT_FDS:
      snprintf(why, whylen, "leaked fds");
      return false;
    case HARNESS_EXIT_LEAK:
      snprintf(why, whylen, "leaked memory (LeakSanitizer report above)");
      return false;
    case 1:
      if (under_valgrind()) {
        snprintf(why, whylen, "exit code 1: valgrind reported errors");
        return false;
      }
#ifdef __SANITIZE_ADDRESS__
      snprintf(why, whylen, "exit code 1: a sanitizer reported errors");
      return false;
#endif
      /* fall through */
    default:
      snprintf(why, whylen, "exit code %d", WEXITSTATUS(status));
      return false;
    }
  }
  snprintf(why, whylen, "unexpected wait status %#x", status);
  return false;
}

static int by_line(const void *a, const void *b) {
  const struct harness_test *x = a, *y = b;
  if (x->line != y->line)
    return x->line < y->line ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *area_name(const char *argv0) {
  const char *slash = strrchr(argv0, '/');
  return slash ? slash + 1 : argv0;
}

static void usage(const char *area) {
  fprintf(stderr,
          "usage: %s            run every test, each in a forked child\n"
          "       %s -l         list the tests\n"
          "       %s NAME...    run the named tests in this process (for gdb)\n"
          "env: EDDY_TEST_TIMEOUT=seconds per test (default 30)\n",
          area, area, area);
}

int main(int argc, char **argv) {
  const char *area = area_name(argc > 0 ? argv[0] : "test");
  qsort(tests, (size_t)ntests, sizeof tests[0], by_line);

  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    usage(area);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "-l") == 0) {
    for (int i = 0; i < ntests; i++)
      printf("%s\n", tests[i].name);
    return 0;
  }

  if (argc > 1) {
    /* Named tests, in-process: a failed check exits right away. */
    int failed = 0;
    for (int a = 1; a < argc; a++) {
      const struct harness_test *t = NULL;
      for (int i = 0; i < ntests; i++)
        if (strcmp(tests[i].name, argv[a]) == 0)
          t = &tests[i];
      if (t == NULL) {
        fprintf(stderr, "%s: no test named '%s' (try -l)\n", area, argv[a]);
        return 2;
      }
      if (run_body(t) == 0) {
        printf("PASS %s:%s\n", area, t->name);
      } else {
        printf("FAIL %s:%s (leaked fds)\n", area, t->name);
        failed++;
      }
      fflush(stdout);
    }
    return failed ? 1 : 0;
  }

  signal(SIGINT, forward_signal);
  signal(SIGTERM, forward_signal);
  signal(SIGHUP, forward_signal);

  double timeout = test_timeout();
  int failed = 0;
  for (int i = 0; i < ntests; i++) {
    char why[256] = "";
    if (run_forked(&tests[i], timeout, why, sizeof why)) {
      printf("PASS %s:%s\n", area, tests[i].name);
    } else {
      printf("FAIL %s:%s (%s)\n", area, tests[i].name, why);
      failed++;
    }
    fflush(stdout);
  }
  return failed ? 1 : 0;
}
