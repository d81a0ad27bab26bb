using System;
using System.IO;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>Seq2Seq behaviour: beam search, allocation, and bad input.</summary>
public class Seq2SeqTests
{
    private static readonly S2sPreGelu Model = S2sPreGelu.Load(Fixture.Path("s2s-pre-gelu.safetensors"));

    private static int[] Source(int seed, int length)
    {
        var rng = new System.Random(seed);
        return [S2sPreGelu.BosToken, .. Enumerable.Range(0, length).Select(_ => rng.Next(4, S2sPreGelu.SourceVocabSize)), S2sPreGelu.EosToken];
    }

    [Fact]
    public void Beam_width_one_equals_greedy()
    {
        for (int seed = 0; seed < 10; seed++)
        {
            int[] source = Source(seed, 3 + seed % 6);
            int[] greedy = Model.Translate(source, new GenerationOptions { MaxNewTokens = 16 });
            Translation best = Model.TranslateBeams(source, new GenerationOptions { MaxNewTokens = 16, BeamWidth = 1 })[0];
            Assert.Equal(greedy, best.Tokens);
        }
    }

    [Fact]
    public void Wider_beam_finds_a_more_probable_translation_than_greedy()
    {
        // Search sources until beam search (raw log-probabilities, no length penalty) disagrees with greedy.
        var greedyOptions = new GenerationOptions { MaxNewTokens = 16 };
        var beamOptions = new GenerationOptions { MaxNewTokens = 16, BeamWidth = 4, LengthPenalty = 0f };
        int differing = 0;
        for (int seed = 0; seed < 60 && differing < 3; seed++)
        {
            int[] source = Source(seed, 3 + seed % 6);
            int[] greedy = Model.Translate(source, greedyOptions);
            if (greedy.Length == greedyOptions.MaxNewTokens) continue; // greedy never ended: no EOS to score
            Translation best = Model.TranslateBeams(source, beamOptions)[0];
            if (best.Tokens.SequenceEqual(greedy)) continue;
            differing++;
            Assert.True(best.Finished);
            // The beam's own bookkeeping agrees with a teacher-forced rescoring of the same tokens.
            Assert.Equal(Model.Score(source, best.Tokens), best.LogProbability, 3);
            Assert.True(best.LogProbability >= Model.Score(source, greedy),
                $"seed {seed}: beam log p {best.LogProbability} < greedy log p {Model.Score(source, greedy)}");
        }
        Assert.True(differing > 0, "no source where beam search and greedy differ; the test proves nothing");
    }

