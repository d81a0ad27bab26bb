using System.Collections.Generic;
using SourceGenTransformer.Generator.Model;

namespace SourceGenTransformer.Generator.Emit.Weights;

/// <summary>How a tensor is read into its field.</summary>
internal enum TensorKind
{
    /// <summary>A float32 array of exactly the given shape, row-major (norms, biases, embeddings looked up by row).</summary>
    Exact,

    /// <summary>A matrix the kernels multiply by: in panels or converted to the declared precision as it is read.</summary>
    Matrix,

    /// <summary>The first Rows rows of a table that may have more (position tables).</summary>
    LeadingRows,
}

/// <summary>
/// One tensor of a family's weight file: the field it goes to, its name in the file, its shape, and how it is read.
/// Per-layer tensors (<see cref="Stack"/> set) are stacked in their field, layer after layer; several tensors may share
/// one field as its <see cref="Segment"/>s (BERT's query, key and value become one fused projection).
/// </summary>
/// <param name="Field">The Weights field.</param>
/// <param name="Name">Its name in the file; relative to the layer's prefix for per-layer tensors.</param>
/// <param name="Kind">How it is read.</param>
/// <param name="Rows">Its rows, as a C# constant expression (a vector's length).</param>
/// <param name="Cols">Its columns, as a C# constant expression, or null for a vector.</param>
/// <param name="RowCount">Its rows as a number (whether a matrix goes in panels).</param>
/// <param name="Doc">The field's shape comment, e.g. "(layer, dim, dim) self_attn.q_proj".</param>
internal sealed record Tensor(string Field, string Name, TensorKind Kind, string Rows, string? Cols, int RowCount, string Doc)
{
    /// <summary>The constant naming the stack this tensor has one of per layer (Layers, EncoderLayers, DecoderLayers), or null.</summary>
    public string? Stack { get; init; }

    /// <summary>Stored <c>[cols, rows]</c> (GPT-2's Conv1D, <c>[in, out]</c>): read transposed.</summary>
    public bool Transposed { get; init; }

    /// <summary>Which part of a fused field this tensor is, of <see cref="Segments"/>.</summary>
    public int Segment { get; init; }

    public int Segments { get; init; } = 1;

    /// <summary>Whether the name is outside the family's optional prefix (GPT2LMHeadModel's lm_head).</summary>
    public bool Unprefixed { get; init; }

    /// <summary>What to do when the file lacks the tensor (a statement), or null when it must be there.</summary>
    public string? Otherwise { get; init; }

    /// <summary>Elements one layer's (or the whole) tensor holds.</summary>
    public string Elements => Cols is null ? Rows : $"{Rows} * {Cols}";
}

/// <summary>A family's weights: its tensors in reading order, and the optional prefix its checkpoints may put on every name.</summary>
/// <param name="Tensors">The tensors, in the order they are read (errors name the first one missing).</param>
/// <param name="Prefix">A prefix some checkpoints put before every name, detected by <paramref name="PrefixProbe"/> ("transformer.", "bert.").</param>
/// <param name="PrefixProbe">A tensor whose prefixed name tells that the file uses the prefix.</param>
/// <param name="LayerPrefix">The per-layer prefix by stack: "model.layers." for Llama, and so on, followed by the layer and a dot.</param>
internal sealed record TensorTable(List<Tensor> Tensors, string? Prefix, string? PrefixProbe, Dictionary<string, string> LayerPrefix)
{
    public static TensorTable For(ModelShape s) => s.Family switch
    {
        Family.Llama => Llama(s),
        Family.Gpt2 => Gpt2(s),
        Family.Bert => Bert(s),
        _ => Seq2Seq(s),
    };

