/*
 * Minimal test harness for eddy's C tests.
 *
 * Each ffi-tests/test_<area>.c is linked with harness.c into its own binary.
 *
 *   TEST(name) { ... CHECK_OK(eddy_new_event_loop(&loop)); ... }
 *
 * With no arguments the binary runs every test in file order, each in its own
 * fork()ed child with a timeout (EDDY_TEST_TIMEOUT seconds, default 30), and
 * prints `PASS test_<area>:<name>` or `FAIL test_<area>:<name> (<reason>)`
 * per test; it exits 0 iff all passed. `-l` lists the tests; naming tests
 * runs just those in-process (no fork, no timeout), for gdb.
 *
 * A failed CHECK prints `FAIL <file>:<line>: <expression> (values)` to stderr
 * and ends the test. A test also fails when an fd it opened is still open at
 * its end.
 */
#ifndef EDDY_FFI_TESTS_HARNESS_H
#define EDDY_FFI_TESTS_HARNESS_H

#include <eddy.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*harness_test_fn)(void);

void harness_register(const char *name, harness_test_fn fn, int line);

__attribute__((noreturn, format(printf, 3, 4)))
void harness_fail(const char *file, int line, const char *fmt, ...);

/* Monotonic clock, in seconds. */
double harness_monotonic(void);

/* Sleep for `seconds` (restarting after signals). */
void harness_sleep(double seconds);

/* Name of the test running now ("" outside a test). */
const char *harness_current_test(void);

#define TEST(name)                                                             \
  static void harness_test_##name(void);                                       \
  __attribute__((constructor)) static void harness_register_##name(void) {     \
    harness_register(#name, harness_test_##name, __LINE__);                    \
  }                                                                            \
  static void harness_test_##name(void)

#define HARNESS_FAIL(...) harness_fail(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      harness_fail(__FILE__, __LINE__, "%s", #cond);                           \
  } while (0)

#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    long long harness_a_ = (long long)(a);                                     \
    long long harness_b_ = (long long)(b);                                     \
    if (harness_a_ != harness_b_)                                              \
      harness_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b,      \
                   harness_a_, harness_b_);                                    \
  } while (0)

#define CHECK_OK(expr)                                                         \
  do {                                                                         \
    int harness_rc_ = (int)(expr);                                             \
    if (harness_rc_ != 0)                                                      \
      harness_fail(__FILE__, __LINE__, "%s (returned %d %s)", #expr,           \
                   harness_rc_, eddy_err_name(harness_rc_));                   \
  } while (0)

#define CHECK_ERR(expr, code)                                                  \
  do {                                                                         \
    int harness_got_ = (int)(expr);                                            \
    int harness_want_ = (int)(code);                                           \
    if (harness_got_ != harness_want_)                                         \
      harness_fail(__FILE__, __LINE__,                                         \
                   "%s == %s (got %d %s, want %d %s)", #expr, #code,           \
                   harness_got_, eddy_err_name(harness_got_), harness_want_,   \
                   eddy_err_name(harness_want_));                              \
  } while (0)

#define CHECK_STR_EQ(a, b)                                                     \
  do {                                                                         \
    const char *harness_sa_ = (a);                                             \
    const char *harness_sb_ = (b);                                             \
    if (harness_sa_ == NULL || harness_sb_ == NULL                             \
            ? harness_sa_ != harness_sb_                                       \
            : strcmp(harness_sa_, harness_sb_) != 0)                           \
      harness_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b,  \
                   harness_sa_ ? harness_sa_ : "(null)",                       \
                   harness_sb_ ? harness_sb_ : "(null)");                      \
  } while (0)

#define CHECK_NEAR(a, b, eps)                                                  \
  do {                                                                         \
    double harness_da_ = (double)(a);                                          \
    double harness_db_ = (double)(b);                                          \
    double harness_de_ = (double)(eps);                                        \
    double harness_dd_ = harness_da_ - harness_db_;                            \
    if (harness_dd_ < 0)                                                       \
      harness_dd_ = -harness_dd_;                                              \
    if (!(harness_dd_ <= harness_de_))                                         \
      harness_fail(__FILE__, __LINE__, "%s ~= %s within %s (%.9g vs %.9g)",    \
                   #a, #b, #eps, harness_da_, harness_db_);                    \
  } while (0)

#endif /* EDDY_FFI_TESTS_HARNESS_H */
