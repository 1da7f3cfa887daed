/* The exception handler: docs/semantics.md items 39-43 as C can express them.
 *
 * N/A in C:
 *  - item 42 (a custom handler that raises is reported to the default handler
 *    as "Unhandled error in exception handler"): a C handler cannot raise;
 *    it returns void.
 *  - item 43 (the custom handler runs in the task's/future's/handle's
 *    contextvars context): C has no contextvars.
 *
 * In these tests "item N" is docs/semantics.md item N.
 */
#include <eddy.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "test_util.h"

struct seen {
  int count;
  eddy_loop_t *loop;
  void *ud;
  char message[256];
  const char *message_ptr;
  int error;
  eddy_handle_t *handle;
  eddy_future_t *future;
  eddy_transport_t *transport;
  eddy_datagram_t *datagram;
  eddy_process_t *process;
  eddy_server_t *server;
  int running; /* eddy_loop_is_running at the time of the call */
};

static void recording_handler(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  struct seen *s = ud;
  s->count++;
  s->loop = loop;
  s->ud = ud;
  s->message_ptr = ctx->message;
  snprintf(s->message, sizeof s->message, "%s", ctx->message ? ctx->message : "(null)");
  s->error = ctx->error;
  s->handle = ctx->handle;
  s->future = ctx->future;
  s->transport = ctx->transport;
  s->datagram = ctx->datagram;
  s->process = ctx->process;
  s->server = ctx->server;
  s->running = eddy_loop_is_running(loop);
}

static void other_handler(eddy_loop_t *loop, const eddy_error_context_t *ctx, void *ud) {
  (void)loop;
  (void)ctx;
  ++*(int *)ud;
}

static void noop_cb(void *ud) { (void)ud; }

/* ---- capturing fd 2 ----------------------------------------------------- */

struct capture {
  int saved;
  int tmp;
  char path[64];
};

static int capture_start(struct capture *c) {
  snprintf(c->path, sizeof c->path, "/tmp/eddy-exc-XXXXXX");
  c->tmp = mkstemp(c->path);
  if (c->tmp < 0) return -1;
  unlink(c->path);
  fflush(stderr);
  c->saved = dup(2);
  if (c->saved < 0) {
    close(c->tmp);
    return -1;
  }
  if (dup2(c->tmp, 2) < 0) {
    close(c->saved);
    close(c->tmp);
    return -1;
  }
  return 0;
}

/* Restores fd 2 and reads what was written into buf (NUL-terminated). */
static int capture_end(struct capture *c, char *buf, size_t cap) {
  fflush(stderr);
  dup2(c->saved, 2);
  close(c->saved);
  size_t len = 0;
  if (lseek(c->tmp, 0, SEEK_SET) == 0) {
    while (len + 1 < cap) {
      ssize_t r = read(c->tmp, buf + len, cap - 1 - len);
      if (r <= 0) break;
      len += (size_t)r;
    }
  }
  buf[len] = '\0';
  close(c->tmp);
  return (int)len;
}

/* ---- 39: what the handler receives -------------------------------------- */

/* item 39 */
TEST(call_exception_handler_passes_context_fields_through_unchanged) {
  eddy_loop_t *loop = new_loop();
  struct seen s;
  memset(&s, 0, sizeof s);
  CHECK_OK(eddy_loop_set_exception_handler(loop, recording_handler, &s));
  eddy_handle_t *h = NULL;
  eddy_future_t *f = NULL;
  CHECK_OK(eddy_loop_call_later(loop, 10.0, noop_cb, NULL, &h));
  CHECK_OK(eddy_loop_create_future(loop, &f));
  char msg[64];
  snprintf(msg, sizeof msg, "something bad happened");
  eddy_error_context_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.message = msg;
  ctx.error = EDDY_ECONNRESET;
  ctx.handle = h;
  ctx.future = f;
  CHECK_OK(eddy_loop_call_exception_handler(loop, &ctx));
  /* Called synchronously, once, with the loop and its user data. */
  CHECK_EQ(s.count, 1);
  CHECK(s.loop == loop);
  CHECK(s.ud == &s);
  CHECK_STR_EQ(s.message, "something bad happened");
  CHECK_EQ(s.error, EDDY_ECONNRESET);
  CHECK(s.handle == h);
  CHECK(s.future == f);
  CHECK(s.transport == NULL);
  CHECK(s.datagram == NULL);
  CHECK(s.process == NULL);
  CHECK(s.server == NULL);
  CHECK_EQ(s.running, 0);

  /* Only the message, error 0: the optional members stay NULL. */
  eddy_error_context_t ctx2;
  memset(&ctx2, 0, sizeof ctx2);
  ctx2.message = "just a message";
  CHECK_OK(eddy_loop_call_exception_handler(loop, &ctx2));
  CHECK_EQ(s.count, 2);
  CHECK_STR_EQ(s.message, "just a message");
  CHECK_EQ(s.error, 0);
  CHECK(s.handle == NULL);
  CHECK(s.future == NULL);

  eddy_handle_release(h);
  eddy_future_release(f);
  close_loop(loop);
}

