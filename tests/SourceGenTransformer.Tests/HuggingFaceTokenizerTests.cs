using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using SourceGenTransformer.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>
/// <see cref="HuggingFaceTokenizer"/> against Hugging Face's tokenizers itself (the Rust library, through
/// Tokenizers.DotNet) on the same tokenizer.json: the same ids and the same decoded text for every string of
/// <see cref="TokenizerStrings"/>, on byte-level files (GPT-2; Qwen-style added tokens with every matching rule and an
/// NFC normalizer; Llama 3-style with ignore_merges and a BOS template), SentencePiece-style files with byte fallback
/// (Metaspace first and always-with-split, the legacy Prepend+Replace normalizer, Gemma's), and BERT's WordPiece.
/// </summary>
public sealed class HuggingFaceTokenizerTests(TokenizerJsonFiles files) : IClassFixture<TokenizerJsonFiles>
{
    public static TheoryData<string> FileNames => ["gpt2", "qwen", "llama3", "metaspace", "legacy", "gemma", "metaspace-split"];

    [Theory]
    [MemberData(nameof(FileNames))]
    public void Ids_and_text_equal_hugging_face_tokenizers(string name)
    {
        string path = files.Files[name];
        using var hf = new Tokenizers.DotNet.Tokenizer(path);
        HuggingFaceTokenizer ours = HuggingFaceTokenizer.Load(path);
        string[] specials = ours.AddedTokens.Select(t => t.Content).ToArray();
        var failures = new List<string>();
        int checkedStrings = 0;
        foreach (string text in TokenizerStrings.For(specials))
        {
            checkedStrings++;
            int[] expected = hf.Encode(text).Select(x => (int)x).ToArray();
            int[] actual = ours.EncodeToIds(text).ToArray();
            if (!expected.SequenceEqual(actual))
            {
                failures.Add($"\"{TokenizerStrings.Show(text)}\": Hugging Face [{string.Join(",", expected)}], ours [{string.Join(",", actual)}]");
                continue;
            }
            string expectedText = hf.Decode(expected.Select(x => (uint)x).ToArray());
            string actualText = ours.Decode(actual);
            if (expectedText != actualText)
                failures.Add($"decode \"{TokenizerStrings.Show(text)}\": Hugging Face \"{TokenizerStrings.Show(expectedText)}\", ours \"{TokenizerStrings.Show(actualText)}\"");
        }
        Assert.True(checkedStrings >= 500, $"only {checkedStrings} strings");
        Assert.True(failures.Count == 0, $"{failures.Count} of {checkedStrings} differ:\n" + string.Join("\n", failures.Take(25)));
    }

    [Fact]
    public void Decoding_every_single_token_equals_hugging_face()
    {
        foreach (string name in new[] { "qwen", "metaspace", "gemma" })
        {
            string path = files.Files[name];
            using var hf = new Tokenizers.DotNet.Tokenizer(path);
            HuggingFaceTokenizer ours = HuggingFaceTokenizer.Load(path);
            int step = ours.VocabularySize > 5000 ? 97 : 1;
            for (int id = 0; id < ours.VocabularySize; id += step)
            {
                int[] ids = [id, (id * 7 + 3) % ours.VocabularySize];
                Assert.Equal(hf.Decode(ids.Select(x => (uint)x).ToArray()), ours.Decode(ids));
            }
        }
    }

    [Fact]
    public void Special_tokens_are_one_id_each_and_encode_without_the_template_on_request()
    {
        HuggingFaceTokenizer qwen = HuggingFaceTokenizer.Load(files.Files["qwen"]);
        Assert.Equal([50257], qwen.Encode("<|im_start|>", addSpecialTokens: false));
        Assert.Equal(50258, qwen.TokenToId("<|im_end|>"));
        Assert.True(qwen.IsSpecial(50258));
        Assert.False(qwen.IsSpecial(50259)); // <tool_call> is added but not special: decoding keeps it
        Assert.Equal("<tool_call>x", qwen.Decode(qwen.Encode("<|im_start|><tool_call>x", false)));
        Assert.Equal("<|im_start|><tool_call>x", qwen.Decode(qwen.Encode("<|im_start|><tool_call>x", false), skipSpecialTokens: false));

        HuggingFaceTokenizer llama3 = HuggingFaceTokenizer.Load(files.Files["llama3"]);
        Assert.Equal(50256, llama3.EncodeToIds("Hi")[0]); // the template's <|begin_of_text|>
        Assert.NotEqual(50256, llama3.Encode("Hi", addSpecialTokens: false)[0]);
    }

