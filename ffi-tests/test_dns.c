/* DNS: eddy_loop_getaddrinfo / eddy_loop_getnameinfo (docs/api.md section 4,
   "DNS"; section 12 "Results" and the EDDY_EAI_* codes of "Header"),
   asyncio's loop.getaddrinfo / loop.getnameinfo, which run the blocking
   resolver off the loop's thread. */
#include <eddy.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

/* ------------------------------------------------------------------ helpers */

/* A done callback that records its user data (a char) as an event. */
static void done_rec_cb(eddy_future_t *f, void *ud) {
  (void)f;
  ev_add((char)(intptr_t)ud);
}

static bool is_eai_code(int rc) { return rc <= EDDY_EAI_ADDRFAMILY && rc >= EDDY_EAI_SYSTEM; }

static struct addrinfo inet_stream_hints(void) {
  struct addrinfo h;
  memset(&h, 0, sizeof h);
  h.ai_family = AF_INET;
  h.ai_socktype = SOCK_STREAM;
  return h;
}

/* A work function that blocks its worker until released: with a 1-thread
   pool as default executor, every lookup queued behind it waits. */
struct blocker {
  sem_t started, release;
};
static int block_fn(void *ud, void **p, int64_t *n) {
  struct blocker *b = ud;
  (void)p;
  (void)n;
  sem_post(&b->started);
  sem_wait_for(&b->release, 10.0);
  return 0;
}

/* ------------------------------------------------------------ getaddrinfo */

/* docs/api.md section 4: getaddrinfo's value is a struct addrinfo list (eddy_freeaddrinfo) */
TEST(getaddrinfo_numeric_ipv4_gives_a_sockaddr_in_list) {
  eddy_loop_t *loop = new_loop();
  struct addrinfo hints = inet_stream_hints();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "80", &hints, &f));
  CHECK(f != NULL);
  CHECK_EQ(eddy_future_done(f), 0); /* resolved off the loop, delivered later */
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  struct addrinfo *ai = p;
  CHECK(ai != NULL);
  int count = 0;
  for (struct addrinfo *it = ai; it; it = it->ai_next) {
    count++;
    CHECK_EQ(it->ai_family, AF_INET);
    CHECK_EQ(it->ai_socktype, SOCK_STREAM);
    CHECK_EQ(it->ai_addrlen, sizeof(struct sockaddr_in));
    CHECK(it->ai_addr != NULL);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)it->ai_addr;
    CHECK_EQ(sin->sin_family, AF_INET);
    CHECK_EQ(ntohs(sin->sin_port), 80);
    CHECK_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
  }
  CHECK(count >= 1);
  eddy_freeaddrinfo(ai);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 4: a host name resolves (localhost is a loopback address) */
TEST(getaddrinfo_resolves_localhost_to_loopback) {
  eddy_loop_t *loop = new_loop();
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "localhost", "8080", &hints, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  struct addrinfo *ai = p;
  CHECK(ai != NULL);
  int loopbacks = 0;
  for (struct addrinfo *it = ai; it; it = it->ai_next) {
    CHECK_EQ(it->ai_socktype, SOCK_STREAM);
    if (it->ai_family == AF_INET) {
      const struct sockaddr_in *sin = (const struct sockaddr_in *)it->ai_addr;
      CHECK_EQ(ntohl(sin->sin_addr.s_addr) >> 24, 127);
      CHECK_EQ(ntohs(sin->sin_port), 8080);
      loopbacks++;
    } else if (it->ai_family == AF_INET6) {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)it->ai_addr;
      CHECK(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
      CHECK_EQ(ntohs(sin6->sin6_port), 8080);
      loopbacks++;
    } else {
      CHECK(!"unexpected family");
    }
  }
  CHECK(loopbacks >= 1);
  eddy_freeaddrinfo(ai);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 4: a service name is looked up too; NULL hints mean all families */
TEST(getaddrinfo_service_name_and_null_hints) {
  eddy_loop_t *loop = new_loop();
  struct addrinfo hints = inet_stream_hints();
  eddy_future_t *f = NULL, *g = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "http", &hints, &f));
  CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "443", NULL, &g));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(eddy_loop_run_until_complete(loop, g));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  struct addrinfo *ai = p;
  CHECK(ai != NULL);
  CHECK_EQ(ntohs(((const struct sockaddr_in *)ai->ai_addr)->sin_port), 80);
  eddy_freeaddrinfo(ai);
  p = NULL;
  CHECK_OK(eddy_future_result(g, &p, NULL));
  ai = p;
  CHECK(ai != NULL);
  bool stream = false, dgram = false;
  for (struct addrinfo *it = ai; it; it = it->ai_next) {
    CHECK_EQ(it->ai_family, AF_INET);
    CHECK_EQ(ntohs(((const struct sockaddr_in *)it->ai_addr)->sin_port), 443);
    stream |= it->ai_socktype == SOCK_STREAM;
    dgram |= it->ai_socktype == SOCK_DGRAM;
  }
  CHECK(stream && dgram); /* no socktype hint: every type */
  eddy_freeaddrinfo(ai);
  eddy_future_release(f);
  eddy_future_release(g);
  close_loop(loop);
}

