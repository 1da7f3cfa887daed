/* Smoke tests: the library links, reports its version and error names, and a
   loop can be created and closed. Also proves the harness itself works. */
#include "harness.h"

TEST(version_matches_header) {
  CHECK_EQ(eddy_version(), EDDY_VERSION_HEX);
  const char *s = eddy_version_string();
  CHECK(s != NULL);
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", EDDY_VERSION_MAJOR, EDDY_VERSION_MINOR,
           EDDY_VERSION_PATCH);
  CHECK(strncmp(s, want, strlen(want)) == 0);
}

TEST(strerror_and_err_name_never_null) {
  static const int codes[] = {0, -1, -2, -11, -22, -9999, -4000, -4001, -4100, 1, 12345,
                              -2147483647 - 1};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    CHECK(eddy_strerror(codes[i]) != NULL);
    CHECK(eddy_err_name(codes[i]) != NULL);
  }
}

TEST(new_loop_and_close) {
  eddy_loop_t *loop = NULL;
  CHECK_OK(eddy_new_event_loop(&loop));
  CHECK(loop != NULL);
  CHECK_OK(eddy_loop_close(loop));
  eddy_loop_release(loop);
}

TEST(null_out_parameter_is_einval) {
  CHECK_ERR(eddy_new_event_loop(NULL), EDDY_EINVAL);
}
