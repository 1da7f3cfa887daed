/* TLS: docs/api.md section 10 and the TLS fields of section 6
   (eddy_connection_options_t.tls / server_hostname / tls_handshake_timeout,
   eddy_server_options_t.tls), docs/semantics.md section S (items 142-147).

   Certificates are made once per test binary with the openssl CLI in a
   temporary directory (removed when the binary exits): a CA, a server leaf
   for DNS:localhost and IP:127.0.0.1, and a client leaf, all signed by that
   CA and none trusted by the system. openssl s_server / s_client run as
   children of the test on 127.0.0.1 and are killed and reaped by it.

   In these tests "item N" is docs/semantics.md item N. */
#include <eddy.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"
#include "test_proto.h"

#define OPENSSL "/usr/bin/openssl"
#define MIB (1024u * 1024u)
#define BIG (16u * MIB)

/* ================================================================ helpers */

static bool c_future_done(void *a) { return eddy_future_done((eddy_future_t *)a) == 1; }

/* The outcome of a call that may fail at once or through its future: the
   call's code, else the future's (awaited up to 20 s). Releases the future;
   *ptr gets its pointer result. */
static int outcome_at(eddy_loop_t *loop, int rc, eddy_future_t *f, void **ptr, char *msg, size_t msglen, int line) {
  if (msg && msglen) msg[0] = '\0';
  if (rc != 0) {
    CHECK(f == NULL); /* outputs are written only on success */
    return rc;
  }
  CHECK(f != NULL);
  if (!run_until(loop, c_future_done, f, 20.0)) HARNESS_FAIL("future awaited at line %d still pending after 20 s", line);
  int run_rc = eddy_loop_run_until_complete(loop, f);
  rc = eddy_future_result(f, ptr, NULL);
  CHECK_ERR(run_rc, rc);
  if (msg && msglen) {
    const char *m = eddy_future_error_message(f);
    snprintf(msg, msglen, "%s", m ? m : "");
  }
  eddy_future_release(f);
  return rc;
}
#define outcome(loop, rc, f, ptr) outcome_at((loop), (rc), (f), (ptr), NULL, 0, __LINE__)
#define outcome_msg(loop, rc, f, ptr, msg) outcome_at((loop), (rc), (f), (ptr), (msg), sizeof(msg), __LINE__)

/* A port that was free a moment ago (for openssl s_server). */
static uint16_t free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct sockaddr_in a = loopback_addr(0);
  CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
  uint16_t p = sock_port(s);
  close(s);
  return p;
}

struct sockwant {
  int n;
};
static bool c_sockets_at_most(void *a) { return count_sockets() <= ((struct sockwant *)a)->n; }

/* ------------------------------------------------------------ the pattern */

/* A malloc'ed buffer holding stream bytes [0, len). */
static uint8_t *pattern_buffer(size_t len) {
  uint8_t *b = malloc(len);
  CHECK(b != NULL);
  for (size_t off = 0; off < len;) {
    size_t n = len - off < PAT_CH ? len - off : PAT_CH;
    memcpy(b + off, g_block + off % PAT_P, n);
    off += n;
  }
  return b;
}

/* ====================================================== certificates */

/* The certificates are generated into a temporary directory when the binary
   starts, opened, and the directory is removed at once: the files live on
   as open fds (inherited by every test child and kept open for the openssl
   children), named /proc/self/fd/N. Nothing is left on disk, even when a
   test dies. */
#define NKEEP 5
static int g_keep[NKEEP] = {-1, -1, -1, -1, -1};
static bool g_certs_ok;
static char g_genlog[2048];
static char g_ca[32], g_srv_cert[32], g_srv_key[32], g_cli_cert[32], g_cli_key[32];
static uint8_t g_srv_der[4096], g_cli_der[4096];
static size_t g_srv_der_len, g_cli_der_len;

/* fork + exec of openssl with stdin/stdout/stderr from/to the given fds
   (-1: /dev/null). Every other fd but the certificates is closed in the
   child. */
static pid_t spawn_openssl(const char *const *argv, int in_fd, int out_fd, int err_fd) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  int fd0 = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
  int fd1 = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY);
  int fd2 = err_fd >= 0 ? err_fd : open("/dev/null", O_WRONLY);
  if (fd0 < 0 || fd1 < 0 || fd2 < 0) _exit(126);
  if (dup2(fd0, 0) < 0 || dup2(fd1, 1) < 0 || dup2(fd2, 2) < 0) _exit(126);
  for (int fd = 3; fd < 1000; fd++) {
    bool keep = false;
    for (int k = 0; k < NKEEP; k++)
      if (g_keep[k] == fd) keep = true;
    if (keep)
      fcntl(fd, F_SETFD, 0);
    else
      close(fd);
  }
  execv(OPENSSL, (char *const *)argv);
  _exit(127);
}

static int wait_exit(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs openssl to completion, its output going to log_fd; returns its exit
   status (-1: not normal). */
static int run_openssl(const char *const *argv, int log_fd) {
  pid_t pid = spawn_openssl(argv, -1, log_fd, log_fd);
  return pid < 0 ? -1 : wait_exit(pid);
}

/* An anonymous file (deleted already), read/write, close-on-exec. */
static int anon_file(void) {
  int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  char path[] = "/tmp/eddy-tls-test-XXXXXX";
  fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0) unlink(path);
  return fd;
}

/* Reads up to cap bytes from offset 0 of an fd (the file's offset is left
   alone). */
static size_t pread_all(int fd, void *buf, size_t cap) {
  size_t got = 0;
  while (got < cap) {
    ssize_t n = pread(fd, (char *)buf + got, cap - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  return got;
}

static size_t read_path(const char *path, void *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t n = pread_all(fd, buf, cap);
  close(fd);
  return n;
}

static bool write_path(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t len = strlen(text);
  bool ok = write(fd, text, len) == (ssize_t)len;
  return close(fd) == 0 && ok;
}

/* A leaf certificate dir/name.pem, .key, .der signed by the CA. */
static bool make_leaf(const char *dir, const char *name, const char *cn, int serial, const char *ext, int log) {
  char key[128], csr[128], pem[128], der[128], extf[128], subj[64], ser[16], ca[128], cakey[128];
  snprintf(key, sizeof key, "%s/%s.key", dir, name);
  snprintf(csr, sizeof csr, "%s/%s.csr", dir, name);
  snprintf(pem, sizeof pem, "%s/%s.pem", dir, name);
  snprintf(der, sizeof der, "%s/%s.der", dir, name);
  snprintf(extf, sizeof extf, "%s/%s.ext", dir, name);
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(cakey, sizeof cakey, "%s/ca.key", dir);
  snprintf(subj, sizeof subj, "/CN=%s", cn);
  snprintf(ser, sizeof ser, "%d", serial);
  if (!write_path(extf, ext)) return false;
  const char *req[] = {OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", key, "-out", csr, "-subj", subj, NULL};
  const char *sign[] = {OPENSSL, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-set_serial", ser,
                        "-days", "2", "-extfile", extf, "-out", pem, NULL};
  const char *todr[] = {OPENSSL, "x509", "-in", pem, "-outform", "DER", "-out", der, NULL};
  return run_openssl(req, log) == 0 && run_openssl(sign, log) == 0 && run_openssl(todr, log) == 0;
}

/* Opens dir/name as certificate fd number k and names it in `path`. */
static bool keep_open(const char *dir, const char *name, int k, char *path, size_t len) {
  char p[128];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  g_keep[k] = open(p, O_RDONLY | O_CLOEXEC);
  if (g_keep[k] < 0) return false;
  snprintf(path, len, "/proc/self/fd/%d", g_keep[k]);
  return true;
}

static bool generate(const char *dir, int log) {
  char ca[128], cakey[128], der[128];
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(cakey, sizeof cakey, "%s/ca.key", dir);
  const char *mkca[] = {OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", cakey, "-out", ca, "-days", "2", "-subj", "/CN=eddy-test-ca",
                        "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign", NULL};
  if (run_openssl(mkca, log) != 0) return false;
  if (!make_leaf(dir, "server", "localhost", 2,
                 "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                 "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
                 log))
    return false;
  if (!make_leaf(dir, "client", "eddy-test-client", 3,
                 "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                 "extendedKeyUsage=clientAuth\n",
                 log))
    return false;
  snprintf(der, sizeof der, "%s/server.der", dir);
  g_srv_der_len = read_path(der, g_srv_der, sizeof g_srv_der);
  snprintf(der, sizeof der, "%s/client.der", dir);
  g_cli_der_len = read_path(der, g_cli_der, sizeof g_cli_der);
  return g_srv_der_len > 100 && g_srv_der_len < sizeof g_srv_der && g_cli_der_len > 100 &&
         g_cli_der_len < sizeof g_cli_der && keep_open(dir, "ca.pem", 0, g_ca, sizeof g_ca) &&
         keep_open(dir, "server.pem", 1, g_srv_cert, sizeof g_srv_cert) &&
         keep_open(dir, "server.key", 2, g_srv_key, sizeof g_srv_key) &&
         keep_open(dir, "client.pem", 3, g_cli_cert, sizeof g_cli_cert) &&
         keep_open(dir, "client.key", 4, g_cli_key, sizeof g_cli_key);
}

__attribute__((constructor)) static void make_certificates(void) {
  pattern_init();
  char dir[] = "/tmp/eddy-tls-test-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    snprintf(g_genlog, sizeof g_genlog, "mkdtemp: %s", strerror(errno));
    return;
  }
  int log = anon_file();
  g_certs_ok = log >= 0 && generate(dir, log);
  if (log >= 0) {
    size_t n = pread_all(log, g_genlog, sizeof g_genlog - 1);
    g_genlog[n] = '\0';
    close(log);
  }
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
  }
  rmdir(dir);
}

static void need_certs(void) {
  if (!g_certs_ok) HARNESS_FAIL("could not generate test certificates with %s:\n%s", OPENSSL, g_genlog);
}

/* ----------------------------------------------------------- tls configs */

/* A client config trusting the test CA (and the system's store). */
static eddy_tls_config_t *client_cfg(void) {
  need_certs();
  eddy_tls_config_t *c = NULL;
  CHECK_OK(eddy_tls_config_new_client(&c));
  CHECK(c != NULL);
  CHECK_OK(eddy_tls_config_load_verify_locations(c, g_ca));
  return c;
}

/* A client config trusting only the system's store: not the test CA. */
static eddy_tls_config_t *untrusting_client_cfg(void) {
  need_certs();
  eddy_tls_config_t *c = NULL;
  CHECK_OK(eddy_tls_config_new_client(&c));
  CHECK(c != NULL);
  return c;
}

static eddy_tls_config_t *server_cfg(void) {
  need_certs();
  eddy_tls_config_t *c = NULL;
  CHECK_OK(eddy_tls_config_new_server(g_srv_cert, g_srv_key, &c));
  CHECK(c != NULL);
  return c;
}

/* --------------------------------------------------- openssl children */

struct child {
  pid_t pid;
  bool exited;
  int status;
  int out; /* its stdout: an anonymous file */
};

static bool c_child_exited(void *a) {
  struct child *c = a;
  if (c->exited) return true;
  int st = 0;
  pid_t r = waitpid(c->pid, &st, WNOHANG);
  if (r == c->pid) {
    c->exited = true;
    c->status = st;
  }
  return c->exited;
}

/* Kills (if still running) and reaps the child, and closes its output. */
static void stop_child(struct child *c) {
  if (!c->exited && c->pid > 0) {
    kill(c->pid, SIGTERM);
    int st = 0;
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR) {
    }
    c->exited = true;
    c->status = st;
  }
  if (c->out >= 0) close(c->out);
  c->out = -1;
}

