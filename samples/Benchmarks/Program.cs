// Benchmarks: generated engines against the generic baseline and the C reference, side by side in one run.
//
//   dotnet publish samples/Benchmarks -c Release -o artifacts/bench
//   artifacts/bench/Benchmarks [--runs N] [--out docs/benchmarks.md] [--llama2c PATH] [--onnx PATH] [--weights DIR] [--only NAME]
//   artifacts/bench/Benchmarks --weights DIR --write-weights
//
// Every row holds medians (and min..max) of N runs (default 5), with the measurements of one row interleaved run by
// run, so a ratio compares numbers taken under the same load. Random weights (fixed seed) are written to temporary
// files. Decode: 256 greedy tokens after one BOS token. Prompt: one Forward over 128 tokens. Time to first token: the
// prompt plus one decoded token. Allocation: bytes allocated on the calling thread per decoded token.
//
// --llama2c PATH runs llama2.c's run.c (built with -Ofast -march=native -fopenmp) on the same shapes with
// OMP_NUM_THREADS 1 and 2; docs/benchmarks.md says how to build it. Without it those columns are empty.
//
// --onnx PATH runs samples/OnnxPeer (ONNX Runtime, a separate process) on the graphs samples/OnnxPeer/export_onnx.py
// exported from the same weight files: those must persist, so pass --weights DIR (kept, reused) and fill it first with
// --write-weights. Prompts, the encoder, and decoding through the *-step.onnx graphs (an explicit KV cache fed back each step).
//
// --loop decode|prompt|encode|translate runs only that measurement, on all threads, over and over for 10 seconds, and prints
// its rate: for a profiler (perf record -e cpu-clock ... Benchmarks --only stories110M --loop prompt).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using SourceGenTransformer;

namespace Benchmarks;

public static class Program
{
    public const int DecodeTokens = 256, PromptTokens = 128;

