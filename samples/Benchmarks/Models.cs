using SourceGenTransformer;

namespace Benchmarks;

// llama2.c's "stories" shapes (untied classifier), and a tiny model that fits in cache.

[Transformer(ModelFamily.Llama, Layers = 6, Heads = 6, ModelDim = 288, FeedForwardDim = 768, VocabSize = 32000,
    MaxSequenceLength = 256, EosToken = -1)]
public partial class Stories15M;

[Transformer(ModelFamily.Llama, Layers = 8, Heads = 8, ModelDim = 512, FeedForwardDim = 1376, VocabSize = 32000,
    MaxSequenceLength = 1024, EosToken = -1)]
public partial class Stories42M;

[Transformer(ModelFamily.Llama, Layers = 12, Heads = 12, ModelDim = 768, FeedForwardDim = 2048, VocabSize = 32000,
    MaxSequenceLength = 1024, EosToken = -1)]
public partial class Stories110M;

[Transformer(ModelFamily.Llama, Layers = 4, Heads = 4, ModelDim = 64, FeedForwardDim = 192, VocabSize = 512,
    MaxSequenceLength = 512, EosToken = -1)]
public partial class Tiny;
