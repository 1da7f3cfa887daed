/*
 * 10,000 concurrent connections with checksummed messages.
 *
 *   conns [CONNECTIONS [MESSAGES [BYTES]]]     (default 10000 10 256)
 *
 * The parent is an eddy echo server; a forked child (its own process, so
 * each side has its own fd limit) opens every connection first, wraps each
 * in an eddy transport, then sends MESSAGES messages of BYTES bytes on each,
 * one at a time: a message goes out when the previous one came back whole.
 * Each message's bytes depend on the connection and the offset, and each
 * echo is compared with the FNV-1a sum of what was sent. Prints messages
 * lost (must be 0), the server's RSS per connection, and the fds the server
 * has open at the end (must be what it had before). Both sides raise
 * RLIMIT_NOFILE's soft limit to the hard one and scale down when it is too
 * low.
 */
#include "stress_util.h"

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static long srv_rss_peak;

static void srv_made(long made) {
  if (made == echo.target) srv_rss_peak = rss_kb();
}

/* ------------------------------------------------------------- client */

struct conn {
  eddy_transport_t *t;
  uint32_t id;
  int msg;        /* the message in flight */
  size_t got;     /* its bytes echoed so far */
  uint32_t sum;   /* FNV-1a of what was sent for it */
  uint32_t rsum;  /* ... and of what came back */
  uint64_t pos;   /* stream offset of the message */
};
static struct conn *conns;
static int n_conns, n_msgs, done_conns;
static size_t msg_len;
static long intact, corrupt;
static bool cli_done;
static uint8_t *msgbuf;

static void send_msg(struct conn *c) {
  for (size_t i = 0; i < msg_len; i++) msgbuf[i] = stream_byte(c->id, c->pos + i);
  c->sum = fnv(2166136261u, msgbuf, msg_len);
  c->rsum = 2166136261u;
  c->got = 0;
  MUST(eddy_transport_write(c->t, msgbuf, msg_len));
}

static int cli_made_n;
static bool cli_all_made;

static void cli_made(eddy_transport_t *t, void *ud) {
  struct conn *c = ud;
  c->t = t;
  if (++cli_made_n == n_conns) cli_all_made = true;
}

static void cli_data(eddy_transport_t *t, const uint8_t *d, size_t n, void *ud) {
  struct conn *c = ud;
  while (n > 0) {
    size_t take = msg_len - c->got < n ? msg_len - c->got : n;
    c->rsum = fnv(c->rsum, d, take);
    c->got += take;
    d += take;
    n -= take;
    if (c->got < msg_len) break;
    if (c->rsum == c->sum) intact++; else corrupt++;
    c->pos += msg_len;
    if (++c->msg < n_msgs) {
      send_msg(c);
    } else {
      MUST(eddy_transport_close(t));
      if (++done_conns == n_conns) cli_done = true;
    }
  }
}

static const eddy_protocol_t cli_proto = {.connection_made = cli_made, .data_received = cli_data};

static int client(uint16_t port) {
  long lim = raise_nofile();
  eddy_loop_t *loop = NULL;
  MUST(eddy_new_event_loop(&loop));
  conns = calloc((size_t)n_conns, sizeof *conns);
  msgbuf = malloc(msg_len);
  double t0 = now_s();
  int opened = 0;
  for (; opened < n_conns; opened++) {
    int fd = connect_loopback(port);
    if (fd < 0) DIE("client: connect #%d: %s (fd limit %ld)", opened, strerror(-fd), lim);
    conns[opened].id = (uint32_t)opened;
    eddy_future_t *f = NULL;
    MUST(eddy_loop_connect_accepted_socket(loop, &cli_proto, &conns[opened], fd, NULL, &f));
    eddy_future_release(f);
  }
  if (!run_until_flag(loop, &cli_all_made, 30)) DIE("client: connection_made %d of %d", cli_made_n, n_conns);
  double t1 = now_s();
  for (int i = 0; i < n_conns; i++) send_msg(&conns[i]);
  bool ok = run_until_flag(loop, &cli_done, 120);
  double t2 = now_s();
  long sent = (long)n_conns * n_msgs;
  printf("client: %d connections open at once (connected in %.2f s), %ld messages of %zu bytes "
         "sent, %ld echoed intact, %ld corrupt, %ld lost, in %.2f s%s\n",
         opened, t1 - t0, sent, msg_len, intact, corrupt, sent - intact - corrupt, t2 - t1,
         ok ? "" : " (timed out)");
  fflush(stdout);
  MUST(eddy_loop_close(loop));
  eddy_loop_release(loop);
  return ok && intact == sent ? 0 : 1;
}

int main(int argc, char **argv) {
  n_conns = argc > 1 ? atoi(argv[1]) : 10000;
  n_msgs = argc > 2 ? atoi(argv[2]) : 10;
  msg_len = argc > 3 ? (size_t)atol(argv[3]) : 256;
  long lim = raise_nofile();
  if (lim < n_conns + 64) {
    printf("RLIMIT_NOFILE hard limit is %ld: scaling down from %d to %ld connections\n", lim,
           n_conns, lim - 64);
    n_conns = (int)(lim - 64);
  }
  echo.on_made = srv_made;
  int fds_before = open_fds();
  struct echo_run run;
  echo_run_start(&run, 4096, n_conns, client);
  long rss0 = rss_kb();
  run_until_flag(run.loop, &echo.done, 180);
  bool client_ok = echo_run_finish(&run);
  long rss_end = rss_kb();
  int fds_after = open_fds();
  printf("server: %ld connections served, %ld lost; RSS %ld kB before, %ld kB with all open "
         "(%.2f kB per connection), %ld kB after they closed; fds open at the end %d (before %d)\n",
         echo.made, echo.lost, rss0, srv_rss_peak, (double)(srv_rss_peak - rss0) / n_conns, rss_end,
         fds_after, fds_before);
  bool ok = echo.lost == n_conns && client_ok && fds_after == fds_before;
  printf("conns: %s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
