namespace Tollgate.Core.Estimation;

/// <summary>How the meter bounds a request's input tokens before the provider reports them.</summary>
public enum InputEstimateMode
{
    /// <summary>Count with the o200k_base tokenizer: close to the real count, costs ~55 MB of vocabulary and a few µs per KiB.</summary>
    Tokenizer,

    /// <summary>One token per body byte: a hard upper bound for byte-level BPE tokenizers, free to compute, about 3-4x high.</summary>
    Bytes,
}
