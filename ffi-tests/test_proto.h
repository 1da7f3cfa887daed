/*
 * The recording stream protocol shared by the transport tests
 * (test_transport.c, test_pipes.c, test_tls.c): an eddy_protocol_t whose
 * callbacks, reached through the table's function pointers, count and log
 * every event in a `struct rec` given as user data, plus the conditions the
 * tests wait on.
 *
 * The log reads "made,data(3),eof,lost(0)". Where the size of each read is
 * not deterministic (TLS records), `brief_log` logs a run of data events as
 * one "data" (or "buf" for buffer_updated) and leaves out get_buffer.
 *
 * A test file that needs more than recording (echo, STARTTLS) sets the
 * `on_made` / `on_data` hooks; its own state can extend the record by
 * putting a `struct rec` first in a larger struct.
 *
 * Like test_util.h, everything is static (inline, or marked unused): each
 * test file is its own binary and pays only for what it uses.
 */
#ifndef EDDY_FFI_TESTS_TEST_PROTO_H
#define EDDY_FFI_TESTS_TEST_PROTO_H

#include "test_util.h"

/* Set while the test is inside an eddy call that must not run protocol
   callbacks synchronously (connect, close, abort); a callback that runs
   meanwhile counts a sync violation. */
static int g_in_api __attribute__((unused));

struct rec {
  char log[2048];
  eddy_transport_t *t;      /* given to connection_made */
  eddy_transport_t *data_t; /* given to the last data callback */
  eddy_future_t *fut;       /* the creating future, while pending */
  int made, lost, lost_err, eofs, datas, pauses, resumes, gbs, bus;
  int made_at_done;     /* r->made when the future's done callback ran */
  int made_before_done; /* connection_made saw the future still pending */
  int sync_violations;
  int pauses_in_write; /* pause_writing called from inside rec_write */
  bool in_write;
  bool eof_ret;    /* what eof_received returns */
  bool quiet_data; /* data events are not logged */
  bool brief_log;  /* a run of data events is logged once, without sizes */
  bool check_pattern; /* the data must be the test_util.h pattern stream */
  size_t bad;         /* pieces that were not */
  uint8_t in[65536];  /* the first bytes that arrived */
  size_t nin, total_in, want, max_chunk, max_update;
  size_t size_at_pause, size_at_resume;
  size_t last_hint;
  /* buffered protocol: get_buffer hands out gbuf[0, gbuf_len), or fails
     with gb_ret when it is not 0 */
  uint8_t gbuf[1024];
  size_t gbuf_len;
  int gb_ret;
  /* switch to this protocol inside the first data event */
  const eddy_protocol_t *switch_proto;
  void *switch_ud;
  int switch_rc;
  /* behaviour a test file adds: after connection_made is recorded, and
     after each piece of data is kept */
  void (*on_made)(struct rec *r, eddy_transport_t *t);
  void (*on_data)(struct rec *r, eddy_transport_t *t, const uint8_t *data, size_t len);
};

static inline void rec_init(struct rec *r) {
  memset(r, 0, sizeof *r);
  r->gbuf_len = 10;
  r->switch_rc = 1;
}

/* Appends an event to r->log ("made,data(3),eof"). */
#define logev(r, ...) log_append_fmt((r)->log, sizeof (r)->log, __VA_ARGS__)

/* Appends ev unless it is the last event logged already. */
static inline void logev_once(struct rec *r, const char *ev) {
  size_t n = strlen(r->log), k = strlen(ev);
  if (n >= k && strcmp(r->log + n - k, ev) == 0 && (n == k || r->log[n - k - 1] == ',')) return;
  logev(r, "%s", ev);
}

/* eddy_transport_write, noting that pause_writing calls that happen inside
   it are synchronous (item 57); a failure is logged as "write-failed". */
static inline void rec_write(struct rec *r, eddy_transport_t *t, const void *data, size_t len) {
  r->in_write = true;
  int rc = eddy_transport_write(t, data, len);
  r->in_write = false;
  if (rc != 0) logev(r, "write-failed");
}

static inline void rec_keep(struct rec *r, const uint8_t *data, size_t len) {
  if (r->check_pattern && !pattern_ok(data, len, r->total_in)) r->bad++;
  size_t room = sizeof r->in - r->nin;
  size_t n = len < room ? len : room;
  memcpy(r->in + r->nin, data, n);
  r->nin += n;
  r->total_in += len;
}

/* What arrived, whichever way (data_received or buffer_updated). */
static inline void rec_got(struct rec *r, eddy_transport_t *t, const uint8_t *data, size_t len) {
  r->data_t = t;
  rec_keep(r, data, len);
  if (r->on_data) r->on_data(r, t, data, len);
  if (r->switch_proto) {
    r->switch_rc = eddy_transport_set_protocol(t, r->switch_proto, r->switch_ud);
    r->switch_proto = NULL;
  }
}

static inline void p_made(eddy_transport_t *t, void *ud) {
  struct rec *r = ud;
  if (g_in_api) r->sync_violations++;
  r->made++;
  r->t = t;
  if (r->fut && !eddy_future_done(r->fut)) r->made_before_done = 1;
  logev(r, "made");
  if (r->on_made) r->on_made(r, t);
}

