// Stream-ordered allocation through cudart: cudaMallocAsync/cudaFreeAsync
// on a stream, reuse across a loop, the device's default pool, and
// cudaMemGetInfo.
#include "harness.h"

__global__ void iota_times(int *out, int n, int k) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = i * k;
}

__global__ void add_into(int *acc, const int *in, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) acc[i] += in[i];
}

static const int N = 4096;

static std::string malloc_free_async() {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    int *d = nullptr;
    CK(cudaMallocAsync(&d, N * sizeof(int), s));
    if (d == nullptr) fail("cudaMallocAsync returned NULL");
    iota_times<<<N / 256, 256, 0, s>>>(d, N, 7);
    CK_LAUNCH();
    std::vector<int> got(N), want(N);
    CK(cudaMemcpyAsync(got.data(), d, N * sizeof(int), cudaMemcpyDeviceToHost, s));
    CK(cudaFreeAsync(d, s));
    CK(cudaStreamSynchronize(s));
    CK(cudaStreamDestroy(s));
    for (int i = 0; i < N; i++) want[i] = i * 7;
    digest("malloc_free_async", {bytes_of(got)});
    expect_equal("out", got, want);
    return "allocate, fill, copy back and free, all on one stream";
}

static std::string reuse_loop() {
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    int *acc;
    CK(cudaMallocAsync(&acc, N * sizeof(int), s));
    CK(cudaMemsetAsync(acc, 0, N * sizeof(int), s));
    // Each round's temporary is freed before the next is allocated: the
    // pool may hand the same memory back, and stream order keeps it safe.
    for (int k = 1; k <= 10; k++) {
        int *tmp;
        CK(cudaMallocAsync(&tmp, N * sizeof(int), s));
        iota_times<<<N / 256, 256, 0, s>>>(tmp, N, k);
        add_into<<<N / 256, 256, 0, s>>>(acc, tmp, N);
        CK_LAUNCH();
        CK(cudaFreeAsync(tmp, s));
    }
    std::vector<int> got(N), want(N);
    CK(cudaMemcpyAsync(got.data(), acc, N * sizeof(int), cudaMemcpyDeviceToHost, s));
    CK(cudaFreeAsync(acc, s));
    CK(cudaStreamSynchronize(s));
    CK(cudaStreamDestroy(s));
    for (int i = 0; i < N; i++) want[i] = i * 55;
    digest("reuse_loop", {bytes_of(got)});
    expect_equal("accumulated", got, want);
    return "10 rounds of cudaMallocAsync/kernel/cudaFreeAsync";
}

static std::string default_pool() {
    cudaMemPool_t pool;
    CK(cudaDeviceGetDefaultMemPool(&pool, 0));
    unsigned long long threshold = 1ull << 20, back = 0;
    CK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    CK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &back));
    expect_value("release threshold", back, threshold);
    size_t free_bytes = 0, total = 0;
    CK(cudaMemGetInfo(&free_bytes, &total));
    if (total == 0 || free_bytes > total)
        fail("cudaMemGetInfo: free " + std::to_string(free_bytes) + ", total " + std::to_string(total));
    return "release threshold set and read back; " + std::to_string(free_bytes >> 20) + " of " +
           std::to_string(total >> 20) + " MiB free";
}

int main() {
    return run_program({
        {"malloc_free_async", malloc_free_async},
        {"reuse_loop", reuse_loop},
        {"default_pool", default_pool},
    });
}
