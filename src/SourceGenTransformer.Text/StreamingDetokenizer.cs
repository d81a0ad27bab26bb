using System;
using System.Collections.Generic;
using Microsoft.ML.Tokenizers;

namespace SourceGenTransformer.Text;

/// <summary>
/// Turns a stream of token ids into a stream of text without ever emitting half a character.
/// </summary>
/// <remarks>
/// A byte-fallback or byte-level token can hold part of a multi-byte UTF-8 character; decoded alone it
/// becomes U+FFFD. So the whole sequence is decoded each time and only the new, complete suffix is
/// emitted; text ending in U+FFFD is held back until the next token completes it (or <see cref="Flush"/>).
/// Decoding the whole sequence also keeps tokenizer-level rules right, such as SentencePiece dropping
/// the leading space of the first piece. The cost is one decode per token, small next to a forward pass.
/// </remarks>
public sealed class StreamingDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly List<int> _ids = new();
    private int _emitted;

    private readonly int _contextLength;

    /// <summary>Creates a detokenizer over <paramref name="tokenizer"/>.</summary>
    public StreamingDetokenizer(Tokenizer tokenizer) : this(tokenizer, Array.Empty<int>())
    {
    }

    /// <summary>
    /// Creates a detokenizer that continues after <paramref name="context"/> (the prompt's ids): the new text is
    /// decoded in context, so a piece that starts a word keeps its leading space ("time" + " of", not "timeof").
    /// </summary>
    public StreamingDetokenizer(Tokenizer tokenizer, IEnumerable<int> context)
    {
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _ids.AddRange(context ?? throw new ArgumentNullException(nameof(context)));
        _emitted = _contextLength = _tokenizer.Decode(_ids).Length;
    }

    /// <summary>All the text emitted so far (after the context).</summary>
    public string Text => _tokenizer.Decode(_ids).Substring(_contextLength, _emitted - _contextLength);

    /// <summary>Adds one token; returns the text it completes (possibly empty).</summary>
    public string Add(int id)
    {
        _ids.Add(id);
        string text = _tokenizer.Decode(_ids);
        int end = text.Length;
        while (end > _emitted && text[end - 1] == '\uFFFD') end--; // an incomplete character: wait for its other bytes
        if (end <= _emitted) return string.Empty;
        string piece = text.Substring(_emitted, end - _emitted);
        _emitted = end;
        return piece;
    }

    /// <summary>Emits whatever is held back (a character that will never be completed decodes as U+FFFD).</summary>
    public string Flush()
    {
        string text = _tokenizer.Decode(_ids);
        string rest = text.Length > _emitted ? text.Substring(_emitted) : string.Empty;
        _emitted = text.Length;
        return rest;
    }
}
