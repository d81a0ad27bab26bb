using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;

namespace SourceGenTransformer.Generator.Emit.Api;

/// <summary>
/// What every model's public class has, whatever its family: the remarks table, the constants, the weights and worker
/// pool it owns (Threads, Dispose), and Load. Written into the user's namespace, so every name is global::-qualified.
/// </summary>
internal static class ModelApi
{
    /// <summary>One constant of the model: its declaration (type and name), its value, and its doc line.</summary>
    internal readonly record struct Constant(string Declaration, string Value, string Doc);

    /// <summary>The constants the public class declares; the engine's shape class declares the same and a few of its own.</summary>
    public static List<Constant> PublicConstants(ModelShape s)
    {
        var c = new List<Constant>();
        void Add(string declaration, string value, string doc) => c.Add(new Constant(declaration, value, doc));
        if (s.Family == Family.Seq2Seq)
        {
            Add("int EncoderLayers", I(s.EncoderLayers), "Blocks in the encoder stack.");
            Add("int DecoderLayers", I(s.DecoderLayers), "Blocks in the decoder stack.");
        }
        else
        {
            Add("int Layers", I(s.Layers), "Blocks in the stack.");
        }
        Add("int Heads", I(s.Heads), "Attention (query) heads.");
        if (s.IsDecoderOnly)
            Add("int KvHeads", I(s.KvHeads), "Key/value heads; each is shared by Heads / KvHeads query heads.");
        Add("int HeadDim", I(s.HeadDim), s.HeadDimOverride > 0 ? "Width of one head: the config.json's head_dim." : "Width of one head: ModelDim / Heads.");
        if (s.QueryDim != s.ModelDim)
            Add("int QueryDim", I(s.QueryDim), "Width of the queries of all heads, and of the attention output: Heads * HeadDim.");
        if (s.IsDecoderOnly)
            Add("int KvDim", I(s.KvDim), "Width of the keys (and values) of one position: KvHeads * HeadDim.");
        Add("int ModelDim", I(s.ModelDim), "The model width, d_model.");
        Add("int FeedForwardDim", I(s.FeedForwardDim), "Hidden width of the feed-forward block.");
        if (s.Family == Family.Seq2Seq)
        {
            Add("int SourceVocabSize", I(s.SourceVocabSize), "Source vocabulary size.");
            Add("int TargetVocabSize", I(s.TargetVocabSize), "Target vocabulary size: the length of the logits.");
        }
        else
        {
            Add("int VocabSize", I(s.VocabSize), s.Family == Family.Bert ? "Vocabulary size." : "Vocabulary size: the length of the logits.");
        }
        Add("int MaxSequenceLength", I(s.MaxSequenceLength), s.Family == Family.Bert ? "The longest sequence Encode takes." : "The most tokens a session holds.");
        if (s.Family != Family.Bert)
        {
            Add("int BosToken", I(s.BosToken), s.Family == Family.Seq2Seq ? "The target token decoding starts from." : "Beginning-of-sequence token id, or -1 for none.");
            Add("int EosToken", I(s.EosToken), s.IsDecoderOnly ? "The first of EosTokens, or -1 for none." : "End-of-sequence token id, which ends generation, or -1 for none.");
        }
        Add("int PadToken", I(s.PadToken), s.Family == Family.Seq2Seq ? "Padding token id: source positions holding it are masked out of attention; -1 for none." : "Padding token id, or -1 for none.");
        if (!s.IsDecoderOnly)
            Add("bool NormFirst", s.NormFirst ? "true" : "false", "Pre-norm (true) or the paper's post-norm (false).");
        Add("float NormEpsilon", F(s.NormEpsilon), "Epsilon of the norms.");
        if (s.Positional == Positional.Rotary)
            Add("float RopeTheta", F(s.RopeTheta), "The rotary base.");
        if (s.Gemma)
            Add("float EmbeddingScale", F((float)System.Math.Sqrt(s.ModelDim)), "Gemma's embedding scale, sqrt(ModelDim) in float32.");
        if (s.SlidingWindow > 0)
            Add("int SlidingWindow", I(s.SlidingWindow), "The attention window: a query attends to at most this many of the latest positions, itself included.");
        if (s.IsDecoderOnly)
            Add("bool TiedEmbeddings", s.TiedEmbeddings ? "true" : "false", "Whether the classifier is the token embedding.");
        if (s.Family == Family.Bert)
        {
            Add("int TypeVocabSize", I(s.TypeVocabSize), "Rows of the token-type table: token types lie in [0, TypeVocabSize).");
            Add("global::SourceGenTransformer.EmbeddingPooling Pooling", "global::SourceGenTransformer.EmbeddingPooling." + s.Pooling,
                "How Embed pools the last hidden states: " + (s.Pooling switch { Pooling.Cls => "the first token's ([CLS]).", Pooling.Max => "the largest value per dimension over the kept tokens.", _ => "their mean over the kept tokens." }));
            Add("bool NormalizeEmbeddings", s.NormalizeEmbeddings ? "true" : "false", "Whether Embed divides the pooled vector by its L2 norm.");
        }
        Add("long ParameterCount", L(s.ParameterCount), "Parameters in the weight file.");
        return c;
    }

