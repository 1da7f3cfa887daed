/* A tour of the loop core: timers, call_soon_threadsafe from a worker
 * thread, and a task that awaits a future the worker completes.
 *
 *   cc hello.c $(pkg-config --cflags --libs eddy) -pthread -o hello && ./hello
 */
#include <eddy.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct app {
    eddy_loop_t *loop;
    eddy_future_t *answer; /* completed on the loop thread with the worker's result */
    int worker_result;
};

static void on_timer(void *ud) {
    const char *what = ud;
    printf("timer: %s\n", what);
}

/* Runs on the loop thread: called through call_soon_threadsafe. */
static void deliver_answer(void *ud) {
    struct app *app = ud;
    printf("loop: worker says %d\n", app->worker_result);
    eddy_future_set_result(app->answer, NULL, app->worker_result);
}

static void *worker(void *ud) {
    struct app *app = ud;
    usleep(20 * 1000); /* pretend to compute */
    app->worker_result = 42;
    /* The only loop call that is safe from another thread. */
    if (eddy_loop_call_soon_threadsafe(app->loop, deliver_answer, app, NULL) != 0)
        fprintf(stderr, "worker: loop is gone\n");
    return NULL;
}

/* The task's step: first await the answer, then finish with it. */
static void task_step(eddy_future_t *task, void *ud) {
    struct app *app = ud;
    if (!eddy_future_done(app->answer)) {
        printf("task: waiting for the answer\n");
        eddy_task_await(task, app->answer);
        return;
    }
    int64_t n = 0;
    eddy_future_result(app->answer, NULL, &n);
    printf("task: got %lld, done\n", (long long)n);
    eddy_future_set_result(task, NULL, n * 2);
}

int main(void) {
    struct app app = {0};
    int rc = eddy_new_event_loop(&app.loop);
    if (rc != 0) {
        fprintf(stderr, "eddy_new_event_loop: %s\n", eddy_strerror(rc));
        return 1;
    }
    printf("eddy %s\n", eddy_version_string());

    eddy_loop_call_later(app.loop, 0.010, on_timer, "10 ms", NULL);
    eddy_loop_call_later(app.loop, 0.005, on_timer, "5 ms", NULL);
    eddy_loop_create_future(app.loop, &app.answer);

    eddy_future_t *task = NULL;
    eddy_loop_create_task(app.loop, task_step, &app, &task);

    pthread_t th;
    pthread_create(&th, NULL, worker, &app);

    rc = eddy_loop_run_until_complete(app.loop, task);
    int64_t doubled = 0;
    eddy_future_result(task, NULL, &doubled);
    printf("main: task finished (%s) with %lld\n", eddy_err_name(rc), (long long)doubled);

    pthread_join(th, NULL);
    eddy_future_release(task);
    eddy_future_release(app.answer);
    rc = eddy_loop_close(app.loop);
    eddy_loop_release(app.loop);
    return rc == 0 && doubled == 84 ? 0 : 1;
}
