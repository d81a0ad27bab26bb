using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using SourceGenTransformer.Models;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The translator trained by models/translator/train.py, on the 1000 numbers it never saw in training.</summary>
public class TranslatorTests
{
    [Fact]
    public void Held_out_numbers_are_translated_correctly_and_exactly_as_pytorch_does()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture.ModelPath("heldout.json")));
        int[] numbers = doc.RootElement.GetProperty("numbers").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[][] pytorch = doc.RootElement.GetProperty("greedy").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray();
        Assert.Equal(1000, numbers.Length);

        var model = NumberTranslator.Load(Fixture.ModelPath("translator.safetensors"));
        var options = new GenerationOptions { MaxNewTokens = 16 };
        int correct = 0;
        for (int i = 0; i < numbers.Length; i++)
        {
            int[] words = model.Translate(NumberTranslator.EncodeNumber(numbers[i].ToString(System.Globalization.CultureInfo.InvariantCulture)), options);
            Assert.True(pytorch[i].SequenceEqual(words),
                $"{numbers[i]}: C# gave '{NumberTranslator.DecodeWords(words)}', PyTorch '{NumberTranslator.DecodeWords(pytorch[i])}'");
            if (NumberTranslator.DecodeWords(words) == NumberTranslator.NumberToWords(numbers[i])) correct++;
        }
        Assert.True(correct >= 980, $"{correct} / 1000 exact translations; at least 980 required");
    }

    [Fact]
    public void Held_out_numbers_are_translated_exactly_with_beam_search()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture.ModelPath("heldout.json")));
        int[] numbers = doc.RootElement.GetProperty("numbers").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var model = NumberTranslator.Load(Fixture.ModelPath("translator.safetensors"));
        var options = new GenerationOptions { MaxNewTokens = 24, BeamWidth = 4 };
        var wrong = new System.Collections.Generic.List<string>();
        foreach (int n in numbers)
        {
            string words = NumberTranslator.DecodeWords(model.Translate(NumberTranslator.EncodeNumber(n.ToString(System.Globalization.CultureInfo.InvariantCulture)), options));
            if (words != NumberTranslator.NumberToWords(n)) wrong.Add($"{n}: '{words}'");
        }
        Assert.True(wrong.Count == 0, $"{wrong.Count} of 1000 wrong with BeamWidth 4: {string.Join("; ", wrong.Take(10))}");
    }

    [Fact]
    public void Vocabularies_match_the_training_script()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Fixture.ModelPath("vocab.json")));
        Assert.Equal(doc.RootElement.GetProperty("source").EnumerateArray().Select(e => e.GetString()), NumberTranslator.SourceVocabulary);
        Assert.Equal(doc.RootElement.GetProperty("target").EnumerateArray().Select(e => e.GetString()), NumberTranslator.TargetVocabulary);
    }

    [Theory]
    [InlineData(0, "zero")]
    [InlineData(15, "fifteen")]
    [InlineData(40, "forty")]
    [InlineData(4821, "four thousand eight hundred twenty-one")]
    [InlineData(100000, "one hundred thousand")]
    [InlineData(999999, "nine hundred ninety-nine thousand nine hundred ninety-nine")]
    public void Reference_words_follow_the_rules(int n, string words) => Assert.Equal(words, NumberTranslator.NumberToWords(n));

    [Theory]
    [InlineData("")]
    [InlineData("1234567")]
    [InlineData("12a")]
    [InlineData("007")]
    [InlineData("-5")]
    public void Inputs_that_are_not_numbers_are_rejected(string text) =>
        Assert.Throws<FormatException>(() => NumberTranslator.EncodeNumber(text));
}
