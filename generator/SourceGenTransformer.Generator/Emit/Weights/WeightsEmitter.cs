using System.Collections.Generic;
using SourceGenTransformer.Generator.Helpers;
using SourceGenTransformer.Generator.Model;
using static SourceGenTransformer.Generator.Emit.CSharp;
using static SourceGenTransformer.Generator.Emit.Kernels.KernelWriting;

namespace SourceGenTransformer.Generator.Emit.Weights;

/// <summary>
/// Writes a model's Weights class from its family's <see cref="TensorTable"/>: one array per field, layers stacked, each
/// with its shape comment, and <c>Read</c>, which tells the file what the class declares, reads every tensor by its name
/// (checking shapes), and ends by refusing any tensor of the file left unread.
/// </summary>
internal static class WeightsEmitter
{
    public static void Emit(SourceWriter w, ModelSpec spec)
    {
        ModelShape s = spec.Shape;
        TensorTable table = TensorTable.For(s);
        string precision = s.Precision switch
        {
            Precision.BFloat16 => "bfloat16 (float32's upper half, rounded to nearest even)",
            Precision.Int8 => "ggml's Q8_0 blocks of 32 weights, one int8 per weight and one float16 scale per block (the ...Scale arrays), in panels of sixteen rows",
            Precision.Q4_0 => "BlockMatrix objects, one per matrix (per layer), in ggml's Q4_0 blocks of 32 weights (a float16 scale and 16 bytes of nibbles) in panels of eight rows",
            Precision.Q4K => "BlockMatrix objects, one per matrix (per layer), each in its own ggml block type (Q4_K, Q6_K, Q5_0, Q4_0 or Q8_0) as the file or llama.cpp's Q4_K_M rules chose it",
            _ => "float32",
        };
        string layout = s.Precision == Precision.Float32 ? " Matrices of a multiple of 32 rows are stored in panels (WeightPacking.ToPanels)." : "";
        w.Line("/// <summary>");
        w.Line($"/// The model's weights, layers stacked; every matrix is (out, in), so xout = W @ x. Matrices are {precision};");
        w.Line(s.QuantisedEmbedding ? $"/// so is the token embedding (its lookups dequantise a row); position tables, norms and biases are float32.{layout}" : $"/// embeddings, norms and biases float32.{layout}");
        w.Line("/// </summary>");
        w.Line(GeneratedCode);
        using (w.Block($"internal sealed class {spec.EnginePrefix}Weights"))
        {
            var declared = new HashSet<string>();
            foreach (Tensor t in table.Tensors)
            {
                if (!declared.Add(t.Field)) continue; // a later segment of a fused field
                string size = (t.Stack is null ? "" : t.Stack + " * ") + (t.Segments > 1 ? $"{I(t.Segments)} * " : "") + t.Elements;
                if (t.Kind == TensorKind.Matrix && s.BlockMatrices) BlockMatrixField(w, t);
                else if (t.Kind == TensorKind.Matrix) MatrixField(w, s, t.Field, size, t.Doc);
                else w.Line($"public readonly float[] {t.Field} = new float[{size}]; // {t.Doc}");
            }
            if (s.IsDecoderOnly && s.TiedEmbeddings)
            {
                if (s.Precision == Precision.Float32)
                    w.Line("public float[] Classifier => TokenEmbedding; // (vocab, dim) tied: the token embedding");
                else if (s.BlockMatrices)
                    w.Line("public BlockMatrix Classifier => TokenEmbedding; // (vocab, dim) tied: the token embedding's own blocks");
                else if (s.QuantisedEmbedding)
                {
                    w.Line($"public {MatrixElement(s.Precision)}[] Classifier => TokenEmbedding; // (vocab, dim) tied: the token embedding's own blocks");
                    w.Line("public Half[] ClassifierScale => TokenEmbeddingScale;");
                }
                else // bfloat16
                    MatrixField(w, s, "Classifier", "VocabSize * ModelDim", "(vocab, dim) tied: a copy of the token embedding in the matrices' precision");
            }
            w.Line();
            EmitRead(w, spec, table);
        }
        w.Line();
    }

    /// <summary>A Q4K model's matrix: one BlockMatrix per layer (or one for the model), assigned as Read reads it.</summary>
    private static void BlockMatrixField(SourceWriter w, Tensor t)
    {
        if (t.Stack is null) w.Line($"public BlockMatrix {t.Field} = null!; // {t.Doc}, in its own block type");
        else w.Line($"public readonly BlockMatrix[] {t.Field} = new BlockMatrix[{t.Stack}]; // {t.Doc}, each layer's in its own block type");
    }

    private static void MatrixField(SourceWriter w, ModelShape s, string field, string size, string doc)
    {
        string type = MatrixElement(s.Precision);
        string count = size;
        w.Line($"public readonly {type}[] {field} = WeightMemory.Allocate<{type}>({count}); // {doc}");
        if (HasScales(s.Precision))
            w.Line($"public readonly Half[] {field}Scale = new Half[({size}) / {I(s.QuantGroup)}]; // one scale per {I(s.QuantGroup)} weights of {field}");
    }

