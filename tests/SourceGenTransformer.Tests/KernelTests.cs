using System;
using Xunit;
using SourceGenTransformer.Runtime;
using Engine = global::SourceGenTransformer.Generated.SourceGenTransformer.Tests;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Each generated Vector256 kernel against its scalar twin in <see cref="ScalarKernels"/>, on random
/// inputs of awkward sizes (see the Awkward* declarations in FixtureModels.cs).
/// </summary>
public class KernelTests
{
    private static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new System.Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    private static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float bound = tolerance * MathF.Max(1f, MathF.Abs(expected[i]));
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= bound, $"index {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    private delegate void MatVec(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w);

    public static TheoryData<string, int, int> MatVecShapes => new()
    {
        { "TinyAwkwardLlama", 20, 20 }, { "TinyAwkwardLlama", 10, 20 }, { "TinyAwkwardLlama", 37, 20 },
        { "TinyAwkwardLlama", 20, 37 }, { "TinyAwkwardLlama", 53, 20 },
        { "WideAwkwardLlama", 104, 104 }, { "WideAwkwardLlama", 52, 104 }, { "WideAwkwardLlama", 300, 104 },
        { "WideAwkwardLlama", 104, 300 }, { "WideAwkwardLlama", 133, 104 },
        { "AwkwardGpt2", 132, 44 }, { "AwkwardGpt2", 77, 44 }, { "AwkwardGpt2", 44, 77 }, { "AwkwardGpt2", 29, 44 },
        { "AwkwardGpt2Erf", 153, 51 }, { "AwkwardGpt2Erf", 90, 51 }, { "AwkwardGpt2Erf", 51, 90 },
    };

    private static MatVec Kernel(string model, int d, int n) => (model, d, n) switch
    {
        ("TinyAwkwardLlama", 20, 20) => Engine.TinyAwkwardLlamaKernels.MatVec20x20,
        ("TinyAwkwardLlama", 10, 20) => Engine.TinyAwkwardLlamaKernels.MatVec10x20,
        ("TinyAwkwardLlama", 37, 20) => Engine.TinyAwkwardLlamaKernels.MatVec37x20,
        ("TinyAwkwardLlama", 20, 37) => Engine.TinyAwkwardLlamaKernels.MatVec20x37,
        ("TinyAwkwardLlama", 53, 20) => Engine.TinyAwkwardLlamaKernels.MatVec53x20,
        ("WideAwkwardLlama", 104, 104) => Engine.WideAwkwardLlamaKernels.MatVec104x104,
        ("WideAwkwardLlama", 52, 104) => Engine.WideAwkwardLlamaKernels.MatVec52x104,
        ("WideAwkwardLlama", 300, 104) => Engine.WideAwkwardLlamaKernels.MatVec300x104,
        ("WideAwkwardLlama", 104, 300) => Engine.WideAwkwardLlamaKernels.MatVec104x300,
        ("WideAwkwardLlama", 133, 104) => Engine.WideAwkwardLlamaKernels.MatVec133x104,
        ("AwkwardGpt2", 132, 44) => Engine.AwkwardGpt2Kernels.MatVec132x44,
        ("AwkwardGpt2", 77, 44) => Engine.AwkwardGpt2Kernels.MatVec77x44,
        ("AwkwardGpt2", 44, 77) => Engine.AwkwardGpt2Kernels.MatVec44x77,
        ("AwkwardGpt2", 29, 44) => Engine.AwkwardGpt2Kernels.MatVec29x44,
        ("AwkwardGpt2Erf", 153, 51) => Engine.AwkwardGpt2ErfKernels.MatVec153x51,
        ("AwkwardGpt2Erf", 90, 51) => Engine.AwkwardGpt2ErfKernels.MatVec90x51,
        ("AwkwardGpt2Erf", 51, 90) => Engine.AwkwardGpt2ErfKernels.MatVec51x90,
        _ => throw new ArgumentException($"{model} {d}x{n}"),
    };

    [Theory]
    [MemberData(nameof(MatVecShapes))]
    public void MatVec_matches_scalar(string model, int d, int n)
    {
        float[] w = Random(d * n, d * 1000 + n), x = Random(n, n);
        float[] expected = new float[d], actual = new float[d];
        ScalarKernels.MatVec(expected, x, w, n, d);
        Kernel(model, d, n)(actual, x, w);
        Close(expected, actual);
    }

    private delegate void MatMul(Span<float> xout, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int rows, int rowStart, int rowEnd);

    public static TheoryData<int, int, int> MatMulShapes()
    {
        var data = new TheoryData<int, int, int>();
        foreach ((int d, int n) in new[] { (108, 36), (36, 36), (72, 36), (36, 72), (96, 32), (64, 32), (32, 1024) })
            foreach (int rows in new[] { 1, 3, 4, 5, 9, 16, 23, 40, 49, 101 })
                data.Add(d, n, rows);
        return data;
    }

