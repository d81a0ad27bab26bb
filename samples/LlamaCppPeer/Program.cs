// llama.cpp on a GGUF file, for samples/Benchmarks --gguf (a separate process, so the benchmark itself stays free of
// native dependencies). Two commands:
//
//   LlamaCppPeer quantize SRC.gguf DST.gguf F16|Q8_0|Q4_0|Q4_K_M
//       llama.cpp's llama-quantize (llama_model_quantize): every matrix in the type, token_embd and output included
//       (--pure, so Q4_0 and Q8_0 files hold one type; Q4_K_M keeps llama.cpp's own mix of Q4_K and Q6_K).
//   LlamaCppPeer run FILE THREADS DECODE PROMPT [check]
//       Decode: DECODE greedy tokens after token 1, one llama_decode per token. Prompt: one batch of PROMPT tokens
//       (ids 3 + 7919 i mod (vocab - 3), as the benchmark's own), the median of 3, its first token included. Prints one
//       line "decode-tok/s prompt-tok/s first-token-ms peak-rss-MB". With "check", llama.cpp runs with a float32 KV
//       cache (as ours is) and prints instead the greedy ids of the decode, then the logits after token 1.
using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Numerics.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;

NativeLibraryConfig.All.WithLogCallback((_, _) => { });
NativeApi.llama_empty_call(); // loads the native library (its CPU variant) before the first direct call
if (args is ["quantize", string source, string destination, string type])
{
    LLamaModelQuantizeParams p = LLamaModelQuantizeParams.Default();
    p.ftype = type switch
    {
        "F16" => LLamaFtype.MOSTLY_F16,
        "Q8_0" => LLamaFtype.MOSTLY_Q8_0,
        "Q4_0" => LLamaFtype.MOSTLY_Q4_0,
        "Q4_K_M" => LLamaFtype.MOSTLY_Q4_K_M,
        _ => throw new ArgumentException($"unknown type {type}"),
    };
    p.pure = type != "Q4_K_M";
    p.quantize_output_tensor = true;
    p.nthread = Environment.ProcessorCount;
    uint status = NativeApi.llama_model_quantize(source, destination, ref p);
    if (status != 0) { Console.Error.WriteLine($"llama_model_quantize failed on {source} ({status})"); return 1; }
    return 0;
}
if (args is not ["run", string file, string threadText, string decodeText, string promptText, ..])
{
    Console.Error.WriteLine("usage: LlamaCppPeer quantize SRC DST F16|Q8_0|Q4_0|Q4_K_M | run FILE THREADS DECODE PROMPT [check]");
    return 2;
}
int threads = int.Parse(threadText, CultureInfo.InvariantCulture);
int decode = int.Parse(decodeText, CultureInfo.InvariantCulture), promptLength = int.Parse(promptText, CultureInfo.InvariantCulture);
bool check = args.Length > 5 && args[5] == "check";
var parameters = new ModelParams(file)
{
    GpuLayerCount = 0, Threads = threads, BatchThreads = threads, ContextSize = (uint)Math.Max(decode + 1, promptLength + 1),
    BatchSize = (uint)Math.Max(promptLength, 1), UBatchSize = (uint)Math.Max(promptLength, 1),
};
if (check)
{
    parameters.TypeK = GGMLType.GGML_TYPE_F32;
    parameters.TypeV = GGMLType.GGML_TYPE_F32;
    parameters.FlashAttention = false; // its CPU flash attention rounds through float16
}
using LLamaWeights weights = LLamaWeights.LoadFromFile(parameters);
using LLamaContext context = weights.CreateContext(parameters);
SafeLLamaContextHandle handle = context.NativeHandle;
var batch = new LLamaBatch();

int Step(int token, int position)
{
    batch.Clear();
    batch.Add((LLamaToken)token, position, LLamaSeqId.Zero, true);
    if (handle.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed at position {position}");
    return TensorPrimitives.IndexOfMax<float>(handle.GetLogitsIth(0));
}

handle.MemoryClear(true);
if (check)
{
    var ids = new int[decode];
    int t = 1;
    float[] first = [];
    for (int i = 0; i < decode; i++)
    {
        t = ids[i] = Step(t, i);
        if (i == 0) first = handle.GetLogitsIth(0).ToArray();
    }
    Console.WriteLine(string.Join(' ', ids));
    Console.WriteLine(string.Join(' ', first.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
    return 0;
}

Step(1, 0); // warm-up: the first call sets up llama.cpp's compute graph and threads
handle.MemoryClear(true);
var clock = Stopwatch.StartNew();
int token = 1;
for (int i = 0; i < decode; i++) token = Step(token, i);
double decodeRate = decode / clock.Elapsed.TotalSeconds;

int vocab = weights.Vocab.Count;
int[] prompt = Enumerable.Range(0, promptLength).Select(i => 3 + (i * 7919) % (vocab - 3)).ToArray();
var seconds = new double[3];
var firstMs = new double[3];
for (int run = 0; run < 3; run++)
{
    handle.MemoryClear(true);
    batch.Clear();
    for (int i = 0; i < prompt.Length; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
    clock.Restart();
    if (handle.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed on the prompt");
    int next = TensorPrimitives.IndexOfMax<float>(handle.GetLogitsIth(prompt.Length - 1));
    seconds[run] = clock.Elapsed.TotalSeconds;
    Step(next, prompt.Length);
    firstMs[run] = clock.Elapsed.TotalMilliseconds;
}
Array.Sort(seconds);
Array.Sort(firstMs);
long rss = Process.GetCurrentProcess().PeakWorkingSet64;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{decodeRate:F1} {promptLength / seconds[1]:F1} {firstMs[1]:F2} {rss / 1e6:F0}"));
return 0;
