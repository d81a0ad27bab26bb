using SourceGenTransformer.Generator.Helpers;

namespace SourceGenTransformer.Generator.Model;

/// <summary>The model's shape and options, defaults already applied.</summary>
/// <remarks>
/// Part of the cache key (see <see cref="ModelSpec"/>): immutable and value-equal. Derived sizes
/// are computed here, in one place, and nowhere else.
/// </remarks>
internal sealed record ModelShape(
    Family Family,
    int Layers,
    int EncoderLayers,
    int DecoderLayers,
    int Heads,
    int KvHeads,
    int ModelDim,
    int FeedForwardDim,
    int VocabSize,
    int SourceVocabSize,
    int TargetVocabSize,
    int MaxSequenceLength,
    Positional Positional,
    float RopeTheta,
    Norm Normalization,
    bool NormFirst,
    float NormEpsilon,
    Act Activation,
    bool TiedEmbeddings,
    int BosToken,
    int EosToken,
    int PadToken,
    Precision Precision,
    Pooling Pooling,
    bool NormalizeEmbeddings,
    int TypeVocabSize,
    EquatableArray<int> EosTokens)
{
    /// <summary>The Hugging Face <c>model_type</c> a config.json declared (llama, mistral, qwen2), or null for an attribute declaration.</summary>
    public string? ModelType { get; init; }

    /// <summary>Whether q_proj, k_proj and v_proj have biases (Qwen2; Llama's attention_bias).</summary>
    public bool QkvBias { get; init; }

    /// <summary>Whether o_proj has a bias (Llama's attention_bias; Qwen2 has none).</summary>
    public bool OutBias { get; init; }

    /// <summary>Whether gate_proj, up_proj and down_proj have biases (Llama's mlp_bias).</summary>
    public bool MlpBias { get; init; }

    /// <summary>The attention window: a query attends to at most the last SlidingWindow positions (itself included); 0 for all (Mistral).</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Llama 3's RoPE scaling: the factor (0 for none), the low and high frequency factors, and the original context length.</summary>
    public float RopeScaleFactor { get; init; }

    public float RopeLowFreqFactor { get; init; }

    public float RopeHighFreqFactor { get; init; }

    public int RopeOriginalLength { get; init; }

    /// <summary>
    /// Whether the matrices one token reads fit comfortably in cache (under 16 MB in the declared precision). Then
    /// the matrix-vector kernel is bound by arithmetic and takes four rows at a time; otherwise it is bound by memory
    /// and reads one row at a time as a single stream, which measured faster on this hardware.
    /// </summary>
    public bool CacheResident => MatrixBytesPerToken < 16L << 20;

    /// <summary>Bytes of matrices one decoded token reads (projections, feed-forward, classifier) in the declared precision.</summary>
    public long MatrixBytesPerToken
    {
        get
        {
            long dim = ModelDim, ffn = FeedForwardDim, kv = KvDim;
            long values = Family switch
            {
                Family.Seq2Seq => DecoderLayers * (6 * dim * dim + 2 * dim * ffn) + (long)TargetVocabSize * dim,
                Family.Bert => Layers * (4 * dim * dim + 2 * dim * ffn),
                Family.Gpt2 => Layers * (4 * dim * dim + 2 * dim * ffn) + (long)VocabSize * dim,
                _ => Layers * (2 * dim * QueryDim + 2 * dim * kv + 3 * dim * ffn) + (long)VocabSize * dim,
            };
            return Precision switch
            {
                Precision.BFloat16 => 2 * values,
                Precision.Int8 => values + 2 * values / QuantGroup,
                Precision.Q4_0 => values / 2 + 2 * values / 32,
                Precision.Q4K => values * 144 / 256, // Q4_K's bytes; the Q6_K matrices of the mix read more
                _ => 4 * values,
            };
        }
    }

    /// <summary>
    /// Whether a matrix of <paramref name="rows"/> rows is stored in panels of 32 rows, column by column (see
    /// <c>WeightPacking.ToPanels</c>): float32 matrices, of any family, whose row count is a multiple of 32. Their
    /// kernels are outer products over register tiles; other matrices stay row-major with dot-product kernels.
    /// </summary>
    public bool Panels(int rows) => Precision == Precision.Float32 && rows % 32 == 0;

    /// <summary>
    /// Whether the classifier is row-major although its shape gets the panel kernel: a tied float32 classifier of a
    /// multiple of 32 rows is the token embedding itself, which the embedding lookup reads by rows. It then has a
    /// row-major kernel of its own, <c>MatVec{vocab}x{dim}Rows</c>; an untied one is read into panels like any matrix.
    /// </summary>
    public bool ClassifierRowsKernel => IsDecoderOnly && Panels(VocabSize) && TiedEmbeddings;

    /// <summary>Weights per scale: ggml's blocks of 32 for Q4_0 and for Int8 (Q8_0), so a GGUF file's Q8_0 tensor loads exactly as it is.</summary>
    public int QuantGroup => 32;

    /// <summary>Bytes one row of <paramref name="cols"/> weights takes in the declared precision (Int8, Q4_0, Q4K: values and their scales).</summary>
    public long RowBytes(int cols) => Precision switch
    {
        Precision.BFloat16 => 2L * cols,
        Precision.Int8 => cols + 2L * cols / QuantGroup,
        Precision.Q4_0 => cols / 2 + 2L * cols / 32,
        Precision.Q4K => cols * 144L / 256, // Q4_K's bytes, the mix's commonest type
        _ => 4L * cols,
    };

    /// <summary>The attention scale, 1 / sqrt(HeadDim), as a float.</summary>
    public float AttentionScale => (float)(1.0 / System.Math.Sqrt(HeadDim));

    /// <summary>Prompt tokens a decoder runs through each layer together: each pass over the weights serves this many positions.</summary>
    public int PromptBlock => System.Math.Min(128, MaxSequenceLength);

    /// <summary>Dimensions of each head that RoPE rotates: a config's partial_rotary_factor × HeadDim (Phi-3), else 0 for all.</summary>
    public int RotaryDimOverride { get; init; }

    /// <summary>Dimensions of each head that RoPE rotates, the first ones (the rest pass through).</summary>
    public int RopeDim => RotaryDimOverride > 0 ? RotaryDimOverride : HeadDim;

    /// <summary>Half the rotated dimensions: the rotary tables' width.</summary>
    public int RopeHalf => RopeDim / 2;

    /// <summary>Phi-3: q, k and v rows fused in self_attn.qkv_proj, gate and up rows in mlp.gate_up_proj.</summary>
    public bool FusedProjections { get; init; }

    /// <summary>The stacks of layers: the decoder-only and encoder-only stack, or the encoder's and the decoder's.</summary>
    public int StackLayers => Family == Family.Seq2Seq ? System.Math.Max(EncoderLayers, DecoderLayers) : Layers;

    /// <summary>A config.json's <c>head_dim</c> when given (heads × head_dim may differ from ModelDim), else 0.</summary>
    public int HeadDimOverride { get; init; }

    /// <summary>Width of one attention head: the config's head_dim, else ModelDim / Heads.</summary>
    public int HeadDim => HeadDimOverride > 0 ? HeadDimOverride : ModelDim / Heads;

    /// <summary>Width of the queries of all heads, and of the attention output that o_proj reads: Heads × HeadDim.</summary>
    public int QueryDim => Heads * HeadDim;

    /// <summary>Per-head RMSNorm of the queries and keys over HeadDim, before RoPE (Qwen3's q_norm and k_norm).</summary>
    public bool QkNorm { get; init; }

    /// <summary>Whether a generation_config.json gave Generate's defaults (the Sample* values).</summary>
    public bool HasSamplingDefaults { get; init; }

    /// <summary>generation_config.json's defaults for Generate: temperature (0 for greedy), top_k, top_p, max_new_tokens.</summary>
    public float SampleTemperature { get; init; }

    public int SampleTopK { get; init; }

    public float SampleTopP { get; init; } = 1f;

    public int SampleMaxNewTokens { get; init; } = 256;

    /// <summary>Gemma: RMSNorm weights are stored as w and applied as 1 + w, and the token embedding is scaled by sqrt(ModelDim).</summary>
    public bool Gemma { get; init; }

    /// <summary>Width of the keys and values of all key/value heads.</summary>
    public int KvDim => KvHeads * HeadDim;

    /// <summary>Query heads that share one key/value head.</summary>
    public int KvGroup => Heads / KvHeads;

    /// <summary>Width of the query, key and value projections together (GPT-2's fused c_attn).</summary>
    public int QkvDim => QueryDim + 2 * KvDim;

    /// <summary>Whether the family is decoder-only (Llama, Gpt2): one stack, a KV cache, next-token logits.</summary>
    public bool IsDecoderOnly => Family is Family.Llama or Family.Gpt2;

    /// <summary>
    /// Whether the token embedding is kept in the matrices' blocks (Int8, Q4_0 and Q4K decoders), as a quantised GGUF
    /// file holds <c>token_embd</c>: the lookups dequantise one row per token, and a tied classifier is the same blocks.
    /// </summary>
    public bool QuantisedEmbedding => IsDecoderOnly && Precision is Precision.Int8 or Precision.Q4_0 or Precision.Q4K;

    /// <summary>
    /// Whether every matrix is a <c>BlockMatrix</c> (Q4_0, Q4K): per layer one object per matrix, in ggml blocks laid out
    /// in panels of eight rows, whose type the kernels dispatch on once per product (Q4K's matrices each have their own;
    /// Q4_0's are all Q4_0), rather than one array of all layers.
    /// </summary>
    public bool BlockMatrices => Precision is Precision.Q4K or Precision.Q4_0;

    /// <summary>The number of parameters the weight file holds for this declaration (position tables of MaxSequenceLength rows).</summary>
    public long ParameterCount
    {
        get
        {
            long dim = ModelDim, ffn = FeedForwardDim, kv = KvDim, vocab = VocabSize;
            long classifier = TiedEmbeddings ? 0 : vocab * dim;
            long attention = 3 * dim * dim + 3 * dim + dim * dim + dim;  // in_proj and out_proj, with biases
            long feedForward = dim * ffn + ffn + ffn * dim + dim;         // linear1, linear2, with biases
            long norm = 2 * dim;
            switch (Family)
            {
                case Family.Seq2Seq:
                    return (SourceVocabSize + TargetVocabSize) * dim
                        + EncoderLayers * (attention + feedForward + 2 * norm) + norm
                        + DecoderLayers * (2 * attention + feedForward + 3 * norm) + norm
                        + TargetVocabSize * (dim + 1);
                case Family.Bert:
                    return vocab * dim + (long)MaxSequenceLength * dim + 2 * dim + norm
                        + Layers * (attention + feedForward + 2 * norm);
                case Family.Gpt2:
                    long gptLayer = 2 * (2 * dim)            // ln_1, ln_2
                        + (dim * (dim + 2 * kv) + dim + 2 * kv) // c_attn
                        + (dim * dim + dim)                 // attn.c_proj
                        + (dim * ffn + ffn)                 // mlp.c_fc
                        + (ffn * dim + dim);                // mlp.c_proj
                    return vocab * dim + (long)MaxSequenceLength * dim + Layers * gptLayer + 2 * dim + classifier;
                default:
                    long llamaLayer = 2 * dim                 // input / post-attention norms
                        + dim * QueryDim * 2 + dim * kv * 2   // q, o; k, v
                        + (QkvBias ? QueryDim + 2 * kv : 0)   // q, k, v biases (Qwen2)
                        + (QkNorm ? 2 * HeadDim : 0)          // q_norm, k_norm (Qwen3)
                        + (OutBias ? dim : 0)                 // o_proj bias (attention_bias)
                        + (MlpBias ? 2 * ffn + dim : 0)       // gate, up, down biases (mlp_bias)
                        + 3 * dim * ffn;                      // gate, up, down
                    return vocab * dim + Layers * llamaLayer + dim + classifier;
            }
        }
    }
}