    private static void EmitRead(SourceWriter w, ModelSpec spec, TensorTable table)
    {
        ModelShape s = spec.Shape;
        w.Line("/// <summary>Reads every tensor by the family's names, checking each shape against the declaration.</summary>");
        using (w.Block($"public static {spec.EnginePrefix}Weights Read(TensorSource file)"))
        {
            string layers = s.Family == Family.Seq2Seq ? "EncoderLayers = EncoderLayers, DecoderLayers = DecoderLayers" : "Layers = Layers";
            string vocab = s.Family == Family.Seq2Seq ? "TargetVocabSize" : "VocabSize";
            w.Line("// What this class declares: the file checks its own header against it, and errors name the class.");
            w.Line($"file.Declare(new DeclaredModel {{ ClassName = \"{spec.ClassName}\", Family = ModelFamily.{s.Family}, {layers},");
            w.Line($"    Heads = Heads, KvHeads = KvHeads, ModelDim = ModelDim, FeedForwardDim = FeedForwardDim, VocabSize = {vocab},");
            w.Line($"    MaxSequenceLength = MaxSequenceLength, TiedEmbeddings = {(s.TiedEmbeddings ? "true" : "false")},");
            w.Line($"    RopeTheta = {(s.Positional == Positional.Rotary ? F(s.RopeTheta) : "0f")}, NormEpsilon = {F(s.NormEpsilon)} }});");
            w.Line($"var w = new {spec.EnginePrefix}Weights();");
            if (s.Precision != Precision.Float32)
                w.Line("// Matrices are converted to the declared precision as they are read, a chunk at a time.");
            string prefix = "\"\"";
            if (table.Prefix is not null)
            {
                w.Line($"// Some checkpoints put \"{table.Prefix}\" before every name.");
                w.Line($"string b = file.Contains(\"{table.Prefix}{table.PrefixProbe}\") ? \"{table.Prefix}\" : \"\";");
                prefix = "b";
            }
            List<Tensor> tensors = table.Tensors;
            for (int i = 0; i < tensors.Count;)
            {
                Tensor t = tensors[i];
                if (t.Stack is null)
                {
                    string name = t.Unprefixed || prefix == "\"\"" ? $"\"{t.Name}\"" : $"{prefix} + \"{t.Name}\"";
                    Read(w, s, t, name, "0");
                    if (t.Field == "TokenEmbedding" && s.IsDecoderOnly) TiedClassifier(w, s, name);
                    i++;
                    continue;
                }
                // Consecutive per-layer tensors of one stack: one loop over its layers.
                string stack = t.Stack;
                using (w.Block($"for (int l = 0; l < {stack}; l++)"))
                {
                    string layerPrefix = (prefix == "\"\"" ? "" : prefix + " + ") + $"\"{table.LayerPrefix[stack]}\"";
                    w.Line($"string p = {layerPrefix} + l.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \".\";");
                    for (; i < tensors.Count && tensors[i].Stack == stack; i++)
                    {
                        Tensor u = tensors[i];
                        string at = u.Segments > 1 ? $"({Plus($"l * {I(u.Segments)}", u.Segment)}) * {u.Elements}" : $"l * {u.Elements}";
                        Read(w, s, u, $"p + \"{u.Name}\"", at);
                    }
                }
            }
            if (spec.Shape.Gemma)
            {
                w.Line("// Gemma's RMSNorm multiplies by (1 + weight), in float32: the weights are kept as 1 + weight, read once here.");
                w.Line("foreach (float[] norm in new[] { w.AttentionNorm, w.FfnNorm, w.FinalNorm })");
                w.Line("    for (int i = 0; i < norm.Length; i++) norm[i] += 1f;");
            }
            w.Line("file.ThrowIfUnread(); // every tensor of the file is one this class reads (or a known harmless buffer)");
            w.Line("return w;");
        }
        if (table.Tensors.Exists(t => t.Otherwise is not null))
            EmitSinusoidalTable(w);
    }

    /// <summary>The statement that reads tensor <paramref name="name"/> into its field at element <paramref name="at"/>.</summary>
    private static void Read(SourceWriter w, ModelShape s, Tensor t, string name, string at)
    {
        string span = at == "0" && t.Stack is null && t.Segments == 1 ? $"w.{t.Field}" : Sp($"w.{t.Field}", at, t.Elements);
        string read = t.Kind switch
        {
            TensorKind.Matrix when s.BlockMatrices => BlockMatrixRead(s, t, name),
            TensorKind.Exact => $"file.ReadInto({name}, new long[] {{ {(t.Cols is null ? t.Rows : $"{t.Rows}, {t.Cols}")} }}, {span});",
            TensorKind.LeadingRows => $"file.ReadLeadingRowsInto({name}, {t.Rows}, {t.Cols}, {span});",
            _ => MatrixRead(s, t, name, at),
        };
        if (t.Otherwise is null)
        {
            w.Line(read);
            return;
        }
        w.Line($"if (file.Contains({name}))");
        w.Line("    " + read);
        w.Line("else");
        w.Line("    " + t.Otherwise);
    }