    [Fact]
    public void Beams_come_back_finished_first_each_part_best_first()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            // A budget too small for some beams to end, so unfinished ones come back too.
            Translation[] beams = Model.TranslateBeams(Source(seed, 3 + seed % 6), new GenerationOptions { MaxNewTokens = 3 + seed % 5, BeamWidth = 5 });
            int finished = beams.TakeWhile(b => b.Finished).Count();
            Assert.All(beams.Skip(finished), b => Assert.False(b.Finished));
            for (int i = 1; i < beams.Length; i++)
                if (i != finished) Assert.True(beams[i - 1].Score >= beams[i].Score, $"seed {seed}: beam {i} outranks beam {i - 1}");
        }
    }

    [Fact]
    public void An_unfinished_beam_never_outranks_a_finished_one()
    {
        // The defect: the search stopped once BeamWidth hypotheses had finished and ranked the live ones with them, so a
        // partial hypothesis with a better mean log-probability came back first ("four thousand eight hundred twenty-").
        using var translator = SourceGenTransformer.Models.NumberTranslator.Load(Fixture.ModelPath("translator.safetensors"));
        Translation[] beams = translator.TranslateBeams(SourceGenTransformer.Models.NumberTranslator.EncodeNumber("4821"),
            new GenerationOptions { MaxNewTokens = 24, BeamWidth = 4 });
        Assert.True(beams[0].Finished, beams[0].ToString());
        Assert.Equal("four thousand eight hundred twenty-one", SourceGenTransformer.Models.NumberTranslator.DecodeWords(beams[0].Tokens));
    }

    [Fact]
    public void Translation_shows_its_tokens()
    {
        var t = new Translation([5, 7, 9], -0.5f, -0.125f, true);
        Assert.Equal("Translation { Tokens = [5, 7, 9], LogProbability = -0.5, Score = -0.125, Finished = True }", t.ToString());
    }

    [Fact]
    public void Beam_width_is_capped()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Model.TranslateBeams(Source(1, 4), new GenerationOptions { BeamWidth = 1000 }));
        Assert.Contains("between 1 and 64", e.Message);
        Assert.Equal(64, BeamSearch.MaxBeamWidth);
    }

    [Fact]
    public void Decoder_steps_allocate_nothing_after_Encode()
    {
        S2sPreGelu.Session session = Model.CreateSession(Model.Encode(Source(1, 6)));
        session.Forward(S2sPreGelu.BosToken);
        session.Reset();
        Assert.Equal(0, Allocations.Fewest(() =>
        {
            for (int i = 0; i < 100; i++)
            {
                if (i % 20 == 0) session.Reset();
                session.Forward(4 + i % 10);
            }
        }));
    }

    [Fact]
    public void A_disposed_output_lends_its_arrays_to_the_next_Encode_and_refuses_further_use()
    {
        // A model of its own: the reuse is per model, and the shared one serves the other tests.
        using S2sPreGelu model = S2sPreGelu.Load(Fixture.Path("s2s-pre-gelu.safetensors"));
        int[] first = Source(5, 12), shorter = Source(6, 4), longer = Source(7, 20);
        float[] Logits(S2sPreGelu.EncoderOutput memory)
        {
            S2sPreGelu.Session session = model.CreateSession(memory);
            session.Forward(S2sPreGelu.BosToken);
            return session.Forward(4).ToArray();
        }

        S2sPreGelu.EncoderOutput a = model.Encode(first);
        float[] rows = a.Encoded.Rows, keys = a.Encoded.CrossKeys;
        S2sPreGelu.Session open = model.CreateSession(a);
        open.Forward(S2sPreGelu.BosToken);
        a.Dispose();
        a.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => a.Memory.Length);
        Assert.Throws<ObjectDisposedException>(() => model.CreateSession(a));
        var stale = Assert.Throws<ObjectDisposedException>(() => open.Forward(4));
        Assert.Contains("Encode the source again", stale.Message);

        // The shorter source is encoded into the longer one's arrays, and every result is what a fresh encode gives.
        using S2sPreGelu.EncoderOutput b = model.Encode(shorter);
        Assert.Same(rows, b.Encoded.Rows);
        Assert.Same(keys, b.Encoded.CrossKeys);
        Assert.Equal(shorter.Length * S2sPreGelu.ModelDim, b.Memory.Length);
        using S2sPreGelu.EncoderOutput freshShorter = Model.Encode(shorter);
        Assert.Equal(freshShorter.Memory.ToArray(), b.Memory.ToArray());
        Assert.Equal(Logits(freshShorter), Logits(b));
        Assert.Equal(Model.Translate(shorter), model.Translate(shorter));

        // A source too long for the spare arrays gets new ones.
        b.Dispose();
        using S2sPreGelu.EncoderOutput c = model.Encode(longer);
        Assert.NotSame(rows, c.Encoded.Rows);
        using S2sPreGelu.EncoderOutput freshLonger = Model.Encode(longer);
        Assert.Equal(Logits(freshLonger), Logits(c));
    }

    [Fact]
    public void Bad_sources_are_rejected_with_the_numbers()
    {
        Assert.Throws<ArgumentException>(() => Model.Encode(ReadOnlySpan<int>.Empty));
        var tooLong = Assert.Throws<ArgumentOutOfRangeException>(() => Model.Encode(new int[25]));
        Assert.Contains("MaxSequenceLength 24", tooLong.Message);
        var outOfRange = Assert.Throws<ArgumentOutOfRangeException>(() => Model.Encode([2, 5, 29, 3]));
        Assert.Contains("Token id 29 at index 2 is outside the vocabulary [0, 29)", outOfRange.Message);
        var allPad = Assert.Throws<ArgumentException>(() => Model.Encode([1, 1, 1]));
        Assert.Contains("only padding", allPad.Message);

        S2sPreGelu.Session session = Model.CreateSession(Model.Encode(Source(2, 4)));
        var badTarget = Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(17));
        Assert.Contains("[0, 17)", badTarget.Message);
        for (int i = 0; i < S2sPreGelu.MaxSequenceLength; i++) session.Forward(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(4));
    }

    [Fact]
    public void A_file_of_another_family_or_shape_is_a_clear_error()
    {
        var wrongFamily = Assert.Throws<ModelLoadException>(() => S2sPreGelu.Load(Fixture.Path("llama-basic.safetensors")));
        Assert.Equal("src_tok_emb.embedding.weight", wrongFamily.TensorName);
        var wrongShape = Assert.Throws<ModelLoadException>(() => S2sPreGelu.Load(Fixture.Path("s2s-post-relu.safetensors")));
        Assert.Contains("expected shape [29, 36] from the declaration, found [23, 32]", wrongShape.Message);
        var bert = Assert.Throws<ModelLoadException>(() => BertBasic.Load(Fixture.Path("s2s-post-relu.safetensors")));
        Assert.Equal("embeddings.word_embeddings.weight", bert.TensorName);
    }

    [Fact]
    public void A_position_table_shorter_than_the_context_is_a_clear_error()
    {
        var e = Assert.Throws<ModelLoadException>(() => S2sLongContext.Load(Fixture.Path("s2s-post-relu.safetensors")));
        Assert.Equal("positional_encoding.pos_embedding", e.TensorName);
        Assert.Contains("expected shape [>= 100, 32] (at least 100 rows of 32), found [64, 1, 32]", e.Message);
    }

    [Fact]
    public void Bert_rejects_bad_tokens()
    {
        var bert = BertBasic.Load(Fixture.Path("bert-basic.safetensors"));
        Assert.Throws<ArgumentException>(() => bert.Encode(ReadOnlySpan<int>.Empty));
        Assert.Throws<ArgumentOutOfRangeException>(() => bert.Encode(new int[41]));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => bert.Embed([1, 50]));
        Assert.Contains("Token id 50 at index 1", e.Message);
    }
}