static eddy_error_context_t g_ctx;
static int g_rc = 12345;

static void call_handler_cb(void *ud) {
  g_rc = eddy_loop_call_exception_handler((eddy_loop_t *)ud, &g_ctx);
  eddy_loop_stop((eddy_loop_t *)ud);
}

/* item 39 */
TEST(call_exception_handler_from_a_running_callback_reaches_custom_handler) {
  eddy_loop_t *loop = new_loop();
  struct seen s;
  memset(&s, 0, sizeof s);
  CHECK_OK(eddy_loop_set_exception_handler(loop, recording_handler, &s));
  memset(&g_ctx, 0, sizeof g_ctx);
  g_ctx.message = "from inside";
  g_ctx.error = -EPIPE;
  CHECK_OK(eddy_loop_call_soon(loop, call_handler_cb, loop, NULL));
  CHECK_OK(eddy_loop_run_forever(loop));
  CHECK_OK(g_rc);
  CHECK_EQ(s.count, 1);
  CHECK_STR_EQ(s.message, "from inside");
  CHECK_EQ(s.error, -EPIPE);
  CHECK_EQ(s.running, 1);
  close_loop(loop);
}

/* ---- 40: get/set --------------------------------------------------------- */

/* item 40 */
TEST(get_exception_handler_returns_null_for_default_and_the_pair_set) {
  eddy_loop_t *loop = new_loop();
  int x = 0;
  eddy_exception_handler_fn fn = other_handler;
  void *ud = &x;
  CHECK_OK(eddy_loop_get_exception_handler(loop, &fn, &ud));
  CHECK(fn == NULL);
  CHECK(ud == NULL);

  CHECK_OK(eddy_loop_set_exception_handler(loop, other_handler, &x));
  fn = NULL;
  ud = NULL;
  CHECK_OK(eddy_loop_get_exception_handler(loop, &fn, &ud));
  CHECK(fn == other_handler);
  CHECK(ud == &x);

  /* Replacing it. */
  struct seen s;
  memset(&s, 0, sizeof s);
  CHECK_OK(eddy_loop_set_exception_handler(loop, recording_handler, &s));
  CHECK_OK(eddy_loop_get_exception_handler(loop, &fn, &ud));
  CHECK(fn == recording_handler);
  CHECK(ud == &s);

  /* NULL restores the default. */
  CHECK_OK(eddy_loop_set_exception_handler(loop, NULL, NULL));
  fn = other_handler;
  ud = &x;
  CHECK_OK(eddy_loop_get_exception_handler(loop, &fn, &ud));
  CHECK(fn == NULL);
  CHECK(ud == NULL);
  CHECK_EQ(x, 0);
  CHECK_EQ(s.count, 0);
  close_loop(loop);
}

/* item 40 */
TEST(handler_set_to_null_restores_default_which_writes_stderr) {
  eddy_loop_t *loop = new_loop();
  struct seen s;
  memset(&s, 0, sizeof s);
  CHECK_OK(eddy_loop_set_exception_handler(loop, recording_handler, &s));
  CHECK_OK(eddy_loop_set_exception_handler(loop, NULL, NULL));
  eddy_error_context_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.message = "restored-default-xyzzy";
  ctx.error = EDDY_ECONNRESET;
  struct capture c;
  CHECK_OK(capture_start(&c));
  int rc = eddy_loop_call_exception_handler(loop, &ctx);
  char out[4096];
  capture_end(&c, out, sizeof out);
  CHECK_OK(rc);
  CHECK_EQ(s.count, 0); /* the old custom handler is not called */
  CHECK(strstr(out, "restored-default-xyzzy") != NULL);
  CHECK(strstr(out, "EDDY_ECONNRESET") != NULL);
  close_loop(loop);
}