/* openssl s_server -www with the test's server certificate on 127.0.0.1;
   returns its port once it prints ACCEPT. */
static uint16_t start_s_server(struct child *c) {
  need_certs();
  for (int attempt = 0; attempt < 5; attempt++) {
    memset(c, 0, sizeof *c);
    c->out = anon_file();
    CHECK(c->out >= 0);
    uint16_t port = free_port();
    char accept[32];
    snprintf(accept, sizeof accept, "127.0.0.1:%u", (unsigned)port);
    const char *argv[] = {OPENSSL, "s_server", "-accept", accept, "-cert", g_srv_cert, "-key", g_srv_key, "-www", NULL};
    c->pid = spawn_openssl(argv, -1, c->out, -1);
    CHECK(c->pid > 0);
    double deadline = harness_monotonic() + 10.0;
    while (harness_monotonic() < deadline) {
      char buf[512];
      size_t n = pread_all(c->out, buf, sizeof buf - 1);
      buf[n] = '\0';
      if (strstr(buf, "ACCEPT")) return port;
      if (c_child_exited(c)) break; /* port taken meanwhile: try another */
      harness_sleep(0.005);
    }
    stop_child(c);
  }
  HARNESS_FAIL("openssl s_server did not start");
}

/* ------------------------------------------------------ recording protocol */

/* The peers record through test_proto.h's protocol (PLAIN, BUFFERED) with a
   brief log: how TLS cuts the stream into reads is not deterministic. A
   mode adds what a peer does with what arrives. */
enum mode {
  M_RECORD,         /* just record */
  M_ECHO,           /* write back what arrives */
  M_REPLY_CLOSE,    /* on a full line: write "echo: <line>" and close */
  M_STARTTLS_SERVER, /* plaintext "STARTTLS\n" -> reply "STARTTLS\n", then start_tls(server_side) */
  M_STARTTLS_CLIENT, /* plaintext "STARTTLS\n" -> start_tls(client side) */
};

struct peer {
  struct rec r; /* first: the protocol's user data is the peer */
  enum mode mode;
  eddy_loop_t *loop;
  bool pause_on_made;
  const uint8_t *send_on_made; /* written at once from connection_made */
  size_t send_on_made_len;
  /* start_tls */
  eddy_tls_config_t *tls;
  eddy_future_t *tls_fut;
  eddy_transport_t *old_t; /* retained */
  int start_tls_rc;
  bool upgraded;
};

static void peer_made(struct rec *r, eddy_transport_t *t) {
  struct peer *p = (struct peer *)r;
  if (p->pause_on_made) eddy_transport_pause_reading(t);
  if (p->send_on_made) rec_write(r, t, p->send_on_made, p->send_on_made_len);
}

static void peer_data(struct rec *r, eddy_transport_t *t, const uint8_t *data, size_t len) {
  struct peer *p = (struct peer *)r;
  switch (p->mode) {
  case M_RECORD:
    break;
  case M_ECHO:
    rec_write(r, t, data, len);
    break;
  case M_REPLY_CLOSE:
    if (memchr(r->in, '\n', r->nin)) {
      char reply[256];
      int m = snprintf(reply, sizeof reply, "echo: %.*s", (int)r->nin, (const char *)r->in);
      rec_write(r, t, reply, (size_t)m);
      eddy_transport_close(t);
      p->mode = M_RECORD;
    }
    break;
  case M_STARTTLS_SERVER:
  case M_STARTTLS_CLIENT:
    if (!p->upgraded && r->nin == 9 && memcmp(r->in, "STARTTLS\n", 9) == 0) {
      bool server = p->mode == M_STARTTLS_SERVER;
      if (server) rec_write(r, t, "STARTTLS\n", 9);
      p->old_t = t;
      eddy_transport_retain(t);
      p->upgraded = true;
      r->nin = 0;
      logev(r, "starttls");
      p->start_tls_rc = eddy_loop_start_tls(p->loop, t, p->tls, server, server ? NULL : "localhost", 5.0,
                                            &p->tls_fut);
    } else if (p->upgraded && memchr(r->in, '\n', r->nin) && p->mode == M_STARTTLS_SERVER) {
      char reply[256];
      int m = snprintf(reply, sizeof reply, "tls echo: %.*s", (int)r->nin, (const char *)r->in);
      rec_write(r, t, reply, (size_t)m);
      r->nin = 0;
    }
    break;
  }
}

static void peer_init(struct peer *p, eddy_loop_t *loop, enum mode m) {
  memset(p, 0, sizeof *p);
  rec_init(&p->r);
  p->r.brief_log = true;
  p->r.gbuf_len = 1000;
  p->r.on_made = peer_made;
  p->r.on_data = peer_data;
  p->loop = loop;
  p->mode = m;
  p->start_tls_rc = 1;
}

struct want {
  struct peer *p;
  size_t n;
};
static bool c_total(void *a) {
  struct want *w = a;
  return w->p->r.total_in >= w->n || w->p->r.lost > 0;
}
static bool c_line(void *a) {
  struct peer *p = a;
  return memchr(p->r.in, '\n', p->r.nin) != NULL || p->r.lost > 0;
}

/* ------------------------------------------------------------- servers */

struct srv {
  struct peer peers[4];
  int n;
  const eddy_protocol_t *proto;
  struct peer tmpl; /* copied into each new peer */
};

static int factory(void *fud, const eddy_protocol_t **proto, void **ud) {
  struct srv *s = fud;
  if (s->n >= 4) return EDDY_ENOMEM;
  struct peer *p = &s->peers[s->n++];
  memcpy(p, &s->tmpl, sizeof *p);
  *proto = s->proto ? s->proto : &PLAIN;
  *ud = p;
  return 0;
}

static void srv_init(struct srv *s, eddy_loop_t *loop, enum mode m) {
  memset(s, 0, sizeof *s);
  peer_init(&s->tmpl, loop, m);
}

/* A server on 127.0.0.1 (ephemeral port); tls NULL: plain. */
static eddy_server_t *start_server(eddy_loop_t *loop, struct srv *s, eddy_tls_config_t *tls, uint16_t *port) {
  eddy_server_options_t o;
  eddy_server_options_init(&o);
  o.tls = tls;
  eddy_future_t *f = NULL;
  void *ptr = NULL;
  int rc = eddy_loop_create_server(loop, factory, s, "127.0.0.1", 0, &o, &f);
  CHECK_OK(outcome(loop, rc, f, &ptr));
  CHECK(ptr != NULL);
  eddy_server_t *server = ptr;
  eddy_server_retain(server);
  int fd = -1;
  size_t n = 0;
  CHECK_OK(eddy_server_get_sockets(server, &fd, 1, &n));
  CHECK_EQ(n, 1);
  *port = sock_port(fd);
  return server;
}

