using System;
using System.Buffers.Binary;

namespace SourceGenTransformer;

/// <summary>
/// ggml's block formats: each block dequantised to float32 as ggml's reference <c>dequantize_row_*</c> functions do, and
/// rows of float32 quantised to the formats this library keeps (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K) as ggml's reference
/// <c>quantize_row_*_ref</c> functions do, which is what <c>llama-quantize</c> writes when it has no importance matrix.
/// </summary>
public static class GgmlQuants
{
    /// <summary>Values per block and bytes per block of each type.</summary>
    public static (int Block, int Bytes) BlockOf(GgmlType type) => type switch
    {
        GgmlType.F32 => (1, 4),
        GgmlType.F16 or GgmlType.BF16 => (1, 2),
        GgmlType.Q4_0 => (32, 18),
        GgmlType.Q4_1 => (32, 20),
        GgmlType.Q5_0 => (32, 22),
        GgmlType.Q5_1 => (32, 24),
        GgmlType.Q8_0 => (32, 34),
        GgmlType.Q2_K => (256, 84),
        GgmlType.Q3_K => (256, 110),
        GgmlType.Q4_K => (256, 144),
        GgmlType.Q5_K => (256, 176),
        GgmlType.Q6_K => (256, 210),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>Bytes one row of <paramref name="cols"/> values takes in <paramref name="type"/> (a whole number of blocks).</summary>
    /// <exception cref="ArgumentException">The row is not a whole number of the type's blocks.</exception>
    public static int RowBytes(GgmlType type, int cols)
    {
        (int block, int bytes) = BlockOf(type);
        if (cols % block != 0) throw new ArgumentException($"A row of {cols} values is not a whole number of {type} blocks of {block}.", nameof(cols));
        return checked(cols / block * bytes);
    }

    // ---------------------------------------------------------------- dequantisation

    /// <summary>Dequantises one block of <paramref name="type"/> (<see cref="BlockOf"/> bytes and values).</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> block, Span<float> values)
    {
        switch (type)
        {
            case GgmlType.F32:
                values[0] = BinaryPrimitives.ReadSingleLittleEndian(block);
                break;
            case GgmlType.F16:
                values[0] = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                break;
            case GgmlType.BF16:
                values[0] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(block) << 16);
                break;
            case GgmlType.Q8_0:
            {
                float d = Half(block);
                for (int i = 0; i < 32; i++) values[i] = (sbyte)block[2 + i] * d;
                break;
            }
            case GgmlType.Q4_0:
            {
                float d = Half(block);
                for (int j = 0; j < 16; j++)
                {
                    values[j] = ((block[2 + j] & 0x0F) - 8) * d;
                    values[j + 16] = ((block[2 + j] >> 4) - 8) * d;
                }
                break;
            }
            case GgmlType.Q4_1:
            {
                // d, m (f16), qs[16]
                float d = Half(block), m = Half(block[2..]);
                for (int j = 0; j < 16; j++)
                {
                    values[j] = (block[4 + j] & 0x0F) * d + m;
                    values[j + 16] = (block[4 + j] >> 4) * d + m;
                }
                break;
            }
            case GgmlType.Q5_0:
            {
                // d (f16), qh[4] (the fifth bits), qs[16]
                float d = Half(block);
                uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[2..]);
                for (int j = 0; j < 16; j++)
                {
                    values[j] = (((block[6 + j] & 0x0F) | (int)((qh >> j) << 4 & 0x10)) - 16) * d;
                    values[j + 16] = (((block[6 + j] >> 4) | (int)((qh >> (j + 12)) & 0x10)) - 16) * d;
                }
                break;
            }
            case GgmlType.Q5_1:
            {
                // d, m (f16), qh[4], qs[16]
                float d = Half(block), m = Half(block[2..]);
                uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[4..]);
                for (int j = 0; j < 16; j++)
                {
                    values[j] = ((block[8 + j] & 0x0F) | (int)((qh >> j) << 4 & 0x10)) * d + m;
                    values[j + 16] = ((block[8 + j] >> 4) | (int)((qh >> (j + 12)) & 0x10)) * d + m;
                }
                break;
            }
            case GgmlType.Q2_K:
            {
                // scales[16] (4-bit scale, 4-bit min), qs[64], d, dmin (f16)
                ReadOnlySpan<byte> scales = block[..16], q = block.Slice(16, 64);
                float d = Half(block[80..]), min = Half(block[82..]);
                int y = 0, s = 0;
                for (int n = 0; n < 256; n += 128, q = q[32..])
                {
                    for (int shift = 0; shift < 8; shift += 2)
                    {
                        for (int half = 0; half < 32; half += 16)
                        {
                            byte sc = scales[s++];
                            float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                            for (int l = 0; l < 16; l++) values[y++] = dl * ((q[half + l] >> shift) & 3) - ml;
                        }
                    }
                }
                break;
            }
            case GgmlType.Q3_K:
            {
                // hmask[32], qs[64], scales[12] (6-bit, less 32), d (f16)
                ReadOnlySpan<byte> hm = block[..32], q = block.Slice(32, 64);
                Span<sbyte> scales = stackalloc sbyte[16];
                Q3Scales(block.Slice(96, 12), scales);
                float dAll = Half(block[108..]);
                int y = 0, s = 0, m = 1;
                for (int n = 0; n < 256; n += 128, q = q[32..])
                {
                    for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                    {
                        for (int half = 0; half < 32; half += 16)
                        {
                            float dl = dAll * (scales[s++] - 32);
                            for (int l = 0; l < 16; l++)
                                values[y++] = dl * (((q[half + l] >> shift) & 3) - ((hm[half + l] & m) != 0 ? 0 : 4));
                        }
                    }
                }
                break;
            }
            case GgmlType.Q4_K:
            {
                // d, dmin (f16), scales[12], qs[128]
                float d = Half(block), dmin = Half(block[2..]);
                ReadOnlySpan<byte> scales = block.Slice(4, 12), q = block.Slice(16, 128);
                int y = 0, s = 0;
                for (int j = 0; j < 256; j += 64)
                {
                    (int sc1, int m1) = ScaleMin(s, scales);
                    (int sc2, int m2) = ScaleMin(s + 1, scales);
                    float d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
                    for (int l = 0; l < 32; l++) values[y + l] = d1 * (q[l] & 0xF) - min1;
                    for (int l = 0; l < 32; l++) values[y + 32 + l] = d2 * (q[l] >> 4) - min2;
                    q = q[32..];
                    y += 64;
                    s += 2;
                }
                break;
            }
            case GgmlType.Q5_K:
            {
                // d, dmin (f16), scales[12], qh[32], qs[128]
                float d = Half(block), dmin = Half(block[2..]);
                ReadOnlySpan<byte> scales = block.Slice(4, 12), qh = block.Slice(16, 32), ql = block.Slice(48, 128);
                int y = 0, s = 0, u1 = 1, u2 = 2;
                for (int j = 0; j < 256; j += 64, ql = ql[32..], s += 2, u1 <<= 2, u2 <<= 2)
                {
                    (int sc1, int m1) = ScaleMin(s, scales);
                    (int sc2, int m2) = ScaleMin(s + 1, scales);
                    float d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2;
                    for (int l = 0; l < 32; l++) values[y++] = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - min1;
                    for (int l = 0; l < 32; l++) values[y++] = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - min2;
                }
                break;
            }
            case GgmlType.Q6_K:
            {
                // ql[128], qh[64], scales[16] (int8), d (f16)
                ReadOnlySpan<byte> ql = block[..128], qh = block.Slice(128, 64), sc = block.Slice(192, 16);
                float d = Half(block[208..]);
                for (int n = 0, y = 0; n < 256; n += 128, y += 128)
                {
                    for (int l = 0; l < 32; l++)
                    {
                        int s = l / 16;
                        int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
                        int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
                        int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                        int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                        values[y + l] = d * (sbyte)sc[s] * q1;
                        values[y + l + 32] = d * (sbyte)sc[s + 2] * q2;
                        values[y + l + 64] = d * (sbyte)sc[s + 4] * q3;
                        values[y + l + 96] = d * (sbyte)sc[s + 6] * q4;
                    }
                    ql = ql[64..];
                    qh = qh[32..];
                    sc = sc[8..];
                }
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "not a type GGUF files are read in");
        }
    }

    private static float Half(ReadOnlySpan<byte> bytes) => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes);

    /// <summary>ggml's <c>get_scale_min_k4</c>: the 6-bit scale and minimum of sub-block <paramref name="j"/> of a Q4_K or Q5_K block.</summary>
    internal static (int Scale, int Min) ScaleMin(int j, ReadOnlySpan<byte> q) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | (q[j - 4] >> 6) << 4, (q[j + 4] >> 4) | (q[j] >> 6) << 4);

    /// <summary>Q3_K's sixteen 6-bit scales (stored biased by 32) unpacked from their 12 bytes, as <c>dequantize_row_q3_K</c> does.</summary>
    private static void Q3Scales(ReadOnlySpan<byte> packed, Span<sbyte> scales)
    {
        for (int i = 0; i < 16; i++)
        {
            int low = i < 8 ? packed[i] & 0xF : packed[i - 8] >> 4;
            int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
            scales[i] = (sbyte)(low | high << 4);
        }
    }

    // ---------------------------------------------------------------- quantisation

    /// <summary>
    /// Quantises <paramref name="row"/> (a whole number of blocks) into ggml's <paramref name="type"/> blocks, as ggml's
    /// <c>quantize_row_*_ref</c> does (llama-quantize without an importance matrix), bit for bit.
    /// </summary>
    /// <exception cref="ArgumentException">The row is not whole blocks, the destination is too short, or the type is not one this library writes.</exception>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> row, Span<byte> blocks)
    {
        (int block, int bytes) = BlockOf(type);
        if (row.Length % block != 0 || blocks.Length < row.Length / block * bytes)
            throw new ArgumentException($"{row.Length} values into {type} blocks of {block} need a whole number of blocks and {row.Length / block * bytes} bytes; the destination holds {blocks.Length}.");
        for (int b = 0; b < row.Length / block; b++)
        {
            ReadOnlySpan<float> x = row.Slice(b * block, block);
            Span<byte> y = blocks.Slice(b * bytes, bytes);
            switch (type)
            {
                case GgmlType.Q8_0: QuantizeQ8_0(x, y); break;
                case GgmlType.Q4_0: QuantizeQ4_0(x, y); break;
                case GgmlType.Q5_0: QuantizeQ5_0(x, y); break;
                case GgmlType.Q4_K: QuantizeQ4_K(x, y); break;
                case GgmlType.Q6_K: QuantizeQ6_K(x, y); break;
                default: throw new ArgumentException($"{type} is not a type this library quantises to (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K).", nameof(type));
            }
        }
    }

    /// <summary><c>quantize_row_q8_0_ref</c>: d = max|x| / 127 (stored as float16), q = round(x / d), halves away from zero.</summary>
    private static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0f;
        foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127f, id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(y, (System.Half)d);
        for (int j = 0; j < 32; j++) y[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    /// <summary><c>quantize_row_q4_0_ref</c>: d = m / -8 for the value m of largest magnitude, q = min(15, ⌊x / d + 8.5⌋).</summary>
    private static void QuantizeQ4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        (float d, float id) = SignedScale(x, -8f);
        BinaryPrimitives.WriteHalfLittleEndian(y, (System.Half)d);
        for (int j = 0; j < 16; j++)
        {
            int lo = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f)), hi = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
            y[2 + j] = (byte)(lo | hi << 4);
        }
    }

    /// <summary><c>quantize_row_q5_0_ref</c>: d = m / -16, q = min(31, ⌊x / d + 16.5⌋), the fifth bits gathered in qh.</summary>
    private static void QuantizeQ5_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        (float d, float id) = SignedScale(x, -16f);
        BinaryPrimitives.WriteHalfLittleEndian(y, (System.Half)d);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int x0 = Math.Min(31, (int)(sbyte)(x[j] * id + 16.5f)), x1 = Math.Min(31, (int)(sbyte)(x[j + 16] * id + 16.5f));
            y[6 + j] = (byte)((x0 & 0x0F) | (x1 & 0x0F) << 4);
            qh |= (uint)((x0 & 0x10) >> 4) << j;
            qh |= (uint)((x1 & 0x10) >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(y[2..], qh);
    }

    /// <summary>The scale <c>m / divisor</c> of the value m of largest magnitude (the first, on ties), and its inverse (0 for 0).</summary>
    private static (float D, float Id) SignedScale(ReadOnlySpan<float> x, float divisor)
    {
        float amax = 0f, max = 0f;
        foreach (float v in x)
        {
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        float d = max / divisor;
        return (d, d != 0f ? 1f / d : 0f);
    }

    /// <summary>ggml's <c>nearest_int</c>: round to nearest, ties to even, through the float32 addition of 1.5 · 2^23.</summary>
    private static int NearestInt(float value) => (BitConverter.SingleToInt32Bits(value + 12582912f) & 0x007FFFFF) - 0x00400000;

    /// <summary>
    /// <c>quantize_row_q4_K_ref</c>: per sub-block of 32 a scale and a minimum found by <c>make_qkx2_quants</c> (weighted by
    /// the sub-block's rms plus |x|), both quantised to 6 bits against the block's largest (d and dmin, float16), then
    /// each value's 4-bit code from the rounded scale and minimum.
    /// </summary>
    private static void QuantizeQ4_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> l = stackalloc byte[256], laux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32], mins = stackalloc float[8], scales = stackalloc float[8];
        float maxScale = 0f, maxMin = 0f;
        for (int j = 0; j < 8; j++)
        {
            ReadOnlySpan<float> xs = x.Slice(32 * j, 32);
            float sumX2 = 0f;
            for (int i = 0; i < 32; i++) sumX2 += xs[i] * xs[i];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int i = 0; i < 32; i++) weights[i] = avX + MathF.Abs(xs[i]);
            scales[j] = MakeQkx2Quants(xs, weights, l.Slice(32 * j, 32), out mins[j], laux);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f, invMin = maxMin > 0 ? 63f / maxMin : 0f;
        Span<byte> packed = y.Slice(4, 12);
        packed.Clear();
        for (int j = 0; j < 8; j++)
        {
            int ls = Math.Min(63, (int)(byte)NearestInt(invScale * scales[j])), lm = Math.Min(63, (int)(byte)NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                packed[j] = (byte)ls;
                packed[j + 4] = (byte)lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | (lm & 0xF) << 4);
                packed[j - 4] |= (byte)(ls >> 4 << 6);
                packed[j] |= (byte)(lm >> 4 << 6);
            }
        }
        System.Half dh = (System.Half)(maxScale / 63f), dminh = (System.Half)(maxMin / 63f);
        BinaryPrimitives.WriteHalfLittleEndian(y, dh);
        BinaryPrimitives.WriteHalfLittleEndian(y[2..], dminh);
        for (int j = 0; j < 8; j++)
        {
            (int sc, int m) = ScaleMin(j, packed);
            float d = (float)dh * sc;
            if (d == 0f) continue;
            float dm = (float)dminh * m;
            for (int i = 0; i < 32; i++) l[32 * j + i] = (byte)Math.Clamp(NearestInt((x[32 * j + i] + dm) / d), 0, 15);
        }
        Span<byte> q = y.Slice(16, 128);
        for (int j = 0; j < 256; j += 64)
            for (int i = 0; i < 32; i++) q[j / 2 + i] = (byte)(l[j + i] | l[j + i + 32] << 4);
    }

    /// <summary>
    /// ggml's <c>make_qkx2_quants</c> for 32 values and 4-bit codes (rmin -1, rdelta 0.1, 20 steps, squared error): the
    /// scale and minimum of least weighted squared error over a search of candidate scales. Returns the scale; the
    /// minimum comes back negated, as ggml returns it.
    /// </summary>
    private static float MakeQkx2Quants(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> l, out float theMin, Span<byte> laux)
    {
        const int N = 32, Nmax = 15, Nstep = 20;
        const float Rmin = -1f, Rdelta = 0.1f;
        float min = x[0], max = x[0], sumW = weights[0], sumX = sumW * x[0];
        for (int i = 1; i < N; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            l[..N].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = Nmax / (max - min);
        float scale = 1 / iscale;
        float bestMad = 0;
        for (int i = 0; i < N; i++)
        {
            int li = NearestInt(iscale * (x[i] - min));
            l[i] = (byte)Math.Clamp(li, 0, Nmax);
            float diff = scale * l[i] + min - x[i];
            bestMad += weights[i] * (diff * diff);
        }
        for (int step = 0; step <= Nstep; step++)
        {
            iscale = (Rmin + Rdelta * step + Nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < N; i++)
            {
                int li = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, Nmax);
                laux[i] = (byte)li;
                float w = weights[i];
                sumL += w * li;
                sumL2 += w * li * li;
                sumXl += w * li * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXl - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float mad = 0;
                for (int i = 0; i < N; i++)
                {
                    float diff = thisScale * laux[i] + thisMin - x[i];
                    mad += weights[i] * (diff * diff);
                }
                if (mad < bestMad)
                {
                    laux[..N].CopyTo(l);
                    bestMad = mad;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>
    /// <c>quantize_row_q6_K_ref</c>: per sub-block of 16 a scale from <c>make_qx_quants</c> (weights x²), the sixteen
    /// scales quantised to int8 against the block's largest (d, float16), then each value's 6-bit code (biased by 32).
    /// </summary>
    private static void QuantizeQ6_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<sbyte> l = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];
        float maxScale = 0f, maxAbsScale = 0f;
        for (int ib = 0; ib < 16; ib++)
        {
            float scale = MakeQxQuants(x.Slice(16 * ib, 16), 32, l.Slice(16 * ib, 16));
            scales[ib] = scale;
            float abs = MathF.Abs(scale);
            if (abs > maxAbsScale)
            {
                maxAbsScale = abs;
                maxScale = scale;
            }
        }
        y.Clear();
        if (maxAbsScale < 1e-15f) return; // GROUP_MAX_EPS: the block is all zeros (d = 0)
        float iscale = -128f / maxScale;
        System.Half dh = (System.Half)(1 / iscale);
        BinaryPrimitives.WriteHalfLittleEndian(y[208..], dh);
        Span<byte> sc = y.Slice(192, 16);
        for (int ib = 0; ib < 16; ib++) sc[ib] = (byte)(sbyte)Math.Min(127, NearestInt(iscale * scales[ib]));
        for (int j = 0; j < 16; j++)
        {
            float d = (float)dh * (sbyte)sc[j];
            if (d == 0f) continue;
            for (int i = 0; i < 16; i++) l[16 * j + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * j + i] / d), -32, 31) + 32);
        }
        Span<byte> ql = y[..128], qh = y.Slice(128, 64);
        for (int j = 0; j < 256; j += 128)
        {
            for (int i = 0; i < 32; i++)
            {
                int q1 = l[j + i], q2 = l[j + i + 32], q3 = l[j + i + 64], q4 = l[j + i + 96];
                ql[j / 2 + i] = (byte)((q1 & 0xF) | (q3 & 0xF) << 4);
                ql[j / 2 + i + 32] = (byte)((q2 & 0xF) | (q4 & 0xF) << 4);
                qh[j / 4 + i] = (byte)(q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
            }
        }
    }

    /// <summary>
    /// ggml's <c>make_qx_quants</c> with rmse_type 1 (weights x², the search over 18 candidate scales) for signed codes in
    /// [-nmax, nmax): writes <c>code + nmax</c> per value and returns the scale.
    /// </summary>
    private static float MakeQxQuants(ReadOnlySpan<float> x, int nmax, Span<sbyte> l)
    {
        int n = x.Length;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax)
            {
                amax = ax;
                max = x[i];
            }
        }
        if (amax < 1e-15f)
        {
            l[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int li = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            l[i] = (sbyte)(li + nmax);
            float w = x[i] * x[i];
            sumlx += w * x[i] * li;
            suml2 += w * li * li;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int li = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = x[i] * x[i];
                sumlx += w * x[i] * li;
                suml2 += w * li * li;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++) l[i] = (sbyte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }
}
