// nvcc -arch=compute_90 -ptx params.cu -o params.ptx   (CUDA 13.0.88; see build.sh)
// Kernel parameters of mixed sizes, a struct passed by value, and device
// functions taking and returning structs.

struct Mixed {
    char c;
    int i;
    double d;
    short s[3];
};

struct Pair {
    int a;
    float b;
};

extern "C" __global__ void many_params(char c, short s, int i, long long l, double d, float f,
                                       Mixed m, unsigned char uc, const int *p, bool flag,
                                       unsigned long long *out)
{
    out[0] = (unsigned long long)(long long)c;
    out[1] = (unsigned long long)(long long)s;
    out[2] = (unsigned long long)(long long)i;
    out[3] = (unsigned long long)l;
    out[4] = __double_as_longlong(d);
    out[5] = __float_as_uint(f);
    out[6] = (unsigned long long)(long long)m.c;
    out[7] = (unsigned long long)(long long)m.i;
    out[8] = __double_as_longlong(m.d);
    out[9] = (unsigned short)m.s[0] | (unsigned long long)(unsigned short)m.s[1] << 16 |
             (unsigned long long)(unsigned short)m.s[2] << 32;
    out[10] = uc;
    out[11] = (unsigned long long)(long long)p[threadIdx.x];
    out[12] = flag ? 0xf1a9 : 0;
}

__device__ __noinline__ Pair make_pair(int a, float b)
{
    Pair p = {a * 2, b + 1.0f};
    return p;
}

__device__ __noinline__ int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

extern "C" __global__ void struct_calls(Pair in, Pair *out, int *fibs)
{
    Pair p = make_pair(in.a + (int)threadIdx.x, in.b * (float)threadIdx.x);
    out[threadIdx.x] = p;
    fibs[threadIdx.x] = fib((int)threadIdx.x & 15);
}