static void close_server(eddy_loop_t *loop, eddy_server_t *server) {
  CHECK_OK(eddy_server_close(server));
  eddy_server_close_clients(server);
  eddy_future_t *w = NULL;
  CHECK_OK(eddy_server_wait_closed(server, &w));
  CHECK_OK(outcome(loop, 0, w, NULL));
  eddy_server_release(server);
}

/* create_connection to 127.0.0.1:port over TLS (tls NULL: plain);
   returns the outcome; *t gets the transport; msg the error message. */
static int connect_to_msg(eddy_loop_t *loop, const eddy_protocol_t *proto, struct peer *p, uint16_t port,
                          eddy_tls_config_t *tls, const char *server_hostname, double hs_timeout,
                          eddy_transport_t **t, char *msg, size_t msglen) {
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.tls = tls;
  o.server_hostname = server_hostname;
  if (hs_timeout > 0) o.tls_handshake_timeout = hs_timeout;
  eddy_future_t *f = NULL;
  void *ptr = NULL;
  int rc = eddy_loop_create_connection(loop, proto, p, "127.0.0.1", port, &o, &f);
  rc = outcome_at(loop, rc, f, &ptr, msg, msglen, __LINE__);
  if (rc == 0) {
    CHECK(ptr != NULL);
    CHECK(ptr == (void *)p->r.t); /* the transport connection_made got */
    if (t) *t = ptr;
  }
  return rc;
}

static int connect_to(eddy_loop_t *loop, struct peer *p, uint16_t port, eddy_tls_config_t *tls,
                      const char *server_hostname, eddy_transport_t **t) {
  return connect_to_msg(loop, &PLAIN, p, port, tls, server_hostname, 0, t, NULL, 0);
}

/* Extra info as a string: checks NUL termination and that *len counts it. */
static int info_str(eddy_transport_t *t, const char *key, char *buf, size_t cap) {
  size_t len = cap;
  memset(buf, 0x7f, cap);
  int rc = eddy_transport_get_extra_info(t, key, buf, &len);
  if (rc != 0) return rc;
  CHECK(len >= 1 && len <= cap);
  CHECK_EQ(buf[len - 1], '\0');
  CHECK_EQ(strlen(buf), len - 1);
  return 0;
}

static void quiet_exc(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  (void)loop;
  (void)ctx;
  (*(int *)ud)++;
}

/* An eddy TLS echo server and a connected eddy TLS client on one loop. */
struct pair {
  eddy_loop_t *loop;
  struct srv s;
  struct peer c;
  eddy_server_t *server;
  eddy_tls_config_t *scfg, *ccfg;
  eddy_transport_t *ct; /* client side */
  eddy_transport_t *st; /* server side */
  uint16_t port;
};

static void pair_open(struct pair *pr, enum mode server_mode) {
  pr->loop = new_loop();
  srv_init(&pr->s, pr->loop, server_mode);
  pr->scfg = server_cfg();
  pr->ccfg = client_cfg();
  pr->server = start_server(pr->loop, &pr->s, pr->scfg, &pr->port);
  peer_init(&pr->c, pr->loop, M_RECORD);
  CHECK_OK(connect_to(pr->loop, &pr->c, pr->port, pr->ccfg, NULL, &pr->ct));
  CHECK(run_until(pr->loop, c_made, &pr->s.peers[0], 5.0));
  pr->st = pr->s.peers[0].r.t;
}

static void pair_close(struct pair *pr) {
  if (pr->c.r.made && !pr->c.r.lost) {
    eddy_transport_close(pr->ct);
    CHECK(run_until(pr->loop, c_lost, &pr->c, 5.0));
  }
  close_server(pr->loop, pr->server);
  eddy_tls_config_release(pr->scfg);
  eddy_tls_config_release(pr->ccfg);
  close_loop(pr->loop);
}

/* ============================================ eddy client <-> s_server */

TEST(client_fetches_page_from_openssl_s_server) {
  struct child srv;
  uint16_t port = start_s_server(&srv);
  eddy_loop_t *loop = new_loop();
  eddy_tls_config_t *cfg = client_cfg();
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_transport_t *t = NULL;
  char msg[256];
  int rc = connect_to_msg(loop, &PLAIN, &c, port, cfg, "localhost", 0, &t, msg, sizeof msg);
  if (rc != 0) HARNESS_FAIL("connect to s_server: %s (%s)", eddy_err_name(rc), msg);
  CHECK_STR_EQ(c.r.log, "made");

  char v[64];
  CHECK_OK(info_str(t, "tls_version", v, sizeof v));
  CHECK(strcmp(v, "TLSv1.2") == 0 || strcmp(v, "TLSv1.3") == 0);
  char cipher[128];
  CHECK_OK(info_str(t, "cipher", cipher, sizeof cipher));
  CHECK(strlen(cipher) > 0);

  static const char get[] = "GET / HTTP/1.0\r\n\r\n";
  CHECK_OK(eddy_transport_write(t, get, strlen(get)));
  CHECK(run_until(loop, c_lost, &c, 10.0));
  CHECK(c.r.nin > 15);
  CHECK(memcmp(c.r.in, "HTTP/1.0 200 ok", 15) == 0);
  CHECK(memmem(c.r.in, c.r.nin, "</HTML>", 7) != NULL); /* the whole page */
  /* s_server ends with close_notify: EOF, then a clean connection_lost */
  CHECK_STR_EQ(c.r.log, "made,data,eof,lost(0)");

  eddy_tls_config_release(cfg);
  close_loop(loop);
  stop_child(&srv);
}

/* item 146 */
TEST(tls_extra_info_gives_version_cipher_peercert_and_socket_keys) {
  struct child srv;
  uint16_t port = start_s_server(&srv);
  eddy_loop_t *loop = new_loop();
  eddy_tls_config_t *cfg = client_cfg();
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_transport_t *t = NULL;
  CHECK_OK(connect_to(loop, &c, port, cfg, "localhost", &t));

  /* "peercert": the server's leaf certificate, DER, byte for byte */
  uint8_t der[4096];
  size_t len = sizeof der;
  CHECK_OK(eddy_transport_get_extra_info(t, "peercert", der, &len));
  CHECK_EQ(der[0], 0x30);
  CHECK_EQ(len, g_srv_der_len);
  CHECK(memcmp(der, g_srv_der, len) == 0);
  /* too small a buffer: ENOBUFS with the size needed */
  len = 4;
  CHECK_ERR(eddy_transport_get_extra_info(t, "peercert", der, &len), EDDY_ENOBUFS);
  CHECK_EQ(len, g_srv_der_len);

  char v[16];
  CHECK_OK(info_str(t, "tls_version", v, sizeof v));
  len = 3;
  CHECK_ERR(eddy_transport_get_extra_info(t, "tls_version", v, &len), EDDY_ENOBUFS);
  CHECK_EQ(len, strlen(v) + 1);

  /* no ALPN configured: none negotiated */
  len = sizeof v;
  CHECK_ERR(eddy_transport_get_extra_info(t, "alpn_protocol", v, &len), EDDY_ENOENT);
  len = sizeof v;
  CHECK_ERR(eddy_transport_get_extra_info(t, "no-such-key", v, &len), EDDY_ENOENT);

  /* other keys fall through to the socket's */
  int fd = -1;
  len = sizeof fd;
  CHECK_OK(eddy_transport_get_extra_info(t, "socket", &fd, &len));
  CHECK_EQ(len, sizeof(int));
  CHECK(fd >= 0);
  struct sockaddr_in peer;
  len = sizeof peer;
  CHECK_OK(eddy_transport_get_extra_info(t, "peername", &peer, &len));
  CHECK_EQ(peer.sin_family, AF_INET);
  CHECK_EQ(ntohs(peer.sin_port), port);
  struct sockaddr_in local;
  socklen_t slen = sizeof local;
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&local, &slen), 0);
  struct sockaddr_in sn;
  len = sizeof sn;
  CHECK_OK(eddy_transport_get_extra_info(t, "sockname", &sn, &len));
  CHECK_EQ(ntohs(sn.sin_port), ntohs(local.sin_port));

  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &c, 5.0));
  CHECK_EQ(c.r.lost, 1);
  eddy_tls_config_release(cfg);
  close_loop(loop);
  stop_child(&srv);
}

/* ============================================ s_client <-> eddy server */

TEST(openssl_s_client_gets_echo_from_eddy_tls_server) {
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_REPLY_CLOSE);
  eddy_tls_config_t *scfg = server_cfg();
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);

  char connect[32];
  struct child cl;
  memset(&cl, 0, sizeof cl);
  int in = anon_file();
  CHECK(in >= 0);
  CHECK_EQ(write(in, "hello eddy\n", 11), 11);
  CHECK_EQ(lseek(in, 0, SEEK_SET), 0);
  cl.out = anon_file();
  CHECK(cl.out >= 0);
  snprintf(connect, sizeof connect, "127.0.0.1:%u", (unsigned)port);
  const char *argv[] = {OPENSSL, "s_client", "-connect", connect, "-servername", "localhost", "-CAfile", g_ca,
                        "-verify_return_error", "-quiet", NULL};
  cl.pid = spawn_openssl(argv, in, cl.out, -1);
  CHECK(cl.pid > 0);

  CHECK(run_until(loop, c_child_exited, &cl, 20.0));
  char out[512];
  size_t n = pread_all(cl.out, out, sizeof out - 1);
  out[n] = '\0';
  close(in);
  stop_child(&cl);
  CHECK_STR_EQ(out, "echo: hello eddy\n");
  CHECK(WIFEXITED(cl.status));
  CHECK_EQ(WEXITSTATUS(cl.status), 0); /* -verify_return_error: it verified us */

  CHECK_EQ(s.n, 1);
  struct peer *p = &s.peers[0];
  CHECK(run_until(loop, c_lost, p, 5.0));
  CHECK_EQ(p->r.made, 1);
  CHECK_EQ(p->r.lost, 1);
  CHECK_STR_EQ(p->r.log, "made,data,lost(0)");

  close_server(loop, server);
  eddy_tls_config_release(scfg);
  close_loop(loop);
}

