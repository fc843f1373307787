/* The program the tracer's self-test runs under the tracer.
 *   tracer-test driver       a few driver calls any libcuda answers
 *                            (ours, NVIDIA's): prints what it got
 *   tracer-test fake <path>  against fake-driver.so at <path>: checks that
 *                            every kind of trampoline passes arguments and
 *                            results through intact; exit 1 on a failure
 *   tracer-test threads      against fake-driver.so: 8 threads at once
 * It loads "libcuda.so.1" by that name, so LD_LIBRARY_PATH picks the tracer. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dark-api-ids.h"

typedef int (*init_fn)(unsigned);
typedef int (*version_fn)(int *);
typedef int (*attr_fn)(int *, int, int);
typedef int (*proc_v1_fn)(const char *, void **, int, unsigned long long);
typedef int (*proc_v2_fn)(const char *, void **, int, unsigned long long, int *);
typedef int (*table_fn)(const void **, const unsigned char *);
typedef int (*launch_fn)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                         unsigned, void *, void **, void **);
typedef long (*mix_fn)(long, long, long, long, long, long, long, long, double, double, double,
                       double, double, double, double, double, double);

static int failures;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok" : "FAIL", what);
    failures += !ok;
}

static void *sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (!p) {
        fprintf(stderr, "tracer-test: no %s in libcuda.so.1\n", name);
        exit(2);
    }
    return p;
}

static long expected_mix(void)
{
    return 1 + 2 * 2 + 3 * 3 + 4 * 4 + 5 * 5 + 6 * 6 + 7 * 7 + 8 * 8 +
           (long)(100 * 0.5 + 200 * 1.5 + 300 * 2.5 + 400 * 3.5 + 500 * 4.5 + 600 * 5.5 +
                  700 * 6.5 + 800 * 7.5 + 900 * 8.5);
}

static long call_mix(void *f)
{
    return ((mix_fn)f)(1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5);
}

static int driver(void *h)
{
    int r = ((init_fn)sym(h, "cuInit"))(0);
    printf("cuInit -> %d\n", r);
    int v = 0;
    r = ((version_fn)sym(h, "cuDriverGetVersion"))(&v);
    printf("cuDriverGetVersion -> %d %d\n", r, v);
    proc_v2_fn proc = (proc_v2_fn)sym(h, "cuGetProcAddress_v2");
    static const struct { const char *name; int version; unsigned long long flags; } asks[] = {
        {"cuMemAlloc", 12000, 0}, {"cuLaunchKernel", 12000, 2}, {"cuCtxGetDevice", 13000, 0},
        {"cuNope", 12000, 0},     {"cuMemAlloc", 13010, 0},     {"cuGetProcAddress", 12000, 0},
        {"cuDriverGetVersion", 12000, 0},
    };
    void *got_version = NULL;
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
        void *fn = NULL;
        int st = -1;
        r = proc(asks[i].name, &fn, asks[i].version, asks[i].flags, &st);
        printf("cuGetProcAddress_v2 %s %d %llu -> %d %d %s\n", asks[i].name, asks[i].version,
               asks[i].flags, r, st, fn ? "fn" : "NULL");
        if (strcmp(asks[i].name, "cuDriverGetVersion") == 0)
            got_version = fn;
    }
    if (got_version) {
        r = ((version_fn)got_version)(&v); /* through the pointer: traced too */
        printf("cuDriverGetVersion via cuGetProcAddress -> %d %d\n", r, v);
    }
    const void *table = NULL;
    r = ((table_fn)sym(h, "cuGetExportTable"))(&table, CUDART_ID);
    printf("cuGetExportTable CUDART_INTERFACE -> %d %s\n", r, table ? "table" : "NULL");
    int dev = -1;
    r = ((int (*)(int *, int))sym(h, "cuDeviceGet"))(&dev, 0);
    printf("cuDeviceGet -> %d %d\n", r, dev);
    int sms = 0;
    r = ((attr_fn)sym(h, "cuDeviceGetAttribute"))(&sms, 16, 0);
    printf("cuDeviceGetAttribute MULTIPROCESSOR_COUNT -> %d %d\n", r, sms);
    char name[128] = "";
    r = ((int (*)(char *, int, int))sym(h, "cuDeviceGetName"))(name, sizeof name, 0);
    printf("cuDeviceGetName -> %d %s\n", r, name);
    return 0;
}

