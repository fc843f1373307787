// Dynamic shared memory (extern __shared__, sized at launch) through
// cudart: a block-wide reversal, a tree reduction with __syncthreads, and
// static and dynamic shared arrays side by side.
#include "harness.h"

static const int N = 8192;

static int value(int i) { return (i * 7919) % 4099 - 2000; }

__global__ void reverse_blocks(int *data) {
    extern __shared__ int tile[];
    int t = threadIdx.x, base = blockIdx.x * blockDim.x;
    tile[t] = data[base + t];
    __syncthreads();
    data[base + t] = tile[blockDim.x - 1 - t];
}

__global__ void block_sums(int *out, const int *in) {
    extern __shared__ int partial[];
    int t = threadIdx.x;
    partial[t] = in[blockIdx.x * blockDim.x + t];
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) partial[t] += partial[t + half];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = partial[0];
}

// A static array and the dynamic one must not overlap.
__global__ void static_and_dynamic(int *out, const int *in) {
    __shared__ int fixed[64];
    extern __shared__ int dyn[];
    int t = threadIdx.x;
    fixed[t] = t * 100;
    dyn[t] = in[blockIdx.x * 64 + t];
    dyn[64 + t] = -t;
    __syncthreads();
    out[blockIdx.x * 64 + t] = fixed[63 - t] + dyn[(t + 1) % 64] + dyn[64 + (t + 2) % 64];
}

static int *upload() {
    std::vector<int> v(N);
    for (int i = 0; i < N; i++) v[i] = value(i);
    int *d;
    CK(cudaMalloc(&d, N * sizeof(int)));
    CK(cudaMemcpy(d, v.data(), N * sizeof(int), cudaMemcpyHostToDevice));
    return d;
}

static std::string dynamic_reverse() {
    int *d = upload();
    const int block = 512;
    reverse_blocks<<<N / block, block, block * sizeof(int)>>>(d);
    CK_LAUNCH();
    std::vector<int> got(N), want(N);
    CK(cudaMemcpy(got.data(), d, N * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    for (int b = 0; b < N / block; b++)
        for (int t = 0; t < block; t++) want[b * block + t] = value(b * block + block - 1 - t);
    digest("dynamic_reverse", {bytes_of(got)});
    expect_equal("out", got, want);
    return "16 blocks reversed through 2 KiB of dynamic shared memory each";
}

static std::string block_reduce() {
    int *in = upload(), *out;
    const int block = 256;
    CK(cudaMalloc(&out, N / block * sizeof(int)));
    block_sums<<<N / block, block, block * sizeof(int)>>>(out, in);
    CK_LAUNCH();
    std::vector<int> got(N / block), want(N / block, 0);
    CK(cudaMemcpy(got.data(), out, got.size() * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(in));
    CK(cudaFree(out));
    for (int i = 0; i < N; i++) want[i / block] += value(i);
    digest("block_reduce", {bytes_of(got)});
    expect_equal("block sums", got, want);
    return "32 block sums, tree reduction in dynamic shared memory";
}

static std::string static_plus_dynamic() {
    int *in = upload(), *out;
    CK(cudaMalloc(&out, N * sizeof(int)));
    static_and_dynamic<<<N / 64, 64, 128 * sizeof(int)>>>(out, in);
    CK_LAUNCH();
    std::vector<int> got(N), want(N);
    CK(cudaMemcpy(got.data(), out, N * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(in));
    CK(cudaFree(out));
    for (int b = 0; b < N / 64; b++)
        for (int t = 0; t < 64; t++)
            want[b * 64 + t] = (63 - t) * 100 + value(b * 64 + (t + 1) % 64) - (t + 2) % 64;
    digest("static_plus_dynamic", {bytes_of(got)});
    expect_equal("out", got, want);
    return "a static 256-byte array beside 512 bytes of dynamic shared memory";
}

int main() {
    return run_program({
        {"dynamic_reverse", dynamic_reverse},
        {"block_reduce", block_reduce},
        {"static_plus_dynamic", static_plus_dynamic},
    });
}