/* ============================================ eddy <-> eddy */

TEST(eddy_client_and_eddy_server_exchange_data_in_one_loop) {
  struct pair pr;
  pair_open(&pr, M_ECHO);
  struct peer *sp = &pr.s.peers[0];
  CHECK_EQ(pr.s.n, 1);
  CHECK_STR_EQ(pr.c.r.log, "made");
  CHECK_STR_EQ(sp->r.log, "made");

  char v[16], sv[16];
  CHECK_OK(info_str(pr.ct, "tls_version", v, sizeof v));
  CHECK_OK(info_str(pr.st, "tls_version", sv, sizeof sv));
  CHECK(strcmp(v, "TLSv1.2") == 0 || strcmp(v, "TLSv1.3") == 0);
  CHECK_STR_EQ(v, sv);
  char c1[128], c2[128];
  CHECK_OK(info_str(pr.ct, "cipher", c1, sizeof c1));
  CHECK_OK(info_str(pr.st, "cipher", c2, sizeof c2));
  CHECK_STR_EQ(c1, c2);
  /* the server got no client certificate */
  uint8_t der[4096];
  size_t len = sizeof der;
  CHECK_ERR(eddy_transport_get_extra_info(pr.st, "peercert", der, &len), EDDY_ENOENT);

  static const char hello[] = "hello over tls\n";
  CHECK_OK(eddy_transport_write(pr.ct, hello, strlen(hello)));
  struct want w = {&pr.c, strlen(hello)};
  CHECK(run_until(pr.loop, c_total, &w, 5.0));
  CHECK_EQ(pr.c.r.nin, strlen(hello));
  CHECK(memcmp(pr.c.r.in, hello, strlen(hello)) == 0);
  CHECK_EQ(sp->r.nin, strlen(hello));
  CHECK(sp->r.data_t == pr.st);
  CHECK(pr.c.r.data_t == pr.ct);
  pair_close(&pr);
}

/* item 147 */
TEST(tls_transport_write_limits_default_to_128k_512k) {
  struct pair pr;
  pair_open(&pr, M_ECHO);
  size_t low = 0, high = 0;
  CHECK_OK(eddy_transport_get_write_buffer_limits(pr.ct, &low, &high));
  CHECK_EQ(low, 131072);
  CHECK_EQ(high, 524288);
  CHECK_OK(eddy_transport_get_write_buffer_limits(pr.st, &low, &high));
  CHECK_EQ(low, 131072);
  CHECK_EQ(high, 524288);
  pair_close(&pr);
}

/* items 147, 57, 80-81 */
TEST(sixteen_mib_each_way_arrive_intact_with_flow_control) {
  uint8_t *big = pattern_buffer(BIG);
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_RECORD);
  s.tmpl.r.check_pattern = true;
  s.tmpl.pause_on_made = true; /* not reading until told */
  s.tmpl.send_on_made = big;   /* and writing 16 MiB at once */
  s.tmpl.send_on_made_len = BIG;
  eddy_tls_config_t *scfg = server_cfg(), *ccfg = client_cfg();
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  c.r.check_pattern = true;
  eddy_transport_t *t = NULL;
  CHECK_OK(connect_to(loop, &c, port, ccfg, NULL, &t));
  CHECK(run_until(loop, c_made, &s.peers[0], 5.0));
  struct peer *sp = &s.peers[0];
  /* pause_writing ran inside the server's 16 MiB write */
  CHECK_EQ(sp->r.pauses, 1);
  CHECK_EQ(sp->r.pauses_in_write, 1);

  /* 16 MiB at once to a peer that does not read */
  c.r.in_write = true;
  CHECK_OK(eddy_transport_write(t, big, BIG));
  c.r.in_write = false;
  CHECK_EQ(c.r.pauses, 1);
  CHECK_EQ(c.r.pauses_in_write, 1);
  CHECK(eddy_transport_get_write_buffer_size(t) >= 524288);
  run_for(loop, 0.05);
  CHECK_EQ(c.r.resumes, 0);
  CHECK(eddy_transport_get_write_buffer_size(t) >= 524288);
  CHECK_EQ(sp->r.total_in, 0);

  CHECK_OK(eddy_transport_resume_reading(sp->r.t));
  struct want ws = {sp, BIG}, wc = {&c, BIG};
  CHECK(run_until(loop, c_total, &ws, 60.0));
  CHECK(run_until(loop, c_total, &wc, 60.0));
  CHECK_EQ(sp->r.total_in, BIG);
  CHECK_EQ(c.r.total_in, BIG);
  CHECK_EQ(sp->r.bad, 0);
  CHECK_EQ(c.r.bad, 0);
  CHECK_EQ(c.r.resumes, 1);
  CHECK_EQ(sp->r.resumes, 1);
  CHECK_EQ(eddy_transport_get_write_buffer_size(t), 0);
  CHECK_EQ(sp->r.lost, 0);
  CHECK_EQ(c.r.lost, 0);

  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &c, 10.0));
  CHECK(run_until(loop, c_lost, sp, 10.0));
  CHECK_EQ(c.r.lost_err, 0);
  CHECK_EQ(sp->r.lost_err, 0);
  close_server(loop, server);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
  free(big);
}

/* items 56, 85, 88: a BufferedProtocol over TLS */
TEST(buffered_protocol_receives_tls_data_through_get_buffer) {
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_RECORD);
  s.proto = &BUFFERED;
  s.tmpl.r.check_pattern = true;
  eddy_tls_config_t *scfg = server_cfg(), *ccfg = client_cfg();
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_transport_t *t = NULL;
  CHECK_OK(connect_to(loop, &c, port, ccfg, NULL, &t));
  const size_t n = 100000;
  uint8_t *data = pattern_buffer(n);
  CHECK_OK(eddy_transport_write(t, data, n));
  CHECK(run_until(loop, c_made, &s.peers[0], 5.0));
  struct peer *sp = &s.peers[0];
  struct want w = {sp, n};
  CHECK(run_until(loop, c_total, &w, 10.0));
  CHECK_EQ(sp->r.total_in, n);
  CHECK_EQ(sp->r.bad, 0);
  CHECK_EQ(sp->r.datas, 0); /* get_buffer replaces data_received */
  CHECK(sp->r.gbs >= (int)(n / sp->r.gbuf_len));
  CHECK(sp->r.bus >= (int)(n / sp->r.gbuf_len));
  CHECK(sp->r.max_update <= sp->r.gbuf_len);
  CHECK(sp->r.max_update > 0);

  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, sp, 5.0));
  CHECK_STR_EQ(sp->r.log, "made,buf,eof,lost(0)");
  CHECK(run_until(loop, c_lost, &c, 5.0));
  close_server(loop, server);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
  free(data);
}

/* item 146 */
TEST(close_sends_close_notify_peer_sees_eof_then_connection_lost) {
  struct pair pr;
  pair_open(&pr, M_RECORD);
  struct peer *sp = &pr.s.peers[0];
  CHECK_OK(eddy_transport_write(pr.ct, "bye\n", 4));
  CHECK_OK(eddy_transport_close(pr.ct));
  CHECK_EQ(eddy_transport_is_closing(pr.ct), 1);
  CHECK_EQ(pr.c.r.lost, 0); /* never inside close() */
  CHECK(run_until(pr.loop, c_lost, sp, 5.0));
  CHECK_STR_EQ(sp->r.log, "made,data,eof,lost(0)");
  CHECK_EQ(sp->r.nin, 4);
  CHECK(run_until(pr.loop, c_lost, &pr.c, 5.0));
  CHECK_STR_EQ(pr.c.r.log, "made,lost(0)");
  pair_close(&pr);
}

/* item 146 */
TEST(server_close_sends_close_notify_client_sees_eof_then_connection_lost) {
  struct pair pr;
  pair_open(&pr, M_RECORD);
  struct peer *sp = &pr.s.peers[0];
  CHECK_OK(eddy_transport_close(pr.st));
  CHECK(run_until(pr.loop, c_lost, &pr.c, 5.0));
  CHECK_STR_EQ(pr.c.r.log, "made,eof,lost(0)");
  CHECK(run_until(pr.loop, c_lost, sp, 5.0));
  CHECK_STR_EQ(sp->r.log, "made,lost(0)");
  pair_close(&pr);
}

