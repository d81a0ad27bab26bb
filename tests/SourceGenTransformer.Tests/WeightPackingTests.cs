using System;
using System.Linq;
using System.Runtime.Intrinsics;
using Xunit;
using SourceGenTransformer.Runtime;

namespace SourceGenTransformer.Tests;

public class WeightPackingTests
{
    [Fact]
    public void Bfloat16_rounds_to_nearest_even_like_pytorch()
    {
        // Known answers from torch.tensor([...]).to(torch.bfloat16).view(torch.int16).
        float[] values = [1f, 1.00390625f, 1.01171875f, -2.5f, 3.0e38f, float.PositiveInfinity, 1e-40f, 0f];
        ushort[] expected = [0x3F80, 0x3F80, 0x3F82, 0xC020, 0x7F62, 0x7F80, 0x0001, 0x0000];
        var packed = new ushort[values.Length];
        WeightPacking.ToBFloat16(values, packed);
        Assert.Equal(expected, packed);
        var nan = new ushort[1];
        WeightPacking.ToBFloat16([float.NaN], nan);
        Assert.True(float.IsNaN(WeightPacking.BFloat16ToSingle(nan[0])));
    }

    [Fact]
    public void Int8_groups_map_the_largest_magnitude_to_127_and_stay_within_half_a_step()
    {
        var rng = new Random(5);
        var w = new float[4 * 64];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1) * (1 + i / 64);
        w.AsSpan(64, 64).Clear(); // an all-zero group
        var q = new sbyte[w.Length];
        var scales = new Half[4];
        WeightPacking.ToInt8(w, 64, q, scales);
        Assert.Equal(0f, (float)scales[1]);
        var back = new float[w.Length];
        WeightPacking.FromInt8(q, scales, 64, back);
        for (int g = 0; g < 4; g++)
        {
            int maxAt = g * 64;
            for (int i = g * 64; i < (g + 1) * 64; i++)
            {
                if (MathF.Abs(w[i]) > MathF.Abs(w[maxAt])) maxAt = i;
                // Half a step, plus the float16 rounding of the scale (a relative 2^-11) times at most 127 steps.
                Assert.True(MathF.Abs(back[i] - w[i]) <= (float)scales[g] * (0.5f + 127f / 2048) * 1.0001f, $"{i}: {w[i]} -> {back[i]}");
                Assert.InRange(q[i], (sbyte)-127, (sbyte)127);
            }
            if ((float)scales[g] != 0) Assert.Equal(127, Math.Abs((int)q[maxAt]));
        }
    }

    [Fact]
    public void Int8_rejects_lengths_that_do_not_split_into_groups()
    {
        var e = Assert.Throws<ArgumentException>(() => WeightPacking.ToInt8(new float[100], 64, new sbyte[100], new Half[2]));
        Assert.Contains("100", e.Message);
        Assert.Contains("64", e.Message);
    }

    /// <summary>
    /// Every finite float16, normals and subnormals, widens exactly (against .NET's own Half conversion) in the scalar
    /// and in the 8- and 16-wide scale loads the integer kernels use.
    /// </summary>
    [Fact]
    public void Every_finite_float16_widens_exactly()
    {
        Half[] all = Enumerable.Range(0, 65536).Select(i => BitConverter.UInt16BitsToHalf((ushort)i)).Where(Half.IsFinite).ToArray();
        Half[] padded = [.. all, .. new Half[16]];
        for (int i = 0; i < all.Length; i++)
        {
            float expected = (float)all[i];
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(IntegerBlocks.FromHalf(BitConverter.HalfToUInt16Bits(all[i]))));
            if (i % 8 == 1) Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(IntegerBlocks.Scales8(ref padded[0], (nuint)i - 1).GetElement(1)));
            if (i % 16 == 15) Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(IntegerBlocks.Scales16(ref padded[0], (nuint)i - 15).GetElement(15)));
        }
    }

    /// <summary>
    /// Rounding a block's scale to float16 (the input's Q8_0 blocks) agrees with .NET's own Half conversion on every
    /// non-negative float32 a stride of 61 bit patterns reaches (35 million of them, all exponents), on each float16 value,
    /// on the ties between neighbours and the floats on either side of each, and on the edges: zero, the subnormals' top,
    /// 65504, 65520 and up, infinity and NaN.
    /// </summary>
    [Fact]
    public void Scales_round_to_float16_as_dotnets_Half_does()
    {
        static void Check(float x)
        {
            float expected = (float)(Half)x, actual = IntegerBlocks.RoundToHalf(x);
            if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual))
                Assert.Fail($"{x:R} (0x{BitConverter.SingleToInt32Bits(x):X8}) rounds to {expected:R} as Half, {actual:R} here");
        }
        for (long bits = 0; bits <= 0x7F800000; bits += 61) Check(BitConverter.Int32BitsToSingle((int)bits));
        for (int h = 0; h < 0x7C00; h++)
        {
            float value = (float)BitConverter.UInt16BitsToHalf((ushort)h), next = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
            float tie = value + (next - value) / 2;
            foreach (float x in new[] { value, tie, MathF.BitDecrement(tie), MathF.BitIncrement(tie), MathF.BitIncrement(value), MathF.BitDecrement(next) })
                Check(x);
        }
        foreach (float x in new[] { 0f, 6.10351562e-05f, MathF.BitDecrement(6.10351562e-05f), 65504f, 65519.99f, 65520f, 1e30f, float.MaxValue, float.PositiveInfinity, float.NaN })
            Check(x);
    }
}
