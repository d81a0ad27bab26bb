using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.Names;

namespace SourceGenTransformer.Generator.Emit;

/// <summary>
/// Writes the Weights class: one array per tensor kind, layers stacked, and the reader that fills it by the
/// family's names. Matrices are kept in the declared precision (float32, bfloat16 or Q8_0 int8 with scales);
/// embeddings and norms stay float32.
/// </summary>
internal static class WeightsEmitter
{
    private readonly record struct Tensor(string Field, string Shape, string Size, string Doc, bool IsMatrix = false);

    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        string precision = s.Precision switch
        {
            Precision.BFloat16 => "bfloat16 (float32's upper half, rounded to nearest even)",
            Precision.Int8 => $"Q8_0 int8, one float32 scale per {s.QuantGroup} consecutive weights of a row (the <c>...Scale</c> arrays)",
            _ => "float32",
        };
        string layout = s.Precision == Precision.Float32 ? " Float32 matrices of a multiple of 32 rows are stored in panels (WeightPacking.ToPanels)." : "";
        w.Line($"/// <summary>The model's weights, row-major, layers stacked; every matrix is (out, in), so xout = W @ x. Matrices are {precision}; embeddings and norms float32.{layout}</summary>");
        w.Line(GeneratedCode);
        using (w.Block("internal sealed class Weights"))
        {
            Tensor[] tensors = s.Family == Family.Llama ? LlamaTensors() : Gpt2Tensors();
            foreach (Tensor t in tensors)
            {
                if (t.IsMatrix) MatrixField(w, s, t.Field, t.Size, $"{t.Shape} {t.Doc}");
                else w.Line($"public readonly float[] {t.Field} = new float[{t.Size}]; // {t.Shape} {t.Doc}");
            }
            if (s.TiedEmbeddings && s.Precision == Precision.Float32)
                w.Line("public float[] Classifier => TokenEmbedding; // (vocab, dim) tied: the token embedding");
            else
                MatrixField(w, s, "Classifier", "VocabSize * ModelDim", s.TiedEmbeddings ? "(vocab, dim) tied: a copy of the token embedding in the matrices' precision" : "(vocab, dim)");
            w.Line();

            w.Line("/// <summary>Reads every tensor, checking its shape against the declaration.</summary>");
            using (w.Block("public static Weights Read(global::SourceGenTransformer.TensorSource file)"))
            {
                EmitDeclare(w, spec);
                w.Line("var w = new Weights();");
                if (s.Precision != Precision.Float32)
                    w.Line("// Matrices are converted to the declared precision as they are read, a chunk at a time.");
                if (s.Family == Family.Llama) EmitLlamaRead(w, s);
                else EmitGpt2Read(w, s);
                w.Line(ThrowIfUnread);
                w.Line("return w;");
            }
        }
        w.Line();
    }

    /// <summary>
    /// The first statement of every family's <c>Weights.Read</c>: tells the file what the class declares, so that a file
    /// whose own header describes the model (llama2.c) checks it, and so that errors name the class.
    /// </summary>
    public static void EmitDeclare(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        string layers = s.Family == Family.Seq2Seq
            ? $"EncoderLayers = {I(s.EncoderLayers)}, DecoderLayers = {I(s.DecoderLayers)}"
            : $"Layers = {I(s.Layers)}";
        string vocab = I(s.Family == Family.Seq2Seq ? s.TargetVocabSize : s.VocabSize);
        w.Line("// What this class declares: the file checks its own header against it, and errors name the class.");
        w.Line($"file.Declare(new global::SourceGenTransformer.Runtime.DeclaredModel {{ ClassName = \"{spec.ClassName}\", Family = global::SourceGenTransformer.ModelFamily.{s.Family}, {layers},");
        w.Line($"    Heads = {I(s.Heads)}, KvHeads = {I(s.KvHeads)}, ModelDim = {I(s.ModelDim)}, FeedForwardDim = {I(s.FeedForwardDim)}, VocabSize = {vocab},");
        w.Line($"    MaxSequenceLength = {I(s.MaxSequenceLength)}, TiedEmbeddings = {(s.TiedEmbeddings ? "true" : "false")} }});");
    }

    /// <summary>
    /// The last statement of every <c>Weights.Read</c>: a tensor of the file that the class did not read (layers beyond
    /// its own, a classifier a tied declaration ignores, another family's weights) is an error, not a silently different model.
    /// </summary>
    public const string ThrowIfUnread = "file.ThrowIfUnread(); // every tensor of the file is one this class reads (or a known harmless buffer)";

    private static string I(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The statement that reads float32 matrix <paramref name="name"/> of (<paramref name="rows"/>,
    /// <paramref name="cols"/>) into <paramref name="destination"/>: in panels when its <paramref name="rowCount"/> rows
    /// make it one (<see cref="ModelShape.Panels"/>), else as it is.
    /// </summary>
    public static string ReadMatrix(ModelShape s, int rowCount, string name, string rows, string cols, string destination, bool transposed = false)
    {
        if (s.Panels(rowCount))
            return $"file.ReadPanelsInto({name}, {rows}, {cols}, {destination}{(transposed ? ", transposed: true" : "")});";
        return transposed
            ? $"file.ReadTransposedInto({name}, {rows}, {cols}, {destination});"
            : $"file.ReadInto({name}, new long[] {{ {rows}, {cols} }}, {destination});";
    }

    private static void MatrixField(SourceWriter w, ModelShape s, string field, string size, string doc)
    {
        string type = MatrixElement(s.Precision);
        w.Line($"public readonly {type}[] {field} = global::SourceGenTransformer.Runtime.WeightMemory.Allocate<{type}>({size}); // {doc}");
        if (s.Precision == Precision.Int8)
            w.Line($"public readonly float[] {field}Scale = new float[({size}) / {s.QuantGroup}]; // one scale per {s.QuantGroup} weights of {field}");
    }

    /// <summary>The element type of a matrix in the given precision.</summary>
    public static string MatrixElement(Precision p) => p switch { Precision.BFloat16 => "ushort", Precision.Int8 => "sbyte", _ => "float" };

    /// <summary>The kernel parameters a matrix takes: the values and, for Int8, the scales.</summary>
    public static string MatrixParameters(Precision p) => p == Precision.Int8
        ? "global::System.ReadOnlySpan<sbyte> w, global::System.ReadOnlySpan<float> scales"
        : $"global::System.ReadOnlySpan<{MatrixElement(p)}> w";

    /// <summary>The arguments that pass <paramref name="count"/> weights of matrix <paramref name="field"/> from <paramref name="offset"/>.</summary>
    public static string MatrixArguments(ModelShape s, string field, string offset, string count)
    {
        string values = $"new global::System.ReadOnlySpan<{MatrixElement(s.Precision)}>({field}, {offset}, {count})";
        if (s.Precision != Precision.Int8) return values;
        int g = s.QuantGroup;
        return $"{values}, new global::System.ReadOnlySpan<float>({field}Scale, ({offset}) / {g}, ({count}) / {g})";
    }

    private static Tensor[] LlamaTensors() =>
    [
        new("TokenEmbedding", "(vocab, dim)", "VocabSize * ModelDim", "model.embed_tokens"),
        new("AttentionNorm", "(layer, dim)", "Layers * ModelDim", "input_layernorm"),
        new("Wq", "(layer, dim, dim)", "Layers * ModelDim * ModelDim", "self_attn.q_proj", true),
        new("Wk", "(layer, kv_dim, dim)", "Layers * KvDim * ModelDim", "self_attn.k_proj", true),
        new("Wv", "(layer, kv_dim, dim)", "Layers * KvDim * ModelDim", "self_attn.v_proj", true),
        new("Wo", "(layer, dim, dim)", "Layers * ModelDim * ModelDim", "self_attn.o_proj", true),
        new("FfnNorm", "(layer, dim)", "Layers * ModelDim", "post_attention_layernorm"),
        new("WGate", "(layer, ffn, dim)", "Layers * FeedForwardDim * ModelDim", "mlp.gate_proj", true),
        new("WUp", "(layer, ffn, dim)", "Layers * FeedForwardDim * ModelDim", "mlp.up_proj", true),
        new("WDown", "(layer, dim, ffn)", "Layers * ModelDim * FeedForwardDim", "mlp.down_proj", true),
        new("FinalNorm", "(dim)", "ModelDim", "model.norm"),
    ];

    private static Tensor[] Gpt2Tensors() =>
    [
        new("TokenEmbedding", "(vocab, dim)", "VocabSize * ModelDim", "wte"),
        new("PositionEmbedding", "(seq, dim)", "MaxSequenceLength * ModelDim", "wpe, first MaxSequenceLength rows"),
        new("Ln1Weight", "(layer, dim)", "Layers * ModelDim", "ln_1.weight"),
        new("Ln1Bias", "(layer, dim)", "Layers * ModelDim", "ln_1.bias"),
        new("Wqkv", "(layer, 3 * dim, dim)", "Layers * 3 * ModelDim * ModelDim", "attn.c_attn.weight, transposed", true),
        new("Bqkv", "(layer, 3 * dim)", "Layers * 3 * ModelDim", "attn.c_attn.bias"),
        new("Wo", "(layer, dim, dim)", "Layers * ModelDim * ModelDim", "attn.c_proj.weight, transposed", true),
        new("Bo", "(layer, dim)", "Layers * ModelDim", "attn.c_proj.bias"),
        new("Ln2Weight", "(layer, dim)", "Layers * ModelDim", "ln_2.weight"),
        new("Ln2Bias", "(layer, dim)", "Layers * ModelDim", "ln_2.bias"),
        new("WFc", "(layer, ffn, dim)", "Layers * FeedForwardDim * ModelDim", "mlp.c_fc.weight, transposed", true),
        new("BFc", "(layer, ffn)", "Layers * FeedForwardDim", "mlp.c_fc.bias"),
        new("WProj", "(layer, dim, ffn)", "Layers * ModelDim * FeedForwardDim", "mlp.c_proj.weight, transposed", true),
        new("BProj", "(layer, dim)", "Layers * ModelDim", "mlp.c_proj.bias"),
        new("LnFWeight", "(dim)", "ModelDim", "ln_f.weight"),
        new("LnFBias", "(dim)", "ModelDim", "ln_f.bias"),
    ];

    private static string Span(string field, string offset, string count) => $"new global::System.Span<float>(w.{field}, {offset}, {count})";

    /// <summary>Reads a (rows, cols) matrix into field at offset: straight in for float32 (in panels where they apply), converted as it is read otherwise.</summary>
    private static void Matrix(SourceWriter w, ModelShape s, string name, int rowCount, string rows, string cols, string field, string offset, bool transposed = false)
    {
        string count = $"{rows} * {cols}";
        string t = transposed ? ", transposed: true" : "";
        switch (s.Precision)
        {
            case Precision.BFloat16:
                w.Line($"file.ReadBFloat16Into({name}, {rows}, {cols}, new global::System.Span<ushort>(w.{field}, {offset}, {count}){t});");
                break;
            case Precision.Int8:
                w.Line($"file.ReadInt8Into({name}, {rows}, {cols}, {s.QuantGroup}, new global::System.Span<sbyte>(w.{field}, {offset}, {count}), " +
                    $"new global::System.Span<float>(w.{field}Scale, ({offset}) / {s.QuantGroup}, ({count}) / {s.QuantGroup}){t});");
                break;
            default:
                w.Line(ReadMatrix(s, rowCount, name, rows, cols, Span(field, offset, count), transposed));
                break;
        }
    }

    private static void Pack(SourceWriter w, ModelShape s, string source, string field, string offset, string count)
    {
        if (s.Precision == Precision.BFloat16)
            w.Line($"global::SourceGenTransformer.Runtime.WeightPacking.ToBFloat16({source}, new global::System.Span<ushort>(w.{field}, {offset}, {count}));");
        else
            w.Line($"global::SourceGenTransformer.Runtime.WeightPacking.ToInt8({source}, {s.QuantGroup}, new global::System.Span<sbyte>(w.{field}, {offset}, {count}), new global::System.Span<float>(w.{field}Scale, ({offset}) / {s.QuantGroup}, ({count}) / {s.QuantGroup}));");
    }

    private static void TiedClassifier(SourceWriter w, ModelShape s)
    {
        if (!s.TiedEmbeddings) return;
        w.Line("// Tied: the classifier is the token embedding. A saved copy of it as lm_head.weight is accepted; a different matrix is an error.");
        w.Line("file.ReadTiedCopy(\"lm_head.weight\", w.TokenEmbedding, VocabSize, ModelDim);");
        if (s.Precision == Precision.Float32) return;
        w.Line("// The classifier is kept again in the matrices' precision.");
        Pack(w, s, "w.TokenEmbedding", "Classifier", "0", "VocabSize * ModelDim");
    }

    private static void EmitLlamaRead(SourceWriter w, ModelShape s)
    {
        w.Line("file.ReadInto(\"model.embed_tokens.weight\", new long[] { VocabSize, ModelDim }, w.TokenEmbedding);");
        TiedClassifier(w, s);
        using (w.Block("for (int l = 0; l < Layers; l++)"))
        {
            w.Line("string p = \"model.layers.\" + l.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \".\";");
            w.Line($"file.ReadInto(p + \"input_layernorm.weight\", new long[] {{ ModelDim }}, {Span("AttentionNorm", "l * ModelDim", "ModelDim")});");
            Matrix(w, s, "p + \"self_attn.q_proj.weight\"", s.ModelDim, "ModelDim", "ModelDim", "Wq", "l * ModelDim * ModelDim");
            Matrix(w, s, "p + \"self_attn.k_proj.weight\"", s.KvDim, "KvDim", "ModelDim", "Wk", "l * KvDim * ModelDim");
            Matrix(w, s, "p + \"self_attn.v_proj.weight\"", s.KvDim, "KvDim", "ModelDim", "Wv", "l * KvDim * ModelDim");
            Matrix(w, s, "p + \"self_attn.o_proj.weight\"", s.ModelDim, "ModelDim", "ModelDim", "Wo", "l * ModelDim * ModelDim");
            w.Line($"file.ReadInto(p + \"post_attention_layernorm.weight\", new long[] {{ ModelDim }}, {Span("FfnNorm", "l * ModelDim", "ModelDim")});");
            Matrix(w, s, "p + \"mlp.gate_proj.weight\"", s.FeedForwardDim, "FeedForwardDim", "ModelDim", "WGate", "l * FeedForwardDim * ModelDim");
            Matrix(w, s, "p + \"mlp.up_proj.weight\"", s.FeedForwardDim, "FeedForwardDim", "ModelDim", "WUp", "l * FeedForwardDim * ModelDim");
            Matrix(w, s, "p + \"mlp.down_proj.weight\"", s.ModelDim, "ModelDim", "FeedForwardDim", "WDown", "l * ModelDim * FeedForwardDim");
        }
        w.Line("file.ReadInto(\"model.norm.weight\", new long[] { ModelDim }, w.FinalNorm);");
        if (!s.TiedEmbeddings)
            Matrix(w, s, "\"lm_head.weight\"", s.VocabSize, "VocabSize", "ModelDim", "Classifier", "0");
    }

    private static void EmitGpt2Read(SourceWriter w, ModelShape s)
    {
        w.Line("// GPT2LMHeadModel saves the body under 'transformer.'; GPT2Model saves it bare.");
        w.Line("string t = file.Contains(\"transformer.wte.weight\") ? \"transformer.\" : \"\";");
        w.Line("file.ReadInto(t + \"wte.weight\", new long[] { VocabSize, ModelDim }, w.TokenEmbedding);");
        TiedClassifier(w, s);
        w.Line("// The position table may be longer than this declaration needs (GPT-2 ships 1024 rows).");
        w.Line("file.ReadLeadingRowsInto(t + \"wpe.weight\", MaxSequenceLength, ModelDim, w.PositionEmbedding);");
        using (w.Block("for (int l = 0; l < Layers; l++)"))
        {
            w.Line("string p = t + \"h.\" + l.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \".\";");
            w.Line($"file.ReadInto(p + \"ln_1.weight\", new long[] {{ ModelDim }}, {Span("Ln1Weight", "l * ModelDim", "ModelDim")});");
            w.Line($"file.ReadInto(p + \"ln_1.bias\", new long[] {{ ModelDim }}, {Span("Ln1Bias", "l * ModelDim", "ModelDim")});");
            w.Line("// Conv1D stores [in, out]; the kernels want (out, in).");
            Matrix(w, s, "p + \"attn.c_attn.weight\"", s.QkvDim, "3 * ModelDim", "ModelDim", "Wqkv", "l * 3 * ModelDim * ModelDim", transposed: true);
            w.Line($"file.ReadInto(p + \"attn.c_attn.bias\", new long[] {{ 3 * ModelDim }}, {Span("Bqkv", "l * 3 * ModelDim", "3 * ModelDim")});");
            Matrix(w, s, "p + \"attn.c_proj.weight\"", s.ModelDim, "ModelDim", "ModelDim", "Wo", "l * ModelDim * ModelDim", transposed: true);
            w.Line($"file.ReadInto(p + \"attn.c_proj.bias\", new long[] {{ ModelDim }}, {Span("Bo", "l * ModelDim", "ModelDim")});");
            w.Line($"file.ReadInto(p + \"ln_2.weight\", new long[] {{ ModelDim }}, {Span("Ln2Weight", "l * ModelDim", "ModelDim")});");
            w.Line($"file.ReadInto(p + \"ln_2.bias\", new long[] {{ ModelDim }}, {Span("Ln2Bias", "l * ModelDim", "ModelDim")});");
            Matrix(w, s, "p + \"mlp.c_fc.weight\"", s.FeedForwardDim, "FeedForwardDim", "ModelDim", "WFc", "l * FeedForwardDim * ModelDim", transposed: true);
            w.Line($"file.ReadInto(p + \"mlp.c_fc.bias\", new long[] {{ FeedForwardDim }}, {Span("BFc", "l * FeedForwardDim", "FeedForwardDim")});");
            Matrix(w, s, "p + \"mlp.c_proj.weight\"", s.ModelDim, "ModelDim", "FeedForwardDim", "WProj", "l * ModelDim * FeedForwardDim", transposed: true);
            w.Line($"file.ReadInto(p + \"mlp.c_proj.bias\", new long[] {{ ModelDim }}, {Span("BProj", "l * ModelDim", "ModelDim")});");
        }
        w.Line("file.ReadInto(t + \"ln_f.weight\", new long[] { ModelDim }, w.LnFWeight);");
        w.Line("file.ReadInto(t + \"ln_f.bias\", new long[] { ModelDim }, w.LnFBias);");
        if (!s.TiedEmbeddings)
            Matrix(w, s, "\"lm_head.weight\"", s.VocabSize, "VocabSize", "ModelDim", "Classifier", "0");
    }
}
