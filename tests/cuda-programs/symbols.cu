// Module variables through cudart: __device__ and __constant__ symbols
// written with cudaMemcpyToSymbol, read with cudaMemcpyFromSymbol, an
// initialised variable, and cudaGetSymbolAddress/Size.
#include "harness.h"

__device__ int table[64];
__device__ int initialised[4] = {11, 22, 33, 44};
__constant__ int coeffs[4];
__device__ unsigned long long counter;

__global__ void double_table() {
    int t = threadIdx.x;
    table[t] = table[t] * 2 + t;
}

__global__ void polynomial(int *out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = ((coeffs[3] * i + coeffs[2]) * i + coeffs[1]) * i + coeffs[0];
}

__global__ void bump_counter() { atomicAdd(&counter, 3ull); }

static std::string to_from_symbol() {
    std::vector<int> in(64), got(64), want(64);
    for (int i = 0; i < 64; i++) in[i] = i * i - 50;
    CK(cudaMemcpyToSymbol(table, in.data(), 64 * sizeof(int)));
    double_table<<<1, 64>>>();
    CK_LAUNCH();
    CK(cudaMemcpyFromSymbol(got.data(), table, 64 * sizeof(int)));
    for (int i = 0; i < 64; i++) want[i] = in[i] * 2 + i;
    // A partial copy at an offset.
    int mid[4] = {-1, -2, -3, -4};
    CK(cudaMemcpyToSymbol(table, mid, sizeof(mid), 10 * sizeof(int)));
    std::vector<int> got2(8), want2 = {want[8], want[9], -1, -2, -3, -4, want[14], want[15]};
    CK(cudaMemcpyFromSymbol(got2.data(), table, 8 * sizeof(int), 8 * sizeof(int)));
    digest("to_from_symbol", {bytes_of(got), bytes_of(got2)});
    expect_equal("table", got, want);
    expect_equal("table[8..16] after an offset write", got2, want2);
    return "64 ints to, through a kernel, and from a __device__ array; offset copies";
}

static std::string initialised_variable() {
    std::vector<int> got(4);
    CK(cudaMemcpyFromSymbol(got.data(), initialised, sizeof(int) * 4));
    digest("initialised_variable", {bytes_of(got)});
    expect_equal("initialised", got, std::vector<int>{11, 22, 33, 44});
    return "the module's initial values {11, 22, 33, 44}";
}

static std::string constant_symbol() {
    const int n = 1000;
    int c[4] = {7, -3, 2, 1};
    CK(cudaMemcpyToSymbol(coeffs, c, sizeof(c)));
    int *d;
    CK(cudaMalloc(&d, n * sizeof(int)));
    polynomial<<<(n + 127) / 128, 128>>>(d, n);
    CK_LAUNCH();
    std::vector<int> got(n), want(n);
    CK(cudaMemcpy(got.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    for (int i = 0; i < n; i++) want[i] = ((c[3] * i + c[2]) * i + c[1]) * i + c[0];
    digest("constant_symbol", {bytes_of(got)});
    expect_equal("polynomial", got, want);
    return "a cubic from __constant__ coefficients";
}

static std::string symbol_address() {
    void *addr = nullptr;
    size_t size = 0;
    CK(cudaGetSymbolAddress(&addr, counter));
    CK(cudaGetSymbolSize(&size, counter));
    expect_value("cudaGetSymbolSize(counter)", size, sizeof(unsigned long long));
    CK(cudaMemset(addr, 0, size));
    bump_counter<<<4, 32>>>();
    CK_LAUNCH();
    unsigned long long got = 0;
    CK(cudaMemcpy(&got, addr, sizeof(got), cudaMemcpyDeviceToHost));
    digest("symbol_address", {{&got, sizeof(got)}});
    expect_value("counter", got, 384ull);
    return "cudaGetSymbolAddress, cudaMemset and cudaMemcpy on a __device__ variable";
}

int main() {
    return run_program({
        {"to_from_symbol", to_from_symbol},
        {"initialised_variable", initialised_variable},
        {"constant_symbol", constant_symbol},
        {"symbol_address", symbol_address},
    });
}
