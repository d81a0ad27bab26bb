// Benchmarks: decode and prompt throughput of generated engines on llama2.c's stories shapes, random weights.
//
//   dotnet publish samples/Benchmarks -c Release -o artifacts/bench && artifacts/bench/Benchmarks [--runs N] [--out docs/benchmarks.md]
//
// Each row is the median (and min..max) of N runs (default 5), single-threaded, float32 weights written to a
// temporary safetensors file. Decode: 256 greedy tokens after a 1-token prompt. Prompt: one Forward over 128
// tokens. Time to first token: that prompt plus the first sampled token. Allocation: bytes allocated on the
// calling thread per decoded token (GC.GetAllocatedBytesForCurrentThread).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using SourceGenTransformer;

namespace Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        int runs = 5;
        string? output = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--out" && i + 1 < args.Length) output = args[++i];
            else { Console.Error.WriteLine("usage: Benchmarks [--runs N] [--out FILE]"); return 2; }
        }

        string dir = Directory.CreateTempSubdirectory("stg-bench-").FullName;
        var rows = new List<Row>();
        try
        {
            rows.Add(Measure("stories15M", dir, runs, (6, 288, 768, 6, 32000, 256), p => Stories15M.Load(p)));
            rows.Add(Measure("stories42M", dir, runs, (8, 512, 1376, 8, 32000, 1024), p => Stories42M.Load(p)));
            rows.Add(Measure("stories110M", dir, runs, (12, 768, 2048, 12, 32000, 1024), p => Stories110M.Load(p)));
            rows.Add(Measure("tiny (cache-resident)", dir, runs, (4, 64, 192, 4, 512, 512), p => Tiny.Load(p)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        string table = Table(rows, runs);
        Console.WriteLine(table);
        if (output is not null) File.WriteAllText(output, Report(table, runs));
        return 0;
    }

    private sealed record Row(string Name, long Parameters, Stat Decode, Stat Prompt, Stat FirstToken, double AllocatedPerToken, long PeakRssBytes, Stat Baseline);

    private readonly record struct Stat(double Median, double Min, double Max)
    {
        public static Stat Of(IEnumerable<double> values)
        {
            double[] v = values.OrderBy(x => x).ToArray();
            return new Stat(v[v.Length / 2], v[0], v[^1]);
        }
    }

    private static Row Measure(string name, string dir, int runs, (int Layers, int Dim, int Ffn, int Heads, int Vocab, int MaxSeq) c, Func<string, IDecoderModel> load)
    {
        string path = Path.Combine(dir, name.Split(' ')[0] + ".safetensors");
        long parameters = WriteRandomSafetensors(path, WeightsFor(c.Layers, c.Dim, c.Ffn, c.Heads, c.Vocab));
        IDecoderModel model = load(path);
        IDecoderSession session = model.CreateDecoderSession();
        int[] prompt = Enumerable.Range(0, 128).Select(i => (i * 7919) % model.VocabSize).ToArray();

        // Warm up: touch every weight and every code path once.
        session.Forward(prompt.AsSpan(0, 8));
        for (int i = 0; i < 8; i++) session.Forward(i);

        var decode = new List<double>();
        var promptRates = new List<double>();
        var first = new List<double>();
        double allocated = 0;
        for (int run = 0; run < runs; run++)
        {
            session.Reset();
            var clock = Stopwatch.StartNew();
            ReadOnlySpan<float> logits = session.Forward(prompt);
            double promptSeconds = clock.Elapsed.TotalSeconds;
            int token = Sampling.Argmax(logits);
            session.Forward(token);
            first.Add(clock.Elapsed.TotalMilliseconds);
            promptRates.Add(prompt.Length / promptSeconds);

            session.Reset();
            token = 1;
            long bytesBefore = GC.GetAllocatedBytesForCurrentThread();
            clock.Restart();
            for (int i = 0; i < 256; i++) token = Sampling.Argmax(session.Forward(token));
            decode.Add(256 / clock.Elapsed.TotalSeconds);
            allocated = (GC.GetAllocatedBytesForCurrentThread() - bytesBefore) / 256.0;
        }
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;

        // The generic TensorPrimitives baseline on the same file: first the same logits, then the same decode loop.
        var generic = new GenericLlama(path, c.Layers, c.Dim, c.Ffn, c.Heads, c.Vocab, c.MaxSeq);
        session.Reset();
        for (int i = 0; i < 4; i++)
        {
            float[] expected = session.Forward(i + 1).ToArray();
            ReadOnlySpan<float> actual = generic.Forward(i + 1);
            for (int j = 0; j < expected.Length; j++)
                if (MathF.Abs(expected[j] - actual[j]) > 1e-3f * MathF.Max(1f, MathF.Abs(expected[j])))
                    throw new InvalidOperationException($"{name}: the generic baseline disagrees with the generated engine at position {i}, logit {j}: {actual[j]} vs {expected[j]}");
        }
        var baseline = new List<double>();
        for (int run = 0; run < runs; run++)
        {
            generic.Reset();
            int token = 1;
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < 256; i++) token = Sampling.Argmax(generic.Forward(token));
            baseline.Add(256 / clock.Elapsed.TotalSeconds);
        }

        var row = new Row(name, parameters, Stat.Of(decode), Stat.Of(promptRates), Stat.Of(first), allocated, peak, Stat.Of(baseline));
        Console.Error.WriteLine($"{name}: decode {row.Decode.Median:F0} tok/s (generic baseline {row.Baseline.Median:F0}), prompt {row.Prompt.Median:F0} tok/s");
        File.Delete(path);
        return row;
    }

    /// <summary>Hugging Face Llama tensor names and shapes for an untied model.</summary>
    private static Dictionary<string, long[]> WeightsFor(int layers, int dim, int ffn, int heads, int vocab)
    {
        var t = new Dictionary<string, long[]> { ["model.embed_tokens.weight"] = [vocab, dim] };
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            t[p + "input_layernorm.weight"] = [dim];
            t[p + "self_attn.q_proj.weight"] = [dim, dim];
            t[p + "self_attn.k_proj.weight"] = [dim, dim];
            t[p + "self_attn.v_proj.weight"] = [dim, dim];
            t[p + "self_attn.o_proj.weight"] = [dim, dim];
            t[p + "post_attention_layernorm.weight"] = [dim];
            t[p + "mlp.gate_proj.weight"] = [ffn, dim];
            t[p + "mlp.up_proj.weight"] = [ffn, dim];
            t[p + "mlp.down_proj.weight"] = [dim, ffn];
        }
        t["model.norm.weight"] = [dim];
        t["lm_head.weight"] = [vocab, dim];
        return t;
    }

    /// <summary>Writes F32 tensors of small random values (fixed seed); returns the parameter count.</summary>
    private static long WriteRandomSafetensors(string path, Dictionary<string, long[]> shapes)
    {
        var header = new StringBuilder("{");
        long offset = 0;
        foreach ((string name, long[] shape) in shapes)
        {
            long bytes = 4 * shape.Aggregate(1L, (a, b) => a * b);
            if (header.Length > 1) header.Append(',');
            header.Append(CultureInfo.InvariantCulture, $"{JsonSerializer.Serialize(name, BenchJson.Default.String)}:{{\"dtype\":\"F32\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{offset},{offset + bytes}]}}");
            offset += bytes;
        }
        header.Append('}');
        while ((header.Length + 8) % 8 != 0) header.Append(' ');
        byte[] h = Encoding.UTF8.GetBytes(header.ToString());
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        file.Write(BitConverter.GetBytes((ulong)h.Length));
        file.Write(h);
        var rng = new Random(1234);
        var buffer = new float[1 << 16];
        long remaining = offset / 4;
        while (remaining > 0)
        {
            int n = (int)Math.Min(buffer.Length, remaining);
            for (int i = 0; i < n; i++) buffer[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
            file.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
            remaining -= n;
        }
        return offset / 4;
    }

    private static string Table(List<Row> rows, int runs)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"| model | parameters | decode tok/s (median, min..max of {runs}) | generic TensorPrimitives decode tok/s | generated / generic | prompt tok/s (128 tokens) | time to first token (ms) | bytes allocated per token | peak RSS (MB) |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (Row r in rows)
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Name} | {r.Parameters / 1e6:F1}M | {r.Decode.Median:F0} ({r.Decode.Min:F0}..{r.Decode.Max:F0}) | {r.Baseline.Median:F0} ({r.Baseline.Min:F0}..{r.Baseline.Max:F0}) | {r.Decode.Median / r.Baseline.Median:F2}x | {r.Prompt.Median:F0} ({r.Prompt.Min:F0}..{r.Prompt.Max:F0}) | {r.FirstToken.Median:F1} | {r.AllocatedPerToken:F0} | {r.PeakRssBytes / 1e6:F0} |");
        return sb.ToString();
    }

    private static string Report(string table, int runs) => $"""
        # Benchmarks

        Generated engines on llama2.c's "stories" shapes (untied classifier) and a tiny cache-resident model, with
        random float32 weights, one thread, NativeAOT built for this machine (`IlcInstructionSet=native`).
        Beside each, the generic baseline (`samples/Benchmarks/GenericLlama.cs`): the same math written once over
        runtime-sized spans with `TensorPrimitives`, no generation, checked to give the same logits first, measured in
        the same run. Medians of {runs} runs; peak RSS is the process's, so it grows down the table as models load.

        {table}
        Reproduce:

        ```bash
        dotnet publish samples/Benchmarks -c Release -o artifacts/bench
        artifacts/bench/Benchmarks --runs {runs} --out docs/benchmarks.md
        ```

        This is the single-threaded float32 baseline, before the performance work of the benchmark issue (worker
        threads, batched prompts, F16/BF16 and 8-bit weights, Vector512, and peers measured side by side). The prompt
        column still runs the prompt one token at a time; it is faster than decode only because the classifier is
        skipped before the last position.
        """;
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class BenchJson : System.Text.Json.Serialization.JsonSerializerContext;
