using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SourceGenTransformer;
using SourceGenTransformer.Runtime;

namespace Benchmarks;

/// <summary>The machine's limits, measured in the same run: read bandwidth and float32 FMA throughput, 1 and N threads.</summary>
internal static class Machine
{
    public static string Cpu()
    {
        try
        {
            string[] lines = File.ReadAllLines("/proc/cpuinfo");
            string model = lines.FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
            string flags = lines.FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
            string simd = flags.Contains(" avx512f", StringComparison.Ordinal) ? "AVX-512" : flags.Contains(" avx2", StringComparison.Ordinal) ? "AVX2 + FMA, no AVX-512" : "no AVX2";
            return $"{model}, {Environment.ProcessorCount} cores, {simd}; Vector512 hardware-accelerated: {Vector512.IsHardwareAccelerated}";
        }
        catch (IOException)
        {
            return $"{Environment.ProcessorCount} cores";
        }
    }

    /// <summary>
    /// Best-of-N read bandwidth (GB/s) over a 512 MB float32 array, summed with Vector256 on <paramref name="threads"/>
    /// threads. The array is a WeightMemory one, in huge pages where the OS offers them, as the weights are.
    /// </summary>
    public static double ReadBandwidth(int threads)
    {
        float[] data = WeightMemory.Allocate<float>(128 << 20);
        data.AsSpan().Fill(1e-3f);
        using var pool = new WorkerPool(threads);
        var work = new SumWork(data, threads);
        double best = 0;
        for (int i = 0; i < 7; i++)
        {
            var clock = Stopwatch.StartNew();
            pool.Run(work);
            best = Math.Max(best, data.Length * 4.0 / clock.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    /// <summary>Best-of-N float32 FMA throughput (GFLOP/s): 12 independent FMA chains in registers per thread, 256-bit or 512-bit vectors.</summary>
    public static double FmaPeak(int threads, bool wide = false)
    {
        if (wide && !Vector512.IsHardwareAccelerated) return double.NaN;
        using var pool = new WorkerPool(threads);
        IParallelWork work = wide ? new Fma512Work(threads) : new FmaWork(threads);
        double flops = wide ? Fma512Work.Flops : FmaWork.Flops;
        double best = 0;
        for (int i = 0; i < 7; i++)
        {
            var clock = Stopwatch.StartNew();
            pool.Run(work);
            best = Math.Max(best, threads * flops / clock.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    private sealed class SumWork(float[] data, int threads) : IParallelWork
    {
        public readonly float[] Sums = new float[threads];

        public void Execute(int part, int parts)
        {
            (int start, int end) = WorkerPool.Range(data.Length, 32, part, parts);
            ref float r = ref MemoryMarshal.GetArrayDataReference(data);
            Vector256<float> a = default, b = default, c = default, d = default;
            for (nuint j = (nuint)start; j < (nuint)end; j += 32)
            {
                a += Vector256.LoadUnsafe(ref r, j);
                b += Vector256.LoadUnsafe(ref r, j + 8);
                c += Vector256.LoadUnsafe(ref r, j + 16);
                d += Vector256.LoadUnsafe(ref r, j + 24);
            }
            Sums[part] = Vector256.Sum((a + b) + (c + d));
        }
    }

    private sealed class FmaWork(int threads) : IParallelWork
    {
        private const int Iterations = 20_000_000;
        public const double Flops = Iterations * 12.0 * 8 * 2;
        public readonly float[] Sink = new float[threads];

        [MethodImpl(MethodImplOptions.NoInlining)]
        public void Execute(int part, int parts)
        {
            Vector256<float> m = Vector256.Create(0.999999f), k = Vector256.Create(1e-7f);
            Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (int i = 0; i < Iterations; i++)
            {
                a0 = Vector256.FusedMultiplyAdd(a0, m, k); a1 = Vector256.FusedMultiplyAdd(a1, m, k);
                a2 = Vector256.FusedMultiplyAdd(a2, m, k); a3 = Vector256.FusedMultiplyAdd(a3, m, k);
                a4 = Vector256.FusedMultiplyAdd(a4, m, k); a5 = Vector256.FusedMultiplyAdd(a5, m, k);
                a6 = Vector256.FusedMultiplyAdd(a6, m, k); a7 = Vector256.FusedMultiplyAdd(a7, m, k);
                a8 = Vector256.FusedMultiplyAdd(a8, m, k); a9 = Vector256.FusedMultiplyAdd(a9, m, k);
                a10 = Vector256.FusedMultiplyAdd(a10, m, k); a11 = Vector256.FusedMultiplyAdd(a11, m, k);
            }
            Sink[part] = Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
    }

    private sealed class Fma512Work(int threads) : IParallelWork
    {
        private const int Iterations = 10_000_000;
        public const double Flops = Iterations * 12.0 * 16 * 2;
        public readonly float[] Sink = new float[threads];

        [MethodImpl(MethodImplOptions.NoInlining)]
        public void Execute(int part, int parts)
        {
            Vector512<float> m = Vector512.Create(0.999999f), k = Vector512.Create(1e-7f);
            Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
            for (int i = 0; i < Iterations; i++)
            {
                a0 = Vector512.FusedMultiplyAdd(a0, m, k); a1 = Vector512.FusedMultiplyAdd(a1, m, k);
                a2 = Vector512.FusedMultiplyAdd(a2, m, k); a3 = Vector512.FusedMultiplyAdd(a3, m, k);
                a4 = Vector512.FusedMultiplyAdd(a4, m, k); a5 = Vector512.FusedMultiplyAdd(a5, m, k);
                a6 = Vector512.FusedMultiplyAdd(a6, m, k); a7 = Vector512.FusedMultiplyAdd(a7, m, k);
                a8 = Vector512.FusedMultiplyAdd(a8, m, k); a9 = Vector512.FusedMultiplyAdd(a9, m, k);
                a10 = Vector512.FusedMultiplyAdd(a10, m, k); a11 = Vector512.FusedMultiplyAdd(a11, m, k);
            }
            Sink[part] = Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        }
    }
}
