using SourceGenTransformer;

namespace SourceGenTransformer.Tests;

// Models declared by their Hugging Face config.json alone (tests/fixtures/hf/*, written by make_hf_fixtures.py with
// the PyTorch oracle's logits beside them): the family, every dimension, RoPE scaling, biases, the sliding window and
// the EOS list all come from the files.

[Transformer(ConfigFile = "hf/llama3-scaled/config.json")]
public partial class HfLlama3Scaled;

[Transformer(ConfigFile = "hf/llama3-scaled-odd/config.json")]
public partial class HfLlama3ScaledOdd;

[Transformer(ConfigFile = "hf/qwen2-tied/config.json")]
public partial class HfQwen2Tied;

[Transformer(ConfigFile = "hf/qwen2-mqa/config.json")]
public partial class HfQwen2Mqa;

[Transformer(ConfigFile = "hf/mistral-window/config.json")]
public partial class HfMistralWindow;

[Transformer(ConfigFile = "hf/mistral-window-odd/config.json")]
public partial class HfMistralWindowOdd;

[Transformer(ConfigFile = "hf/llama-head-dim/config.json")]
public partial class HfLlamaHeadDim;

[Transformer(ConfigFile = "hf/qwen3-tied/config.json")]
public partial class HfQwen3Tied;

[Transformer(ConfigFile = "hf/qwen3-narrow/config.json")]
public partial class HfQwen3Narrow;

[Transformer(ConfigFile = "hf/gemma-mqa/config.json")]
public partial class HfGemmaMqa;

[Transformer(ConfigFile = "hf/gemma-split/config.json")]
public partial class HfGemmaSplit;

[Transformer(ConfigFile = "hf/phi3-partial/config.json")]
public partial class HfPhi3Partial;

[Transformer(ConfigFile = "hf/phi3-window/config.json")]
public partial class HfPhi3Window;

[Transformer(ConfigFile = "hf/llama-bias/config.json")]
public partial class HfLlamaBias;

// The same file kept in bfloat16: a bfloat16 file is kept exactly, so only the order of the sums differs.
[Transformer(ConfigFile = "hf/qwen2-tied/config.json", WeightPrecision = WeightPrecision.BFloat16)]
public partial class HfQwen2TiedBf16;

// A short cache: MaxSequenceLength caps the file's max_position_embeddings.
[Transformer(ConfigFile = "hf/phi3-window/config.json", MaxSequenceLength = 40)]
public partial class HfPhi3WindowShort;
