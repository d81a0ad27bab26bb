using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using SourceGenTransformer;

namespace Benchmarks;

// The small models .NET developers ship, declared by their Hugging Face config.json (models/*/config.json, which the
// package's props pass to the generator), with random weights of their real shapes, kept in bfloat16 as released.

[Transformer(ConfigFile = "models/qwen2.5-0.5b/config.json", MaxSequenceLength = 1024, WeightPrecision = WeightPrecision.BFloat16)]
public partial class Qwen25HalfB;

[Transformer(ConfigFile = "models/smollm2-135m/config.json", MaxSequenceLength = 1024, WeightPrecision = WeightPrecision.BFloat16)]
public partial class SmolLM2;

[Transformer(ConfigFile = "models/llama-3.2-1b/config.json", MaxSequenceLength = 1024, WeightPrecision = WeightPrecision.BFloat16)]
public partial class Llama32OneB;

/// <summary>
/// <c>Benchmarks --hf [--runs N]</c>: for each real shape, a bfloat16 safetensors file of random weights in its Hugging
/// Face names, then per round one child process per model (so that its peak resident set is its own) that loads it
/// and decodes; the rounds interleave the models, and the table gives medians.
/// </summary>
internal static class HfBench
{
    public const string Argument = "--hf";

    /// <summary>The marker name of this run's section in docs/benchmarks.md, which the other runs keep.</summary>
    public const string Section = "hf";
    private const string ChildArgument = "--hf-child";
    private const int PromptTokens = 128, DecodeTokens = 32;

    private sealed record Model(string Name, string Folder, int Layers, int Dim, int Heads, int KvHeads, int HeadDim, int Ffn, int Vocab,
        bool QkvBias, long Parameters, Func<string, ModelOptions, IDecoderModel> Load);

    private static readonly Model[] Models =
    [
        new("SmolLM2-135M", "smollm2-135m", SmolLM2.Layers, SmolLM2.ModelDim, SmolLM2.Heads, SmolLM2.KvHeads, SmolLM2.HeadDim,
            SmolLM2.FeedForwardDim, SmolLM2.VocabSize, false, SmolLM2.ParameterCount, (p, o) => SmolLM2.Load(p, o)),
        new("Qwen2.5-0.5B", "qwen2.5-0.5b", Qwen25HalfB.Layers, Qwen25HalfB.ModelDim, Qwen25HalfB.Heads, Qwen25HalfB.KvHeads, Qwen25HalfB.HeadDim,
            Qwen25HalfB.FeedForwardDim, Qwen25HalfB.VocabSize, true, Qwen25HalfB.ParameterCount, (p, o) => Qwen25HalfB.Load(p, o)),
        new("Llama-3.2-1B", "llama-3.2-1b", Llama32OneB.Layers, Llama32OneB.ModelDim, Llama32OneB.Heads, Llama32OneB.KvHeads, Llama32OneB.HeadDim,
            Llama32OneB.FeedForwardDim, Llama32OneB.VocabSize, false, Llama32OneB.ParameterCount, (p, o) => Llama32OneB.Load(p, o)),
    ];

    /// <summary>The models' folders under samples/Benchmarks/models (generator-time.sh writes a section per folder).</summary>
    public static IEnumerable<string> Folders => Models.Select(m => m.Folder);

