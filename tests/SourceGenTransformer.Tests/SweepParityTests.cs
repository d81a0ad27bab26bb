using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>What the sweep needs of a Bert model, whatever its generated class.</summary>
internal sealed class Encoder(IDisposable model, Func<int[], float[]> encode, Func<int[], float[]> embed) : IDisposable
{
    public static Encoder Of<T>(T model, Func<T, int[], float[]> encode, Func<T, int[], float[]> embed) where T : IDisposable =>
        new(model, t => encode(model, t), t => embed(model, t));

    public float[] Encode(int[] tokens) => encode(tokens);

    public float[] Embed(int[] tokens) => embed(tokens);

    public void Dispose() => model.Dispose();
}

/// <summary>What the sweep needs of a Seq2Seq model: a teacher-forced decoder over a source, and greedy translation.</summary>
internal sealed class Translator(IDisposable model, Func<int[], Func<int, float[]>> decoder, Func<int[], GenerationOptions, int[]> translate) : IDisposable
{
    public static Translator Of<T>(T model, Func<T, int[], Func<int, float[]>> decoder, Func<T, int[], GenerationOptions, int[]> translate)
        where T : IDisposable => new(model, s => decoder(model, s), (s, o) => translate(model, s, o));

    public Func<int, float[]> Decoder(int[] source) => decoder(source);

    public int[] Translate(int[] source, GenerationOptions options) => translate(source, options);

    public void Dispose() => model.Dispose();
}