/* docs/api.md section 4: numeric IPv6 with a NULL host gives the passive/loopback form */
TEST(getaddrinfo_numeric_ipv6_and_null_host) {
  eddy_loop_t *loop = new_loop();
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET6;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "::1", "443", &hints, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  struct addrinfo *ai = p;
  CHECK(ai != NULL);
  CHECK_EQ(ai->ai_family, AF_INET6);
  CHECK_EQ(ai->ai_addrlen, sizeof(struct sockaddr_in6));
  const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ai->ai_addr;
  CHECK(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
  CHECK_EQ(ntohs(sin6->sin6_port), 443);
  eddy_freeaddrinfo(ai);
  eddy_future_release(f);

  /* host NULL with AI_PASSIVE: the wildcard address */
  struct addrinfo h4 = inet_stream_hints();
  h4.ai_flags = AI_PASSIVE;
  CHECK_OK(eddy_loop_getaddrinfo(loop, NULL, "9999", &h4, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  ai = p;
  CHECK(ai != NULL);
  const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
  CHECK_EQ(sin->sin_addr.s_addr, htonl(INADDR_ANY));
  CHECK_EQ(ntohs(sin->sin_port), 9999);
  eddy_freeaddrinfo(ai);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md sections 1, 12: getaddrinfo failures are EDDY_EAI_* codes with a text */
TEST(getaddrinfo_numerichost_with_a_name_fails_with_eai_noname) {
  eddy_loop_t *loop = new_loop();
  struct addrinfo hints = inet_stream_hints();
  hints.ai_flags = AI_NUMERICHOST;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "localhost", "80", &hints, &f));
  int rc = eddy_loop_run_until_complete(loop, f);
  CHECK_ERR(rc, EDDY_EAI_NONAME);
  void *p = &p;
  CHECK_ERR(eddy_future_result(f, &p, NULL), EDDY_EAI_NONAME);
  CHECK(p == &p); /* outputs written only on success */
  CHECK_EQ(eddy_future_cancelled(f), 0);
  const char *text = eddy_strerror(rc);
  CHECK(text != NULL);
  CHECK(text[0] != '\0');
  CHECK(strcmp(text, "unknown error") != 0);
  const char *name = eddy_err_name(rc);
  CHECK(name != NULL);
  CHECK(strncmp(name, "EDDY_EAI_", 9) == 0);
  CHECK_STR_EQ(name, "EDDY_EAI_NONAME");
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md sections 1, 12: an invalid service with AI_NUMERICSERV is an EDDY_EAI code */
TEST(getaddrinfo_non_numeric_service_with_numericserv_fails_with_an_eai_code) {
  eddy_loop_t *loop = new_loop();
  struct addrinfo hints = inet_stream_hints();
  hints.ai_flags = AI_NUMERICSERV;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "http", &hints, &f));
  int rc = eddy_loop_run_until_complete(loop, f);
  CHECK(is_eai_code(rc));
  CHECK(strncmp(eddy_err_name(rc), "EDDY_EAI_", 9) == 0);
  CHECK(eddy_strerror(rc)[0] != '\0');
  CHECK(strcmp(eddy_strerror(rc), "unknown error") != 0);
  CHECK_ERR(eddy_future_result(f, NULL, NULL), rc);
  eddy_future_release(f);

  /* an unknown service name without the flag fails too */
  struct addrinfo h2 = inet_stream_hints();
  CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "no-such-service-eddy", &h2, &f));
  rc = eddy_loop_run_until_complete(loop, f);
  CHECK(is_eai_code(rc));
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 4: host and port both NULL is a valid call whose lookup fails
   (asyncio: socket.gaierror EAI_NONAME) */
