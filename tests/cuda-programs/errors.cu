// Error paths through cudart: invalid launch configurations give
// cudaErrorInvalidConfiguration and are not sticky; bad arguments give the
// documented codes; a valid launch works afterwards. The error codes seen
// are digested: they must be NVIDIA's, on every path.
#include "harness.h"

__global__ void write_index(int *out) { out[blockIdx.x * blockDim.x + threadIdx.x] = blockIdx.x * 1000 + threadIdx.x; }

static std::string invalid_launch() {
    int *d;
    CK(cudaMalloc(&d, 1024 * sizeof(int)));
    std::vector<int> codes;
    auto launch = [&](const char *what, dim3 grid, dim3 block) {
        write_index<<<grid, block>>>(d);
        cudaError_t e = cudaGetLastError();
        codes.push_back(e);
        // NVIDIA's driver refuses each at the call; which code cudart then
        // reports (cudaErrorInvalidValue for 2048 threads on the H200) is
        // compared with the native run through the digest of all codes.
        if (e == cudaSuccess) fail(std::string(what) + ": launched, expected an error");
        // The error was not sticky: it was returned once.
        cudaError_t again = cudaGetLastError();
        codes.push_back(again);
        expect_error("cudaGetLastError after reading the error", again, cudaSuccess);
    };
    launch("2048 threads per block", dim3(1), dim3(2048));
    launch("block z of 65", dim3(1), dim3(1, 1, 65));
    launch("grid y of 65536", dim3(1, 65536), dim3(32));
    launch("empty grid", dim3(0), dim3(32));
    CK(cudaFree(d));
    digest("invalid_launch", {bytes_of(codes)});
    return "four invalid configurations refused at the call, then cudaSuccess";
}

static std::string bad_arguments() {
    std::vector<int> codes;
    int count = 0;
    CK(cudaGetDeviceCount(&count));
    auto check = [&](const char *what, cudaError_t got, cudaError_t want) {
        codes.push_back(got);
        expect_error(what, got, want);
    };
    check("cudaSetDevice(device count)", cudaSetDevice(count), cudaErrorInvalidDevice);
    int host_value = 0;
    check("cudaFree(a host pointer)", cudaFree(&host_value), cudaErrorInvalidValue);
    int *d;
    CK(cudaMalloc(&d, 64));
    check("cudaMemcpy with an invalid kind", cudaMemcpy(d, &host_value, 4, (cudaMemcpyKind)77),
          cudaErrorInvalidMemcpyDirection);
    cudaDeviceProp p;
    check("cudaGetDeviceProperties(device count)", cudaGetDeviceProperties(&p, count), cudaErrorInvalidDevice);
    // cudaGetLastError returns the last failing call's error once, then resets.
    check("cudaGetLastError after them", cudaGetLastError(), cudaErrorInvalidDevice);
    check("cudaGetLastError again", cudaGetLastError(), cudaSuccess);
    CK(cudaFree(d));
    digest("bad_arguments", {bytes_of(codes)});
    return "cudaErrorInvalidDevice, cudaErrorInvalidValue, cudaErrorInvalidMemcpyDirection as documented";
}

static std::string recovers() {
    int *d;
    CK(cudaMalloc(&d, 4 * 64 * sizeof(int)));
    write_index<<<1, 4096>>>(d);
    // cudaErrorInvalidValue, as cudart reports NVIDIA's driver refusing it.
    expect_error("invalid launch", cudaGetLastError(), cudaErrorInvalidValue);
    write_index<<<4, 64>>>(d);
    CK_LAUNCH();
    CK(cudaDeviceSynchronize());
    std::vector<int> got(256), want(256);
    CK(cudaMemcpy(got.data(), d, got.size() * sizeof(int), cudaMemcpyDeviceToHost));
    CK(cudaFree(d));
    for (int i = 0; i < 256; i++) want[i] = i / 64 * 1000 + i % 64;
    digest("recovers", {bytes_of(got)});
    expect_equal("out", got, want);
    return "a valid launch after an invalid one runs";
}

int main() {
    return run_program({
        {"invalid_launch", invalid_launch},
        {"bad_arguments", bad_arguments},
        {"recovers", recovers},
    });
}
