// Global-memory atomics through cudart: integer and float atomicAdd,
// atomicMin/Max and an atomicCAS loop. The float sums are of small
// integers, exact in any order, so the result does not depend on the
// order the hardware (or the simulator) applies them.
#include "harness.h"

static const int N = 1 << 14;
static const int BINS = 64;

static unsigned value(int i) { return (unsigned)i * 2654435761u >> 7; }

__global__ void histogram(unsigned *bins, const unsigned *in, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) atomicAdd(&bins[in[i] % BINS], 1u);
}

__global__ void float_sums(float *sums, const unsigned *in, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) atomicAdd(&sums[i % 8], (float)(in[i] % 16));
}

__global__ void min_max(int *mm, const unsigned *in, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        int v = (int)(in[i] % 100000) - 50000;
        atomicMin(&mm[0], v);
        atomicMax(&mm[1], v);
    }
}

// A counter advanced by compare-and-swap, as code without atomicAdd does.
__global__ void cas_count(int *counter, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        int old = *counter, seen;
        while ((seen = atomicCAS(counter, old, old + 2)) != old) old = seen;
    }
}

static unsigned *upload_values() {
    std::vector<unsigned> v(N);
    for (int i = 0; i < N; i++) v[i] = value(i);
    unsigned *d;
    CK(cudaMalloc(&d, N * sizeof(unsigned)));
    CK(cudaMemcpy(d, v.data(), N * sizeof(unsigned), cudaMemcpyHostToDevice));
    return d;
}

static std::string atomic_add_int() {
    unsigned *in = upload_values(), *bins;
    CK(cudaMalloc(&bins, BINS * sizeof(unsigned)));
    CK(cudaMemset(bins, 0, BINS * sizeof(unsigned)));
    histogram<<<N / 256, 256>>>(bins, in, N);
    CK_LAUNCH();
    std::vector<unsigned> got(BINS), want(BINS, 0);
    CK(cudaMemcpy(got.data(), bins, BINS * sizeof(unsigned), cudaMemcpyDeviceToHost));
    CK(cudaFree(in));
    CK(cudaFree(bins));
    for (int i = 0; i < N; i++) want[value(i) % BINS]++;
    digest("atomic_add_int", {bytes_of(got)});
    expect_equal("bins", got, want);
    return "16384 atomicAdd into 64 bins";
}

static std::string atomic_add_float() {
    unsigned *in = upload_values();
    float *sums;
    CK(cudaMalloc(&sums, 8 * sizeof(float)));
    CK(cudaMemset(sums, 0, 8 * sizeof(float)));
    float_sums<<<N / 128, 128>>>(sums, in, N);
    CK_LAUNCH();
    std::vector<float> got(8), want(8, 0.0f);
    CK(cudaMemcpy(got.data(), sums, 8 * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaFree(in));
    CK(cudaFree(sums));
    for (int i = 0; i < N; i++) want[i % 8] += (float)(value(i) % 16);
    digest("atomic_add_float", {bytes_of(got)});
    expect_equal("sums", got, want);
    return "16384 float atomicAdd into 8 sums";
}

static std::string atomic_min_max_cas() {
    unsigned *in = upload_values();
    int *mm, *counter;
    CK(cudaMalloc(&mm, 2 * sizeof(int)));
    CK(cudaMalloc(&counter, sizeof(int)));
    int init[2] = {1 << 30, -(1 << 30)}, zero = 0;
    CK(cudaMemcpy(mm, init, sizeof(init), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(counter, &zero, sizeof(int), cudaMemcpyHostToDevice));
    min_max<<<N / 256, 256>>>(mm, in, N);
    CK_LAUNCH();
    cas_count<<<8, 128>>>(counter, 1000);
    CK_LAUNCH();
    std::vector<int> got(3);
    CK(cudaMemcpy(got.data(), mm, 2 * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(&got[2], counter, sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(in));
    CK(cudaFree(mm));
    CK(cudaFree(counter));
    std::vector<int> want = {1 << 30, -(1 << 30), 2000};
    for (int i = 0; i < N; i++) {
        int v = (int)(value(i) % 100000) - 50000;
        if (v < want[0]) want[0] = v;
        if (v > want[1]) want[1] = v;
    }
    digest("atomic_min_max_cas", {bytes_of(got)});
    expect_equal("min, max, counter", got, want);
    return "atomicMin/atomicMax over 16384 values; 1000 atomicCAS increments";
}

int main() {
    return run_program({
        {"atomic_add_int", atomic_add_int},
        {"atomic_add_float", atomic_add_float},
        {"atomic_min_max_cas", atomic_min_max_cas},
    });
}
