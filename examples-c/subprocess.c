/* Runs a child, streams its stdout as it comes, and reports how it ended.
 *
 *   ./subprocess [program [args...]]   (default: a shell loop that exits 3)
 */
#include <eddy.h>

#include <stdio.h>
#include <string.h>

struct run {
    eddy_loop_t *loop;
    eddy_future_t *done;
};

static void pipe_data_received(eddy_process_t *p, int fd, const uint8_t *data, size_t len, void *ud) {
    (void)p;
    (void)ud;
    printf("[child fd %d] %.*s", fd, (int)len, (const char *)data);
}

static void process_exited(eddy_process_t *p, void *ud) {
    (void)ud;
    int rc = 0;
    eddy_process_get_returncode(p, &rc);
    if (rc < 0)
        printf("child %d killed by signal %d\n", eddy_process_get_pid(p), -rc);
    else
        printf("child %d exited with status %d\n", eddy_process_get_pid(p), rc);
}

/* Last: the child has exited and every pipe is closed. */
static void connection_lost(eddy_process_t *p, int err, void *ud) {
    struct run *r = ud;
    int rc = 0;
    eddy_process_get_returncode(p, &rc);
    eddy_future_set_result(r->done, NULL, rc);
    (void)err;
}

static const eddy_subprocess_protocol_t protocol = {
    .pipe_data_received = pipe_data_received,
    .process_exited = process_exited,
    .connection_lost = connection_lost,
};

int main(int argc, char **argv) {
    const char *default_argv[] = {"sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.05; done; exit 3", NULL};
    const char *const *child_argv = argc > 1 ? (const char *const *)(argv + 1) : default_argv;
    struct run r;
    eddy_new_event_loop(&r.loop);
    eddy_loop_create_future(r.loop, &r.done);

    eddy_subprocess_options_t o;
    eddy_subprocess_options_init(&o);
    o.stdin_fd = EDDY_SUBPROCESS_DEVNULL;
    o.stderr_fd = EDDY_SUBPROCESS_STDOUT; /* merge stderr into the stdout pipe */
    eddy_future_t *spawned;
    int rc = eddy_loop_subprocess_exec(r.loop, &protocol, &r, child_argv, &o, &spawned);
    if (rc == 0)
        rc = eddy_loop_run_until_complete(r.loop, spawned);
    if (rc != 0) {
        fprintf(stderr, "subprocess_exec %s: %s\n", child_argv[0], eddy_strerror(rc));
        return 1;
    }
    eddy_future_release(spawned);
    eddy_loop_run_until_complete(r.loop, r.done);
    int64_t status = 0;
    eddy_future_result(r.done, NULL, &status);
    eddy_future_release(r.done);
    eddy_loop_close(r.loop);
    eddy_loop_release(r.loop);
    return argc > 1 ? (int)(status & 0xff) : (status == 3 ? 0 : 1);
}
