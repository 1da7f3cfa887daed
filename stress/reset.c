/*
 * A peer that resets the connection while eddy holds megabytes for it.
 *
 *   reset [ROUNDS [MIB]]     (default 20 rounds, 4..MIB=64 MiB buffered)
 *
 * Each round an eddy server accepts one connection from a plain socket that
 * never reads, writes into the transport until MiB megabytes wait in its
 * write buffer (beyond what the kernel holds), then the peer closes with
 * SO_LINGER 0 (a RST). connection_lost must come exactly once, with an
 * error; the buffer must be freed (RSS back down) and no fd left open.
 */
#include "stress_util.h"

#include <malloc.h>
#include <sys/socket.h>

#define CHUNK (1 << 20)

static size_t want;          /* bytes to have buffered this round */
static eddy_transport_t *tr; /* the server side of this round */
static int made, lost, lost_err, writes_refused;
static bool buffered, gone;
static uint8_t *chunk;

static void fill(eddy_transport_t *t) {
  while (eddy_transport_get_write_buffer_size(t) < want) {
    int rc = eddy_transport_write(t, chunk, CHUNK);
    if (rc != 0) {
      writes_refused++;
      return;
    }
  }
  buffered = true;
}

static void s_made(eddy_transport_t *t, void *ud) {
  (void)ud;
  made++;
  tr = t;
  fill(t);
}
static void s_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  (void)ud;
  lost++;
  lost_err = err;
  tr = NULL;
  gone = true;
}
/* Keeps the buffer topped up while the kernel takes what it can. */
static void s_resume(eddy_transport_t *t, void *ud) {
  (void)ud;
  if (!gone) fill(t);
}
static void s_pause(eddy_transport_t *t, void *ud) {
  (void)t;
  (void)ud;
}
static const eddy_protocol_t s_proto = {.connection_made = s_made,
                                        .connection_lost = s_lost,
                                        .pause_writing = s_pause,
                                        .resume_writing = s_resume};
static int s_factory(void *fud, const eddy_protocol_t **p, void **ud) {
  (void)fud;
  *p = &s_proto;
  *ud = NULL;
  return 0;
}

static int handler_calls;
static void handler(eddy_loop_t *l, const eddy_error_context_t *ctx, void *ud) {
  (void)l;
  (void)ctx;
  (void)ud;
  handler_calls++;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 20;
  int max_mib = argc > 2 ? atoi(argv[2]) : 64;
  chunk = malloc(CHUNK);
  memset(chunk, 0xa5, CHUNK);
  int fds_before = open_fds();
  eddy_loop_t *loop = NULL;
  MUST(eddy_new_event_loop(&loop));
  MUST(eddy_loop_set_exception_handler(loop, handler, NULL));
  uint16_t port;
  int lfd = listen_loopback(16, &port);
  eddy_future_t *sf = NULL;
  eddy_server_t *srv = serve_on(loop, lfd, 16, s_factory, &sf);
  long rss0 = rss_kb(), rss_peak = 0, rss_after_max = 0;
  int bad = 0, with_error = 0;
  char errs[256] = "";
  for (int r = 0; r < rounds; r++) {
    want = (size_t)(4 + (max_mib - 4) * r / (rounds > 1 ? rounds - 1 : 1)) << 20;
    made = lost = 0;
    buffered = gone = false;
    int peer = connect_loopback(port);
    if (peer < 0) DIE("connect: %s", strerror(-peer));
    int small = 4096;
    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (!run_until_flag(loop, &buffered, 30)) DIE("round %d: never buffered %zu bytes", r, want);
    long rss = rss_kb();
    if (rss > rss_peak) rss_peak = rss;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(peer); /* RST */
    if (!run_until_flag(loop, &gone, 30)) DIE("round %d: no connection_lost after the reset", r);
    run_until_flag(loop, &(bool){false}, 0.02); /* a second connection_lost would come now */
    if (made != 1 || lost != 1) bad++;
    if (lost_err != 0) {
      with_error++;
      if (!strstr(errs, eddy_err_name(lost_err)) && strlen(errs) < 200) {
        if (*errs) strcat(errs, ",");
        strcat(errs, eddy_err_name(lost_err));
      }
    }
    malloc_trim(0); /* glibc keeps freed heap memory otherwise: measure what is in use */
    rss = rss_kb();
    if (rss > rss_after_max) rss_after_max = rss;
  }
  server_shutdown(loop, srv, sf);
  MUST(eddy_loop_close(loop));
  eddy_loop_release(loop);
  free(chunk);
  int fds_after = open_fds();
  printf("reset: %d rounds, %d..%d MiB buffered in eddy at the reset; connection_lost once per "
         "round: %s; with an error: %d/%d (%s); writes refused %d; exception handler calls %d\n",
         rounds, 4, max_mib, bad ? "NO" : "yes", with_error, rounds, errs, writes_refused,
         handler_calls);
  printf("reset: RSS %ld kB at start, %ld kB at most with a buffer full, %ld kB at most after a "
         "reset (after malloc_trim); fds open at the end %d (before %d)\n",
         rss0, rss_peak, rss_after_max, fds_after, fds_before);
  /* After a reset the buffer must be gone: RSS within 4 MiB of the start. */
  bool ok = !bad && with_error == rounds && rss_after_max < rss0 + 4096 && fds_after == fds_before;
  printf("reset: %s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
