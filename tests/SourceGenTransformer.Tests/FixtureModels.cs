using SourceGenTransformer;

namespace SourceGenTransformer.Tests;

// The declarations of the PyTorch fixtures in tests/fixtures (see make_fixtures.py for what each exercises).
// EosToken = -1 so that 32 greedy tokens are never cut short by a token that happens to be EOS.

[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, KvHeads = 4, ModelDim = 64, FeedForwardDim = 160,
    VocabSize = 96, MaxSequenceLength = 64, EosToken = -1)]
public partial class LlamaBasic;

[Transformer(ModelFamily.Llama, Layers = 2, Heads = 6, KvHeads = 2, ModelDim = 48, FeedForwardDim = 128,
    VocabSize = 80, MaxSequenceLength = 64, NormEpsilon = 1e-6f, TiedEmbeddings = true, EosToken = -1)]
public partial class LlamaGqaTied;

[Transformer(ModelFamily.Llama, Layers = 3, Heads = 3, KvHeads = 1, ModelDim = 36, FeedForwardDim = 100,
    VocabSize = 50, MaxSequenceLength = 48, RopeTheta = 500000f, EosToken = -1)]
public partial class LlamaOdd;

[Transformer(ModelFamily.Gpt2, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 256,
    VocabSize = 96, MaxSequenceLength = 64)]
public partial class Gpt2Basic;

[Transformer(ModelFamily.Gpt2, Layers = 2, Heads = 4, ModelDim = 40, FeedForwardDim = 120,
    VocabSize = 70, MaxSequenceLength = 48, TiedEmbeddings = false, Activation = Activation.Gelu)]
public partial class Gpt2Odd;

[Transformer(ModelFamily.Gpt2, Layers = 3, Heads = 2, ModelDim = 48, FeedForwardDim = 192,
    VocabSize = 60, MaxSequenceLength = 40, Activation = Activation.Relu)]
public partial class Gpt2Relu;

// Lighter weights (tests/fixtures/make_precision_fixtures.py): the same files in other precisions.

[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, KvHeads = 4, ModelDim = 64, FeedForwardDim = 160,
    VocabSize = 96, MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.BFloat16)]
public partial class LlamaBasicBf16;

[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, KvHeads = 4, ModelDim = 64, FeedForwardDim = 160,
    VocabSize = 96, MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.Int8)]
public partial class LlamaBasicInt8;

[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, KvHeads = 4, ModelDim = 64, FeedForwardDim = 160,
    VocabSize = 96, MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.Q4_0)]
public partial class LlamaBasicQ4;

// Q4_0 kernels' edges (PrecisionKernelTests): a classifier of 99 rows (three past the last panel of four), rows of 96
// and 32 weights (a pair of blocks and an unpaired one; one block alone).
[Transformer(ModelFamily.Llama, Layers = 1, Heads = 2, KvHeads = 1, ModelDim = 32, FeedForwardDim = 96,
    VocabSize = 99, MaxSequenceLength = 16, EosToken = -1, WeightPrecision = WeightPrecision.Q4_0)]
public partial class LlamaOddQ4;

// The same edges in Int8 (Q8_0 blocks of 32 bytes in the same panels).
[Transformer(ModelFamily.Llama, Layers = 1, Heads = 2, KvHeads = 1, ModelDim = 32, FeedForwardDim = 96,
    VocabSize = 99, MaxSequenceLength = 16, EosToken = -1, WeightPrecision = WeightPrecision.Int8)]
public partial class LlamaOddInt8;

[Transformer(ModelFamily.Gpt2, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 256,
    VocabSize = 96, MaxSequenceLength = 64, WeightPrecision = WeightPrecision.BFloat16)]
public partial class Gpt2BasicBf16;

[Transformer(ModelFamily.Gpt2, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 256,
    VocabSize = 96, MaxSequenceLength = 64, WeightPrecision = WeightPrecision.Q4_0)]
public partial class Gpt2BasicQ4;

[Transformer(ModelFamily.Gpt2, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 256,
    VocabSize = 96, MaxSequenceLength = 64, WeightPrecision = WeightPrecision.Int8)]
public partial class Gpt2BasicInt8;

// Q4K (llama.cpp's Q4_K_M mix, per matrix): llama-basic's rows of 64 and 160 are not whole blocks of 256, so every
// matrix falls back to Q5_0, or Q8_0 where Q4_K_M gives Q6_K (the classifier, the first and last layers' v and down).
[Transformer(ModelFamily.Llama, Layers = 2, Heads = 4, KvHeads = 4, ModelDim = 64, FeedForwardDim = 160,
    VocabSize = 96, MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.Q4K)]
public partial class LlamaBasicQ4K;

// K-quant shapes (LlamaCppTests, random weights written at test time): rows of 256 and 512 are whole Q4_K and Q6_K
// blocks; eight layers, so Q4_K_M gives layers 0, 3, 6 and 7 Q6_K value and down projections; a tied twin, whose
// embedding is the classifier (Q6_K).
[Transformer(ModelFamily.Llama, Layers = 8, Heads = 4, KvHeads = 2, ModelDim = 256, FeedForwardDim = 512,
    VocabSize = 288, MaxSequenceLength = 64, EosToken = -1, WeightPrecision = WeightPrecision.Q4K)]
public partial class LlamaKQ4K;

[Transformer(ModelFamily.Llama, Layers = 8, Heads = 4, KvHeads = 2, ModelDim = 256, FeedForwardDim = 512,
    VocabSize = 288, MaxSequenceLength = 64, EosToken = -1, TiedEmbeddings = true, WeightPrecision = WeightPrecision.Q4K)]
