// nvcc -arch=compute_90 -ptx float_ops.cu -o float_ops.ptx   (CUDA 13.0.88; see build.sh)
// f32 and f64 arithmetic with IEEE rounding, fused and unfused multiply-add,
// min/max, rounding functions and comparisons of every kind.

#define NF 32
#define ND 16

extern "C" __global__ void f32_ops(const float *a, const float *b, const float *c, float *out,
                                   int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = a[i], y = b[i], z = c[i];
    float *r = out + i * NF;
    r[0] = x + y;
    r[1] = x - y;
    r[2] = x * y;
    r[3] = x / y;
    r[4] = fmaf(x, y, z);
    r[5] = x * y + z;
    r[6] = __fadd_rn(__fmul_rn(x, y), z);
    r[7] = fminf(x, y);
    r[8] = fmaxf(x, y);
    r[9] = sqrtf(fabsf(x));
    r[10] = fabsf(y);
    r[11] = -z;
    r[12] = __fmaf_rz(x, y, z);
    r[13] = __fadd_rd(x, y);
    r[14] = __fmul_ru(x, y);
    r[15] = floorf(x);
    r[16] = ceilf(x);
    r[17] = truncf(x);
    r[18] = rintf(x);
    r[19] = roundf(x);
    r[20] = copysignf(x, y);
    r[21] = __saturatef(x);
    r[22] = 1.0f / y;
    r[23] = __frcp_rn(x);
    r[24] = __fdiv_rz(x, y);
    r[25] = __fsqrt_rd(fabsf(y));
    r[26] = fdimf(x, y);
    r[27] = x > y ? x : z;
    r[28] = __fsub_ru(x, z);
    r[29] = fmodf(x, 3.0f);
    r[30] = x * 0.5f - y * 2.0f;
    r[31] = (float)(x < y) + (float)(x <= y) * 2 + (float)(x == y) * 4 + (float)(x != y) * 8;
}

extern "C" __global__ void f64_ops(const double *a, const double *b, const double *c,
                                   double *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    double x = a[i], y = b[i], z = c[i];
    double *r = out + i * ND;
    r[0] = x + y;
    r[1] = x - y;
    r[2] = x * y;
    r[3] = x / y;
    r[4] = fma(x, y, z);
    r[5] = x * y + z;
    r[6] = fmin(x, y);
    r[7] = fmax(x, y);
    r[8] = sqrt(fabs(x));
    r[9] = floor(x);
    r[10] = ceil(x);
    r[11] = trunc(x);
    r[12] = rint(x);
    r[13] = 1.0 / y;
    r[14] = __dadd_rz(x, y);
    r[15] = -fabs(z);
}

// Bit k of out[i] is comparison k; NaN inputs exercise the unordered forms.
extern "C" __global__ void compares(const float *a, const float *b, const double *da,
                                    const double *db, const int *ia, const int *ib,
                                    const long long *la, const long long *lb, unsigned *out,
                                    int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = a[i], y = b[i];
    double dx = da[i], dy = db[i];
    int s = ia[i], t = ib[i];
    unsigned us = s, ut = t;
    long long l = la[i], m = lb[i];
    unsigned long long ul = l, um = m;
    unsigned f = 0;
    f |= (x < y) << 0;
    f |= (x <= y) << 1;
    f |= (x > y) << 2;
    f |= (x >= y) << 3;
    f |= (x == y) << 4;
    f |= (x != y) << 5;
    f |= !(x < y) << 6;
    f |= !(x <= y) << 7;
    f |= !(x > y) << 8;
    f |= !(x >= y) << 9;
    f |= !(x == y) << 10;
    f |= isnan(x) << 11;
    f |= (!isnan(x) && !isnan(y)) << 12;
    f |= (dx < dy) << 13;
    f |= !(dx >= dy) << 14;
    f |= (dx == dy) << 15;
    f |= (dx != dy) << 16;
    unsigned g = 0;
    g |= (s < t) << 0;
    g |= (s <= t) << 1;
    g |= (s > t) << 2;
    g |= (s >= t) << 3;
    g |= (s == t) << 4;
    g |= (s != t) << 5;
    g |= (us < ut) << 6;
    g |= (us <= ut) << 7;
    g |= (us > ut) << 8;
    g |= (us >= ut) << 9;
    g |= (l < m) << 10;
    g |= (l >= m) << 11;
    g |= (ul < um) << 12;
    g |= (ul > um) << 13;
    g |= (l == m) << 14;
    out[i * 3] = f;
    out[i * 3 + 1] = g;
    out[i * 3 + 2] = s < t ? us + 1 : ut * 2;
}