static inline void p_lost(eddy_transport_t *t, int err, void *ud) {
  (void)t;
  struct rec *r = ud;
  if (g_in_api) r->sync_violations++;
  r->lost++;
  r->lost_err = err;
  logev(r, "lost(%d)", err);
}

static inline void p_pause(eddy_transport_t *t, void *ud) {
  struct rec *r = ud;
  r->pauses++;
  if (r->in_write) r->pauses_in_write++;
  r->size_at_pause = eddy_transport_get_write_buffer_size(t);
  logev(r, "pause");
}

static inline void p_resume(eddy_transport_t *t, void *ud) {
  struct rec *r = ud;
  r->resumes++;
  r->size_at_resume = eddy_transport_get_write_buffer_size(t);
  logev(r, "resume");
}

static inline void p_data(eddy_transport_t *t, const uint8_t *data, size_t len, void *ud) {
  struct rec *r = ud;
  if (g_in_api) r->sync_violations++;
  r->datas++;
  if (len > r->max_chunk) r->max_chunk = len;
  if (len == 0) r->sync_violations += 1000; /* never empty */
  if (r->brief_log)
    logev_once(r, "data");
  else if (!r->quiet_data)
    logev(r, "data(%zu)", len);
  rec_got(r, t, data, len);
}

static inline bool p_eof(eddy_transport_t *t, void *ud) {
  (void)t;
  struct rec *r = ud;
  if (g_in_api) r->sync_violations++;
  r->eofs++;
  logev(r, "eof");
  return r->eof_ret;
}

static inline int p_get_buffer(eddy_transport_t *t, size_t hint, void **buf, size_t *len, void *ud) {
  (void)t;
  struct rec *r = ud;
  if (g_in_api) r->sync_violations++;
  r->gbs++;
  r->last_hint = hint;
  if (!r->brief_log) logev(r, "gb(%zu)", hint);
  if (r->gb_ret != 0) return r->gb_ret;
  *buf = r->gbuf;
  *len = r->gbuf_len;
  return 0;
}

static inline void p_buffer_updated(eddy_transport_t *t, size_t n, void *ud) {
  struct rec *r = ud;
  if (g_in_api) r->sync_violations++;
  r->bus++;
  if (n > r->max_update) r->max_update = n;
  if (r->brief_log)
    logev_once(r, "buf");
  else
    logev(r, "bu(%zu)", n);
  if (n <= r->gbuf_len) rec_got(r, t, r->gbuf, n);
}

static const eddy_protocol_t PLAIN __attribute__((unused)) = {
    .connection_made = p_made,
    .connection_lost = p_lost,
    .pause_writing = p_pause,
    .resume_writing = p_resume,
    .data_received = p_data,
    .eof_received = p_eof,
};

/* data_received is set too: get_buffer must replace it. */
static const eddy_protocol_t BUFFERED __attribute__((unused)) = {
    .connection_made = p_made,
    .connection_lost = p_lost,
    .pause_writing = p_pause,
    .resume_writing = p_resume,
    .data_received = p_data,
    .eof_received = p_eof,
    .get_buffer = p_get_buffer,
    .buffer_updated = p_buffer_updated,
};

static inline void rec_done_cb(eddy_future_t *f, void *ud) {
  (void)f;
  struct rec *r = ud;
  r->made_at_done = r->made + 1; /* +1: 0 means "never ran" */
}

/* Awaits the future `f` of a call that makes a transport for `r` and checks
   the start-up order (items 58, 120): connection_made ran neither inside
   the call nor later than the future's completion and its done callbacks,
   and the future's value is the transport connection_made got. Releases
   `f`; returns the transport. */
static inline eddy_transport_t *rec_await_made(eddy_loop_t *loop, struct rec *r, eddy_future_t *f) {
  CHECK(f != NULL);
  CHECK_EQ(r->made, 0);
  r->fut = f;
  CHECK_OK(eddy_future_add_done_callback(f, rec_done_cb, r));
  CHECK_OK(eddy_loop_run_until_complete(loop, f));
  void *ptr = NULL;
  CHECK_OK(eddy_future_result(f, &ptr, NULL));
  CHECK(ptr != NULL);
  CHECK(ptr == (void *)r->t);
  CHECK_EQ(r->made, 1);
  CHECK_EQ(r->made_before_done, 1);
  CHECK_EQ(r->made_at_done, 2);
  CHECK_EQ(r->sync_violations, 0);
  r->fut = NULL;
  eddy_future_release(f);
  return ptr;
}

/* Conditions for run_until. */
static inline bool c_made(void *a) { return ((struct rec *)a)->made > 0; }
static inline bool c_lost(void *a) { return ((struct rec *)a)->lost > 0; }
static inline bool c_eof(void *a) { return ((struct rec *)a)->eofs > 0; }
static inline bool c_data(void *a) {
  struct rec *r = a;
  return r->datas + r->bus > 0;
}
static inline bool c_want(void *a) {
  struct rec *r = a;
  return r->total_in >= r->want;
}
static inline bool c_resumed(void *a) { return ((struct rec *)a)->resumes > 0; }

#endif /* EDDY_FFI_TESTS_TEST_PROTO_H */
