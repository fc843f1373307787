// cuBLAS GEMM throughput on whichever libcuda.so.1 the loader finds:
// NVIDIA's (the reference) or ours (over the direct socket, or in the
// guest). Built on the GPU machine with its own nvcc and cuBLAS by
// scripts/gpu-suite.sh, like cublas-check.cu (cuBLAS kernels are SASS for
// real GPUs: the simulator cannot run them).
//
// SGEMM (fp32 in and out, cublasSgemm) and BF16 GEMM (bf16 in and out,
// fp32 accumulation, cublasGemmEx), N x N x N, column-major, no transpose.
// Each warms up, then runs back to back until --min-time-ms has passed,
// timed on the host clock from the first launch to the synchronize after
// the last (so launch costs on our path count, as they do for a program).
// Output: BENCH <name> <TFLOP/s> TFLOP/s <detail>; CASE bench-gemm PASS|FAIL
// <ms>ms <detail>; "N passed, N failed"; exit status non-zero on a failure.
// Usage: gemm-bench [--n N] [--min-time-ms MS]
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cublas-common.h"

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// Runs `gemm` (one call) until min_s has passed; TFLOP/s for an n^3 GEMM.
// Also the mean host time one call takes to return (*call_us): where the
// GPU finishes a GEMM sooner than the host issues the next, this is the
// rate's limit, so it is the figure to profile.
template <typename F> static double rate(F gemm, int n, double min_s, long *reps_out, double *call_us) {
    for (int i = 0; i < 3; i++) gemm();
    CK(cudaDeviceSynchronize());
    long reps = 0;
    double calling = 0.0;
    auto t = Clock::now();
    // Batches of 10 between clock checks: the clock check then costs nothing.
    do {
        auto c = Clock::now();
        for (int i = 0; i < 10; i++) gemm();
        calling += seconds_since(c);
        reps += 10;
        CK(cudaDeviceSynchronize());
    } while (seconds_since(t) < min_s);
    double s = seconds_since(t);
    *reps_out = reps;
    *call_us = calling / reps * 1e6;
    return 2.0 * n * n * (double)n * reps / s / 1e12;
}

// Values in [-1, 1), deterministic.
static std::vector<float> values(size_t count, uint32_t seed) {
    std::vector<float> v(count);
    uint32_t x = 2463534242u + seed;
    for (size_t i = 0; i < count; i++) {
        x = xorshift32(x);
        v[i] = (float)(x % 2048) / 1024.0f - 1.0f;
    }
    return v;
}

int main(int argc, char **argv) {
    int n = 4096;
    double min_s = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            n = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--min-time-ms") && i + 1 < argc) {
            min_s = atof(argv[++i]) / 1000.0;
        } else {
            fprintf(stderr, "usage: gemm-bench [--n N] [--min-time-ms MS]\n");
            return 2;
        }
    }
    if (n <= 0) {
        fprintf(stderr, "--n must be positive\n");
        return 2;
    }
    auto t0 = Clock::now();
    std::string detail;
    bool ok = true;
    try {
        size_t count = (size_t)n * n;
        cublasHandle_t handle;
        CB(cublasCreate(&handle));
        std::vector<float> a = values(count, 1), b = values(count, 2);
        float *da, *db, *dc;
        CK(cudaMalloc(&da, count * sizeof(float)));
        CK(cudaMalloc(&db, count * sizeof(float)));
        CK(cudaMalloc(&dc, count * sizeof(float)));
        CK(cudaMemcpy(da, a.data(), count * sizeof(float), cudaMemcpyHostToDevice));
        CK(cudaMemcpy(db, b.data(), count * sizeof(float), cudaMemcpyHostToDevice));
        float alpha = 1.0f, beta = 0.0f;
        long reps = 0;
        double call_us = 0.0;
        double sgemm = rate(
            [&] { CB(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, da, n, db, n, &beta, dc, n)); },
            n, min_s, &reps, &call_us);
        printf("BENCH sgemm_%d %.3f TFLOP/s %ld cublasSgemm calls\n", n, sgemm, reps);
        printf("BENCH gemm_call_sgemm_%d %.3f us mean host time of one cublasSgemm call\n", n, call_us);
        fflush(stdout);

        std::vector<__nv_bfloat16> ha(count), hb(count);
        for (size_t i = 0; i < count; i++) {
            ha[i] = __float2bfloat16(a[i]);
            hb[i] = __float2bfloat16(b[i]);
        }
        __nv_bfloat16 *ba, *bb, *bc;
        CK(cudaMalloc(&ba, count * sizeof(__nv_bfloat16)));
        CK(cudaMalloc(&bb, count * sizeof(__nv_bfloat16)));
        CK(cudaMalloc(&bc, count * sizeof(__nv_bfloat16)));
        CK(cudaMemcpy(ba, ha.data(), count * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
        CK(cudaMemcpy(bb, hb.data(), count * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
        double bf16 = rate(
            [&] {
                CB(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, ba, CUDA_R_16BF, n, bb,
                                CUDA_R_16BF, n, &beta, bc, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
            },
            n, min_s, &reps, &call_us);
        printf("BENCH bf16_gemm_%d %.3f TFLOP/s %ld cublasGemmEx calls (bf16 in and out, fp32 compute)\n", n,
               bf16, reps);
        printf("BENCH gemm_call_bf16_%d %.3f us mean host time of one cublasGemmEx call\n", n, call_us);
        // A sanity check that the SGEMM computed something: C[0,0] against
        // the CPU's, within 1e-3 of the sum of the products' magnitudes.
        float c00 = 0.0f;
        double want = 0.0, scale = 0.0;
        CK(cudaMemcpy(&c00, dc, sizeof(float), cudaMemcpyDeviceToHost));
        for (int k = 0; k < n; k++) {
            double p = (double)a[(size_t)k * n] * b[k];
            want += p;
            scale += p < 0 ? -p : p;
        }
        double err = c00 - want;
        if (!(err < 1e-3 * scale && -err < 1e-3 * scale)) {
            char m[128];
            snprintf(m, sizeof m, "sgemm C[0,0] = %g, the CPU says %g", c00, want);
            throw Fail{m};
        }
        char d[160];
        snprintf(d, sizeof d, "%dx%dx%d: sgemm %.1f TFLOP/s, bf16 %.1f TFLOP/s", n, n, n, sgemm, bf16);
        detail = d;
        for (void *p : {(void *)da, (void *)db, (void *)dc, (void *)ba, (void *)bb, (void *)bc}) CK(cudaFree(p));
        CB(cublasDestroy(handle));
    } catch (const Fail &f) {
        ok = false;
        detail = f.what;
    }
    long ms = (long)(seconds_since(t0) * 1000);
    printf("CASE bench-gemm %s %ldms %s\n", ok ? "PASS" : "FAIL", ms, detail.c_str());
    printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
