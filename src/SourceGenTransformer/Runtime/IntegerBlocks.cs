using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The integer arithmetic of <see cref="WeightPrecision.Q4_0"/>: a product's input quantised to 8 bits per block of 32
/// (ggml's Q8_0, as llama.cpp quantises it), multiplied in integers by the 4-bit weights two blocks at a time, each
/// block's exact integer sums then converted to float32 and scaled by the product of the two blocks' scales.
/// </summary>
/// <remarks>
/// <para>
/// A pair of Q4_0 blocks is 32 bytes of nibbles: the low nibbles are weights 0..15 of each block, the high ones
/// 16..31. Both unpack with one mask and one shift, and the input is laid out to match (<see cref="Quantize"/>): per pair
/// of blocks, 64 bytes holding the first 16 values of each block, then the last 16 of each. The nibbles multiply
/// unsigned (0..15) against the signed input (<c>vpmaddubsw</c>), and the offset of 8 every Q4_0 weight carries is taken
/// off in integers: <c>Σ (q - 8) x = Σ q x - Σ 8 x</c>, where <c>Σ 8 x</c> is computed once per input, per lane
/// (<see cref="Quantize"/>'s <c>offsets</c>), after four rows' lanes are summed to their block totals
/// (<see cref="Totals(Vector256{int}, Vector256{int}, Vector256{int}, Vector256{int}, ref int, nuint)"/>). Every sum is exact, so the only rounding is the input's (to 8 bits: at
/// most half a step, 1/254 of its block's largest magnitude) and that of the float32 scaling and sums.
/// </para>
/// <para>
/// Eight int32 lanes come out of a pair: lanes 0..3 belong to the first block, 4..7 to the second, each lane the sum
/// over four of its low and four of its high positions; horizontal adds then turn four rows' lanes into one vector of
/// their block totals, which one conversion and one multiply-add scale. A last, unpaired block (an odd number of
/// blocks per row) uses the same arithmetic on 128 bits. Without AVX2 the same integers are formed by widening, so every path
/// gives the same bits.
/// </para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class IntegerBlocks
{
    /// <summary>Values per block: one scale for 32 weights or inputs.</summary>
    public const int Block = 32;

    /// <summary>
    /// Quantises <paramref name="x"/> (a whole number of blocks of 32) as llama.cpp's x86 <c>quantize_row_q8_0</c>
    /// does — per block <c>d = max|x| / 127</c> (rounded to float16, as ggml stores it), each value
    /// <c>round(x · 127 / max|x|)</c>, ties to even — into the pair layout of the remarks. Per block it also writes four
    /// copies of <c>d</c> to <paramref name="scales"/> and of <c>Σ 8 x</c> to <paramref name="offsets"/> (a pair's first
    /// block in lanes 0..3, the second in 4..7, an unpaired last block's four after them), the layout of <see cref="Totals(Vector256{int}, Vector256{int}, Vector256{int}, Vector256{int}, ref int, nuint)"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a multiple of 32, or a destination is too short.</exception>
    public static void Quantize(ReadOnlySpan<float> x, Span<sbyte> quantized, Span<float> scales, Span<int> offsets)
    {
        int blocks = x.Length / Block;
        if (x.Length % Block != 0 || quantized.Length < x.Length || scales.Length < 4 * blocks || offsets.Length < 4 * blocks)
            throw new ArgumentException($"{x.Length} inputs need a length that is a multiple of {Block}, {x.Length} bytes, {4 * blocks} scales and {4 * blocks} offsets; the destinations hold {quantized.Length}, {scales.Length} and {offsets.Length}.");
        Span<sbyte> block = stackalloc sbyte[Block];
        for (int b = 0; b < blocks; b++)
        {
            float d = QuantizeBlock(x.Slice(b * Block, Block), block);
            // Where this block's 16 low and 16 high values go: after the pair's first 16 (or 32) bytes.
            int pair = b / 2 * 2, second = b - pair;
            int lowAt, highAt, laneAt;
            if (pair + 1 < blocks)
            {
                lowAt = pair * Block + 16 * second;
                highAt = pair * Block + 32 + 16 * second;
                laneAt = pair * 4 + 4 * second;
            }
            else
            {
                lowAt = b * Block;
                highAt = b * Block + 16;
                laneAt = b * 4;
            }
            block[..16].CopyTo(quantized.Slice(lowAt, 16));
            block[16..].CopyTo(quantized.Slice(highAt, 16));
            int sum = 0;
            foreach (sbyte v in block) sum += v;
            scales.Slice(laneAt, 4).Fill(d);
            offsets.Slice(laneAt, 4).Fill(8 * sum);
        }
    }

    /// <summary>One block of llama.cpp's Q8_0 quantisation: returns its scale, writes its 32 values.</summary>
    private static float QuantizeBlock(ReadOnlySpan<float> x, Span<sbyte> q)
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
        Vector256<int> i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * id)), i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * id));
        Vector256<int> i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * id)), i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * id));
        Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).StoreUnsafe(ref MemoryMarshal.GetReference(q));
        return (float)(Half)(max / 127f);
    }

    /// <summary>The nibbles of the pair of Q4_0 blocks whose 32 bytes start at <paramref name="offset"/>: low (weights 0..15 of each block) and high (16..31), as unsigned bytes 0..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<byte> Low, Vector256<byte> High) UnpackPair(ref byte packed, nuint offset)
    {
        Vector256<byte> v = Vector256.LoadUnsafe(ref packed, offset);
        Vector256<byte> mask = Vector256.Create((byte)0x0F);
        return (v & mask, Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask);
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

    /// <summary>The nibbles of the single Q4_0 block whose 16 bytes start at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<byte> Low, Vector128<byte> High) Unpack(ref byte packed, nuint offset)
    {
        Vector128<byte> v = Vector128.LoadUnsafe(ref packed, offset);
        Vector128<byte> mask = Vector128.Create((byte)0x0F);
        return (v & mask, Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask);
    }

    /// <summary>
    /// A pair of weight blocks times the pair of input blocks at byte <paramref name="at"/> of the quantised input: eight
    /// exact int32 sums of <c>q · x</c> (the nibbles unsigned), lanes 0..3 the first block's, 4..7 the second's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> SumPair((Vector256<byte> Low, Vector256<byte> High) w, ref sbyte quantized, nuint at)
    {
        Vector256<sbyte> low = Vector256.LoadUnsafe(ref quantized, at), high = Vector256.LoadUnsafe(ref quantized, at + 32);
        if (Avx2.IsSupported)
        {
            // Pairs of products to int16 (each at most 2 · 15 · 127, and the sum of the two at most 7620: no
            // saturation), pairs of those to int32.
            Vector256<short> pairs = Avx2.MultiplyAddAdjacent(w.Low, low) + Avx2.MultiplyAddAdjacent(w.High, high);
            return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
        }
        return Widened(w.Low.AsSByte(), low) + Widened(w.High.AsSByte(), high);
    }

    /// <summary>The single weight block times the input block at byte <paramref name="at"/>: four exact int32 sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> Sum((Vector128<byte> Low, Vector128<byte> High) w, ref sbyte quantized, nuint at)
    {
        Vector128<sbyte> low = Vector128.LoadUnsafe(ref quantized, at), high = Vector128.LoadUnsafe(ref quantized, at + 16);
        if (Ssse3.IsSupported)
        {
            Vector128<short> pairs = Ssse3.MultiplyAddAdjacent(w.Low, low) + Ssse3.MultiplyAddAdjacent(w.High, high);
            return Sse2.MultiplyAddAdjacent(pairs, Vector128.Create((short)1));
        }
        return Widened(w.Low.AsSByte(), low) + Widened(w.High.AsSByte(), high);
    }

    /// <summary>
    /// Four rows' <see cref="SumPair"/> lanes (a panel's, or one row's beside zeros) to each row's exact block totals of
    /// <c>(q - 8) · x</c>, as float32: lanes 0..3 rows a..d of the first block, 4..7 of the second. The offsets at
    /// <paramref name="lane"/> (<see cref="Quantize"/>) take off the 8 every nibble carries.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Totals(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d, ref int offsets, nuint lane)
    {
        Vector256<int> offset = Vector256.LoadUnsafe(ref offsets, lane);
        if (Avx2.IsSupported)
            return Vector256.ConvertToSingle(Avx2.HorizontalAdd(Avx2.HorizontalAdd(a, b), Avx2.HorizontalAdd(c, d)) - offset);
        int First(Vector256<int> v) => v.GetElement(0) + v.GetElement(1) + v.GetElement(2) + v.GetElement(3);
        int Second(Vector256<int> v) => v.GetElement(4) + v.GetElement(5) + v.GetElement(6) + v.GetElement(7);
        return Vector256.ConvertToSingle(Vector256.Create(First(a), First(b), First(c), First(d), Second(a), Second(b), Second(c), Second(d)) - offset);
    }

    /// <summary>Four rows' <see cref="Sum"/> lanes to their exact totals of <c>(q - 8) · x</c> for an unpaired block, as float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Totals(Vector128<int> a, Vector128<int> b, Vector128<int> c, Vector128<int> d, ref int offsets, nuint lane)
    {
        Vector128<int> offset = Vector128.LoadUnsafe(ref offsets, lane);
        if (Ssse3.IsSupported)
            return Vector128.ConvertToSingle(Ssse3.HorizontalAdd(Ssse3.HorizontalAdd(a, b), Ssse3.HorizontalAdd(c, d)) - offset);
        return Vector128.ConvertToSingle(Vector128.Create(Vector128.Sum(a), Vector128.Sum(b), Vector128.Sum(c), Vector128.Sum(d)) - offset);
    }

    /// <summary>Lane j: the sum of products at positions 4j..4j+3, in scalars (the portable path; the same integers).</summary>
    private static Vector256<int> Widened(Vector256<sbyte> w, Vector256<sbyte> x)
    {
        Span<sbyte> a = stackalloc sbyte[32], b = stackalloc sbyte[32];
        Span<int> lanes = stackalloc int[8];
        w.CopyTo(a);
        x.CopyTo(b);
        SumQuads(a, b, lanes);
        return Vector256.Create<int>(lanes);
    }

    private static Vector128<int> Widened(Vector128<sbyte> w, Vector128<sbyte> x) => Widened(w.ToVector256(), x.ToVector256()).GetLower();

    private static void SumQuads(ReadOnlySpan<sbyte> w, ReadOnlySpan<sbyte> x, Span<int> lanes)
    {
        for (int j = 0; j < lanes.Length; j++)
        {
            int sum = 0;
            for (int k = 4 * j; k < 4 * j + 4; k++) sum += w[k] * x[k];
            lanes[j] = sum;
        }
    }

    /// <summary>
    /// Reorders a row-major Q4_0 matrix (<paramref name="rows"/> rows of <paramref name="cols"/> weights, blocks of 32)
    /// in place into the panels the generated kernels read: per group of four rows, for each pair of blocks the four
    /// rows' 32 bytes side by side, and their eight scales (the four rows' first blocks, then their second blocks), then
    /// an unpaired last block's four 16 bytes and four scales. The rows past the last whole group of four stay row-major.
    /// </summary>
    /// <exception cref="ArgumentException">The columns do not split into blocks of 32, or the spans are too short.</exception>
    public static void ToPanels(Span<byte> packed, Span<float> scales, int rows, int cols)
    {
        if (cols % Block != 0 || rows < 0 || packed.Length < (long)rows * cols / 2 || scales.Length < (long)rows * cols / Block)
            throw new ArgumentException($"A Q4_0 matrix of {rows} x {cols} needs columns in blocks of {Block}, {(long)rows * cols / 2} bytes and {(long)rows * cols / Block} scales; the spans hold {packed.Length} and {scales.Length}.");
        int rowBytes = cols / 2, blocks = cols / Block, pairs = blocks / 2;
        var bytes = new byte[4 * rowBytes];
        var s = new float[4 * blocks];
        for (int p = 0; p + 4 <= rows; p += 4)
        {
            Span<byte> panel = packed.Slice(p * rowBytes, 4 * rowBytes);
            Span<float> panelScales = scales.Slice(p * blocks, 4 * blocks);
            panel.CopyTo(bytes);
            panelScales.CopyTo(s);
            for (int m = 0; m < 4; m++)
            {
                for (int j = 0; j < pairs; j++)
                {
                    bytes.AsSpan(m * rowBytes + j * 32, 32).CopyTo(panel.Slice(j * 128 + m * 32, 32));
                    panelScales[8 * j + m] = s[m * blocks + 2 * j];
                    panelScales[8 * j + 4 + m] = s[m * blocks + 2 * j + 1];
                }
                if (blocks % 2 == 1)
                {
                    bytes.AsSpan(m * rowBytes + pairs * 32, 16).CopyTo(panel.Slice(pairs * 128 + m * 16, 16));
                    panelScales[8 * pairs + m] = s[m * blocks + 2 * pairs];
                }
            }
        }
    }
}