/* item 146 */
TEST(tls_transport_cannot_write_eof) {
  struct pair pr;
  pair_open(&pr, M_ECHO);
  CHECK_EQ(eddy_transport_can_write_eof(pr.ct), 0);
  CHECK_EQ(eddy_transport_can_write_eof(pr.st), 0);
  CHECK_ERR(eddy_transport_write_eof(pr.ct), EDDY_ENOTSUP);
  CHECK_ERR(eddy_transport_write_eof(pr.st), EDDY_ENOTSUP);
  /* the transport still works */
  CHECK_OK(eddy_transport_write(pr.ct, "x\n", 2));
  struct want w = {&pr.c, 2};
  CHECK(run_until(pr.loop, c_total, &w, 5.0));
  CHECK_EQ(pr.c.r.nin, 2);
  CHECK_EQ(pr.s.peers[0].r.eofs, 0);
  pair_close(&pr);
}

/* ============================================ ALPN */

TEST(alpn_negotiates_the_protocol_both_sides_support) {
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_RECORD);
  eddy_tls_config_t *scfg = server_cfg(), *ccfg = client_cfg();
  const char *offer[] = {"h2", "http/1.1"};
  const char *accept[] = {"http/1.1"};
  CHECK_OK(eddy_tls_config_set_alpn_protocols(ccfg, offer, 2));
  CHECK_OK(eddy_tls_config_set_alpn_protocols(scfg, accept, 1));
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_transport_t *t = NULL;
  CHECK_OK(connect_to(loop, &c, port, ccfg, NULL, &t));
  CHECK(run_until(loop, c_made, &s.peers[0], 5.0));
  char a[32];
  CHECK_OK(info_str(t, "alpn_protocol", a, sizeof a));
  CHECK_STR_EQ(a, "http/1.1");
  size_t len = sizeof a;
  CHECK_OK(eddy_transport_get_extra_info(t, "alpn_protocol", a, &len));
  CHECK_EQ(len, 9);
  CHECK_OK(info_str(s.peers[0].r.t, "alpn_protocol", a, sizeof a));
  CHECK_STR_EQ(a, "http/1.1");

  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &c, 5.0));
  close_server(loop, server);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

TEST(no_alpn_configured_gives_enoent_on_both_sides) {
  struct pair pr;
  pair_open(&pr, M_RECORD);
  char a[32];
  size_t len = sizeof a;
  CHECK_ERR(eddy_transport_get_extra_info(pr.ct, "alpn_protocol", a, &len), EDDY_ENOENT);
  len = sizeof a;
  CHECK_ERR(eddy_transport_get_extra_info(pr.st, "alpn_protocol", a, &len), EDDY_ENOENT);
  pair_close(&pr);
}

TEST(set_alpn_protocols_rejects_an_empty_name) {
  eddy_tls_config_t *c = client_cfg();
  const char *bad[] = {"http/1.1", ""};
  CHECK_ERR(eddy_tls_config_set_alpn_protocols(c, bad, 2), EDDY_EINVAL);
  const char *nul[] = {NULL};
  CHECK_ERR(eddy_tls_config_set_alpn_protocols(c, nul, 1), EDDY_EINVAL);
  CHECK_ERR(eddy_tls_config_set_alpn_protocols(NULL, bad, 1), EDDY_EINVAL);
  eddy_tls_config_release(c);
}

/* docs/api.md section 10: "changing a config affects only connections made afterwards";
   connections and servers keep their own reference. */
TEST(connections_keep_their_config_and_see_later_changes_only_when_new) {
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_RECORD);
  eddy_tls_config_t *scfg = server_cfg(), *ccfg = client_cfg();
  eddy_tls_config_retain(scfg);
  eddy_tls_config_retain(ccfg);
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);
  eddy_tls_config_release(scfg); /* the server keeps its own reference */

  struct peer c1, c2;
  peer_init(&c1, loop, M_RECORD);
  peer_init(&c2, loop, M_RECORD);
  eddy_transport_t *t1 = NULL, *t2 = NULL;
  CHECK_OK(connect_to(loop, &c1, port, ccfg, NULL, &t1));

  const char *alpn[] = {"http/1.1"};
  CHECK_OK(eddy_tls_config_set_alpn_protocols(ccfg, alpn, 1));
  CHECK_OK(eddy_tls_config_set_alpn_protocols(scfg, alpn, 1));
  eddy_tls_config_release(scfg); /* ours is gone; the server's remains */

  /* release the client's config while the connection is being made */
  eddy_connection_options_t o;
  eddy_connection_options_init(&o);
  o.tls = ccfg;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &PLAIN, &c2, "127.0.0.1", port, &o, &f));
  eddy_tls_config_release(ccfg);
  eddy_tls_config_release(ccfg);
  void *ptr = NULL;
  CHECK_OK(outcome(loop, 0, f, &ptr));
  t2 = ptr;
  CHECK(t2 != NULL);

  char a[32];
  size_t len = sizeof a;
  CHECK_ERR(eddy_transport_get_extra_info(t1, "alpn_protocol", a, &len), EDDY_ENOENT);
  CHECK_OK(info_str(t2, "alpn_protocol", a, sizeof a));
  CHECK_STR_EQ(a, "http/1.1");

  CHECK_OK(eddy_transport_close(t1));
  CHECK_OK(eddy_transport_close(t2));
  CHECK(run_until(loop, c_lost, &c1, 5.0));
  CHECK(run_until(loop, c_lost, &c2, 5.0));
  close_server(loop, server);
  close_loop(loop);
}

/* ============================================ verification failures */

/* Runs a failing client connect against an eddy TLS server and checks the
   failure is clean: no callbacks on the client protocol, no socket left. */
static void check_connect_fails(eddy_tls_config_t *ccfg, const char *server_hostname, int want, const char *needle) {
  eddy_loop_t *loop = new_loop();
  int exc = 0;
  CHECK_OK(eddy_loop_set_exception_handler(loop, quiet_exc, &exc));
  struct srv s;
  srv_init(&s, loop, M_RECORD);
  eddy_tls_config_t *scfg = server_cfg();
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);
  int base = count_sockets();
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  char msg[512];
  int rc = connect_to_msg(loop, &PLAIN, &c, port, ccfg, server_hostname, 0, NULL, msg, sizeof msg);
  CHECK_ERR(rc, want);
  if (needle && !strcasestr(msg, needle))
    HARNESS_FAIL("error message \"%s\" does not mention \"%s\"", msg, needle);
  if (needle && !strcasestr(msg, "verif"))
    HARNESS_FAIL("error message \"%s\" does not mention verification", msg);
  struct sockwant sw = {base};
  CHECK(run_until(loop, c_sockets_at_most, &sw, 5.0));
  CHECK_EQ(count_sockets(), base);
  run_for(loop, 0.02);
  /* item 56: the app protocol saw nothing (asyncio's SSLProtocol calls
     the app's connection_lost only after its connection_made) */
  CHECK_STR_EQ(c.r.log, "");
  /* the server never handed the failed handshake to a protocol */
  CHECK(s.n == 0 || s.peers[0].r.made == 0);
  close_server(loop, server);
  eddy_tls_config_release(scfg);
  close_loop(loop);
}

/* item 56 */
TEST(wrong_hostname_fails_with_etls_naming_certificate_verification) {
  eddy_tls_config_t *c = client_cfg();
  check_connect_fails(c, "wrong.example", EDDY_ETLS, "certificate");
  eddy_tls_config_release(c);
}

/* item 56 */
TEST(untrusted_certificate_fails_with_etls) {
  eddy_tls_config_t *c = untrusting_client_cfg();
  check_connect_fails(c, "localhost", EDDY_ETLS, "certificate");
  eddy_tls_config_release(c);
}

/* docs/api.md section 10: an IP address is checked against the IP SANs: the server
   certificate has IP:127.0.0.1, so host "127.0.0.1" with no server_hostname
   verifies (pair_open connects that way); "localhost" as the name too. */
TEST(server_hostname_defaults_to_host_and_names_match_dns_sans) {
  struct pair pr;
  pair_open(&pr, M_RECORD); /* host 127.0.0.1, no server_hostname */
  struct peer c2;
  peer_init(&c2, pr.loop, M_RECORD);
  eddy_transport_t *t2 = NULL;
  CHECK_OK(connect_to(pr.loop, &c2, pr.port, pr.ccfg, "localhost", &t2));
  CHECK_OK(eddy_transport_close(t2));
  CHECK(run_until(pr.loop, c_lost, &c2, 5.0));
  pair_close(&pr);
}

TEST(set_verify_false_connects_despite_untrusted_certificate) {
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_ECHO);
  eddy_tls_config_t *scfg = server_cfg(), *ccfg = untrusting_client_cfg();
  CHECK_OK(eddy_tls_config_set_verify(ccfg, false));
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_transport_t *t = NULL;
  char msg[256];
  int rc = connect_to_msg(loop, &PLAIN, &c, port, ccfg, "wrong.example", 0, &t, msg, sizeof msg);
  if (rc != 0) HARNESS_FAIL("connect with verify off: %s (%s)", eddy_err_name(rc), msg);
  CHECK_OK(eddy_transport_write(t, "ping\n", 5));
  struct want w = {&c, 5};
  CHECK(run_until(loop, c_total, &w, 5.0));
  CHECK_EQ(c.r.nin, 5);
  CHECK(memcmp(c.r.in, "ping\n", 5) == 0);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &c, 5.0));
  close_server(loop, server);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

