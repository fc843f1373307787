// Warp-level primitives through cudart: a __shfl_down_sync sum
// reduction, __shfl_sync broadcast, __ballot_sync and __any/__all_sync.
#include "harness.h"

static const int N = 4096;

static int value(int i) { return (i * 37 + 11) % 1000 - 300; }

__global__ void warp_sums(int *out, const int *in) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    if ((threadIdx.x & 31) == 0) out[i / 32] = v;
}

// Every lane takes lane 5's value, then adds its own lane index.
__global__ void broadcast(int *out, const int *in) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = __shfl_sync(0xffffffffu, in[i], 5) + (threadIdx.x & 31);
}

__global__ void votes(unsigned *ballots, int *any_all, const int *in) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    unsigned b = __ballot_sync(0xffffffffu, v % 3 == 0);
    int any = __any_sync(0xffffffffu, v > 690);
    int all = __all_sync(0xffffffffu, v > -300);
    if ((threadIdx.x & 31) == 0) {
        ballots[i / 32] = b;
        any_all[i / 32] = any * 2 + all;
    }
}

static int *upload() {
    std::vector<int> v(N);
    for (int i = 0; i < N; i++) v[i] = value(i);
    int *d;
    CK(cudaMalloc(&d, N * sizeof(int)));
    CK(cudaMemcpy(d, v.data(), N * sizeof(int), cudaMemcpyHostToDevice));
    return d;
}

static std::string shfl_down_reduce() {
    int *in = upload(), *out;
    CK(cudaMalloc(&out, N / 32 * sizeof(int)));
    warp_sums<<<N / 128, 128>>>(out, in);
    CK_LAUNCH();
    std::vector<int> got(N / 32), want(N / 32, 0);
    CK(cudaMemcpy(got.data(), out, got.size() * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(in));
    CK(cudaFree(out));
    for (int i = 0; i < N; i++) want[i / 32] += value(i);
    digest("shfl_down_reduce", {bytes_of(got)});
    expect_equal("warp sums", got, want);
    return "128 warp sums by __shfl_down_sync";
}

static std::string shfl_broadcast() {
    int *in = upload(), *out;
    CK(cudaMalloc(&out, N * sizeof(int)));
    broadcast<<<N / 256, 256>>>(out, in);
    CK_LAUNCH();
    std::vector<int> got(N), want(N);
    CK(cudaMemcpy(got.data(), out, N * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(in));
    CK(cudaFree(out));
    for (int i = 0; i < N; i++) want[i] = value(i / 32 * 32 + 5) + i % 32;
    digest("shfl_broadcast", {bytes_of(got)});
    expect_equal("out", got, want);
    return "lane 5 broadcast by __shfl_sync";
}

static std::string ballot_any_all() {
    int *in = upload(), *any_all;
    unsigned *ballots;
    CK(cudaMalloc(&ballots, N / 32 * sizeof(unsigned)));
    CK(cudaMalloc(&any_all, N / 32 * sizeof(int)));
    votes<<<N / 64, 64>>>(ballots, any_all, in);
    CK_LAUNCH();
    std::vector<unsigned> got_b(N / 32), want_b(N / 32, 0);
    std::vector<int> got_aa(N / 32), want_aa(N / 32);
    CK(cudaMemcpy(got_b.data(), ballots, got_b.size() * sizeof(unsigned), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(got_aa.data(), any_all, got_aa.size() * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(in));
    CK(cudaFree(ballots));
    CK(cudaFree(any_all));
    for (int w = 0; w < N / 32; w++) {
        int any = 0, all = 1;
        for (int l = 0; l < 32; l++) {
            int v = value(w * 32 + l);
            if (v % 3 == 0) want_b[w] |= 1u << l;
            any |= v > 690;
            all &= v > -300;
        }
        want_aa[w] = any * 2 + all;
    }
    digest("ballot_any_all", {bytes_of(got_b), bytes_of(got_aa)});
    expect_equal("ballots", got_b, want_b);
    expect_equal("any/all", got_aa, want_aa);
    return "__ballot_sync, __any_sync, __all_sync over 128 warps";
}

int main() {
    return run_program({
        {"shfl_down_reduce", shfl_down_reduce},
        {"shfl_broadcast", shfl_broadcast},
        {"ballot_any_all", ballot_any_all},
    });
}
