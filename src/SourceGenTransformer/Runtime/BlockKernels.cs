using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The arithmetic of <see cref="BlockMatrix"/> products, as llama.cpp's x86 <c>ggml_vec_dot_*</c> does it: a product's
/// input is quantised to 8 bits per block (ggml's Q8_K, blocks of 256 with float32 scales and sums per 16, for Q4_K
/// and Q6_K rows; Q8_0, blocks of 32 with float16 scales, for Q5_0, Q4_0 and Q8_0 rows), each block's products are
/// summed exactly in integers into eight int32 lanes, and the lanes, converted to float32, are added into eight float32
/// accumulators by one multiply-add with the block's combined scale. A row's eight accumulators are summed last, in
/// <c>hsum_float_8</c>'s order. Every step is the same as llama.cpp's AVX2 path, lane for lane, so a row's result is
/// the same float32 as its <c>ggml_vec_dot</c>, and the generated kernels give the same bits whichever rows a thread
/// takes and whether a token is decoded alone or in a prompt block.
/// </summary>
/// <remarks>
/// <para><b>Lanes.</b> Integer lane m of a block of 32 products is the sum of products 4m..4m+3 (what <c>vpmaddubsw</c>
/// then <c>vpmaddwd</c> by ones gives). For Q4_K, lane m sums, over the block's eight sub-blocks of 32, the sub-block's
/// 6-bit scale times its products 4m..4m+3; its minima (times the input's sums per 32) are a separate four-lane sum. For
/// Q6_K, lanes 0..3 of each 32 values are the first 16's sub-block (scaled by its int8 scale) and lanes 4..7 the second
/// 16's.</para>
/// <para>Without AVX2 the same integers are formed in scalars, so every path gives the same bits.</para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class BlockKernels
{
    /// <summary>Values per K-quant super-block (Q4_K, Q6_K, and their input's Q8_K).</summary>
    public const int KBlock = 256;

    /// <summary>Values per block of Q8_0, Q4_0, Q5_0 (and their input's Q8_0).</summary>
    public const int Block = 32;

    // ---------------------------------------------------------------- the input

    /// <summary>
    /// ggml's <c>quantize_row_q8_K_ref</c> (what llama.cpp runs on x86): per block of 256, with m the value of largest
    /// magnitude, <c>q = min(127, round(-127 x / m))</c> (ties to even), the scale <c>d = 1 / (-127 / m)</c> and the sum of
    /// each 16 codes. An all-zero block has d = 0 and zero codes.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a multiple of 256, or a destination is too short.</exception>
    public static void QuantizeQ8K(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> scales, Span<short> sums)
    {
        int blocks = x.Length / KBlock;
        if (x.Length % KBlock != 0 || q.Length < x.Length || scales.Length < blocks || sums.Length < x.Length / 16)
            throw new ArgumentException($"{x.Length} inputs need a multiple of {KBlock}, {x.Length} codes, {blocks} scales and {x.Length / 16} sums; the destinations hold {q.Length}, {scales.Length} and {sums.Length}.");
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<float> xb = x.Slice(b * KBlock, KBlock);
            Span<sbyte> qb = q.Slice(b * KBlock, KBlock);
            float max = 0f, amax = 0f;
            for (int j = 0; j < KBlock; j++)
            {
                float ax = MathF.Abs(xb[j]);
                if (ax > amax)
                {
                    amax = ax;
                    max = xb[j];
                }
            }
            if (amax == 0f)
            {
                scales[b] = 0f;
                qb.Clear();
                sums.Slice(b * 16, 16).Clear();
                continue;
            }
            float iscale = -127f / max;
            for (int j = 0; j < KBlock; j++)
                qb[j] = (sbyte)Math.Min(127, (BitConverter.SingleToInt32Bits(iscale * xb[j] + 12582912f) & 0x007FFFFF) - 0x00400000);
            for (int j = 0; j < 16; j++)
            {
                int sum = 0;
                for (int i = 0; i < 16; i++) sum += qb[16 * j + i];
                sums[b * 16 + j] = (short)sum;
            }
            scales[b] = 1f / iscale;
        }
    }

    /// <summary>
    /// llama.cpp's x86 <c>quantize_row_q8_0</c>, values kept in order: per block of 32, <c>d = max|x| / 127</c> rounded to
    /// float16 (<paramref name="scales"/> holds it widened), codes <c>round(x · 127 / max|x|)</c>, ties to even.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a multiple of 32, or a destination is too short.</exception>
    public static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> scales)
    {
        int blocks = x.Length / Block;
        if (x.Length % Block != 0 || q.Length < x.Length || scales.Length < blocks)
            throw new ArgumentException($"{x.Length} inputs need a multiple of {Block}, {x.Length} codes and {blocks} scales; the destinations hold {q.Length} and {scales.Length}.");
        for (int b = 0; b < blocks; b++)
            scales[b] = IntegerBlocks.QuantizeBlock(x.Slice(b * Block, Block), q.Slice(b * Block, Block));
    }

    // ---------------------------------------------------------------- blocks of 32: Q8_0, Q4_0, Q5_0

    /// <summary>The 32 signed weights of a Q8_0 block (its codes) at <paramref name="at"/> (the block's scale before them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Q8_0Weights(ref byte w, nuint at) => Vector256.LoadUnsafe(ref w, at + 2).AsSByte();

    /// <summary>The 32 signed weights <c>q - 8</c> of a Q4_0 block at <paramref name="at"/>: low nibbles are weights 0..15, high ones 16..31.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Q4_0Weights(ref byte w, nuint at) => Nibbles(ref w, at + 2) - Vector256.Create((byte)8).AsSByte();

    /// <summary>The 32 signed weights <c>q - 16</c> of a Q5_0 block at <paramref name="at"/>: the nibbles with the fifth bits of qh.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Q5_0Weights(ref byte w, nuint at)
    {
        // bytes_from_bits_32: byte i is 0xFF where bit i of qh is set; where it is not, 0xF0 (-16) goes into the high nibble.
        uint qh = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref w, at + 2));
        Vector256<byte> spread = Vector256.Create(qh).AsByte();
        spread = Avx2.IsSupported
            ? Avx2.Shuffle(spread, Vector256.Create(0x0000000000000000ul, 0x0101010101010101ul, 0x0202020202020202ul, 0x0303030303030303ul).AsByte())
            : Vector256.Shuffle(spread, Vector256.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        Vector256<byte> set = Vector256.Equals(spread | Vector256.Create(0x7fbfdfeff7fbfdfeul).AsByte(), Vector256<byte>.AllBitsSet);
        return Nibbles(ref w, at + 6) | Vector256.AndNot(Vector256.Create((byte)0xF0), set).AsSByte();
    }

    /// <summary>16 bytes of nibbles at <paramref name="at"/>: the low nibbles in bytes 0..15, the high ones in 16..31.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Nibbles(ref byte w, nuint at)
    {
        Vector128<byte> v = Vector128.LoadUnsafe(ref w, at);
        return (Vector256.Create(v, Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F)).AsSByte();
    }

    /// <summary>The float16 at byte <paramref name="at"/> (a block's scale), widened exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(ref byte w, nuint at) => IntegerBlocks.FromHalf(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref w, at)));

    /// <summary>
    /// Eight exact int32 lanes of <paramref name="weights"/> times the 32 input codes at <paramref name="at"/>: lane m is
    /// the sum of products 4m..4m+3 (llama.cpp's <c>mul_sum_i8_pairs</c>: <c>vpmaddubsw</c> of |w| by x signed as w, then
    /// <c>vpmaddwd</c> by ones).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Lanes(Vector256<sbyte> weights, ref sbyte x, nuint at)
    {
        Vector256<sbyte> xv = Vector256.LoadUnsafe(ref x, at);
        if (Avx2.IsSupported)
            return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(weights), Avx2.Sign(xv, weights)), Vector256.Create((short)1));
        return Quads(weights, xv);
    }

    /// <summary>One block of 32 added into a row's accumulators, as llama.cpp does: <c>acc += (dw · dx) · lanes</c>, fused.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Accumulate(Vector256<int> lanes, float scale, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(Vector256.Create(scale), Vector256.ConvertToSingle(lanes), acc);

    // ---------------------------------------------------------------- Q4_K

    /// <summary>The high nibbles of 32 bytes, as bytes 0..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> q) => Vector256.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);

    // ---------------------------------------------------------------- Q4_K in panels

    /// <summary>The input's four codes at <paramref name="at"/> in every int32 lane (<c>vpbroadcastd</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Broadcast4(ref sbyte x, nuint at) =>
        Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, at)))).AsSByte();

    /// <summary>
    /// <paramref name="acc"/> plus, in each int32 lane, the four products of its unsigned bytes of <paramref name="u"/>
    /// by its signed bytes of <paramref name="s"/>, exactly: one <c>vpdpbusd</c> (AVX-VNNI), else <c>vpmaddubsw</c>
    /// then <c>vpmaddwd</c> by ones (no saturation: the unsigned bytes here are at most 63).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot4(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, u, s);
        if (Avx2.IsSupported) return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256.Create((short)1));
        return acc + Quads(u.AsSByte(), s);
    }

    /// <summary>Eight bytes at <paramref name="at"/> (a panel's sub-block scales or minima, one per row), widened to int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Widen8(ref byte w, nuint at)
    {
        Vector128<byte> v = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref w, at))).AsByte();
        return Avx2.IsSupported ? Avx2.ConvertToVector256Int32(v) : Vector256.Create(Vector128.WidenLower(Vector128.WidenLower(v)).AsInt32(), Vector128.WidenUpper(Vector128.WidenLower(v)).AsInt32());
    }

    /// <summary>
    /// One row of a Q4_K matrix (in its panel or past them) times one token's Q8_K input, with the arithmetic of its lane
    /// in a panel: per super-block the exact integers <c>Σⱼ scaleⱼ Σ q·x</c> and <c>Σⱼ minⱼ · sumⱼ</c>, converted to
    /// float32 and added by two fused multiply-adds, <c>acc += sumi · (d · dx)</c> then <c>acc += summ · (dmin · -dx)</c>.
    /// So a row computed alone (at the edge of a thread's rows, or past the last panel) gives its panel lane's bits.
    /// </summary>
    public static float Q4KRow(BlockMatrix w, int row, ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xs, ReadOnlySpan<short> sums)
    {
        Span<byte> q = stackalloc byte[256], scales = stackalloc byte[8], mins = stackalloc byte[8];
        float acc = 0f;
        for (int b = 0; b < w.Cols / KBlock; b++)
        {
            w.Q4KRowBlock(row, b, q, scales, mins, out float d, out float dmin);
            int sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++)
            {
                int s = 0;
                for (int i = 0; i < 32; i++) s += q[32 * j + i] * xq[KBlock * b + 32 * j + i];
                sumi += s * scales[j];
                summ += mins[j] * (sums[16 * b + 2 * j] + sums[16 * b + 2 * j + 1]);
            }
            float dx = xs[b];
            acc = MathF.FusedMultiplyAdd(sumi, d * dx, acc);
            acc = MathF.FusedMultiplyAdd(summ, dmin * -dx, acc);
        }
        return acc;
    }

    /// <summary>Eight signed bytes at <paramref name="at"/> (a Q6_K panel's sub-block scales, one per row), widened to int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Widen8Signed(ref byte w, nuint at)
    {
        Vector128<sbyte> v = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref w, at))).AsSByte();
        return Avx2.IsSupported ? Avx2.ConvertToVector256Int32(v) : Vector256.Create(Vector128.WidenLower(Vector128.WidenLower(v)), Vector128.WidenUpper(Vector128.WidenLower(v)));
    }

    /// <summary>
    /// 32 bytes of a Q6_K panel's codes: the four low bits of <paramref name="nibbles"/> (<paramref name="upper"/>: its high
    /// nibbles) joined by the two top bits in bits 2c..2c + 1 of <paramref name="top"/>, as unsigned bytes 0..63.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Q6KCodes(Vector256<byte> nibbles, bool upper, Vector256<byte> top, int c)
    {
        Vector256<byte> low = upper ? High(nibbles) : nibbles & Vector256.Create((byte)0x0F);
        // The two bits moved to bits 4..5 of each byte: a 16-bit shift, whose bits carried between bytes are masked off.
        Vector256<ushort> t = top.AsUInt16();
        Vector256<ushort> moved = c switch { 0 => t << 4, 1 => t << 2, 2 => t, _ => t >> 2 };
        return low | (moved.AsByte() & Vector256.Create((byte)0x30));
    }

    /// <summary>
    /// One row of a Q6_K matrix (in its panel or past them) times one token's Q8_K input, with the arithmetic of its lane
    /// in a panel: per super-block the exact integer <c>Σⱼ scaleⱼ (Σ q·x - 32 Σ x)</c> over its sixteen sub-blocks,
    /// converted to float32 and added by one fused multiply-add, <c>acc += sumi · (d · dx)</c>.
    /// </summary>
    public static float Q6KRow(BlockMatrix w, int row, ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xs, ReadOnlySpan<short> sums)
    {
        Span<byte> q = stackalloc byte[256];
        Span<sbyte> scales = stackalloc sbyte[16];
        float acc = 0f;
        for (int b = 0; b < w.Cols / KBlock; b++)
        {
            w.Q6KRowBlock(row, b, q, scales, out float d);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                int s = 0;
                for (int i = 0; i < 16; i++) s += q[16 * j + i] * xq[KBlock * b + 16 * j + i];
                sumi += scales[j] * (s - 32 * sums[16 * b + j]);
            }
            acc = MathF.FusedMultiplyAdd(sumi, d * xs[b], acc);
        }
        return acc;
    }

    // ---------------------------------------------------------------- the end of a row

    /// <summary>llama.cpp's <c>hsum_float_8</c>: ((a4 + a0) + (a6 + a2)) + ((a5 + a1) + (a7 + a3)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> acc)
    {
        Vector128<float> r = acc.GetUpper() + acc.GetLower();
        return (r.GetElement(0) + r.GetElement(2)) + (r.GetElement(1) + r.GetElement(3));
    }

    // ---------------------------------------------------------------- the portable path

    /// <summary>Lane m: the sum of products 4m..4m+3, in scalars.</summary>
    private static Vector256<int> Quads(Vector256<sbyte> w, Vector256<sbyte> x)
    {
        Span<int> lanes = stackalloc int[8];
        for (int m = 0; m < 8; m++)
        {
            int sum = 0;
            for (int k = 4 * m; k < 4 * m + 4; k++) sum += w.GetElement(k) * x.GetElement(k);
            lanes[m] = sum;
        }
        return Vector256.Create<int>(lanes);
    }

    /// <summary>int16 lane k: products 2k and 2k + 1 summed (as <c>vpmaddubsw</c> without saturation, which these values never reach).</summary>
    private static Vector256<short> Pairs(Vector256<sbyte> w, Vector256<sbyte> x)
    {
        Span<short> lanes = stackalloc short[16];
        for (int k = 0; k < 16; k++) lanes[k] = (short)(w.GetElement(2 * k) * x.GetElement(2 * k) + w.GetElement(2 * k + 1) * x.GetElement(2 * k + 1));
        return Vector256.Create<short>(lanes);
    }

    /// <summary><c>vpmaddwd</c> in scalars: lane m = p[2m] s[2m] + p[2m + 1] s[2m + 1].</summary>
    private static Vector256<int> ScaledPairs(Vector256<short> p, Vector256<short> s)
    {
        Span<int> lanes = stackalloc int[8];
        for (int m = 0; m < 8; m++) lanes[m] = p.GetElement(2 * m) * s.GetElement(2 * m) + p.GetElement(2 * m + 1) * s.GetElement(2 * m + 1);
        return Vector256.Create<int>(lanes);
    }
}