TEST(getaddrinfo_with_neither_host_nor_port_fails_with_eai_noname) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, NULL, NULL, NULL, &f));
  CHECK_ERR(eddy_loop_run_until_complete(loop, f), EDDY_EAI_NONAME);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 12 (Header): every EDDY_EAI_* code has a name and a text */
TEST(every_eai_code_has_a_name_and_a_text) {
  static const struct {
    int code;
    const char *name;
  } codes[] = {
      {EDDY_EAI_ADDRFAMILY, "EDDY_EAI_ADDRFAMILY"}, {EDDY_EAI_AGAIN, "EDDY_EAI_AGAIN"},
      {EDDY_EAI_BADFLAGS, "EDDY_EAI_BADFLAGS"},     {EDDY_EAI_CANCELED, "EDDY_EAI_CANCELED"},
      {EDDY_EAI_FAIL, "EDDY_EAI_FAIL"},             {EDDY_EAI_FAMILY, "EDDY_EAI_FAMILY"},
      {EDDY_EAI_MEMORY, "EDDY_EAI_MEMORY"},         {EDDY_EAI_NODATA, "EDDY_EAI_NODATA"},
      {EDDY_EAI_NONAME, "EDDY_EAI_NONAME"},         {EDDY_EAI_OVERFLOW, "EDDY_EAI_OVERFLOW"},
      {EDDY_EAI_PROTOCOL, "EDDY_EAI_PROTOCOL"},     {EDDY_EAI_SERVICE, "EDDY_EAI_SERVICE"},
      {EDDY_EAI_SOCKTYPE, "EDDY_EAI_SOCKTYPE"},     {EDDY_EAI_SYSTEM, "EDDY_EAI_SYSTEM"},
  };
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    CHECK(codes[i].code < -4000); /* the library's reserved range */
    CHECK_STR_EQ(eddy_err_name(codes[i].code), codes[i].name);
    const char *t = eddy_strerror(codes[i].code);
    CHECK(t != NULL && t[0] != '\0');
    CHECK(strcmp(t, "unknown error") != 0);
    /* distinct texts */
    for (size_t k = 0; k < i; k++) CHECK(strcmp(t, eddy_strerror(codes[k].code)) != 0);
  }
}

/* docs/api.md section 4: the lookup runs off the loop's thread: while it cannot progress
   (the default executor's only worker is busy), the loop keeps running
   callbacks and timers */
TEST(getaddrinfo_does_not_block_the_loop) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  CHECK_OK(eddy_loop_set_default_executor(loop, ex));
  struct blocker b;
  sem_init(&b.started, 0, 0);
  sem_init(&b.release, 0, 0);
  eddy_future_t *fb = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, block_fn, &b, &fb));
  CHECK_EQ(sem_wait_for(&b.started, 5.0), 0);

  struct addrinfo hints = inet_stream_hints();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "80", &hints, &f));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_OK(eddy_future_add_done_callback(f, done_rec_cb, TAG('R')));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('s'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.02, rec_cb, TAG('t'), NULL));
  CHECK_OK(eddy_loop_call_later(loop, 0.03, stop_cb, loop, NULL));
  double t0 = harness_monotonic();
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK(harness_monotonic() - t0 < 2.0);
  CHECK_STR_EQ(ev, "st"); /* the loop ran on; the lookup is still queued */
  CHECK_EQ(eddy_future_done(f), 0);
  sem_post(&b.release);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "stR");
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  CHECK(p != NULL);
  eddy_freeaddrinfo(p);
  CHECK_OK(eddy_loop_run_until_complete(loop, fb));
  eddy_future_release(fb);
  eddy_future_release(f);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  eddy_executor_release(ex);
  sem_destroy(&b.started);
  sem_destroy(&b.release);
  close_loop(loop);
}

/* docs/api.md section 4: a callback scheduled after the call runs before the result is
   delivered (the result arrives through the loop, never synchronously) */