public partial class LlamaKTiedQ4K;

// The panels' edges for the blocks of 32 (BlockKernelTests): a classifier of 99 rows (three past the last panel of
// eight), rows of 32 and 96 columns.
[Transformer(ModelFamily.Llama, Layers = 1, Heads = 2, KvHeads = 1, ModelDim = 32, FeedForwardDim = 96,
    VocabSize = 99, MaxSequenceLength = 16, EosToken = -1, WeightPrecision = WeightPrecision.Q4K)]
public partial class LlamaOddQ4K;

// Q4_K panels' edges (BlockKernelTests): a classifier of 299 rows, three past the last panel of eight.
[Transformer(ModelFamily.Llama, Layers = 1, Heads = 2, KvHeads = 2, ModelDim = 256, FeedForwardDim = 256,
    VocabSize = 299, MaxSequenceLength = 16, EosToken = -1, WeightPrecision = WeightPrecision.Q4K)]
public partial class LlamaKOddQ4K;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256, EosToken = -1, WeightPrecision = WeightPrecision.Int8)]
public partial class StoryTellerInt8;

// The story model in Q4_K_M's mix: rows of 192 in Q5_0 (Q8_0 for the classifier and the Q6_K layers' v), the down
// projections' rows of 512 in Q4_K and Q6_K.
[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256, EosToken = -1, WeightPrecision = WeightPrecision.Q4K)]
public partial class StoryTellerQ4K;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256, EosToken = -1, WeightPrecision = WeightPrecision.Q4_0)]
public partial class StoryTellerQ4;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256, EosToken = -1, WeightPrecision = WeightPrecision.BFloat16)]
public partial class StoryTellerBf16;

// Large enough (over 16 MB of matrices) that the matrix-vector kernels stream one row at a time instead of
// taking four rows per pass; widths leave a whole vector after the 32-column blocks (264) and a scalar tail (300).

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 6, KvHeads = 2, ModelDim = 264, FeedForwardDim = 300,
    VocabSize = 16384, MaxSequenceLength = 8)]
public partial class StreamingAwkwardLlama;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 6, KvHeads = 2, ModelDim = 264, FeedForwardDim = 300,
    VocabSize = 40000, MaxSequenceLength = 8, WeightPrecision = WeightPrecision.BFloat16)]
public partial class StreamingBf16Llama;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 4, KvHeads = 2, ModelDim = 96, FeedForwardDim = 160,
    VocabSize = 200000, MaxSequenceLength = 8, WeightPrecision = WeightPrecision.Int8)]
public partial class StreamingInt8Llama;

// Shapes chosen to be awkward for the kernels: dimensions that are not multiples of 8 or 16, row
// counts that are not multiples of 4, rotary halves shorter than a vector and longer with a tail.

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 2, KvHeads = 1, ModelDim = 20, FeedForwardDim = 37,
    VocabSize = 53, MaxSequenceLength = 8)]
public partial class TinyAwkwardLlama;

[Transformer(ModelFamily.Llama, Layers = 1, Heads = 4, KvHeads = 2, ModelDim = 104, FeedForwardDim = 300,
    VocabSize = 133, MaxSequenceLength = 8)]
public partial class WideAwkwardLlama;

// Heads of 136 (17 vectors of 8): too wide to keep in registers, so attention calls Dot136 and Axpy136 (no tails).
[Transformer(ModelFamily.Llama, Layers = 1, Heads = 2, KvHeads = 2, ModelDim = 272, FeedForwardDim = 64,
    VocabSize = 40, MaxSequenceLength = 8)]
public partial class WideHeadLlama;

[Transformer(ModelFamily.Gpt2, Layers = 1, Heads = 2, ModelDim = 44, FeedForwardDim = 77,
    VocabSize = 29, MaxSequenceLength = 8)]
public partial class AwkwardGpt2;

[Transformer(ModelFamily.Gpt2, Layers = 1, Heads = 3, ModelDim = 51, FeedForwardDim = 90,
    VocabSize = 31, MaxSequenceLength = 8, Activation = Activation.Gelu)]
public partial class AwkwardGpt2Erf;

// The shape of the llama2.c fixtures (tests/fixtures/make_llama2c_fixtures.py); untied, so a shared-classifier
// checkpoint must supply lm_head.weight from its embedding.
[Transformer(ModelFamily.Llama, Layers = 2, Heads = 6, KvHeads = 2, ModelDim = 48, FeedForwardDim = 128,
    VocabSize = 64, MaxSequenceLength = 32, EosToken = -1)]
public partial class Llama2CTiny;

// gpt2-basic's shapes with a longer context than its 64-row position table holds.
[Transformer(ModelFamily.Gpt2, Layers = 2, Heads = 4, ModelDim = 64, FeedForwardDim = 256,
    VocabSize = 96, MaxSequenceLength = 100)]
public partial class Gpt2LongContext;

// Feed-forward widths of 1024: the down projections' input rows are 4 KiB apart, so their matrix-matrix kernels copy
// the input to padded rows, 48 tokens at a time (KernelEmitter.PadsInput); the Seq2Seq one adds a bias.
[Transformer(ModelFamily.Llama, Layers = 1, Heads = 4, KvHeads = 4, ModelDim = 64, FeedForwardDim = 1024,
    VocabSize = 40, MaxSequenceLength = 128)]
public partial class PaddedInputLlama;

[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 1, DecoderLayers = 1, Heads = 2, ModelDim = 32, FeedForwardDim = 1024,
    SourceVocabSize = 20, TargetVocabSize = 20, MaxSequenceLength = 128)]
public partial class PaddedInputS2s;
