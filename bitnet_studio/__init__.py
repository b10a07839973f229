"""BitNet Studio: run a vanilla and a ternary (BitNet b1.58) LLM side by side."""

__version__ = "0.1.0"
