// nvcc -arch=compute_90 -ptx atomics.cu -o atomics.ptx   (CUDA 13.0.88; see build.sh)
// Atomics on global and shared memory. Float sums add exactly representable
// values, so their result does not depend on the order of the additions.

struct GlobalAtomics {
    int sum_i;
    unsigned sum_u;
    float sum_f;
    int max_i;
    int min_i;
    unsigned max_u;
    unsigned min_u;
    unsigned and_u;
    unsigned or_u;
    unsigned xor_u;
    unsigned inc_u;
    unsigned dec_u;
    int exch_i;
    int cas_i;
    double sum_d;
    unsigned long long sum_ull;
    unsigned long long max_ull;
    long long min_ll;
    unsigned long long cas_ull;
};

extern "C" __global__ void atomics_global(GlobalAtomics *g, unsigned *tickets, int *cas_wins,
                                          int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int v = (i * 37) % 101 - 50;
    atomicAdd(&g->sum_i, v);
    tickets[i] = atomicAdd(&g->sum_u, 2u);
    atomicAdd(&g->sum_f, 0.5f * (float)(i % 8));
    atomicMax(&g->max_i, v);
    atomicMin(&g->min_i, v);
    atomicMax(&g->max_u, (unsigned)v);
    atomicMin(&g->min_u, (unsigned)v);
    atomicAnd(&g->and_u, ~(1u << (i % 32)));
    atomicOr(&g->or_u, 1u << (i % 29));
    atomicXor(&g->xor_u, (unsigned)i);
    atomicInc(&g->inc_u, 16u);
    atomicDec(&g->dec_u, 9u);
    atomicExch(&g->exch_i, i);
    // Only the thread that sees the current value wins each round.
    cas_wins[i] = atomicCAS(&g->cas_i, i % 4, i % 4 + 1) == i % 4;
    atomicAdd(&g->sum_d, 0.25 * (double)(i % 5));
    atomicAdd(&g->sum_ull, (unsigned long long)i << 33);
    atomicMax(&g->max_ull, (unsigned long long)v * 0x100000001ull);
    atomicMin(&g->min_ll, (long long)v * 3);
    // A 64-bit CAS loop: atomic "add i to the low half, count in the high".
    unsigned long long old = g->cas_ull, assumed;
    do {
        assumed = old;
        old = atomicCAS(&g->cas_ull, assumed, assumed + 0x100000000ull + (unsigned)i);
    } while (old != assumed);
}

// Per-block histogram and other shared atomics; one row of results per block.
extern "C" __global__ void atomics_shared(const int *in, int *out)
{
    __shared__ unsigned hist[16];
    __shared__ float fsum;
    __shared__ int smax;
    __shared__ int exch;
    __shared__ unsigned cas;
    __shared__ double dsum;
    unsigned t = threadIdx.x;
    if (t < 16)
        hist[t] = 0;
    if (t == 0) {
        fsum = 0.0f;
        smax = -1000;
        exch = -1;
        cas = 0;
        dsum = 0.0;
    }
    __syncthreads();
    int v = in[blockIdx.x * blockDim.x + t];
    atomicAdd(&hist[v & 15], 1u);
    atomicAdd(&fsum, (float)(v & 3));
    atomicMax(&smax, v);
    int prev = atomicExch(&exch, (int)t);
    // Everyone increments cas by one through a CAS loop.
    unsigned old = cas, seen;
    do {
        seen = old;
        old = atomicCAS(&cas, seen, seen + 1);
    } while (old != seen);
    atomicAdd(&dsum, 0.125 * (double)(v & 7));
    __syncthreads();
    int *row = out + blockIdx.x * 21;
    if (t < 16)
        row[t] = hist[t];
    if (t == 0) {
        row[16] = (int)fsum;
        row[17] = smax;
        row[18] = (int)cas;
        row[19] = (int)(dsum * 8.0);
        row[20] = exch >= 0 && exch < (int)blockDim.x;
    }
    (void)prev;
}

// A spin lock every thread takes in turn (needs independent thread
// scheduling: the lanes of a warp that lost the race keep spinning while
// the winner, in the same warp, must get to release the lock).
extern "C" __global__ void spin_lock(int *lock, volatile int *counter)
{
    while (atomicCAS(lock, 0, 1) != 0)
        ;
    *counter = *counter + 1;
    __threadfence();
    atomicExch(lock, 0);
}