    [Theory]
    [MemberData(nameof(MatMulShapes))]
    public void MatMul_matches_scalar_row_by_row(int d, int n, int rows)
    {
        // S2sPreGelu (dim 36, ffn 72: tails after 32 and 64; row-major) and S2sPostRelu (dim 32, ffn 64: whole panels of
        // 32 rows, so its kernels take the weights in panels and split on them; PaddedInputS2s's 1024-wide input is padded).
        MatMul kernel = (d, n) switch
        {
            (108, 36) => Engine.S2sPreGeluKernels.MatMul108x36,
            (36, 36) => Engine.S2sPreGeluKernels.MatMul36x36,
            (72, 36) => Engine.S2sPreGeluKernels.MatMul72x36,
            (36, 72) => Engine.S2sPreGeluKernels.MatMul36x72,
            (96, 32) => Engine.S2sPostReluKernels.MatMul96x32,
            (64, 32) => Engine.S2sPostReluKernels.MatMul64x32,
            (32, 1024) => Engine.PaddedInputS2sKernels.MatMul32x1024, // input copied to padded rows, 48 tokens at a time
            _ => throw new ArgumentException($"{d}x{n}"),
        };
        float[] w = Random(d * n, d + n), x = Random(rows * n, rows), bias = Random(d, 99);
        float[] expected = new float[rows * d], actual = new float[rows * d];
        for (int t = 0; t < rows; t++)
        {
            ScalarKernels.MatVec(expected.AsSpan(t * d, d), x.AsSpan(t * n, n), w, n, d);
            ScalarKernels.Add(expected.AsSpan(t * d, d), bias);
        }
        // Two calls over a split of the weight rows, as two workers would make them: odd, or on a panel.
        bool panels = d % 32 == 0;
        int split = panels ? 32 : d / 2 + 1;
        float[] weights = w;
        if (panels)
        {
            weights = new float[w.Length];
            WeightPacking.ToPanels(w, d, n, weights);
        }
        kernel(actual, x, weights, bias, rows, 0, split);
        kernel(actual, x, weights, bias, rows, split, d);
        Close(expected, actual);
    }

    [Fact]
    public void MatVec_rejects_short_spans()
    {
        var e = Assert.Throws<ArgumentException>(() => Engine.TinyAwkwardLlamaKernels.MatVec37x20(new float[37], new float[19], new float[37 * 20]));
        Assert.Contains("MatVec37x20", e.Message);
    }

    [Fact]
    public void Dot_and_axpy_match_scalar()
    {
        foreach ((int n, Func<float[], float[], float> dot, Action<float[], float, float[]> axpy) in new (int, Func<float[], float[], float>, Action<float[], float, float[]>)[]
        {
            (10, (a, b) => Engine.TinyAwkwardLlamaKernels.Dot10(a, b), (y, a, x) => Engine.TinyAwkwardLlamaKernels.Axpy10(y, a, x)),
            (26, (a, b) => Engine.WideAwkwardLlamaKernels.Dot26(a, b), (y, a, x) => Engine.WideAwkwardLlamaKernels.Axpy26(y, a, x)),
            (22, (a, b) => Engine.AwkwardGpt2Kernels.Dot22(a, b), (y, a, x) => Engine.AwkwardGpt2Kernels.Axpy22(y, a, x)),
            (17, (a, b) => Engine.AwkwardGpt2ErfKernels.Dot17(a, b), (y, a, x) => Engine.AwkwardGpt2ErfKernels.Axpy17(y, a, x)),
            (136, (a, b) => Engine.WideHeadLlamaKernels.Dot136(a, b), (y, a, x) => Engine.WideHeadLlamaKernels.Axpy136(y, a, x)),
        })
        {
            float[] a = Random(n, 1), b = Random(n, 2);
            Assert.Equal(ScalarKernels.Dot(a, b), dot(a, b), 1e-5f);
            float[] y1 = Random(n, 3), y2 = (float[])y1.Clone();
            ScalarKernels.Axpy(y1, 0.37f, b);
            axpy(y2, 0.37f, b);
            Close(y1, y2);
        }
    }

    [Fact]
    public void Add_matches_scalar()
    {
        foreach ((int n, Action<float[], float[]> add) in new (int, Action<float[], float[]>)[]
        {
            (20, (y, x) => Engine.TinyAwkwardLlamaKernels.Add20(y, x)),
            (104, (y, x) => Engine.WideAwkwardLlamaKernels.Add104(y, x)),
            (44, (y, x) => Engine.AwkwardGpt2Kernels.Add44(y, x)),
            (77, (y, x) => Engine.AwkwardGpt2Kernels.Add77(y, x)),
            (132, (y, x) => Engine.AwkwardGpt2Kernels.Add132(y, x)),
        })
        {
            float[] x = Random(n, 5), y1 = Random(n, 6), y2 = (float[])y1.Clone();
            ScalarKernels.Add(y1, x);
            add(y2, x);
            Close(y1, y2);
        }
    }

