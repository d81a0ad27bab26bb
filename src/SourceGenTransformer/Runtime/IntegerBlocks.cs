using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The integer arithmetic of <see cref="WeightPrecision.Int8"/>: a product's input quantised to 8 bits per block of 32
/// (ggml's Q8_0, as llama.cpp quantises it), multiplied in integers by the weights, each block's exact integer sums then
/// converted to float32 and scaled by the product of the two blocks' scales; and the float16 widening every integer
/// kernel's scales go through (<see cref="FromHalf"/>, <see cref="Scales8"/>, <see cref="Scales16"/>).
/// </summary>
/// <remarks>
/// <para>
/// Panels of <see cref="Int8PanelRows"/> rows hold each pair of columns' weights for all the rows side by side
/// (<see cref="ToPanels(Span{sbyte}, Span{Half}, int, int)"/>), and the input is kept in order as int16
/// (<see cref="QuantizeInOrder"/>): one <c>vpmaddwd</c> of a widened pair (<see cref="WidenPairs16"/>) by the broadcast
/// input pair adds two exact products to every row's lane (<see cref="MultiplyPairs(Vector512{short}, ref short, nuint)"/>),
/// so after a block's 16 pairs the lanes are the rows' block totals with no horizontal sums. Every sum is exact, so the
/// only rounding is the input's (to 8 bits: at most half a step, 1/254 of its block's largest magnitude) and that of the
/// float32 scaling and sums.
/// </para>
/// <para>Without AVX2 the same integers are formed by widening, so every path gives the same bits.</para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class IntegerBlocks
{
    /// <summary>Values per block: one scale for 32 weights or inputs.</summary>
    public const int Block = 32;

    /// <summary>
    /// Quantises <paramref name="x"/> (a whole number of blocks of 32) as llama.cpp's x86 <c>quantize_row_q8_0</c> does —
    /// per block <c>d = max|x| / 127</c> (rounded to float16, as ggml stores it), each value <c>round(x · 127 / max|x|)</c>,
    /// ties to even — for <see cref="WeightPrecision.Int8"/> matrices: the values stay in their order, widened to int16
    /// for <c>vpmaddwd</c>, and one scale per block goes to <paramref name="scales"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a multiple of 32, or a destination is too short.</exception>
    public static void QuantizeInOrder(ReadOnlySpan<float> x, Span<short> quantized, Span<float> scales)
    {
        int blocks = x.Length / Block;
        if (x.Length % Block != 0 || quantized.Length < x.Length || scales.Length < blocks)
            throw new ArgumentException($"{x.Length} inputs need a length that is a multiple of {Block}, {x.Length} values and {blocks} scales; the destinations hold {quantized.Length} and {scales.Length}.");
        ref short q = ref MemoryMarshal.GetReference(quantized);
        for (int b = 0; b < blocks; b++)
        {
            scales[b] = Codes(x.Slice(b * Block, Block), out var i0, out var i1, out var i2, out var i3);
            Vector256.Narrow(i0, i1).StoreUnsafe(ref q, (nuint)(b * Block));
            Vector256.Narrow(i2, i3).StoreUnsafe(ref q, (nuint)(b * Block + 16));
        }
    }

    /// <summary>One block of llama.cpp's Q8_0 quantisation: returns its scale, writes its 32 values.</summary>
    internal static float QuantizeBlock(ReadOnlySpan<float> x, Span<sbyte> q, out int sum)
    {
        float scale = Codes(x, out var i0, out var i1, out var i2, out var i3);
        Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).StoreUnsafe(ref MemoryMarshal.GetReference(q));
        sum = Vector256.Sum(i0 + i1 + i2 + i3);
        return scale;
    }

    /// <summary>A block's 32 codes, <c>round(x · 127 / max|x|)</c> (ties to even), in four vectors; returns its scale, <c>max|x| / 127</c> rounded to float16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Codes(ReadOnlySpan<float> x, out Vector256<int> i0, out Vector256<int> i1, out Vector256<int> i2, out Vector256<int> i3)
    {
        ref float xRef = ref MemoryMarshal.GetReference(x);
        Vector256<float> v0 = Vector256.LoadUnsafe(ref xRef), v1 = Vector256.LoadUnsafe(ref xRef, 8);
        Vector256<float> v2 = Vector256.LoadUnsafe(ref xRef, 16), v3 = Vector256.LoadUnsafe(ref xRef, 24);
        Vector256<float> m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        Vector128<float> m4 = Vector128.Max(m.GetLower(), m.GetUpper());
        m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
        m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
        float max = m4.ToScalar();
        Vector256<float> id = Vector256.Create(max != 0f ? 127f / max : 0f);
        i0 = RoundToInt32(v0 * id);
        i1 = RoundToInt32(v1 * id);
        i2 = RoundToInt32(v2 * id);
        i3 = RoundToInt32(v3 * id);
        return RoundToHalf(max / 127f);
    }

    /// <summary>
    /// Each lane rounded to the nearest integer, ties to even (<c>vcvtps2dq</c> under the default rounding mode: one
    /// instruction, where <c>ConvertToInt32(Round(v))</c> adds .NET's saturation fix-ups, about thirty per block of 32).
    /// For the codes of finite inputs, whose magnitudes are at most 127.5, the two agree.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> RoundToInt32(Vector256<float> v) =>
        Avx.IsSupported ? Avx.ConvertToVector256Int32(v) : Vector256.ConvertToInt32(Vector256.Round(v));

    /// <summary>
    /// <c>(float)(Half)x</c> for x ≥ 0 or NaN, in a few integer steps (.NET 10's Half conversions are software calls, each
    /// a block's cost again): round to nearest, ties to even, onto float16's grid: 2⁻²⁴ apart below 2⁻¹⁴ (subnormals),
    /// ten mantissa bits above, infinity from 65520 (the tie past 65504) up.
    /// </summary>
    internal static float RoundToHalf(float x)
    {
        if (!(x < 65520f)) return x >= 65520f ? float.PositiveInfinity : x;
        if (x < 6.10351562e-05f) return x + 0.5f - 0.5f; // 0.5's ulp is 2⁻²⁴: the add rounds x onto the subnormals' grid, exactly undone
        int bits = BitConverter.SingleToInt32Bits(x);
        bits += 0xFFF + ((bits >> 13) & 1); // the 13 bits float16 lacks, rounded to nearest even (a carry moves the exponent)
        return BitConverter.Int32BitsToSingle(bits & ~0x1FFF);
    }

    /// <summary>Eight float16 weight scales from element <paramref name="at"/>, widened exactly to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Scales8(ref Half scales, nuint at)
    {
        Vector128<ushort> h = Vector128.LoadUnsafe(ref Unsafe.As<Half, ushort>(ref scales), at);
        return FromHalfBits(Avx2.IsSupported ? Avx2.ConvertToVector256Int32(h).AsUInt32() : Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h)));
    }

    /// <summary>Sixteen float16 weight scales from element <paramref name="at"/>, widened exactly to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Scales16(ref Half scales, nuint at)
    {
        Vector256<ushort> h = Vector256.LoadUnsafe(ref Unsafe.As<Half, ushort>(ref scales), at);
        return FromHalfBits(Avx512F.IsSupported ? Avx512F.ConvertToVector512Int32(h).AsUInt32() : Vector512.Create(Vector256.WidenLower(h), Vector256.WidenUpper(h)));
    }

    /// <summary>
    /// float16 bits to float32, exactly for every finite value (<c>(float)Half</c> is a software call in .NET 10; this is
    /// a handful of instructions, the vector widenings' arithmetic on one value). Infinities and NaNs come out finite:
    /// weight scales are checked finite when they are read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FromHalf(ushort h)
    {
        int m = h & 0x7FFF;
        // A normal float16's bits moved into float32's places, its exponent rebased (+112); a subnormal's mantissa times
        // 2^-24. No subnormal float32 is ever formed: an arithmetic operand that is one costs Zen 4 a microcode assist
        // (a Q6_K block's scale is often a float16 subnormal, and the whole product ran four times slower).
        int normal = (m << 13) + 0x38000000;
        int subnormal = BitConverter.SingleToInt32Bits(m * 5.9604645E-08f);
        return BitConverter.Int32BitsToSingle((m < 0x0400 ? subnormal : normal) | (h & 0x8000) << 16);
    }

    // float16 bits (in the low half of each lane) to float32, exact for every finite value, subnormals included, as
    // FromHalf does on one: a normal's bits rebased, a subnormal's mantissa converted and scaled by 2^-24, selected per
    // lane, the sign put back. (.NET 10 has no F16C intrinsics.)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> FromHalfBits(Vector128<uint> h)
    {
        Vector128<uint> m = h & Vector128.Create(0x7FFFu);
        Vector128<float> normal = ((m << 13) + Vector128.Create(0x38000000u)).AsSingle();
        Vector128<float> subnormal = Vector128.ConvertToSingle(m.AsInt32()) * Vector128.Create(5.9604645E-08f);
        return Vector128.ConditionalSelect(Vector128.LessThan(m.AsInt32(), Vector128.Create(0x0400)).AsSingle(), subnormal, normal) | ((h & Vector128.Create(0x8000u)) << 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> FromHalfBits(Vector256<uint> h)
    {
        Vector256<uint> m = h & Vector256.Create(0x7FFFu);
        Vector256<float> normal = ((m << 13) + Vector256.Create(0x38000000u)).AsSingle();
        Vector256<float> subnormal = Vector256.ConvertToSingle(m.AsInt32()) * Vector256.Create(5.9604645E-08f);
        return Vector256.ConditionalSelect(Vector256.LessThan(m.AsInt32(), Vector256.Create(0x0400)).AsSingle(), subnormal, normal) | ((h & Vector256.Create(0x8000u)) << 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> FromHalfBits(Vector512<uint> h)
    {
        Vector512<uint> m = h & Vector512.Create(0x7FFFu);
        Vector512<float> normal = ((m << 13) + Vector512.Create(0x38000000u)).AsSingle();
        Vector512<float> subnormal = Vector512.ConvertToSingle(m.AsInt32()) * Vector512.Create(5.9604645E-08f);
        return Vector512.ConditionalSelect(Vector512.LessThan(m.AsInt32(), Vector512.Create(0x0400)).AsSingle(), subnormal, normal) | ((h & Vector512.Create(0x8000u)) << 16).AsSingle();
    }

    /// <summary>
    /// Asks for the two cache lines at <paramref name="offset"/> from <paramref name="packed"/> ahead of their use (a hint:
    /// it never faults, past the end of the weights included). A panel's stream of 128 bytes per step carries too much
    /// arithmetic per byte for the out-of-order window alone to keep enough of memory's reads in flight.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch(ref byte packed, nuint offset)
    {
        if (!Sse.IsSupported) return;
        byte* p = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref packed, offset));
        Sse.Prefetch0(p);
        Sse.Prefetch0(p + 64);
    }

    /// <summary>Rows of one <see cref="WeightPrecision.Int8"/> panel (<see cref="ToPanels(Span{sbyte}, Span{Half}, int, int)"/>).</summary>
    public const int Int8PanelRows = 16;

    /// <summary>
    /// Eight rows' two weights of one pair of columns (16 bytes of an Int8 panel at <paramref name="offset"/>: its rows
    /// 0..7 or 8..15), widened to int16 (<c>vpmovsxbw</c>): row m's pair in int32 lane m.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> WidenPairs(ref sbyte panel, nuint offset)
    {
        Vector128<sbyte> v = Vector128.LoadUnsafe(ref panel, offset);
        if (Avx2.IsSupported) return Avx2.ConvertToVector256Int16(v);
        return Vector256.Create(Vector128.WidenLower(v), Vector128.WidenUpper(v));
    }

    /// <summary>The sixteen rows' two weights of one pair of columns (32 bytes of an Int8 panel), widened to int16: row m's pair in int32 lane m.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<short> WidenPairs16(ref sbyte panel, nuint offset)
    {
        if (Avx512BW.IsSupported) return Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref panel, offset));
        return Vector512.Create(WidenPairs(ref panel, offset), WidenPairs(ref panel, offset + 16));
    }

    /// <summary>
    /// <see cref="WidenPairs"/>' eight rows times the input pair at <paramref name="at"/> (two int16 values, broadcast):
    /// lane m is row m's <c>w₀x₀ + w₁x₁</c>, exact (<c>vpmaddwd</c>). Summed over a block's 16 pairs the lanes are the
    /// rows' exact block totals (each at most 32 · 127 · 127), with no horizontal sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyPairs(Vector256<short> w, ref short quantized, nuint at)
    {
        Vector256<short> x = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref quantized, at)))).AsInt16();
        if (Avx2.IsSupported) return Avx2.MultiplyAddAdjacent(w, x);
        Vector256<int> even = Vector256.Create(w.GetElement(0), w.GetElement(2), w.GetElement(4), w.GetElement(6), w.GetElement(8), w.GetElement(10), w.GetElement(12), w.GetElement(14));
        Vector256<int> odd = Vector256.Create(w.GetElement(1), w.GetElement(3), w.GetElement(5), w.GetElement(7), w.GetElement(9), w.GetElement(11), w.GetElement(13), w.GetElement(15));
        return even * x.GetElement(0) + odd * x.GetElement(1);
    }

    /// <summary><see cref="MultiplyPairs(Vector256{short}, ref short, nuint)"/> for sixteen rows (<see cref="WidenPairs16"/>): the same integers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> MultiplyPairs(Vector512<short> w, ref short quantized, nuint at)
    {
        if (Avx512BW.IsSupported)
            return Avx512BW.MultiplyAddAdjacent(w, Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref quantized, at)))).AsInt16());
        return Vector512.Create(MultiplyPairs(w.GetLower(), ref quantized, at), MultiplyPairs(w.GetUpper(), ref quantized, at));
    }

    /// <summary>
    /// One output of an Int8 product alone (a row at the edge of a thread's range, or past the last whole panel), with the
    /// arithmetic of its lane in a panel: per block the exact integer total, converted to float32, times
    /// <c>scale · input scale</c>, fused into one running sum over the blocks in order. So it gives the panel's bits.
    /// </summary>
    /// <param name="w">The whole matrix: panels of <see cref="Int8PanelRows"/> rows, then row-major rows.</param>
    /// <param name="scales">Its scales in the same order.</param>
    /// <param name="row">The output's row.</param>
    /// <param name="cols">Columns (a multiple of 32).</param>
    /// <param name="panelRows">Rows held in whole panels.</param>
    /// <param name="quantized">One token's input (<see cref="QuantizeInOrder"/>).</param>
    /// <param name="inputScales">Its block scales.</param>
    public static float Int8Row(ReadOnlySpan<sbyte> w, ReadOnlySpan<Half> scales, int row, int cols, int panelRows, ReadOnlySpan<short> quantized, ReadOnlySpan<float> inputScales)
    {
        int blocks = cols / Block;
        float sum = 0f;
        for (int b = 0; b < blocks; b++)
        {
            int total = 0;
            for (int j = 0; j < Block; j++)
                total += w[Int8At(row, cols, panelRows, b, j, out _)] * quantized[b * Block + j];
            Int8At(row, cols, panelRows, b, 0, out int scaleAt);
            sum = MathF.FusedMultiplyAdd(total, (float)scales[scaleAt] * inputScales[b], sum);
        }
        return sum;
    }

    /// <summary>
    /// Row <paramref name="row"/> of an Int8 matrix in its panels (<see cref="ToPanels(Span{sbyte}, Span{Half}, int, int)"/>),
    /// dequantised (<c>q · scale</c>) into <paramref name="destination"/>: the lookup of a token embedding kept in blocks.
    /// </summary>
    /// <exception cref="ArgumentException">The row is outside the matrix, or a span is too short.</exception>
    public static void Int8RowValues(ReadOnlySpan<sbyte> w, ReadOnlySpan<Half> scales, int row, int cols, int panelRows, Span<float> destination)
    {
        int blocks = cols / Block;
        if (row < 0 || (long)(row + 1) * cols > w.Length || (long)(row + 1) * blocks > scales.Length || destination.Length < cols)
            throw new ArgumentException($"Row {row} of an Int8 matrix of {cols} columns needs {(long)(row + 1) * cols} values, {(long)(row + 1) * blocks} scales and {cols} destination values; the spans hold {w.Length}, {scales.Length} and {destination.Length}.");
        for (int b = 0; b < blocks; b++)
        {
            Int8At(row, cols, panelRows, b, 0, out int scaleAt);
            float scale = (float)scales[scaleAt];
            for (int j = 0; j < Block; j++)
                destination[b * Block + j] = w[Int8At(row, cols, panelRows, b, j, out _)] * scale;
        }
    }

    /// <summary>
    /// Where weight <paramref name="j"/> of block <paramref name="b"/> of row <paramref name="row"/> sits in an Int8
    /// matrix in its panels (<see cref="ToPanels(Span{sbyte}, Span{Half}, int, int)"/>), and that block's scale; rows from
    /// <paramref name="panelRows"/> on are row-major.
    /// </summary>
    private static int Int8At(int row, int cols, int panelRows, int b, int j, out int scaleAt)
    {
        const int P = Int8PanelRows;
        int blocks = cols / Block;
        if (row >= panelRows)
        {
            scaleAt = row * blocks + b;
            return row * cols + b * Block + j;
        }
        int m = row % P, first = row - m;
        scaleAt = first * blocks + b * P + m;
        return first * cols + b * P * Block + j / 2 * 2 * P + 2 * m + j % 2;
    }

    /// <summary>
    /// Reorders a row-major <see cref="WeightPrecision.Int8"/> matrix (one scale per block of 32 weights) in place into the
    /// panels its kernels read: per group of <see cref="Int8PanelRows"/> rows and block of 32 columns, for each of the
    /// block's 16 pairs of columns the sixteen rows' two weights side by side (32 bytes, row m at bytes 2m and 2m + 1),
    /// and the sixteen rows' scales of the block. A panel's block is 512 bytes read front to back, and one
    /// <c>vpmaddwd</c> multiplies a pair of columns for all sixteen rows (Vector512) or eight (Vector256, two per pair).
    /// The rows past the last whole panel stay row-major.
    /// </summary>
    /// <exception cref="ArgumentException">The columns do not split into blocks of 32, or the spans are too short.</exception>
    public static void ToPanels(Span<sbyte> quantized, Span<Half> scales, int rows, int cols)
    {
        const int P = Int8PanelRows;
        if (cols % Block != 0 || rows < 0 || quantized.Length < (long)rows * cols || scales.Length < (long)rows * cols / Block)
            throw new ArgumentException($"An Int8 matrix of {rows} x {cols} needs columns in blocks of {Block}, {(long)rows * cols} bytes and {(long)rows * cols / Block} scales; the spans hold {quantized.Length} and {scales.Length}.");
        int blocks = cols / Block;
        var values = new sbyte[P * cols];
        var s = new Half[P * blocks];
        for (int p = 0; p + P <= rows; p += P)
        {
            Span<sbyte> panel = quantized.Slice(p * cols, P * cols);
            Span<Half> panelScales = scales.Slice(p * blocks, P * blocks);
            panel.CopyTo(values);
            panelScales.CopyTo(s);
            for (int m = 0; m < P; m++)
            {
                for (int b = 0; b < blocks; b++)
                {
                    for (int j = 0; j < Block; j++)
                        panel[b * P * Block + j / 2 * 2 * P + 2 * m + j % 2] = values[m * cols + b * Block + j];
                    panelScales[b * P + m] = s[m * blocks + b];
                }
            }
        }
    }
}
