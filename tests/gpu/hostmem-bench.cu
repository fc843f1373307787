// How fast the GPU moves data to and from host memory of each kind a
// VM's pinned copy can land in, natively, on NVIDIA's driver alone.
//
// A guest's pinned buffer is guest RAM: a memfd QEMU shares with
// vgpu-host, registered with cuMemHostRegister in the host's page size
// (4 KiB unless the host backs guest RAM with huge pages). This measures,
// in one process, synchronous 1 GiB (by default) copies each way from:
//   alloc_host     cuMemAllocHost (what the suite's native pinned figure uses)
//   anon_4k        anonymous memory, MADV_NOHUGEPAGE, registered
//   anon_thp       anonymous memory, 2 MiB aligned, MADV_HUGEPAGE, registered
//   memfd_4k       a shared memfd (QEMU's memory-backend-memfd), registered
//   memfd_thp      the same with MADV_HUGEPAGE (huge only where the host's
//                  shmem_enabled allows it)
//   memfd_hugetlb  a memfd with MFD_HUGETLB (needs reserved huge pages)
// and prints `BENCH hostmem_<kind>_<dir> <MiB/s> MiB/s <huge KiB>` lines;
// kinds that cannot be set up print `SKIP`.
//
// Build: nvcc -O2 -o hostmem-bench hostmem-bench.cu -lcuda
#include <cuda.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(call)                                                                      \
    do {                                                                                 \
        CUresult r_ = (call);                                                            \
        if (r_ != CUDA_SUCCESS) {                                                        \
            const char *s_ = "";                                                         \
            cuGetErrorName(r_, &s_);                                                     \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, s_);           \
            return -1;                                                                   \
        }                                                                                \
    } while (0)

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Huge-page KiB backing [p, p + len), from /proc/self/smaps.
static long huge_kib(void *p, size_t len) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int in = 0;
    long kib = 0;
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a < hi && b > lo;
            continue;
        }
        long v;
        if (in && (sscanf(line, "AnonHugePages: %ld kB", &v) == 1 ||
                   sscanf(line, "ShmemPmdMapped: %ld kB", &v) == 1 ||
                   sscanf(line, "FilePmdMapped: %ld kB", &v) == 1))
            kib += v;
        if (in && strncmp(line, "KernelPageSize:", 15) == 0) {
            long ps;
            if (sscanf(line, "KernelPageSize: %ld kB", &ps) == 1 && ps >= 2048) kib = len / 1024;
        }
    }
    fclose(f);
    return kib;
}

static int measure(const char *kind, void *host, size_t len, int registered, int iters) {
    CUdeviceptr dev;
    CHECK(cuMemAlloc(&dev, len));
    if (registered) CHECK(cuMemHostRegister(host, len, 0));
    memset(host, 0x5a, len);
    long huge = huge_kib(host, len);
    for (int dir = 0; dir < 2; dir++) {
        // One untimed copy first: the driver's own first-touch work.
        if (dir == 0) CHECK(cuMemcpyHtoD(dev, host, len));
        else CHECK(cuMemcpyDtoH(host, dev, len));
        double t0 = now_s();
        for (int i = 0; i < iters; i++) {
            if (dir == 0) CHECK(cuMemcpyHtoD(dev, host, len));
            else CHECK(cuMemcpyDtoH(host, dev, len));
        }
        double mibs = (double)len * iters / (now_s() - t0) / (1 << 20);
        printf("BENCH hostmem_%s_%s %.0f MiB/s huge_kib=%ld\n", kind, dir ? "dtoh" : "htod", mibs,
               huge);
    }
    if (registered) CHECK(cuMemHostUnregister(host));
    CHECK(cuMemFree(dev));
    return 0;
}

static void *map_memfd(size_t len, unsigned flags, int advise) {
    int fd = (int)syscall(SYS_memfd_create, "guest-ram", flags);
    if (fd < 0) return NULL;
    if (ftruncate(fd, (off_t)len) != 0) {
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return NULL;
    if (advise) madvise(p, len, MADV_HUGEPAGE);
    return p;
}

static void *map_anon(size_t len, int huge) {
    size_t align = 2u << 20;
    char *p = (char *)mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
    if (p == MAP_FAILED) return NULL;
    char *q = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
    madvise(q, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    return q;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
    int iters = argc > 2 ? atoi(argv[2]) : 8;
    size_t len = mib << 20;
    CUdevice d;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&d, 0));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, d));
    CHECK(cuCtxSetCurrent(ctx));

    void *p;
    CHECK(cuMemAllocHost(&p, len));
    if (measure("alloc_host", p, len, 0, iters)) return 1;
    CHECK(cuMemFreeHost(p));

    struct {
        const char *kind;
        void *p;
    } kinds[] = {
        {"anon_4k", map_anon(len, 0)},
        {"anon_thp", map_anon(len, 1)},
        {"memfd_4k", map_memfd(len, 0, 0)},
        {"memfd_thp", map_memfd(len, 0, 1)},
        {"memfd_hugetlb", map_memfd(len, MFD_HUGETLB, 0)},
    };
    for (auto &k : kinds) {
        if (!k.p) {
            printf("SKIP hostmem_%s (could not map)\n", k.kind);
            continue;
        }
        if (measure(k.kind, k.p, len, 1, iters)) printf("SKIP hostmem_%s (failed)\n", k.kind);
    }
    return 0;
}