    public static int Main(string[] args)
    {
        if (args is [BusyCore.Argument, string cpu]) return BusyCore.Spin(int.Parse(cpu, CultureInfo.InvariantCulture));
        if (args is [LoadMemory.Argument, string file]) return LoadMemory.Measure(file);
        if (args is [HfBench.Argument, ..]) return HfBench.Run(args);
        if (args is [ChatBench.Argument, ..]) return ChatBench.Run(args);
        if (args is [GgufBench.Argument, ..]) return GgufBench.Run(args);
        int runs = 5;
        string? output = null, llama2c = null, only = null, onnx = null, weights = null, loop = null;
        bool writeOnly = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--runs" && i + 1 < args.Length) runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--out" && i + 1 < args.Length) output = args[++i];
            else if (args[i] == "--llama2c" && i + 1 < args.Length) llama2c = Path.GetFullPath(args[++i]);
            else if (args[i] == "--only" && i + 1 < args.Length) only = args[++i];
            else if (args[i] == "--onnx" && i + 1 < args.Length) onnx = Path.GetFullPath(args[++i]);
            else if (args[i] == "--weights" && i + 1 < args.Length) weights = Path.GetFullPath(args[++i]);
            else if (args[i] == "--write-weights") writeOnly = true;
            else if (args[i] == "--loop" && i + 1 < args.Length && args[i + 1] is "decode" or "prompt" or "encode" or "translate") loop = args[++i];
            else { Console.Error.WriteLine("usage: Benchmarks [--runs N] [--out FILE] [--llama2c PATH-TO-run] [--onnx PATH-TO-OnnxPeer] [--weights DIR [--write-weights]] [--only NAME] [--loop decode|prompt|encode|translate] | --hf [--runs N] [--weights DIR] | --chat [--runs N] | --gguf --llamacpp PATH [--runs N] [--weights DIR]"); return 2; }
        }
        if (llama2c is not null && !File.Exists(llama2c)) { Console.Error.WriteLine($"error: no llama2.c binary at {llama2c}"); return 1; }
        if (onnx is not null && !File.Exists(onnx)) { Console.Error.WriteLine($"error: no OnnxPeer at {onnx}"); return 1; }
        if ((onnx is not null || writeOnly) && weights is null) { Console.Error.WriteLine("error: --onnx and --write-weights need --weights DIR (the exported graphs read those files)"); return 1; }
        if (writeOnly)
        {
            Directory.CreateDirectory(weights!);
            foreach (Shape shape in new[] { Shapes.S15, Shapes.S42, Shapes.S110, Shapes.Tiny }) RandomWeights.WriteLlama(shape, shape.File(weights!), weights!);
            Bench.WriteSeq2SeqBase(weights!);
            Console.Error.WriteLine($"wrote the random weights to {weights}");
            return 0;
        }
        int threads = Environment.ProcessorCount;

        var machine = new MachineLimits(Machine.Cpu(), Machine.ReadBandwidth(1), Machine.ReadBandwidth(threads), Machine.FmaPeak(1), Machine.FmaPeak(threads),
            Machine.FmaPeak(1, wide: true), Machine.FmaPeak(threads, wide: true));
        Console.Error.WriteLine($"machine: {machine}");
        string dir = weights ?? Directory.CreateTempSubdirectory("stg-bench-").FullName;
        if (weights is not null) Directory.CreateDirectory(dir);
        var decoders = new List<DecoderRow>();
        var encoders = new List<Seq2SeqRow>();
        var accuracy = new List<AccuracyRow>();
        var busy = new List<BusyRow>();
        var loads = new List<LoadRow>();
        var onnxLevels = new SortedSet<string>();
        bool Want(string name) => only is null || name.Contains(only, StringComparison.OrdinalIgnoreCase);
        try
        {
            Shape s15 = Shapes.S15, s42 = Shapes.S42, s110 = Shapes.S110, tiny = Shapes.Tiny;
            var bench = new Bench(dir, runs, threads, llama2c, onnx, reuseWeights: weights is not null, onnxLevels, loop);
            if (Want("stories15M")) decoders.Add(bench.Decoder(s15, "float32", o => Stories15M.Load(s15.File(dir), o), generic: true, peer: true));
            if (Want("stories15M") && threads > 1 && loop is null)
            {
                // One process spinning on the last CPU, then three (which llama2.c's spin barriers take far worse;
                // fewer tokens there, for both engines, or its runs would take minutes).
                busy.Add(bench.DecodeWithBusyCore(s15, o => Stories15M.Load(s15.File(dir), o), spinners: 1, tokens: DecodeTokens));
                busy.Add(bench.DecodeWithBusyCore(s15, o => Stories15M.Load(s15.File(dir), o), spinners: 3, tokens: 32));
            }
            if (Want("stories42M")) decoders.Add(bench.Decoder(s42, "float32", o => Stories42M.Load(s42.File(dir), o), generic: true, peer: true));
            if (Want("stories110M")) decoders.Add(bench.Decoder(s110, "float32", o => Stories110M.Load(s110.File(dir), o), generic: true, peer: true));
            if (Want("stories110M") && loop is null) loads.Add(LoadMemory.Run(s110, s110.File(dir)));
            if (Want("stories110M")) decoders.Add(bench.Decoder(s110, "bfloat16", o => Stories110MBf16.Load(s110.File(dir), o), generic: false, peer: false));
            if (Want("stories110M")) decoders.Add(bench.Decoder(s110, "int8 (Q8_0)", o => Stories110MInt8.Load(s110.File(dir), o), generic: false, peer: false));
            if (Want("tiny")) decoders.Add(bench.Decoder(tiny, "float32", o => Tiny.Load(tiny.File(dir), o), generic: true, peer: true));
            if (Want("base")) encoders.Add(bench.Seq2SeqBase());
            if (Want("story")) accuracy.AddRange(Accuracy.Measure());
        }
        finally
        {
            if (weights is null) Directory.Delete(dir, recursive: true);
        }

        string report = Report.Write(machine, decoders, busy, loads, encoders, accuracy, runs, threads, llama2c is not null, onnx is not null, onnxLevels);
        Console.WriteLine(report);
        if (output is not null)
        {
            // The Hugging Face shapes (Benchmarks --hf) and the embeddings (samples/EmbeddingBenchmarks) are written by
            // their own runs: kept as they are.
            string previous = File.Exists(output) ? File.ReadAllText(output) : "";
            foreach (string section in (string[])[HfBench.Section, GgufBench.Section, .. HfBench.Folders.Select(f => "generator-" + f), "embeddings"])
                if (Report.Section(previous, section) is { } kept) report = report.TrimEnd() + "\n\n" + kept + "\n";
            File.WriteAllText(output, report);
        }
        return 0;
    }
}