static int fake(void *h, const char *fake_path)
{
    /* The tracer loads the real library at its first call. */
    check(((init_fn)sym(h, "cuInit"))(0) == 0, "cuInit result");
    void *f = dlopen(fake_path, RTLD_NOW | RTLD_NOLOAD);
    if (!f) {
        fprintf(stderr, "tracer-test: %s is not loaded (VGPU_TRACE_REAL points elsewhere?)\n",
                fake_path);
        return 2;
    }
    const void *const *(*fake_table)(int) = (const void *const *(*)(int))dlsym(f, "fake_table");
    int v = 0;
    check(((version_fn)sym(h, "cuDriverGetVersion"))(&v) == 0 && v == 13000, "cuDriverGetVersion");
    int pi = 0;
    check(((attr_fn)sym(h, "cuDeviceGetAttribute"))(&pi, 7, 0) == 0 && pi == 70,
          "cuDeviceGetAttribute output");
    launch_fn launch = (launch_fn)sym(h, "cuLaunchKernel");
    check(launch((void *)0x1111, 2, 3, 4, 5, 6, 7, 8, (void *)0x2222, (void **)0x3333,
                 (void **)0x4444) == 0,
          "typed wrapper passes 11 arguments (5 on the stack)");
    check(call_mix(sym(h, "cuGLMapBufferObjectAsync_v2")) == expected_mix(),
          "untyped trampoline passes stack and float arguments");

    proc_v2_fn proc = (proc_v2_fn)sym(h, "cuGetProcAddress_v2");
    void *fn = NULL;
    int st = -1;
    check(proc("cuLaunchKernel", &fn, 12000, 2, &st) == 0 && st == 0 &&
              fn == dlsym(h, "cuLaunchKernel_ptsz"),
          "cuGetProcAddress answers with the tracer's own cuLaunchKernel_ptsz");
    check(fn && ((launch_fn)fn)((void *)0x1111, 2, 3, 4, 5, 6, 7, 8, (void *)0x2222,
                                (void **)0x3333, (void **)0x4444) == 10,
          "call through the answered pointer reaches the real _ptsz");
    check(proc("cuGLMapBufferObjectAsync", &fn, 12000, 0, &st) == 0 && fn &&
              call_mix(fn) == expected_mix(),
          "untyped trampoline from cuGetProcAddress");
    check(proc("cuInternal", &fn, 12000, 0, &st) == 0 && fn && ((int (*)(void))fn)() == 42,
          "a non-export answer is handed on as it is");
    int d = -1;
    check(proc("cuCtxGetDevice", &fn, 13000, 0, &st) == 0 && fn && fn != dlsym(h, "cuCtxGetDevice") &&
              fn != dlsym(h, "cuCtxGetDevice_v2") &&
              ((int (*)(int *, void *))fn)(&d, (void *)0x99) == 0 && d == 9,
          "an address with two names is handed on as it is");
    fn = (void *)0x77;
    st = 77;
    check(proc("cuInit", &fn, 13010, 0, &st) == 1 && fn == (void *)0x77 && st == 77,
          "what the real one leaves untouched stays untouched");
    check(proc("cuNope", &fn, 12000, 0, &st) == 0 && fn == NULL && st == 1, "unknown symbol");
    check(proc("cuGetProcAddress", &fn, 12000, 0, &st) == 0 &&
              fn == dlsym(h, "cuGetProcAddress_v2"),
          "cuGetProcAddress for itself gives the tracer's");
    proc_v1_fn proc1 = (proc_v1_fn)sym(h, "cuGetProcAddress");
    check(proc1("cuDriverGetVersion", &fn, 12000, 0) == 0 && fn == dlsym(h, "cuDriverGetVersion"),
          "cuGetProcAddress v1");

    table_fn get_table = (table_fn)sym(h, "cuGetExportTable");
    const void *const *t = NULL, *const *t2 = NULL;
    check(get_table((const void **)&t, CHECKS_ID) == 0 && t && t != fake_table(3),
          "sized table is copied");
    check(get_table((const void **)&t2, CHECKS_ID) == 0 && t2 == t, "same copy every time");
    check(t && t[0] == (void *)(3 * sizeof(void *)), "copy keeps the size slot");
    check(t && t[1] != fake_table(3)[1] && call_mix((void *)t[1]) == 1000000 + expected_mix(),
          "slot trampoline passes stack and float arguments");
    check(get_table((const void **)&t, CLS_ID) == 0 && t && t != fake_table(1) &&
              call_mix((void *)t[0]) == 1000000 + expected_mix() &&
              ((int (*)(void))t[1])() == 2 && ((int (*)(void))t[3])() == 2,
          "CLS table: functions from slot 0");
    check(get_table((const void **)&t, CUDART_ID) == 0 && t == fake_table(0) && t[2] == NULL &&
              ((int (*)(void))t[3])() == 3 && call_mix((void *)t[1]) == 1000000 + expected_mix(),
          "CUDART_INTERFACE patched in place, NULL slot kept");
    const void *slot1 = fake_table(2)[1];
    check(get_table((const void **)&t, INTEGRITY_ID) == 0 && t == fake_table(2) &&
              t[1] == slot1 && ((int (*)(void))t[1])() == 2 && ((int (*)(void))t[2])() == 3,
          "INTEGRITY_CHECK in place, slot 1 untouched");
    static const unsigned char unknown[16] = {1, 2, 3};
    t = (const void *const *)0x5;
    check(get_table((const void **)&t, unknown) == 1 && t == NULL, "unknown table id");
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}

/* Threads calling at once: every line must come out whole, and every
 * thread must get the same copy of a table first asked for concurrently. */
static void *lib;
static const void *seen[8];

static void *hammer(void *arg)
{
    int n = (int)(intptr_t)arg;
    table_fn get_table = (table_fn)dlsym(lib, "cuGetExportTable");
    get_table(&seen[n], CHECKS_ID);
    attr_fn attr = (attr_fn)dlsym(lib, "cuDeviceGetAttribute");
    int pi, bad = 0;
    for (int i = 0; i < 1000; i++)
        bad += attr(&pi, i, 0) != 0 || pi != i * 10;
    return (void *)(intptr_t)bad;
}

static int threads(void *h)
{
    lib = h;
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, hammer, (void *)(intptr_t)i);
    intptr_t bad = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (intptr_t)r;
    }
    check(bad == 0, "8 threads x 1000 calls answered right");
    int same = 1;
    for (int i = 1; i < 8; i++)
        same &= seen[i] == seen[0] && seen[0];
    check(same, "one table copy for all threads");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "fake") == 0 && argc < 3)) {
        fprintf(stderr, "usage: tracer-test driver | threads | fake <fake-driver.so>\n");
        return 2;
    }
    /* RTLD_GLOBAL, as cudart loads it: the real library's references to its
     * own names then bind to the tracer's, which the tracer must handle. */
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        fprintf(stderr, "tracer-test: %s\n", dlerror());
        return 2;
    }
    if (strcmp(argv[1], "threads") == 0)
        return threads(h);
    return strcmp(argv[1], "fake") == 0 ? fake(h, argv[2]) : driver(h);
}
