// The cudart program the tracer traces on both sides (selftest.sh here,
// the `trace` part of scripts/gpu-suite.sh on the GPU machine): device
// query, allocation, copies, one kernel launch, events and a stream.
#include <cstdio>
#include <cuda_runtime.h>

__global__ void axpy(float a, const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}

#define CHECK(call)                                                                  \
    do {                                                                             \
        cudaError_t e_ = (call);                                                     \
        if (e_ != cudaSuccess) {                                                     \
            printf("FAIL %s: %d %s\n", #call, (int)e_, cudaGetErrorName(e_));        \
            return 1;                                                                \
        }                                                                            \
    } while (0)

int main()
{
    int count = 0;
    CHECK(cudaGetDeviceCount(&count));
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("device 0: %s, %d SMs, cc %d.%d\n", prop.name, prop.multiProcessorCount, prop.major,
           prop.minor);
    const int n = 1 << 16;
    static float hx[n], hy[n];
    for (int i = 0; i < n; i++) {
        hx[i] = (float)i;
        hy[i] = 1.0f;
    }
    float *x, *y;
    CHECK(cudaMalloc(&x, n * sizeof(float)));
    CHECK(cudaMalloc(&y, n * sizeof(float)));
    cudaStream_t s;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaEvent_t start, stop;
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&stop));
    CHECK(cudaMemcpyAsync(x, hx, n * sizeof(float), cudaMemcpyHostToDevice, s));
    CHECK(cudaMemcpyAsync(y, hy, n * sizeof(float), cudaMemcpyHostToDevice, s));
    CHECK(cudaEventRecord(start, s));
    axpy<<<(n + 255) / 256, 256, 0, s>>>(2.0f, x, y, n);
    CHECK(cudaGetLastError());
    CHECK(cudaEventRecord(stop, s));
    CHECK(cudaMemcpyAsync(hy, y, n * sizeof(float), cudaMemcpyDeviceToHost, s));
    CHECK(cudaStreamSynchronize(s));
    for (int i = 0; i < n; i++)
        if (hy[i] != 2.0f * i + 1.0f) {
            printf("FAIL y[%d] = %g\n", i, hy[i]);
            return 1;
        }
    CHECK(cudaEventDestroy(start));
    CHECK(cudaEventDestroy(stop));
    CHECK(cudaStreamDestroy(s));
    CHECK(cudaFree(x));
    CHECK(cudaFree(y));
    printf("PASS axpy over %d floats\n", n);
    return 0;
}
