// Kernel micro-benchmarks: the generated matrix-vector (decode) and matrix-matrix (prompt) kernels of the 110M and 15M
// shapes in every weight precision, and the Seq2Seq encoder's matrix-matrix kernel with bias, each under two jobs:
// Vector512 accelerated (this machine's default) and DOTNET_PreferredVectorBitWidth=256 (the Vector256 path).
//
//   dotnet run -c Release --project samples/KernelBenchmarks [-- --filter '*MatMul*']
//
// After BenchmarkDotNet's own table it prints each kernel's median as GB/s of weights read (matrix-vector) or
// GFLOP/s (matrix-matrix, 2 flops per multiply-add). One thread: the worker pool is measured by samples/Benchmarks.
using System;
using System.Globalization;
using System.Linq;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using SourceGenTransformer;
using SourceGenTransformer.Runtime;
using Engine = global::SourceGenTransformer.Generated.KernelBenchmarks;

namespace KernelBenchmarks;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 256,
    MaxSequenceLength = 64, EosToken = -1)]
public partial class Shape110M;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 256,
    MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.BFloat16)]
public partial class Shape110MBf16;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 256,
    MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.Int8)]
public partial class Shape110MInt8;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 256,
    MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.Q4_0)]
public partial class Shape110MQ4;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 256,
    MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.Q4K)]
public partial class Shape110MQ4K;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 6, ModelDim = 288, FeedForwardDim = 768, VocabSize = 256,
    MaxSequenceLength = 64, EosToken = -1)]
public partial class Shape15M;

[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 1, DecoderLayers = 1, Heads = 8, ModelDim = 512, FeedForwardDim = 2048,
    SourceVocabSize = 256, TargetVocabSize = 256, MaxSequenceLength = 64)]
public partial class ShapeBase;

/// <summary>Up projections (2048 x 768 and 768 x 288) over one token and over a 64-token prompt block.</summary>
[Config(typeof(Config))]
public class Kernels
{
    public const int Tokens = 64;
    private readonly float[] _x = Random(Tokens * 2048), _out = new float[Tokens * 2048], _bias = Random(2048);
    private readonly float[] _w = Random(2048 * 768), _wDown = Random(768 * 2048), _w15 = Random(768 * 288), _wBase = Random(2048 * 512);
    private readonly ushort[] _wBf16 = new ushort[2048 * 768];
    private readonly sbyte[] _wInt8 = new sbyte[2048 * 768];
    private readonly Half[] _scales = new Half[2048 * 768 / 32];
    private readonly BlockMatrix _wQ4 = Blocks(GgmlType.Q4_0), _wQ4K = Blocks(GgmlType.Q4_K), _wQ6K = Blocks(GgmlType.Q6_K);

    public Kernels()
    {
        WeightPacking.ToBFloat16(_w, _wBf16);
        // Int8 matrices in blocks of 32, in their panels, as the loaders store them.
        WeightPacking.ToInt8(_w, 32, _wInt8, _scales);
        IntegerBlocks.ToPanels(_wInt8, _scales, 2048, 768);
        // Float32 matrices of these shapes (rows a multiple of 32) are in panels, as the loaders store them.
        _w = Panels(_w, 2048, 768);
        _wDown = Panels(_wDown, 768, 2048);
        _w15 = Panels(_w15, 768, 288);
        _wBase = Panels(_wBase, 2048, 512);
    }

    /// <summary>A 2048 x 768 BlockMatrix of <paramref name="type"/> (in its panels of eight rows, as the loaders store it).</summary>
    private static BlockMatrix Blocks(GgmlType type)
    {
        float[] w = Random(2048 * 768);
        var m = new BlockMatrix(type, 2048, 768);
        var rows = new byte[2048 * m.RowBytes];
        for (int r = 0; r < 2048; r++) GgmlQuants.Quantize(type, w.AsSpan(r * 768, 768), rows.AsSpan(r * m.RowBytes, m.RowBytes));
        m.WriteRows(0, rows);
        return m;
    }

    private static float[] Panels(float[] rows, int d, int n)
    {
        var panels = new float[rows.Length];
        WeightPacking.ToPanels(rows, d, n, panels);
        return panels;
    }

