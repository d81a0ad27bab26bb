using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// The integer arithmetic of <see cref="WeightPrecision.Q4_0"/>: activations quantised to 8 bits per block of 32 (ggml's
/// Q8_0, as llama.cpp quantises a product's input), 4-bit weight blocks unpacked to signed bytes, and the dot product of
/// two 32-byte blocks in integers. The generated kernels combine them: per block, the integer dot product is converted
/// to float32 once and scaled by the two blocks' scales, as ggml's <c>ggml_vec_dot_q4_0_q8_0</c> does.
/// </summary>
/// <remarks>
/// The integer products are exact, so the only rounding is that of the activations (to 8 bits, a relative error of at
/// most 1/254 of the block's largest magnitude) and of the float32 sums. Without AVX2 the same sums are formed by
/// widening (<see cref="Dot"/>); its eight partial sums then group the products differently, a float32 rounding difference.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class IntegerBlocks
{
    /// <summary>Values per block: one scale for 32 weights or activations.</summary>
    public const int Block = 32;

    /// <summary>
    /// Quantises <paramref name="x"/> to Q8_0 blocks of 32 as llama.cpp's x86 <c>quantize_row_q8_0</c> does: per block,
    /// <c>d = max|x| / 127</c> (kept rounded to float16, as ggml stores it), each value <c>round(x · 127 / max|x|)</c>,
    /// ties to even.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a multiple of 32, or a destination is too short.</exception>
    public static void Quantize(ReadOnlySpan<float> x, Span<sbyte> quantized, Span<float> scales)
    {
        if (x.Length % Block != 0 || quantized.Length < x.Length || scales.Length < x.Length / Block)
            throw new ArgumentException($"{x.Length} activations need a length that is a multiple of {Block}, {x.Length} bytes and {x.Length / Block} scales; the destinations hold {quantized.Length} and {scales.Length}.");
        ref float xRef = ref MemoryMarshal.GetReference(x);
        ref sbyte qRef = ref MemoryMarshal.GetReference(quantized);
        for (int b = 0; b < x.Length / Block; b++)
        {
            nuint at = (nuint)(b * Block);
            Vector256<float> v0 = Vector256.LoadUnsafe(ref xRef, at), v1 = Vector256.LoadUnsafe(ref xRef, at + 8);
            Vector256<float> v2 = Vector256.LoadUnsafe(ref xRef, at + 16), v3 = Vector256.LoadUnsafe(ref xRef, at + 24);
            Vector256<float> m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
            Vector128<float> m4 = Vector128.Max(m.GetLower(), m.GetUpper());
            m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
            m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
            float max = m4.ToScalar();
            scales[b] = (float)(Half)(max / 127f);
            Vector256<float> id = Vector256.Create(max != 0f ? 127f / max : 0f);
            Vector256<int> i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * id)), i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * id));
            Vector256<int> i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * id)), i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * id));
            Vector256<sbyte> q = Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
            q.StoreUnsafe(ref qRef, at);
        }
    }

    /// <summary>The 32 activations of a quantised block at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Load(ref sbyte quantized, nuint offset) => Vector256.LoadUnsafe(ref quantized, offset);

    /// <summary>
    /// The 32 weights of the Q4_0 block whose 16 bytes start at <paramref name="offset"/>, as signed bytes <c>q - 8</c>:
    /// the low nibbles (weights 0..15) then the high nibbles (16..31).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> LoadQ4_0(ref byte packed, nuint offset)
    {
        Vector128<byte> bytes = Vector128.LoadUnsafe(ref packed, offset);
        Vector128<byte> low = bytes & Vector128.Create((byte)0x0F);
        Vector128<byte> high = Vector128.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F);
        return Vector256.Create(low, high).AsSByte() - Vector256.Create((sbyte)8);
    }

    /// <summary>
    /// The products of two blocks of 32 signed bytes in [-127, 127], summed in integers (exactly) into eight partial sums,
    /// converted to float32: the sum of the lanes is the dot product.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Dot(Vector256<sbyte> w, Vector256<sbyte> x)
    {
        if (Avx2.IsSupported)
        {
            // llama.cpp's mul_sum_i8_pairs: |w| (unsigned) times x with w's sign, pairs summed to int16 (at most
            // 2 · 127 · 127, no saturation), then pairs of those to int32.
            Vector256<short> pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(w), Avx2.Sign(x, w));
            return Vector256.ConvertToSingle(Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1)));
        }
        (Vector256<short> wl, Vector256<short> wh) = Vector256.Widen(w);
        (Vector256<short> xl, Vector256<short> xh) = Vector256.Widen(x);
        (Vector256<int> a, Vector256<int> b) = Vector256.Widen(wl * xl);
        (Vector256<int> c, Vector256<int> d) = Vector256.Widen(wh * xh);
        return Vector256.ConvertToSingle((a + b) + (c + d));
    }
}
