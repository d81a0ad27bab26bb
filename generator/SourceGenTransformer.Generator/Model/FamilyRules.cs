using System.Collections.Generic;

namespace SourceGenTransformer.Generator.Model;

/// <summary>
/// What a family's weights can express, as data: its defaults, the attribute properties it ignores, and the options it
/// supports with the reason it refuses the others. The parser applies these; a new family is a new entry.
/// </summary>
internal sealed class FamilyRules
{
    private FamilyRules(Family family) => Family = family;

    public Family Family { get; }

    /// <summary>Attribute properties the family does not read (a warning when set).</summary>
    public string[] Ignored { get; private set; } = [];

    /// <summary>Whether the family has one stack of Layers (else EncoderLayers and DecoderLayers).</summary>
    public bool SingleStack { get; private set; } = true;

    /// <summary>Whether the family has one vocabulary (else SourceVocabSize and TargetVocabSize).</summary>
    public bool SingleVocabulary { get; private set; } = true;

    public Positional Positional { get; private set; }
    public Norm Norm { get; private set; }
    public Act Activation { get; private set; }
    public float NormEpsilon { get; private set; } = 1e-5f;
    public bool TiedEmbeddings { get; private set; }
    public int BosToken { get; private set; } = -1;
    public int EosToken { get; private set; } = -1;
    public int PadToken { get; private set; } = -1;

    /// <summary>Whether a declaration may choose bfloat16 or 8-bit weights (decoding families).</summary>
    public bool LighterWeights { get; private set; }

    /// <summary>Whether key/value heads may differ from query heads (grouped-query attention).</summary>
    public bool GroupedQuery { get; private set; }

    /// <summary>Whether NormFirst may be true (pre-norm).</summary>
    public bool PreNorm { get; private set; }

    /// <summary>Why each unsupported positional encoding, norm or activation is refused, by value; absent values are supported.</summary>
    public Dictionary<Positional, string> RefusedPositional { get; } = [];
    public Dictionary<Norm, string> RefusedNorm { get; } = [];
    public Dictionary<Act, string> RefusedActivation { get; } = [];

    /// <summary>Why a lighter precision, grouped-query attention or pre-norm is refused, where it is.</summary>
    public string? LighterWeightsRefusal { get; private set; }
    public string? GroupedQueryRefusal { get; private set; }
    public string? PreNormRefusal { get; private set; }

    public static FamilyRules? For(Family family) => family switch
    {
        Family.Llama => Llama,
        Family.Gpt2 => Gpt2,
        Family.Seq2Seq => Seq2Seq,
        Family.Bert => Bert,
        _ => null,
    };

    private const string DecoderIgnored = "EncoderLayers,DecoderLayers,SourceVocabSize,TargetVocabSize,NormFirst," + EmbeddingOnly;

    /// <summary>Properties only an embedding model (Bert) reads.</summary>
    private const string EmbeddingOnly = "Pooling,NormalizeEmbeddings,TypeVocabSize";

    private static readonly FamilyRules Llama = new FamilyRules(Family.Llama)
    {
        Ignored = DecoderIgnored.Split(','),
        Positional = Positional.Rotary, Norm = Norm.RmsNorm, Activation = Act.SwiGlu,
        BosToken = 1, EosToken = 2,
        LighterWeights = true, GroupedQuery = true,
    }.Refuse(
        positional: [(Positional.Sinusoidal, LlamaPositions), (Positional.Learned, LlamaPositions)],
        norms: [(Norm.LayerNorm, "Llama norms have a weight and no bias (RmsNorm)")],
        activations: [(Act.Relu, LlamaMlp), (Act.Gelu, LlamaMlp), (Act.GeluTanh, LlamaMlp)]);

    private const string LlamaPositions = "Llama weights carry no position table; positions enter through rotary embeddings (Rotary)";
    private const string LlamaMlp = "the Llama MLP has gate, up and down projections (SwiGlu)";

