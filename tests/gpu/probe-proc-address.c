// Asks NVIDIA's libcuda.so.1 the cuGetProcAddress questions that
// gen-proc-table does not: the v1 entry point (no symbolStatus), NULL
// arguments, flags outside 0..2, negative versions and versions between the
// table's breakpoints, versioned names. Prints one line per request:
//   entry symbol version flags -> CUresult [status] export
// where status 77 / export "(untouched)" mean the driver did not write it.
// Its output on R580 is userlib/proc-address/r580-edges.txt.
// Build: cc -O2 -o probe-proc-address probe-proc-address.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*v1_fn)(const char *, void **, int, unsigned long long);
typedef int (*v2_fn)(const char *, void **, int, unsigned long long, int *);

static const char *name_of(void *p) {
    Dl_info info;
    if (p == (void *)1) return "(untouched)";
    if (!p) return "-";
    if (dladdr(p, &info) && info.dli_sname && info.dli_saddr == p) return info.dli_sname;
    return "?unnamed";
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    void *h = dlopen(argc > 1 ? argv[1] : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
    v1_fn v1 = (v1_fn)dlsym(h, "cuGetProcAddress");
    v2_fn v2 = (v2_fn)dlsym(h, "cuGetProcAddress_v2");
    if (!v1 || !v2) { fprintf(stderr, "no cuGetProcAddress/_v2\n"); return 2; }
    struct { const char *sym; int ver; unsigned long long flags; } q[] = {
        {"cuMemAlloc", 12000, 0}, {"cuNope", 12000, 0}, {"", 12000, 0},
        {"cuMemAllocAsync", 11000, 0}, {"cuMemAllocAsync", 11020, 2},
        {"cuMemAlloc", 13010, 0}, {"cuNope", 13010, 0}, {"cuMemAlloc", 13001, 0},
        {"cuMemAlloc", 13005, 0}, {"cuMemAlloc", 1000, 0}, {"cuMemAlloc", 0, 0},
        {"cuMemAlloc", -1, 0}, {"cuMemAlloc_v2", 12000, 0}, {"cuMemcpy", 12000, 3},
        {"cuMemcpy", 12000, 4}, {"cuMemcpy", 12000, 1ULL << 40}, {"cuGetProcAddress", 13000, 0},
        {"cuGetProcAddress", 11030, 0}, {"cuCtxGetDevice", -1, 0}, {"cuCtxGetDevice", -2, 0},
        {"cuCtxGetDevice", INT_MIN, 0}, {"cuCtxCreate", -1000, 0}, {"cuCtxCreate", 12030, 0},
        {"cuStreamGetCaptureInfo", -1, 2}, {"cuStreamGetCaptureInfo", 12030, 3},
        {"cuMemAllocAsync", 11020, 3}, {"cuMemAllocAsync", 11020, 1}, {"cuNope", -1, 0},
    };
    for (unsigned i = 0; i < sizeof q / sizeof q[0]; i++) {
        void *p = (void *)1;
        int st = 77, r = v1(q[i].sym, &p, q[i].ver, q[i].flags);
        printf("v1 %s %d %llu -> %d %s\n", q[i].sym, q[i].ver, q[i].flags, r, name_of(p));
        p = (void *)1;
        r = v2(q[i].sym, &p, q[i].ver, q[i].flags, &st);
        printf("v2 %s %d %llu -> %d %d %s\n", q[i].sym, q[i].ver, q[i].flags, r, st, name_of(p));
    }
    // NULL arguments, each in a child: the driver may not survive them.
    for (int c = 0; c < 4; c++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *p = (void *)1;
            int st = 77, r;
            switch (c) {
            case 0: r = v1(NULL, &p, 12000, 0); printf("v1 (null) -> %d %s\n", r, name_of(p)); break;
            case 1: r = v2(NULL, &p, 12000, 0, &st); printf("v2 (null) -> %d %d %s\n", r, st, name_of(p)); break;
            case 2: r = v1("cuMemAlloc", NULL, 12000, 0); printf("v1 cuMemAlloc pfn=NULL -> %d\n", r); break;
            case 3: r = v2("cuMemAlloc", NULL, 12000, 0, &st); printf("v2 cuMemAlloc pfn=NULL -> %d %d\n", r, st); break;
            }
            _exit(0);
        }
        int ws = 0;
        waitpid(pid, &ws, 0);
        if (!WIFEXITED(ws)) printf("case %d: killed by signal %d\n", c, WTERMSIG(ws));
    }
    return 0;
}