    /// <summary>Hugging Face LlamaForCausalLM.</summary>
    private static TensorTable Llama(ModelShape s)
    {
        int d = s.ModelDim, kv = s.KvDim, f = s.FeedForwardDim;
        const string L = "Layers";
        // The queries' width: ModelDim, or QueryDim (Heads x HeadDim) where a config.json's head_dim makes it differ.
        string qd = s.QueryDim == d ? "ModelDim" : "QueryDim", qdDoc = s.QueryDim == d ? "dim" : "heads * head_dim";
        var t = new List<Tensor>
        {
            new("TokenEmbedding", "model.embed_tokens.weight", s.QuantisedEmbedding ? TensorKind.Matrix : TensorKind.Exact, "VocabSize", "ModelDim", s.VocabSize, "(vocab, dim) model.embed_tokens"),
            new("AttentionNorm", "input_layernorm.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) input_layernorm") { Stack = L },
            new("Wq", "self_attn.q_proj.weight", TensorKind.Matrix, qd, "ModelDim", s.QueryDim, $"(layer, {qdDoc}, dim) self_attn.q_proj") { Stack = L },
            new("Wk", "self_attn.k_proj.weight", TensorKind.Matrix, "KvDim", "ModelDim", kv, "(layer, kv_dim, dim) self_attn.k_proj") { Stack = L },
            new("Wv", "self_attn.v_proj.weight", TensorKind.Matrix, "KvDim", "ModelDim", kv, "(layer, kv_dim, dim) self_attn.v_proj") { Stack = L },
            new("Wo", "self_attn.o_proj.weight", TensorKind.Matrix, "ModelDim", qd, d, $"(layer, dim, {qdDoc}) self_attn.o_proj") { Stack = L },
            new("FfnNorm", "post_attention_layernorm.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) post_attention_layernorm") { Stack = L },
            new("WGate", "mlp.gate_proj.weight", TensorKind.Matrix, "FeedForwardDim", "ModelDim", f, "(layer, ffn, dim) mlp.gate_proj") { Stack = L },
            new("WUp", "mlp.up_proj.weight", TensorKind.Matrix, "FeedForwardDim", "ModelDim", f, "(layer, ffn, dim) mlp.up_proj") { Stack = L },
            new("WDown", "mlp.down_proj.weight", TensorKind.Matrix, "ModelDim", "FeedForwardDim", d, "(layer, dim, ffn) mlp.down_proj") { Stack = L },
            new("FinalNorm", "model.norm.weight", TensorKind.Exact, "ModelDim", null, d, "(dim) model.norm"),
        };
        if (s.QkvBias)
        {
            // Qwen2: biases on q, k and v, read after the matrices (o_proj has none).
            t.InsertRange(5,
            [
                new("Bq", "self_attn.q_proj.bias", TensorKind.Exact, qd, null, s.QueryDim, $"(layer, {qdDoc}) self_attn.q_proj.bias") { Stack = L },
                new("Bk", "self_attn.k_proj.bias", TensorKind.Exact, "KvDim", null, kv, "(layer, kv_dim) self_attn.k_proj.bias") { Stack = L },
                new("Bv", "self_attn.v_proj.bias", TensorKind.Exact, "KvDim", null, kv, "(layer, kv_dim) self_attn.v_proj.bias") { Stack = L },
            ]);
        }
        if (s.OutBias)
            t.Insert(t.FindIndex(x => x.Field == "Wo") + 1,
                new("Bo", "self_attn.o_proj.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) self_attn.o_proj.bias") { Stack = L });
        if (s.MlpBias)
        {
            // Llama's mlp_bias: a bias on each of the three MLP projections, read after its matrix.
            t.Insert(t.FindIndex(x => x.Field == "WGate") + 1, new("BGate", "mlp.gate_proj.bias", TensorKind.Exact, "FeedForwardDim", null, f, "(layer, ffn) mlp.gate_proj.bias") { Stack = L });
            t.Insert(t.FindIndex(x => x.Field == "WUp") + 1, new("BUp", "mlp.up_proj.bias", TensorKind.Exact, "FeedForwardDim", null, f, "(layer, ffn) mlp.up_proj.bias") { Stack = L });
            t.Insert(t.FindIndex(x => x.Field == "WDown") + 1, new("BDown", "mlp.down_proj.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) mlp.down_proj.bias") { Stack = L });
        }
        if (s.QkNorm)
        {
            // Qwen3: an RMSNorm over each head's queries and keys, before RoPE.
            int at = t.FindIndex(x => x.Field == "Wo");
            t.InsertRange(at,
            [
                new("QNorm", "self_attn.q_norm.weight", TensorKind.Exact, "HeadDim", null, s.HeadDim, "(layer, head_dim) self_attn.q_norm") { Stack = L },
                new("KNorm", "self_attn.k_norm.weight", TensorKind.Exact, "HeadDim", null, s.HeadDim, "(layer, head_dim) self_attn.k_norm") { Stack = L },
            ]);
        }
        if (s.FusedProjections)
        {
            // Phi-3: q, k, v rows one after another in qkv_proj, gate then up rows in gate_up_proj, each read as its part.
            // The name is TensorSource.Rows's: rows [start, start + count) of a tensor of total rows.
            void Part(string field, string tensor, int start, int count, int total, string doc)
            {
                int i = t.FindIndex(x => x.Field == field);
                t[i] = t[i] with { Name = $"{tensor}[rows {start}..{start + count} of {total}]", Doc = doc };
            }
            int qkv = s.QueryDim + 2 * kv;
            Part("Wq", "self_attn.qkv_proj.weight", 0, s.QueryDim, qkv, "(layer, heads * head_dim, dim) self_attn.qkv_proj, its q rows");
            Part("Wk", "self_attn.qkv_proj.weight", s.QueryDim, kv, qkv, "(layer, kv_dim, dim) self_attn.qkv_proj, its k rows");
            Part("Wv", "self_attn.qkv_proj.weight", s.QueryDim + kv, kv, qkv, "(layer, kv_dim, dim) self_attn.qkv_proj, its v rows");
            Part("WGate", "mlp.gate_up_proj.weight", 0, f, 2 * f, "(layer, ffn, dim) mlp.gate_up_proj, its gate rows");
            Part("WUp", "mlp.gate_up_proj.weight", f, f, 2 * f, "(layer, ffn, dim) mlp.gate_up_proj, its up rows");
        }
        if (!s.TiedEmbeddings) t.Add(Classifier(s));
        return new TensorTable(t, null, null, new Dictionary<string, string> { [L] = "model.layers." });
    }

