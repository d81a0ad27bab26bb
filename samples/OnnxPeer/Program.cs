// ONNX Runtime as a peer in samples/Benchmarks: runs one exported graph (samples/OnnxPeer/export_onnx.py) and prints, on
// one line, the optimisation level used, the median seconds per call and the first logits/outputs, so the benchmark can
// check that ONNX Runtime and the generated engine computed the same thing from the same weights.
//
//   dotnet publish samples/OnnxPeer -c Release -o artifacts/onnxpeer
//   artifacts/onnxpeer/OnnxPeer MODEL.onnx THREADS CALLS
//
// Sequential execution, THREADS intra-op threads, all graph optimisations; one warm-up call, then CALLS timed calls.
// A prompt or encoder graph takes a 128-token input. A decode-step graph (*-step.onnx) makes one call 256 greedy tokens
// after token 1, feeding each step's present keys and values back as the next step's past (the same OrtValues, not
// copies); the first logits printed are those of the first step.
using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: OnnxPeer MODEL.onnx THREADS CALLS");
    return 2;
}
string path = args[0];
int threads = int.Parse(args[1], CultureInfo.InvariantCulture), calls = int.Parse(args[2], CultureInfo.InvariantCulture);
const int Tokens = 128;
// All graph optimisations first. ONNX Runtime 1.31's extended fusions refuse some graphs torch 1.13 exports ("Node input
// ... is not a graph input, initializer, or output of a previous node"): then basic optimisations (constant folding,
// redundant nodes), with the same MLAS kernels. The level used is the first word printed.
InferenceSession? session = null;
string level = "all";
foreach (GraphOptimizationLevel optimisation in new[] { GraphOptimizationLevel.ORT_ENABLE_ALL, GraphOptimizationLevel.ORT_ENABLE_BASIC })
{
    var options = new SessionOptions
    {
        IntraOpNumThreads = threads,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        GraphOptimizationLevel = optimisation,
    };
    try
    {
        session = new InferenceSession(path, options);
        level = optimisation == GraphOptimizationLevel.ORT_ENABLE_ALL ? "all" : "basic";
        break;
    }
    catch (OnnxRuntimeException e) when (optimisation == GraphOptimizationLevel.ORT_ENABLE_ALL)
    {
        Console.Error.WriteLine($"all optimisations refused the graph ({e.Message.Split('\n')[0]}); using basic ones");
    }
}
using InferenceSession run = session!;
if (path.EndsWith("-step.onnx", StringComparison.Ordinal)) return Decode(run, level, calls);
bool encoder = path.EndsWith("transformer-base.onnx", StringComparison.Ordinal);
long[] ids = Enumerable.Range(0, Tokens).Select(i => (long)(encoder ? 4 + (i * 7919) % 30000 : 3 + (i * 7919) % (32000 - 3))).ToArray();
if (encoder)
{
    ids[0] = 2;  // BosToken of the benchmark's TransformerBase
    ids[^1] = 3; // EosToken
}
var input = new DenseTensor<long>(ids, [Tokens]);
var feeds = new[] { NamedOnnxValue.CreateFromTensor(run.InputMetadata.Keys.First(), input) };

float[] first;
using (var warm = run.Run(feeds))
    first = warm.First().AsEnumerable<float>().Take(8).ToArray();
var seconds = new double[calls];
for (int i = 0; i < calls; i++)
{
    var clock = Stopwatch.StartNew();
    using var outputs = run.Run(feeds);
    seconds[i] = clock.Elapsed.TotalSeconds;
}
Array.Sort(seconds);
Report(level, seconds, first);
return 0;

// 256 greedy tokens after token 1, one step per token: the median seconds of CALLS such runs, and the first step's logits.
static int Decode(InferenceSession run, string level, int calls)
{
    const int Steps = 256;
    var meta = run.InputMetadata["past_keys"];
    long layers = meta.Dimensions[0], kvDim = meta.Dimensions[2];
    string[] inputs = ["token", "position", "past_keys", "past_values"], outputs = ["logits", "present_keys", "present_values"];
    float[] first = [];
    using var runOptions = new RunOptions();
    double Once(bool keepFirst)
    {
        var empty = new float[0];
        OrtValue keys = OrtValue.CreateTensorValueFromMemory(empty, [layers, 0, kvDim]);
        OrtValue values = OrtValue.CreateTensorValueFromMemory(empty, [layers, 0, kvDim]);
        long[] token = [1], position = [0];
        using OrtValue tokenValue = OrtValue.CreateTensorValueFromMemory(token, [1]);
        using OrtValue positionValue = OrtValue.CreateTensorValueFromMemory(position, [1]);
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < Steps; step++)
        {
            position[0] = step;
            var results = run.Run(runOptions, inputs, [tokenValue, positionValue, keys, values], outputs);
            ReadOnlySpan<float> logits = results[0].GetTensorDataAsSpan<float>();
            if (keepFirst && step == 0) first = logits.Slice(0, 8).ToArray();
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            token[0] = best;
            results[0].Dispose();
            keys.Dispose();
            values.Dispose();
            keys = results[1];
            values = results[2];
        }
        double seconds = clock.Elapsed.TotalSeconds;
        keys.Dispose();
        values.Dispose();
        return seconds;
    }
    Once(keepFirst: true);
    var times = new double[calls];
    for (int i = 0; i < calls; i++) times[i] = Once(keepFirst: false);
    Array.Sort(times);
    Report(level, times, first);
    return 0;
}

// One line: the optimisation level, the median of the sorted seconds, and the first outputs.
static void Report(string level, double[] sortedSeconds, float[] first) =>
    Console.WriteLine(level + " " + string.Join(' ', new[] { sortedSeconds[sortedSeconds.Length / 2] }.Concat(first.Select(v => (double)v))
        .Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