TEST(getaddrinfo_result_arrives_after_callbacks_scheduled_behind_it) {
  ev_reset();
  eddy_loop_t *loop = new_loop();
  struct addrinfo hints = inet_stream_hints();
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "80", &hints, &f));
  CHECK_OK(eddy_future_add_done_callback(f, done_rec_cb, TAG('R')));
  CHECK_OK(eddy_loop_call_soon(loop, rec_cb, TAG('a'), NULL));
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  CHECK_OK(run_once(loop));
  CHECK_STR_EQ(ev, "aR");
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_freeaddrinfo(p);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 12 (Results): releasing a pending future never frees the result;
   a result nobody receives is freed by the library (no leak under valgrind) */
TEST(releasing_a_pending_getaddrinfo_future_leaks_nothing) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  CHECK_OK(eddy_loop_set_default_executor(loop, ex));
  struct addrinfo hints = inet_stream_hints();
  for (int i = 0; i < 5; i++) {
    eddy_future_t *f = NULL;
    CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "80", &hints, &f));
    CHECK_EQ(eddy_future_done(f), 0);
    eddy_future_release(f);
  }
  /* a cancelled one too */
  eddy_future_t *c = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "localhost", "80", &hints, &c));
  CHECK_EQ(eddy_future_cancel(c), 1);
  /* all lookups finished; their results are delivered into released or
     cancelled futures */
  CHECK_OK(eddy_executor_shutdown(ex, true));
  for (int i = 0; i < 3; i++) CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_future_cancelled(c), 1);
  eddy_future_release(c);
  eddy_executor_release(ex);
  close_loop(loop);
}

/* docs/api.md section 12 (Results): a lookup still running when the loop closes: its
   result has nowhere to go and is freed (valgrind) */
TEST(getaddrinfo_pending_at_loop_close_leaks_nothing) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  CHECK_OK(eddy_loop_set_default_executor(loop, ex));
  struct blocker b;
  sem_init(&b.started, 0, 0);
  sem_init(&b.release, 0, 0);
  eddy_future_t *fb = NULL;
  CHECK_OK(eddy_loop_run_in_executor(loop, NULL, block_fn, &b, &fb));
  CHECK_EQ(sem_wait_for(&b.started, 5.0), 0);
  struct addrinfo hints = inet_stream_hints();
  eddy_future_t *f = NULL, *g = NULL;
  CHECK_OK(eddy_loop_getaddrinfo(loop, "127.0.0.1", "80", &hints, &f));
  struct sockaddr_in sin = {0};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(80);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_OK(eddy_loop_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST | NI_NUMERICSERV, &g));
  CHECK_OK(eddy_loop_close(loop));
  sem_post(&b.release);
  CHECK_OK(eddy_executor_shutdown(ex, true)); /* the lookups ran and finished */
  CHECK_EQ(eddy_future_done(f) == 1 && eddy_future_result(f, NULL, NULL) == 0, 0);
  eddy_future_release(f);
  eddy_future_release(g);
  eddy_future_release(fb);
  eddy_executor_release(ex);
  eddy_loop_release(loop);
  sem_destroy(&b.started);
  sem_destroy(&b.release);
}

/* ------------------------------------------------------------ getnameinfo */

