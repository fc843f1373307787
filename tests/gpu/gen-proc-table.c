// Asks a CUDA driver's cuGetProcAddress_v2 which export it hands out for
// every (base name, flags, cudaVersion) and prints the breakpoints:
//   base <TAB> flags <TAB> first_version <TAB> status <TAB> export
// one row each time the answer changes as the version grows (status 0 =
// found, 1 = symbol not found, 2 = version not sufficient; export "-" when
// NULL). Names and versions are read from stdin: lines "name NAME" and
// "version N". Run on the GPU machine against NVIDIA's libcuda.so.1; the
// output is committed as userlib/proc-address/<driver>.tsv.
// Build: cc -O2 -o gen-proc-table gen-proc-table.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*get_proc_v2_fn)(const char *, void **, int, unsigned long long, int *);
typedef int (*driver_version_fn)(int *);

static int cmp_int(const void *a, const void *b) {
    return *(const int *)a - *(const int *)b;
}

int main(int argc, char **argv) {
    const char *lib = argc > 1 ? argv[1] : "libcuda.so.1";
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen %s: %s\n", lib, dlerror()); return 2; }
    get_proc_v2_fn gp = (get_proc_v2_fn)dlsym(h, "cuGetProcAddress_v2");
    driver_version_fn dv = (driver_version_fn)dlsym(h, "cuDriverGetVersion");
    if (!gp || !dv) { fprintf(stderr, "no cuGetProcAddress_v2/cuDriverGetVersion\n"); return 2; }
    int driver = 0;
    dv(&driver);

    static char names[8192][128];
    static int versions[1024];
    int nn = 0, nv = 0;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        char kind[16], val[128];
        if (sscanf(line, "%15s %127s", kind, val) != 2) continue;
        if (!strcmp(kind, "name") && nn < 8192) strcpy(names[nn++], val);
        if (!strcmp(kind, "version") && nv < 1024) versions[nv++] = atoi(val);
    }
    qsort(versions, nv, sizeof(int), cmp_int);
    printf("# cuGetProcAddress_v2 breakpoints of %s, cuDriverGetVersion %d\n", lib, driver);
    printf("# base\tflags\tfirst_version\tstatus\texport\n");
    for (int i = 0; i < nn; i++) {
        for (unsigned long long flags = 0; flags <= 2; flags++) {
            char last[160] = "";
            int last_status = -1;
            for (int j = 0; j < nv; j++) {
                if (j && versions[j] == versions[j - 1]) continue;
                void *p = NULL;
                int status = -1;
                int r = gp(names[i], &p, versions[j], flags, &status);
                char exp[160] = "-";
                if (p) {
                    Dl_info info;
                    if (dladdr(p, &info) && info.dli_sname && info.dli_saddr == p)
                        snprintf(exp, sizeof exp, "%s", info.dli_sname);
                    else
                        snprintf(exp, sizeof exp, "?unnamed");
                }
                if (r != 0) status = 100 + r; // a CUresult other than SUCCESS
                if (status != last_status || strcmp(exp, last)) {
                    printf("%s\t%llu\t%d\t%d\t%s\n", names[i], flags, versions[j], status, exp);
                    last_status = status;
                    strcpy(last, exp);
                }
            }
        }
    }
    return 0;
}
