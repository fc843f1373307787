// nvcc -arch=compute_90 -ptx warp.cu -o warp.ptx   (CUDA 13.0.88; see build.sh)
// Warp shuffles, votes, __activemask, match/redux and __syncwarp, with
// full warps, partial warps and divergent lanes.

#define FULL 0xffffffffu

extern "C" __global__ void shuffles(const int *in, int *out)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    unsigned lane = threadIdx.x & 31;
    int *r = out + i * 12;
    r[0] = __shfl_sync(FULL, v, (lane * 3 + 1) & 31);
    r[1] = __shfl_down_sync(FULL, v, 3);
    r[2] = __shfl_up_sync(FULL, v, 5);
    r[3] = __shfl_xor_sync(FULL, v, 6);
    r[4] = __shfl_sync(FULL, v, lane + 2, 8);
    r[5] = __shfl_down_sync(FULL, v, 1, 16);
    r[6] = __shfl_up_sync(FULL, v, 2, 4);
    r[7] = __shfl_xor_sync(FULL, v, 3, 4);
    r[8] = __float_as_int(__shfl_down_sync(FULL, __int_as_float(v) * 0.5f, 4));
    double d = __shfl_xor_sync(FULL, (double)v * 1.5, 1);
    r[9] = (int)(d * 2.0);
    long long l = __shfl_sync(FULL, (long long)v << 32 | lane, 31 - lane);
    r[10] = (int)(l >> 32) ^ (int)l;
    r[11] = __shfl_sync(FULL, v, 40);
}

// Butterfly sum of a warp's floats: a fixed order, so the result is exact
// to the bit. One result per warp.
extern "C" __global__ void warp_sum(const float *in, float *out)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    float v = in[i];
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL, v, o);
    if ((threadIdx.x & 31) == 0)
        out[i / 32] = v;
}

// Tree reduction down to lane 0 with __shfl_down_sync, block-wide through
// shared memory (the classic two-level pattern).
extern "C" __global__ void block_sum(const int *in, int *out, int n)
{
    __shared__ int partial[32];
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    int v = i < n ? in[i] : 0;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(FULL, v, o);
    if (lane == 0)
        partial[wid] = v;
    __syncthreads();
    if (wid == 0) {
        v = lane < (blockDim.x + 31) / 32 ? partial[lane] : 0;
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(FULL, v, o);
        if (lane == 0)
            out[blockIdx.x] = v;
    }
}

extern "C" __global__ void votes(const int *in, unsigned *out)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    unsigned lane = threadIdx.x & 31;
    unsigned *r = out + i * 10;
    unsigned b = __ballot_sync(FULL, v > 0);
    r[0] = b;
    r[1] = __all_sync(FULL, v > -100);
    r[2] = __any_sync(FULL, v == 42);
    r[3] = __activemask();
    r[4] = __popc(b) | __ffs(b) << 8;
    if (lane & 1)
        r[5] = __ballot_sync(0xaaaaaaaau, v > 0);
    else
        r[5] = __ballot_sync(0x55555555u, v < 0);
    r[6] = __match_any_sync(FULL, v & 3);
    int pred;
    unsigned all = __match_all_sync(FULL, v > -1000 ? 1 : v, &pred);
    r[7] = all | (unsigned)pred << 31;
    r[8] = __reduce_add_sync(FULL, (unsigned)v);
    r[9] = __reduce_max_sync(FULL, v) ^ __reduce_min_sync(FULL, (unsigned)v) ^
           __reduce_or_sync(FULL, (unsigned)v);
}

// Lanes take different paths before meeting in shuffles and votes.
extern "C" __global__ void divergent(const int *in, unsigned *out)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    unsigned lane = threadIdx.x & 31;
    unsigned *r = out + i * 4;
    unsigned m;
    if (v & 1) {
        m = __activemask();
        v = v * 3;
    } else {
        m = __activemask();
        for (int k = 0; k < (v & 7); k++)
            v += k;
    }
    __syncwarp();
    r[0] = m;
    r[1] = __shfl_sync(FULL, v, (lane + 1) & 31);
    if (lane < 16) {
        r[2] = __shfl_down_sync(0x0000ffffu, v, 1, 16);
    } else {
        r[2] = __ballot_sync(0xffff0000u, v > 10);
    }
    r[3] = __activemask();
}

// Partial warps: a block of 48 threads; the second warp has 16 lanes.
extern "C" __global__ void partial_warp(const int *in, int *out)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    unsigned mask = __ballot_sync(FULL, 1);
    int s = v;
    for (int o = 16; o > 0; o >>= 1) {
        int u = __shfl_down_sync(mask, s, o);
        if ((threadIdx.x & 31) + o < 32 && ((1u << ((threadIdx.x & 31) + o)) & mask))
            s += u;
    }
    out[i * 3] = mask;
    out[i * 3 + 1] = s;
    out[i * 3 + 2] = __shfl_sync(mask, v, 0);
}

// Early exit: exited lanes drop out of the full-mask operations.
extern "C" __global__ void exited_lanes(const int *in, unsigned *out)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    if (v < 0)
        return;
    unsigned m = __activemask();
    unsigned b = __ballot_sync(m, v > 10);
    out[i * 2] = m;
    out[i * 2 + 1] = b;
}
