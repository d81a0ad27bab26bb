using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using SourceGenTransformer;
using SourceGenTransformer.Tests;

namespace Benchmarks;

// The stories shapes again in the lighter precisions, for the GGUF files llama.cpp quantised.
[Transformer(ModelFamily.Llama, Layers = 6, Heads = 6, ModelDim = 288, FeedForwardDim = 768, VocabSize = 32000,
    MaxSequenceLength = 256, EosToken = -1, WeightPrecision = WeightPrecision.Int8)]
public partial class Stories15MInt8;

[Transformer(ModelFamily.Llama, Layers = 6, Heads = 6, ModelDim = 288, FeedForwardDim = 768, VocabSize = 32000,
    MaxSequenceLength = 256, EosToken = -1, WeightPrecision = WeightPrecision.Q4_0)]
public partial class Stories15MQ4;

[Transformer(ModelFamily.Llama, Layers = 12, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 32000,
    MaxSequenceLength = 1024, EosToken = -1, WeightPrecision = WeightPrecision.Q4_0)]
public partial class Stories110MQ4;

// Q4K: llama.cpp's K-quant mix, each matrix in the type the Q4_K_M file gives it.
[Transformer(ModelFamily.Llama, Layers = 6, Heads = 6, ModelDim = 288, FeedForwardDim = 768, VocabSize = 32000,
    MaxSequenceLength = 256, EosToken = -1, WeightPrecision = WeightPrecision.Q4K)]
public partial class Stories15MQ4K;

[Transformer(ModelFamily.Llama, Layers = 12, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 32000,
    MaxSequenceLength = 1024, EosToken = -1, WeightPrecision = WeightPrecision.Q4K)]
public partial class Stories110MQ4K;

// Qwen2.5-0.5B's shape (its config.json: 24 layers, 896 wide, 14 query and 2 key/value heads, biases on q/k/v, tied).
[Transformer(ConfigFile = "models/qwen2.5-0.5b/config.json", MaxSequenceLength = 1024, WeightPrecision = WeightPrecision.Int8)]
public partial class Qwen25HalfBInt8;

[Transformer(ConfigFile = "models/qwen2.5-0.5b/config.json", MaxSequenceLength = 1024, WeightPrecision = WeightPrecision.Q4_0)]
public partial class Qwen25HalfBQ4;

[Transformer(ConfigFile = "models/qwen2.5-0.5b/config.json", MaxSequenceLength = 1024, WeightPrecision = WeightPrecision.Q4K)]
public partial class Qwen25HalfBQ4K;

/// <summary>
/// <c>Benchmarks --gguf --llamacpp PATH [--runs N] [--weights DIR] [--out FILE]</c>: llama.cpp (samples/LlamaCppPeer,
/// LLamaSharp 0.30.0's CPU backend) and ours on the same GGUF files. The stories shapes' random weights are written as an
/// F32 GGUF (llama.cpp's names, Q/K rows in Meta's interleaved order, as its converter writes them), which llama.cpp's
/// quantizer turns into F16, Q8_0, Q4_0 and Q4_K_M files. Before timing, per file: llama.cpp's greedy ids (float32 KV
/// cache) against ours, and our 1-thread and 2-thread logits bit for bit. Each round runs every engine and thread count
/// in a process of its own (so its peak RSS is its own), interleaved.
/// </summary>
internal static class GgufBench
{
    public const string Argument = "--gguf";

    /// <summary>The marker name of this run's section in docs/benchmarks.md, which the other runs keep.</summary>
    public const string Section = "gguf";
    private const string ChildArgument = "--gguf-child";
    private const int DecodeTokens = 256, PromptTokens = 128, CheckTokens = 128;

    /// <summary>A GGUF type: the file's suffix, our declaration for it per shape, and the bytes per matrix weight each side reads.</summary>
    private sealed record FileType(string Name, string Ours, double OurBytes, double TheirBytes);

    private static readonly FileType[] Types =
    [
        new("F32", "float32", 4, 4),
        new("F16", "float32 (widened at load)", 4, 2),
        new("Q8_0", "int8 (the file's Q8_0 blocks)", 34.0 / 32, 34.0 / 32),
        new("Q4_0", "Q4_0 (the file's blocks)", 18.0 / 32, 18.0 / 32),
        new("Q4_K_M", "Q4K (the file's mix, each matrix in its type)", double.NaN, double.NaN), // bytes: the file's own (MixBytes)
    ];