    private static Tensor Classifier(ModelShape s) =>
        new("Classifier", "lm_head.weight", TensorKind.Matrix, "VocabSize", "ModelDim", s.VocabSize, "(vocab, dim) lm_head") { Unprefixed = true };

    /// <summary>Hugging Face GPT-2: Conv1D weights stored [in, out]; an optional "transformer." prefix (GPT2LMHeadModel).</summary>
    private static TensorTable Gpt2(ModelShape s)
    {
        int d = s.ModelDim, f = s.FeedForwardDim;
        const string L = "Layers";
        var t = new List<Tensor>
        {
            new("TokenEmbedding", "wte.weight", s.QuantisedEmbedding ? TensorKind.Matrix : TensorKind.Exact, "VocabSize", "ModelDim", s.VocabSize, "(vocab, dim) wte"),
            new("PositionEmbedding", "wpe.weight", TensorKind.LeadingRows, "MaxSequenceLength", "ModelDim", s.MaxSequenceLength, "(seq, dim) wpe, first MaxSequenceLength rows"),
            new("Ln1Weight", "ln_1.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) ln_1.weight") { Stack = L },
            new("Ln1Bias", "ln_1.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) ln_1.bias") { Stack = L },
            new("Wqkv", "attn.c_attn.weight", TensorKind.Matrix, "QkvDim", "ModelDim", s.QkvDim, "(layer, 3 * dim, dim) attn.c_attn.weight, transposed") { Stack = L, Transposed = true },
            new("Bqkv", "attn.c_attn.bias", TensorKind.Exact, "QkvDim", null, s.QkvDim, "(layer, 3 * dim) attn.c_attn.bias") { Stack = L },
            new("Wo", "attn.c_proj.weight", TensorKind.Matrix, "ModelDim", "ModelDim", d, "(layer, dim, dim) attn.c_proj.weight, transposed") { Stack = L, Transposed = true },
            new("Bo", "attn.c_proj.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) attn.c_proj.bias") { Stack = L },
            new("Ln2Weight", "ln_2.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) ln_2.weight") { Stack = L },
            new("Ln2Bias", "ln_2.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) ln_2.bias") { Stack = L },
            new("WFc", "mlp.c_fc.weight", TensorKind.Matrix, "FeedForwardDim", "ModelDim", f, "(layer, ffn, dim) mlp.c_fc.weight, transposed") { Stack = L, Transposed = true },
            new("BFc", "mlp.c_fc.bias", TensorKind.Exact, "FeedForwardDim", null, f, "(layer, ffn) mlp.c_fc.bias") { Stack = L },
            new("WProj", "mlp.c_proj.weight", TensorKind.Matrix, "ModelDim", "FeedForwardDim", d, "(layer, dim, ffn) mlp.c_proj.weight, transposed") { Stack = L, Transposed = true },
            new("BProj", "mlp.c_proj.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) mlp.c_proj.bias") { Stack = L },
            new("LnFWeight", "ln_f.weight", TensorKind.Exact, "ModelDim", null, d, "(dim) ln_f.weight"),
            new("LnFBias", "ln_f.bias", TensorKind.Exact, "ModelDim", null, d, "(dim) ln_f.bias"),
        };
        if (!s.TiedEmbeddings) t.Add(Classifier(s));
        return new TensorTable(t, "transformer.", "wte.weight", new Dictionary<string, string> { [L] = "h." });
    }

