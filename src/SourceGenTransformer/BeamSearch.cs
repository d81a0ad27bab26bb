using System;
using System.Collections.Generic;

namespace SourceGenTransformer;

/// <summary>A finished hypothesis of beam search.</summary>
/// <param name="Tokens">The generated tokens, BOS and EOS excluded.</param>
/// <param name="LogProbability">Sum of the log-probabilities of the tokens (and of EOS when the hypothesis ended with it).</param>
/// <param name="Score">LogProbability / length^LengthPenalty, the value beams are ranked by.</param>
/// <param name="Finished">Whether the hypothesis ended with EOS (rather than at a length limit).</param>
public sealed record Translation(int[] Tokens, float LogProbability, float Score, bool Finished);

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
    /// <summary>
    /// Runs beam search of <see cref="GenerationOptions.BeamWidth"/> beams from <paramref name="bosToken"/>
    /// and returns every finished hypothesis, best score first. Each step extends every live beam by its
    /// <c>width</c> most likely tokens, keeps the <c>width</c> best by total log-probability, and retires
    /// those that emit EOS (or a stop token). It stops once <c>width</c> hypotheses have finished (early stopping), at
    /// <c>MaxNewTokens</c>, or when the sessions are full; live beams left then are returned unfinished.
    /// Temperature, top-k and top-p do not apply: beam search is deterministic.
    /// </summary>
    public static Translation[] Run(Func<IForkableSession> createSession, int vocabSize, int bosToken, int eosToken,
        int maxSequenceLength, GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(createSession);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        int width = options.BeamWidth;
        var stop = new HashSet<int>(options.StopTokens ?? Array.Empty<int>());
        if (eosToken >= 0) stop.Add(eosToken);

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
                IForkableSession session = spare.Count > 0 ? spare.Pop() : createSession();
                session.CopyFrom(from.Session);
                var tokens = new List<int>(from.Tokens) { token };
                if (session.Position >= maxSequenceLength)
                {
                    // No room to consume the token: the hypothesis ends at the length limit.
                    finished.Add(Finish(tokens, lp, options.LengthPenalty, finishedWithEos: false));
                    spare.Push(session);
                    continue;
                }
                var nextLogProbs = new float[vocabSize];
                LogSoftmax(session.Forward(token), nextLogProbs);
                next.Add(new Beam(session, tokens, lp, nextLogProbs));
            }
            foreach (Beam old in live) spare.Push(old.Session);
            live = next;

            // Early stopping, as Hugging Face's early_stopping=True: done once `width` hypotheses have finished.
            if (finished.Count >= width) break;
        }
        foreach (Beam beam in live)
            finished.Add(Finish(beam.Tokens, beam.LogProbability, options.LengthPenalty, finishedWithEos: false));
        finished.Sort(static (x, y) => y.Score.CompareTo(x.Score));
        return finished.ToArray();
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
    public static void LogSoftmax(ReadOnlySpan<float> logits, Span<float> output)
    {
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
