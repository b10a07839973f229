"""Model configuration, weights container, tokenizer and chat template."""