/* ---- 41: the default handler -------------------------------------------- */

/* item 41 */
TEST(default_exception_handler_writes_message_and_error_name_to_stderr) {
  eddy_loop_t *loop = new_loop();
  struct seen s;
  memset(&s, 0, sizeof s);
  /* Even with a custom handler set, the default one logs. */
  CHECK_OK(eddy_loop_set_exception_handler(loop, recording_handler, &s));
  eddy_error_context_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.message = "default-handler-plugh";
  ctx.error = -ECONNRESET;
  struct capture c;
  CHECK_OK(capture_start(&c));
  int rc = eddy_loop_default_exception_handler(loop, &ctx);
  char out[4096];
  capture_end(&c, out, sizeof out);
  CHECK_OK(rc);
  CHECK(strstr(out, "default-handler-plugh") != NULL);
  CHECK(strstr(out, "EDDY_ECONNRESET") != NULL);
  CHECK_EQ(s.count, 0);
  close_loop(loop);
}

/* item 41 */
TEST(call_exception_handler_without_custom_handler_writes_stderr) {
  eddy_loop_t *loop = new_loop();
  eddy_error_context_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.message = "no-handler-path-frobozz";
  ctx.error = -ECONNRESET;
  struct capture c;
  CHECK_OK(capture_start(&c));
  int rc = eddy_loop_call_exception_handler(loop, &ctx);
  char out[4096];
  capture_end(&c, out, sizeof out);
  CHECK_OK(rc);
  CHECK(strstr(out, "no-handler-path-frobozz") != NULL);
  CHECK(strstr(out, "EDDY_ECONNRESET") != NULL);

  /* With error 0 the message is still written. */
  ctx.message = "no-error-code-here";
  ctx.error = 0;
  CHECK_OK(capture_start(&c));
  rc = eddy_loop_call_exception_handler(loop, &ctx);
  capture_end(&c, out, sizeof out);
  CHECK_OK(rc);
  CHECK(strstr(out, "no-error-code-here") != NULL);
  close_loop(loop);
}

/* ---- argument checks ----------------------------------------------------- */

TEST(exception_handler_functions_reject_null_ctx_or_message) {
  eddy_loop_t *loop = new_loop();
  struct seen s;
  memset(&s, 0, sizeof s);
  CHECK_OK(eddy_loop_set_exception_handler(loop, recording_handler, &s));
  eddy_error_context_t ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.message = NULL;
  ctx.error = -EIO;

  struct capture c;
  CHECK_OK(capture_start(&c));
  int r1 = eddy_loop_call_exception_handler(loop, NULL);
  int r2 = eddy_loop_call_exception_handler(loop, &ctx);
  int r3 = eddy_loop_default_exception_handler(loop, NULL);
  int r4 = eddy_loop_default_exception_handler(loop, &ctx);
  ctx.message = "fine";
  int r5 = eddy_loop_call_exception_handler(NULL, &ctx);
  int r6 = eddy_loop_default_exception_handler(NULL, &ctx);
  char out[4096];
  capture_end(&c, out, sizeof out);
  CHECK_ERR(r1, EDDY_EINVAL);
  CHECK_ERR(r2, EDDY_EINVAL);
  CHECK_ERR(r3, EDDY_EINVAL);
  CHECK_ERR(r4, EDDY_EINVAL);
  CHECK_ERR(r5, EDDY_EINVAL);
  CHECK_ERR(r6, EDDY_EINVAL);
  CHECK_EQ(s.count, 0); /* the handler never saw the invalid contexts */

  eddy_exception_handler_fn fn = NULL;
  void *ud = NULL;
  CHECK_ERR(eddy_loop_set_exception_handler(NULL, recording_handler, &s), EDDY_EINVAL);
  CHECK_ERR(eddy_loop_get_exception_handler(NULL, &fn, &ud), EDDY_EINVAL);
  /* The loop's handler is unchanged. */
  CHECK_OK(eddy_loop_get_exception_handler(loop, &fn, &ud));
  CHECK(fn == recording_handler);
  CHECK(ud == &s);
  close_loop(loop);
}
