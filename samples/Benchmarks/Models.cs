using SourceGenTransformer;

namespace Benchmarks;

// llama2.c's "stories" shapes (untied classifier), the 110M shape again in bfloat16 and 8-bit weights, a tiny
// model that fits in cache, and the original Transformer "base" (Vaswani et al. 2017).

[Transformer(ModelFamily.Llama, Layers = 6, Heads = 6, ModelDim = 288, FeedForwardDim = 768, VocabSize = 32000,
    MaxSequenceLength = 256, EosToken = -1)]
public partial class Stories15M;

[Transformer(ModelFamily.Llama, Layers = 8, Heads = 8, ModelDim = 512, FeedForwardDim = 1376, VocabSize = 32000,
    MaxSequenceLength = 1024, EosToken = -1)]
public partial class Stories42M;

[Transformer(ModelFamily.Llama, Layers = 12, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 32000,
    MaxSequenceLength = 1024, EosToken = -1)]
public partial class Stories110M;

[Transformer(ModelFamily.Llama, Layers = 12, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 32000,
    MaxSequenceLength = 1024, EosToken = -1, WeightPrecision = WeightPrecision.BFloat16)]
public partial class Stories110MBf16;

[Transformer(ModelFamily.Llama, Layers = 12, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 32000,
    MaxSequenceLength = 1024, EosToken = -1, WeightPrecision = WeightPrecision.Int8)]
public partial class Stories110MInt8;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 4, ModelDim = 64, FeedForwardDim = 192, VocabSize = 512,
    MaxSequenceLength = 512, EosToken = -1)]
public partial class Tiny;

[Transformer(ModelFamily.Seq2Seq, EncoderLayers = 6, DecoderLayers = 6, Heads = 8, ModelDim = 512, FeedForwardDim = 2048,
    SourceVocabSize = 32000, TargetVocabSize = 32000, MaxSequenceLength = 256)]
public partial class TransformerBase;

// The story model trained in models/storyteller, declared again in the lighter precisions: its real weights
// measure what bfloat16, 8-bit and 4-bit weights cost in agreement with float32.
[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256)]
public partial class StoryF32;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256, WeightPrecision = WeightPrecision.BFloat16)]
public partial class StoryBf16;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256, WeightPrecision = WeightPrecision.Int8)]
public partial class StoryInt8;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256, WeightPrecision = WeightPrecision.Q4_0)]
public partial class StoryQ4;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256, WeightPrecision = WeightPrecision.Q4K)]
public partial class StoryQ4K;