    public static void EmitClassRemarks(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        void Row(string term, string description) => w.Line($"/// <item><term>{term}</term><description>{description}</description></item>");
        w.Line("/// <remarks>");
        w.Line($"/// A {s.Family} Transformer whose engine SourceGenTransformer generated for these shapes:");
        w.Line("/// <list type=\"table\">");
        if (s.Family == Family.Seq2Seq) Row("layers (encoder / decoder)", $"{I(s.EncoderLayers)} / {I(s.DecoderLayers)}");
        else Row("layers", I(s.Layers));
        Row("model dim", I(s.ModelDim));
        Row("heads (query / key-value)", $"{I(s.Heads)} / {I(s.KvHeads)}");
        Row("head dim", I(s.HeadDim));
        Row("feed-forward dim", I(s.FeedForwardDim));
        if (s.Family == Family.Seq2Seq) Row("vocabulary (source / target)", $"{I(s.SourceVocabSize)} / {I(s.TargetVocabSize)}");
        else Row("vocabulary", I(s.VocabSize));
        Row("max sequence length", I(s.MaxSequenceLength));
        Row("positions", s.Positional == Positional.Rotary ? $"Rotary (theta {Literal(s.RopeTheta)}, rotate-half)" : s.Positional.ToString());
        string placement = s.IsDecoderOnly ? "" : s.NormFirst ? ", pre-norm" : ", post-norm";
        Row("normalisation", $"{s.Normalization} (epsilon {Literal(s.NormEpsilon)}{placement})");
        Row("activation", s.Activation.ToString());
        if (s.IsDecoderOnly) Row("embeddings", s.TiedEmbeddings ? "tied (the classifier is the token embedding)" : "untied (separate classifier)");
        Row("parameters", L(s.ParameterCount));
        w.Line("/// </list>");
        w.Line($"/// The engine itself (weights, forward pass, kernels) is <c>{spec.EngineNamespace}.{spec.EnginePrefix}*</c>, in {spec.HintName("Kernels")}.");
        w.Line("/// </remarks>");
    }

    public static void EmitConstants(SourceWriter w, ModelShape s)
    {
        foreach (Constant c in PublicConstants(s))
        {
            w.Line($"/// <summary>{c.Doc}</summary>");
            w.Line($"public const {c.Declaration} = {c.Value};");
        }
        w.Line();
    }

    /// <summary>The weights and the worker pool every model owns: fields, constructor, Threads and Dispose.</summary>
    /// <param name="afterDispose">What a disposed model's users see, completed by "ObjectDisposedException".</param>
    public static void EmitPoolMembers(SourceWriter w, ModelSpec spec, string afterDispose)
    {
        w.Line($"private readonly {spec.EngineType("Weights")} _weights;");
        w.Line($"private readonly {Global.Runtime}WorkerPool _pool;");
        w.Line();
        using (w.Block($"private {spec.ClassName}({spec.EngineType("Weights")} weights, {Global.Runtime}WorkerPool pool)"))
        {
            w.Line("_weights = weights;");
            w.Line("_pool = pool;");
        }
        w.Line();
        w.Line($"/// <summary>Threads the kernels run on, the caller's included (<see cref=\"{Global.Library}ModelOptions.Threads\"/>).</summary>");
        w.Line("public int Threads => _pool.Threads;");
        w.Line();
        w.Line($"/// <summary>Stops the model's worker threads. {afterDispose} <see cref=\"global::System.ObjectDisposedException\"/>.</summary>");
        w.Line("public void Dispose() => _pool.Dispose();");
        w.Line();
    }

