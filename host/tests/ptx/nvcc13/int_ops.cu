// nvcc -arch=compute_90 -ptx int_ops.cu -o int_ops.ptx   (CUDA 13.0.88; see build.sh)
// 32- and 64-bit integer arithmetic, division, shifts and bit intrinsics.

#define N32 40
#define N64 16

extern "C" __global__ void int32_ops(const int *a, const int *b, int *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int x = a[i], y = b[i];
    unsigned ux = x, uy = y;
    int *r = out + i * N32;
    r[0] = x + y;
    r[1] = x - y;
    r[2] = x * y;
    r[3] = y != 0 ? x / y : 0;
    r[4] = y != 0 ? x % y : 0;
    r[5] = uy != 0 ? ux / uy : 0;
    r[6] = uy != 0 ? ux % uy : 0;
    r[7] = x / 7;
    r[8] = x % 10;
    r[9] = ux / 3u;
    r[10] = ux % 1000u;
    r[11] = min(x, y);
    r[12] = max(x, y);
    r[13] = min(ux, uy);
    r[14] = max(ux, uy);
    r[15] = x << (y & 31);
    r[16] = x >> (y & 31);
    r[17] = ux >> (y & 31);
    r[18] = __mulhi(x, y);
    r[19] = __umulhi(ux, uy);
    r[20] = __popc(ux);
    r[21] = __clz(x);
    r[22] = __brev(ux);
    r[23] = __ffs(x);
    r[24] = __byte_perm(ux, uy, 0x5140);
    r[25] = abs(x);
    r[26] = x ^ ~y;
    r[27] = (x & y) | (~x & (y >> 3));
    r[28] = __funnelshift_l(ux, uy, y);
    r[29] = __funnelshift_r(ux, uy, y);
    r[30] = __funnelshift_lc(ux, uy, y);
    r[31] = __funnelshift_rc(ux, uy, y);
    r[32] = (ux >> 5) & 0x3ff;
    r[33] = (x << 7) >> 20;
    r[34] = __sad(x, y, 5u);
    r[35] = __hadd(x, y);
    r[36] = __rhadd(x, y);
    r[37] = __mul24(x, y);
    r[38] = -x;
    r[39] = (unsigned short)x * (unsigned short)y;
}

extern "C" __global__ void int64_ops(const long long *a, const long long *b, long long *out,
                                     int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    long long x = a[i], y = b[i];
    unsigned long long ux = x, uy = y;
    long long *r = out + i * N64;
    r[0] = x + y;
    r[1] = x * y;
    r[2] = y != 0 ? x / y : 0;
    r[3] = y != 0 ? x % y : 0;
    r[4] = uy != 0 ? ux / uy : 0;
    r[5] = uy != 0 ? ux % uy : 0;
    r[6] = x / 1000;
    r[7] = x << (y & 63);
    r[8] = x >> (y & 63);
    r[9] = ux >> (y & 63);
    r[10] = __mul64hi(x, y);
    r[11] = __umul64hi(ux, uy);
    r[12] = __popcll(ux) | (long long)__clzll(x) << 8 | (long long)__ffsll(x) << 16;
    r[13] = __brevll(ux);
    r[14] = min(x, y) ^ max(ux, uy);
    r[15] = (long long)(int)x * (int)y;
}

// 128-bit arithmetic through the carry flag (inline PTX, as bignum code
// and libdevice's trigonometric range reduction use it).
extern "C" __global__ void wide_ops(const unsigned long long *a, const unsigned long long *b,
                                    unsigned long long *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned long long al = a[2 * i], ah = a[2 * i + 1], bl = b[2 * i], bh = b[2 * i + 1];
    unsigned long long sl, sh, dl, dh;
    asm("add.cc.u64 %0, %2, %4;\n\taddc.u64 %1, %3, %5;"
        : "=l"(sl), "=l"(sh) : "l"(al), "l"(ah), "l"(bl), "l"(bh));
    asm("sub.cc.u64 %0, %2, %4;\n\tsubc.u64 %1, %3, %5;"
        : "=l"(dl), "=l"(dh) : "l"(al), "l"(ah), "l"(bl), "l"(bh));
    // Low 128 bits of the product of the low halves, in 32-bit limbs.
    unsigned x0 = (unsigned)al, x1 = (unsigned)(al >> 32), y0 = (unsigned)bl,
             y1 = (unsigned)(bl >> 32);
    unsigned p0, p1, p2, p3;
    asm("{\n\t"
        "mul.lo.u32 %0, %4, %6;\n\t"
        "mul.hi.u32 %1, %4, %6;\n\t"
        "mad.lo.cc.u32 %1, %4, %7, %1;\n\t"
        "madc.hi.u32 %2, %4, %7, 0;\n\t"
        "mad.lo.cc.u32 %1, %5, %6, %1;\n\t"
        "madc.hi.cc.u32 %2, %5, %6, %2;\n\t"
        "madc.hi.u32 %3, %5, %7, 0;\n\t"
        "mad.lo.cc.u32 %2, %5, %7, %2;\n\t"
        "addc.u32 %3, %3, 0;\n\t"
        "}"
        : "=r"(p0), "=r"(p1), "=r"(p2), "=r"(p3) : "r"(x0), "r"(x1), "r"(y0), "r"(y1));
    out[6 * i] = sl;
    out[6 * i + 1] = sh;
    out[6 * i + 2] = dl;
    out[6 * i + 3] = dh;
    out[6 * i + 4] = (unsigned long long)p1 << 32 | p0;
    out[6 * i + 5] = (unsigned long long)p3 << 32 | p2;
}
