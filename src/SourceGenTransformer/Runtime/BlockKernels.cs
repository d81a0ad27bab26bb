using System;
using System.ComponentModel;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The arithmetic of <see cref="BlockMatrix"/> products (Q4K models), as integer outer products over its panels of
/// eight rows: a product's input is quantised to 8 bits per block as llama.cpp quantises it (ggml's Q8_K, blocks of 256
/// with float32 scales and sums per 16, for Q4_K and Q6_K; Q8_0, blocks of 32 with float16 scales, for Q8_0, Q4_0 and
/// Q5_0), and each 32 bytes of a panel, four columns of eight rows as unsigned codes, meet the input's four codes
/// broadcast in one <c>vpdpbusd</c>: each row's four products go to its own int32 lane, so a block's lanes are the
/// rows' exact integer sums, with no sums across lanes. Per block (or K-quant sub-block) the scales and code biases are
/// applied in integers, and per block one or two fused multiply-adds add them, converted, to each row's float32 lane.
/// </summary>
/// <remarks>
/// A row is one chain of float32 operations over its blocks in order, the same in a panel's lane, computed alone
/// (<see cref="Q4KRow"/>, <see cref="Q6KRow"/>, <see cref="Block32Row"/>: rows at the edge of a thread's share or past
/// the last panel), in a decoded token and in a prompt block: the bits never depend on the thread count or the tile.
/// The integers are llama.cpp's; its float32 order is not (it sums eight lanes per row), so results agree with its to
/// float32 rounding. Without AVX-VNNI the same integers are formed by widening (AVX2) or in scalars.
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
            // m: the first value of the largest magnitude, as ggml's strictly-greater scan finds it.
            ref float xr = ref MemoryMarshal.GetReference(xb);
            Vector256<float> top = Vector256<float>.Zero;
            for (int j = 0; j < KBlock; j += 8) top = Vector256.Max(top, Vector256.Abs(Vector256.LoadUnsafe(ref xr, (nuint)j)));
            Vector128<float> m4 = Vector128.Max(top.GetLower(), top.GetUpper());
            float amax = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));
            float max = 0f;
            for (int j = 0; j < KBlock; j += 8)
            {
                uint hits = Vector256.Equals(Vector256.Abs(Vector256.LoadUnsafe(ref xr, (nuint)j)), Vector256.Create(amax)).ExtractMostSignificantBits();
                if (hits == 0) continue;
                max = xb[j + BitOperations.TrailingZeroCount(hits)];
                break;
            }
            if (amax == 0f)
            {
                scales[b] = 0f;
                qb.Clear();
                sums.Slice(b * 16, 16).Clear();
                continue;
            }
            float iscale = -127f / max;
            // nearest_int is round to nearest, ties to even, as vroundps: the same codes, eight at a time.
            ref sbyte qr = ref MemoryMarshal.GetReference(qb);
            Vector256<float> scale = Vector256.Create(iscale);
            for (int j = 0; j < KBlock; j += 32)
            {
                Vector256<int> c0 = Codes8(ref xr, j, scale), c1 = Codes8(ref xr, j + 8, scale), c2 = Codes8(ref xr, j + 16, scale), c3 = Codes8(ref xr, j + 24, scale);
                Vector256.Narrow(Vector256.Narrow(c0, c1), Vector256.Narrow(c2, c3)).StoreUnsafe(ref qr, (nuint)j);
                sums[b * 16 + j / 16] = (short)Vector256.Sum(c0 + c1);
                sums[b * 16 + j / 16 + 1] = (short)Vector256.Sum(c2 + c3);
            }
            scales[b] = 1f / iscale;
        }
    }

    /// <summary>Eight Q8_K codes from element <paramref name="at"/>: <c>min(127, round(x · iscale))</c>, ties to even.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Codes8(ref float x, int at, Vector256<float> iscale) =>
        Vector256.Min(IntegerBlocks.RoundToInt32(Vector256.LoadUnsafe(ref x, (nuint)at) * iscale), Vector256.Create(127));

    /// <summary>
    /// llama.cpp's x86 <c>quantize_row_q8_0</c>, values kept in order: per block of 32, <c>d = max|x| / 127</c> rounded to
    /// float16 (<paramref name="scales"/> holds it widened), codes <c>round(x · 127 / max|x|)</c>, ties to even; and each
    /// block's offset, <c>-bias · Σ codes</c>: a panel whose codes stand for code - <paramref name="bias"/>
    /// (<see cref="BlockMatrix.Block32Offset"/>) starts each block's lanes there.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a multiple of 32, or a destination is too short.</exception>
    public static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> scales, Span<int> offsets, int bias)
    {
        int blocks = x.Length / Block;
        if (x.Length % Block != 0 || q.Length < x.Length || scales.Length < blocks || offsets.Length < blocks)
            throw new ArgumentException($"{x.Length} inputs need a multiple of {Block}, {x.Length} codes, {blocks} scales and {blocks} offsets; the destinations hold {q.Length}, {scales.Length} and {offsets.Length}.");
        for (int b = 0; b < blocks; b++)
        {
            scales[b] = IntegerBlocks.QuantizeBlock(x.Slice(b * Block, Block), q.Slice(b * Block, Block), out int sum);
            offsets[b] = -bias * sum;
        }
    }

    // ---------------------------------------------------------------- blocks of 32 in panels: Q8_0, Q4_0, Q5_0

    /// <summary>
    /// 32 bytes of a Q5_0 panel's codes: the four low bits of <paramref name="nibbles"/> (<paramref name="upper"/>: its
    /// high nibbles, group c + 4; else its low ones, group c) joined by the fifth bits of the group, kept in bit g of each
    /// byte of <paramref name="fifth"/>: unsigned bytes 0..31.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Q5Codes(Vector256<byte> nibbles, bool upper, Vector256<byte> fifth, int c)
    {
        Vector256<byte> low = upper ? High(nibbles) : nibbles & Vector256.Create((byte)0x0F);
        // Bit g moved to bit 4 by a 16-bit shift, whose bits carried between bytes are masked off.
        Vector256<ushort> f = fifth.AsUInt16();
        Vector256<ushort> moved = upper ? f >> c : f << (4 - c);
        return low | (moved.AsByte() & Vector256.Create((byte)0x10));
    }

    /// <summary>
    /// One row of a Q8_0, Q4_0 or Q5_0 matrix (in its panel or past them) times one token's Q8_0 input, with the
    /// arithmetic of its lane in a panel: per block the exact integer <c>Σ code · x</c> from the block's offset
    /// (<see cref="QuantizeQ8_0"/> with the matrix's bias), converted to float32 and added by one fused multiply-add,
    /// <c>acc += sum · (d · dx)</c>.
    /// </summary>
    public static float Block32Row(BlockMatrix w, int row, ReadOnlySpan<sbyte> xq, ReadOnlySpan<float> xs, ReadOnlySpan<int> offsets)
    {
        Span<byte> q = stackalloc byte[Block];
        float acc = 0f;
        for (int b = 0; b < w.Cols / Block; b++)
        {
            w.Block32RowBlock(row, b, q, out float d);
            int sum = offsets[b];
            for (int i = 0; i < Block; i++) sum += q[i] * xq[Block * b + i];
            acc = MathF.FusedMultiplyAdd(sum, d * xs[b], acc);
        }
        return acc;
    }

    // ---------------------------------------------------------------- Q4_K in panels

    /// <summary>The input's four codes at <paramref name="at"/> in every int32 lane (<c>vpbroadcastd</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Broadcast4(ref sbyte x, nuint at) =>
        Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, at)))).AsSByte();

    /// <summary>
    /// <paramref name="acc"/> plus, in each int32 lane, the four products of its unsigned bytes of <paramref name="u"/>
    /// by its signed bytes of <paramref name="s"/>, exactly: one <c>vpdpbusd</c> (AVX-VNNI); else both widened to int16
    /// (<c>vpmaddubsw</c> would saturate on Q8_0's codes of up to 255), pairs summed by <c>vpmaddwd</c> and pairs of pairs
    /// by a horizontal add, put back in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot4(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s)
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, u, s);
        if (!Avx2.IsSupported) return acc + Quads(u, s);
        Vector256<int> low = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(u.GetLower()), Avx2.ConvertToVector256Int16(s.GetLower()));
        Vector256<int> high = Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(u.GetUpper()), Avx2.ConvertToVector256Int16(s.GetUpper()));
        // hadd gives the quads 0, 1, 4, 5 | 2, 3, 6, 7; the 64-bit lanes 0, 2, 1, 3 put them in order.
        return acc + Avx2.Permute4x64(Avx2.HorizontalAdd(low, high).AsInt64(), 0b11_01_10_00).AsInt32();
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

    // ---------------------------------------------------------------- helpers

    /// <summary>The high nibbles of 32 bytes, as bytes 0..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> q) => Vector256.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);

    /// <summary>Lane m: the sum of products 4m..4m+3 of unsigned by signed bytes, in scalars (the portable path).</summary>
    private static Vector256<int> Quads(Vector256<byte> u, Vector256<sbyte> s)
    {
        Span<int> lanes = stackalloc int[8];
        for (int m = 0; m < 8; m++)
        {
            int sum = 0;
            for (int k = 4 * m; k < 4 * m + 4; k++) sum += u.GetElement(k) * s.GetElement(k);
            lanes[m] = sum;
        }
        return Vector256.Create<int>(lanes);
    }
}