/// <summary>The decoder-only shapes measured.</summary>
internal static class Shapes
{
    public static readonly Shape S15 = new("stories15M", 6, 288, 768, 6, 32000, 256);
    public static readonly Shape S42 = new("stories42M", 8, 512, 1376, 8, 32000, 1024);
    public static readonly Shape S110 = new("stories110M", 12, 768, 2048, 12, 32000, 1024);
    public static readonly Shape Tiny = new("tiny", 4, 64, 192, 4, 512, 512);
}

/// <summary>A decoder-only Llama shape with random weights.</summary>
internal sealed record Shape(string Name, int Layers, int Dim, int Ffn, int Heads, int Vocab, int MaxSeq)
{
    public string File(string dir) => Path.Combine(dir, Name + ".safetensors");

    public string Llama2CFile(string dir) => Path.Combine(dir, Name + ".bin");

    /// <summary>Bytes of weights one decoded token reads in float32: every matrix, the classifier included, not the embedding.</summary>
    public long DecodeBytes => 4L * (Layers * (4L * Dim * Dim + 3L * Dim * Ffn) + (long)Vocab * Dim);
}

internal readonly record struct Stat(double Median, double Min, double Max)
{
    public static Stat Of(IEnumerable<double> values)
    {
        double[] v = values.OrderBy(x => x).ToArray();
        return v.Length == 0 ? new Stat(double.NaN, double.NaN, double.NaN) : new Stat(v[v.Length / 2], v[0], v[^1]);
    }

    public bool HasValue => !double.IsNaN(Median);

    public string Format(string format = "F0") => HasValue
        ? $"{Median.ToString(format, CultureInfo.InvariantCulture)} ({Min.ToString(format, CultureInfo.InvariantCulture)}..{Max.ToString(format, CultureInfo.InvariantCulture)})"
        : "–";
}

internal sealed record DecoderRow(Shape Shape, string Precision, long Parameters, Stat Decode1, Stat DecodeN, Stat Prompt1, Stat PromptN,
    Stat FirstToken, double AllocatedPerToken, long PeakRssBytes, Stat Generic, Stat Peer1, Stat PeerN, Stat OnnxPromptN, Stat OnnxDecodeN);

/// <summary>Decode tok/s of one shape while another process spins on the last CPU.</summary>
internal sealed record BusyRow(Shape Shape, int Spinners, int Tokens, Stat Decode1, Stat DecodeN, Stat Peer1, Stat PeerN);

internal sealed record Seq2SeqRow(string Name, long Parameters, Stat Encode1, Stat EncodeN, Stat Translate1, Stat TranslateN, double AllocatedPerToken, Stat OnnxEncodeN);

internal sealed record AccuracyRow(string Precision, int Positions, int Top1Agree, double MaxAbsLogitDiff, double MeanAbsLogitDiff, int GreedyEqual, int GreedyTotal);

/// <param name="onnxLevels">Receives the ONNX Runtime optimisation level each graph ran with ("all", or "basic" where all was refused).</param>
/// <param name="loop">Run only this measurement in a loop for a profiler ("decode", "prompt", "encode" or "translate"), then exit.</param>
internal sealed class Bench(string dir, int runs, int threads, string? llama2c, string? onnx, bool reuseWeights, SortedSet<string> onnxLevels, string? loop)
{
    private const double LoopSeconds = 10;

    /// <summary>Repeats <paramref name="work"/> for <see cref="LoopSeconds"/>, prints the rate and exits.</summary>
    private static void Loop(string what, double itemsPerCall, Action work)
    {
        var clock = Stopwatch.StartNew();
        int calls = 0;
        while (clock.Elapsed.TotalSeconds < LoopSeconds) { work(); calls++; }
        Console.Error.WriteLine($"{what}: {calls * itemsPerCall / clock.Elapsed.TotalSeconds:F0} tok/s over {calls} calls");
        Environment.Exit(0);
    }

