// nvcc -arch=compute_90 -ptx indexing.cu -o indexing.ptx   (CUDA 13.0.88; see build.sh)
// Thread/block indexing in 1, 2 and 3 dimensions, a grid-stride loop,
// early returns in divergent threads and the lane/warp special registers.

extern "C" __global__ void index1d(unsigned *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    out[i] = i * 3u + 1u;
}

extern "C" __global__ void index2d(unsigned *out, int w, int h)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < w && y < h)
        out[y * w + x] = (unsigned)y << 16 | (unsigned)x;
}

extern "C" __global__ void index3d(unsigned *out, int nx, int ny, int nz)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int z = blockIdx.z * blockDim.z + threadIdx.z;
    if (x >= nx || y >= ny || z >= nz)
        return;
    out[(z * ny + y) * nx + x] = threadIdx.x | threadIdx.y << 5 | threadIdx.z << 10 |
                                 blockIdx.x << 15 | blockIdx.y << 20 | blockIdx.z << 25 |
                                 (gridDim.x * gridDim.y * gridDim.z == 0) << 31;
}

// out[i] = a[i] * s + 1 (nvcc contracts this into one fma.rn.f32).
extern "C" __global__ void grid_stride(const float *a, float *b, float s, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)blockDim.x * gridDim.x)
        b[i] = a[i] * s + 1.0f;
}

// Odd inputs return early; even ones run a loop of data-dependent length.
extern "C" __global__ void divergent_exit(int *out, const int *in, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int v = in[i];
    if (v & 1) {
        out[i] = -1;
        return;
    }
    int acc = 0;
    for (int k = 0; k < v; k += 2)
        acc += k ^ i;
    out[i] = acc;
}

// Special registers only inline PTX reaches.
extern "C" __global__ void lane_registers(unsigned *out)
{
    unsigned lane, eq, lt, le, gt, ge, warp, nwarp;
    asm("mov.u32 %0, %%laneid;" : "=r"(lane));
    asm("mov.u32 %0, %%lanemask_eq;" : "=r"(eq));
    asm("mov.u32 %0, %%lanemask_lt;" : "=r"(lt));
    asm("mov.u32 %0, %%lanemask_le;" : "=r"(le));
    asm("mov.u32 %0, %%lanemask_gt;" : "=r"(gt));
    asm("mov.u32 %0, %%lanemask_ge;" : "=r"(ge));
    asm volatile("mov.u32 %0, %%warpid;" : "=r"(warp));
    asm("mov.u32 %0, %%nwarpid;" : "=r"(nwarp));
    unsigned t = threadIdx.x;
    out[t * 7 + 0] = lane;
    out[t * 7 + 1] = eq;
    out[t * 7 + 2] = lt;
    out[t * 7 + 3] = le;
    out[t * 7 + 4] = gt;
    out[t * 7 + 5] = ge;
    out[t * 7 + 6] = warp < nwarp;
}