    private static readonly FamilyRules Gpt2 = new FamilyRules(Family.Gpt2)
    {
        Ignored = DecoderIgnored.Split(','),
        Positional = Positional.Learned, Norm = Norm.LayerNorm, Activation = Act.GeluTanh,
        TiedEmbeddings = true,
        LighterWeights = true,
        GroupedQueryRefusal = "GPT-2's fused c_attn projection has as many key/value heads as query heads",
    }.Refuse(
        positional: [(Positional.Rotary, Gpt2Positions), (Positional.Sinusoidal, Gpt2Positions)],
        norms: [(Norm.RmsNorm, "GPT-2 norms have a weight and a bias (LayerNorm)")],
        activations: [(Act.SwiGlu, "the GPT-2 MLP has one input projection, c_fc, and no gate (use GeluTanh, Gelu or Relu)")]);

    private const string Gpt2Positions = "GPT-2 weights carry a learned position table, wpe (Learned)";

    private static readonly FamilyRules Seq2Seq = new FamilyRules(Family.Seq2Seq)
    {
        Ignored = ["Layers", "VocabSize", "KvHeads", "TiedEmbeddings", .. EmbeddingOnly.Split(',')],
        SingleStack = false, SingleVocabulary = false,
        Positional = Positional.Sinusoidal, Norm = Norm.LayerNorm, Activation = Act.Relu,
        BosToken = 2, EosToken = 3, PadToken = 1,
        PreNorm = true,
        LighterWeightsRefusal = EncoderPrecision,
    }.Refuse(
        positional: [(Positional.Rotary, Seq2SeqPositions), (Positional.Learned, Seq2SeqPositions)],
        norms: [(Norm.RmsNorm, "nn.Transformer's norms are LayerNorm with a weight and a bias")],
        activations: [(Act.GeluTanh, Seq2SeqActivations), (Act.SwiGlu, Seq2SeqActivations)]);

    private const string Seq2SeqPositions = "the nn.Transformer tutorial adds a fixed sinusoidal table to the scaled token embeddings (Sinusoidal)";
    private const string Seq2SeqActivations = "nn.Transformer layers take relu or gelu (Relu, Gelu)";
    private const string EncoderPrecision = "the encoder families keep float32 weights; lighter weights serve decoding, which is bound by the bytes each token reads";

    private static readonly FamilyRules Bert = new FamilyRules(Family.Bert)
    {
        Ignored = ["EncoderLayers", "DecoderLayers", "SourceVocabSize", "TargetVocabSize", "TiedEmbeddings", "BosToken", "EosToken"],
        Positional = Positional.Learned, Norm = Norm.LayerNorm, Activation = Act.Gelu,
        NormEpsilon = 1e-12f, PadToken = 0,
        PreNormRefusal = "BERT normalises after each residual add (post-norm)",
        GroupedQueryRefusal = "BERT's self-attention has as many key/value heads as query heads",
        LighterWeightsRefusal = EncoderPrecision,
    }.Refuse(
        positional: [(Positional.Rotary, BertPositions), (Positional.Sinusoidal, BertPositions)],
        norms: [(Norm.RmsNorm, "BERT's norms are LayerNorm with a weight and a bias")],
        activations: [(Act.SwiGlu, "BERT's intermediate block has one projection and no gate (use Gelu, GeluTanh or Relu)")]);

    private const string BertPositions = "BERT weights carry a learned position table, embeddings.position_embeddings (Learned)";

    private FamilyRules Refuse((Positional, string)[] positional, (Norm, string)[] norms, (Act, string)[] activations)
    {
        foreach ((Positional p, string why) in positional) RefusedPositional[p] = why;
        foreach ((Norm n, string why) in norms) RefusedNorm[n] = why;
        foreach ((Act a, string why) in activations) RefusedActivation[a] = why;
        return this;
    }
}