/// <summary>
/// The shape sweep (tests/fixtures/make_sweep_fixtures.py): Llama over head widths 8-256 crossed with query/key-value
/// ratios 1-8, and GPT-2, BERT and Seq2Seq over head widths 7-64, each against PyTorch on weights regenerated from the
/// case's seed. Every position's logits within 1e-4 (scaled), token by token and after a prompt block, and greedy
/// tokens equal. CI runs these with AVX-512 on and again with it off.
/// </summary>
public sealed class SweepParityTests : IDisposable
{
    private const float Tolerance = 1e-4f;
    private static readonly Lazy<(JsonElement[] Cases, float[] Expected)> Sweep = new(ReadSweep);
    private readonly string _dir = Directory.CreateTempSubdirectory("stg-sweep-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (JsonElement[], float[]) ReadSweep()
    {
        JsonElement root = JsonDocument.Parse(File.ReadAllBytes(Fixture.Path("sweep.json"))).RootElement;
        float[] expected = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Fixture.Path("sweep-logits.bin"))).ToArray();
        return (root.GetProperty("cases").EnumerateArray().ToArray(), expected);
    }

    public static TheoryData<string> Cases(string family)
    {
        var data = new TheoryData<string>();
        foreach (JsonElement c in Sweep.Value.Cases)
            if (c.GetProperty("family").GetString() == family) data.Add(c.GetProperty("name").GetString()!);
        return data;
    }

    public static TheoryData<string> DecoderCases()
    {
        var data = Cases("llama");
        foreach (string name in Cases("gpt2")) data.Add(name);
        return data;
    }

    public static TheoryData<string> BertCases() => Cases("bert");

    public static TheoryData<string> Seq2SeqCases() => Cases("seq2seq");

    [Fact]
    public void The_sweep_covers_every_head_width_and_ratio()
    {
        JsonElement[] cases = Sweep.Value.Cases;
        var llama = cases.Where(c => c.GetProperty("family").GetString() == "llama").Select(c => c.GetProperty("config")).ToArray();
        int[] widths = [8, 10, 12, 16, 20, 22, 24, 32, 40, 48, 64, 80, 96, 128, 256];
        int[] ratios = [1, 2, 3, 4, 5, 7, 8];
        foreach (int width in widths)
            foreach (int ratio in ratios)
                Assert.Contains(llama, c => c.GetProperty("width").GetInt32() == width
                    && c.GetProperty("heads").GetInt32() == ratio * c.GetProperty("kv_heads").GetInt32());
        foreach (string family in new[] { "gpt2", "bert", "seq2seq" })
            Assert.Equal([7, 8, 12, 20, 64], cases.Where(c => c.GetProperty("family").GetString() == family)
                .Select(c => c.GetProperty("config").GetProperty("width").GetInt32()).Order());
        Assert.Equal(120, cases.Length);
    }

    private static JsonElement Case(string name) => Sweep.Value.Cases.Single(c => c.GetProperty("name").GetString() == name);

    private static int[] Ints(JsonElement c, string property) => c.GetProperty(property).EnumerateArray().Select(x => x.GetInt32()).ToArray();

    /// <summary>The case's expected outputs: its n-th array of rows, as in sweep.json's "outputs" shapes.</summary>
    private static float[][] Expected(JsonElement c, int n)
    {
        long at = c.GetProperty("outputs_at").GetInt64();
        JsonElement[] shapes = c.GetProperty("outputs").EnumerateArray().ToArray();
        for (int i = 0; i < n; i++) at += shapes[i].EnumerateArray().Aggregate(1L, (a, d) => a * d.GetInt64());
        int[] shape = shapes[n].EnumerateArray().Select(d => d.GetInt32()).ToArray();
        return Enumerable.Range(0, shape[0]).Select(r => Sweep.Value.Expected.AsSpan((int)at + r * shape[1], shape[1]).ToArray()).ToArray();
    }

    private string WriteWeights(JsonElement c)
    {
        string path = Path.Combine(_dir, c.GetProperty("name").GetString() + ".safetensors");
        SweepWeights.WriteSafetensors(path, SweepWeights.Regenerate(c));
        return path;
    }

    private static void Close(string what, ReadOnlySpan<float> actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        float diff = Fixture.ScaledMaxDiff(actual, expected);
        Assert.True(diff <= Tolerance, $"{what}: scaled max difference {diff:E3} > {Tolerance:E0}");
    }

    [Theory]
    [MemberData(nameof(DecoderCases))]
    public void Decoder_matches_pytorch_token_by_token_and_in_prompt_blocks(string name)
    {
        JsonElement c = Case(name);
        int[] prompt = Ints(c, "prompt"), greedy = Ints(c, "greedy");
        int[] inputs = prompt.Concat(greedy[..^1]).ToArray();
        float[][] expected = Expected(c, 0);
        string path = WriteWeights(c);

        // Token by token on one thread, from the first position.
        using (var one = (IDisposable)SweepModels.LoadDecoder(name, path, new ModelOptions { Threads = 1 }))
        {
            IDecoderSession session = ((IDecoderModel)one).CreateDecoderSession();
            for (int pos = 0; pos < inputs.Length; pos++)
                Close($"{name}, token by token, position {pos}", session.Forward(inputs[pos]), expected[pos]);
        }

        // The prompt as one block on three threads (the cache it writes then serves decoding), then greedy decoding.
        using var three = (IDisposable)SweepModels.LoadDecoder(name, path, new ModelOptions { Threads = 3 });
        var model = (IDecoderModel)three;
        IDecoderSession block = model.CreateDecoderSession();
        ReadOnlySpan<float> logits = block.Forward(prompt);
        var tokens = new List<int>();
        for (int i = 0; i < greedy.Length; i++)
        {
            Close($"{name}, after a prompt block, position {prompt.Length - 1 + i}", logits, expected[prompt.Length - 1 + i]);
            tokens.Add(Sampling.Argmax(logits));
            if (i + 1 < greedy.Length) logits = block.Forward(tokens[^1]);
        }
        Assert.Equal(greedy, tokens);
        Assert.Equal(greedy, model.Generate(prompt, new GenerationOptions { MaxNewTokens = greedy.Length }).ToArray());
    }

    [Theory]
    [MemberData(nameof(BertCases))]
    public void Bert_matches_pytorch(string name)
    {
        JsonElement c = Case(name);
        int[] tokens = Ints(c, "tokens");
        float[][] hidden = Expected(c, 0);
        float[] embedding = Expected(c, 1)[0];
        string path = WriteWeights(c);
        foreach (int threads in new[] { 1, 3 })
        {
            using Encoder model = SweepModels.LoadEncoder(name, path, new ModelOptions { Threads = threads });
            float[] actual = model.Encode(tokens);
            int dim = hidden[0].Length;
            for (int t = 0; t < tokens.Length; t++)
                Close($"{name}, {threads} threads, hidden state {t}", actual.AsSpan(t * dim, dim), hidden[t]);
            Close($"{name}, {threads} threads, embedding", model.Embed(tokens), embedding);
        }
    }

    [Theory]
    [MemberData(nameof(Seq2SeqCases))]
    public void Seq2Seq_matches_nn_Transformer(string name)
    {
        JsonElement c = Case(name);
        int[] source = Ints(c, "source"), targetIn = Ints(c, "target_in"), greedy = Ints(c, "greedy");
        float[][] expected = Expected(c, 0);
        string path = WriteWeights(c);
        foreach (int threads in new[] { 1, 3 })
        {
            using Translator model = SweepModels.LoadTranslator(name, path, new ModelOptions { Threads = threads });
            Func<int, float[]> step = model.Decoder(source);
            for (int pos = 0; pos < targetIn.Length; pos++)
                Close($"{name}, {threads} threads, position {pos}", step(targetIn[pos]), expected[pos]);
            Assert.Equal(greedy, model.Translate(source, new GenerationOptions { MaxNewTokens = 8 }));
        }
    }
}
