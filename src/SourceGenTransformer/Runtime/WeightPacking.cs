using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// Converts float32 weights to the lighter precisions a declaration may choose
/// (<see cref="WeightPrecision"/>), and loads them back as float32 vectors inside the kernels.
/// </summary>
/// <remarks>
/// <para><b>BFloat16</b>: the upper 16 bits of the float32, rounded to nearest, ties to even (as PyTorch's
/// <c>tensor.to(torch.bfloat16)</c>). A BF16 file therefore loads bit for bit.</para>
/// <para><b>Int8</b> (the Q8_0 scheme): each run of <c>group</c> consecutive weights of a row shares one scale,
/// <c>max |w| / 127</c>, stored as float16; each weight is stored as <c>round(w / scale)</c> (with the unrounded scale,
/// ties away from zero) in [-127, 127]. This is llama.cpp's <c>quantize_row_q8_0_ref</c>, which <c>llama-quantize</c>
/// uses, so a float file quantised here holds the same bits as llama.cpp's Q8_0 file of it. A weight is recovered as
/// <c>q * scale</c>.</para>
/// <para><b>Panels</b> (float32 matrices whose row count is a multiple of <see cref="PanelRows"/>): the rows are cut
/// into panels of 32, and each panel is stored column by column, so the 32 weights of one column are adjacent. A
/// kernel then multiplies a whole panel by one input value per column with full-width vector loads and no horizontal
/// sums: the matrix-matrix product becomes an outer product over a register tile, and the matrix-vector product reads
/// the matrix front to back as one stream. Weight (r, c) of a (rows, cols) matrix sits at
/// <c>(r / 32) * 32 * cols + c * 32 + r % 32</c>.</para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class WeightPacking
{
    /// <summary>Rounds each float32 to bfloat16 (nearest, ties to even; NaN stays NaN).</summary>
    public static void ToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"The destination holds {destination.Length} values; the source has {source.Length}.", nameof(destination));
        for (int i = 0; i < source.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(source[i]);
            if (float.IsNaN(source[i]))
            {
                destination[i] = (ushort)((bits >> 16) | 0x40);
                continue;
            }
            uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
            destination[i] = (ushort)((bits + roundingBias) >> 16);
        }
    }

    /// <summary>
    /// Quantises <paramref name="source"/> in groups of <paramref name="group"/> consecutive values (Q8_0): one scale
    /// per group into <paramref name="scales"/>, one signed byte per value into <paramref name="quantized"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a multiple of the group, or a destination is too short.</exception>
    public static void ToInt8(ReadOnlySpan<float> source, int group, Span<sbyte> quantized, Span<Half> scales)
    {
        if (group <= 0 || source.Length % group != 0)
            throw new ArgumentException($"{source.Length} values do not split into groups of {group}.", nameof(group));
        if (quantized.Length < source.Length || scales.Length < source.Length / group)
            throw new ArgumentException($"The destinations hold {quantized.Length} values and {scales.Length} scales; {source.Length} values in groups of {group} need {source.Length} and {source.Length / group}.");
        for (int g = 0; g < source.Length / group; g++)
        {
            ReadOnlySpan<float> values = source.Slice(g * group, group);
            float max = 0f;
            foreach (float v in values) max = MathF.Max(max, MathF.Abs(v));
            float scale = max / 127f;
            scales[g] = (Half)scale; // stored as float16, the codes from the unrounded scale: ggml's quantize_row_q8_0_ref
            float inverse = scale == 0f ? 0f : 1f / scale;
            Span<sbyte> q = quantized.Slice(g * group, group);
            for (int i = 0; i < group; i++)
                q[i] = (sbyte)Math.Clamp(MathF.Round(values[i] * inverse, MidpointRounding.AwayFromZero), -127f, 127f);
        }
    }

    /// <summary>The rows of one panel (see the remarks).</summary>
    public const int PanelRows = 32;

    /// <summary>
    /// Rearranges a row-major (<paramref name="rows"/>, <paramref name="cols"/>) matrix into panels of
    /// <see cref="PanelRows"/> rows stored column by column (see the remarks).
    /// </summary>
    /// <exception cref="ArgumentException">The row count is not a multiple of 32, or a span is too short.</exception>
    public static void ToPanels(ReadOnlySpan<float> source, int rows, int cols, Span<float> destination)
    {
        if (rows <= 0 || cols <= 0 || rows % PanelRows != 0)
            throw new ArgumentException($"A ({rows}, {cols}) matrix does not split into panels of {PanelRows} rows.", nameof(rows));
        long count = (long)rows * cols;
        if (source.Length < count || destination.Length < count)
            throw new ArgumentException($"A ({rows}, {cols}) matrix needs {count} values; the source holds {source.Length} and the destination {destination.Length}.");
        for (int panel = 0; panel < rows; panel += PanelRows)
        {
            ReadOnlySpan<float> from = source.Slice(panel * cols, PanelRows * cols);
            Span<float> to = destination.Slice(panel * cols, PanelRows * cols);
            for (int r = 0; r < PanelRows; r++)
            {
                ReadOnlySpan<float> row = from.Slice(r * cols, cols);
                for (int c = 0; c < cols; c++) to[c * PanelRows + r] = row[c];
            }
        }
    }

    /// <summary>The float32 value of a bfloat16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToSingle(ushort value) => BitConverter.Int32BitsToSingle(value << 16);

    /// <summary>Eight bfloat16 values at <paramref name="source"/> + <paramref name="offset"/>, widened to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadBFloat16(ref ushort source, nuint offset)
    {
        Vector128<ushort> packed = Vector128.LoadUnsafe(ref source, offset);
        Vector256<uint> wide = Avx2.IsSupported
            ? Avx2.ConvertToVector256Int32(packed).AsUInt32()
            : Vector256.Create(Vector128.WidenLower(packed), Vector128.WidenUpper(packed));
        return Vector256.ShiftLeft(wide, 16).AsSingle();
    }

    /// <summary>Sixteen bfloat16 values at <paramref name="source"/> + <paramref name="offset"/>, widened to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadBFloat16x16(ref ushort source, nuint offset)
    {
        Vector256<ushort> packed = Vector256.LoadUnsafe(ref source, offset);
        Vector512<uint> wide = Avx512F.IsSupported
            ? Avx512F.ConvertToVector512UInt32(packed)
            : Vector512.Create(Vector256.WidenLower(packed), Vector256.WidenUpper(packed));
        return Vector512.ShiftLeft(wide, 16).AsSingle();
    }

    /// <summary>Widens bfloat16 values to float32.</summary>
    public static void FromBFloat16(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        for (int i = 0; i < source.Length; i++) destination[i] = BFloat16ToSingle(source[i]);
    }

    /// <summary>Recovers float32 values from Q8_0 groups (<c>q * scale</c>).</summary>
    public static void FromInt8(ReadOnlySpan<sbyte> quantized, ReadOnlySpan<Half> scales, int group, Span<float> destination)
    {
        for (int i = 0; i < quantized.Length; i++) destination[i] = quantized[i] * (float)scales[i / group];
    }
}
