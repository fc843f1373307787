/* A stand-in "real driver" for the tracer's self-test: a handful of entry
 * points, cuGetProcAddress answers, and export tables whose slots check
 * their arguments, so the test can tell that every trampoline passes
 * registers, stack arguments and floating-point arguments through intact.
 * Built with RELRO, so its tables lie in read-only pages as a real
 * library's do. */
#include <stdint.h>
#include <string.h>

#include "dark-api-ids.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int cuInit(unsigned int flags) { return flags == 0 ? 0 : 1; }

EXPORT int cuDriverGetVersion(int *v)
{
    if (!v)
        return 1;
    *v = 13000;
    return 0;
}

EXPORT int cuDeviceGetAttribute(int *pi, int attrib, int dev)
{
    if (!pi || dev != 0)
        return 101;
    *pi = attrib * 10;
    return 0;
}

/* Many arguments: six in registers, five on the stack. Answers 0 only if
 * each is what tracer-test passes. */
static int launch_check(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shm, void *stream, void **params, void **extra)
{
    return f == (void *)0x1111 && gx == 2 && gy == 3 && gz == 4 && bx == 5 && by == 6 && bz == 7 &&
                   shm == 8 && stream == (void *)0x2222 && params == (void **)0x3333 &&
                   extra == (void **)0x4444
               ? 0
               : 1;
}

EXPORT int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                          unsigned bz, unsigned shm, void *stream, void **params, void **extra)
{
    return launch_check(f, gx, gy, gz, bx, by, bz, shm, stream, params, extra);
}

EXPORT int cuLaunchKernel_ptsz(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                               unsigned by, unsigned bz, unsigned shm, void *stream, void **params,
                               void **extra)
{
    return 10 + launch_check(f, gx, gy, gz, bx, by, bz, shm, stream, params, extra);
}

/* The checksum tracer-test computes too: 8 integers (two on the stack)
 * and 9 doubles (one on the stack). */
static long mix(long a1, long a2, long a3, long a4, long a5, long a6, long a7, long a8, double d1,
                double d2, double d3, double d4, double d5, double d6, double d7, double d8,
                double d9)
{
    return a1 + 2 * a2 + 3 * a3 + 4 * a4 + 5 * a5 + 6 * a6 + 7 * a7 + 8 * a8 +
           (long)(100 * d1 + 200 * d2 + 300 * d3 + 400 * d4 + 500 * d5 + 600 * d6 + 700 * d7 +
                  800 * d8 + 900 * d9);
}

/* A name the tracer has no prototype for, so it gets an untyped trampoline. */
EXPORT long cuGLMapBufferObjectAsync_v2(long a1, long a2, long a3, long a4, long a5, long a6,
                                        long a7, long a8, double d1, double d2, double d3,
                                        double d4, double d5, double d6, double d7, double d8,
                                        double d9)
{
    return mix(a1, a2, a3, a4, a5, a6, a7, a8, d1, d2, d3, d4, d5, d6, d7, d8, d9);
}

static long slot_mix(long a1, long a2, long a3, long a4, long a5, long a6, long a7, long a8,
                     double d1, double d2, double d3, double d4, double d5, double d6, double d7,
                     double d8, double d9)
{
    return 1000000 + mix(a1, a2, a3, a4, a5, a6, a7, a8, d1, d2, d3, d4, d5, d6, d7, d8, d9);
}

/* One function under two names, as a library may alias an old entry point
 * to a new one: cuGetProcAddress's answer then names either. */
static int ctx_get_device(int *dev, void *ctx)
{
    if (!dev)
        return 1;
    *dev = ctx == (void *)0x99 ? 9 : 0;
    return 0;
}
EXPORT int cuCtxGetDevice(int *dev, void *ctx) __attribute__((alias("ctx_get_device")));
EXPORT int cuCtxGetDevice_v2(int *dev, void *ctx) __attribute__((alias("ctx_get_device")));

static int slot_two(void) { return 2; }
static int slot_three(void) { return 3; }
static int internal_fn(void) { return 42; }

/* Slot 0 is the byte size; slot 2 is NULL, as some of NVIDIA's are. */
static const void *const cudart_table[] = {(void *)(4 * sizeof(void *)), (void *)slot_mix, NULL,
                                           (void *)slot_three};
/* No size slot: functions from [0]. */
static const void *const cls_table[] = {(void *)slot_mix, (void *)slot_two, (void *)slot_three,
                                        (void *)slot_two};
static const void *const integrity_table[] = {(void *)(3 * sizeof(void *)), (void *)slot_two,
                                              (void *)slot_three};
static const void *const checks_table[] = {(void *)(3 * sizeof(void *)), (void *)slot_mix,
                                           (void *)slot_three};

EXPORT const void *const *fake_table(int which)
{
    switch (which) {
    case 0: return cudart_table;
    case 1: return cls_table;
    case 2: return integrity_table;
    default: return checks_table;
    }
}

EXPORT int cuGetExportTable(const void **pp, const unsigned char *id)
{
    if (!pp || !id)
        return 1;
    *pp = NULL;
    if (memcmp(id, CUDART_ID, 16) == 0)
        *pp = cudart_table;
    else if (memcmp(id, CLS_ID, 16) == 0)
        *pp = cls_table;
    else if (memcmp(id, INTEGRITY_ID, 16) == 0)
        *pp = integrity_table;
    else if (memcmp(id, CHECKS_ID, 16) == 0)
        *pp = checks_table;
    return *pp ? 0 : 1;
}

static void *lookup(const char *s, unsigned long long flags)
{
    if (strcmp(s, "cuInit") == 0) return (void *)cuInit;
    if (strcmp(s, "cuDriverGetVersion") == 0) return (void *)cuDriverGetVersion;
    if (strcmp(s, "cuDeviceGetAttribute") == 0) return (void *)cuDeviceGetAttribute;
    if (strcmp(s, "cuLaunchKernel") == 0)
        return flags == 2 ? (void *)cuLaunchKernel_ptsz : (void *)cuLaunchKernel;
    if (strcmp(s, "cuGLMapBufferObjectAsync") == 0) return (void *)cuGLMapBufferObjectAsync_v2;
    if (strcmp(s, "cuGetExportTable") == 0) return (void *)cuGetExportTable;
    if (strcmp(s, "cuInternal") == 0) return (void *)internal_fn;
    if (strcmp(s, "cuCtxGetDevice") == 0) return (void *)ctx_get_device;
    return NULL;
}

EXPORT int cuGetProcAddress_v2(const char *s, void **pfn, int version, unsigned long long flags,
                               int *status);

EXPORT int cuGetProcAddress(const char *s, void **pfn, int version, unsigned long long flags)
{
    if (!s || !pfn)
        return 1;
    if (version > 13000)
        return 1; /* pfn untouched, as R580 does */
    if (strcmp(s, "cuGetProcAddress") == 0) {
        *pfn = (void *)cuGetProcAddress_v2;
        return 0;
    }
    *pfn = lookup(s, flags);
    return *pfn ? 0 : 500;
}

EXPORT int cuGetProcAddress_v2(const char *s, void **pfn, int version, unsigned long long flags,
                               int *status)
{
    if (!s || !pfn)
        return 1;
    if (version > 13000)
        return 1; /* pfn and status untouched, as R580 does */
    if (strcmp(s, "cuGetProcAddress") == 0)
        *pfn = (void *)cuGetProcAddress_v2;
    else
        *pfn = lookup(s, flags);
    if (status)
        *status = *pfn ? 0 : 1;
    return 0;
}
