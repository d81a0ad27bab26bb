// Semantic search over a small corpus with all-MiniLM-L6-v2, as one NativeAOT executable: the model, its vocabulary
// and the corpus are embedded in the program (see SemanticSearch.csproj), and nothing else is needed at run time.
//
//   dotnet run -c Release --project samples/SemanticSearch -- "how do I change my password"
//   dotnet publish samples/SemanticSearch -c Release -o artifacts/search && artifacts/search/SemanticSearch "query"
//
// Options: --top N (default 5), --threads N (default: one per processor). Without a query it answers a few examples.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using Microsoft.Extensions.AI;
using SourceGenTransformer;
using SourceGenTransformer.Text;

var started = Stopwatch.StartNew();
int top = 5, threads = 0;
var queries = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--top" when i + 1 < args.Length && int.TryParse(args[i + 1], out int n) && n > 0: top = n; i++; break;
        case "--threads" when i + 1 < args.Length && int.TryParse(args[i + 1], out int t) && t > 0: threads = t; i++; break;
        case "--help" or "-h":
            Console.WriteLine("usage: SemanticSearch [--top N] [--threads N] [query ...]");
            return 0;
        default:
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                Console.Error.WriteLine($"unknown option or missing value: {args[i]} (see --help)");
                return 2;
            }
            queries.Add(args[i]);
            break;
    }
}
if (queries.Count == 0) queries.AddRange(["how do I change my password", "does it run without python?", "tallest mountain", "which animals have blue blood"]);

Assembly self = typeof(MiniLM).Assembly;
Stream Resource(string name) => self.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"The program holds no resource {name}; rebuild it.");

using Stream onnx = Resource("model.onnx");
using var model = MiniLM.Load(onnx, "model.onnx", new ModelOptions { Threads = threads });
using Stream vocab = Resource("vocab.txt");
using var generator = new TextEmbeddingGenerator(model, TextEmbeddingGenerator.CreateTokenizer(vocab), "all-MiniLM-L6-v2") { Truncate = true };
TimeSpan loaded = started.Elapsed;

string[] corpus;
using (var reader = new StreamReader(Resource("corpus.txt")))
    corpus = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var embedded = Stopwatch.StartNew();
GeneratedEmbeddings<Embedding<float>> passages = await generator.GenerateAsync(corpus);
TimeSpan corpusTime = embedded.Elapsed;

var query = new float[MiniLM.ModelDim];
bool first = true;
foreach (string q in queries)
{
    generator.Embed(q, query);
    // The embeddings are L2-normalised, so the cosine is the dot product.
    var scores = new (float Score, int Index)[corpus.Length];
    for (int i = 0; i < corpus.Length; i++)
        scores[i] = (System.Numerics.Tensors.TensorPrimitives.Dot(query, passages[i].Vector.Span), i);
    Array.Sort(scores, (a, b) => b.Score.CompareTo(a.Score));
    if (first)
    {
        Console.WriteLine($"# model loaded in {loaded.TotalMilliseconds:F0} ms, {corpus.Length} passages ({passages.Usage?.InputTokenCount} tokens) embedded in {corpusTime.TotalMilliseconds:F0} ms; first result after {started.Elapsed.TotalMilliseconds:F0} ms");
        first = false;
    }
    Console.WriteLine();
    Console.WriteLine($"> {q}");
    for (int k = 0; k < Math.Min(top, scores.Length); k++)
        Console.WriteLine($"  {scores[k].Score:F3}  {corpus[scores[k].Index]}");
}
return 0;

/// <summary>all-MiniLM-L6-v2 (sentence-transformers): mean pooling, normalised, 256 tokens as sentence-transformers truncates.</summary>
[Transformer(ModelFamily.Bert, Layers = 6, Heads = 12, ModelDim = 384, FeedForwardDim = 1536, VocabSize = 30522, MaxSequenceLength = 256)]
public partial class MiniLM;
