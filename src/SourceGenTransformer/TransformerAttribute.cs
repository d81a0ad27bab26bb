using System;

namespace SourceGenTransformer;

/// <summary>
/// Declares a Transformer model. The SourceGenTransformer generator emits, inside the
/// annotated <c>partial class</c>, an inference engine specialised to exactly these shapes:
/// constants, kernels, a safetensors loader, a session with a preallocated KV cache and a
/// decoding loop.
/// </summary>
/// <remarks>
/// A property left unset takes the family's default (see <see cref="ModelFamily"/>).
/// Combinations that cannot work are reported as compile-time diagnostics (STG0001 upward).
/// </remarks>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class TransformerAttribute : Attribute
{
    /// <summary>Declares a model of the given family.</summary>
    public TransformerAttribute(ModelFamily family) => Family = family;

    /// <summary>
    /// Declares a model by its Hugging Face <c>config.json</c>, named by <see cref="ConfigFile"/>: the family and every
    /// dimension come from the file.
    /// </summary>
    public TransformerAttribute() { }

    /// <summary>The architecture family, which fixes the weight names and the defaults (unset when <see cref="ConfigFile"/> decides it).</summary>
    public ModelFamily Family { get; }

    /// <summary>
    /// A Hugging Face <c>config.json</c> that declares the model: one of the project's <c>AdditionalFiles</c>, the one
    /// whose path ends with this one, compared by whole path segments with <c>/</c> and <c>\</c> alike. The family and
    /// every dimension come from the file; beside it only <see cref="MaxSequenceLength"/> (which caps the file's
    /// <c>max_position_embeddings</c>; default the smaller of it and 4096) and <see cref="WeightPrecision"/> may be
    /// set. A <c>generation_config.json</c> in the same folder, when it is an AdditionalFiles item too, supplies the
    /// default BOS and EOS tokens. Problems in the files are diagnostics located in the JSON.
    /// </summary>
    public string? ConfigFile { get; set; }

    /// <summary>Blocks in the stack (Llama, Gpt2, Bert).</summary>
    public int Layers { get; set; }

    /// <summary>Blocks in the encoder stack (Seq2Seq).</summary>
    public int EncoderLayers { get; set; }

    /// <summary>Blocks in the decoder stack (Seq2Seq).</summary>
    public int DecoderLayers { get; set; }

    /// <summary>Attention (query) heads.</summary>
    public int Heads { get; set; }

    /// <summary>Key/value heads for grouped-query attention; 0 or unset means <see cref="Heads"/>.</summary>
    public int KvHeads { get; set; }

    /// <summary>The model width, d_model.</summary>
    public int ModelDim { get; set; }

    /// <summary>Hidden size of the feed-forward block.</summary>
    public int FeedForwardDim { get; set; }

    /// <summary>Vocabulary size (Llama, Gpt2, Bert).</summary>
    public int VocabSize { get; set; }

    /// <summary>Source vocabulary size (Seq2Seq).</summary>
    public int SourceVocabSize { get; set; }

    /// <summary>Target vocabulary size (Seq2Seq).</summary>
    public int TargetVocabSize { get; set; }

    /// <summary>The longest sequence a session holds: the KV cache length and the position table length.</summary>
    public int MaxSequenceLength { get; set; }

    /// <summary>How positions enter the model.</summary>
    public PositionalEncoding Positional { get; set; }

    /// <summary>The RoPE base (Rotary only). Default 10000.</summary>
    public float RopeTheta { get; set; }

    /// <summary>The normalisation layer.</summary>
    public Normalization Normalization { get; set; }

    /// <summary>Pre-norm (true) or the paper's post-norm (false); Seq2Seq and Bert.</summary>
    public bool NormFirst { get; set; }

    /// <summary>Epsilon of the normalisation layers.</summary>
    public float NormEpsilon { get; set; }

    /// <summary>The feed-forward activation.</summary>
    public Activation Activation { get; set; }

    /// <summary>Whether the output projection shares the token embedding matrix.</summary>
    public bool TiedEmbeddings { get; set; }

    /// <summary>Beginning-of-sequence token id; -1 means none.</summary>
    public int BosToken { get; set; }

    /// <summary>End-of-sequence token id, which ends generation; -1 means none.</summary>
    public int EosToken { get; set; }

    /// <summary>Padding token id; -1 means none.</summary>
    public int PadToken { get; set; }

    /// <summary>
    /// The precision the matrices are kept in and the kernels are specialised to (Llama, Gpt2); default Float32.
    /// Any F32, F16 or BF16 file loads into any precision: the conversion happens at load.
    /// </summary>
    public WeightPrecision WeightPrecision { get; set; }

    /// <summary>
    /// How <c>Embed</c> pools the last hidden states into one vector (Bert): the mean over the tokens (default, as
    /// all-MiniLM-L6-v2), the first token's state ([CLS], as arctic-embed and BGE), or the largest value per dimension.
    /// sentence-transformers keeps this in <c>1_Pooling/config.json</c>.
    /// </summary>
    public EmbeddingPooling Pooling { get; set; }

    /// <summary>Whether <c>Embed</c> divides the pooled vector by its L2 norm (Bert); default true, as sentence-transformers' Normalize module.</summary>
    public bool NormalizeEmbeddings { get; set; }

    /// <summary>Rows of the token-type table, <c>type_vocab_size</c> (Bert); default 2 (sentence A and sentence B).</summary>
    public int TypeVocabSize { get; set; }
}

