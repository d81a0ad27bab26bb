using SourceGenTransformer;

namespace Demo.Search;

// Encoder-only BERT for sentence embeddings; head dim 12 is not a multiple of 8.
[Transformer(ModelFamily.Bert, Layers = 2, Heads = 3, ModelDim = 36, FeedForwardDim = 72, VocabSize = 100, MaxSequenceLength = 64)]
public partial class MiniBert;
