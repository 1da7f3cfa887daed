/*
 * 100,000 connections of churn: connect, echo one message, close.
 *
 *   churn [CYCLES [IN_FLIGHT]]     (default 100000 32)
 *
 * The parent is an eddy echo server; a forked child runs the cycles on its
 * own eddy loop, IN_FLIGHT at a time, checking each echo byte for byte.
 * Prints the server's RSS after 10%, 50% and 100% of the cycles (it must
 * stay flat), the echoes that failed (must be 0) and the fds open at the end
 * on both sides (must be what each had before).
 */
#include "stress_util.h"

#define MSG 64

static long cycles, rss_at[3];

static void srv_lost(long lost) {
  if (lost == cycles / 10) rss_at[0] = rss_kb();
  if (lost == cycles / 2) rss_at[1] = rss_kb();
  if (lost == cycles) rss_at[2] = rss_kb();
}

/* ------------------------------------------------------------- client */

struct cyc {
  uint32_t id;
  size_t got;
  bool bad;
};
static eddy_loop_t *cloop;
static uint16_t port;
static int in_flight;
static long started, finished, failed_connects, bad_echoes;
static bool cli_done;

static const eddy_protocol_t cli_proto;

static void start_cycle(void) {
  while (started < cycles) {
    struct cyc *c = calloc(1, sizeof *c);
    c->id = (uint32_t)started++;
    int fd = connect_loopback(port);
    if (fd < 0) {
      failed_connects++;
      finished++;
      free(c);
      continue;
    }
    eddy_future_t *f = NULL;
    MUST(eddy_loop_connect_accepted_socket(cloop, &cli_proto, c, fd, NULL, &f));
    eddy_future_release(f);
    return;
  }
  if (finished == cycles) cli_done = true;
}

static void cli_made(eddy_transport_t *t, void *ud) {
  struct cyc *c = ud;
  uint8_t msg[MSG];
  for (size_t i = 0; i < MSG; i++) msg[i] = stream_byte(c->id, i);
  MUST(eddy_transport_write(t, msg, MSG));
}

static void cli_data(eddy_transport_t *t, const uint8_t *d, size_t n, void *ud) {
  struct cyc *c = ud;
  for (size_t i = 0; i < n; i++)
    if (c->got + i >= MSG || d[i] != stream_byte(c->id, c->got + i)) c->bad = true;
  c->got += n;
  if (c->got >= MSG) MUST(eddy_transport_close(t));
}

static void cli_lost(eddy_transport_t *t, int err, void *ud) {
  struct cyc *c = ud;
  (void)t;
  if (err != 0 || c->bad || c->got != MSG) bad_echoes++;
  free(c);
  finished++;
  start_cycle();
  if (finished == cycles) cli_done = true;
}

static const eddy_protocol_t cli_proto = {
    .connection_made = cli_made, .connection_lost = cli_lost, .data_received = cli_data};

static int client(uint16_t server_port) {
  port = server_port;
  int fds0 = open_fds();
  MUST(eddy_new_event_loop(&cloop));
  double t0 = now_s();
  for (int i = 0; i < in_flight; i++) start_cycle();
  bool ok = run_until_flag(cloop, &cli_done, 240);
  double t = now_s() - t0;
  MUST(eddy_loop_close(cloop));
  eddy_loop_release(cloop);
  int fds1 = open_fds();
  printf("client: %ld cycles in %.1f s (%.0f/s), %ld connects failed, %ld echoes failed; "
         "fds open at the end %d (before %d)%s\n",
         finished, t, (double)finished / t, failed_connects, bad_echoes, fds1, fds0,
         ok ? "" : " (timed out)");
  fflush(stdout);
  return ok && failed_connects == 0 && bad_echoes == 0 && fds1 == fds0 ? 0 : 1;
}

int main(int argc, char **argv) {
  cycles = argc > 1 ? atol(argv[1]) : 100000;
  in_flight = argc > 2 ? atoi(argv[2]) : 32;
  int fds_before = open_fds();
  struct echo_run run;
  echo_run_start(&run, 1024, cycles, client);
  echo.on_lost = srv_lost;
  long rss0 = rss_kb();
  run_until_flag(run.loop, &echo.done, 300);
  bool client_ok = echo_run_finish(&run);
  int fds_after = open_fds();
  printf("server: %ld connections served; RSS %ld kB at start, %ld / %ld / %ld kB after "
         "%ld / %ld / %ld cycles; fds open at the end %d (before %d)\n",
         echo.lost, rss0, rss_at[0], rss_at[1], rss_at[2], cycles / 10, cycles / 2, cycles,
         fds_after, fds_before);
  /* Flat: the last sample within 10% (and 256 kB) of the first. */
  bool flat = rss_at[2] <= rss_at[0] + rss_at[0] / 10 + 256;
  bool ok = echo.lost == cycles && flat && fds_after == fds_before && client_ok;
  printf("churn: %s%s\n", ok ? "OK" : "FAILED", flat ? "" : " (RSS grew)");
  return ok ? 0 : 1;
}
