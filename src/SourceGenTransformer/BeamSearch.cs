using System;
using System.Collections.Generic;

namespace SourceGenTransformer;

/// <summary>A hypothesis of beam search.</summary>
/// <param name="Tokens">The generated tokens, BOS and EOS excluded.</param>
/// <param name="LogProbability">Sum of the log-probabilities of the tokens (and of EOS when the hypothesis ended with it).</param>
/// <param name="Score">LogProbability / length^LengthPenalty, the value beams are ranked by.</param>
/// <param name="Finished">Whether the hypothesis ended with EOS or a stop token (rather than at a length limit).</param>
public sealed record Translation(int[] Tokens, float LogProbability, float Score, bool Finished)
{
    /// <summary>The tokens and the numbers, e.g. <c>Translation { Tokens = [5, 7, 9], LogProbability = -0.12, Score = -0.03, Finished = True }</c>.</summary>
    public override string ToString() =>
        FormattableString.Invariant($"Translation {{ Tokens = [{string.Join(", ", Tokens)}], LogProbability = {LogProbability}, Score = {Score}, Finished = {Finished} }}");
}

/// <summary>A decoder session that beam search can fork: copy another session's state into this one.</summary>
public interface IForkableSession
{
    /// <summary>Tokens consumed so far.</summary>
    int Position { get; }

    /// <summary>Consumes one token; returns the next-token logits.</summary>
    ReadOnlySpan<float> Forward(int token);

    /// <summary>Makes this session's state (position and cache) equal to <paramref name="other"/>'s.</summary>
    void CopyFrom(IForkableSession other);
}

/// <summary>Beam search over any forkable decoder session.</summary>
public static class BeamSearch
{
    /// <summary>The most beams <see cref="GenerationOptions.BeamWidth"/> may ask for: each beam holds a session, a whole KV cache.</summary>
    public const int MaxBeamWidth = 64;

    /// <summary>
    /// Runs beam search of <see cref="GenerationOptions.BeamWidth"/> beams from <paramref name="bosToken"/>. Each step
    /// extends every live beam by its <c>width</c> most likely tokens, keeps the <c>width</c> best by total
    /// log-probability, and retires those that emit EOS (or a stop token). The search goes on while a live beam could
    /// still finish with a better score than the best finished hypothesis (its log-probability can only fall, and its
    /// length can grow up to the limit, which under a positive <see cref="GenerationOptions.LengthPenalty"/> raises the
    /// score), until <c>MaxNewTokens</c>, or until the sessions are full. Returns every finished hypothesis, best score
    /// first, then the beams still live at the end (<see cref="Translation.Finished"/> false), best score first: an
    /// unfinished hypothesis never outranks a finished one. Temperature, top-k and top-p do not apply: beam search is
    /// deterministic.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (BeamWidth above <see cref="MaxBeamWidth"/> among them).</exception>
    /// <exception cref="InvalidOperationException">The model produced a NaN or infinite logit.</exception>
    public static Translation[] Run(Func<IForkableSession> createSession, int vocabSize, int bosToken, int eosToken,
        int maxSequenceLength, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(createSession);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int width = options.BeamWidth;
        var stop = new HashSet<int>(options.StopTokens ?? Array.Empty<int>());
        if (eosToken >= 0) stop.Add(eosToken);
        // The longest a hypothesis that ends with EOS can be (tokens + EOS): the step budget, or the session's room.
        int longest = Math.Max(1, Math.Min(options.MaxNewTokens, maxSequenceLength));

        var live = new List<Beam>(width);
        var finished = new List<Translation>();
        IForkableSession first = createSession();
        var logProbs = new float[vocabSize];
        LogSoftmax(first.Forward(bosToken), logProbs);
        live.Add(new Beam(first, new List<int>(), 0f, (float[])logProbs.Clone()));
        var spare = new Stack<IForkableSession>();

        for (int step = 0; step < options.MaxNewTokens && live.Count > 0; step++)
        {
            // Candidates: each live beam extended by each of its `width` most likely next tokens.
            var candidates = new List<(int Parent, int Token, float LogProbability)>(live.Count * width);
            for (int b = 0; b < live.Count; b++)
                foreach (int token in TopIndices(live[b].NextLogProbs, width))
                    candidates.Add((b, token, live[b].LogProbability + live[b].NextLogProbs[token]));
            candidates.Sort(static (x, y) => y.LogProbability.CompareTo(x.LogProbability));

            var next = new List<Beam>(width);
            foreach (var (parent, token, lp) in candidates)
            {
                if (next.Count == width) break;
                Beam from = live[parent];
                if (stop.Contains(token))
                {
                    finished.Add(Finish(from.Tokens, lp, options.LengthPenalty, finishedWithEos: true));
                    continue;
                }
                var tokens = new List<int>(from.Tokens) { token };
                if (from.Session.Position >= maxSequenceLength)
                {
                    // No room to consume the token: the hypothesis ends, unfinished, at the length limit.
                    finished.Add(Finish(tokens, lp, options.LengthPenalty, finishedWithEos: false));
                    continue;
                }
                IForkableSession session = spare.Count > 0 ? spare.Pop() : createSession();
                session.CopyFrom(from.Session);
                var nextLogProbs = new float[vocabSize];
                LogSoftmax(session.Forward(token), nextLogProbs);
                next.Add(new Beam(session, tokens, lp, nextLogProbs));
            }
            foreach (Beam old in live) spare.Push(old.Session);
            live = next;
            if (!AnyCanWin(live, BestFinishedScore(finished), longest, options.LengthPenalty)) break;
        }
        var result = new List<Translation>(finished.Count + live.Count);
        foreach (Translation t in finished)
            if (t.Finished) result.Add(t);
        result.Sort(static (x, y) => y.Score.CompareTo(x.Score));
        int firstUnfinished = result.Count;
        foreach (Translation t in finished)
            if (!t.Finished) result.Add(t);
        foreach (Beam beam in live)
            result.Add(Finish(beam.Tokens, beam.LogProbability, options.LengthPenalty, finishedWithEos: false));
        result.Sort(firstUnfinished, result.Count - firstUnfinished, Comparer<Translation>.Create(static (x, y) => y.Score.CompareTo(x.Score)));
        return result.ToArray();
    }

