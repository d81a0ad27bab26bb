using System.ComponentModel;

namespace SourceGenTransformer.Runtime;

/// <summary>
/// What a generated loader tells its weight file about the declaration, so that the file can check itself against it
/// (a llama2.c header's fields) and say which of its tensors the declaration leaves unread.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class DeclaredModel
{
    /// <summary>The declared class, named in errors.</summary>
    public required string ClassName { get; init; }

    /// <summary>The family, whose ecosystem's names the loader reads.</summary>
    public required ModelFamily Family { get; init; }

    /// <summary>Blocks in the stack (decoder-only and encoder-only families).</summary>
    public int Layers { get; init; }

    /// <summary>Blocks in the encoder (Seq2Seq).</summary>
    public int EncoderLayers { get; init; }

    /// <summary>Blocks in the decoder (Seq2Seq).</summary>
    public int DecoderLayers { get; init; }

    /// <summary>Query heads.</summary>
    public int Heads { get; init; }

    /// <summary>Key/value heads.</summary>
    public int KvHeads { get; init; }

    /// <summary>d_model.</summary>
    public int ModelDim { get; init; }

    /// <summary>Feed-forward width.</summary>
    public int FeedForwardDim { get; init; }

    /// <summary>Vocabulary (the target one for Seq2Seq).</summary>
    public int VocabSize { get; init; }

    /// <summary>The longest sequence a session holds.</summary>
    public int MaxSequenceLength { get; init; }

    /// <summary>Whether the classifier is the token embedding.</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>The RoPE base, or 0 when the family has no rotary positions.</summary>
    public float RopeTheta { get; init; }

    /// <summary>The norms' epsilon.</summary>
    public float NormEpsilon { get; init; }
}
