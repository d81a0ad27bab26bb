using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text.Json;
using SourceGenTransformer.Models;
using SourceGenTransformer.Text;
using Xunit;
using Xunit.Abstractions;

namespace SourceGenTransformer.Tests;

/// <summary>
/// Whether the story model writes stories: 50 seeds with StoryTeller's defaults (StoryTellerModel.StoryOptions),
/// judged by the grammar that wrote the training corpus (models/storyteller/corpus.py check), not by our own code.
/// </summary>
public class StoryQualityTests(ITestOutputHelper output)
{
    private const string Prompt = "Once upon a time";

    /// <summary>Runs corpus.py check on stories (separated by "---" lines) and returns its JSON verdict.</summary>
    private static JsonElement Check(IEnumerable<string> stories)
    {
        string file = Path.Combine(Path.GetTempPath(), $"stories-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
        File.WriteAllText(file, string.Join("\n---\n", stories) + "\n");
        try
        {
            var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[] { Fixture.ModelPath("corpus.py"), "check", file, "--json" }) start.ArgumentList.Add(a);
            using Process process = Process.Start(start)!;
            string stdout = process.StandardOutput.ReadToEnd(), stderr = process.StandardError.ReadToEnd();
            Assert.True(process.WaitForExit(120_000), "corpus.py check did not finish");
            Assert.True(process.ExitCode == 0, $"corpus.py check failed ({process.ExitCode}): {stderr}");
            using JsonDocument doc = JsonDocument.Parse(stdout);
            return doc.RootElement.Clone();
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Fifty_seeded_stories_are_grammatical_and_keep_their_characters()
    {
        using var model = StoryTellerModel.Load(Fixture.ModelPath("storyteller.safetensors"));
        var text = new TextGenerator(model, TextGenerator.LoadSentencePiece(Fixture.ModelPath("tokenizer.model")));
        int room = StoryTellerModel.MaxSequenceLength - text.EncodePrompt(Prompt).Length;
        var stories = new List<string>();
        int ended = 0;
        for (ulong seed = 1; seed <= 50; seed++)
        {
            stories.Add(Prompt + text.Complete(Prompt, StoryTellerModel.StoryOptions(seed)));
            if (text.LastStats!.GeneratedTokens < room) ended++; // ended by itself (EOS), not by the context's end
        }
        JsonElement verdict = Check(stories);
        double grammatical = verdict.GetProperty("grammatical_fraction").GetDouble();
        double consistent = verdict.GetProperty("consistent_fraction").GetDouble();
        output.WriteLine($"{verdict.GetProperty("sentences").GetInt32()} sentences, {grammatical:P1} grammatical; " +
                         $"{consistent:P0} of 50 stories consistent; {ended} ended at EOS");
        foreach (JsonElement bad in verdict.GetProperty("ungrammatical").EnumerateArray()) output.WriteLine("  not in the grammar: " + bad.GetString());
        Assert.True(grammatical >= 0.90, $"{grammatical:P1} of the sentences are in the grammar (need 90%)");
        Assert.True(consistent >= 0.80, $"{consistent:P0} of the stories keep their characters (need 80%)");
        Assert.Equal(50, ended);
    }

    /// <summary>A story corpus.py wrote (<c>python3 corpus.py sample --seed 1</c>).</summary>
    private const string CorpusStory = "One morning, a kind tiger named Grace went to the zoo. Grace loved to count the stars. "
        + "One day, Grace wanted to hold her necklace in the garden. Oh no, Grace lost the necklace. Then she saw a silly puppy named Sam. "
        + "\"Why are you unhappy, Grace?\" asked Sam. Grace said, \"I cannot find my necklace.\" Sam said, \"Let me help you.\" "
        + "Sam helped her look, and they found the necklace under the big rock. Now Grace was excited again. "
        + "Grace said, \"Thank you so much, Sam!\" The end.";

    public static TheoryData<string, string, int, bool> Judged => new()
    {
        // what changed, the story, sentences in the grammar (of 12), whether it keeps its characters
        { "nothing", CorpusStory, 12, true },
        { "the hero renamed halfway", CorpusStory.Replace("One day, Grace", "One day, Mia"), 12, false },
        { "a girl called he", CorpusStory.Replace("Then she saw", "Then he saw"), 12, false },
        { "another object lost", CorpusStory.Replace("lost the necklace", "lost the ball"), 12, false },
        { "a sentence out of the grammar", CorpusStory.Replace("The end.", "The necklace ate the moon. The end."), 12, true },
    };

    [Theory]
    [MemberData(nameof(Judged))]
    public void The_checker_can_fail_a_story(string change, string story, int grammatical, bool consistent)
    {
        // The judge must be able to say no: it fails a corpus story broken in one place, and passes it whole.
        JsonElement verdict = Check([story]);
        Assert.True(grammatical == verdict.GetProperty("grammatical").GetInt32(), change);
        Assert.True(consistent == (verdict.GetProperty("consistent_stories").GetInt32() == 1), change);
    }
}
