using System;
using System.IO;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Benchmarks;

internal sealed record MachineLimits(string Cpu, double Bandwidth1, double BandwidthN, double Fma1, double FmaN, double Fma512x1, double Fma512xN);

/// <summary>Writes docs/benchmarks.md.</summary>
internal static class Report
{
    /// <summary>The section between <c>&lt;!-- name: ...--&gt;</c> and <c>&lt;!-- /name --&gt;</c> of a report, markers included, or null.</summary>
    public static string? Section(string text, string name)
    {
        int a = text.IndexOf("<!-- " + name + ":", StringComparison.Ordinal), b = text.IndexOf("<!-- /" + name + " -->", StringComparison.Ordinal);
        return a >= 0 && b > a ? text[a..(b + ("<!-- /" + name + " -->").Length)] : null;
    }

    /// <summary>Replaces (or appends) section <paramref name="name"/> of the report at <paramref name="path"/> with <paramref name="section"/>.</summary>
    public static void WriteSection(string path, string name, string section)
    {
        string text = File.Exists(path) ? File.ReadAllText(path) : "# Benchmarks\n";
        string? old = Section(text, name);
        text = old is null ? text.TrimEnd() + "\n\n" + section.Trim() + "\n" : text.Replace(old, section.Trim());
        File.WriteAllText(path, text);
    }

    private static string F(double v, string format = "F0") => v.ToString(format, CultureInfo.InvariantCulture);

    public static string Write(MachineLimits m, List<DecoderRow> decoders, List<BusyRow> busy, List<LoadRow> loads, List<Seq2SeqRow> encoders, List<AccuracyRow> accuracy, int runs, int threads, bool peer, bool onnx, SortedSet<string> onnxLevels)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Benchmarks");
        sb.AppendLine();
        sb.AppendLine("Written by the benchmark app; every number on this page comes from one run of:");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.AppendLine("dotnet publish samples/Benchmarks -c Release -o artifacts/bench");
        if (onnx)
        {
            sb.AppendLine("artifacts/bench/Benchmarks --weights artifacts/weights --write-weights");
            sb.AppendLine("/usr/bin/python3 samples/OnnxPeer/export_onnx.py artifacts/weights   # python3-torch, python3-numpy, python3-onnx");
            sb.AppendLine("dotnet publish samples/OnnxPeer -c Release -o artifacts/onnxpeer");
        }
        sb.AppendLine($"artifacts/bench/Benchmarks --runs {runs}{(peer ? " --llama2c path/to/llama2.c/run" : "")}{(onnx ? " --onnx artifacts/onnxpeer/OnnxPeer --weights artifacts/weights" : "")} --out docs/benchmarks.md");
        sb.AppendLine("```");
        sb.AppendLine();
        sb.AppendLine("NativeAOT built for this machine (`IlcInstructionSet=native`). Random weights, fixed seed. Each cell is the median");
        sb.AppendLine($"(min..max) of {runs} runs; within a row the runs of every column are interleaved, so ratios compare numbers taken");
        sb.AppendLine("under the same load. This is a shared 2-core VM: absolute numbers move by 20-40% from one run to the next, ratios far less.");
        sb.AppendLine();
        sb.AppendLine("## The machine, measured in the same run");
        sb.AppendLine();
        sb.AppendLine($"- CPU: {m.Cpu}");
        sb.AppendLine($"- Read bandwidth (512 MB in huge pages where the OS grants them, as the weights are; Vector256 sum, best of 7): {F(m.Bandwidth1, "F1")} GB/s on 1 thread, {F(m.BandwidthN, "F1")} GB/s on {threads}");
        sb.AppendLine($"- float32 FMA peak (12 register chains, best of 7), 256-bit vectors: {F(m.Fma1)} GFLOP/s on 1 thread, {F(m.FmaN)} GFLOP/s on {threads}");
        if (!double.IsNaN(m.Fma512x1))
            sb.AppendLine($"- the same with 512-bit vectors: {F(m.Fma512x1)} GFLOP/s on 1 thread, {F(m.Fma512xN)} GFLOP/s on {threads}");
        sb.AppendLine();