    private const int DecodeTokens = Program.DecodeTokens, PromptTokens = Program.PromptTokens;
    private readonly HashSet<string> _written = [];



    public DecoderRow Decoder(Shape c, string precision, Func<ModelOptions, IDecoderModel> load, bool generic, bool peer)
    {
        if (_written.Add(c.Name) && !(reuseWeights && File.Exists(c.File(dir)))) RandomWeights.WriteLlama(c, c.File(dir), dir);
        IDecoderModel one = load(new ModelOptions { Threads = 1 });
        IDecoderModel all = load(new ModelOptions { Threads = threads });
        IDecoderSession s1 = one.CreateDecoderSession(), sN = all.CreateDecoderSession();
        int[] prompt = Enumerable.Range(0, PromptTokens).Select(i => 3 + (i * 7919) % (c.Vocab - 3)).ToArray();
        if (loop == "prompt") Loop($"{c.Name} {precision} prompt", PromptTokens, () => { sN.Reset(); sN.Forward(prompt); });
        if (loop == "decode") Loop($"{c.Name} {precision} decode", DecodeTokens, () => Decode(sN, out _));

        // Parallel and single-threaded paths must agree bit for bit.
        CheckSame(c.Name, s1.Forward(prompt.AsSpan(0, 20)).ToArray(), sN.Forward(prompt.AsSpan(0, 20)));
        for (int i = 0; i < 4; i++) CheckSame(c.Name, s1.Forward(i + 5).ToArray(), sN.Forward(i + 5));

        GenericLlama? baseline = null;
        if (generic)
        {
            baseline = new GenericLlama(c.File(dir), c.Layers, c.Dim, c.Ffn, c.Heads, c.Vocab, c.MaxSeq);
            s1.Reset();
            for (int i = 0; i < 4; i++)
            {
                float[] expected = s1.Forward(i + 1).ToArray();
                CheckClose($"{c.Name}: the generic baseline at position {i}", expected, baseline.Forward(i + 1));
            }
        }
        if (peer && llama2c is not null) RandomWeights.WriteLlama2C(c, c.Llama2CFile(dir));
        string onnxGraph = Path.Combine(dir, c.Name + ".onnx");
        bool onnxPeer = onnx is not null && precision == "float32" && File.Exists(onnxGraph);
        if (onnxPeer)
        {
            // ONNX Runtime must compute the same logits from the same weights before its time counts.
            s1.Reset();
            float[] ours = s1.Forward(prompt).ToArray();
            CheckClose($"{c.Name}: ONNX Runtime's prompt logits", ours, OnnxRun(onnxGraph, threads, 1, out _));
        }
        string onnxStep = Path.Combine(dir, c.Name + "-step.onnx");
        bool onnxDecode = onnx is not null && precision == "float32" && File.Exists(onnxStep);
        if (onnxDecode)
        {
            // The decode-step graph's first step (token 1 at position 0) must give our first decoded logits.
            s1.Reset();
            float[] ours = s1.Forward(1).ToArray();
            CheckClose($"{c.Name}: ONNX Runtime's first decode-step logits", ours, OnnxRun(onnxStep, threads, 1, out _));
        }

        var decode1 = new List<double>(); var decodeN = new List<double>(); var prompt1 = new List<double>(); var promptN = new List<double>();
        var first = new List<double>(); var gen = new List<double>(); var peer1 = new List<double>(); var peerN = new List<double>();
        var onnxPrompt = new List<double>();
        var onnxDecodeRates = new List<double>();
        double allocated = 0;
        for (int run = 0; run < runs; run++)
        {
            decode1.Add(Decode(s1, out _));
            decodeN.Add(Decode(sN, out allocated));
            prompt1.Add(Prompt(s1, prompt, out _));
            promptN.Add(Prompt(sN, prompt, out double firstMs));
            first.Add(firstMs);
            if (baseline is not null) gen.Add(Decode(baseline));
            if (peer && llama2c is not null)
            {
                peer1.Add(Llama2C(c, 1));
                peerN.Add(Llama2C(c, threads));
            }
            if (onnxPeer)
            {
                OnnxRun(onnxGraph, threads, 3, out double seconds);
                onnxPrompt.Add(PromptTokens / seconds);
            }
            if (onnxDecode)
            {
                OnnxRun(onnxStep, threads, 1, out double seconds);
                onnxDecodeRates.Add(DecodeTokens / seconds);
            }
        }
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        ((IDisposable)one).Dispose();
        ((IDisposable)all).Dispose();

        var row = new DecoderRow(c, precision, ParameterCount(c), Stat.Of(decode1), Stat.Of(decodeN), Stat.Of(prompt1), Stat.Of(promptN),
            Stat.Of(first), allocated, peak, Stat.Of(gen), Stat.Of(peer1), Stat.Of(peerN), Stat.Of(onnxPrompt), Stat.Of(onnxDecodeRates));
        Console.Error.WriteLine($"{c.Name} {precision}: decode {row.Decode1.Median:F0} / {row.DecodeN.Median:F0} tok/s (1 / {threads} threads), prompt {row.PromptN.Median:F0} tok/s, generic {row.Generic.Median:F0}, llama2.c {row.Peer1.Median:F0} / {row.PeerN.Median:F0}");
        return row;
    }