/* ============================================ mutual TLS */

static eddy_tls_config_t *mtls_server_cfg(void) {
  eddy_tls_config_t *c = server_cfg();
  CHECK_OK(eddy_tls_config_set_verify(c, true));
  CHECK_OK(eddy_tls_config_load_verify_locations(c, g_ca));
  return c;
}

TEST(mutual_tls_refuses_a_client_without_certificate) {
  eddy_loop_t *loop = new_loop();
  int exc = 0;
  CHECK_OK(eddy_loop_set_exception_handler(loop, quiet_exc, &exc));
  struct srv s;
  srv_init(&s, loop, M_ECHO);
  eddy_tls_config_t *scfg = mtls_server_cfg(), *ccfg = client_cfg();
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);
  int base = count_sockets();
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_transport_t *t = NULL;
  char msg[256];
  int rc = connect_to_msg(loop, &PLAIN, &c, port, ccfg, NULL, 0, &t, msg, sizeof msg);
  if (rc == 0) {
    /* TLS 1.3: the client finishes first and learns of the refusal from
       the server's alert: the connection is lost with an error */
    eddy_transport_write(t, "x\n", 2);
    CHECK(run_until(loop, c_lost, &c, 5.0));
    CHECK_EQ(c.r.lost, 1);
    CHECK_ERR(c.r.lost_err, EDDY_ETLS);
    CHECK_EQ(c.r.nin, 0); /* nothing echoed */
  } else {
    CHECK_ERR(rc, EDDY_ETLS);
    run_for(loop, 0.02);
    CHECK_STR_EQ(c.r.log, "");
  }
  struct sockwant sw = {base};
  CHECK(run_until(loop, c_sockets_at_most, &sw, 5.0));
  /* the server side never reached its protocol */
  CHECK(s.n == 0 || s.peers[0].r.made == 0);
  close_server(loop, server);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

TEST(mutual_tls_accepts_a_client_with_certificate) {
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_ECHO);
  eddy_tls_config_t *scfg = mtls_server_cfg(), *ccfg = client_cfg();
  CHECK_OK(eddy_tls_config_set_certificate(ccfg, g_cli_cert, g_cli_key));
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, scfg, &port);
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_transport_t *t = NULL;
  char msg[256];
  int rc = connect_to_msg(loop, &PLAIN, &c, port, ccfg, NULL, 0, &t, msg, sizeof msg);
  if (rc != 0) HARNESS_FAIL("mutual TLS connect: %s (%s)", eddy_err_name(rc), msg);
  CHECK_OK(eddy_transport_write(t, "x\n", 2));
  struct want w = {&c, 2};
  CHECK(run_until(loop, c_total, &w, 5.0));
  CHECK_EQ(c.r.nin, 2);
  CHECK_EQ(c.r.lost, 0);
  CHECK_EQ(s.n, 1);
  /* the server sees the client's certificate */
  uint8_t der[4096];
  size_t len = sizeof der;
  CHECK_OK(eddy_transport_get_extra_info(s.peers[0].r.t, "peercert", der, &len));
  CHECK_EQ(der[0], 0x30);
  CHECK_EQ(len, g_cli_der_len);
  CHECK(memcmp(der, g_cli_der, len) == 0);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &c, 5.0));
  close_server(loop, server);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

/* ============================================ handshake timeout */

/* items 145, 56 */
TEST(handshake_timeout_fails_future_with_etimedout_and_closes_socket) {
  need_certs();
  eddy_loop_t *loop = new_loop();
  int exc = 0;
  CHECK_OK(eddy_loop_set_exception_handler(loop, quiet_exc, &exc));
  int l = tcp_listener(true); /* completes TCP, never speaks */
  int base = count_sockets();
  eddy_tls_config_t *ccfg = client_cfg();
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  double t0 = harness_monotonic();
  char msg[256];
  int rc = connect_to_msg(loop, &PLAIN, &c, sock_port(l), ccfg, "localhost", 0.2, NULL, msg, sizeof msg);
  double took = harness_monotonic() - t0;
  CHECK_ERR(rc, -ETIMEDOUT);
  CHECK(took >= 0.15);
  CHECK(took < 3.0);
  struct sockwant sw = {base};
  CHECK(run_until(loop, c_sockets_at_most, &sw, 2.0));
  CHECK_EQ(count_sockets(), base);
  /* item 56: the app protocol saw nothing (asyncio's SSLProtocol calls
     the app's connection_lost only after its connection_made) */
  CHECK_STR_EQ(c.r.log, "");
  eddy_tls_config_release(ccfg);
  close_loop(loop);
  close(l);
}

/* ============================================ start_tls */

/* Both peers called start_tls and their futures are done (or the call
   itself failed). */
static bool c_both_upgraded(void *a) {
  struct peer **pp = a;
  for (int i = 0; i < 2; i++) {
    struct peer *p = pp[i];
    if (p->start_tls_rc < 0) continue;
    if (p->start_tls_rc == 1 || !p->tls_fut || !eddy_future_done(p->tls_fut)) return false;
  }
  return true;
}

/* items 143, 144 */
TEST(start_tls_after_plaintext_starttls_greeting) {
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_STARTTLS_SERVER);
  eddy_tls_config_t *scfg = server_cfg(), *ccfg = client_cfg();
  s.tmpl.tls = scfg;
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, NULL, &port); /* plain */
  struct peer c;
  peer_init(&c, loop, M_STARTTLS_CLIENT);
  c.tls = ccfg;
  eddy_transport_t *plain = NULL;
  CHECK_OK(connect_to(loop, &c, port, NULL, NULL, &plain));
  CHECK_OK(eddy_transport_write(plain, "STARTTLS\n", 9));
  CHECK(run_until(loop, c_made, &s.peers[0], 5.0));
  struct peer *sp = &s.peers[0];
  struct peer *both[2] = {&c, sp};
  CHECK(run_until(loop, c_both_upgraded, both, 10.0));
  CHECK_OK(c.start_tls_rc);
  CHECK_OK(sp->start_tls_rc);

  void *ptr = NULL;
  CHECK_OK(outcome(loop, 0, c.tls_fut, &ptr));
  eddy_transport_t *ct = ptr;
  ptr = NULL;
  CHECK_OK(outcome(loop, 0, sp->tls_fut, &ptr));
  eddy_transport_t *st = ptr;
  c.tls_fut = sp->tls_fut = NULL;
  CHECK(ct != NULL && st != NULL);
  CHECK(ct != plain);
  CHECK(c.old_t == plain);
  CHECK(st != sp->old_t);

  /* the protocol carried over: no second connection_made */
  CHECK_EQ(c.r.made, 1);
  CHECK_EQ(sp->r.made, 1);
  const eddy_protocol_t *proto = NULL;
  void *ud = NULL;
  CHECK_OK(eddy_transport_get_protocol(ct, &proto, &ud));
  CHECK(proto == &PLAIN && ud == &c);
  CHECK_OK(eddy_transport_get_protocol(st, &proto, &ud));
  CHECK(proto == &PLAIN && ud == sp);
  /* the old transports are handed over: not the app's protocol anymore */
  proto = NULL;
  ud = NULL;
  int grc = eddy_transport_get_protocol(c.old_t, &proto, &ud);
  CHECK(grc != 0 || (proto != &PLAIN && ud != (void *)&c));
  grc = eddy_transport_get_protocol(sp->old_t, &proto, &ud);
  CHECK(grc != 0 || (proto != &PLAIN && ud != (void *)sp));

  char v[16];
  CHECK_OK(info_str(ct, "tls_version", v, sizeof v));
  CHECK(strcmp(v, "TLSv1.2") == 0 || strcmp(v, "TLSv1.3") == 0);
  uint8_t der[4096];
  size_t len = sizeof der;
  CHECK_OK(eddy_transport_get_extra_info(ct, "peercert", der, &len));
  CHECK_EQ(len, g_srv_der_len);
  CHECK(memcmp(der, g_srv_der, len) == 0);

  /* data over TLS, through the same protocols */
  CHECK_OK(eddy_transport_write(ct, "secret\n", 7));
  CHECK(run_until(loop, c_line, &c, 5.0));
  CHECK_EQ(c.r.nin, 17);
  CHECK(memcmp(c.r.in, "tls echo: secret\n", 17) == 0);
  CHECK(c.r.data_t == ct);
  CHECK(sp->r.data_t == st);

  CHECK_OK(eddy_transport_close(ct));
  CHECK(run_until(loop, c_lost, &c, 5.0));
  CHECK(run_until(loop, c_lost, sp, 5.0));
  CHECK_STR_EQ(c.r.log, "made,data,starttls,data,lost(0)");
  CHECK_STR_EQ(sp->r.log, "made,data,starttls,data,eof,lost(0)");
  /* closing the app transport closed the old one */
  CHECK_EQ(eddy_transport_is_closing(c.old_t), 1);
  CHECK_EQ(eddy_transport_is_closing(sp->old_t), 1);
  eddy_transport_release(c.old_t);
  eddy_transport_release(sp->old_t);

  close_server(loop, server);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

