// nvcc -arch=compute_90 -ptx convert.cu -o convert.ptx   (CUDA 13.0.88; see build.sh)
// Conversions between integers, f32, f64, f16 and bf16.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#define NC 32

extern "C" __global__ void conversions(const float *f, const int *iv, const double *d,
                                       unsigned *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = f[i];
    int k = iv[i];
    double y = d[i];
    unsigned *r = out + i * NC;
    r[0] = (int)x;
    r[1] = __float2int_rn(x);
    r[2] = __float2int_rd(x);
    r[3] = __float2int_ru(x);
    r[4] = (unsigned)x;
    r[5] = (unsigned)(long long)x;
    r[6] = (unsigned)((long long)x >> 32);
    r[7] = __float_as_uint((float)k);
    r[8] = __float_as_uint((float)(unsigned)k);
    r[9] = __float_as_uint(__int2float_rz(k));
    r[10] = __float_as_uint(__uint2float_ru((unsigned)k));
    r[11] = __float_as_uint((float)y);
    r[12] = (int)y;
    r[13] = (unsigned)__double_as_longlong((double)x);
    r[14] = (unsigned)(__double_as_longlong((double)x) >> 32);
    r[15] = (unsigned)__double_as_longlong((double)(long long)k * 3);
    r[16] = (unsigned char)k;
    r[17] = (signed char)k;
    r[18] = (short)k;
    r[19] = (unsigned short)k;
    r[20] = __half_as_ushort(__float2half(x));
    r[21] = __float_as_uint(__half2float(__ushort_as_half((unsigned short)k)));
    r[22] = __half_as_ushort(__float2half_rz(x));
    r[23] = __half_as_ushort(__double2half(y));
    r[24] = __bfloat16_as_ushort(__float2bfloat16(x));
    r[25] = __float_as_uint(__bfloat162float(__ushort_as_bfloat16((unsigned short)k)));
    r[26] = __bfloat16_as_ushort(__float2bfloat16_rz(x));
    r[27] = __half2int_rn(__float2half(x));
    r[28] = __float_as_uint(__int2float_rn(k) * 0.25f);
    r[29] = (unsigned)__double2ll_rn(y);
    r[30] = __double2uint_rz(y);
    r[31] = __float_as_uint(__ll2float_rn((long long)k << 20));
}