    private static IDecoderModel? Load(Model shape, string type, string path, int threads)
    {
        var o = new ModelOptions { Threads = threads };
        return (shape.Name, type) switch
        {
            ("stories15M", "F32" or "F16") => Stories15M.Load(path, o),
            ("stories15M", "Q8_0") => Stories15MInt8.Load(path, o),
            ("stories15M", "Q4_0") => Stories15MQ4.Load(path, o),
            ("stories15M", "Q4_K_M") => Stories15MQ4K.Load(path, o),
            ("stories110M", "F32" or "F16") => Stories110M.Load(path, o),
            ("stories110M", "Q8_0") => Stories110MInt8.Load(path, o),
            ("stories110M", "Q4_0") => Stories110MQ4.Load(path, o),
            ("stories110M", "Q4_K_M") => Stories110MQ4K.Load(path, o),
            ("qwen2.5-0.5b", "Q8_0") => Qwen25HalfBInt8.Load(path, o),
            ("qwen2.5-0.5b", "Q4_0") => Qwen25HalfBQ4.Load(path, o),
            ("qwen2.5-0.5b", "Q4_K_M") => Qwen25HalfBQ4K.Load(path, o),
            _ => null,
        };
    }

    /// <summary>
    /// A shape of the run: its vocabulary, the matrix weights one decoded token reads (the tied or untied classifier
    /// included, not the embedding), the file types it is measured in, and how its F32 GGUF is written.
    /// </summary>
    private sealed record Model(string Name, int Vocab, long MatrixWeights, string[] Types, Action<string, string> WriteF32);

    private static Model Stories(Shape shape) => new(shape.Name, shape.Vocab, shape.DecodeBytes / 4, ["F32", "F16", "Q8_0", "Q4_0", "Q4_K_M"], (dir, f32) =>
    {
        if (!File.Exists(shape.File(dir))) RandomWeights.WriteLlama(shape, shape.File(dir), dir);
        WriteGguf(shape, shape.File(dir), f32);
    });

    private static readonly Model Qwen = new("qwen2.5-0.5b", Qwen25HalfBQ4.VocabSize,
        (long)Qwen25HalfBQ4.Layers * Qwen25HalfBQ4.ModelDim * (2L * Qwen25HalfBQ4.Heads * Qwen25HalfBQ4.HeadDim + 2L * Qwen25HalfBQ4.KvHeads * Qwen25HalfBQ4.HeadDim + 3L * Qwen25HalfBQ4.FeedForwardDim)
            + (long)Qwen25HalfBQ4.VocabSize * Qwen25HalfBQ4.ModelDim,
        ["Q8_0", "Q4_0", "Q4_K_M"], (_, f32) => WriteQwenGguf(f32));

    private static readonly Model[] Shapes_ = [Stories(Shapes.S15), Stories(Shapes.S110), Qwen];

    private static string GgufPath(string dir, Model shape, string type) => Path.Combine(dir, $"{shape.Name}-{type}.gguf");