    /// <summary>
    /// A BlockMatrix. Q4K: the file's blocks where it stores a type the kernels multiply, else quantised to the type
    /// llama.cpp's Q4_K_M rules give it (<c>BlockMatrix.Q4KMType</c>: by its role, layer and row length). Q4_0: the
    /// file's Q4_0 blocks as they are, anything else quantised to Q4_0.
    /// </summary>
    private static string BlockMatrixRead(ModelShape s, Tensor t, string name)
    {
        string target = t.Stack is null ? $"w.{t.Field}" : $"w.{t.Field}[l]";
        if (s.Precision == Precision.Q4_0)
            return $"{target} = file.ReadBlockMatrix({name}, {t.Rows}, {t.Cols}, GgmlType.Q4_0, keepFileTypes: false{(t.Transposed ? ", transposed: true" : "")});";
        string role = t.Field switch
        {
            "Wv" => "Value",
            "WDown" => "Down",
            "Classifier" => "Classifier",
            "TokenEmbedding" when s.TiedEmbeddings => "Classifier",
            _ => "Projection",
        };
        string layer = t.Stack is null ? "0" : "l";
        return $"{target} = file.ReadBlockMatrix({name}, {t.Rows}, {t.Cols}, BlockMatrix.Q4KMType(MatrixRole.{role}, {layer}, Layers, {t.Cols}));";
    }

    private static string MatrixRead(ModelShape s, Tensor t, string name, string at)
    {
        string count = t.Elements, transposed = t.Transposed ? ", transposed: true" : "";
        string field = $"w.{t.Field}";
        string Whole(string array) => at == "0" && t.Stack is null ? array : Sp(array, at, count);
        switch (s.Precision)
        {
            case Precision.BFloat16:
                return $"file.ReadBFloat16Into({name}, {t.Rows}, {t.Cols}, {Whole(field)}{transposed});";
            case Precision.Int8:
                string scales = at == "0" && t.Stack is null ? field + "Scale" : Sp(field + "Scale", $"({at}) / 32", $"({count}) / 32");
                return $"file.ReadInt8Into({name}, {t.Rows}, {t.Cols}, {Whole(field)}, {scales}{transposed});";
            default:
                if (s.Panels(t.RowCount)) return $"file.ReadPanelsInto({name}, {t.Rows}, {t.Cols}, {Whole(field)}{transposed});";
                return t.Transposed
                    ? $"file.ReadTransposedInto({name}, {t.Rows}, {t.Cols}, {Whole(field)});"
                    : $"file.ReadInto({name}, new long[] {{ {t.Rows}, {t.Cols} }}, {Whole(field)});";
        }
    }

    /// <summary>
    /// A tied classifier is the token embedding: a saved copy of it as lm_head.weight is accepted, a different matrix is an
    /// error. Float32, Int8, Q4_0 and Q4K (<see cref="ModelShape.QuantisedEmbedding"/>) use the embedding's own blocks; bfloat16
    /// keeps it again in the matrices' precision.
    /// </summary>
    private static void TiedClassifier(SourceWriter w, ModelShape s, string embeddingName)
    {
        if (!s.TiedEmbeddings) return;
        w.Line("// Tied: the classifier is the token embedding. A saved copy of it as lm_head.weight is accepted; a different matrix is an error.");
        w.Line($"file.CheckTiedCopy(\"lm_head.weight\", {embeddingName}, VocabSize, ModelDim);");
        if (s.Precision == Precision.BFloat16)
            w.Line("WeightPacking.ToBFloat16(w.TokenEmbedding, w.Classifier); // the classifier again, in the matrices' precision");
    }

    private static void EmitSinusoidalTable(SourceWriter w)
    {
        w.Line();
        w.Line("/// <summary>The tutorial's table: pe[pos, 2i] = sin(pos · e^(-2i ln(10000) / dim)), pe[pos, 2i + 1] = cos(same), in float32.</summary>");
        using (w.Block("private static void SinusoidalTable(float[] table)"))
        {
            using (w.Block("for (int i = 0; i < ModelDim; i += 2)"))
            {
                w.Line("float den = MathF.Exp(-i * (MathF.Log(10000f) / ModelDim));");
                using (w.Block("for (int pos = 0; pos < MaxSequenceLength; pos++)"))
                {
                    w.Line("float angle = pos * den;");
                    w.Line("table[pos * ModelDim + i] = (float)Math.Sin(angle);");
                    w.Line("if (i + 1 < ModelDim) table[pos * ModelDim + i + 1] = (float)Math.Cos(angle);");
                }
            }
        }
    }
}