    /// <summary>
    /// Decode tok/s while <paramref name="spinners"/> other processes spin on the last CPU (<see cref="BusyCore"/>):
    /// ours on 1 and all threads, llama2.c on 1 and all OpenMP threads, each decoding <paramref name="tokens"/> tokens.
    /// </summary>
    public BusyRow DecodeWithBusyCore(Shape c, Func<ModelOptions, IDecoderModel> load, int spinners, int tokens)
    {
        IDecoderModel one = load(new ModelOptions { Threads = 1 });
        IDecoderModel all = load(new ModelOptions { Threads = threads });
        IDecoderSession s1 = one.CreateDecoderSession(), sN = all.CreateDecoderSession();
        var decode1 = new List<double>(); var decodeN = new List<double>(); var peer1 = new List<double>(); var peerN = new List<double>();
        var busy = new List<BusyCore>();
        try
        {
            for (int i = 0; i < spinners; i++) busy.Add(new BusyCore(Environment.ProcessorCount - 1));
            for (int run = 0; run < runs; run++)
            {
                decode1.Add(Decode(s1, out _, tokens));
                decodeN.Add(Decode(sN, out _, tokens));
                if (llama2c is null) continue;
                peer1.Add(Llama2C(c, 1, tokens));
                peerN.Add(Llama2C(c, threads, tokens));
            }
        }
        finally
        {
            foreach (BusyCore b in busy) b.Dispose();
        }
        ((IDisposable)one).Dispose();
        ((IDisposable)all).Dispose();
        var row = new BusyRow(c, spinners, tokens, Stat.Of(decode1), Stat.Of(decodeN), Stat.Of(peer1), Stat.Of(peerN));
        Console.Error.WriteLine($"{c.Name} with {spinners} spinning on the last CPU: decode {row.Decode1.Median:F0} / {row.DecodeN.Median:F0} tok/s (1 / {threads} threads), llama2.c {row.Peer1.Median:F0} / {row.PeerN.Median:F0}");
        return row;
    }

    private static long ParameterCount(Shape c) => (long)c.Vocab * c.Dim * 2 + c.Layers * (4L * c.Dim * c.Dim + 3L * c.Dim * c.Ffn + 2L * c.Dim) + c.Dim;

    /// <summary>A peer's outputs (its first ones, for ONNX Runtime) must equal ours within 1e-3 relative: the same model, or stop.</summary>
    private static void CheckClose(string what, float[] ours, ReadOnlySpan<float> theirs)
    {
        for (int j = 0; j < Math.Min(ours.Length, theirs.Length); j++)
            if (MathF.Abs(ours[j] - theirs[j]) > 1e-3f * MathF.Max(1f, MathF.Abs(ours[j])))
                throw new InvalidOperationException($"{what} differ from ours at {j}: {theirs[j]} vs {ours[j]}; not the same model");
    }

