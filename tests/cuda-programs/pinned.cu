// Page-locked host memory through cudart: cudaMallocHost and cudaHostAlloc
// buffers as the ends of asynchronous copies, and what
// cudaPointerGetAttributes says about host and device pointers.
#include "harness.h"

__global__ void square_plus(unsigned *data, int n, unsigned add) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) data[i] = data[i] * data[i] + add;
}

static const int N = 1 << 16;

static std::string malloc_host_async() {
    unsigned *in, *out, *d;
    CK(cudaMallocHost(&in, N * sizeof(unsigned)));
    CK(cudaMallocHost(&out, N * sizeof(unsigned)));
    CK(cudaMalloc(&d, N * sizeof(unsigned)));
    for (int i = 0; i < N; i++) in[i] = (unsigned)i * 2654435761u;
    std::memset(out, 0, N * sizeof(unsigned));
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CK(cudaMemcpyAsync(d, in, N * sizeof(unsigned), cudaMemcpyHostToDevice, s));
    square_plus<<<N / 256, 256, 0, s>>>(d, N, 17);
    CK_LAUNCH();
    CK(cudaMemcpyAsync(out, d, N * sizeof(unsigned), cudaMemcpyDeviceToHost, s));
    CK(cudaStreamSynchronize(s));
    std::vector<unsigned> got(out, out + N), want(N);
    for (int i = 0; i < N; i++) want[i] = in[i] * in[i] + 17;
    CK(cudaStreamDestroy(s));
    CK(cudaFree(d));
    CK(cudaFreeHost(in));
    CK(cudaFreeHost(out));
    digest("malloc_host_async", {bytes_of(got)});
    expect_equal("out", got, want);
    return "256 KiB pinned -> device -> kernel -> pinned on one stream";
}

static std::string host_alloc_chunks() {
    // Copies in chunks from one pinned buffer, each its own async copy.
    unsigned *h, *d;
    CK(cudaHostAlloc(&h, N * sizeof(unsigned), cudaHostAllocDefault));
    CK(cudaMalloc(&d, N * sizeof(unsigned)));
    for (int i = 0; i < N; i++) h[i] = (unsigned)(N - i);
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    const int chunks = 8, per = N / chunks;
    for (int c = 0; c < chunks; c++)
        CK(cudaMemcpyAsync(d + c * per, h + c * per, per * sizeof(unsigned), cudaMemcpyHostToDevice, s));
    square_plus<<<N / 256, 256, 0, s>>>(d, N, 1);
    CK_LAUNCH();
    for (int c = chunks - 1; c >= 0; c--)
        CK(cudaMemcpyAsync(h + c * per, d + c * per, per * sizeof(unsigned), cudaMemcpyDeviceToHost, s));
    CK(cudaStreamSynchronize(s));
    std::vector<unsigned> got(h, h + N), want(N);
    for (int i = 0; i < N; i++) want[i] = (unsigned)(N - i) * (unsigned)(N - i) + 1;
    CK(cudaStreamDestroy(s));
    CK(cudaFree(d));
    CK(cudaFreeHost(h));
    digest("host_alloc_chunks", {bytes_of(got)});
    expect_equal("out", got, want);
    return "8 async copies each way from a cudaHostAlloc buffer";
}

static std::string pointer_attributes() {
    void *h, *d;
    CK(cudaMallocHost(&h, 4096));
    CK(cudaMalloc(&d, 4096));
    cudaPointerAttributes ha, da, pa;
    CK(cudaPointerGetAttributes(&ha, h));
    CK(cudaPointerGetAttributes(&da, d));
    std::vector<int> pageable(16);
    CK(cudaPointerGetAttributes(&pa, pageable.data()));
    CK(cudaFreeHost(h));
    CK(cudaFree(d));
    expect_value("pinned type", (int)ha.type, (int)cudaMemoryTypeHost);
    expect_value("device type", (int)da.type, (int)cudaMemoryTypeDevice);
    expect_value("device pointer's device", da.device, 0);
    if (da.devicePointer != d) fail("device pointer's devicePointer differs from the pointer");
    expect_value("pageable type", (int)pa.type, (int)cudaMemoryTypeUnregistered);
    return "pinned: host, device: device 0, pageable: unregistered";
}

int main() {
    return run_program({
        {"malloc_host_async", malloc_host_async},
        {"host_alloc_chunks", host_alloc_chunks},
        {"pointer_attributes", pointer_attributes},
    });
}
