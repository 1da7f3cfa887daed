/*
 * An EMFILE storm: the server runs out of fds while clients keep coming.
 *
 *   emfile [HELD [ECHOES [SPARE_FDS]]]     (default 300 200 40)
 *
 * The parent, an eddy echo server, lowers its RLIMIT_NOFILE to what it has
 * open plus SPARE_FDS. A forked client opens HELD connections at once and
 * holds them for 2 s, so accept() fails with EMFILE again and again; then it
 * closes them all, waits for the server's accept back-off (1 s), and runs
 * ECHOES connect/echo/close cycles. The server must survive, report EMFILE
 * through the exception handler, serve every held connection it could
 * (the rest once fds were free again), and every echo afterwards.
 */
#include "stress_util.h"

#include <sys/time.h>

static int held_n, echoes_n;

static int client(uint16_t port) {
  raise_nofile(); /* the parent lowered it before fork */
  int *held = malloc(sizeof(int) * (size_t)held_n);
  int opened = 0;
  for (; opened < held_n; opened++) {
    held[opened] = connect_loopback(port);
    if (held[opened] < 0) break;
  }
  sleep(2);
  for (int i = 0; i < opened; i++) close(held[i]);
  free(held);
  usleep(1500 * 1000);
  int ok = 0;
  double first = 0, worst_rest = 0;
  for (int i = 0; i < echoes_n; i++) {
    double t0 = now_s();
    int fd = connect_loopback(port);
    if (fd < 0) {
      printf("client: echo %d: connect: %s\n", i, strerror(-fd));
      continue;
    }
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t msg[16], back[16];
    for (size_t k = 0; k < sizeof msg; k++) msg[k] = stream_byte((uint32_t)i, k);
    size_t got = 0;
    if (write(fd, msg, sizeof msg) == (ssize_t)sizeof msg) {
      ssize_t n;
      while (got < sizeof back && (n = read(fd, back + got, sizeof back - got)) > 0) got += (size_t)n;
    }
    int err = errno;
    close(fd);
    double dt = now_s() - t0;
    if (i == 0) first = dt;
    else if (dt > worst_rest) worst_rest = dt;
    if (got == sizeof msg && memcmp(msg, back, sizeof msg) == 0)
      ok++;
    else
      printf("client: echo %d: %zu bytes came back (%s)\n", i, got, got ? "" : strerror(err));
  }
  printf("client: %d of %d connections held open for 2 s, then %d of %d echoes after the storm "
         "(the first took %.2f s, the slowest of the others %.3f s)\n",
         opened, held_n, ok, echoes_n, first, worst_rest);
  fflush(stdout);
  return opened == held_n && ok == echoes_n ? 0 : 1;
}

static int emfile_reports, other_reports;
static long open_max, open_now;

static void handler(eddy_loop_t *l, const eddy_error_context_t *ctx, void *ud) {
  (void)l;
  (void)ud;
  if (ctx->error == EDDY_EMFILE) emfile_reports++; else other_reports++;
}
static void on_made(long made) {
  (void)made;
  if (++open_now > open_max) open_max = open_now;
}
static void on_lost(long lost) {
  (void)lost;
  open_now--;
}

int main(int argc, char **argv) {
  held_n = argc > 1 ? atoi(argv[1]) : 300;
  echoes_n = argc > 2 ? atoi(argv[2]) : 200;
  int spare = argc > 3 ? atoi(argv[3]) : 40;
  int fds_before = open_fds();
  echo.on_made = on_made;
  echo.on_lost = on_lost;
  /* Lowered before the server exists: it accepts as soon as its loop runs.
     The loop, the server and the watch of the child take a few of the spare. */
  long limit = open_fds() + spare;
  set_nofile(limit);
  struct echo_run run;
  echo_run_start(&run, held_n + 64, held_n + echoes_n, client);
  MUST(eddy_loop_set_exception_handler(run.loop, handler, NULL));
  run_until_flag(run.loop, &echo.done, 90);
  bool client_ok = echo_run_finish(&run);
  int fds_after = open_fds();
  printf("server: fd limit %ld; at most %ld connections open at once; EMFILE reported to the "
         "exception handler %d times (other reports %d); %ld connections served in all "
         "(want %d); fds open at the end %d (before %d)\n",
         limit, open_max, emfile_reports, other_reports, echo.lost, held_n + echoes_n,
         fds_after, fds_before);
  bool ok = emfile_reports > 0 && echo.lost == held_n + echoes_n && fds_after == fds_before &&
            client_ok;
  printf("emfile: %s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