    private static void CheckSame(string name, float[] expected, ReadOnlySpan<float> actual)
    {
        for (int j = 0; j < expected.Length; j++)
            if (BitConverter.SingleToInt32Bits(expected[j]) != BitConverter.SingleToInt32Bits(actual[j]))
                throw new InvalidOperationException($"{name}: {Environment.ProcessorCount} threads and 1 thread differ at logit {j}: {actual[j]} vs {expected[j]}");
    }

    private static double Decode(IDecoderSession session, out double allocatedPerToken, int tokens = DecodeTokens)
    {
        session.Reset();
        int token = 1;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < tokens; i++) token = Sampling.Argmax(session.Forward(token));
        double rate = tokens / clock.Elapsed.TotalSeconds;
        allocatedPerToken = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)tokens;
        return rate;
    }

    private static double Decode(GenericLlama model)
    {
        model.Reset();
        int token = 1;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < DecodeTokens; i++) token = Sampling.Argmax(model.Forward(token));
        return DecodeTokens / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Prompt tok/s and first-token milliseconds: the medians of 3 calls, the statistic ONNX Runtime's peer reports
    /// for its calls too.
    /// </summary>
    private static double Prompt(IDecoderSession session, int[] prompt, out double firstTokenMs)
    {
        var seconds = new double[3];
        var firstMs = new double[3];
        for (int i = 0; i < 3; i++)
        {
            session.Reset();
            var clock = Stopwatch.StartNew();
            ReadOnlySpan<float> logits = session.Forward(prompt);
            seconds[i] = clock.Elapsed.TotalSeconds;
            session.Forward(Sampling.Argmax(logits));
            firstMs[i] = clock.Elapsed.TotalMilliseconds;
        }
        firstTokenMs = Stat.Of(firstMs).Median;
        return prompt.Length / Stat.Of(seconds).Median;
    }

    /// <summary>Encoder tok/s: the median of 3 calls (each output disposed, as ONNX Runtime's peer disposes its own).</summary>
    private static double Encode(TransformerBase model, int[] source)
    {
        var seconds = new double[3];
        for (int i = 0; i < 3; i++)
        {
            var clock = Stopwatch.StartNew();
            model.Encode(source).Dispose();
            seconds[i] = clock.Elapsed.TotalSeconds;
        }
        return source.Length / Stat.Of(seconds).Median;
    }

    /// <summary>Runs samples/OnnxPeer on a graph: the median seconds of <paramref name="calls"/> calls, and the first outputs.</summary>
    private float[] OnnxRun(string graph, int ortThreads, int calls, out double seconds)
    {
        var info = new ProcessStartInfo(onnx!, [graph, ortThreads.ToString(CultureInfo.InvariantCulture), calls.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using Process process = Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd();
        string err = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"OnnxPeer failed on {graph} (exit {process.ExitCode}): {err}");
        string[] words = output.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        onnxLevels.Add($"{Path.GetFileNameWithoutExtension(graph)}: {words[0]}");
        double[] values = words.Skip(1).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        seconds = values[0];
        return values.Skip(1).Select(v => (float)v).ToArray();
    }

    /// <summary>Runs llama2.c greedily for 256 steps and reads the tok/s it reports.</summary>
    private double Llama2C(Shape c, int ompThreads, int tokens = DecodeTokens)
    {
        var info = new ProcessStartInfo(llama2c!, [c.Llama2CFile(dir), "-t", "0", "-n", tokens.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = dir,
        };
        info.Environment["OMP_NUM_THREADS"] = ompThreads.ToString(CultureInfo.InvariantCulture);
        using Process process = Process.Start(info)!;
        process.StandardOutput.ReadToEnd();
        string err = process.StandardError.ReadToEnd();
        process.WaitForExit();
        const string marker = "achieved tok/s: ";
        int at = err.IndexOf(marker, StringComparison.Ordinal);
        if (process.ExitCode != 0 || at < 0) throw new InvalidOperationException($"llama2.c failed (exit {process.ExitCode}): {err}");
        return double.Parse(err.AsSpan(at + marker.Length).Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>128 greedy decoder steps from BosToken: tok/s, and bytes allocated per step on this thread.</summary>
    private static double Translate(TransformerBase.Session session, out double allocatedPerStep)
    {
        int token = TransformerBase.BosToken;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < PromptTokens; i++) token = Sampling.Argmax(session.Forward(token));
        double seconds = clock.Elapsed.TotalSeconds;
        allocatedPerStep = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)PromptTokens;
        return PromptTokens / seconds;
    }

    /// <summary>Writes the Transformer-base random weights to transformer-base.safetensors in <paramref name="folder"/>.</summary>
    public static void WriteSeq2SeqBase(string folder) =>
        RandomWeights.WriteSeq2Seq(Path.Combine(folder, "transformer-base.safetensors"), TransformerBase.EncoderLayers, TransformerBase.DecoderLayers,
            TransformerBase.ModelDim, TransformerBase.FeedForwardDim, TransformerBase.SourceVocabSize, TransformerBase.TargetVocabSize, TransformerBase.MaxSequenceLength);

    public Seq2SeqRow Seq2SeqBase()
    {
        string path = Path.Combine(dir, "transformer-base.safetensors");
        if (!(reuseWeights && File.Exists(path))) WriteSeq2SeqBase(dir);
        long parameters = TransformerBase.ParameterCount;
        using TransformerBase one = TransformerBase.Load(path, new ModelOptions { Threads = 1 });
        using TransformerBase all = TransformerBase.Load(path, new ModelOptions { Threads = threads });
        int[] source = Enumerable.Range(0, PromptTokens).Select(i => 4 + (i * 7919) % 30000).ToArray();
        source[0] = TransformerBase.BosToken;
        source[^1] = TransformerBase.EosToken;
        if (loop == "encode") Loop("transformer-base encode", source.Length, () => all.Encode(source).Dispose());
        if (loop == "translate")
        {
            TransformerBase.EncoderOutput memory = all.Encode(source);
            Loop("transformer-base translate", PromptTokens, () => Translate(all.CreateSession(memory), out _));
        }

        // Parallel and single-threaded encoders must agree bit for bit.
        using TransformerBase.EncoderOutput memory1 = one.Encode(source), memoryN = all.Encode(source);
        TransformerBase.Session check1 = one.CreateSession(memory1), checkN = all.CreateSession(memoryN);
        CheckSame("transformer-base", check1.Forward(TransformerBase.BosToken).ToArray(), checkN.Forward(TransformerBase.BosToken));
        string onnxGraph = Path.Combine(dir, "transformer-base.onnx");
        bool onnxPeer = onnx is not null && File.Exists(onnxGraph);
        if (onnxPeer)
        {
            CheckClose("transformer-base: ONNX Runtime's encoder output", memory1.Memory.ToArray(), OnnxRun(onnxGraph, threads, 1, out _));
        }
        // Outputs are disposed as ONNX Runtime's are, so the next Encode reuses their arrays as its arena reuses its memory.
        memory1.Dispose();
        memoryN.Dispose();
        var onnxEncode = new List<double>();

        var encode1 = new List<double>();
        var encodeN = new List<double>();
        var translate = new List<double>();
        var translate1 = new List<double>();
        double allocated = 0;
        for (int run = 0; run < runs; run++)
        {
            encode1.Add(Encode(one, source));
            encodeN.Add(Encode(all, source));
            TransformerBase.EncoderOutput memory = all.Encode(source);

            translate1.Add(Translate(one.CreateSession(memory), out _));
            translate.Add(Translate(all.CreateSession(memory), out allocated));
            memory.Dispose();
            if (onnxPeer)
            {
                OnnxRun(onnxGraph, threads, 3, out double onnxSeconds);
                onnxEncode.Add(PromptTokens / onnxSeconds);
            }
        }
        var row = new Seq2SeqRow("Transformer base (6 + 6 layers, d 512, 8 heads, ffn 2048, 32000 + 32000 vocab)", parameters,
            Stat.Of(encode1), Stat.Of(encodeN), Stat.Of(translate1), Stat.Of(translate), allocated, Stat.Of(onnxEncode));
        Console.Error.WriteLine($"transformer-base: encode {row.Encode1.Median:F0} / {row.EncodeN.Median:F0} tok/s (1 / {threads} threads), translate {row.Translate1.Median:F0} / {row.TranslateN.Median:F0} tok/s");
        return row;
    }
}
