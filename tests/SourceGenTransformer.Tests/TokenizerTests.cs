using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML.Tokenizers;
using SourceGenTransformer.Text;
using Xunit;

namespace SourceGenTransformer.Tests;

/// <summary>The three tokenizer kinds through Microsoft.ML.Tokenizers, with files made here, and streaming detokenization.</summary>
public class TokenizerTests
{
    private static readonly Tokenizer SentencePiece = TextGenerator.LoadSentencePiece(Fixture.ModelPath("tokenizer.model"));

    [Theory]
    [InlineData("Once upon a time, there was a fortune cookie.")]
    [InlineData("It's 42 o'clock -- and   three spaces!")]
    [InlineData("Ünïcödé, €uro and a snowman ☃ fall back to bytes.")]
    public void SentencePiece_round_trips(string text)
    {
        var ids = SentencePiece.EncodeToIds(text);
        Assert.Equal(1, ids[0]); // BOS, as the Llama tokenizer defines it
        Assert.Equal(text, SentencePiece.Decode(ids.Skip(1)));
    }

    [Theory]
    [InlineData("Never trust a computer you can't throw out a window.")]
    [InlineData("  leading spaces, tabs\tand\nnewlines")]
    [InlineData("Bytes: €, ☃ and 🦙 survive byte-level BPE.")]
    public void Gpt2_byte_level_bpe_round_trips(string text)
    {
        using FileStream vocab = File.OpenRead(Fixture.Path("gpt2-vocab.json"));
        using FileStream merges = File.OpenRead(Fixture.Path("gpt2-merges.txt"));
        Tokenizer gpt2 = CodeGenTokenizer.Create(vocab, merges, addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
        var ids = gpt2.EncodeToIds(text);
        Assert.True(ids.Count < Encoding.UTF8.GetByteCount(text), "the merges should shorten the byte sequence");
        Assert.Equal(text, gpt2.Decode(ids));
    }

    [Theory]
    [InlineData("Once upon a time there was a fortune", "once upon a time there was a fortune")]
    [InlineData("YOU WILL MEET A TALL DARK STRANGER", "you will meet a tall dark stranger")]
    public void Bert_wordpiece_round_trips_to_lower_case(string text, string expected)
    {
        Tokenizer bert = BertTokenizer.Create(Fixture.Path("bert-vocab.txt"), new BertOptions { LowerCaseBeforeTokenization = true });
        var ids = bert.EncodeToIds(text);
        Assert.DoesNotContain(1, ids); // no [UNK]
        Assert.Equal(expected, bert.Decode(ids));
    }

    [Fact]
    public void Streaming_never_emits_half_a_character()
    {
        // The corpus is ASCII, so '€' and '☃' exist only as byte-fallback tokens: three tokens per character.
        const string text = "a € b ☃";
        var ids = SentencePiece.EncodeToIds(text).Skip(1).ToArray();
        var detokenizer = new StreamingDetokenizer(SentencePiece);
        var pieces = ids.Select(detokenizer.Add).Append(detokenizer.Flush()).ToArray();
        Assert.All(pieces, p => Assert.DoesNotContain('\uFFFD', p));
        Assert.Contains(pieces, p => p.Length == 0); // the first bytes of a character were held back
        Assert.Equal(text, string.Concat(pieces));
    }
}