    public static int Run(string[] args)
    {
        if (args is [_, ChildArgument, string name, string path]) return Child(Models.Single(m => m.Name == name), path);
        int runs = 5;
        string? weights = null, output = null;
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--weights" && i + 1 < args.Length) weights = Path.GetFullPath(args[++i]);
            else if (args[i] == "--out" && i + 1 < args.Length) output = args[++i];
            else { Console.Error.WriteLine("usage: Benchmarks --hf [--runs N] [--weights DIR] [--out docs/benchmarks.md]"); return 2; }
        }
        string dir = weights ?? Directory.CreateTempSubdirectory("stg-hf-").FullName;
        Directory.CreateDirectory(dir);
        try
        {
            foreach (Model m in Models)
            {
                string file = Path.Combine(dir, m.Folder + ".safetensors");
                if (!File.Exists(file)) Write(m, file);
            }
            var rows = Models.ToDictionary(m => m.Name, _ => new List<double[]>());
            for (int round = 0; round < runs; round++)
                foreach (Model m in Models)
                    rows[m.Name].Add(Measure(m, Path.Combine(dir, m.Folder + ".safetensors")));

            var report = new StringBuilder();
            report.AppendLine($"<!-- {Section}: written by Benchmarks --hf -->");
            report.AppendLine("## Hugging Face shapes");
            report.AppendLine();
            report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"Declared by their config.json (samples/Benchmarks/models), random bfloat16 weights in their Hugging Face names, kept as bfloat16. Medians of {runs} interleaved rounds, each model in a process of its own; decode is {DecodeTokens} tokens after a {PromptTokens}-token prompt, load is from a warm page cache. `dotnet publish samples/Benchmarks -c Release -o artifacts/bench && artifacts/bench/Benchmarks --hf --runs {runs} --out docs/benchmarks.md`."));
            report.AppendLine();
            report.AppendLine($"| model (bfloat16 weights, {Environment.ProcessorCount} threads) | parameters | decode tok/s | prompt ({PromptTokens}) tok/s | load s | peak RSS MB | weight MB |");
            report.AppendLine("|---|---|---|---|---|---|---|");
            foreach (Model m in Models)
            {
                double Med(int k) => Median(rows[m.Name].Select(r => r[k]));
                report.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {m.Name} | {m.Parameters / 1e6:F0}M | {Med(0):F1} | {Med(1):F1} | {Med(2):F2} | {Med(3) / 1e6:F0} | {2.0 * m.Parameters / 1e6:F0} |"));
            }
            report.AppendLine();
            report.AppendLine("Per token, decoding reads every matrix once (weight MB less the token embedding's lookup, plus the tied classifier in bfloat16), so the decode rate times those bytes is the bandwidth it reaches. Peak RSS exceeds the weights because the token embedding is kept in float32 for its row lookups beside the tied classifier's bfloat16 copy.");
            report.AppendLine($"<!-- /{Section} -->");
            Console.WriteLine(report.ToString());
            if (output is not null) Report.WriteSection(output, Section, report.ToString());
        }
        finally
        {
            if (weights is null) Directory.Delete(dir, recursive: true);
        }
        return 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>One round of one model in a child process: decode tok/s, prompt tok/s, load seconds, peak RSS bytes.</summary>
    private static double[] Measure(Model m, string file)
    {
        string output = ChildProcess.Run(Environment.ProcessPath!, [Argument, ChildArgument, m.Name, file], $"{m.Name}: the measurement");
        double[] v = output.Trim().Split(' ').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{m.Name}: decode {v[0]:F1} tok/s, prompt {v[1]:F1} tok/s, load {v[2]:F2} s, peak RSS {v[3] / 1e6:F0} MB"));
        return v;
    }

    private static int Child(Model m, string path)
    {
        LoadMemory.ResetPeak();
        var clock = Stopwatch.StartNew();
        IDecoderModel model = m.Load(path, new ModelOptions());
        double load = clock.Elapsed.TotalSeconds;
        int[] prompt = Enumerable.Range(0, PromptTokens).Select(i => (i * 7919 + 13) % m.Vocab).ToArray();

        IDecoderSession session = model.CreateDecoderSession();
        clock.Restart();
        session.Forward(prompt);
        double promptRate = PromptTokens / clock.Elapsed.TotalSeconds;

        int next = 1;
        session.Forward(next); // the first decoded token outside the clock
        clock.Restart();
        for (int i = 0; i < DecodeTokens; i++)
        {
            ReadOnlySpan<float> logits = session.Forward(next);
            next = (int)((uint)BitConverter.SingleToInt32Bits(logits[i % logits.Length]) % (uint)m.Vocab); // data-dependent, not greedy
        }
        double decodeRate = DecodeTokens / clock.Elapsed.TotalSeconds;
        long peak = LoadMemory.Status("VmHWM");
        ((IDisposable)model).Dispose();
        Console.WriteLine(string.Join(' ', new[] { decodeRate, promptRate, load, peak }.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
        return 0;
    }

    /// <summary>Random bfloat16 weights of <paramref name="m"/>'s shapes, in Hugging Face names (tied: no lm_head).</summary>
    private static void Write(Model m, string path)
    {
        int q = m.Heads * m.HeadDim, kv = m.KvHeads * m.HeadDim;
        var t = new List<(string, long[])> { ("model.embed_tokens.weight", [m.Vocab, m.Dim]) };
        for (int l = 0; l < m.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            t.Add((p + "input_layernorm.weight", [m.Dim]));
            t.Add((p + "self_attn.q_proj.weight", [q, m.Dim]));
            t.Add((p + "self_attn.k_proj.weight", [kv, m.Dim]));
            t.Add((p + "self_attn.v_proj.weight", [kv, m.Dim]));
            if (m.QkvBias)
            {
                t.Add((p + "self_attn.q_proj.bias", [q]));
                t.Add((p + "self_attn.k_proj.bias", [kv]));
                t.Add((p + "self_attn.v_proj.bias", [kv]));
            }
            t.Add((p + "self_attn.o_proj.weight", [m.Dim, q]));
            t.Add((p + "post_attention_layernorm.weight", [m.Dim]));
            t.Add((p + "mlp.gate_proj.weight", [m.Ffn, m.Dim]));
            t.Add((p + "mlp.up_proj.weight", [m.Ffn, m.Dim]));
            t.Add((p + "mlp.down_proj.weight", [m.Dim, m.Ffn]));
        }
        t.Add(("model.norm.weight", [m.Dim]));
        // Values in [-0.05, 0.05) (a norm weight too: what matters here is bytes and arithmetic, not the text).
        long count = RandomWeights.WriteSafetensors(path, t, "BF16");
        Console.Error.WriteLine($"wrote {path} ({2 * count / 1e6:F0} MB)");
    }
}
