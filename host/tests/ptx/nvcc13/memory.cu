// nvcc -arch=compute_90 -ptx memory.cu -o memory.ptx   (CUDA 13.0.88; see build.sh)
// Global loads and stores of every width, vector accesses, __ldg, module
// variables (__device__, __constant__) and a call of a non-inlined function.

__device__ unsigned g_counter;
__device__ float g_table[4] = {1.5f, -2.0f, 3.25f, 0.0f};
__device__ unsigned long long g_last;
__constant__ int c_coeffs[4];

extern "C" __global__ void widths(const unsigned char *u8, const unsigned short *u16,
                                  const unsigned *u32, const unsigned long long *u64,
                                  const float *f32, const double *f64, unsigned char *o8,
                                  unsigned short *o16, unsigned long long *o64, double *of64,
                                  int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    o8[i] = u8[i] + u8[n - 1 - i];
    o16[i] = u16[i] * 3 + (signed char)u8[i];
    o64[i] = u64[i] + u32[i] + (unsigned long long)u16[i] * 65536ull;
    of64[i] = f64[i] * f32[i];
}

extern "C" __global__ void vectors(const float4 *a, float4 *b, const int2 *c, int2 *d,
                                   const double2 *e, double2 *f, const uchar4 *g, uchar4 *h,
                                   int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float4 v = a[i];
    b[i] = make_float4(v.w, v.z * 2.0f, v.y + 1.0f, v.x);
    int2 w = c[i];
    d[i] = make_int2(w.y - w.x, w.x * w.y);
    double2 u = e[i];
    f[i] = make_double2(u.x + u.y, u.x - u.y);
    uchar4 q = g[i];
    h[i] = make_uchar4(q.w, q.z, q.y, q.x + 1);
}

extern "C" __global__ void ldg_sum(const float *__restrict__ a, float *__restrict__ b, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        b[i] = __ldg(&a[i]) + __ldg(&a[(i + 1) % n]);
}

__device__ __noinline__ float scale(float v, int k)
{
    return v * g_table[k & 3] + (float)c_coeffs[k & 3];
}

extern "C" __global__ void module_vars(float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned slot = atomicAdd(&g_counter, 1u);
    out[i] = scale((float)i, i);
    if (slot == (unsigned)n - 1)
        g_last = 0x1234567800000000ull | (unsigned)i;
}