/* docs/api.md section 10: on failure the underlying connection is closed */
TEST(start_tls_verification_failure_fails_with_etls_and_closes_connection) {
  eddy_loop_t *loop = new_loop();
  int exc = 0;
  CHECK_OK(eddy_loop_set_exception_handler(loop, quiet_exc, &exc));
  struct srv s;
  srv_init(&s, loop, M_STARTTLS_SERVER);
  eddy_tls_config_t *scfg = server_cfg(), *ccfg = untrusting_client_cfg();
  s.tmpl.tls = scfg;
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, NULL, &port);
  int base = count_sockets();
  struct peer c;
  peer_init(&c, loop, M_STARTTLS_CLIENT);
  c.tls = ccfg;
  eddy_transport_t *plain = NULL;
  CHECK_OK(connect_to(loop, &c, port, NULL, NULL, &plain));
  CHECK_OK(eddy_transport_write(plain, "STARTTLS\n", 9));
  CHECK(run_until(loop, c_made, &s.peers[0], 5.0));
  struct peer *sp = &s.peers[0];
  struct peer *both[2] = {&c, sp};
  CHECK(run_until(loop, c_both_upgraded, both, 10.0));
  CHECK_OK(c.start_tls_rc);
  char msg[256];
  CHECK_ERR(outcome_msg(loop, 0, c.tls_fut, NULL, msg), EDDY_ETLS);
  if (!strcasestr(msg, "certificate")) HARNESS_FAIL("error message \"%s\" does not mention the certificate", msg);
  c.tls_fut = NULL;
  if (sp->start_tls_rc == 0) {
    int src = outcome(loop, 0, sp->tls_fut, NULL);
    CHECK(src != 0); /* the client gave up: the server's handshake fails too */
    sp->tls_fut = NULL;
  }
  CHECK_EQ(eddy_transport_is_closing(plain), 1);
  struct sockwant sw = {base};
  CHECK(run_until(loop, c_sockets_at_most, &sw, 5.0));
  CHECK_EQ(c.r.made, 1);
  eddy_transport_release(c.old_t);
  eddy_transport_release(sp->old_t);
  close_server(loop, server);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

/* item 145: a negative handshake timeout is EINVAL; the transport is
   untouched and still plain. */
TEST(start_tls_rejects_negative_handshake_timeout) {
  eddy_loop_t *loop = new_loop();
  struct srv s;
  srv_init(&s, loop, M_RECORD);
  uint16_t port = 0;
  eddy_server_t *server = start_server(loop, &s, NULL, &port);
  eddy_tls_config_t *ccfg = client_cfg();
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_transport_t *t = NULL;
  CHECK_OK(connect_to(loop, &c, port, NULL, NULL, &t));
  eddy_future_t *f = NULL;
  int rc = eddy_loop_start_tls(loop, t, ccfg, false, "localhost", -1.0, &f);
  CHECK_ERR(outcome(loop, rc, f, NULL), EDDY_EINVAL);
  /* still the same plain transport with the same protocol */
  const eddy_protocol_t *proto = NULL;
  void *ud = NULL;
  CHECK_OK(eddy_transport_get_protocol(t, &proto, &ud));
  CHECK(proto == &PLAIN && ud == &c);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  CHECK_OK(eddy_transport_write(t, "plain\n", 6));
  CHECK(run_until(loop, c_made, &s.peers[0], 5.0));
  CHECK(run_until(loop, c_line, &s.peers[0], 5.0));
  CHECK_EQ(s.peers[0].r.nin, 6);
  CHECK(memcmp(s.peers[0].r.in, "plain\n", 6) == 0);
  CHECK_OK(eddy_transport_close(t));
  CHECK(run_until(loop, c_lost, &c, 5.0));
  close_server(loop, server);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

/* item 142: pipes are not start_tls-compatible */
TEST(start_tls_on_a_pipe_transport_is_einval) {
  eddy_loop_t *loop = new_loop();
  eddy_tls_config_t *ccfg = client_cfg();
  int fds[2];
  CHECK_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  eddy_future_t *f = NULL;
  void *ptr = NULL;
  int prc = eddy_loop_connect_read_pipe(loop, &PLAIN, &c, fds[0], &f);
  CHECK_OK(outcome(loop, prc, f, &ptr));
  eddy_transport_t *t = ptr;
  CHECK(t != NULL);
  f = NULL;
  int rc = eddy_loop_start_tls(loop, t, ccfg, false, "localhost", 0, &f);
  CHECK_ERR(outcome(loop, rc, f, NULL), EDDY_EINVAL);
  CHECK_EQ(eddy_transport_is_closing(t), 0);
  CHECK_EQ(write(fds[1], "p\n", 2), 2);
  CHECK(run_until(loop, c_line, &c, 5.0));
  CHECK_EQ(c.r.nin, 2);
  close(fds[1]);
  CHECK(run_until(loop, c_lost, &c, 5.0));
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

/* ============================================ argument checks */

TEST(new_server_with_missing_file_returns_negative_errno) {
  need_certs();
  const char *missing = "/nonexistent-eddy-test-dir/no-such-file.pem";
  eddy_tls_config_t *c = NULL;
  CHECK_ERR(eddy_tls_config_new_server(missing, g_srv_key, &c), -ENOENT);
  CHECK(c == NULL);
  CHECK_ERR(eddy_tls_config_new_server(g_srv_cert, missing, &c), -ENOENT);
  CHECK(c == NULL);
  CHECK_ERR(eddy_tls_config_new_server(NULL, g_srv_key, &c), EDDY_EINVAL);
  CHECK(c == NULL);
  eddy_tls_config_t *cl = client_cfg();
  CHECK_ERR(eddy_tls_config_load_verify_locations(cl, missing), -ENOENT);
  CHECK_ERR(eddy_tls_config_set_certificate(cl, missing, g_cli_key), -ENOENT);
  eddy_tls_config_release(cl);
}

TEST(new_server_with_mismatched_key_or_no_certificate_is_etls) {
  need_certs();
  eddy_tls_config_t *c = NULL;
  /* the client's key does not belong to the server's certificate */
  CHECK_ERR(eddy_tls_config_new_server(g_srv_cert, g_cli_key, &c), EDDY_ETLS);
  CHECK(c == NULL);
  /* a key file holds no certificate */
  CHECK_ERR(eddy_tls_config_new_server(g_srv_key, g_srv_key, &c), EDDY_ETLS);
  CHECK(c == NULL);
}

TEST(server_hostname_without_tls_is_einval) {
  eddy_loop_t *loop = new_loop();
  int l = tcp_listener(true);
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  int rc = connect_to_msg(loop, &PLAIN, &c, sock_port(l), NULL, "localhost", 0, NULL, NULL, 0);
  CHECK_ERR(rc, EDDY_EINVAL);
  CHECK_STR_EQ(c.r.log, "");
  /* refused before connecting (asyncio raises before any connect) */
  int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (s >= 0) close(s);
  CHECK(s < 0);
  close_loop(loop);
  close(l);
}

TEST(server_config_as_client_tls_is_einval) {
  eddy_loop_t *loop = new_loop();
  int l = tcp_listener(true);
  eddy_tls_config_t *scfg = server_cfg();
  struct peer c;
  peer_init(&c, loop, M_RECORD);
  int rc = connect_to_msg(loop, &PLAIN, &c, sock_port(l), scfg, "localhost", 0, NULL, NULL, 0);
  CHECK_ERR(rc, EDDY_EINVAL);
  CHECK_EQ(c.r.made, 0);
  int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (s >= 0) close(s);
  eddy_tls_config_release(scfg);
  close_loop(loop);
  close(l);
}

TEST(tls_config_functions_reject_null) {
  CHECK_ERR(eddy_tls_config_new_client(NULL), EDDY_EINVAL);
  CHECK_ERR(eddy_tls_config_set_verify(NULL, true), EDDY_EINVAL);
  CHECK_ERR(eddy_tls_config_load_verify_locations(NULL, "/dev/null"), EDDY_EINVAL);
  eddy_tls_config_retain(NULL);
  eddy_tls_config_release(NULL);
  eddy_tls_config_t *c = client_cfg();
  CHECK_ERR(eddy_tls_config_load_verify_locations(c, NULL), EDDY_EINVAL);
  eddy_tls_config_retain(c);
  eddy_tls_config_release(c);
  eddy_tls_config_release(c);
}

/* ============================================================ sendfile */

static bool c_future_done_or_lost(void *a) { return eddy_future_done((eddy_future_t *)a) == 1; }

/* items 139-140: a TLS transport takes loop.sendfile only as asyncio's
   FALLBACK mode does: the file goes through the transport's own writes
   (16 KiB pieces), so the peer decrypts exactly the file; fallback=false is
   EDDY_ENOTSUP; writes are refused meanwhile and the file position ends
   after the bytes sent. */
TEST(sendfile_over_tls_goes_through_the_tls_writes) {
  const size_t size = 3 * MIB + 123;
  uint8_t *data = pattern_buffer(size);
  int file = anon_file();
  CHECK(file >= 0);
  CHECK_EQ(pwrite(file, data, size, 0), (long long)size);
  struct pair pr;
  pair_open(&pr, M_RECORD);
  struct peer *sp = &pr.s.peers[0];
  sp->r.check_pattern = true;

  eddy_future_t *sf = NULL;
  CHECK_ERR(eddy_loop_sendfile(pr.loop, pr.ct, file, 0, 0, false, &sf), EDDY_ENOTSUP);
  CHECK(sf == NULL);
  CHECK_OK(eddy_loop_sendfile(pr.loop, pr.ct, file, 0, 0, true, &sf));
  CHECK_ERR(eddy_transport_write(pr.ct, "x", 1), EDDY_EBUSY);
  CHECK(run_until(pr.loop, c_future_done_or_lost, sf, 60.0));
  void *ptr = NULL;
  int64_t n = 0;
  CHECK_OK(eddy_future_result(sf, &ptr, &n));
  CHECK_EQ(n, (long long)size);
  eddy_future_release(sf);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), (long long)size);

  struct want w = {sp, size};
  CHECK(run_until(pr.loop, c_total, &w, 30.0));
  CHECK_EQ(sp->r.total_in, size);
  CHECK_EQ(sp->r.bad, 0);
  /* writing works again afterwards, behind the file */
  CHECK_OK(eddy_transport_write(pr.ct, data + size, 0));
  CHECK_OK(eddy_transport_write(pr.ct, data, 1000));
  w.n = size + 1000;
  CHECK(run_until(pr.loop, c_total, &w, 10.0));
  CHECK_EQ(sp->r.total_in, size + 1000);
  CHECK_EQ(sp->r.lost, 0);
  pair_close(&pr);
  close(file);
  free(data);
}