    [Fact]
    public void Offsets_point_at_the_text_each_token_came_from()
    {
        HuggingFaceTokenizer gpt2 = HuggingFaceTokenizer.Load(files.Files["gpt2"]);
        const string text = "Hello wörld 😀!";
        var tokens = gpt2.EncodeToTokens(text, out string? normalized);
        Assert.Null(normalized);
        Assert.Equal(text, string.Concat(tokens.Select(t => text[t.Offset])).Replace("\uFFFD", ""));
        Assert.Equal("Hello", text[tokens[0].Offset]);
        Assert.Equal(" w", text[tokens[1].Offset][..2]);
    }

    [Fact]
    public void Every_unsupported_part_is_refused_by_name_and_path()
    {
        string json = File.ReadAllText(files.Files["metaspace"]);
        void Refused(string from, string to, params string[] expected)
        {
            Assert.Contains(from, json);
            var e = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizer.Parse(json.Replace(from, to), "tok.json"));
            Assert.StartsWith("tok.json: ", e.Message);
            foreach (string x in expected) Assert.Contains(x, e.Message);
        }
        Refused("\"type\": \"BPE\"", "\"type\": \"Unigram\"", "model", "'Unigram'", "BPE, WordPiece");
        Refused("\"type\": \"Metaspace\"", "\"type\": \"UnicodeScripts\"", "pre_tokenizer", "'UnicodeScripts'");
        Refused("\"type\": \"Fuse\"", "\"type\": \"CTC\"", "decoder.decoders[2]", "'CTC'");
        Refused("\"prepend_scheme\": \"first\"", "\"prepend_scheme\": \"sometimes\"", "pre_tokenizer.prepend_scheme", "'sometimes'");
        Refused("\"normalizer\": null", "\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"}", "normalizer", "'Precompiled'");
        Refused("\"truncation\": null", "\"truncation\": {\"max_length\": 8}", "truncation");
        Refused("\"merges\": [", "\"merges\": [\"nope nope\", ", "model.merges[0]", "\"nope\" is not in the vocabulary");
        Refused("\"id\": 1,", "\"id\": 5,", "added_tokens[1].id", "\"<s>\" is 5 here but 1");
        Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizer.Parse("{\"model\": ", "x.json"));
        Assert.Throws<FileNotFoundException>(() => HuggingFaceTokenizer.Load(Path.Combine(Path.GetTempPath(), "no-such-folder-stg")));
    }

    [Fact]
    public void The_bert_tokenizer_json_gives_the_word_piece_ids_hugging_face_gives()
    {
        string vocab = RealModels.Vocab;
        string json = HfTokenizerTests.TokenizerJson(File.ReadAllLines(vocab));
        string path = Path.Combine(Path.GetTempPath(), $"stg-bert-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try
        {
            using var hf = new Tokenizers.DotNet.Tokenizer(path);
            HuggingFaceTokenizer ours = HuggingFaceTokenizer.Load(path);
            var failures = new List<string>();
            foreach (string text in TokenizerStrings.For(["[MASK]", "[SEP]"]).Concat(EmbeddingSentences.All))
            {
                int[] expected = hf.Encode(text).Select(x => (int)x).ToArray();
                int[] actual = ours.EncodeToIds(text).ToArray();
                if (!expected.SequenceEqual(actual)) failures.Add($"\"{TokenizerStrings.Show(text)}\": [{string.Join(",", expected)}] vs [{string.Join(",", actual)}]");
                else if (hf.Decode(expected.Select(x => (uint)x).ToArray()) is var t && t != ours.Decode(actual))
                    failures.Add($"decode \"{TokenizerStrings.Show(text)}\": \"{t}\" vs \"{ours.Decode(actual)}\"");
            }
            Assert.True(failures.Count == 0, string.Join("\n", failures.Take(25)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