/* docs/api.md section 4: getnameinfo's value is an eddy_nameinfo_t (eddy_free) */
TEST(getnameinfo_numeric_ipv4_gives_host_and_service) {
  eddy_loop_t *loop = new_loop();
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(80);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getnameinfo(loop, (const struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST | NI_NUMERICSERV,
                                 &f));
  CHECK(f != NULL);
  CHECK_EQ(eddy_future_done(f), 0);
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_nameinfo_t *ni = p;
  CHECK(ni != NULL);
  CHECK_STR_EQ(ni->host, "127.0.0.1");
  CHECK_STR_EQ(ni->serv, "80");
  eddy_free(ni);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 4: IPv6, and a service name from NI flags without NUMERICSERV */
TEST(getnameinfo_ipv6_numeric_and_service_name) {
  eddy_loop_t *loop = new_loop();
  struct sockaddr_in6 sin6;
  memset(&sin6, 0, sizeof sin6);
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(443);
  sin6.sin6_addr = in6addr_loopback;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getnameinfo(loop, (const struct sockaddr *)&sin6, sizeof sin6,
                                 NI_NUMERICHOST | NI_NUMERICSERV, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  eddy_nameinfo_t *ni = p;
  CHECK_STR_EQ(ni->host, "::1");
  CHECK_STR_EQ(ni->serv, "443");
  eddy_free(ni);
  eddy_future_release(f);

  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(80);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_OK(eddy_loop_getnameinfo(loop, (const struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST, &f));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  p = NULL;
  CHECK_OK(eddy_future_result(f, &p, NULL));
  ni = p;
  CHECK_STR_EQ(ni->host, "127.0.0.1");
  CHECK_STR_EQ(ni->serv, "http"); /* /etc/services */
  eddy_free(ni);
  eddy_future_release(f);
  close_loop(loop);
}

/* docs/api.md section 1: a bad address length is EDDY_EINVAL, nothing is scheduled */
TEST(getnameinfo_bad_addrlen_or_null_address_is_einval) {
  eddy_loop_t *loop = new_loop();
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
  sin->sin_family = AF_INET;
  sin->sin_port = htons(80);
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  eddy_future_t *f = NULL;
  int fl = NI_NUMERICHOST | NI_NUMERICSERV;
  CHECK_ERR(eddy_loop_getnameinfo(loop, (struct sockaddr *)&ss, 0, fl, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_getnameinfo(loop, (struct sockaddr *)&ss, (socklen_t)sizeof ss + 1, fl, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_getnameinfo(loop, (struct sockaddr *)&ss, (socklen_t)-1, fl, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_getnameinfo(loop, NULL, sizeof *sin, fl, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  close_loop(loop);
}

/* docs/api.md section 1: an address length too short for its family is an invalid
   argument too (EDDY_EINVAL at the call, as the zero and oversized lengths) */
TEST(getnameinfo_addrlen_too_short_for_the_family_is_einval) {
  eddy_loop_t *loop = new_loop();
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(80);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  eddy_future_t *f = NULL;
  int fl = NI_NUMERICHOST | NI_NUMERICSERV;
  CHECK_ERR(eddy_loop_getnameinfo(loop, (struct sockaddr *)&sin, 1, fl, &f), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_getnameinfo(loop, (struct sockaddr *)&sin, 4, fl, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  close_loop(loop);
}

/* docs/api.md section 12 (Results): an unreceived getnameinfo result is freed (valgrind) */
TEST(releasing_a_pending_getnameinfo_future_leaks_nothing) {
  eddy_loop_t *loop = new_loop();
  eddy_executor_t *ex = NULL;
  CHECK_OK(eddy_executor_new_thread_pool(1, &ex));
  CHECK_OK(eddy_loop_set_default_executor(loop, ex));
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(80);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST | NI_NUMERICSERV, &f));
  eddy_future_release(f);
  CHECK_OK(eddy_loop_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST | NI_NUMERICSERV, &f));
  CHECK_EQ(eddy_future_cancel(f), 1);
  CHECK_OK(eddy_executor_shutdown(ex, true));
  for (int i = 0; i < 3; i++) CHECK_OK(run_once(loop));
  CHECK_EQ(eddy_future_cancelled(f), 1);
  eddy_future_release(f);
  eddy_executor_release(ex);
  close_loop(loop);
}

/* ------------------------------------------------------- NULL and closed */

/* docs/api.md section 1: NULL arguments are EDDY_EINVAL; free functions accept NULL */
TEST(null_arguments_to_dns_functions_are_einval) {
  eddy_loop_t *loop = new_loop();
  struct addrinfo hints = inet_stream_hints();
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_getaddrinfo(NULL, "127.0.0.1", "80", &hints, &f), EDDY_EINVAL);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  CHECK_ERR(eddy_loop_getnameinfo(NULL, (struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST, &f), EDDY_EINVAL);
  CHECK(f == NULL);
  eddy_freeaddrinfo(NULL);
  eddy_free(NULL);
  close_loop(loop);
}

/* docs/api.md sections 1 and 4: DNS calls on a closed loop are EDDY_ECLOSED */
TEST(dns_calls_on_a_closed_loop_are_eclosed) {
  eddy_loop_t *loop = new_loop();
  CHECK_OK(eddy_loop_close(loop));
  struct addrinfo hints = inet_stream_hints();
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_getaddrinfo(loop, "127.0.0.1", "80", &hints, &f), EDDY_ECLOSED);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_ERR(eddy_loop_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST, &f), EDDY_ECLOSED);
  CHECK(f == NULL);
  eddy_loop_release(loop);
}

/* docs/api.md section 4: lookups run on the default executor: after
   shutdown_default_executor they are refused with EDDY_ECLOSED */
TEST(dns_after_shutdown_default_executor_is_eclosed) {
  eddy_loop_t *loop = new_loop();
  eddy_future_t *fs = NULL;
  CHECK_OK(eddy_loop_shutdown_default_executor(loop, &fs));
  CHECK_OK(eddy_loop_run_until_complete(loop, fs));
  eddy_future_release(fs);
  struct addrinfo hints = inet_stream_hints();
  eddy_future_t *f = NULL;
  CHECK_ERR(eddy_loop_getaddrinfo(loop, "127.0.0.1", "80", &hints, &f), EDDY_ECLOSED);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_ERR(eddy_loop_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST, &f), EDDY_ECLOSED);
  CHECK(f == NULL);
  close_loop(loop);
}

/* ------------------------------------------------- slow lookups, debug mode */

struct reports {
  int n;
  int error;
  char message[256];
};

/* Counts the lookup reports (with a threshold of 0, debug mode reports
   every callback as slow too: those are left out). */
static void report_handler(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  (void)loop;
  struct reports *r = ud;
  if (strncmp(ctx->message, "Executing ", 10) == 0) return;
  r->n++;
  r->error = ctx->error;
  snprintf(r->message, sizeof r->message, "%s", ctx->message);
}

/* Resolves host:port (through loop.getaddrinfo, or create_connection when
   `connect` is set, which then fails or not: only the report matters). */
static void lookup(eddy_loop_t *loop, const char *host, bool connect) {
  eddy_future_t *f = NULL;
  if (connect) {
    static const eddy_protocol_t none = {0};
    CHECK_OK(eddy_loop_create_connection(loop, &none, NULL, host, 9, NULL, &f));
  } else {
    CHECK_OK(eddy_loop_getaddrinfo(loop, host, "8080", NULL, &f));
  }
  eddy_loop_run_until_complete(loop, f);
  void *p = NULL;
  if (!connect && eddy_future_result(f, &p, NULL) == 0) eddy_freeaddrinfo(p);
  if (connect && eddy_future_result(f, &p, NULL) == 0) eddy_transport_abort(p);
  eddy_future_release(f);
  CHECK_OK(run_once(loop));
}

/* docs/semantics.md item 46 (asyncio's _getaddrinfo_debug), reported the way eddy
   reports slow callbacks (docs/api.md section 12): in debug mode a getaddrinfo that took
   at least slow_callback_duration reaches the exception handler, error 0,
   "Getting address info HOST:PORT took N.NNNms"; outside debug mode, or
   under the threshold, nothing is reported. create_connection's lookup
   counts too. */
TEST(debug_mode_reports_a_slow_getaddrinfo_to_the_exception_handler) {
  eddy_loop_t *loop = new_loop();
  static struct reports r;
  CHECK_OK(eddy_loop_set_exception_handler(loop, report_handler, &r));
  CHECK_OK(eddy_loop_set_slow_callback_duration(loop, 0.0));

  lookup(loop, "localhost", false);
  CHECK_EQ(r.n, 0); /* not in debug mode */

  CHECK_OK(eddy_loop_set_debug(loop, true));
  lookup(loop, "localhost", false);
  CHECK_EQ(r.n, 1);
  CHECK_EQ(r.error, 0);
  const char *prefix = "Getting address info localhost:8080 took ";
  CHECK(strncmp(r.message, prefix, strlen(prefix)) == 0);
  size_t len = strlen(r.message);
  CHECK(len > strlen(prefix) + 2 && strcmp(r.message + len - 2, "ms") == 0);

  lookup(loop, "localhost", true);
  CHECK_EQ(r.n, 2);
  prefix = "Getting address info localhost:9 took ";
  CHECK(strncmp(r.message, prefix, strlen(prefix)) == 0);

  CHECK_OK(eddy_loop_set_slow_callback_duration(loop, 10.0));
  lookup(loop, "localhost", false);
  CHECK_EQ(r.n, 2);
  close_loop(loop);
}
