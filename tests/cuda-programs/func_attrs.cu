// Kernel attributes and occupancy through cudart: cudaFuncGetAttributes,
// cudaOccupancyMaxActiveBlocksPerMultiprocessor, ...MaxPotentialBlockSize,
// and cudaFuncSetAttribute to allow more than 48 KiB of dynamic shared
// memory. Values differ between a GPU and the simulator: they are printed
// and checked for sanity, not digested.
#include "harness.h"

__global__ void with_static_shared(int *out) {
    __shared__ int buffer[256];
    buffer[threadIdx.x] = threadIdx.x * 3;
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = buffer[255 - threadIdx.x];
}

__global__ void big_dynamic(int *out, int words) {
    extern __shared__ int big[];
    for (int i = threadIdx.x; i < words; i += blockDim.x) big[i] = i;
    __syncthreads();
    int sum = 0;
    for (int i = threadIdx.x; i < words; i += blockDim.x) sum += big[words - 1 - i];
    out[threadIdx.x] = sum;
}

static std::string func_get_attributes() {
    cudaFuncAttributes a;
    CK(cudaFuncGetAttributes(&a, with_static_shared));
    std::string values = "maxThreadsPerBlock " + std::to_string(a.maxThreadsPerBlock) + ", numRegs " +
                         std::to_string(a.numRegs) + ", sharedSizeBytes " + std::to_string(a.sharedSizeBytes) +
                         ", localSizeBytes " + std::to_string(a.localSizeBytes) + ", constSizeBytes " +
                         std::to_string(a.constSizeBytes) + ", ptxVersion " + std::to_string(a.ptxVersion) +
                         ", binaryVersion " + std::to_string(a.binaryVersion);
    if (a.maxThreadsPerBlock < 256) fail("maxThreadsPerBlock below the block size used (256): " + values);
    if (a.sharedSizeBytes < 256 * sizeof(int)) fail("sharedSizeBytes below the kernel's 1024-byte array: " + values);
    if (a.ptxVersion < 90) fail("ptxVersion below the compute_90 it was built for: " + values);
    // The attributes must describe a kernel that then launches.
    int *d;
    CK(cudaMalloc(&d, 4 * 256 * sizeof(int)));
    with_static_shared<<<4, 256>>>(d);
    CK_LAUNCH();
    std::vector<int> got(1024), want(1024);
    CK(cudaMemcpy(got.data(), d, got.size() * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    for (int i = 0; i < 1024; i++) want[i] = (255 - i % 256) * 3;
    digest("func_get_attributes", {bytes_of(got)});
    expect_equal("out", got, want);
    return values;
}

static std::string occupancy() {
    int blocks = -1;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, with_static_shared, 256, 0));
    if (blocks < 1) fail("cudaOccupancyMaxActiveBlocksPerMultiprocessor(256 threads): " + std::to_string(blocks));
    int min_grid = -1, block_size = -1;
    CK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &block_size, with_static_shared, 0, 0));
    if (block_size < 32 || block_size > 1024 || min_grid < 1)
        fail("cudaOccupancyMaxPotentialBlockSize: block " + std::to_string(block_size) + ", grid " +
             std::to_string(min_grid));
    return "256 threads: " + std::to_string(blocks) + " blocks per SM; potential block " +
           std::to_string(block_size) + ", min grid " + std::to_string(min_grid);
}

static std::string large_dynamic_shared() {
    const int bytes = 64 * 1024, words = bytes / 4;
    CK(cudaFuncSetAttribute(big_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    cudaFuncAttributes a;
    CK(cudaFuncGetAttributes(&a, big_dynamic));
    expect_value("maxDynamicSharedSizeBytes after cudaFuncSetAttribute", a.maxDynamicSharedSizeBytes, bytes);
    int *d;
    CK(cudaMalloc(&d, 128 * sizeof(int)));
    big_dynamic<<<1, 128, bytes>>>(d, words);
    CK_LAUNCH();
    std::vector<int> got(128), want(128, 0);
    CK(cudaMemcpy(got.data(), d, got.size() * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    for (int t = 0; t < 128; t++)
        for (int i = t; i < words; i += 128) want[t] += words - 1 - i;
    digest("large_dynamic_shared", {bytes_of(got)});
    expect_equal("out", got, want);
    return "64 KiB of dynamic shared memory after cudaFuncSetAttribute";
}

int main() {
    return run_program({
        {"func_get_attributes", func_get_attributes},
        {"occupancy", occupancy},
        {"large_dynamic_shared", large_dynamic_shared},
    });
}
