// ONNX Runtime as a peer in samples/Benchmarks: runs one exported graph (samples/OnnxPeer/export_onnx.py) on a 128-token
// input and prints, on one line, the optimisation level used, the median seconds per call and the first logits/outputs, so the benchmark can check
// that ONNX Runtime and the generated engine computed the same thing from the same weights.
//
//   dotnet publish samples/OnnxPeer -c Release -o artifacts/onnxpeer
//   artifacts/onnxpeer/OnnxPeer MODEL.onnx THREADS CALLS
//
// Sequential execution, THREADS intra-op threads, all graph optimisations; one warm-up call, then CALLS timed calls.
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
Console.WriteLine(level + " " + string.Join(' ', new[] { seconds[calls / 2] }.Concat(first.Select(v => (double)v)).Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
return 0;
