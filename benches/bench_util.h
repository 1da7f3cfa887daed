/* Helpers shared by the benchmark programs (eddy and libuv alike): clocks,
 * CPU time, thread pinning, and the one-line key=value result format that
 * benches/run.sh parses. Header-only so each program stays one file. */
#ifndef EDDY_BENCH_UTIL_H
#define EDDY_BENCH_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* user+sys CPU seconds of the whole process (every thread). */
static inline double bench_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Peak resident set size in KiB. */
static inline long bench_maxrss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Pins the calling thread to one CPU; a CPU that does not exist is ignored
 * (the benchmark still runs, only less reproducibly). */
static inline void bench_pin_self(int cpu) {
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* An integer argument with a default. */
static inline long bench_arg(int argc, char **argv, int i, long def) {
    return argc > i ? atol(argv[i]) : def;
}

#endif
