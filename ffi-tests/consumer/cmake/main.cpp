// C++17 consumer of eddy through CMake: runs one callback on a fresh loop.
#include <eddy.h>

#include <cstdio>
#include <cstring>

namespace {

struct state {
  eddy_loop_t *loop;
  int calls;
};

extern "C" void on_soon(void *ud) {
  auto *s = static_cast<state *>(ud);
  s->calls++;
  eddy_loop_stop(s->loop);
}

int fail(const char *what, int rc) {
  std::fprintf(stderr, "consumer_%s: %s: %s (%s)\n", LINKAGE, what, eddy_strerror(rc),
               eddy_err_name(rc));
  return 1;
}

}  // namespace

int main() {
  if (std::strcmp(eddy_version_string(), EXPECTED_VERSION) != 0) {
    std::fprintf(stderr, "consumer_%s: library %s, package %s\n", LINKAGE,
                 eddy_version_string(), EXPECTED_VERSION);
    return 1;
  }
  if (eddy_version() != EDDY_VERSION_HEX) {
    std::fprintf(stderr, "consumer_%s: eddy_version() != EDDY_VERSION_HEX\n", LINKAGE);
    return 1;
  }
  state s{nullptr, 0};
  if (int rc = eddy_new_event_loop(&s.loop)) return fail("eddy_new_event_loop", rc);
  if (int rc = eddy_loop_call_soon(s.loop, on_soon, &s, nullptr)) return fail("call_soon", rc);
  if (int rc = eddy_loop_run_forever(s.loop)) return fail("run_forever", rc);
  if (int rc = eddy_loop_close(s.loop)) return fail("close", rc);
  eddy_loop_release(s.loop);
  if (s.calls != 1) {
    std::fprintf(stderr, "consumer_%s: callback ran %d times\n", LINKAGE, s.calls);
    return 1;
  }
  std::printf("consumer_%s: eddy %s OK\n", LINKAGE, eddy_version_string());
  return 0;
}