        sb.AppendLine("## Decoder-only: decode, prompt, first token");
        sb.AppendLine();
        sb.AppendLine("llama2.c's stories shapes with an untied classifier, the 110M shape again with bfloat16 and 8-bit (Q8_0) weights, and");
        sb.AppendLine("a tiny model that fits in cache. Decode: 256 greedy tokens. Prompt: one `Forward` over 128 tokens, the median of 3 calls per run as ONNX Runtime's peer reports its calls. \"generic\" is");
        sb.AppendLine("`samples/Benchmarks/GenericLlama.cs`, the same math over runtime-sized spans with `TensorPrimitives` (1 thread,");
        sb.AppendLine("float32), checked to give the same logits first. \"llama2.c\" is its `run.c` on the same shapes, built with");
        sb.AppendLine("`-Ofast -march=native -fopenmp`, at `OMP_NUM_THREADS` 1 and 2. Bandwidth use: bytes of weights one token reads,");
        sb.AppendLine($"times tok/s, over the read bandwidth measured above for the same thread count. \"ONNX Runtime\" is");
        sb.AppendLine("`samples/OnnxPeer` (Microsoft.ML.OnnxRuntime, its own process, sequential execution, intra-op threads as ours) on");
        sb.AppendLine("the graph `samples/OnnxPeer/export_onnx.py` exported from the same weight file, checked to give the same logits first;");
        sb.AppendLine("its decode runs the `*-step.onnx` graphs, one call per token with an explicit KV cache (past keys and values in,");
        sb.AppendLine("present ones out and fed back as they are, as Hugging Face's ONNX decoders do), checked on the first step's logits.");
        sb.AppendLine("Prompt GFLOP/s counts the layers' matrix products (2 flops per multiply-add), not attention or the classifier.");
        sb.AppendLine("Bandwidth use above 100% means part of the weights stayed in the last-level cache from one token to the next.");
        sb.AppendLine();
        sb.AppendLine($"| model | weights | decode tok/s, 1 thread | decode tok/s, {threads} threads | llama2.c tok/s, 1 thread | llama2.c tok/s, {threads} threads | ours / llama2.c ({threads} threads) | ONNX Runtime decode tok/s ({threads} threads) | bandwidth use ({threads} threads) | generic tok/s (1 thread) | ours / generic (1 thread) | prompt tok/s, 1 thread | prompt tok/s, {threads} threads | prompt GFLOP/s ({threads} threads) | ONNX Runtime prompt tok/s ({threads} threads) | first token ms | bytes allocated per token | peak RSS MB |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (DecoderRow r in decoders)
        {
            double bytesPerToken = r.Shape.DecodeBytes * (r.Precision.StartsWith("bfloat16", System.StringComparison.Ordinal) ? 0.5 : r.Precision.StartsWith("int8", System.StringComparison.Ordinal) ? (1 + 4.0 / 64) / 4 : 1);
            double bandwidthUse = bytesPerToken * r.DecodeN.Median / 1e9 / m.BandwidthN;
            double flopsPerToken = 2.0 * r.Shape.Layers * (4.0 * r.Shape.Dim * r.Shape.Dim + 3.0 * r.Shape.Dim * r.Shape.Ffn);
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Shape.Name} | {r.Precision} | {r.Decode1.Format()} | {r.DecodeN.Format()} | {r.Peer1.Format()} | {r.PeerN.Format()} | {(r.PeerN.HasValue ? F(r.DecodeN.Median / r.PeerN.Median, "F2") + "x" : "–")} | {r.OnnxDecodeN.Format()} | {F(100 * bandwidthUse)}% | {r.Generic.Format()} | {(r.Generic.HasValue ? F(r.Decode1.Median / r.Generic.Median, "F2") + "x" : "–")} | {r.Prompt1.Format()} | {r.PromptN.Format()} | {F(flopsPerToken * r.PromptN.Median / 1e9)} | {r.OnnxPromptN.Format()} | {F(r.FirstToken.Median, "F1")} | {F(r.AllocatedPerToken)} | {F(r.PeakRssBytes / 1e6)} |");
        }
        sb.AppendLine();
        sb.AppendLine($"Parallel and single-threaded logits were checked equal bit for bit for every row before timing (the benchmark stops if not).");
        if (onnxLevels.Count > 0)
            sb.AppendLine($"ONNX Runtime graph optimisation level per graph: {string.Join(", ", onnxLevels)} (\"basic\" where ONNX Runtime's extended fusions refused the exported graph).");
        sb.AppendLine();