    private static float BestFinishedScore(List<Translation> finished)
    {
        float best = float.NegativeInfinity;
        foreach (Translation t in finished)
            if (t.Finished && t.Score > best) best = t.Score;
        return best;
    }

    /// <summary>
    /// Whether a live beam could still end with EOS at a score above <paramref name="best"/>. A beam of log-probability L
    /// (0 or less, and it only falls) and n tokens ends with a length m in [n + 1, longest]: L / m^penalty is largest at
    /// m = longest for a positive penalty, and at m = n + 1 otherwise.
    /// </summary>
    private static bool AnyCanWin(List<Beam> live, float best, int longest, float lengthPenalty)
    {
        foreach (Beam beam in live)
        {
            int length = lengthPenalty > 0 ? longest : beam.Tokens.Count + 1;
            if (beam.LogProbability / MathF.Pow(Math.Max(1, length), lengthPenalty) > best) return true;
        }
        return false;
    }

    private sealed record Beam(IForkableSession Session, List<int> Tokens, float LogProbability, float[] NextLogProbs);

    private static Translation Finish(List<int> tokens, float logProbability, float lengthPenalty, bool finishedWithEos)
    {
        // Length counts the tokens and the EOS that ended them, so an empty translation has length 1.
        int length = tokens.Count + (finishedWithEos ? 1 : 0);
        float score = logProbability / MathF.Pow(Math.Max(1, length), lengthPenalty);
        return new Translation(tokens.ToArray(), logProbability, score, finishedWithEos);
    }

    /// <summary>out = log softmax(logits), computed stably.</summary>
    /// <exception cref="InvalidOperationException">A logit is NaN or infinite.</exception>
    public static void LogSoftmax(ReadOnlySpan<float> logits, Span<float> output)
    {
        Sampling.ThrowIfNotFinite(logits);
        float max = float.NegativeInfinity;
        foreach (float v in logits) max = MathF.Max(max, v);
        double sum = 0;
        foreach (float v in logits) sum += Math.Exp(v - max);
        float logSum = max + (float)Math.Log(sum);
        for (int i = 0; i < logits.Length; i++) output[i] = logits[i] - logSum;
    }

    private static int[] TopIndices(float[] values, int k)
    {
        k = Math.Min(k, values.Length);
        var best = new int[k];
        var bestValues = new float[k];
        int count = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (count == k && v <= bestValues[k - 1]) continue;
            int at = count < k ? count++ : k - 1;
            // Insertion keeps the list sorted, most likely first; ties keep the lower id first (as argmax).
            while (at > 0 && bestValues[at - 1] < v)
            {
                best[at] = best[at - 1];
                bestValues[at] = bestValues[at - 1];
                at--;
            }
            best[at] = i;
            bestValues[at] = v;
        }
        return best;
    }
}
