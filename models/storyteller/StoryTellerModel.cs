// The story model trained by models/storyteller/train.py, shared by samples/StoryTeller and the tests.
using SourceGenTransformer;

namespace SourceGenTransformer.Models;

/// <summary>
/// A small Llama-family model (grouped-query attention: 6 query heads share 2 key/value heads) trained here on
/// the fortunes of Debian's fortunes package, with its own SentencePiece tokenizer (tokenizer.model).
/// </summary>
[Transformer(ModelFamily.Llama, Layers = 4, Heads = 6, KvHeads = 2, ModelDim = 192, FeedForwardDim = 512,
    VocabSize = 1024, MaxSequenceLength = 256)]
public partial class StoryTellerModel;
