// What cublas-check.cu and gemm-bench.cu share: the error type their checks
// throw, the CUDA runtime (CK) and cuBLAS (CB) checks, and the xorshift32
// step their deterministic inputs come from.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

struct Fail {
    std::string what;
};

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) throw Fail{std::string(#call) + ": " + cudaGetErrorName(e_)};       \
    } while (0)
#define CB(call)                                                                                   \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            throw Fail{std::string(#call) + ": " + cublasGetStatusName(s_)};                       \
    } while (0)

// One step of Marsaglia's xorshift32 (13, 17, 5).
static inline uint32_t xorshift32(uint32_t x) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}
