using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using Microsoft.ML.Tokenizers;

namespace SourceGenTransformer.Text;

/// <summary>
/// Text in, embeddings out: Microsoft.Extensions.AI's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a
/// generated encoder model (Bert) and Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>, for semantic search and
/// retrieval code written against the abstraction (as OllamaSharp and ONNX Runtime GenAI provide it).
/// </summary>
/// <remarks>
/// Each text becomes <c>[CLS] pieces [SEP]</c>. <see cref="GenerateAsync"/> embeds its texts in batches of
/// <see cref="BatchSize"/>, each packed without padding into the model's passes, checks for cancellation between
/// batches, and reports the tokens it embedded as usage. A text longer than the model's MaxSequenceLength is an error
/// unless <see cref="Truncate"/> is set, when it keeps its first tokens, as sentence-transformers truncates. One
/// generator may serve concurrent calls.
/// </remarks>
public sealed class TextEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly IEmbeddingModel _model;
    private readonly bool _ownsModel;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly int _unknown;

    /// <summary>Creates a generator over a model and the tokenizer it was trained with.</summary>
    /// <param name="model">A loaded Bert model (the generated class implements <see cref="IEmbeddingModel"/>).</param>
    /// <param name="tokenizer">Its WordPiece tokenizer; <see cref="CreateTokenizer(string, bool)"/> makes one from a vocab.txt.</param>
    /// <param name="modelId">The model id reported in metadata and on each embedding.</param>
    /// <param name="ownsModel">Whether disposing the generator disposes the model.</param>
    public TextEmbeddingGenerator(IEmbeddingModel model, BertTokenizer tokenizer, string modelId = "sourcegentransformer-bert", bool ownsModel = false)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        if (tokenizer.ApplyBasicTokenization)
            throw new ArgumentException(
                "The tokenizer applies Microsoft.ML.Tokenizers' basic tokenization, which differs from Hugging Face's (it drops '+', '=' and emoji); " +
                "this class splits words as Hugging Face does (BertPreTokenizer) and needs a tokenizer with ApplyBasicTokenization = false, as CreateTokenizer makes.", nameof(tokenizer));
        if (tokenizer.ClassificationTokenId >= model.VocabSize || tokenizer.SeparatorTokenId >= model.VocabSize)
            throw new ArgumentException(
                $"The tokenizer's [CLS] ({tokenizer.ClassificationTokenId}) or [SEP] ({tokenizer.SeparatorTokenId}) id lies outside the model's vocabulary of {model.VocabSize}; " +
                "the tokenizer belongs to another model.", nameof(tokenizer));
        ModelId = modelId;
        _ownsModel = ownsModel;
        _unknown = tokenizer.EncodeToIds(tokenizer.UnknownToken, addSpecialTokens: false) is [int unk] ? unk : 100;
        _metadata = new EmbeddingGeneratorMetadata(nameof(TextEmbeddingGenerator), null, modelId, model.ModelDim);
    }

    /// <summary>
    /// A WordPiece tokenizer from a BERT vocab.txt, with the casing the model was trained with: for uncased models
    /// (all-MiniLM-L6-v2, arctic-embed, BGE) lower case and accents stripped, as Hugging Face's BertTokenizer does.
    /// </summary>
    public static BertTokenizer CreateTokenizer(string vocabPath, bool lowerCase = true) =>
        BertTokenizer.Create(vocabPath, Options(lowerCase));

    /// <inheritdoc cref="CreateTokenizer(string, bool)"/>
    public static BertTokenizer CreateTokenizer(Stream vocab, bool lowerCase = true) =>
        BertTokenizer.Create(vocab, Options(lowerCase));

    private static BertOptions Options(bool lowerCase) =>
        new() { LowerCaseBeforeTokenization = lowerCase, RemoveNonSpacingMarks = lowerCase, ApplyBasicTokenization = false };

    /// <summary>
    /// The WordPiece ids of a text without [CLS] and [SEP]: words split as Hugging Face's BERT pre-tokenizer splits them
    /// (<see cref="BertPreTokenizer"/>), each looked up alone; a word longer than 100 characters is one [UNK].
    /// </summary>
    public List<int> Pieces(string text)
    {
        var ids = new List<int>();
        foreach (string word in BertPreTokenizer.Words(text, Tokenizer.LowerCaseBeforeTokenization, Tokenizer.RemoveNonSpacingMarks))
        {
            // Hugging Face counts characters (code points): only a word of more than 100 UTF-16 units can exceed it.
            if (word.Length > BertPreTokenizer.MaxCharsPerWord && word.EnumerateRunes().Count() > BertPreTokenizer.MaxCharsPerWord) ids.Add(_unknown);
            else ids.AddRange(Tokenizer.EncodeToIds(word, addSpecialTokens: false));
        }
        return ids;
    }

    /// <summary>The tokenizer.</summary>
    public BertTokenizer Tokenizer { get; }

    /// <summary>The model id reported in metadata and on each embedding.</summary>
    public string ModelId { get; }

    /// <summary>The embedding's length.</summary>
    public int Dimensions => _model.ModelDim;

    /// <summary>Whether a text longer than the model's MaxSequenceLength keeps its first tokens (true) or is an error (false, the default).</summary>
    public bool Truncate { get; init; }

    /// <summary>Texts embedded per call to the model by <see cref="GenerateAsync"/> (cancellation is checked between batches); default 32.</summary>
    public int BatchSize
    {
        get => _batchSize;
        init => _batchSize = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(BatchSize), value, "The batch size must be at least 1.");
    }

    private readonly int _batchSize = 32;

    /// <summary>The ids of <c>[CLS] text [SEP]</c>, truncated when <see cref="Truncate"/> is set.</summary>
    /// <exception cref="ArgumentException">The text is empty or whitespace, or too long without <see cref="Truncate"/>.</exception>
    public int[] Tokenize(string text) => Tokenize(text, -1);

    private int[] Tokenize(string text, int index)
    {
        string which = index < 0 ? "The text" : $"Text {index}";
        if (text is null) throw new ArgumentNullException(nameof(text), $"{which} is null.");
        if (string.IsNullOrWhiteSpace(text))
            throw new ArgumentException($"{which} is empty or only whitespace; it has no tokens to embed.", nameof(text));
        List<int> pieces = Pieces(text);
        int room = _model.MaxSequenceLength - 2;
        int kept = pieces.Count;
        if (kept > room)
        {
            if (!Truncate)
                throw new ArgumentException(
                    $"{which} is {pieces.Count + 2} tokens with [CLS] and [SEP], more than the model's MaxSequenceLength of {_model.MaxSequenceLength}. " +
                    "Set Truncate = true to keep its first tokens (as sentence-transformers does), or split the text.", nameof(text));
            kept = room;
        }
        var ids = new int[kept + 2];
        ids[0] = Tokenizer.ClassificationTokenId;
        for (int i = 0; i < kept; i++) ids[i + 1] = pieces[i];
        ids[kept + 1] = Tokenizer.SeparatorTokenId;
        return ids;
    }

    /// <summary>
    /// The ids and token types of a sentence pair, <c>[CLS] first [SEP] second [SEP]</c> with types 0 then 1, as
    /// cross-encoders and rerankers take it; when too long and <see cref="Truncate"/> is set, the longer side loses
    /// tokens first (Hugging Face's longest_first).
    /// </summary>
    public (int[] Ids, int[] TokenTypes) TokenizePair(string first, string second)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(first);
        ArgumentException.ThrowIfNullOrWhiteSpace(second);
        List<int> a = Pieces(first), b = Pieces(second);
        int room = _model.MaxSequenceLength - 3;
        if (a.Count + b.Count > room)
        {
            if (!Truncate)
                throw new ArgumentException(
                    $"The pair is {a.Count + b.Count + 3} tokens with [CLS] and two [SEP], more than the model's MaxSequenceLength of {_model.MaxSequenceLength}. " +
                    "Set Truncate = true to shorten the longer side first.", nameof(second));
            while (a.Count + b.Count > room)
            {
                List<int> longer = a.Count > b.Count ? a : b;
                longer.RemoveAt(longer.Count - 1);
            }
        }
        int[] ids = Tokenizer.BuildInputsWithSpecialTokens(a, b).ToArray();
        int[] types = Tokenizer.CreateTokenTypeIdsFromSequences(a, b).ToArray();
        return (ids, types);
    }

    /// <summary>destination (Dimensions) = the embedding of one text. Allocates only what tokenizing does.</summary>
    public void Embed(string text, Span<float> destination) => _model.Embed(Tokenize(text, -1), default, destination);

    /// <summary>destination (Dimensions) = the embedding of a sentence pair with its token types.</summary>
    public void EmbedPair(string first, string second, Span<float> destination)
    {
        (int[] ids, int[] types) = TokenizePair(first, second);
        _model.Embed(ids, types, destination);
    }

    /// <inheritdoc/>
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions is int asked && asked != Dimensions)
            throw new ArgumentException($"This model's embeddings have {Dimensions} dimensions; {asked} were asked for.", nameof(options));
        cancellationToken.ThrowIfCancellationRequested();
        string[] texts = values as string[] ?? values.ToArray();
        // Every text is tokenized (and checked) before any is embedded: a bad text fails the call before it costs anything.
        int[][] tokens = new int[texts.Length][];
        long tokenCount = 0;
        for (int i = 0; i < texts.Length; i++)
        {
            tokens[i] = Tokenize(texts[i], i);
            tokenCount += tokens[i].Length;
        }
        int dim = Dimensions;
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Length)
        {
            Usage = new UsageDetails { InputTokenCount = tokenCount, TotalTokenCount = tokenCount },
        };
        var flat = new float[texts.Length * dim];
        DateTimeOffset created = DateTimeOffset.UtcNow;
        for (int first = 0; first < texts.Length; first += _batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(_batchSize, texts.Length - first);
            _model.Embed(new ArraySegment<int[]>(tokens, first, count), null, flat.AsSpan(first * dim, count * dim));
        }
        for (int i = 0; i < texts.Length; i++)
            result.Add(new Embedding<float>(new ReadOnlyMemory<float>(flat, i * dim, dim)) { ModelId = ModelId, CreatedAt = created });
        return Task.FromResult(result);
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType.IsInstanceOfType(_model)) return _model;
        if (serviceType == typeof(BertTokenizer) || serviceType == typeof(Tokenizer)) return Tokenizer;
        return null;
    }

    /// <summary>Disposes the model when the generator owns it.</summary>
    public void Dispose()
    {
        if (_ownsModel) _model.Dispose();
    }
}
