// nvcc -arch=compute_90 -ptx printf.cu -o printf.ptx   (CUDA 13.0.88; see build.sh)
// Device printf (vprintf) and assert (__assertfail).
#include <cassert>
#include <cstdio>

extern "C" __global__ void hello(int n, float f)
{
    printf("thread %d of %d: f=%f %5.2e [%-4x] %s %c %lld %%\n", threadIdx.x, n, f,
           (double)f * 2, n, "str", 'A' + threadIdx.x, (long long)n << 40);
    if (threadIdx.x == 0)
        printf("plain\n");
}

extern "C" __global__ void checked(const int *v, int *out)
{
    int x = v[threadIdx.x];
    assert(x >= 0);
    out[threadIdx.x] = x * 2;
}