    public static int Run(string[] args)
    {
        if (args is [_, ChildArgument, string shapeName, string type, string childFile, string threadText])
            return Child(Shapes_.Single(s => s.Name == shapeName), type, childFile, int.Parse(threadText, CultureInfo.InvariantCulture));
        int runs = 5;
        string? weights = null, output = null, peer = null, bench = null, only = null;
        string[]? types = null;
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--weights" && i + 1 < args.Length) weights = Path.GetFullPath(args[++i]);
            else if (args[i] == "--out" && i + 1 < args.Length) output = args[++i];
            else if (args[i] == "--llamacpp" && i + 1 < args.Length) peer = Path.GetFullPath(args[++i]);
            else if (args[i] == "--llama-bench" && i + 1 < args.Length) bench = Path.GetFullPath(args[++i]);
            else if (args[i] == "--only" && i + 1 < args.Length) only = args[++i];
            else if (args[i] == "--types" && i + 1 < args.Length) types = args[++i].Split(',');
            else { Console.Error.WriteLine("usage: Benchmarks --gguf --llamacpp PATH-TO-LlamaCppPeer [--llama-bench PATH] [--runs N] [--weights DIR] [--only SHAPE] [--types Q4_0,Q4_K_M] [--out docs/benchmarks.md]"); return 2; }
        }
        if (bench is not null && !File.Exists(bench)) { Console.Error.WriteLine($"error: no llama-bench at {bench}"); return 1; }
        if (peer is null || !File.Exists(peer)) { Console.Error.WriteLine($"error: --llamacpp needs the LlamaCppPeer binary (dotnet publish samples/LlamaCppPeer -c Release -o artifacts/llamacpp); got {peer ?? "nothing"}"); return 1; }
        int threads = Environment.ProcessorCount;
        string dir = weights ?? Directory.CreateTempSubdirectory("stg-gguf-").FullName;
        Directory.CreateDirectory(dir);
        double bandwidth = Machine.ReadBandwidth(threads), bandwidth1 = Machine.ReadBandwidth(1);
        Console.Error.WriteLine($"read bandwidth: {bandwidth1:F1} GB/s on 1 thread, {bandwidth:F1} GB/s on {threads}");
        var checks = new List<string>();
        var rows = new List<(Model Shape, FileType Type, Dictionary<string, List<double[]>> Runs, double Bytes)>();
        Model[] shapes = Shapes_.Where(m => only is null || m.Name == only).Select(m => types is null ? m : m with { Types = m.Types.Intersect(types).ToArray() }).ToArray();
        if (shapes.Length == 0) { Console.Error.WriteLine($"error: no shape {only} (the shapes: {string.Join(", ", Shapes_.Select(m => m.Name))})"); return 2; }
        try
        {
            foreach (Model shape in shapes)
            {
                string f32 = GgufPath(dir, shape, "F32");
                if (!File.Exists(f32) && shape.Types.Any(t => !File.Exists(GgufPath(dir, shape, t)))) shape.WriteF32(dir, f32);
                foreach (FileType t in TypesOf(shape))
                    if (t.Name != "F32" && !File.Exists(GgufPath(dir, shape, t.Name))) Peer(peer, "quantize", f32, GgufPath(dir, shape, t.Name), t.Name);
                foreach (FileType t in TypesOf(shape))
                {
                    string file = GgufPath(dir, shape, t.Name);
                    checks.Add(Check(peer, shape, t, file));
                    Console.Error.WriteLine(checks[^1]);
                }
            }
            foreach (Model shape in shapes)
                foreach (FileType t in TypesOf(shape))
                {
                    string file = GgufPath(dir, shape, t.Name);
                    var measured = new Dictionary<string, List<double[]>>();
                    void Add(string key, double[] v) { if (!measured.TryGetValue(key, out var l)) measured[key] = l = []; l.Add(v); }
                    for (int run = 0; run < runs; run++)
                        foreach (int n in new[] { 1, threads })
                        {
                            Add($"ours{n}", Ours(shape, t.Name, file, n));
                            Add($"llama{n}", Numbers(Peer(peer, "run", file, n.ToString(CultureInfo.InvariantCulture), DecodeTokens.ToString(CultureInfo.InvariantCulture), PromptTokens.ToString(CultureInfo.InvariantCulture))));
                            if (bench is not null) Add($"bench{n}", LlamaBench(bench, file, n));
                        }
                    rows.Add((shape, t, measured, MixBytes(file)));
                    Console.Error.WriteLine($"{shape.Name} {t.Name}: " + string.Join(", ", measured.Select(m => $"{m.Key} decode {Median(m.Value.Select(v => v[0])):F0} prompt {Median(m.Value.Select(v => v[1])):F0}")));
                }
        }
        finally
        {
            if (weights is null) Directory.Delete(dir, recursive: true);
        }
        string report = Write(rows, checks, runs, threads, bandwidth, bench is not null);
        Console.WriteLine(report);
        if (output is not null) Report.WriteSection(output, Section, report);
        return 0;
    }

    private static IEnumerable<FileType> TypesOf(Model shape) => Types.Where(t => shape.Types.Contains(t.Name));

    private static string Write(List<(Model Shape, FileType Type, Dictionary<string, List<double[]>> Runs, double Bytes)> rows, List<string> checks, int runs, int threads, double bandwidth, bool native)
    {
        var r = new StringBuilder();
        r.AppendLine($"<!-- {Section}: written by Benchmarks --gguf -->");
        r.AppendLine("## GGUF files beside llama.cpp");
        r.AppendLine();
        r.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"llama2.c's stories shapes and Qwen2.5-0.5B's shape (qwen2: biases on q/k/v, 14 query and 2 key/value heads, tied classifier; no F32 or F16 rows) with random weights, written as an F32 GGUF and quantised by llama.cpp's own quantizer (`llama_model_quantize`, every matrix in the type, `--pure` except Q4_K_M); both engines read the same file. llama.cpp is LLamaSharp 0.30.0's CPU backend (`samples/LlamaCppPeer`, its prebuilt AVX-512 library, its default F16 KV cache and flash attention for the timings). Each engine and thread count runs in a process of its own; cells are medians (min..max) of {runs} interleaved rounds. Decode: {DecodeTokens} greedy tokens after token 1. Prompt: one batch of {PromptTokens} tokens, the median of 3; first token: that prompt and one decoded token. Bound: this run's {threads}-thread read bandwidth ({bandwidth:F1} GB/s) over the bytes of matrices one token reads, in each engine's layout."));
        r.AppendLine();
        r.AppendLine("```bash");
        r.AppendLine("dotnet publish samples/Benchmarks -c Release -o artifacts/bench");
        r.AppendLine("dotnet publish samples/LlamaCppPeer -c Release -o artifacts/llamacpp");
        r.AppendLine($"artifacts/bench/Benchmarks --gguf --llamacpp artifacts/llamacpp/LlamaCppPeer{(native ? " --llama-bench path/to/llama.cpp/build/bin/llama-bench" : "")} --runs {runs} --weights artifacts/weights --out docs/benchmarks.md");
        r.AppendLine("```");
        r.AppendLine();
        r.AppendLine("Checked first, on each file (greedy ids from token 1 with llama.cpp's KV cache in float32 and flash attention off, and the logits after token 1, scaled max difference):");
        r.AppendLine();
        foreach (string c in checks) r.AppendLine("- " + c);
        r.AppendLine();
        r.AppendLine($"| shape | file | ours as | decode tok/s, ours 1 thread | llama.cpp 1 thread | ours {threads} threads | llama.cpp {threads} threads | ours / llama.cpp ({threads} threads) | ours / bound | llama.cpp / bound | prompt tok/s, ours {threads} threads | llama.cpp {threads} threads | ours / llama.cpp | ours 1 thread | llama.cpp 1 thread | first token ms, ours | llama.cpp | peak RSS MB, ours | llama.cpp |");
        r.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (shape, t, m, bytes) in rows)
        {
            Stat S(string key, int k) => Cell(m, key, k);
            long matrixWeights = shape.MatrixWeights;
            string Bound(Stat s, double bytes) => s.HasValue && !double.IsNaN(bytes)
                ? (s.Median / (bandwidth * 1e9 / (matrixWeights * bytes))).ToString("P0", CultureInfo.InvariantCulture).Replace(" ", "") : "–";
            string n = threads.ToString(CultureInfo.InvariantCulture);
            r.AppendLine($"| {shape.Name} | {t.Name} | {t.Ours} | {S("ours1", 0).Format()} | {S("llama1", 0).Format()} | {S("ours" + n, 0).Format()} | {S("llama" + n, 0).Format()} | {Ratio(S("ours" + n, 0), S("llama" + n, 0))} | {Bound(S("ours" + n, 0), double.IsNaN(t.OurBytes) ? bytes : t.OurBytes)} | {Bound(S("llama" + n, 0), double.IsNaN(t.TheirBytes) ? bytes : t.TheirBytes)} | {S("ours" + n, 1).Format()} | {S("llama" + n, 1).Format()} | {Ratio(S("ours" + n, 1), S("llama" + n, 1))} | {S("ours1", 1).Format()} | {S("llama1", 1).Format()} | {S("ours" + n, 2).Format("F1")} | {S("llama" + n, 2).Format("F1")} | {S("ours" + n, 3).Format()} | {S("llama" + n, 3).Format()} |");
        }
        if (native)
        {
            r.AppendLine();
            r.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"Against a native build of llama.cpp (commit c392e50, the one the GGUF issue measured, `cmake -DGGML_NATIVE=ON`, outside this repository; its `llama-bench -p {PromptTokens} -n {DecodeTokens} -r 1` per round, interleaved with the rounds above, its default F16 KV cache): LLamaSharp's prebuilt library adds a per-token cost that matters on the small shapes, so this is the fairer peer there. Same files, same rounds; our cells are the ones above."));
            r.AppendLine();
            r.AppendLine($"| shape | file | decode tok/s, ours 1 thread | llama-bench 1 thread | ours {threads} threads | llama-bench {threads} threads | ours / llama-bench ({threads} threads) | prompt tok/s, ours {threads} threads | llama-bench {threads} threads | ours / llama-bench | ours 1 thread | llama-bench 1 thread |");
            r.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var (shape, t, m, _) in rows)
            {
                Stat S(string key, int k) => Cell(m, key, k);
                string n = threads.ToString(CultureInfo.InvariantCulture);
                r.AppendLine($"| {shape.Name} | {t.Name} | {S("ours1", 0).Format()} | {S("bench1", 0).Format()} | {S("ours" + n, 0).Format()} | {S("bench" + n, 0).Format()} | {Ratio(S("ours" + n, 0), S("bench" + n, 0))} | {S("ours" + n, 1).Format()} | {S("bench" + n, 1).Format()} | {Ratio(S("ours" + n, 1), S("bench" + n, 1))} | {S("ours1", 1).Format()} | {S("bench1", 1).Format()} |");
            }
        }
        r.AppendLine();
        r.AppendLine("Bytes per matrix weight: F32 4, F16 2 for llama.cpp (which rounds each product's input to F16) and 4 for ours (we widen F16 to float32 at load, exactly), Q8_0 34/32 and Q4_0 18/32 for both (the file's blocks of 32 as they are, float16 scales and all; ours are in panels of rows), Q4_K_M the file's own mix for both, each matrix in its type (Q4_K 144/256, Q6_K 210/256, and where a row is not whole blocks of 256, Q5_0 22/32 and Q8_0 34/32), averaged over the matrices one token reads: " +
            string.Join(", ", rows.Where(x => x.Type.Name == "Q4_K_M").Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Shape.Name} {x.Bytes:F3}"))) + " bytes.");
        r.AppendLine($"<!-- /{Section} -->");
        return r.ToString();
    }

    private static double Median(IEnumerable<double> values) => Stat.Of(values).Median;

    /// <summary>Column <paramref name="k"/> of a row's runs of <paramref name="key"/> (an engine and thread count), or an empty cell.</summary>
    private static Stat Cell(Dictionary<string, List<double[]>> runs, string key, int k) => runs.TryGetValue(key, out var v) ? Stat.Of(v.Select(x => x[k])) : Stat.Of([]);

    private static string Ratio(Stat a, Stat b) => a.HasValue && b.HasValue ? (a.Median / b.Median).ToString("F2", CultureInfo.InvariantCulture) + "x" : "–";

    private static double[] Numbers(string line) => line.Trim().Split(' ').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Our greedy ids and first logits against llama.cpp's on one file, and our 1-thread and N-thread logits bit for bit.</summary>
    private static string Check(string peer, Model shape, FileType t, string file)
    {
        string[] lines = Peer(peer, "run", file, "1", CheckTokens.ToString(CultureInfo.InvariantCulture), "1", "check").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int[] theirs = lines[0].Split(' ').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        float[] theirFirst = lines[1].Split(' ').Select(x => float.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        using var one = Load(shape, t.Name, file, 1) as IDisposable;
        using var all = Load(shape, t.Name, file, Environment.ProcessorCount) as IDisposable;
        if (one is null || all is null) return $"{shape.Name} {t.Name}: llama.cpp only";
        IDecoderSession a = ((IDecoderModel)one).CreateDecoderSession(), b = ((IDecoderModel)all).CreateDecoderSession();
        int token = 1, agree = -1;
        float firstDiff = 0;
        for (int i = 0; i < CheckTokens; i++)
        {
            float[] la = a.Forward(token).ToArray();
            ReadOnlySpan<float> lb = b.Forward(token);
            for (int j = 0; j < la.Length; j++)
                if (BitConverter.SingleToInt32Bits(la[j]) != BitConverter.SingleToInt32Bits(lb[j]))
                    throw new InvalidOperationException($"{shape.Name} {t.Name}: 1 and {Environment.ProcessorCount} threads differ at step {i}, logit {j}");
            if (i == 0)
            {
                float diff = 0, scale = 1;
                for (int j = 0; j < la.Length; j++) { diff = MathF.Max(diff, MathF.Abs(la[j] - theirFirst[j])); scale = MathF.Max(scale, MathF.Abs(theirFirst[j])); }
                firstDiff = diff / scale;
            }
            token = Sampling.Argmax(la);
            if (agree < 0 && token != theirs[i]) agree = i;
        }
        string ids = agree < 0 ? $"greedy ids equal llama.cpp's for all {CheckTokens}" : $"greedy ids equal llama.cpp's for the first {agree} of {CheckTokens}";
        return string.Create(CultureInfo.InvariantCulture, $"{shape.Name} {t.Name} (ours {t.Ours}): {ids}; first logits within {firstDiff:E1}; 1 and {Environment.ProcessorCount} threads bit-identical");
    }

    /// <summary>
    /// Bytes per weight of the matrices one decoded token reads in <paramref name="file"/> as it stores them (every 2-D
    /// tensor but the token embedding, which a tied file's classifier is, so it counts there): a K-quant file's own mix.
    /// </summary>
    private static double MixBytes(string file)
    {
        using GgufFile g = GgufFile.Open(file);
        bool tied = !g.TensorTypes.ContainsKey("output.weight");
        double bytes = 0, weights = 0;
        foreach ((string name, long[] shape) in g.TensorShapes)
        {
            if (shape.Length != 2 || (name == "token_embd.weight" && !tied)) continue;
            (int block, int blockBytes) = GgmlQuants.BlockOf(g.TensorTypes[name]);
            bytes += (double)shape[0] * shape[1] / block * blockBytes;
            weights += (double)shape[0] * shape[1];
        }
        return bytes / weights;
    }

    /// <summary>One round of ours in a child process: decode tok/s, prompt tok/s, first-token ms, peak RSS MB.</summary>
    private static double[] Ours(Model shape, string type, string file, int threads) =>
        Numbers(ChildProcess.Run(Environment.ProcessPath!, [Argument, ChildArgument, shape.Name, type, file, threads.ToString(CultureInfo.InvariantCulture)],
            $"{shape.Name} {type}: our measurement"));

    /// <summary>In the child: the peer's protocol (samples/LlamaCppPeer) on our engine.</summary>
    private static int Child(Model shape, string type, string file, int threads)
    {
        IDecoderModel model = Load(shape, type, file, threads)!;
        IDecoderSession session = model.CreateDecoderSession();
        session.Forward(1); // warm-up, as the peer's
        session.Reset();
        var clock = Stopwatch.StartNew();
        int token = 1;
        for (int i = 0; i < DecodeTokens; i++) token = Sampling.Argmax(session.Forward(token));
        double decodeRate = DecodeTokens / clock.Elapsed.TotalSeconds;
        int[] prompt = Enumerable.Range(0, PromptTokens).Select(i => 3 + (i * 7919) % (shape.Vocab - 3)).ToArray();
        var seconds = new double[3];
        var firstMs = new double[3];
        for (int run = 0; run < 3; run++)
        {
            session.Reset();
            clock.Restart();
            int next = Sampling.Argmax(session.Forward(prompt));
            seconds[run] = clock.Elapsed.TotalSeconds;
            session.Forward(next);
            firstMs[run] = clock.Elapsed.TotalMilliseconds;
        }
        long peak = LoadMemory.Status("VmHWM");
        ((IDisposable)model).Dispose();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{decodeRate:F1} {PromptTokens / Median(seconds):F1} {Median(firstMs):F2} {peak / 1e6:F0}"));
        return 0;
    }

    /// <summary>One llama-bench run (a native llama.cpp build) on the file: decode tok/s and prompt tok/s from its CSV.</summary>
    private static double[] LlamaBench(string bench, string file, int threads)
    {
        string output = ChildProcess.Run(bench, ["-m", file, "-t", threads.ToString(CultureInfo.InvariantCulture), "-p", PromptTokens.ToString(CultureInfo.InvariantCulture),
            "-n", DecodeTokens.ToString(CultureInfo.InvariantCulture), "-r", "1", "-o", "csv"], $"llama-bench on {file}");
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length < 3) throw new InvalidOperationException($"llama-bench on {file} printed {lines.Length} lines, not its header and two tests");
        string[] header = lines[0].Split(',');
        int prompt = Array.IndexOf(header, "n_prompt"), gen = Array.IndexOf(header, "n_gen"), rate = Array.IndexOf(header, "avg_ts");
        double decodeRate = double.NaN, promptRate = double.NaN;
        foreach (string line in lines.Skip(1))
        {
            string[] f = line.Split(',').Select(x => x.Trim('"')).ToArray();
            double ts = double.Parse(f[rate], CultureInfo.InvariantCulture);
            if (f[gen] != "0") decodeRate = ts;
            else if (f[prompt] != "0") promptRate = ts;
        }
        return [decodeRate, promptRate];
    }

    private static string Peer(string peer, params string[] arguments) => ChildProcess.Run(peer, arguments, $"LlamaCppPeer {string.Join(' ', arguments)}");

    /// <summary>
    /// The safetensors file's float32 tensors (<see cref="RandomWeights.LlamaTensors"/>, in file order) as a GGUF v3 file:
    /// llama.cpp's names and metadata, Q and K rows permuted to Meta's interleaved rotary order as llama.cpp's
    /// convert_hf_to_gguf.py does, and a vocabulary of placeholder tokens (tokenizer.ggml.model "none").
    /// </summary>
    private static void WriteGguf(Shape c, string safetensors, string gguf)
    {
        var meta = new GgufWriter();
        meta.S("general.architecture", "llama");
        meta.S("general.name", c.Name);
        meta.U32("general.alignment", 32);
        meta.U32("llama.vocab_size", (uint)c.Vocab);
        meta.U32("llama.block_count", (uint)c.Layers);
        meta.U32("llama.context_length", (uint)c.MaxSeq);
        meta.U32("llama.embedding_length", (uint)c.Dim);
        meta.U32("llama.feed_forward_length", (uint)c.Ffn);
        meta.U32("llama.attention.head_count", (uint)c.Heads);
        meta.U32("llama.attention.head_count_kv", (uint)c.Heads);
        meta.U32("llama.rope.dimension_count", (uint)(c.Dim / c.Heads));
        meta.F32("llama.rope.freq_base", 10000f);
        meta.F32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        meta.PlaceholderVocabulary(c.Vocab);

        List<(string Name, long[] Shape)> tensors = RandomWeights.LlamaTensors(c);
        using var input = File.OpenRead(safetensors);
        var reader = new BinaryReader(input);
        input.Seek(8 + (long)reader.ReadUInt64(), SeekOrigin.Begin);
        meta.Write(gguf, tensors.Select(t => (GgufName(t.Name), t.Shape)).ToList(), (i, values) =>
        {
            input.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
            (string name, long[] shape) = tensors[i];
            return name.EndsWith("q_proj.weight", StringComparison.Ordinal) || name.EndsWith("k_proj.weight", StringComparison.Ordinal)
                ? Interleave(values, (int)shape[0], (int)shape[1], c.Heads) : values;
        });
    }

    /// <summary>Row (h, 2j + s) of the result is row (h, s · half + j) of <paramref name="w"/>: Hugging Face's rotate-half order to Meta's pairs.</summary>
    private static float[] Interleave(float[] w, int rows, int cols, int heads)
    {
        var result = new float[w.Length];
        int headDim = rows / heads, half = headDim / 2;
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < half; j++)
                for (int s = 0; s < 2; s++)
                    Array.Copy(w, (long)(h * headDim + s * half + j) * cols, result, (long)(h * headDim + 2 * j + s) * cols, cols);
        return result;
    }

    /// <summary>
    /// Qwen2.5-0.5B's shape as an F32 GGUF v3 file with random weights (matrices and biases in [-0.05, 0.05) from a seeded
    /// Random, norm weights 1), in llama.cpp's qwen2 names and metadata (rows not interleaved, the classifier tied to
    /// token_embd), and a vocabulary of placeholder tokens (tokenizer.ggml.model "none").
    /// </summary>
    private static void WriteQwenGguf(string gguf)
    {
        int dim = Qwen25HalfBQ4.ModelDim, ffn = Qwen25HalfBQ4.FeedForwardDim, vocab = Qwen25HalfBQ4.VocabSize;
        int q = Qwen25HalfBQ4.Heads * Qwen25HalfBQ4.HeadDim, kv = Qwen25HalfBQ4.KvHeads * Qwen25HalfBQ4.HeadDim;
        var meta = new GgufWriter();
        meta.S("general.architecture", "qwen2");
        meta.S("general.name", "qwen2.5-0.5b-shape");
        meta.U32("general.alignment", 32);
        meta.U32("qwen2.vocab_size", (uint)vocab);
        meta.U32("qwen2.block_count", (uint)Qwen25HalfBQ4.Layers);
        meta.U32("qwen2.context_length", (uint)Qwen25HalfBQ4.MaxSequenceLength);
        meta.U32("qwen2.embedding_length", (uint)dim);
        meta.U32("qwen2.feed_forward_length", (uint)ffn);
        meta.U32("qwen2.attention.head_count", (uint)Qwen25HalfBQ4.Heads);
        meta.U32("qwen2.attention.head_count_kv", (uint)Qwen25HalfBQ4.KvHeads);
        meta.F32("qwen2.rope.freq_base", 1000000f);
        meta.F32("qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
        meta.PlaceholderVocabulary(vocab);

        var tensors = new List<(string Name, long[] Shape)> { ("token_embd.weight", [vocab, dim]) };
        for (int l = 0; l < Qwen25HalfBQ4.Layers; l++)
        {
            string p = $"blk.{l}.";
            tensors.Add((p + "attn_norm.weight", [dim]));
            tensors.Add((p + "attn_q.weight", [q, dim]));
            tensors.Add((p + "attn_q.bias", [q]));
            tensors.Add((p + "attn_k.weight", [kv, dim]));
            tensors.Add((p + "attn_k.bias", [kv]));
            tensors.Add((p + "attn_v.weight", [kv, dim]));
            tensors.Add((p + "attn_v.bias", [kv]));
            tensors.Add((p + "attn_output.weight", [dim, q]));
            tensors.Add((p + "ffn_norm.weight", [dim]));
            tensors.Add((p + "ffn_gate.weight", [ffn, dim]));
            tensors.Add((p + "ffn_up.weight", [ffn, dim]));
            tensors.Add((p + "ffn_down.weight", [dim, ffn]));
        }
        tensors.Add(("output_norm.weight", [dim]));
        var rng = new Random(2468);
        meta.Write(gguf, tensors, (i, values) =>
        {
            bool norm = tensors[i].Name.EndsWith("norm.weight", StringComparison.Ordinal);
            for (long k = 0; k < values.LongLength; k++) values[k] = norm ? 1f : (rng.NextSingle() - 0.5f) * 0.1f;
            return values;
        });
    }

    private static string GgufName(string hf)
    {
        if (hf == "model.embed_tokens.weight") return "token_embd.weight";
        if (hf == "model.norm.weight") return "output_norm.weight";
        if (hf == "lm_head.weight") return "output.weight";
        string[] parts = hf.Split('.', 4); // model, layers, N, rest
        string rest = parts[3] switch
        {
            "input_layernorm.weight" => "attn_norm.weight",
            "post_attention_layernorm.weight" => "ffn_norm.weight",
            "self_attn.q_proj.weight" => "attn_q.weight",
            "self_attn.k_proj.weight" => "attn_k.weight",
            "self_attn.v_proj.weight" => "attn_v.weight",
            "self_attn.o_proj.weight" => "attn_output.weight",
            "mlp.gate_proj.weight" => "ffn_gate.weight",
            "mlp.up_proj.weight" => "ffn_up.weight",
            "mlp.down_proj.weight" => "ffn_down.weight",
            _ => throw new ArgumentException($"no GGUF name for {hf}"),
        };
        return $"blk.{parts[2]}.{rest}";
    }
}