    [Fact]
    public void Norms_match_scalar()
    {
        foreach (int n in new[] { 20, 104 })
        {
            float[] x = Random(n, 7, 3f), w = Random(n, 8), expected = new float[n], actual = new float[n];
            ScalarKernels.RmsNorm(expected, x, w, 1e-5f);
            if (n == 20) Engine.TinyAwkwardLlamaKernels.RmsNorm20(actual, x, w);
            else Engine.WideAwkwardLlamaKernels.RmsNorm104(actual, x, w);
            Close(expected, actual);
        }
        foreach (int n in new[] { 44, 51 })
        {
            float[] x = Random(n, 9, 3f), w = Random(n, 10), b = Random(n, 11), expected = new float[n], actual = new float[n];
            ScalarKernels.LayerNorm(expected, x, w, b, 1e-5f);
            if (n == 44) Engine.AwkwardGpt2Kernels.LayerNorm44(actual, x, w, b);
            else Engine.AwkwardGpt2ErfKernels.LayerNorm51(actual, x, w, b);
            Close(expected, actual);
        }
    }

    [Fact]
    public void Norm_may_run_in_place()
    {
        float[] x = Random(104, 12), w = Random(104, 13), expected = new float[104];
        ScalarKernels.RmsNorm(expected, x, w, 1e-5f);
        Engine.WideAwkwardLlamaKernels.RmsNorm104(x, x, w);
        Close(expected, x);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(64)]
    public void Softmax_matches_scalar_and_is_stable(int n)
    {
        float[] expected = Random(n, n, 30f);
        expected[0] = 1000f; // would overflow exp without the max subtraction
        float[] actual = (float[])expected.Clone();
        ScalarKernels.Softmax(expected);
        Ops.Softmax(actual);
        Close(expected, actual, 1e-6f);
        Assert.All(actual, v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(10, 2, 5)]   // TinyAwkwardLlama: half = 5, shorter than a vector
    [InlineData(26, 4, 31)]  // WideAwkwardLlama: half = 13, a vector and a tail
    [InlineData(16, 4, 63)]  // LlamaBasic: half = 8, exactly a vector
    public void Rope_matches_scalar(int headDim, int heads, int pos)
    {
        int half = headDim / 2;
        float[] cos = new float[half], sin = new float[half];
        for (int i = 0; i < half; i++)
        {
            float angle = pos * (1f / MathF.Pow(10000f, 2 * i / (float)headDim));
            cos[i] = (float)Math.Cos(angle);
            sin[i] = (float)Math.Sin(angle);
        }
        float[] expected = Random(heads * headDim, pos), actual = (float[])expected.Clone();
        ScalarKernels.Rope(expected, heads, headDim, pos, 10000f);
        switch (headDim)
        {
            case 10: Engine.TinyAwkwardLlamaKernels.Rope(actual, heads, cos, sin); break;
            case 26: Engine.WideAwkwardLlamaKernels.Rope(actual, heads, cos, sin); break;
            default: Engine.LlamaBasicKernels.Rope(actual, heads, cos, sin); break;
        }
        Close(expected, actual);
    }

    [Fact]
    public void Activations_match_scalar()
    {
        // SwiGlu over 37 (tail only after 32) and 300 (vectors and a tail); extreme values included.
        foreach (int n in new[] { 37, 300 })
        {
            float[] h = Random(n, 14, 8f), g = Random(n, 15);
            h[0] = -100f;
            h[1] = 100f;
            float[] expected = (float[])h.Clone(), actual = (float[])h.Clone();
            ScalarKernels.SwiGlu(expected, g);
            if (n == 37) Engine.TinyAwkwardLlamaKernels.SwiGlu37(actual, g);
            else Engine.WideAwkwardLlamaKernels.SwiGlu300(actual, g);
            Close(expected, actual);
        }

        float[] x = Random(77, 16, 6f);
        x[0] = -30f;
        x[1] = 30f;
        x[2] = 1e-4f;
        float[] e1 = (float[])x.Clone(), a1 = (float[])x.Clone();
        ScalarKernels.GeluTanh(e1);
        Engine.AwkwardGpt2Kernels.GeluTanh77(a1);
        Close(e1, a1);

        float[] y = Random(90, 17, 6f);
        y[0] = -30f;
        y[1] = 30f;
        float[] e2 = (float[])y.Clone(), a2 = (float[])y.Clone();
        ScalarKernels.Gelu(e2);
        Engine.AwkwardGpt2ErfKernels.Gelu90(a2);
        Close(e2, a2);

        float[] z = Random(192, 18);
        float[] e3 = (float[])z.Clone(), a3 = (float[])z.Clone();
        ScalarKernels.Relu(e3);
        Engine.Gpt2ReluKernels.Relu192(a3);
        Close(e3, a3, 0f);
    }

    [Fact]
    public void Erf_is_accurate()
    {
        // Reference values of erf to 10 digits.
        (float x, double erf)[] table = [(0f, 0), (0.1f, 0.1124629160), (0.5f, 0.5204998778), (1f, 0.8427007929), (2f, 0.9953222650), (-1.5f, -0.9661051465), (4f, 0.9999999846)];
        foreach ((float x, double erf) in table)
            Assert.True(Math.Abs(ScalarKernels.Erf(x) - erf) < 3e-7, $"erf({x}) = {ScalarKernels.Erf(x)}, expected {erf}");
    }
}
