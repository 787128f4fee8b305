"""Speed, memory and search-quality benchmarks, each a script run from the checkout as
``python -m benchmarks.<name>`` (its docstring says what it prints); what they share is in
``benchmarks.harness`` (configs, the search cache, the tau statistics) and ``benchmarks.memory``."""