        if (loads.Count > 0)
        {
            sb.AppendLine("## Memory while loading");
            sb.AppendLine();
            sb.AppendLine("Resident memory of a fresh process of this binary that loads the float32 110M shape (1 thread): before the load,");
            sb.AppendLine("its peak during the load (`VmHWM`, reset first), and after. Tensors are read with explicit reads straight into the");
            sb.AppendLine("model's arrays, a 1 MB chunk at a time (into panels, or converted to the declared precision): no mapping, no second");
            sb.AppendLine("copy. \"peak / model\" is the load's peak over what the loaded model keeps; \"peak / weights\" over parameters × 4 bytes.");
            sb.AppendLine();
            sb.AppendLine("| model | weights MB | RSS before MB | peak RSS MB | RSS after MB | peak / model | peak / weights | load s |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (LoadRow r in loads)
                sb.AppendLine($"| {r.Name} float32 | {F(r.WeightBytes / 1e6)} | {F(r.BaselineRss / 1e6)} | {F(r.PeakRss / 1e6)} | {F(r.AfterRss / 1e6)} | {F(r.PeakOverModel, "F3")} | {F(r.PeakOverWeights, "F3")} | {F(r.Seconds, "F2")} |");
            sb.AppendLine();
        }
        if (busy.Count > 0)
        {
            sb.AppendLine("## Decode with a core taken away");
            sb.AppendLine();
            sb.AppendLine("The same decode while other processes spin on the last CPU for the whole row (`BusyCore`: this binary run");
            sb.AppendLine("with `--spin-on-cpu N`), as a second program or a neighbour on a shared VM would take a core. Our idle workers");
            sb.AppendLine("spin briefly, then block, and a part no worker has started is run by the caller itself, so the caller never waits");
            sb.AppendLine("for a descheduled thread to begin its part; OpenMP's spin barriers wait for every thread at every loop. Both");
            sb.AppendLine("engines decode the same number of tokens in a row.");
            sb.AppendLine();
            sb.AppendLine($"| model | processes spinning on the last CPU | tokens | decode tok/s, 1 thread | decode tok/s, {threads} threads | llama2.c tok/s, 1 thread | llama2.c tok/s, {threads} threads | ours / llama2.c ({threads} threads) |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (BusyRow r in busy)
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r.Shape.Name} | {r.Spinners} | {r.Tokens} | {r.Decode1.Format()} | {r.DecodeN.Format()} | {r.Peer1.Format()} | {r.PeerN.Format()} | {(r.PeerN.HasValue ? F(r.DecodeN.Median / r.PeerN.Median, "F2") + "x" : "–")} |");
            sb.AppendLine();
        }

        if (encoders.Count > 0)
        {
            sb.AppendLine("## The original Transformer (Seq2Seq)");
            sb.AppendLine();
            sb.AppendLine("Encoder: one `Encode` of a 128-token source, the median of 3 calls per run for both engines (matrix products split by weight rows, attention by positions), which also");
            sb.AppendLine("projects every decoder layer's cross-attention keys and values; the ONNX graph computes the same outputs. Encoder GFLOP/s");
            sb.AppendLine("counts the encoder layers' matrix products only. Translation: 128 greedy decoder steps (`Session.Forward`) against that");
            sb.AppendLine("memory, the matrix-vector products split across the model's threads.");
            sb.AppendLine();
            sb.AppendLine($"| model | parameters | encoder tok/s, 1 thread | encoder tok/s, {threads} threads | encoder GFLOP/s ({threads} threads) | ONNX Runtime encoder tok/s ({threads} threads) | translation tok/s, 1 thread | translation tok/s, {threads} threads | bytes allocated per decoder step |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (Seq2SeqRow r in encoders)
            {
                double flops = 2.0 * 6 * (4.0 * 512 * 512 + 2.0 * 512 * 2048);
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r.Name} | {F(r.Parameters / 1e6, "F1")}M | {r.Encode1.Format()} | {r.EncodeN.Format()} | {(r.EncodeN.HasValue ? F(flops * r.EncodeN.Median / 1e9) : "–")} | {r.OnnxEncodeN.Format()} | {r.Translate1.Format()} | {r.TranslateN.Format()} | {F(r.AllocatedPerToken)} |");
            }
            sb.AppendLine();
        }

        Targets(sb, m, decoders, encoders, threads);

        if (accuracy.Count > 0)
        {
            sb.AppendLine("## What lighter weights cost");
            sb.AppendLine();
            sb.AppendLine("The story model trained in `models/storyteller` (real weights, stored as bfloat16), loaded in each precision and");
            sb.AppendLine("teacher-forced through its 20 reference sequences (prompt + PyTorch's greedy continuation, `greedy.json`). Top-1:");
            sb.AppendLine("positions whose argmax equals float32's. Greedy: free-running continuations identical to float32's (which equal PyTorch's).");
            sb.AppendLine();
            sb.AppendLine("| weights | positions | top-1 agreement with float32 | max abs logit difference | mean abs logit difference | greedy continuations equal |");
            sb.AppendLine("|---|---|---|---|---|---|");
            foreach (AccuracyRow a in accuracy)
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {a.Precision} | {a.Positions} | {a.Top1Agree}/{a.Positions} ({F(100.0 * a.Top1Agree / a.Positions, "F1")}%) | {a.MaxAbsLogitDiff:G3} | {a.MeanAbsLogitDiff:G3} | {a.GreedyEqual}/{a.GreedyTotal} |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    /// <summary>
    /// The targets set when this work was planned (issue 5), from numbers taken on another machine of this kind, next to
    /// what this run measured, and what each target would need of this machine's measured limits.
    /// </summary>
    private static void Targets(StringBuilder sb, MachineLimits m, List<DecoderRow> decoders, List<Seq2SeqRow> encoders, int threads)
    {
        DecoderRow? Row(string name, string precision) =>
            decoders.Find(r => r.Shape.Name == name && r.Precision.StartsWith(precision, System.StringComparison.Ordinal));
        string Rate(Stat s) => s.HasValue ? F(s.Median) : "not measured";
        double Flops(Shape c) => 2.0 * c.Layers * (4.0 * c.Dim * c.Dim + 3.0 * c.Dim * c.Ffn);
        string OfPeak(double gflops) => F(100 * gflops / m.FmaN) + "%";

        sb.AppendLine("## Against the planned targets");
        sb.AppendLine();
        sb.AppendLine("The targets were set from numbers measured on another machine of this kind (llama2.c at 790 / 270 / 97 tok/s");
        sb.AppendLine("with 2 threads, at 40-48 GB/s; ONNX Runtime with AVX-512 for prompts and the encoder). This run's own peer and");
        sb.AppendLine("limits are the fair yardstick; both are listed.");
        sb.AppendLine();
        sb.AppendLine($"| target | planned | this run ({threads} threads) | note |");
        sb.AppendLine("|---|---|---|---|");
        foreach ((string name, double planned) in new[] { ("stories15M", 790.0), ("stories42M", 270.0), ("stories110M", 97.0) })
        {
            DecoderRow? r = Row(name, "float32");
            if (r is null) continue;
            string peer = r.PeerN.HasValue ? $"llama2.c in this run: {F(r.PeerN.Median)} tok/s, ours / llama2.c {F(r.DecodeN.Median / r.PeerN.Median, "F2")}x" : "llama2.c not run";
            if (r.OnnxDecodeN.HasValue) peer += $"; ONNX Runtime {F(r.OnnxDecodeN.Median)} tok/s, ours / ONNX Runtime {F(r.DecodeN.Median / r.OnnxDecodeN.Median, "F2")}x";
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} float32 decode | ≥ {F(planned)} tok/s | {Rate(r.DecodeN)} tok/s | {peer}; {F(r.Shape.DecodeBytes * r.DecodeN.Median / 1e9, "F1")} GB/s of weights of {F(m.BandwidthN, "F1")} GB/s measured |");
        }
        DecoderRow? f32 = Row("stories110M", "float32"), bf16 = Row("stories110M", "bfloat16"), int8 = Row("stories110M", "int8");
        if (f32 is not null && bf16 is not null)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| stories110M bfloat16 decode | ≥ 1.7 × 97 = 165 tok/s | {Rate(bf16.DecodeN)} tok/s | {F(bf16.DecodeN.Median / f32.DecodeN.Median, "F2")}x our float32 in this run{(f32.PeerN.HasValue ? $", {F(bf16.DecodeN.Median / f32.PeerN.Median, "F2")}x llama2.c's float32" : "")} |");
        if (f32 is not null && int8 is not null)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| stories110M int8 decode | ≥ 3 × 97 = 291 tok/s | {Rate(int8.DecodeN)} tok/s | {F(int8.DecodeN.Median / f32.DecodeN.Median, "F2")}x our float32 in this run{(f32.PeerN.HasValue ? $", {F(int8.DecodeN.Median / f32.PeerN.Median, "F2")}x llama2.c's float32" : "")}; top-1 agreement below |");
        foreach ((string name, double planned) in new[] { ("stories15M", 18000.0), ("stories110M", 2100.0) })
        {
            DecoderRow? r = Row(name, "float32");
            if (r is null) continue;
            double need = Flops(r.Shape) * planned / 1e9, got = Flops(r.Shape) * r.PromptN.Median / 1e9;
            string ort = r.OnnxPromptN.HasValue ? $"ONNX Runtime in this run: {F(r.OnnxPromptN.Median)} tok/s, ours / ONNX Runtime {F(r.PromptN.Median / r.OnnxPromptN.Median, "F2")}x; " : "";
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} prompt (128 tokens) | ≥ {F(planned)} tok/s | {Rate(r.PromptN)} tok/s | {ort}matrix products alone: {F(got)} GFLOP/s = {OfPeak(got)} of the measured {threads}-thread FMA peak; the target needs {F(need)} GFLOP/s = {OfPeak(need)} of it |");
        }
        foreach (Seq2SeqRow e in encoders)
        {
            double perToken = 2.0 * 6 * (4.0 * 512 * 512 + 2.0 * 512 * 2048);
            double need = perToken * 8400 / 1e9, got = perToken * e.EncodeN.Median / 1e9;
            string ort = e.OnnxEncodeN.HasValue ? $"ONNX Runtime in this run: {F(e.OnnxEncodeN.Median)} tok/s, ours / ONNX Runtime {F(e.EncodeN.Median / e.OnnxEncodeN.Median, "F2")}x; " : "";
            sb.AppendLine(CultureInfo.InvariantCulture, $"| Transformer-base encoder (128 tokens) | ≥ 8400 tok/s | {Rate(e.EncodeN)} tok/s | {ort}{F(got)} GFLOP/s = {OfPeak(got)} of the FMA peak; the target needs {F(need)} GFLOP/s = {OfPeak(need)} of it |");
        }
        DecoderRow? tiny = Row("tiny", "float32");
        if (tiny is not null && tiny.Generic.HasValue)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| tiny model vs generic TensorPrimitives (1 thread) | ≥ 2x | {F(tiny.Decode1.Median / tiny.Generic.Median, "F2")}x | {Rate(tiny.Decode1)} against {Rate(tiny.Generic)} tok/s |");
        sb.AppendLine();
        if (!double.IsNaN(m.Fma512xN))
            sb.AppendLine($"512-bit vectors: the measured FMA peak is {F(m.Fma512xN)} GFLOP/s with them against {F(m.FmaN)} with 256-bit ones on {threads} threads" +
                (m.Fma512xN < 1.3 * m.FmaN ? " — no gain: this CPU executes a 512-bit FMA on both of its 256-bit pipes (as AMD Zen 4 does)." : "."));
        sb.AppendLine("A target that needs more than 100% of the measured FMA peak cannot be met on this machine by any float32 engine.");
        sb.AppendLine();
    }
}