    [Benchmark] public void MatVec2048x768_F32() => Engine.Shape110MKernels.MatVec2048x768(_out, _x, _w);
    [Benchmark] public void MatVec2048x768_Bf16() => Engine.Shape110MBf16Kernels.MatVec2048x768(_out, _x, _wBf16);
    [Benchmark] public void MatVec2048x768_Int8() => Engine.Shape110MInt8Kernels.MatVec2048x768(_out, _x, _wInt8, _scales);
    [Benchmark] public void MatVec2048x768_Q4() => Engine.Shape110MQ4Kernels.MatVec2048x768(_out, _x, _wQ4, 0, 2048);
    [Benchmark] public void MatVec2048x768_Q4K() => Engine.Shape110MQ4KKernels.MatVec2048x768(_out, _x, _wQ4K, 0, 2048);
    [Benchmark] public void MatVec2048x768_Q6K() => Engine.Shape110MQ4KKernels.MatVec2048x768(_out, _x, _wQ6K, 0, 2048);
    [Benchmark] public void MatVec768x288_F32() => Engine.Shape15MKernels.MatVec768x288(_out, _x, _w15);
    [Benchmark] public void MatMul2048x768_F32() => Engine.Shape110MKernels.MatMul2048x768(_out, _x, _w, Tokens, 0, 2048);
    [Benchmark] public void MatMul2048x768_Bf16() => Engine.Shape110MBf16Kernels.MatMul2048x768(_out, _x, _wBf16, Tokens, 0, 2048);
    [Benchmark] public void MatMul2048x768_Int8() => Engine.Shape110MInt8Kernels.MatMul2048x768(_out, _x, _wInt8, _scales, Tokens, 0, 2048);
    [Benchmark] public void MatMul2048x768_Q4() => Engine.Shape110MQ4Kernels.MatMul2048x768(_out, _x, _wQ4, Tokens, 0, 2048);
    [Benchmark] public void MatMul2048x768_Q4K() => Engine.Shape110MQ4KKernels.MatMul2048x768(_out, _x, _wQ4K, Tokens, 0, 2048);
    [Benchmark] public void MatMul2048x768_Q6K() => Engine.Shape110MQ4KKernels.MatMul2048x768(_out, _x, _wQ6K, Tokens, 0, 2048);
    [Benchmark] public void MatMul768x2048_F32() => Engine.Shape110MKernels.MatMul768x2048(_out, _x, _wDown, Tokens, 0, 768);
    [Benchmark] public void MatMul768x288_F32() => Engine.Shape15MKernels.MatMul768x288(_out, _x, _w15, Tokens, 0, 768);
    [Benchmark] public void EncoderMatMul2048x512_F32() => Engine.ShapeBaseKernels.MatMul2048x512(_out, _x, _wBase, _bias, Tokens, 0, 2048);
    [Benchmark] public void EncoderMatMul512x2048_F32() => Engine.ShapeBaseKernels.MatMul512x2048(_out, _x, _wBase, _bias, Tokens, 0, 512);

    private static float[] Random(int n)
    {
        var rng = new Random(7);
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float)(rng.NextDouble() - 0.5);
        return values;
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.ShortRun.WithId("Vector512"));
            AddJob(Job.ShortRun.WithEnvironmentVariable("DOTNET_PreferredVectorBitWidth", "256").WithId("Vector256"));
        }
    }
}

public static class Program
{
    public static void Main(string[] args)
    {
        Summary[] summaries = [BenchmarkRunner.Run<Kernels>(config: null, args)];
        Console.WriteLine();
        Console.WriteLine("| Kernel | Job | Median | Rate |");
        Console.WriteLine("|---|---|---:|---:|");
        foreach (BenchmarkReport report in summaries.SelectMany(s => s.Reports))
        {
            if (report.ResultStatistics is null) continue;
            string name = report.BenchmarkCase.Descriptor.WorkloadMethod.Name;
            double seconds = report.ResultStatistics.Median / 1e9;
            Console.WriteLine($"| {name} | {report.BenchmarkCase.Job.Id} | {F(report.ResultStatistics.Median / 1000, "F1")} µs | {Rate(name, seconds)} |");
        }
    }

    /// <summary>GB/s of weights for a matrix-vector kernel, GFLOP/s for a matrix-matrix one.</summary>
    private static string Rate(string name, double seconds)
    {
        string[] parts = name.Split('_');
        string[] dims = parts[0].Replace("EncoderMatMul", "", StringComparison.Ordinal).Replace("MatMul", "", StringComparison.Ordinal)
            .Replace("MatVec", "", StringComparison.Ordinal).Split('x');
        double weights = double.Parse(dims[0], CultureInfo.InvariantCulture) * double.Parse(dims[1], CultureInfo.InvariantCulture);
        if (name.StartsWith("MatVec", StringComparison.Ordinal))
        {
            // The bytes each layout holds: Int8's and Q4_0's blocks of 32 with float16 scales, Q4_K's panels (32 bytes more per
            // 8 x 256 than ggml's 1152), Q6_K's (ggml's 210 per 256).
            double bytes = parts[1] switch { "Bf16" => 2 * weights, "Int8" => weights * 34 / 32, "Q4" => weights * 18 / 32, "Q4K" => weights * 1184 / 2048, "Q6K" => weights * 210 / 256, _ => 4 * weights };
            return F(bytes / seconds / 1e9, "F1") + " GB/s";
        }
        return F(2 * weights * Kernels.Tokens / seconds / 1e9, "F1") + " GFLOP/s";
    }

    private static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
