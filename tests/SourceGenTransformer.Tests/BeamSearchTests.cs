using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>Beam search's stopping rule on a scripted decoder whose probabilities are chosen by hand.</summary>
public class BeamSearchTests
{
    private const int Bos = 0, Eos = 1, A = 2, B = 3;

    /// <summary>A decoder whose next-token probabilities depend only on the tokens consumed so far.</summary>
    private sealed class ScriptedSession(Func<IReadOnlyList<int>, float[]> probabilities) : IForkableSession
    {
        private readonly List<int> _history = [];

        public int Position => _history.Count;

        public ReadOnlySpan<float> Forward(int token)
        {
            _history.Add(token);
            return probabilities(_history).Select(p => MathF.Log(p)).ToArray();
        }

        public void CopyFrom(IForkableSession other)
        {
            _history.Clear();
            _history.AddRange(((ScriptedSession)other)._history);
        }
    }

    // After BOS: EOS .5, A .4, B .1. After A: B .9. After A B: EOS .98. Finishing at once scores ln .5 = -0.69 (length
    // 1); "A B" then EOS scores (ln .4 + ln .9 + ln .98) / 3 = -0.34 under the default length penalty, so it wins, but
    // only if the search goes on after two hypotheses ("" and "A") have finished at step 2.
    private static float[] Script(IReadOnlyList<int> h) => h.Skip(1).ToArray() switch
    {
        [] => [1e-6f, 0.5f, 0.4f, 0.1f],
        [A] => [1e-6f, 0.05f, 0.05f, 0.9f],
        _ => [1e-6f, 0.98f, 0.01f, 0.01f],
    };

    [Fact]
    public void Search_goes_on_while_a_live_beam_could_still_beat_the_best_finished_one()
    {
        Translation[] result = BeamSearch.Run(() => new ScriptedSession(Script), 4, Bos, Eos, 16,
            new GenerationOptions { BeamWidth = 2, MaxNewTokens = 10 });
        Assert.True(result[0].Finished, result[0].ToString());
        Assert.Equal([A, B], result[0].Tokens);
        Assert.Equal((MathF.Log(0.4f) + MathF.Log(0.9f) + MathF.Log(0.98f)) / 3, result[0].Score, 4);
        Assert.Contains(result, t => t.Finished && t.Tokens.Length == 0);
    }

    [Fact]
    public void Without_a_length_penalty_the_short_hypothesis_wins_and_the_search_stops_early()
    {
        // Raw log-probabilities only fall as a beam grows: once "" finished at ln .5, nothing live (ln .4 after one token)
        // can beat it, so the search stops after the first step.
        int sessions = 0;
        Translation[] result = BeamSearch.Run(() => { sessions++; return new ScriptedSession(Script); }, 4, Bos, Eos, 16,
            new GenerationOptions { BeamWidth = 2, MaxNewTokens = 10, LengthPenalty = 0f });
        Assert.Empty(result[0].Tokens);
        Assert.True(result[0].Finished);
        Assert.Equal(MathF.Log(0.5f), result[0].LogProbability, 5);
        Assert.Equal(2, sessions); // the first, and one for the live beam "A" of the first step
    }

    [Fact]
    public void Non_finite_logits_are_an_error_not_a_ranking()
    {
        var e = Assert.Throws<InvalidOperationException>(() => BeamSearch.Run(
            () => new ScriptedSession(_ => [float.NaN, 0.5f, 0.25f, 0.25f]), 4, Bos, Eos, 16, new GenerationOptions { BeamWidth = 2 }));
        Assert.Contains("Logit 0 of 4 is NaN", e.Message);
    }
}