/// <summary>How an encoder's last hidden states become one sentence embedding.</summary>
public enum EmbeddingPooling
{
    /// <summary>The family's default: Mean.</summary>
    Default = 0,

    /// <summary>The mean of the hidden states of the tokens the attention mask keeps (padding left out).</summary>
    Mean = 1,

    /// <summary>The hidden state of the first token, [CLS].</summary>
    Cls = 2,

    /// <summary>The largest value of each dimension over the tokens the attention mask keeps.</summary>
    Max = 3,
}

/// <summary>
/// The precision of a model's matrices (projections, feed-forward and classifier) in memory; <see cref="WeightPrecision.Int8"/>
/// and <see cref="WeightPrecision.Q4_0"/> decoders keep the token embedding in the same blocks (each lookup dequantises a
/// row). Other embeddings, norms and activations stay float32 (Int8 and Q4_0 round each product's input to 8 bits), and every
/// kernel accumulates in float32. Lighter weights move fewer bytes per
/// token, which is what bounds decoding speed.
/// </summary>
public enum WeightPrecision
{
    /// <summary>Float32 (the default).</summary>
    Default = 0,

    /// <summary>Four bytes per weight.</summary>
    Float32 = 1,

    /// <summary>Two bytes per weight: bfloat16 (float32's upper half, rounded to nearest even), widened in the kernels.</summary>
    BFloat16 = 2,

    /// <summary>
    /// 1.0625 bytes per weight: ggml's Q8_0 blocks, 8-bit integers in blocks of 32 with one float16 scale per block,
    /// quantised at load exactly as llama.cpp's <c>llama-quantize</c> does (a GGUF file's Q8_0 tensors load as they are).
    /// Products quantise the activations to 8 bits per block of 32 and multiply in integers. Rows must be multiples of 32.
    /// </summary>
    Int8 = 3,

    /// <summary>
    /// 0.5625 bytes per weight (half a byte, and a float16 scale per 32): ggml's Q4_0 blocks, 4-bit integers 0..15 standing for
    /// <c>(q - 8) × scale</c>, quantised at load exactly as llama.cpp's <c>llama-quantize</c> does (a GGUF file's Q4_0
    /// tensors are kept as they are). Products quantise the activations to 8 bits per block of 32 (ggml's Q8_0) and
    /// multiply in integers. Rows must be multiples of 32.
    /// </summary>
    Q4_0 = 4,

    /// <summary>
    /// About 0.6 bytes per weight: llama.cpp's K-quant mix, each matrix in its own ggml block type, as a
    /// <c>Q4_K_M</c> GGUF file holds it. A GGUF file's Q4_K, Q6_K, Q5_0, Q4_0 and Q8_0 tensors are kept as they are
    /// (any mix, per matrix); any other tensor is quantised at load by <c>llama-quantize</c>'s Q4_K_M rules, bit for bit:
    /// Q4_K (0.5625 bytes: super-blocks of 256, 6-bit sub-block scales and minima), Q6_K (0.82 bytes) for the classifier
    /// and for half the layers' value and down projections, and where a row is not whole blocks of 256, Q5_0 for Q4_K and
    /// Q8_0 for Q6_K, as llama.cpp falls back. Products quantise the activations to 8 bits (ggml's Q8_K, or Q8_0 for the
    /// blocks of 32) and multiply in integers, as llama.cpp does. Llama-family decoders; rows must be multiples of 32.
    /// </summary>
    Q4K = 5,
}

/// <summary>The architecture families the generator knows.</summary>
public enum ModelFamily
{
    /// <summary>Decoder-only Llama: RMSNorm, SwiGLU, rotary positions, grouped-query attention, Hugging Face <c>LlamaForCausalLM</c> names.</summary>
    Llama = 1,

    /// <summary>Decoder-only GPT-2: LayerNorm, GELU (tanh), learned positions, tied embeddings, Hugging Face GPT-2 names.</summary>
    Gpt2 = 2,

    /// <summary>The original encoder-decoder Transformer, with PyTorch <c>nn.Transformer</c> tutorial names.</summary>
    Seq2Seq = 3,

    /// <summary>Encoder-only BERT, with Hugging Face BERT names.</summary>
    Bert = 4,
}

/// <summary>How positions enter the model.</summary>
public enum PositionalEncoding
{
    /// <summary>The family's default.</summary>
    Default = 0,

    /// <summary>Rotary position embedding (RoPE), rotate-half convention.</summary>
    Rotary = 1,

    /// <summary>Fixed sinusoidal table added to the token embeddings.</summary>
    Sinusoidal = 2,

    /// <summary>A learned position table added to the token embeddings.</summary>
    Learned = 3,
}

/// <summary>The normalisation layer.</summary>
public enum Normalization
{
    /// <summary>The family's default.</summary>
    Default = 0,

    /// <summary>Root-mean-square norm with a weight and no bias.</summary>
    RmsNorm = 1,

    /// <summary>Layer norm with a weight and a bias.</summary>
    LayerNorm = 2,
}

/// <summary>The feed-forward activation.</summary>
public enum Activation
{
    /// <summary>The family's default.</summary>
    Default = 0,

    /// <summary>max(0, x).</summary>
    Relu = 1,

    /// <summary>Exact GELU, x * Φ(x), with the error function.</summary>
    Gelu = 2,

    /// <summary>GELU with the tanh approximation, as GPT-2 uses.</summary>
    GeluTanh = 3,

    /// <summary>SiLU-gated linear unit: down(silu(gate(x)) * up(x)).</summary>
    SwiGlu = 4,
}