/* A count and an offset pick a slice of the file, as on a plain socket. */
TEST(sendfile_over_tls_with_offset_and_count_sends_that_slice) {
  const size_t size = 200000;
  uint8_t *data = pattern_buffer(size);
  int file = anon_file();
  CHECK(file >= 0);
  CHECK_EQ(pwrite(file, data, size, 0), (long long)size);
  struct pair pr;
  pair_open(&pr, M_RECORD);
  struct peer *sp = &pr.s.peers[0];
  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_sendfile(pr.loop, pr.ct, file, 1000, 50000, true, &sf));
  CHECK(run_until(pr.loop, c_future_done_or_lost, sf, 30.0));
  int64_t n = 0;
  CHECK_OK(eddy_future_result(sf, NULL, &n));
  CHECK_EQ(n, 50000);
  eddy_future_release(sf);
  CHECK_EQ(lseek(file, 0, SEEK_CUR), 51000);
  struct want w = {sp, 50000};
  CHECK(run_until(pr.loop, c_total, &w, 10.0));
  CHECK_EQ(sp->r.total_in, 50000);
  CHECK(memcmp(sp->r.in, data + 1000, 50000) == 0);
  pair_close(&pr);
  close(file);
  free(data);
}

/* The connection going under a TLS sendfile ends it with an error instead
   of leaving its future pending. */
TEST(sendfile_over_tls_fails_when_the_transport_is_aborted) {
  const size_t size = 32 * MIB;
  int file = anon_file();
  CHECK(file >= 0);
  CHECK_OK(ftruncate(file, (off_t)size));
  struct pair pr;
  pair_open(&pr, M_RECORD);
  struct peer *sp = &pr.s.peers[0];
  CHECK_OK(eddy_transport_pause_reading(sp->r.t)); /* the file backs up */
  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_sendfile(pr.loop, pr.ct, file, 0, 0, true, &sf));
  run_for(pr.loop, 0.1);
  CHECK_EQ(eddy_future_done(sf), 0);
  CHECK_OK(eddy_transport_abort(pr.ct));
  CHECK(run_until(pr.loop, c_future_done_or_lost, sf, 5.0));
  CHECK_ERR(eddy_future_result(sf, NULL, NULL), EDDY_ECLOSED);
  eddy_future_release(sf);
  CHECK(run_until(pr.loop, c_lost, &pr.c, 5.0));
  pair_close(&pr);
  close(file);
}

/* ============================================= connect_accepted_socket */

/* asyncio's connect_accepted_socket(ssl=a server context): eddy is the TLS
   server on a socket it did not accept. The future completes with the TLS
   transport after the handshake, the one connection_made got; a client
   configuration, or a name to verify, is EDDY_EINVAL (and the fd stays the
   caller's). */
TEST(connect_accepted_socket_with_a_server_config_is_the_tls_server) {
  eddy_loop_t *loop = new_loop();
  int sv[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  eddy_tls_config_t *scfg = server_cfg(), *ccfg = client_cfg();
  struct peer s, c;
  peer_init(&s, loop, M_ECHO);
  peer_init(&c, loop, M_RECORD);

  eddy_connection_options_t so;
  eddy_connection_options_init(&so);
  eddy_future_t *sf = NULL;
  so.tls = ccfg;
  CHECK_ERR(eddy_loop_connect_accepted_socket(loop, &PLAIN, &s, sv[0], &so, &sf), EDDY_EINVAL);
  so.tls = scfg;
  so.server_hostname = "localhost";
  CHECK_ERR(eddy_loop_connect_accepted_socket(loop, &PLAIN, &s, sv[0], &so, &sf), EDDY_EINVAL);
  CHECK(sf == NULL);
  so.server_hostname = NULL;
  CHECK_OK(eddy_loop_connect_accepted_socket(loop, &PLAIN, &s, sv[0], &so, &sf));

  eddy_connection_options_t co;
  eddy_connection_options_init(&co);
  co.tls = ccfg;
  co.server_hostname = "localhost";
  co.sock = sv[1];
  eddy_future_t *cf = NULL;
  CHECK_OK(eddy_loop_create_connection(loop, &PLAIN, &c, NULL, 0, &co, &cf));
  void *ct = NULL, *st = NULL;
  CHECK_OK(outcome(loop, 0, cf, &ct));
  CHECK_OK(outcome(loop, 0, sf, &st));
  CHECK(st != NULL && st == (void *)s.r.t);
  CHECK(ct != NULL && ct == (void *)c.r.t);
  CHECK_STR_EQ(s.r.log, "made");
  char v[16];
  CHECK_OK(info_str(s.r.t, "tls_version", v, sizeof v));
  CHECK(strcmp(v, "TLSv1.2") == 0 || strcmp(v, "TLSv1.3") == 0);

  static const char hello[] = "hello, accepted socket\n";
  CHECK_OK(eddy_transport_write(c.r.t, hello, strlen(hello)));
  struct want w = {&c, strlen(hello)};
  CHECK(run_until(loop, c_total, &w, 5.0));
  CHECK_EQ(c.r.nin, strlen(hello));
  CHECK(memcmp(c.r.in, hello, strlen(hello)) == 0);
  CHECK_EQ(s.r.nin, strlen(hello));

  CHECK_OK(eddy_transport_close(c.r.t));
  CHECK(run_until(loop, c_lost, &c, 5.0));
  CHECK(run_until(loop, c_lost, &s, 5.0));
  CHECK_EQ(c.r.lost_err, 0);
  CHECK_EQ(s.r.lost_err, 0);
  eddy_tls_config_release(scfg);
  eddy_tls_config_release(ccfg);
  close_loop(loop);
}

/* item 141: during the fallback the protocol sees no pause_writing or
   resume_writing of the file's own writes (asyncio swaps in
   _SendfileFallbackProtocol); a protocol paused before the sendfile gets
   its resume_writing when the sendfile ends, not while it runs */
TEST(sendfile_over_tls_resumes_a_paused_protocol_when_it_ends) {
  const size_t pre = BIG, size = 4 * MIB;
  int file = anon_file();
  CHECK(file >= 0);
  CHECK_OK(ftruncate(file, (off_t)size));
  uint8_t *data = pattern_buffer(pre);
  struct pair pr;
  pair_open(&pr, M_RECORD);
  struct peer *sp = &pr.s.peers[0];
  CHECK_OK(eddy_transport_pause_reading(sp->r.t));
  CHECK_OK(eddy_transport_write(pr.ct, data, pre));
  CHECK_EQ(pr.c.r.pauses, 1);

  eddy_future_t *sf = NULL;
  CHECK_OK(eddy_loop_sendfile(pr.loop, pr.ct, file, 0, 0, true, &sf));
  run_for(pr.loop, 0.05);
  CHECK_EQ(eddy_future_done(sf), 0);
  CHECK_OK(eddy_transport_resume_reading(sp->r.t));
  /* the earlier writes have drained and the file is on its way */
  struct want w = {sp, pre + MIB};
  CHECK(run_until(pr.loop, c_total, &w, 30.0));
  CHECK_EQ(eddy_future_done(sf), 0);
  CHECK_EQ(pr.c.r.resumes, 0);
  CHECK(run_until(pr.loop, c_future_done_or_lost, sf, 60.0));
  int64_t n = 0;
  CHECK_OK(eddy_future_result(sf, NULL, &n));
  CHECK_EQ(n, (long long)size);
  eddy_future_release(sf);
  CHECK_EQ(pr.c.r.pauses, 1);
  CHECK_EQ(pr.c.r.resumes, 1);
  w.n = pre + size;
  CHECK(run_until(pr.loop, c_total, &w, 30.0));
  CHECK_EQ(sp->r.total_in, pre + size);
  CHECK_EQ(pr.c.r.pauses, 1);
  CHECK_EQ(pr.c.r.resumes, 1);
  pair_close(&pr);
  close(file);
  free(data);
}
