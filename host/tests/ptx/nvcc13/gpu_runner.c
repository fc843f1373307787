/* Replays the launches the nvcc fixture tests record (VGPU_PTX_CASES=dir
 * cargo test -p vgpu-host --test 'ptx_nvcc*') on a real GPU through the
 * driver API, JIT-compiling the same PTX, and writes each launch's buffers
 * and module variables to <case>.gpu in the format of the simulator's
 * <case>.sim, for a byte-for-byte comparison (compare.py).
 *
 *   nvcc -o gpu_runner gpu_runner.c -lcuda
 *   ./gpu_runner <fixture dir> <case>...
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(CUresult r, const char *what, const char *file)
{
    if (r != CUDA_SUCCESS) {
        const char *name = "?";
        cuGetErrorName(r, &name);
        fprintf(stderr, "%s: %s: %s\n", file, what, name);
        exit(1);
    }
}

struct rd {
    uint8_t *p;
    size_t n, off;
};

static void need(struct rd *r, size_t k)
{
    if (r->off + k > r->n) {
        fprintf(stderr, "truncated case file\n");
        exit(1);
    }
}

static uint64_t u64(struct rd *r)
{
    uint64_t v;
    need(r, 8);
    memcpy(&v, r->p + r->off, 8);
    r->off += 8;
    return v;
}

static uint32_t u32(struct rd *r)
{
    uint32_t v;
    need(r, 4);
    memcpy(&v, r->p + r->off, 4);
    r->off += 4;
    return v;
}

static uint8_t *blob(struct rd *r, uint64_t *len)
{
    *len = u64(r);
    need(r, *len);
    uint8_t *b = r->p + r->off;
    r->off += *len;
    return b;
}

static char *cstr(struct rd *r)
{
    uint64_t n;
    uint8_t *b = blob(r, &n);
    char *s = malloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    return s;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) {
        perror(path);
        exit(1);
    }
    b[*n] = 0;
    fclose(f);
    return b;
}

static void put(FILE *f, const void *b, uint64_t n)
{
    fwrite(&n, 8, 1, f);
    fwrite(b, 1, n, f);
}

static void run_case(const char *dir, const char *path)
{
    struct rd r = {0};
    r.p = slurp(path, &r.n);
    need(&r, 8);
    if (memcmp(r.p, "VGPUCAS1", 8) != 0) {
        fprintf(stderr, "%s: not a case file\n", path);
        exit(1);
    }
    r.off = 8;
    char *ptx_name = cstr(&r), *kernel = cstr(&r);
    uint32_t dims[7];
    for (int i = 0; i < 7; i++)
        dims[i] = u32(&r);
    uint64_t psize;
    uint8_t *params = blob(&r, &psize);
    uint64_t nfix = u64(&r);
    uint32_t *fix = malloc(sizeof(uint32_t) * 2 * (nfix + 1));
    for (uint64_t i = 0; i < nfix; i++) {
        fix[2 * i] = u32(&r);
        fix[2 * i + 1] = u32(&r);
    }
    char ptx_path[4096];
    snprintf(ptx_path, sizeof ptx_path, "%s/%s", dir, ptx_name);
    size_t ptx_len;
    char *ptx = (char *)slurp(ptx_path, &ptx_len);
    CUmodule mod;
    CUfunction fn;
    check(cuModuleLoadData(&mod, ptx), "cuModuleLoadData", path);
    check(cuModuleGetFunction(&fn, mod, kernel), "cuModuleGetFunction", path);
    uint64_t nbufs = u64(&r);
    CUdeviceptr *dptr = calloc(nbufs + 1, sizeof(CUdeviceptr));
    uint64_t *lens = calloc(nbufs + 1, sizeof(uint64_t));
    for (uint64_t i = 0; i < nbufs; i++) {
        uint8_t *b = blob(&r, &lens[i]);
        check(cuMemAlloc(&dptr[i], lens[i] ? lens[i] : 1), "cuMemAlloc", path);
        if (lens[i])
            check(cuMemcpyHtoD(dptr[i], b, lens[i]), "cuMemcpyHtoD", path);
    }
    for (uint64_t i = 0; i < nfix; i++) {
        uint64_t a = dptr[fix[2 * i + 1]];
        memcpy(params + fix[2 * i], &a, 8);
    }
    uint64_t nglob = u64(&r);
    for (uint64_t i = 0; i < nglob; i++) {
        char *name = cstr(&r);
        uint64_t n;
        uint8_t *b = blob(&r, &n);
        CUdeviceptr g;
        size_t gsize;
        check(cuModuleGetGlobal(&g, &gsize, mod, name), "cuModuleGetGlobal", path);
        check(cuMemcpyHtoD(g, b, n < gsize ? n : gsize), "cuMemcpyHtoD global", path);
    }
    if (dims[6] > 48 * 1024)
        check(cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                 (int)dims[6]),
              "cuFuncSetAttribute", path);
    size_t size = psize;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, params, CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
                     CU_LAUNCH_PARAM_END};
    check(cuLaunchKernel(fn, dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], 0,
                         NULL, extra),
          "cuLaunchKernel", path);
    check(cuCtxSynchronize(), "cuCtxSynchronize", path);
    char out_path[4096];
    snprintf(out_path, sizeof out_path, "%.*s.gpu", (int)(strlen(path) - 5), path);
    FILE *out = fopen(out_path, "wb");
    if (!out) {
        perror(out_path);
        exit(1);
    }
    for (uint64_t i = 0; i < nbufs; i++) {
        uint8_t *b = malloc(lens[i] + 1);
        if (lens[i])
            check(cuMemcpyDtoH(b, dptr[i], lens[i]), "cuMemcpyDtoH", path);
        put(out, b, lens[i]);
        free(b);
        cuMemFree(dptr[i]);
    }
    uint64_t nvars = u64(&r);
    for (uint64_t i = 0; i < nvars; i++) {
        char *name = cstr(&r);
        CUdeviceptr g;
        size_t gsize;
        check(cuModuleGetGlobal(&g, &gsize, mod, name), "cuModuleGetGlobal", path);
        uint8_t *b = malloc(gsize + 1);
        check(cuMemcpyDtoH(b, g, gsize), "cuMemcpyDtoH global", path);
        put(out, name, strlen(name));
        put(out, b, gsize);
        free(b);
    }
    fclose(out);
    cuModuleUnload(mod);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s <fixture dir> <case>...\n", argv[0]);
        return 2;
    }
    CUdevice dev;
    CUcontext ctx;
    check(cuInit(0), "cuInit", "-");
    check(cuDeviceGet(&dev, 0), "cuDeviceGet", "-");
    check(cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain", "-");
    check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent", "-");
    for (int i = 2; i < argc; i++)
        run_case(argv[1], argv[i]);
    printf("%d launches replayed\n", argc - 2);
    return 0;
}
