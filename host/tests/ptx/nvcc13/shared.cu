// nvcc -arch=compute_90 -ptx shared.cu -o shared.ptx   (CUDA 13.0.88; see build.sh)
// Dynamic (extern) and static shared memory with __syncthreads().

// Tree reduction in dynamic shared memory; out[blockIdx.x] = block sum.
extern "C" __global__ void reduce_dynamic(const float *in, float *out, int n)
{
    extern __shared__ float sdata[];
    unsigned t = threadIdx.x;
    unsigned i = blockIdx.x * blockDim.x * 2 + t;
    float v = 0.0f;
    if (i < n)
        v = in[i];
    if (i + blockDim.x < n)
        v += in[i + blockDim.x];
    sdata[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s)
            sdata[t] += sdata[t + s];
        __syncthreads();
    }
    if (t == 0)
        out[blockIdx.x] = sdata[0];
}

// Tiled transpose through a padded static tile; blocks are 32x8.
extern "C" __global__ void transpose(const float *in, float *out, int w, int h)
{
    __shared__ float tile[32][33];
    int x = blockIdx.x * 32 + threadIdx.x;
    int y = blockIdx.y * 32 + threadIdx.y;
    for (int j = 0; j < 32; j += 8)
        if (x < w && y + j < h)
            tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * w + x];
    __syncthreads();
    x = blockIdx.y * 32 + threadIdx.x;
    y = blockIdx.x * 32 + threadIdx.y;
    for (int j = 0; j < 32; j += 8)
        if (x < h && y + j < w)
            out[(y + j) * h + x] = tile[threadIdx.x][threadIdx.y + j];
}

// Static arrays of several types next to a dynamic int array; the results
// depend on neighbours' writes, so each barrier matters.
extern "C" __global__ void shared_mixed(int *out, int rounds)
{
    __shared__ int counts[64];
    __shared__ double acc[16];
    __shared__ unsigned char bytes[100];
    extern __shared__ int dyn[];
    unsigned t = threadIdx.x;
    counts[t % 64] = 0;
    if (t < 16)
        acc[t] = 0.0;
    if (t < 100)
        bytes[t] = (unsigned char)(t * 3);
    dyn[t] = (int)t;
    __syncthreads();
    for (int r = 0; r < rounds; r++) {
        int left = dyn[(t + blockDim.x - 1) % blockDim.x];
        __syncthreads();
        dyn[t] = left + (int)t;
        __syncthreads();
    }
    if (t < 64)
        counts[t] = dyn[t] + bytes[(t * 7) % 100];
    if (t < 16)
        acc[t] = (double)dyn[t] * 0.5;
    __syncthreads();
    out[blockIdx.x * blockDim.x + t] = counts[(t + 1) % 64] + (int)acc[t % 16] + dyn[t];
}

// __syncthreads_count / _and / _or (bar.red).
extern "C" __global__ void barrier_reductions(const int *in, int *out)
{
    unsigned t = threadIdx.x;
    int v = in[blockIdx.x * blockDim.x + t];
    int c = __syncthreads_count(v > 0);
    int a = __syncthreads_and(v > -5);
    int o = __syncthreads_or(v == 7);
    if (t == 0) {
        out[blockIdx.x * 3] = c;
        out[blockIdx.x * 3 + 1] = a;
        out[blockIdx.x * 3 + 2] = o;
    }
}

// Pre-Volta "warp-synchronous" reduction through volatile shared memory,
// with no __syncwarp: it relies on the lanes of a warp running together.
extern "C" __global__ void warp_synchronous_sum(const int *in, int *out)
{
    __shared__ volatile int s[64];
    unsigned t = threadIdx.x;
    s[t] = in[blockIdx.x * 32 + t];
    s[t + 32] = 0;
    s[t] += s[t + 16];
    s[t] += s[t + 8];
    s[t] += s[t + 4];
    s[t] += s[t + 2];
    s[t] += s[t + 1];
    if (t == 0)
        out[blockIdx.x] = s[0];
}
