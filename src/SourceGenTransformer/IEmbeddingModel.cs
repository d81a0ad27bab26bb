using System;
using System.Collections.Generic;

namespace SourceGenTransformer;

/// <summary>
/// What every generated encoder model (Bert) offers, for code that works with any of them: text front ends
/// (<c>SourceGenTransformer.Text.TextEmbeddingGenerator</c>), search, tests. The generated class's own members are the
/// direct path; this interface adds one virtual call per call.
/// </summary>
public interface IEmbeddingModel : IDisposable
{
    /// <summary>The embedding's length: d_model.</summary>
    int ModelDim { get; }

    /// <summary>The longest sequence, [CLS] and [SEP] included.</summary>
    int MaxSequenceLength { get; }

    /// <summary>Vocabulary size: token ids lie in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>How the model pools its hidden states.</summary>
    EmbeddingPooling Pooling { get; }

    /// <summary>destination (ModelDim) = the embedding of one sequence with optional token types (empty for all 0).</summary>
    void Embed(ReadOnlySpan<int> tokens, ReadOnlySpan<int> tokenTypes, Span<float> destination);

    /// <summary>destination (batch.Count, ModelDim) = the embeddings of sequences of mixed lengths, packed without padding.</summary>
    void Embed(IReadOnlyList<int[]> batch, IReadOnlyList<int[]>? tokenTypes, Span<float> destination);
}
