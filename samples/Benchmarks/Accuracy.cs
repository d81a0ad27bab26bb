using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using SourceGenTransformer;

namespace Benchmarks;

/// <summary>
/// What lighter weights cost: the story model trained in models/storyteller, loaded as float32, bfloat16, int8, Q4_0 and Q4K,
/// teacher-forced through its 20 reference sequences (prompt + PyTorch's greedy continuation, greedy.json).
/// Reports top-1 agreement with float32 at every position, logit differences, and how many greedy continuations
/// stay identical to float32's (which equal PyTorch's).
/// </summary>
internal static class Accuracy
{
    public static IEnumerable<AccuracyRow> Measure()
    {
        string dir = FindModelDirectory();
        string weights = Path.Combine(dir, "storyteller.safetensors");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "greedy.json")));
        var cases = doc.RootElement.EnumerateArray()
            .Select(e => (Prompt: e.GetProperty("prompt_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                          Greedy: e.GetProperty("greedy").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
            .ToArray();

        using StoryF32 f32 = StoryF32.Load(weights, new ModelOptions { Threads = 1 });
        using StoryBf16 bf16 = StoryBf16.Load(weights, new ModelOptions { Threads = 1 });
        using StoryInt8 int8 = StoryInt8.Load(weights, new ModelOptions { Threads = 1 });
        using StoryQ4 q4 = StoryQ4.Load(weights, new ModelOptions { Threads = 1 });
        using StoryQ4K q4k = StoryQ4K.Load(weights, new ModelOptions { Threads = 1 });
        yield return Compare("float32", f32, f32, cases);
        yield return Compare("bfloat16", f32, bf16, cases);
        yield return Compare("int8 (Q8_0 blocks of 32, inputs quantised to Q8_0)", f32, int8, cases);
        yield return Compare("Q4_0 (inputs quantised to Q8_0)", f32, q4, cases);
        yield return Compare("Q4K (Q4_K_M's mix: rows of 192 fall back to Q5_0 and Q8_0, the down projections' rows of 512 Q4_K and Q6_K)", f32, q4k, cases);
    }

    private static AccuracyRow Compare(string name, IDecoderModel reference, IDecoderModel model, (int[] Prompt, int[] Greedy)[] cases)
    {
        int positions = 0, agree = 0, greedyEqual = 0;
        double maxDiff = 0, sumDiff = 0;
        long count = 0;
        foreach ((int[] prompt, int[] greedy) in cases)
        {
            IDecoderSession a = reference.CreateDecoderSession(), b = model.CreateDecoderSession();
            int[] sequence = [.. prompt, .. greedy];
            for (int i = 0; i < sequence.Length - 1; i++)
            {
                float[] expected = a.Forward(sequence[i]).ToArray();
                ReadOnlySpan<float> actual = b.Forward(sequence[i]);
                positions++;
                if (Sampling.Argmax(expected) == Sampling.Argmax(actual)) agree++;
                for (int j = 0; j < expected.Length; j++)
                {
                    double d = Math.Abs(expected[j] - actual[j]);
                    maxDiff = Math.Max(maxDiff, d);
                    sumDiff += d;
                    count++;
                }
            }
            // Free-running greedy continuation from the prompt.
            IDecoderSession g = model.CreateDecoderSession();
            int next = Sampling.Argmax(g.Forward(prompt));
            bool same = true;
            for (int i = 0; i < greedy.Length && same; i++)
            {
                same = next == greedy[i];
                if (i + 1 < greedy.Length) next = Sampling.Argmax(g.Forward(next));
            }
            if (same) greedyEqual++;
        }
        return new AccuracyRow(name, positions, agree, maxDiff, sumDiff / count, greedyEqual, cases.Length);
    }

    private static string FindModelDirectory()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "models", "storyteller");
                if (File.Exists(Path.Combine(candidate, "storyteller.safetensors"))) return candidate;
            }
        }
        throw new FileNotFoundException("models/storyteller/storyteller.safetensors not found above the working directory; run the benchmark from the repository.");
    }
}
