/* Smallest real consumer of the installed library, built by `make test`
   through pkg-config (shared and static). */
#include <eddy.h>

#include <stdio.h>

int main(void) {
  eddy_loop_t *loop = NULL;
  int rc = eddy_new_event_loop(&loop);
  if (rc != 0) {
    fprintf(stderr, "eddy_new_event_loop: %s (%s)\n", eddy_strerror(rc), eddy_err_name(rc));
    return 1;
  }
  rc = eddy_loop_close(loop);
  eddy_loop_release(loop);
  if (rc != 0) {
    fprintf(stderr, "eddy_loop_close: %s (%s)\n", eddy_strerror(rc), eddy_err_name(rc));
    return 1;
  }
  if (eddy_version() != EDDY_VERSION_HEX) {
    fprintf(stderr, "eddy_version() != EDDY_VERSION_HEX: header and library disagree\n");
    return 1;
  }
  printf("pc_consumer: eddy %s OK\n", eddy_version_string());
  return 0;
}