    /// <summary>Load(path) and Load(path, options): open the weight file by its content, read the Weights, start the pool.</summary>
    /// <param name="summary">The summary's lines (what the family reads).</param>
    /// <param name="llama2C">Whether the family also reads llama2.c checkpoints (Llama).</param>
    public static void EmitLoad(SourceWriter w, ModelSpec spec, string[] summary, bool llama2C, bool onnx = false)
    {
        string cls = spec.ClassName;
        string formats = $"{Global.Library}WeightFormats.Safetensors" + (llama2C ? $" | {Global.Library}WeightFormats.Llama2C | {Global.Library}WeightFormats.Gguf" : "")
            + (onnx ? $" | {Global.Library}WeightFormats.Onnx" : "");
        void Doc(bool withOptions)
        {
            w.Line("/// <summary>");
            foreach (string line in summary) w.Line("/// " + line);
            w.Line("/// </summary>");
            w.Line(onnx
                ? "/// <param name=\"path\">The weight file (safetensors or ONNX, told apart by their bytes), a sharded model's model.safetensors.index.json, or the folder holding one (symbolic links are followed).</param>"
                : "/// <param name=\"path\">The weight file, a sharded model's model.safetensors.index.json, or the folder holding either (symbolic links are followed).</param>");
            if (withOptions) w.Line("/// <param name=\"options\">How the model runs and loads (threads, the finite-weights check); null for the defaults.</param>");
            w.Line("/// <exception cref=\"global::System.IO.FileNotFoundException\">The file does not exist.</exception>");
            w.Line($"/// <exception cref=\"{Global.Library}ModelLoadException\">The file is malformed or truncated, a tensor is missing, has the wrong shape or");
            w.Line("/// a non-finite value, or the file holds a tensor this class does not read; the message names the file, the tensor and the numbers.</exception>");
            w.Line(Global.GeneratedCode);
        }
        Doc(withOptions: false);
        w.Line($"public static {cls} Load(string path) => Load(path, null);");
        w.Line();
        Doc(withOptions: true);
        using (w.Block($"public static {cls} Load(string path, {Global.Library}ModelOptions? options)"))
        {
            w.Line("options?.Validate();");
            if (onnx)
            {
                w.Line("// A sentence-transformers folder's 1_Pooling/config.json and modules.json must agree with the declaration.");
                w.Line($"{Global.Library}SentenceTransformersConfig.Check(path, nameof({cls}), Pooling, NormalizeEmbeddings);");
            }
            w.Line($"using {Global.Library}TensorSource file = {Global.Library}WeightFile.Open(path, options, Formats);");
            w.Line("return Create(file, options);");
        }
        w.Line();

        w.Line("/// <summary>");
        w.Line("/// Loads the weights from a seekable stream, by the same rules as a file: a model embedded in the program as a manifest");
        w.Line("/// resource, for one self-contained executable. The stream is read while loading and not disposed.");
        w.Line("/// </summary>");
        w.Line("/// <param name=\"stream\">The weights (one file's bytes; a sharded model loads from its folder).</param>");
        w.Line("/// <param name=\"name\">What errors call the weights (a resource or file name).</param>");
        w.Line("/// <param name=\"options\">How the model runs and loads; null for the defaults.</param>");
        w.Line($"/// <exception cref=\"{Global.Library}ModelLoadException\">The bytes are malformed or truncated, or do not hold the tensors and shapes this class declares.</exception>");
        w.Line(Global.GeneratedCode);
        using (w.Block($"public static {cls} Load(global::System.IO.Stream stream, string name, {Global.Library}ModelOptions? options = null)"))
        {
            w.Line("options?.Validate();");
            w.Line($"using {Global.Library}TensorSource file = {Global.Library}WeightFile.Open(stream, name, options, Formats);");
            w.Line("return Create(file, options);");
        }
        w.Line();

        w.Line("/// <summary>The weight formats this family reads.</summary>");
        w.Line($"private const {Global.Library}WeightFormats Formats =");
        string[] parts = formats.Split([" | "], System.StringSplitOptions.None);
        for (int i = 0; i < parts.Length; i++) w.Line($"    {parts[i]}{(i + 1 < parts.Length ? " |" : ";")}");
        w.Line();
        w.Line("/// <summary>Reads the weights from an opened file and starts the worker pool: what every Load ends with.</summary>");
        using (w.Block($"private static {cls} Create({Global.Library}TensorSource file, {Global.Library}ModelOptions? options)"))
        {
            w.Line($"var weights = {spec.EngineType("Weights")}.Read(file);");
            w.Line($"return new {cls}(weights, new {Global.Runtime}WorkerPool(options?.Threads ?? 0, nameof({cls})));");
        }
        w.Line();
    }
}