    /// <summary>Hugging Face BERT: query, key and value fused into one projection, as nn.MultiheadAttention's in_proj; an optional "bert." prefix.</summary>
    private static TensorTable Bert(ModelShape s)
    {
        int d = s.ModelDim, f = s.FeedForwardDim;
        const string L = "Layers";
        var t = new List<Tensor>
        {
            new("TokenEmbedding", "embeddings.word_embeddings.weight", TensorKind.Exact, "VocabSize", "ModelDim", s.VocabSize, "(vocab, dim) word_embeddings"),
            new("Position", "embeddings.position_embeddings.weight", TensorKind.LeadingRows, "MaxSequenceLength", "ModelDim", s.MaxSequenceLength, "(seq, dim) position_embeddings, first MaxSequenceLength rows"),
            new("TokenType", "embeddings.token_type_embeddings.weight", TensorKind.Exact, "TypeVocabSize", "ModelDim", s.TypeVocabSize, "(types, dim) token_type_embeddings"),
            new("EmbNormW", "embeddings.LayerNorm.weight", TensorKind.Exact, "ModelDim", null, d, "(dim) embeddings.LayerNorm"),
            new("EmbNormB", "embeddings.LayerNorm.bias", TensorKind.Exact, "ModelDim", null, d, "(dim)"),
        };
        string[] qkv = ["query", "key", "value"];
        for (int k = 0; k < 3; k++)
        {
            t.Add(new("EncInW", $"attention.self.{qkv[k]}.weight", TensorKind.Matrix, "ModelDim", "ModelDim", d, "(layer, 3 * dim, dim) query, key, value rows") { Stack = L, Segment = k, Segments = 3 });
            t.Add(new("EncInB", $"attention.self.{qkv[k]}.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, 3 * dim)") { Stack = L, Segment = k, Segments = 3 });
        }
        t.AddRange(
        [
            new("EncOutW", "attention.output.dense.weight", TensorKind.Matrix, "ModelDim", "ModelDim", d, "(layer, dim, dim) attention output projection") { Stack = L },
            new("EncOutB", "attention.output.dense.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = L },
            new("EncNorm1W", "attention.output.LayerNorm.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) norm around attention") { Stack = L },
            new("EncNorm1B", "attention.output.LayerNorm.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = L },
            new("EncLin1W", "intermediate.dense.weight", TensorKind.Matrix, "FeedForwardDim", "ModelDim", f, "(layer, ffn, dim)") { Stack = L },
            new("EncLin1B", "intermediate.dense.bias", TensorKind.Exact, "FeedForwardDim", null, f, "(layer, ffn)") { Stack = L },
            new("EncLin2W", "output.dense.weight", TensorKind.Matrix, "ModelDim", "FeedForwardDim", d, "(layer, dim, ffn)") { Stack = L },
            new("EncLin2B", "output.dense.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = L },
            new("EncNorm2W", "output.LayerNorm.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) norm around the feed-forward block") { Stack = L },
            new("EncNorm2B", "output.LayerNorm.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = L },
        ]);
        return new TensorTable(t, "bert.", "embeddings.word_embeddings.weight", new Dictionary<string, string> { [L] = "encoder.layer." });
    }

    /// <summary>The state_dict of the Seq2SeqTransformer of PyTorch's translation tutorial (torch.nn.Transformer's names).</summary>
    private static TensorTable Seq2Seq(ModelShape s)
    {
        int d = s.ModelDim, f = s.FeedForwardDim, qkv = s.QkvDim;
        const string E = "EncoderLayers", D = "DecoderLayers";
        var t = new List<Tensor>
        {
            new("SourceEmbedding", "src_tok_emb.embedding.weight", TensorKind.Exact, "SourceVocabSize", "ModelDim", s.SourceVocabSize, "(source_vocab, dim) src_tok_emb"),
            new("TargetEmbedding", "tgt_tok_emb.embedding.weight", TensorKind.Exact, "TargetVocabSize", "ModelDim", s.TargetVocabSize, "(target_vocab, dim) tgt_tok_emb"),
            // The trained table if the file has it (the tutorial saves it as a buffer, [5000, 1, dim]); else computed.
            new("Position", "positional_encoding.pos_embedding", TensorKind.LeadingRows, "MaxSequenceLength", "ModelDim", s.MaxSequenceLength, "(seq, dim) sinusoidal table")
                { Otherwise = "SinusoidalTable(w.Position);" },
        };
        t.AddRange(Attention(E, "self_attn", "Enc", d, qkv));
        t.AddRange(
        [
            new("EncLin1W", "linear1.weight", TensorKind.Matrix, "FeedForwardDim", "ModelDim", f, "(layer, ffn, dim)") { Stack = E },
            new("EncLin1B", "linear1.bias", TensorKind.Exact, "FeedForwardDim", null, f, "(layer, ffn)") { Stack = E },
            new("EncLin2W", "linear2.weight", TensorKind.Matrix, "ModelDim", "FeedForwardDim", d, "(layer, dim, ffn)") { Stack = E },
            new("EncLin2B", "linear2.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = E },
            new("EncNorm1W", "norm1.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) norm around attention") { Stack = E },
            new("EncNorm1B", "norm1.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = E },
            new("EncNorm2W", "norm2.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, dim) norm around the feed-forward block") { Stack = E },
            new("EncNorm2B", "norm2.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = E },
            new("EncFinalNormW", "transformer.encoder.norm.weight", TensorKind.Exact, "ModelDim", null, d, "(dim) transformer.encoder.norm"),
            new("EncFinalNormB", "transformer.encoder.norm.bias", TensorKind.Exact, "ModelDim", null, d, "(dim)"),
        ]);
        t.AddRange(Attention(D, "self_attn", "DecSa", d, qkv));
        t.AddRange(Attention(D, "multihead_attn", "DecCa", d, qkv));
        t.AddRange(
        [
            new("DecLin1W", "linear1.weight", TensorKind.Matrix, "FeedForwardDim", "ModelDim", f, "(layer, ffn, dim)") { Stack = D },
            new("DecLin1B", "linear1.bias", TensorKind.Exact, "FeedForwardDim", null, f, "(layer, ffn)") { Stack = D },
            new("DecLin2W", "linear2.weight", TensorKind.Matrix, "ModelDim", "FeedForwardDim", d, "(layer, dim, ffn)") { Stack = D },
            new("DecLin2B", "linear2.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = D },
        ]);
        for (int n = 0; n < 3; n++)
        {
            t.Add(new("DecNormW", $"norm{n + 1}.weight", TensorKind.Exact, "ModelDim", null, d, "(layer, 3, dim) norm1, norm2, norm3") { Stack = D, Segment = n, Segments = 3 });
            t.Add(new("DecNormB", $"norm{n + 1}.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, 3, dim)") { Stack = D, Segment = n, Segments = 3 });
        }
        t.AddRange(
        [
            new("DecFinalNormW", "transformer.decoder.norm.weight", TensorKind.Exact, "ModelDim", null, d, "(dim) transformer.decoder.norm"),
            new("DecFinalNormB", "transformer.decoder.norm.bias", TensorKind.Exact, "ModelDim", null, d, "(dim)"),
            new("GeneratorW", "generator.weight", TensorKind.Matrix, "TargetVocabSize", "ModelDim", s.TargetVocabSize, "(target_vocab, dim)"),
            new("GeneratorB", "generator.bias", TensorKind.Exact, "TargetVocabSize", null, s.TargetVocabSize, "(target_vocab)"),
        ]);
        return new TensorTable(t, null, null, new Dictionary<string, string>
        {
            [E] = "transformer.encoder.layers.",
            [D] = "transformer.decoder.layers.",
        });
    }

    /// <summary>nn.MultiheadAttention's four tensors: the fused in_proj (query, key, value rows) and out_proj.</summary>
    private static Tensor[] Attention(string stack, string module, string field, int d, int qkv) =>
    [
        new($"{field}InW", $"{module}.in_proj_weight", TensorKind.Matrix, "QkvDim", "ModelDim", qkv, $"(layer, 3 * dim, dim) {module}.in_proj") { Stack = stack },
        new($"{field}InB", $"{module}.in_proj_bias", TensorKind.Exact, "QkvDim", null, qkv, "(layer, 3 * dim)") { Stack = stack },
        new($"{field}OutW", $"{module}.out_proj.weight", TensorKind.Matrix, "ModelDim", "ModelDim", d, $"(layer, dim, dim) {module} out_proj") { Stack = stack },
        new($"{field}OutB", $"{module}.out_proj.bias", TensorKind.Exact, "ModelDim", null, d, "(layer, dim)") { Stack = stack },
    ];
}
