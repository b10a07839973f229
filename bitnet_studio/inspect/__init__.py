"""Weight statistics and model summaries (no Qt): for Inspect and ``bitnet-studio inspect``."""
